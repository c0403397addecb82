package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dcrnn/dcrnn/internal/compare"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/tensor"
	"github.com/dcrnn/dcrnn/internal/train"
)

func init() {
	register(command{name: "compare", summary: "train several models on the same split and seeds; write report.md, report.json and plots", run: runCompare})
}

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("compare", "--schema S --data F --split 0.5,0.25,0.25 --models a,b,... --seeds N --out DIR [--sweep rho=0,0.5,1] [--ablate all]", stderr)
	schemaPath := fs.String("schema", "", "schema file (YAML; keys in the README's Data section)")
	src := addSourceFlags(fs, "train,valid,test ratios for --data, e.g. 0.5,0.25,0.25 (the test part is required)",
		"seed of the split (the same for every model; model seeds are 1..--seeds)", "test file (with --train)")
	models := fs.String("models", strings.Join(model.Names(), ","), "comma-separated models to compare: "+strings.Join(model.Names(), ","))
	seeds := fs.Int("seeds", 3, "seeds per model (1..N)")
	out := fs.String("out", "", "report directory (report.md, report.json, *.png)")
	configPath := fs.String("config", "", "config file (YAML) read by every model")
	var sets multiFlag
	fs.Var(&sets, "set", "override one config key for every model, key=value (repeatable)")
	sweep := fs.String("sweep", "", "also train DCRNN at each sharing ratio, e.g. rho=0,0.25,0.5,0.75,1 (state_size fixed)")
	ablate := fs.String("ablate", "", "also train DCRNN variants, each the config plus overrides, one ablation-table row each: comma-separated "+
		"no-cross (cross=false), no-transfer (transfer=false), key=value (e.g. rho=0, cell=lstm, cross_mode=fields) or all ("+
		strings.Join(compare.AblationAll, ",")+"); the table starts with the default")
	render := fs.String("render", "", "only draw report.md and the plots again from DIR/report.json (no training)")
	gateRows := fs.Int("gate-rows", 0, "average MMoE/PLE gate usage over the first N test rows (0: all)")
	df := addDataFlags(fs)
	br, err := df.parse(fs, args)
	if err != nil {
		return err
	}
	if *render != "" {
		rep, err := compare.ReadReport(filepath.Join(*render, compare.JSONFile))
		if err != nil {
			return err
		}
		if err := compare.WriteDir(*render, rep); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "report drawn again in %s\n", filepath.Clean(*render))
		return nil
	}
	if *schemaPath == "" || *out == "" {
		return errors.New("compare: --schema and --out are required (see dcrnn compare --help)")
	}
	if *seeds < 1 {
		return fmt.Errorf("compare: --seeds: must be ≥ 1, got %d", *seeds)
	}
	if *gateRows < 0 {
		return fmt.Errorf("compare: --gate-rows: must be ≥ 0, got %d", *gateRows)
	}
	names, err := parseModels(*models)
	if err != nil {
		return err
	}
	rhos, err := parseSweep(*sweep)
	if err != nil {
		return err
	}
	variants, err := compare.ParseAblate(*ablate)
	if err != nil {
		return err
	}
	if (*sweep != "" || len(variants) > 0) && !fsSet(fs, "models") {
		names = nil // --sweep or --ablate alone trains only the sweep or the ablation
	}
	schema, err := feature.LoadSchema(*schemaPath)
	if err != nil {
		return err
	}
	cfg, err := train.LoadConfig(*configPath, sets)
	if err != nil {
		return err
	}
	if cfg.Seed != 0 {
		return errors.New("compare: the config sets seed; compare trains every model with seeds 1..--seeds (use --seeds)")
	}
	var ablation []compare.Ablated
	for _, v := range variants {
		c, err := train.LoadConfig(*configPath, append(slices.Clone(sets), v.Set...))
		if err != nil {
			return fmt.Errorf("compare: --ablate %s: %w", v.Name, err)
		}
		ablation = append(ablation, compare.Ablated{Variant: v, Config: c})
	}
	var job train.Job
	if err := src.set("compare", &job); err != nil {
		return err
	}
	if job.Test == nil {
		return errors.New("compare: a test part is required: --split with three ratios (e.g. 0.5,0.25,0.25) or --test F")
	}
	data := *src.data
	if data == "" {
		data = fmt.Sprintf("train %s, valid %s, test %s", *src.train, *src.valid, *src.test)
	}
	opt := compare.Options{Schema: schema, Train: job.Train, Valid: job.Valid, Test: job.Test, Models: names, Seeds: *seeds,
		Config: cfg, Sweep: rhos, Ablation: ablation, GateRows: *gateRows, BadRows: br, Logger: newLogger(stderr), Progress: trainProgress(stderr),
		Meta: compare.Meta{Command: commandLine(args), Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"),
			Schema: *schemaPath, Data: data, Split: *src.split, SplitSeed: *src.seed,
			Threads: tensor.Threads(), CPUs: runtime.NumCPU(), LoadBefore: loadAverage()}}
	rep, err := compare.Compare(ctx, opt)
	if err != nil {
		return err
	}
	rep.LoadAfter = loadAverage()
	if err := compare.WriteDir(*out, rep); err != nil {
		return err
	}
	compare.WriteMarkdown(stdout, rep, nil)
	fmt.Fprintf(stdout, "report written to %s (report.md, report.json, plots)\n", filepath.Clean(*out))
	return nil
}

// parseModels splits --models and checks every name.
func parseModels(s string) ([]string, error) {
	var names []string
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if model.Doc(n) == "" {
			return nil, fmt.Errorf("compare: --models: unknown model %q (have %s)", n, strings.Join(model.Names(), ","))
		}
		for _, m := range names {
			if m == n {
				return nil, fmt.Errorf("compare: --models: %q is listed twice", n)
			}
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return nil, errors.New("compare: --models: no model given")
	}
	return names, nil
}

// parseSweep parses --sweep rho=0,0.5,1 ("" means no sweep).
func parseSweep(s string) ([]float64, error) {
	if s == "" {
		return nil, nil
	}
	key, list, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(key) != "rho" {
		return nil, fmt.Errorf("compare: --sweep %q: want rho=v1,v2,... (e.g. rho=0,0.25,0.5,0.75,1)", s)
	}
	var rhos []float64
	for i, f := range strings.Split(list, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(v >= 0 && v <= 1) {
			return nil, fmt.Errorf("compare: --sweep: value %d %q: want a number in [0, 1]", i+1, f)
		}
		for _, r := range rhos {
			if r == v {
				return nil, fmt.Errorf("compare: --sweep: rho %g is listed twice", v)
			}
		}
		rhos = append(rhos, v)
	}
	return rhos, nil
}

// fsSet reports whether the flag name was given on the command line.
func fsSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// commandLine rebuilds the command for the report, quoting where needed.
func commandLine(args []string) string {
	parts := []string{"dcrnn", "compare"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$\\") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// loadAverage returns the 1-minute load average (Linux), or 0.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
