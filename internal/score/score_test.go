package score_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/nn/nntest"
	"github.com/dcrnn/dcrnn/internal/score"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

const (
	funnelModel = "../model/testdata/v0-funnel.dcrnn"
	funnelRows  = "../model/testdata/v0-funnel-rows.csv"
	censusModel = "../../testdata/census-small.dcrnn" // Platt-calibrated
	censusRows  = "../../testdata/census-rows.csv"
)

func load(t *testing.T, path string) *model.Trained {
	t.Helper()
	tr, err := model.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// fileRows reads a CSV with a header as raw rows (column → string).
func fileRows(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	cols := strings.Split(lines[0], ",")
	var rows []map[string]any
	for _, l := range lines[1:] {
		m := map[string]any{}
		for i, c := range strings.Split(l, ",") {
			m[cols[i]] = c
		}
		rows = append(rows, m)
	}
	return rows
}

// direct scores every row on its own batch with model.Trained.Predict,
// without package score.
func direct(t *testing.T, tr *model.Trained, rows []map[string]any, calibrated bool) (probs [][]float32, ctcvr []float32) {
	t.Helper()
	T := len(tr.Spec.Tasks)
	probs = make([][]float32, T)
	tape := nn.NewTape(false, 0)
	for _, m := range rows {
		b := tr.Pipeline.NewBatch(1)
		if err := tr.Pipeline.TransformMapWith(m, nil, b); err != nil {
			t.Fatal(err)
		}
		p := make([][]float32, T)
		for k := range p {
			p[k] = make([]float32, 1)
		}
		c := make([]float32, 1)
		if calibrated {
			tr.Predict(tape, b, p, c)
		} else {
			tr.PredictUncalibrated(tape, b, p, c)
		}
		for k := range p {
			probs[k] = append(probs[k], p[k][0])
		}
		ctcvr = append(ctcvr, c[0])
	}
	return probs, ctcvr
}

func same(t *testing.T, what string, got, want [][]float32, gotc, wantc []float32) {
	t.Helper()
	for k := range want {
		if len(got[k]) != len(want[k]) {
			t.Fatalf("%s: task %d: %d rows, want %d", what, k, len(got[k]), len(want[k]))
		}
		for i := range want[k] {
			if !nntest.SameScore(got[k][i], want[k][i]) {
				t.Fatalf("%s: task %d row %d: %v, want %v", what, k, i, got[k][i], want[k][i])
			}
		}
	}
	if wantc != nil {
		for i := range wantc {
			if !nntest.SameScore(gotc[i], wantc[i]) {
				t.Fatalf("%s: ctcvr row %d: %v, want %v", what, i, gotc[i], wantc[i])
			}
		}
	}
}

// TestMapsAnyChunkSize: Maps gives Predict's values row by row, bit for
// bit, whatever the chunk size, calibrated or not.
func TestMapsAnyChunkSize(t *testing.T) {
	tr := load(t, funnelModel)
	rows := fileRows(t, funnelRows)
	want, wantc := direct(t, tr, rows, true)
	for _, chunk := range []int{1, 3, 7, 0} {
		sc := score.New(tr)
		sc.Chunk = chunk
		for rep := 0; rep < 2; rep++ { // a reused Scorer gives the same
			got, gotc, err := sc.Maps(rows, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			same(t, "chunk", got, want, gotc, wantc)
		}
	}
}

// TestCalibratedOrNot: on a calibrated model, Uncalibrated gives the
// model's own probabilities and the default Predict's, and they differ.
func TestCalibratedOrNot(t *testing.T) {
	tr := load(t, censusModel)
	if tr.Calibration == nil {
		t.Fatal("the Census test model has no calibration")
	}
	bt, err := data.NewBatcher(tr.Pipeline, censusRows, data.BatchOptions{BatchSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer bt.Close()
	var rows []map[string]any
	r, err := data.Open(censusRows, data.OptionsFor(tr.Pipeline.Schema().Format))
	if err != nil {
		t.Fatal(err)
	}
	cols := r.Columns()
	for {
		rec, err := r.Next()
		if err != nil {
			break
		}
		m := map[string]any{}
		for j, c := range cols {
			m[c] = strings.TrimSpace(string(rec[j]))
		}
		rows = append(rows, m)
	}
	r.Close()
	if len(rows) != 40 {
		t.Fatalf("%d rows", len(rows))
	}
	cal, _ := direct(t, tr, rows, true)
	raw, _ := direct(t, tr, rows, false)
	if cal[0][0] == raw[0][0] {
		t.Fatal("calibration changes nothing on row 0: the test cannot tell them apart")
	}
	sc := score.New(tr)
	got, _, err := sc.Maps(rows, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "calibrated", got, cal, nil, nil)
	sc.Uncalibrated = true
	got, _, err = sc.Maps(rows, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "uncalibrated", got, raw, nil, nil)

	// Pass over the file (rows transformed from the file's bytes, 16 per
	// batch) gives the same as Maps.
	sc = score.New(tr)
	pass := make([][]float32, 2)
	var offsets []int
	n, err := sc.Pass(context.Background(), bt, func(b *feature.Batch, probs [][]float32, ctcvr []float32, offset int) error {
		if ctcvr != nil || len(probs[0]) != b.N {
			t.Errorf("batch of %d rows: ctcvr %v, %d probabilities", b.N, ctcvr, len(probs[0]))
		}
		offsets = append(offsets, offset)
		for k := range probs {
			pass[k] = append(pass[k], probs[k]...)
		}
		return nil
	})
	if err != nil || n != 40 || len(offsets) != 3 || offsets[1] != 16 || offsets[2] != 32 {
		t.Fatalf("Pass: %d rows, offsets %v, %v", n, offsets, err)
	}
	same(t, "pass", pass, cal, nil, nil)
}

// TestMapsContextAndErrors: a row's own value wins over the context's, the
// check sees the context as -1, errors name the row.
func TestMapsContextAndErrors(t *testing.T) {
	tr := load(t, funnelModel)
	rows := fileRows(t, funnelRows)[:3]
	want, _ := direct(t, tr, rows, true)
	sc := score.New(tr)
	// Take city out of the rows into a context holding row 0's city; row 0
	// must score as before, rows 1 and 2 keep their own city.
	ctx := map[string]any{"city": rows[0]["city"]}
	items := []map[string]any{{}, rows[1], rows[2]}
	for k, v := range rows[0] {
		if k != "city" {
			items[0][k] = v
		}
	}
	var seen []int
	got, _, err := sc.Maps(items, ctx, func(i int, m map[string]any) error { seen = append(seen, i); return nil })
	if err != nil {
		t.Fatal(err)
	}
	same(t, "context", got, want, nil, nil)
	if len(seen) != 4 || seen[0] != -1 || seen[3] != 2 {
		t.Errorf("check saw %v, want [-1 0 1 2]", seen)
	}
	bad := []map[string]any{rows[0], {"price": "cheap"}}
	_, _, err = sc.Maps(bad, nil, nil)
	var re *score.RowError
	var fe *feature.FieldError
	if !errors.As(err, &re) || re.Row != 1 || !errors.As(err, &fe) || fe.Name != "price" {
		t.Errorf("bad row: %v, want a RowError for row 1 naming price", err)
	}
	_, _, err = sc.Maps(rows, map[string]any{"price": []any{1}}, nil)
	if !errors.As(err, &re) || re.Row != -1 {
		t.Errorf("bad context: %v, want a RowError for row -1", err)
	}
	stop := errors.New("stop")
	if _, _, err = sc.Maps(rows, nil, func(i int, _ map[string]any) error {
		if i == 2 {
			return stop
		}
		return nil
	}); err != stop {
		t.Errorf("check's error: got %v", err)
	}
	got, _, err = sc.Maps(rows, nil, nil) // the Scorer still works after errors
	if err != nil {
		t.Fatal(err)
	}
	same(t, "after errors", got, want, nil, nil)
}

// TestBlocksAnyThreads: a batch of several blocks (score.BlockRows rows
// each) scored on 1–4 goroutines gives every row the probabilities it gets
// alone, calibrated or not, and a Scorer reused for a smaller batch
// afterwards still does.
func TestBlocksAnyThreads(t *testing.T) {
	defer tensor.SetThreads(tensor.Threads())
	tr := load(t, funnelModel)
	base := fileRows(t, funnelRows)
	var rows []map[string]any
	for len(rows) < 3*score.BlockRows+17 {
		rows = append(rows, base...)
	}
	for _, calibrated := range []bool{true, false} {
		want, wantc := direct(t, tr, rows, calibrated)
		for _, threads := range []int{1, 2, 3, 4} {
			tensor.SetThreads(threads)
			sc := score.New(tr)
			sc.Uncalibrated = !calibrated
			sc.Chunk = len(rows) // one forward pass of four blocks
			for _, n := range []int{len(rows), score.BlockRows + 1, 5} {
				got, gotc, err := sc.Maps(rows[:n], nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				wp := make([][]float32, len(want))
				for k := range want {
					wp[k] = want[k][:n]
				}
				same(t, fmt.Sprintf("calibrated %v, %d threads, %d rows", calibrated, threads, n), got, wp, gotc, wantc[:n])
			}
		}
	}
}

// TestBlockPanicReachesCaller: a bug that panics inside one block of a
// parallel batch (here an id outside its table) panics on the caller's
// goroutine, where the server recovers it, instead of killing the process
// from a kernel worker.
func TestBlockPanicReachesCaller(t *testing.T) {
	defer tensor.SetThreads(tensor.Threads())
	tensor.SetThreads(2)
	tr := load(t, funnelModel)
	base := fileRows(t, funnelRows)
	b := tr.Pipeline.NewBatch(3 * score.BlockRows)
	for i := 0; i < 3*score.BlockRows; i++ {
		if err := tr.Pipeline.TransformMapWith(base[i%len(base)], nil, b); err != nil {
			t.Fatal(err)
		}
	}
	f := -1
	for i, fd := range b.Fields {
		if len(fd.IDs) == b.N && fd.Offsets == nil {
			f = i
			break
		}
	}
	if f < 0 {
		t.Fatal("the funnel model has no categorical field")
	}
	b.Fields[f].IDs[2*score.BlockRows+5] = 1 << 30
	sc := score.New(tr)
	defer func() {
		if recover() == nil {
			t.Error("an id outside its table did not panic")
		}
	}()
	sc.Batch(b)
}

// columnsOf turns raw rows into one column per field of tr's pipeline: text,
// except the numeric fields when numbers is set, which go as float64 (a cell
// that does not parse as a number is missing), as the maps returned beside
// them hold the same values.
func columnsOf(t *testing.T, tr *model.Trained, rows []map[string]any, numbers bool) ([]feature.Column, []map[string]any) {
	t.Helper()
	fields := tr.Pipeline.Fields()
	cols := make([]feature.Column, len(fields))
	maps := make([]map[string]any, len(rows))
	for r := range maps {
		maps[r] = map[string]any{}
	}
	for i, f := range fields {
		c := &cols[i]
		for r, m := range rows {
			v := m[f.Name].(string)
			if !numbers || f.Kind != feature.Numeric {
				c.Text = append(c.Text, v)
				maps[r][f.Name] = v
				continue
			}
			x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			c.Floats = append(c.Floats, x)
			c.Missing = append(c.Missing, err != nil)
			if err == nil {
				maps[r][f.Name] = x
			}
		}
	}
	return cols, maps
}

// TestColumnsMatchMaps: Columns gives Maps' probabilities for the same
// values, bit for bit on the pure-Go kernels (within 1e-6 under OpenBLAS,
// whose sums depend on the chunk: nntest.SameScore), on the funnel and the calibrated Census model,
// numbers as text or as float64, whatever the chunk size; a bad value is a
// RowError naming its row across chunks.
func TestColumnsMatchMaps(t *testing.T) {
	for _, c := range []struct{ model, rows string }{{funnelModel, funnelRows}, {censusModel, censusRows}} {
		tr := load(t, c.model)
		rows := fileRows(t, c.rows)
		if c.model == censusModel {
			rows = censusMaps(t, tr)
		}
		for _, numbers := range []bool{false, true} {
			cols, maps := columnsOf(t, tr, rows, numbers)
			want, wantc, err := score.New(tr).Maps(maps, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, chunk := range []int{1, 3, 7, 0} {
				sc := score.New(tr)
				sc.Chunk = chunk
				got, gotc, err := sc.Columns(len(rows), cols)
				if err != nil {
					t.Fatal(err)
				}
				same(t, fmt.Sprintf("%s, numbers %v, chunk %d", c.model, numbers, chunk), got, want, gotc, wantc)
			}
		}
	}
	tr := load(t, funnelModel)
	cols, _ := columnsOf(t, tr, fileRows(t, funnelRows), false)
	for i, f := range tr.Pipeline.Fields() {
		if f.Name == "price" {
			cols[i].Text[9] = "cheap"
		}
	}
	sc := score.New(tr)
	sc.Chunk = 4
	_, _, err := sc.Columns(len(cols[0].Text), cols)
	var re *score.RowError
	var fe *feature.FieldError
	if !errors.As(err, &re) || re.Row != 9 || !errors.As(err, &fe) || fe.Name != "price" {
		t.Errorf("bad value in row 9: %v, want a RowError for row 9 naming price", err)
	}
	if _, _, err := sc.Columns(3, cols); err == nil || errors.As(err, &re) {
		t.Errorf("columns of 40 rows scored as 3: %v", err)
	}
}

// censusMaps reads the Census test rows (trimmed cells) as maps.
func censusMaps(t *testing.T, tr *model.Trained) []map[string]any {
	t.Helper()
	r, err := data.Open(censusRows, data.OptionsFor(tr.Pipeline.Schema().Format))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cols := r.Columns()
	var rows []map[string]any
	for {
		rec, err := r.Next()
		if err != nil {
			break
		}
		m := map[string]any{}
		for j, c := range cols {
			m[c] = strings.TrimSpace(string(rec[j]))
		}
		rows = append(rows, m)
	}
	return rows
}

// TestSharedPacksSameBits: Scorers sharing one nn.Packs (SharePacks), run
// side by side on several goroutines, give every row the bits it gets from
// a Scorer that packs the weights on every product, for the funnel and the
// Census model, on one block and on several blocks, 1 to 3 threads; the
// packs are made once for all of them.
func TestSharedPacksSameBits(t *testing.T) {
	defer tensor.SetThreads(tensor.Threads())
	for _, path := range [][2]string{{funnelModel, funnelRows}, {censusModel, censusRows}} {
		tr := load(t, path[0])
		base := fileRows(t, path[1])
		var rows []map[string]any
		for len(rows) < 2*score.BlockRows+33 {
			rows = append(rows, base...)
		}
		for _, threads := range []int{1, 2, 3} {
			tensor.SetThreads(threads)
			plain := score.New(tr)
			plain.Chunk = len(rows)
			packs := nn.NewPacks()
			for _, n := range []int{len(rows), 100, 1} {
				want, wantc, err := plain.Maps(rows[:n], nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				const goroutines = 3
				errs := make(chan error, goroutines)
				for g := range goroutines {
					go func() {
						sc := score.New(tr)
						sc.Chunk = len(rows)
						sc.SharePacks(packs)
						for rep := range 2 {
							got, gotc, err := sc.Maps(rows[:n], nil, nil)
							if err != nil {
								errs <- err
								return
							}
							if d := diff(got, want, gotc, wantc); d != "" {
								errs <- fmt.Errorf("%s, %d threads, %d rows, goroutine %d, pass %d: %s", path[0], threads, n, g, rep, d)
								return
							}
						}
						errs <- nil
					}()
				}
				for range goroutines {
					if err := <-errs; err != nil {
						t.Fatal(err)
					}
				}
			}
			if tensor.Backend() == "go-avx2" && packs.Len() == 0 {
				t.Fatalf("%s: nothing was packed", path[0])
			}
		}
	}
}

// diff is same for another goroutine than the test's: it describes the
// first difference, "" when there is none.
func diff(got, want [][]float32, gotc, wantc []float32) string {
	for k := range want {
		if len(got[k]) != len(want[k]) {
			return fmt.Sprintf("task %d: %d rows, want %d", k, len(got[k]), len(want[k]))
		}
		for i := range want[k] {
			if !nntest.SameScore(got[k][i], want[k][i]) {
				return fmt.Sprintf("task %d row %d: %v, want %v", k, i, got[k][i], want[k][i])
			}
		}
	}
	for i := range wantc {
		if !nntest.SameScore(gotc[i], wantc[i]) {
			return fmt.Sprintf("ctcvr row %d: %v, want %v", i, gotc[i], wantc[i])
		}
	}
	return ""
}
