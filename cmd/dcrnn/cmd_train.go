package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/train"
)

func init() {
	register(command{name: "train", summary: "train a model and save it (DCRNN by default)", run: runTrain})
}

func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train", "--schema S (--data F --split 0.8,0.1,0.1 | --data F --split-by C --train-until V --valid-until V | --train F --valid F [--test F]) [--pipeline P.json] [--model dcrnn] --out M.dcrnn", stderr)
	schemaPath := fs.String("schema", "", "schema file (YAML; keys in the README's Data section)")
	src := addSourceFlags(fs, "ratios for --data, e.g. 0.8,0.1,0.1 (train,valid,test) or 0.9,0.1 (train,valid)",
		"seed of the split (and of training unless the config sets seed)", "test file (optional, with --train)")
	modelName := fs.String("model", "dcrnn", "model: "+strings.Join(model.Names(), "|"))
	configPath := fs.String("config", "", "config file (YAML) with model and training keys")
	var sets multiFlag
	fs.Var(&sets, "set", "override one config key, key=value (repeatable), e.g. --set rho=0.25 --set epochs=5")
	out := fs.String("out", "", "where to write the model file")
	metricsOut := fs.String("metrics-out", "", "write the test (or validation) metrics as JSON here")
	ckDir := fs.String("checkpoint-dir", "", "write checkpoints (weights, optimizer state, data position, RNG) here at every epoch end")
	ckEvery := fs.Int("checkpoint-every", 0, "also checkpoint every N steps (with --checkpoint-dir)")
	keep := fs.Int("keep-checkpoints", train.DefaultKeepCheckpoints, "keep the newest `K` checkpoints in --checkpoint-dir (checkpoint-STEP.dcrnn, STEP = global step), removing older ones after each write; --resume falls back to an older one if the newest is damaged")
	resume := fs.Bool("resume", false, "continue from the newest usable checkpoint in --checkpoint-dir (same flags as the interrupted run)")
	fitPath := fs.String("pipeline", "", "a fit written by dcrnn fit (over the training rows): use its feature pipeline and skip the fit pass; --schema may then be omitted")
	df := addDataFlags(fs)
	br, err := df.parse(fs, args)
	if err != nil {
		return err
	}
	if (*ckEvery > 0 || *resume) && *ckDir == "" {
		return errors.New("train: --checkpoint-every and --resume need --checkpoint-dir")
	}
	if *ckEvery < 0 {
		return errors.New("train: --checkpoint-every must be ≥ 0")
	}
	if *keep < 1 {
		return errors.New("train: --keep-checkpoints must be ≥ 1")
	}
	if (*schemaPath == "" && *fitPath == "") || *out == "" {
		return errors.New("train: --schema (or --pipeline) and --out are required (see dcrnn train --help)")
	}
	schema, fit, err := loadSchemaAndFit(*schemaPath, *fitPath)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	cfg, err := train.LoadConfig(*configPath, sets)
	if err != nil {
		return err
	}
	if cfg.Seed == 0 {
		cfg.Seed = *src.seed
	}
	job := train.Job{Schema: schema, Model: *modelName, Config: cfg, BadRows: br, Logger: newLogger(stderr), Progress: trainProgress(stderr),
		CheckpointDir: *ckDir, CheckpointEvery: *ckEvery, KeepCheckpoints: *keep, Resume: *resume, Fit: fit}
	if err := src.set("train", &job); err != nil {
		return err
	}
	run := job
	job.Fit = nil // Run drops the saved fit once it has the pipeline: keep no other reference
	res, err := train.Run(ctx, run)
	if err != nil {
		return err
	}
	return finishTraining(res, job, *out, *metricsOut, stdout)
}

// sourceFlags name the data of a training run: --data with --split and
// --seed, --data with a time split (--split-by, --train-until,
// --valid-until), or --train, --valid and optionally --test. Each names
// files as data.Expand reads them.
type sourceFlags struct {
	data, split, train, valid, test *string
	splitBy, trainUntil, validUntil *string
	seed                            *uint64
}

// filesHelp is the part of a data flag's help that says what it accepts.
const filesHelp = "(CSV/TSV, .gz, or Parquet; several files as a comma-separated list, a glob or a directory)"

func addSourceFlags(fs *flag.FlagSet, splitHelp, seedHelp, testHelp string) *sourceFlags {
	return &sourceFlags{
		data:       fs.String("data", "", "data to split into train/valid/test with --split or --split-by "+filesHelp),
		split:      fs.String("split", "", splitHelp),
		seed:       fs.Uint64("seed", 1, seedHelp),
		train:      fs.String("train", "", "training data (instead of --data) "+filesHelp),
		valid:      fs.String("valid", "", "validation data (with --train)"),
		test:       fs.String("test", "", testHelp),
		splitBy:    fs.String("split-by", "", "time-based split of --data on this column (the protocol to prefer for click logs): rows below --train-until train, below --valid-until validate, the rest test"),
		trainUntil: fs.String("train-until", "", "with --split-by: first value (number, or text such as an ISO date) not trained on"),
		validUntil: fs.String("valid-until", "", "with --split-by: first value not validated on (the test part starts there)"),
	}
}

// set fills the sources of job; errors start with the command name.
func (s *sourceFlags) set(cmd string, job *train.Job) error {
	if *s.splitBy == "" && *s.trainUntil == "" && *s.validUntil == "" {
		return setSources(cmd, job, *s.data, *s.split, *s.seed, *s.train, *s.valid, *s.test)
	}
	if *s.data == "" || *s.split != "" || *s.train != "" {
		return fmt.Errorf("%s: --split-by splits --data by time: give --data, and neither --split nor --train", cmd)
	}
	parts, err := data.TimeSplit(*s.splitBy, *s.trainUntil, *s.validUntil)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	job.Train = train.Source{Path: *s.data, Range: parts[0], Name: "train"}
	job.Valid = train.Source{Path: *s.data, Range: parts[1], Name: "valid"}
	job.Test = &train.Source{Path: *s.data, Range: parts[2], Name: "test"}
	return nil
}

// setSources fills the train/valid/test sources of job.
func setSources(cmd string, job *train.Job, dataPath, splitSpec string, seed uint64, trainPath, validPath, testPath string) error {
	switch {
	case dataPath != "" && trainPath != "":
		return fmt.Errorf("%s: give either --data with --split, or --train and --valid, not both", cmd)
	case dataPath != "":
		if splitSpec == "" {
			return fmt.Errorf("%s: --data needs --split (e.g. --split 0.8,0.1,0.1)", cmd)
		}
		ratios, err := data.ParseRatios(splitSpec)
		if err != nil {
			return err
		}
		if len(ratios) < 2 {
			return fmt.Errorf("%s: --split needs at least a training and a validation part", cmd)
		}
		sp := data.Splitter{Ratios: ratios, Seed: seed}
		part := func(k int) func(int64) bool { return func(r int64) bool { return sp.Part(r) == k } }
		job.Train = train.Source{Path: dataPath, Filter: part(0), Name: "train"}
		job.Valid = train.Source{Path: dataPath, Filter: part(1), Name: "valid"}
		if len(ratios) == 3 {
			job.Test = &train.Source{Path: dataPath, Filter: part(2), Name: "test"}
		}
	case trainPath != "":
		if validPath == "" {
			return fmt.Errorf("%s: --train needs --valid (early stopping uses it)", cmd)
		}
		job.Train = train.Source{Path: trainPath, Name: "train"}
		job.Valid = train.Source{Path: validPath, Name: "valid"}
		if testPath != "" {
			job.Test = &train.Source{Path: testPath, Name: "test"}
		}
	default:
		return fmt.Errorf("%s: give --data F --split R, or --train F --valid F", cmd)
	}
	return nil
}

// finishTraining saves the model, prints the metrics and writes --metrics-out.
func finishTraining(res *train.Result, job train.Job, out, metricsOut string, stdout io.Writer) error {
	rep := res.Test
	if rep == nil {
		rep = res.Valid
	}
	info := res.Info
	rep.Train = &info
	tr := res.Trained
	tr.Info, _ = json.Marshal(map[string]any{"metrics": rep, "epochs": res.Epochs, "evaluations": res.Evaluations})
	if _, err := model.Save(out, tr); err != nil {
		return err
	}
	printReport(stdout, rep, taskNames(tr))
	if tr.Calibration != nil {
		fmt.Fprintf(stdout, "calibration: %s, fitted on the validation part; validation logloss before → after:", tr.Calibration.Method)
		for _, name := range taskNames(tr) {
			fmt.Fprintf(stdout, " %s %.4f → %.4f", name, float64(res.ValidUncalibrated.Tasks[name].LogLoss), float64(res.Valid.Tasks[name].LogLoss))
		}
		fmt.Fprintln(stdout)
	}
	if w := tr.NegativeSampling(); w != 1 {
		fmt.Fprintf(stdout, "negative sampling: %s probabilities corrected to the full population (rate %g); metrics of a down-sampled part use the corrected ones\n",
			tr.Spec.Tasks[0].Name, w)
	}
	fmt.Fprintf(stdout, "trained %d epochs, %d validations (best: epoch %d, step %d) in %.1fs, %.0f samples/s; %d parameters; model written to %s (checksum %s)\n",
		info.Epochs, info.Evaluations, info.BestEpoch, info.BestStep, info.Seconds, info.SamplesPerSecond, rep.Params, out, tr.Checksum[:12])
	if metricsOut != "" {
		if err := writeJSON(metricsOut, rep); err != nil {
			return fmt.Errorf("--metrics-out: %w", err)
		}
	}
	return nil
}
