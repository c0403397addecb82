package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dcrnn/dcrnn/internal/atomicfile"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/train"
)

func init() {
	register(command{name: "eval", summary: "score a labelled file with a saved model and print its metrics", run: runEval})
	register(command{name: "predict", summary: "write the predictions of a saved model for every row of a file", run: runPredict})
}

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval", "--model M.dcrnn --data F [--metrics-out J]", stderr)
	modelPath := fs.String("model", "", "model file written by dcrnn train")
	dataPath := fs.String("data", "", "labelled data in the training format "+filesHelp)
	metricsOut := fs.String("metrics-out", "", "write the metrics as JSON here")
	batch := fs.Int("batch-size", 1024, "rows per batch (predictions do not depend on it)")
	df := addDataFlags(fs)
	br, err := df.parse(fs, args)
	if err != nil {
		return err
	}
	if *modelPath == "" || *dataPath == "" {
		return errors.New("eval: --model and --data are required")
	}
	tr, err := model.Load(*modelPath)
	if err != nil {
		return err
	}
	rep, err := train.Evaluate(ctx, tr, train.Source{Path: *dataPath, Name: filepath.Base(*dataPath)},
		train.EvalOptions{BatchSize: *batch, BadRows: br})
	if err != nil {
		return err
	}
	printReport(stdout, rep, taskNames(tr))
	if rep.BadRows > 0 {
		fmt.Fprintf(stdout, "skipped %d malformed rows\n", rep.BadRows)
	}
	if *metricsOut != "" {
		return writeJSON(*metricsOut, rep)
	}
	return nil
}

func runPredict(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("predict", "--model M.dcrnn --data F --out preds.csv", stderr)
	modelPath := fs.String("model", "", "model file written by dcrnn train")
	dataPath := fs.String("data", "", "data in the training format (label columns may be absent) "+filesHelp)
	out := fs.String("out", "", "CSV to write: one row per input row, in input order, a column per task (and ctcvr for a funnel)")
	batch := fs.Int("batch-size", 1024, "rows per batch (predictions do not depend on it)")
	inputsOut := fs.String("inputs-out", "", "also write the transformed inputs the model saw, one JSON line per scored row: {\"f\": [...]}, per field an id, a list of ids (multi-valued) or a number (for bench/dcrnn_check.py)")
	df := addDataFlags(fs)
	br, err := df.parse(fs, args)
	if err != nil {
		return err
	}
	if *modelPath == "" || *dataPath == "" || *out == "" {
		return errors.New("predict: --model, --data and --out are required")
	}
	tr, err := model.Load(*modelPath)
	if err != nil {
		return err
	}
	// The predictions and --inputs-out are committed together at the end.
	var files atomicfile.Group
	defer files.Abort()
	w, err := files.Create(*out)
	if err != nil {
		return err
	}
	names := taskNames(tr)
	_, _, funnel := tr.Spec.Funnel()
	line := []byte(strings.Join(names, ","))
	if funnel {
		line = append(line, ",ctcvr"...)
	}
	if _, err := w.Write(append(line, '\n')); err != nil {
		return err
	}
	var inputs *inputsWriter
	if *inputsOut != "" {
		if inputs, err = newInputsWriter(&files, *inputsOut, tr.Spec.Fields); err != nil {
			return err
		}
	}
	rep, err := train.Evaluate(ctx, tr, train.Source{Path: *dataPath, Name: filepath.Base(*dataPath)}, train.EvalOptions{
		BatchSize: *batch, BadRows: br,
		OnBatch: func(b *feature.Batch, probs [][]float32, ctcvr []float32, _ int) error {
			if inputs != nil {
				if err := inputs.write(b); err != nil {
					return err
				}
			}
			for i := 0; i < b.N; i++ {
				line = line[:0]
				for t := range probs {
					if t > 0 {
						line = append(line, ',')
					}
					line = strconv.AppendFloat(line, float64(probs[t][i]), 'g', -1, 32)
				}
				if funnel {
					line = append(line, ',')
					line = strconv.AppendFloat(line, float64(ctcvr[i]), 'g', -1, 32)
				}
				line = append(line, '\n')
				if _, err := w.Write(line); err != nil {
					return err
				}
			}
			return nil
		}})
	if err != nil {
		return err
	}
	if err := files.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d predictions to %s", rep.Rows, *out)
	if rep.BadRows > 0 {
		fmt.Fprintf(stdout, " (skipped %d malformed rows: they have no prediction line)", rep.BadRows)
	}
	fmt.Fprintln(stdout)
	if len(rep.Tasks) > 0 && !anyNaN(rep) {
		printReport(stdout, rep, names)
	}
	return nil
}

func anyNaN(r *train.Report) bool {
	for _, m := range r.Tasks {
		if m.AUC != m.AUC {
			return true
		}
	}
	return false
}

func taskNames(tr *model.Trained) []string {
	var names []string
	for _, t := range tr.Spec.Tasks {
		names = append(names, t.Name)
	}
	return names
}
