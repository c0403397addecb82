package dcrnn_test

import (
	"bufio"
	"encoding/csv"
	"errors"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/dcrnn/dcrnn"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/tensor"
)

// readRows reads a data file as raw rows (column → trimmed string), the way
// a caller holding a training-format file would build them.
func readRows(t *testing.T, path string, columns []string, sep string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	var rows []map[string]any
	for s.Scan() {
		cells := strings.Split(s.Text(), sep)
		if columns == nil {
			columns = cells
			continue
		}
		if len(cells) != len(columns) {
			t.Fatalf("%s: %d cells, want %d", path, len(cells), len(columns))
		}
		m := map[string]any{}
		for i, c := range columns {
			m[c] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, m)
	}
	return rows
}

// readPreds reads a `dcrnn predict` output file.
func readPreds(t *testing.T, path string) (header []string, rows [][]float32) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs[1:] {
		var row []float32
		for _, c := range r {
			x, err := strconv.ParseFloat(c, 32)
			if err != nil {
				t.Fatal(err)
			}
			row = append(row, float32(x))
		}
		rows = append(rows, row)
	}
	return recs[0], rows
}

// TestScoreMatchesPredictCommand: the public Scorer gives what `dcrnn
// predict` wrote for the same Census rows (testdata/README.md), bit for bit
// (the file's shortest float32 form parses back to the same float32).
func TestScoreMatchesPredictCommand(t *testing.T) {
	s, err := feature.LoadSchema("examples/census.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rows := readRows(t, "testdata/census-rows.csv", s.Format.Columns, s.Format.Separator)
	header, want := readPreds(t, "testdata/census-preds.csv")
	m, err := dcrnn.Load("testdata/census-small.dcrnn")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(m.Tasks(), ",") != strings.Join(header, ",") || m.Funnel() {
		t.Fatalf("tasks %v funnel %v, the file has %v", m.Tasks(), m.Funnel(), header)
	}
	got, err := m.NewScorer().Score(rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 40 || len(want) != 40 {
		t.Fatalf("%d predictions, %d in the file, want 40", len(got), len(want))
	}
	for i := range want {
		for k, task := range header {
			if !samePrediction(got[i].Probs[k], want[i][k]) || got[i].Prob(task) != got[i].Probs[k] {
				t.Errorf("row %d %s: %v, dcrnn predict wrote %v", i, task, got[i].Probs[k], want[i][k])
			}
		}
		if got[i].CTCVR != 0 || !math.IsNaN(float64(got[i].Prob("ctcvr"))) || !math.IsNaN(float64(got[i].Prob("nope"))) {
			t.Errorf("row %d: ctcvr %v / %v / unknown %v of a model without a funnel", i, got[i].CTCVR, got[i].Prob("ctcvr"), got[i].Prob("nope"))
		}
	}
}

// samePrediction compares a probability with the one dcrnn predict wrote
// into testdata: bit for bit on the pure-Go AVX2 kernels that wrote the file,
// within 1e-6 on another backend (OpenBLAS sums products in another order).
func samePrediction(got, want float32) bool {
	if tensor.Backend() == "go-avx2" {
		return math.Float32bits(got) == math.Float32bits(want)
	}
	return math.Abs(float64(got)-float64(want)) <= 1e-6
}

// TestFunnelMatchesPredictCommand does the same for a funnel model, its
// conditional task and CTCVR, with rows given as a CSV with a header (the
// labels are columns the model ignores when scoring).
func TestFunnelMatchesPredictCommand(t *testing.T) {
	m, err := dcrnn.Load("internal/model/testdata/v0-funnel.dcrnn")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Funnel() || strings.Join(m.Tasks(), ",") != "click,conversion" {
		t.Fatalf("funnel %v tasks %v", m.Funnel(), m.Tasks())
	}
	rows := readRows(t, "internal/model/testdata/v0-funnel-rows.csv", nil, ",")
	_, want := readPreds(t, "testdata/funnel-preds.csv")
	got, err := m.NewScorer().Score(rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(want) != 40 {
		t.Fatalf("%d predictions, %d in the file", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if !samePrediction(g.Prob("click"), w[0]) || !samePrediction(g.Prob("conversion"), w[1]) || !samePrediction(g.CTCVR, w[2]) || g.Prob("ctcvr") != g.CTCVR {
			t.Errorf("row %d: %v ctcvr %v, dcrnn predict wrote %v", i, g.Probs, g.CTCVR, w)
		}
	}
}

// TestScoreIntoAllocatesNothing: once a Scorer and its destination have
// grown, scoring allocates nothing.
func TestScoreIntoAllocatesNothing(t *testing.T) {
	m, err := dcrnn.Load("internal/model/testdata/v0-funnel.dcrnn")
	if err != nil {
		t.Fatal(err)
	}
	rows := readRows(t, "internal/model/testdata/v0-funnel-rows.csv", nil, ",")
	rows[3]["user_id"] = 4668 // a number for a categorical field
	rows[4]["price"] = 12.5
	rows[5]["price"] = nil
	delete(rows[6], "city")
	sc := m.NewScorer()
	dst := make([]dcrnn.Prediction, len(rows))
	if err := sc.ScoreInto(dst, rows); err != nil {
		t.Fatal(err)
	}
	first := dst[len(dst)-1]
	if n := testing.AllocsPerRun(20, func() {
		if err := sc.ScoreInto(dst, rows); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ScoreInto: %v allocations per call, want 0", n)
	}
	if dst[len(dst)-1].Probs[0] != first.Probs[0] || dst[len(dst)-1].CTCVR != first.CTCVR {
		t.Errorf("a repeated call changed the prediction: %v then %v", first, dst[len(dst)-1])
	}
	if err := sc.ScoreInto(dst[:2], rows); err == nil {
		t.Error("ScoreInto with fewer predictions than rows: no error")
	}
}

// TestScoreErrors: bad values are *FieldError naming the row and the field,
// and nothing panics; a good call after a bad one still scores right.
func TestScoreErrors(t *testing.T) {
	m, err := dcrnn.Load("testdata/census-small.dcrnn")
	if err != nil {
		t.Fatal(err)
	}
	sc := m.NewScorer()
	ok, err := sc.Score([]map[string]any{{"age": 40}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		bad   map[string]any
		field string
	}{
		{map[string]any{"age": "forty"}, "age"},
		{map[string]any{"age": math.Inf(1)}, "age"},
		{map[string]any{"age": []any{1}}, "age"},
		{map[string]any{"education": []any{"x"}}, "education"},
		{map[string]any{"education": map[string]any{}}, "education"},
		{map[string]any{"sex": "Ma\x00le"}, "sex"},
		{map[string]any{"sex": true}, "sex"},
	}
	for _, tc := range tests {
		_, err := sc.Score([]map[string]any{{"age": 30}, {"age": 31}, tc.bad})
		var fe *dcrnn.FieldError
		if !errors.As(err, &fe) || fe.Row != 2 || fe.Field != tc.field || fe.Expected == "" {
			t.Errorf("%v: got %v (%+v), want a *FieldError for row 2, field %s", tc.bad, err, fe, tc.field)
			continue
		}
		if !strings.Contains(err.Error(), "row 2") || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%v: message %q names neither row nor field", tc.bad, err)
		}
	}
	again, err := sc.Score([]map[string]any{{"age": 40}})
	if err != nil || again[0].Probs[0] != ok[0].Probs[0] {
		t.Errorf("after errors: %v %v, want %v", again, err, ok)
	}
	if u := m.UnknownKeys(map[string]any{"age": 1, "agee": 2, "income_50k": "x"}); len(u) != 1 || u[0] != "agee" {
		t.Errorf("UnknownKeys = %v, want [agee]", u)
	}
}

// TestLoadAndDecode: Load and Decode give the same model; broken, missing
// and too-large files are refused with an error.
func TestLoadAndDecode(t *testing.T) {
	b, err := os.ReadFile("testdata/census-small.dcrnn")
	if err != nil {
		t.Fatal(err)
	}
	a, err := dcrnn.Load("testdata/census-small.dcrnn")
	if err != nil {
		t.Fatal(err)
	}
	d, err := dcrnn.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if a.Checksum() != d.Checksum() || len(a.Checksum()) != 64 || a.Name() != "shared_bottom" {
		t.Errorf("checksums %s / %s, name %s", a.Checksum(), d.Checksum(), a.Name())
	}
	f := a.Fields()
	if len(f) != 39 || f[0].Name != "age" || f[0].Kind != dcrnn.Numeric || len(f[0].MissingValues) == 0 || f[1].Kind != dcrnn.Categorical {
		t.Errorf("fields: %d, first %+v %+v", len(f), f[0], f[1])
	}
	f[0].Name = "changed"
	if a.Fields()[0].Name != "age" {
		t.Error("Fields returned the model's own slice")
	}
	broken := append([]byte(nil), b...)
	broken[len(broken)-1] ^= 1
	if _, err := dcrnn.Decode(broken); err == nil {
		t.Error("Decode of a file with a flipped byte: no error")
	}
	if _, err := dcrnn.Decode(b[:100]); err == nil {
		t.Error("Decode of a truncated file: no error")
	}
	if _, err := dcrnn.Load("testdata/nope.dcrnn"); err == nil {
		t.Error("Load of a missing file: no error")
	}
	if _, err := dcrnn.LoadLimited("testdata/census-small.dcrnn", 1000); err == nil {
		t.Error("LoadLimited under the file size: no error")
	}
}

// TestGoclientImportsNoInternalPackage: the external-program example (and
// its test) compiles against the public API alone: none of its imports is
// under internal/.
func TestGoclientImportsNoInternalPackage(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	out, err := exec.Command(gobin, "list", "-f", "{{join .Imports \"\\n\"}}\n{{join .TestImports \"\\n\"}}", "./examples/goclient").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var public bool
	for _, imp := range strings.Fields(string(out)) {
		if strings.Contains(imp, "/internal") {
			t.Errorf("examples/goclient imports %s", imp)
		}
		public = public || imp == "github.com/dcrnn/dcrnn"
	}
	if !public {
		t.Errorf("examples/goclient does not import github.com/dcrnn/dcrnn: %s", out)
	}
}

// TestReadmeSampleIsTheExample: the README's "Use from Go" sample is the
// body of ExampleScorer_Score, so the README shows code that go test runs.
func TestReadmeSampleIsTheExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	r := string(readme)
	i := strings.Index(r, "## Use from Go")
	if i < 0 {
		t.Fatal(`README has no "## Use from Go" section`)
	}
	r = r[i:]
	start := strings.Index(r, "```go\n")
	end := strings.Index(r[start+6:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no go code block in the README section")
	}
	sample := r[start+6 : start+6+end]
	e := string(src)
	j := strings.Index(e, "func ExampleScorer_Score() {\n")
	k := strings.Index(e[j:], "\n}\n")
	if j < 0 || k < 0 {
		t.Fatal("ExampleScorer_Score not found")
	}
	var body strings.Builder
	for _, l := range strings.Split(e[j+len("func ExampleScorer_Score() {\n"):j+k+1], "\n") {
		body.WriteString(strings.TrimPrefix(l, "\t") + "\n")
	}
	if got, want := strings.TrimSpace(sample), strings.TrimSpace(body.String()); got != want {
		t.Errorf("README sample differs from ExampleScorer_Score:\n%s\n--- example:\n%s", got, want)
	}
}

// TestExternalModule builds and runs the test of testdata/external, a
// module of its own that requires github.com/dcrnn/dcrnn (replaced by this
// checkout): the go command refuses a non-internal module's imports of
// internal/ packages, so this proves the public API is enough to load a
// model file and score rows. It runs on a copy, with this module's go.sum
// and no network (the module cache must hold the dependencies, as it does
// after go mod download).
func TestExternalModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds another module")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src, err := os.ReadFile("testdata/external/external_test.go")
	if err != nil {
		t.Fatal(err)
	}
	src = []byte(strings.ReplaceAll(string(src), `"../census-small.dcrnn"`, strconv.Quote(root+"/testdata/census-small.dcrnn")))
	sum, err := os.ReadFile("go.sum")
	if err != nil {
		t.Fatal(err)
	}
	mod := "module example.com/external\n\ngo 1.26\n\nrequire github.com/dcrnn/dcrnn v0.0.0\n\nreplace github.com/dcrnn/dcrnn => " + root + "\n"
	for name, b := range map[string][]byte{"go.mod": []byte(mod), "go.sum": sum, "external_test.go": src} {
		if err := os.WriteFile(dir+"/"+name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(gobin, "test", "-count=1", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test of the external module: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "ok") {
		t.Fatalf("go test of the external module: %s", out)
	}
}
