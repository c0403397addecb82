package bench

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// perOpStep is the training step as it was before train.Stepper: one tape
// over the whole batch, every product and element-wise kernel split across
// tensor.Threads() goroutines on its own. It is kept here only as the
// yardstick of BenchmarkTrainScaling.
func perOpStep(w *Workload, tape *nn.Tape, i int) {
	b := w.Batch(i)
	tape.Reset()
	logits := w.Model.Forward(tape, b)
	w.obj.Loss(logits, b, nil)
	tape.Backward()
	w.adam.Step()
	w.sparse.Step()
}

// BenchmarkTrainScaling times training steps of the mlp24 and dcrnn24
// workloads interleaved in one process, so that a machine shared with
// other jobs slows every configuration alike: per round, steps of the
// data-parallel step (train.Stepper, as `dcrnn train` and `dcrnn bench`
// run it) and of the per-operation threading it replaced, on 1 and 2
// threads (DCRNN_SCALING_THREADS, e.g. "1,2,4", changes the list), each
// for DCRNN_SCALING_STEPS steps (default 4), with blocks of
// DCRNN_SCALING_BLOCK_ROWS rows (default: train's). It reports the median
// samples/s of each over the rounds (b.N rounds: use -benchtime 20x), and
// the medians of the ratios within a round of the data-parallel step on n
// threads to itself on the first thread count and to the per-operation
// step on n.
func BenchmarkTrainScaling(b *testing.B) {
	threads := []int{1, 2}
	if s := os.Getenv("DCRNN_SCALING_THREADS"); s != "" {
		threads = threads[:0]
		for _, f := range splitComma(s) {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				b.Fatalf("DCRNN_SCALING_THREADS=%q", s)
			}
			threads = append(threads, n)
		}
	}
	steps := 4
	if s := os.Getenv("DCRNN_SCALING_STEPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("DCRNN_SCALING_STEPS=%q", s)
		}
		steps = n
	}
	blockRows := 0
	if s := os.Getenv("DCRNN_SCALING_BLOCK_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("DCRNN_SCALING_BLOCK_ROWS=%q", s)
		}
		blockRows = n
	}
	for _, wl := range Workloads {
		b.Run(wl, func(b *testing.B) {
			defer tensor.SetThreads(tensor.Threads())
			dp, err := NewWorkload(Options{Workload: wl, BlockRows: blockRows})
			if err != nil {
				b.Fatal(err)
			}
			op, err := NewWorkload(Options{Workload: wl})
			if err != nil {
				b.Fatal(err)
			}
			tape := nn.NewTape(true, 1)
			for i := range 3 { // warm-up: arenas, optimizer state
				dp.TrainStep(i)
				perOpStep(op, tape, i)
			}
			sps := map[string][]float64{}
			round := map[string]float64{}
			run := func(name string, t int, step func(i int)) {
				tensor.SetThreads(t)
				start := time.Now()
				for i := range steps {
					step(i)
				}
				key := fmt.Sprintf("%s-t%d", name, t)
				round[key] = float64(steps*dp.Opts.Batch) / time.Since(start).Seconds()
				sps[key] = append(sps[key], round[key])
			}
			ratio := func(a, b string) {
				if round[a] > 0 && round[b] > 0 {
					sps[a+"/"+b] = append(sps[a+"/"+b], round[a]/round[b])
				}
			}
			b.ResetTimer()
			for range b.N {
				for _, t := range threads {
					run("blocks", t, func(i int) { dp.TrainStep(i) })
					run("perop", t, func(i int) { perOpStep(op, tape, i) })
				}
				// Ratios within a round, of runs next to each other in time.
				for _, t := range threads[1:] {
					ratio(fmt.Sprintf("blocks-t%d", t), fmt.Sprintf("blocks-t%d", threads[0]))
				}
				for _, t := range threads {
					ratio(fmt.Sprintf("blocks-t%d", t), fmt.Sprintf("perop-t%d", t))
				}
			}
			for k, v := range sps {
				slices.Sort(v)
				unit := k + "-samples/s"
				if strings.Contains(k, "/") {
					unit = k
				}
				b.ReportMetric(v[len(v)/2], unit)
			}
		})
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}
