package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/dcrnn/dcrnn/internal/calibrate"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/model/modeltest"
	"github.com/dcrnn/dcrnn/internal/nn"
)

// fields decodes one protobuf message into its fields by number: varints as
// uint64, fixed32 as uint32, length-delimited as []byte.
func fields(t *testing.T, b []byte) map[protowire.Number][]any {
	t.Helper()
	out := map[protowire.Number][]any{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		var v any
		switch typ {
		case protowire.VarintType:
			x, m := protowire.ConsumeVarint(b)
			v, n = x, m
		case protowire.Fixed32Type:
			x, m := protowire.ConsumeFixed32(b)
			v, n = x, m
		case protowire.BytesType:
			x, m := protowire.ConsumeBytes(b)
			v, n = x, m
		default:
			t.Fatalf("field %d: unexpected wire type %d", num, typ)
		}
		if n < 0 {
			t.Fatalf("field %d: %v", num, protowire.ParseError(n))
		}
		out[num] = append(out[num], v)
		b = b[n:]
	}
	return out
}

func str(v any) string { return string(v.([]byte)) }

func strs(vs []any) []string {
	var s []string
	for _, v := range vs {
		s = append(s, str(v))
	}
	return s
}

// decoded is the structure of an exported graph, read back from its bytes
// with the onnx.proto field numbers.
type decoded struct {
	ir, opset       uint64
	inputs, outputs []string
	inputTypes      []uint64
	inits           map[string][]uint64 // name -> dims
	ops             []string
}

// decode reads an exported model and checks that it is well formed: every
// node input is a graph input, an initializer or an earlier node's output,
// every initializer's raw data has the size of its dims and type, and every
// graph output is produced.
func decode(t *testing.T, b []byte) decoded {
	t.Helper()
	var d decoded
	m := fields(t, b)
	d.ir = m[1][0].(uint64)
	opset := fields(t, m[8][0].([]byte))
	if len(opset[1]) != 0 {
		t.Fatalf("opset domain %q, want the default domain", str(opset[1][0]))
	}
	d.opset = opset[2][0].(uint64)
	if len(m[7]) != 1 {
		t.Fatalf("%d graphs", len(m[7]))
	}
	g := fields(t, m[7][0].([]byte))
	known := map[string]bool{}
	for _, vi := range g[11] {
		f := fields(t, vi.([]byte))
		name := str(f[1][0])
		d.inputs = append(d.inputs, name)
		tt := fields(t, fields(t, f[2][0].([]byte))[1][0].([]byte))
		d.inputTypes = append(d.inputTypes, tt[1][0].(uint64))
		known[name] = true
	}
	d.inits = map[string][]uint64{}
	size := map[uint64]uint64{uint64(typeFloat): 4, uint64(typeInt64): 8, uint64(typeDouble): 8}
	for _, in := range g[5] {
		f := fields(t, in.([]byte))
		name := str(f[8][0])
		n := uint64(1)
		var dims []uint64
		for _, x := range f[1] {
			dims = append(dims, x.(uint64))
			n *= x.(uint64)
		}
		typ := f[2][0].(uint64)
		if got := uint64(len(f[9][0].([]byte))); got != n*size[typ] {
			t.Fatalf("initializer %s: %d raw bytes for dims %v of type %d", name, got, dims, typ)
		}
		if known[name] {
			t.Fatalf("initializer %s defined twice", name)
		}
		known[name] = true
		d.inits[name] = dims
	}
	for _, nb := range g[1] {
		f := fields(t, nb.([]byte))
		op := str(f[4][0])
		d.ops = append(d.ops, op)
		for _, in := range strs(f[1]) {
			if !known[in] {
				t.Fatalf("%s node %s reads %q before it is defined", op, str(f[3][0]), in)
			}
		}
		for _, out := range strs(f[2]) {
			if known[out] {
				t.Fatalf("%s node writes %q twice", op, out)
			}
			known[out] = true
		}
	}
	for _, vi := range g[12] {
		name := str(fields(t, vi.([]byte))[1][0])
		if !known[name] {
			t.Fatalf("output %s is never computed", name)
		}
		d.outputs = append(d.outputs, name)
	}
	return d
}

func build(t *testing.T, name string, cfg model.Config, funnel bool) *model.Trained {
	t.Helper()
	spec := modeltest.TinySpec(funnel)
	m, err := model.New(name, &cfg, spec, 1)
	if err != nil {
		t.Fatal(err)
	}
	return &model.Trained{Name: name, Config: cfg, Spec: spec, Model: m}
}

// TestExportEveryModel exports every registered model, with and without a
// funnel, and reads the bytes back: IR 8, opset 17, the inputs of
// Signature (int64 ids, float values), the task outputs and ctcvr, and one
// initializer per model parameter with its shape.
func TestExportEveryModel(t *testing.T) {
	if !slices.Equal(model.Names(), Models) {
		t.Fatalf("registered models %v, exportable %v", model.Names(), Models)
	}
	for _, name := range model.Names() {
		for _, funnel := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/funnel=%v", name, funnel), func(t *testing.T) {
				tr := build(t, name, modeltest.Small(model.Config{}), funnel)
				b, err := Export(tr)
				if err != nil {
					t.Fatal(err)
				}
				d := decode(t, b)
				if d.ir != 8 || d.opset != 17 {
					t.Fatalf("IR %d opset %d, want 8 and 17", d.ir, d.opset)
				}
				wantIn := []string{"user", "tags", "tags.lengths", "price", "item"}
				if !slices.Equal(d.inputs, wantIn) {
					t.Fatalf("inputs %v, want %v", d.inputs, wantIn)
				}
				if want := []uint64{7, 7, 7, 1, 7}; !slices.Equal(d.inputTypes, want) {
					t.Fatalf("input types %v, want %v (int64 ids, float values)", d.inputTypes, want)
				}
				wantOut := []string{"click", "conversion"}
				if funnel {
					wantOut = append(wantOut, "ctcvr")
				}
				if !slices.Equal(d.outputs, wantOut) {
					t.Fatalf("outputs %v, want %v", d.outputs, wantOut)
				}
				for _, p := range tr.Model.Params() {
					if dims := d.inits[p.Name]; !slices.Equal(dims, []uint64{uint64(p.Rows), uint64(p.Cols)}) {
						t.Fatalf("parameter %s: initializer dims %v, want [%d %d]", p.Name, dims, p.Rows, p.Cols)
					}
				}
				for _, p := range tr.Model.SparseParams() {
					if _, ok := d.inits[p.Name]; !ok {
						t.Fatalf("table %s is not an initializer", p.Name)
					}
				}
			})
		}
	}
}

// TestExportDCRNNConfigs exports the DCRNN config matrix: every cell, the
// sharing ratios at both ends, transfer off, fields mode, cross off and a
// single step (where the hidden-state weights only meet the zero state).
func TestExportDCRNNConfigs(t *testing.T) {
	f, tr := false, true
	rho := func(r float64) *float64 { return &r }
	cases := map[string]model.Config{"transfer-off": {Transfer: &f}, "cross-off": {Cross: &f}, "fields": {CrossMode: "fields"},
		"one-step": {CrossSteps: 1}, "fields-lstm-rho0": {CrossMode: "fields", Cell: "lstm", Rho: rho(0)}, "no-deep": {Deep: []int{}, Cross: &tr}}
	for _, cell := range []string{"gru", "lstm", "rnn"} {
		for _, r := range []float64{0, 0.5, 1} {
			cases[fmt.Sprintf("%s/rho=%g", cell, r)] = model.Config{Cell: cell, Rho: rho(r)}
		}
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			tr := build(t, "dcrnn", modeltest.Small(cfg), true)
			b, err := Export(tr)
			if err != nil {
				t.Fatal(err)
			}
			d := decode(t, b)
			ops := strings.Join(d.ops, " ")
			cell := map[string]string{"gru": "Split", "lstm": "Split", "rnn": "Tanh"}[tr.Config.Cell]
			if *tr.Config.Cross && !strings.Contains(ops, cell) {
				t.Fatalf("no %s in the graph of a %s cell: %s", cell, tr.Config.Cell, ops)
			}
		})
	}
}

// TestExportCalibration checks that a model file's calibration maps and
// negative down-sampling end up in the graph as double-precision steps
// after the sigmoid, and that the graph without them has none.
func TestExportCalibration(t *testing.T) {
	tr := build(t, "shared_bottom", modeltest.Small(model.Config{}), true)
	plain, err := Export(tr)
	if err != nil {
		t.Fatal(err)
	}
	count := func(ops []string, op string) int {
		n := 0
		for _, o := range ops {
			if o == op {
				n++
			}
		}
		return n
	}
	p := decode(t, plain).ops
	if count(p, "Log") != 0 || count(p, "Exp") != 2 { // the two tasks' sigmoids
		t.Fatalf("uncalibrated graph has calibration ops: %v", p)
	}
	tr.Calibration = &model.Calibration{Version: 1, Method: "platt", Tasks: map[string]*calibrate.Map{
		"click":      {Platt: &calibrate.Platt{A: 1.5, B: -0.25}},
		"conversion": {Isotonic: &calibrate.Isotonic{X: []float64{0.1, 0.5, 0.9}, Y: []float64{0, 0.4, 1}}}}}
	b, err := Export(tr)
	if err != nil {
		t.Fatal(err)
	}
	d := decode(t, b).ops
	// Platt: one Log (the logit) and one Exp (its sigmoid); both tasks cast
	// to double and back once more; the isotonic map's sum.
	if count(d, "Log") != 1 || count(d, "Exp") != 3 || count(d, "Cast") != count(p, "Cast")+4 || count(d, "ReduceSum") != count(p, "ReduceSum")+1 {
		t.Fatalf("calibrated graph: %d Log, %d Cast, %d ReduceSum (uncalibrated %d, %d): %v",
			count(d, "Log"), count(d, "Cast"), count(d, "ReduceSum"), count(p, "Cast"), count(p, "ReduceSum"), d)
	}
	// The isotonic knots are a double [2] constant of slopes 1 and 1.5.
	g := fields(t, fields(t, b)[7][0].([]byte))
	var slopes []float64
	for _, in := range g[5] {
		f := fields(t, in.([]byte))
		raw := f[9][0].([]byte)
		if f[2][0].(uint64) == uint64(typeDouble) && len(raw) == 16 {
			x := []float64{math.Float64frombits(binary.LittleEndian.Uint64(raw)), math.Float64frombits(binary.LittleEndian.Uint64(raw[8:]))}
			if math.Abs(x[0]-1) < 1e-12 && math.Abs(x[1]-1.5) < 1e-12 {
				slopes = x
			}
		}
	}
	if slopes == nil {
		t.Fatal("no slope constant [1 1.5] for the isotonic knots (0.1,0) (0.5,0.4) (0.9,1)")
	}
}

// extraParam is a model that declares a parameter its forward pass (and so
// the export) does not use.
type extraParam struct {
	model.Model
	p *nn.Param
}

func (m extraParam) Params() []*nn.Param { return append(m.Model.Params(), m.p) }

// TestExportRefusesMismatch: a parameter left out of the graph, a missing or
// misshapen parameter, an unknown model and clashing names are errors.
func TestExportRefusesMismatch(t *testing.T) {
	tr := build(t, "esmm", modeltest.Small(model.Config{}), true)
	bad := *tr
	bad.Model = extraParam{tr.Model, nn.NewParam("stray.W", 2, 2)}
	if _, err := Export(&bad); err == nil || !strings.Contains(err.Error(), "stray.W") {
		t.Fatalf("stray parameter: err = %v", err)
	}
	bad = *tr
	bad.Config.Tower = []int{4, 4} // one layer more than the model has
	if _, err := Export(&bad); err == nil || !strings.Contains(err.Error(), "has no parameter") {
		t.Fatalf("config/model mismatch: err = %v", err)
	}
	bad = *tr
	bad.Config.EmbeddingDim = 5
	if _, err := Export(&bad); err == nil || !strings.Contains(err.Error(), "want") {
		t.Fatalf("misshapen table: err = %v", err)
	}
	bad = *tr
	bad.Name = "nope"
	if _, err := Export(&bad); err == nil || !strings.Contains(err.Error(), "no ONNX export") {
		t.Fatalf("unknown model: err = %v", err)
	}
	spec := modeltest.TinySpec(true)
	spec.Fields[0].Name = "click"
	if _, err := Signature(spec); err == nil || !strings.Contains(err.Error(), `"click"`) {
		t.Fatalf("field named like a task: err = %v", err)
	}
	spec = modeltest.TinySpec(false)
	spec.Fields = append(spec.Fields, feature.FieldSpec{Name: "tags.lengths", Kind: feature.Numeric})
	if _, err := Signature(spec); err == nil {
		t.Fatal("a field named like another field's lengths input is accepted")
	}
}

// TestExportRefusesTooLarge: weights beyond one protobuf message's limit are
// an error, not a file ONNX Runtime cannot read (the limit is lowered here).
func TestExportRefusesTooLarge(t *testing.T) {
	defer func(v int) { maxWeightBytes = v }(maxWeightBytes)
	tr := build(t, "single", modeltest.Small(model.Config{}), false)
	maxWeightBytes = 4 * model.CountParams(tr.Model)
	if _, err := Export(tr); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	maxWeightBytes--
	if _, err := Export(tr); err == nil || !strings.Contains(err.Error(), "2 GiB") {
		t.Fatalf("over the limit: err = %v", err)
	}
}
