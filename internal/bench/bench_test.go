package bench

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/score"
)

// tiny is a workload small enough for a unit test.
func tiny(workload string) Options {
	return Options{Workload: workload, Threads: 1, Vocab: 50, Batch: 32, Batches: 2, WarmupSteps: 2, MaxSteps: 3, TrainSeconds: 0.01}
}

func TestRunTiny(t *testing.T) {
	for _, wl := range Workloads {
		t.Run(wl, func(t *testing.T) {
			res, err := Run(context.Background(), tiny(wl))
			if errors.Is(err, ErrWorkload) {
				t.Skipf("workload %s not available: %v", wl, err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if math.IsNaN(res.LastLoss) || math.IsInf(res.LastLoss, 0) || res.LastLoss <= 0 {
				t.Errorf("last loss %v, want finite and positive", res.LastLoss)
			}
			if res.TrainSteps != 3 || res.InferSteps != 3 {
				t.Errorf("steps train %d infer %d, want 3 and 3", res.TrainSteps, res.InferSteps)
			}
			if !(res.TrainSamplesPerSecond > 0) || !(res.InferSamplesPerSecond > 0) {
				t.Errorf("throughput train %v infer %v, want > 0", res.TrainSamplesPerSecond, res.InferSamplesPerSecond)
			}
			if res.Threads != 1 || res.Workload != wl || res.Backend == "" {
				t.Errorf("result header %+v", res)
			}
			b, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"workload", "backend", "threads", "train_samples_per_second", "infer_samples_per_second", "peak_rss_bytes"} {
				if _, ok := m[k]; !ok {
					t.Errorf("JSON %s lacks key %q", b, k)
				}
			}
		})
	}
}

// TestMLP24Shape checks that the mlp24 workload is the package doc's model: 24
// tables of 100000×16 and two towers 384-256-128-64-1, nothing else.
func TestMLP24Shape(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 24 tables of 100000 rows; skipped with -short")
	}
	w, err := NewWorkload(Options{})
	if err != nil {
		t.Fatal(err)
	}
	sp := w.Model.SparseParams()
	if len(sp) != 24 {
		t.Fatalf("%d tables, want 24", len(sp))
	}
	for _, p := range sp {
		if p.Rows != 100000 || p.Cols != 16 {
			t.Errorf("table %s is %d×%d, want 100000×16", p.Name, p.Rows, p.Cols)
		}
	}
	dense := 0
	for _, p := range w.Model.Params() {
		dense += len(p.W)
	}
	// Per tower: 384·256+256 + 256·128+128 + 128·64+64 + 64+1.
	want := 2 * (384*256 + 256 + 256*128 + 128 + 128*64 + 64 + 64 + 1)
	if dense != want {
		t.Errorf("%d dense parameters, want %d (two towers 384-256-128-64-1)", dense, want)
	}
}

func TestLossDecreases(t *testing.T) {
	// Random labels on two rotating batches: the model must memorise them,
	// so the loss must fall well below the 2·ln 2 of a constant predictor.
	w, err := NewWorkload(Options{Vocab: 1000, Batch: 64, Batches: 2})
	if err != nil {
		t.Fatal(err)
	}
	first := w.TrainStep(0)
	if math.Abs(first-2*math.Ln2) > 0.1 {
		t.Errorf("first loss %v, want about 2·ln2 = %v", first, 2*math.Ln2)
	}
	var last float64
	for i := 1; i < 200; i++ {
		last = w.TrainStep(i)
	}
	if !(last < first/2) {
		t.Errorf("loss %v after 200 steps, want < %v (half the first loss)", last, first/2)
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		is   error
	}{
		{"unknown workload", Options{Workload: "nope"}, ErrWorkload},
		{"negative batch", Options{Batch: -1}, nil},
		{"negative threads", Options{Threads: -2}, nil},
		{"negative seconds", Options{TrainSeconds: -1}, nil},
		{"infinite seconds", Options{TrainSeconds: math.Inf(1)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), tc.o)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v, want %v", err, tc.is)
			}
		})
	}
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := tiny(MLP24)
	if _, err := Run(ctx, o); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

func TestParseVmHWM(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"Name:\tx\nVmPeak:\t 100 kB\nVmHWM:\t   2048 kB\nVmRSS:\t 10 kB\n", 2048 * 1024},
		{"VmHWM: 1 kB", 1024},
		{"VmRSS:\t 10 kB\n", 0},
		{"VmHWM:\t abc kB\n", 0},
		{"VmHWM:\t 12 MB\n", 0},
	} {
		if got := parseVmHWM([]byte(tc.in)); got != tc.want {
			t.Errorf("parseVmHWM(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
	if PeakRSS() <= 0 {
		t.Log("no /proc/self/status here; PeakRSS is 0")
	}
}

func TestSyntheticBatches(t *testing.T) {
	bs := SyntheticBatches(3, 500, 4, 10, 2, 7)
	again := SyntheticBatches(3, 500, 4, 10, 2, 7)
	ones := 0
	for i, b := range bs {
		if b.N != 500 || len(b.Fields) != 4 || len(b.Labels) != 2 {
			t.Fatalf("batch %d shape N=%d fields=%d labels=%d", i, b.N, len(b.Fields), len(b.Labels))
		}
		seen := map[int32]bool{}
		for f, fd := range b.Fields {
			for r, id := range fd.IDs {
				if id < 0 || id >= 10 {
					t.Fatalf("batch %d field %d row %d: id %d outside [0,10)", i, f, r, id)
				}
				seen[id] = true
				if again[i].Fields[f].IDs[r] != id {
					t.Fatalf("batch %d not reproducible from the seed", i)
				}
			}
		}
		if len(seen) != 10 {
			t.Errorf("batch %d uses %d of 10 ids, want all (uniform)", i, len(seen))
		}
		for _, y := range b.Labels {
			for _, v := range y {
				if v != 0 && v != 1 {
					t.Fatalf("label %v, want 0 or 1", v)
				}
				if v == 1 {
					ones++
				}
			}
		}
	}
	if frac := float64(ones) / (3 * 500 * 2); frac < 0.45 || frac > 0.55 {
		t.Errorf("positive label fraction %.3f, want about 0.5", frac)
	}
}

// benchWorkload builds the full mlp24 workload once per benchmark.
func benchWorkload(b *testing.B, wl string) *Workload {
	b.Helper()
	w, err := NewWorkload(Options{Workload: wl})
	if errors.Is(err, ErrWorkload) {
		b.Skip(err)
	}
	if err != nil {
		b.Fatal(err)
	}
	for i := range 5 {
		w.TrainStep(i)
	}
	return w
}

// BenchmarkMLP24Train measures one training step of the mlp24 workload
// (batch 1024). Thread count: tensor's default (GOMAXPROCS; set -cpu).
func BenchmarkMLP24Train(b *testing.B) { benchTrain(b, MLP24) }

// BenchmarkMLP24Infer measures one inference step (forward + sigmoid, batch 1024).
func BenchmarkMLP24Infer(b *testing.B) { benchInfer(b, MLP24) }

// BenchmarkDCRNN24Train measures one training step of the dcrnn24 workload.
func BenchmarkDCRNN24Train(b *testing.B) { benchTrain(b, DCRNN24) }

// BenchmarkDCRNN24Infer measures one inference step of the dcrnn24 workload.
func BenchmarkDCRNN24Infer(b *testing.B) { benchInfer(b, DCRNN24) }

func benchTrain(b *testing.B, wl string) {
	w := benchWorkload(b, wl)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.TrainStep(i)
	}
	b.ReportMetric(float64(b.N*w.Opts.Batch)/b.Elapsed().Seconds(), "samples/s")
}

func benchInfer(b *testing.B, wl string) {
	w := benchWorkload(b, wl)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.InferStep(i)
	}
	b.ReportMetric(float64(b.N*w.Opts.Batch)/b.Elapsed().Seconds(), "samples/s")
}

// TestInferAfterTrainStep: the inference step, whose scorer keeps the
// weights packed from call to call, scores with the weights of the last
// training step, as a scorer made afresh does, to the bit.
func TestInferAfterTrainStep(t *testing.T) {
	w, err := NewWorkload(Options{Vocab: 1000, Batch: 300, Batches: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		w.InferStep(i) // packs the weights of step i
		w.TrainStep(i)
		got := w.InferStep(i + 1)
		want, _ := score.New(&model.Trained{Spec: w.Spec, Model: w.Model}).Batch(w.Batch(i + 1))
		for k := range want {
			for r := range want[k] {
				if math.Float32bits(got[k][r]) != math.Float32bits(want[k][r]) {
					t.Fatalf("after train step %d: task %d row %d: %v, want %v", i, k, r, got[k][r], want[k][r])
				}
			}
		}
	}
}
