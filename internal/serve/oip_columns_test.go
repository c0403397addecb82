package serve

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/model"
	pb "github.com/dcrnn/dcrnn/internal/serve/inferencepb"
)

// The Open Inference Protocol's tensors are transformed column by column
// (feature.Pipeline.TransformColumns); /v1/predict's rows row by row from
// maps. These tests hold the two to the same probabilities, bit for bit,
// and the same error messages, on trained models and their test rows.

// modelRows reads a model's test rows (cells trimmed) as maps column → text.
func modelRows(t *testing.T, tr *model.Trained, path string) []map[string]string {
	t.Helper()
	r, err := data.Open(path, data.OptionsFor(tr.Pipeline.Schema().Format))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cols := r.Columns()
	var rows []map[string]string
	for {
		rec, err := r.Next()
		if err != nil {
			break
		}
		m := map[string]string{}
		for j, c := range cols {
			m[c] = strings.TrimSpace(string(rec[j]))
		}
		rows = append(rows, m)
	}
	if len(rows) < 20 {
		t.Fatalf("%d rows in %s", len(rows), path)
	}
	return rows
}

// tensorOf is one input tensor both as a ModelInfer input (typed contents
// or raw) and as the values the same rows hold as /v1/predict maps.
type tensorOf struct {
	in   *pb.ModelInferRequest_InferInputTensor
	raw  []byte
	maps []any // row i's value as the map path takes it
}

// encodeColumn sends the text values vals of a field as datatype dt: BYTES
// as they are; FP64, FP32 and INT64 parsed (a value that does not parse, or
// is not exact in the datatype, makes ok false).
func encodeColumn(name, dt string, vals []string) (tc tensorOf, ok bool) {
	n := int64(len(vals))
	c := &pb.InferTensorContents{}
	tc.in = &pb.ModelInferRequest_InferInputTensor{Name: name, Datatype: dt, Shape: []int64{n}}
	for _, v := range vals {
		switch dt {
		case "BYTES":
			c.BytesContents = append(c.BytesContents, []byte(v))
			tc.raw = binary.LittleEndian.AppendUint32(tc.raw, uint32(len(v)))
			tc.raw = append(tc.raw, v...)
			tc.maps = append(tc.maps, v)
		case "FP64", "FP32":
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return tc, false
			}
			if dt == "FP32" {
				c.Fp32Contents = append(c.Fp32Contents, float32(x))
				tc.raw = binary.LittleEndian.AppendUint32(tc.raw, math.Float32bits(float32(x)))
				x = float64(float32(x))
			} else {
				c.Fp64Contents = append(c.Fp64Contents, x)
				tc.raw = binary.LittleEndian.AppendUint64(tc.raw, math.Float64bits(x))
			}
			tc.maps = append(tc.maps, x)
		case "INT64":
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return tc, false
			}
			c.Int64Contents = append(c.Int64Contents, x)
			tc.raw = binary.LittleEndian.AppendUint64(tc.raw, uint64(x))
			tc.maps = append(tc.maps, json.Number(strconv.FormatInt(x, 10)))
		}
	}
	tc.in.Contents = c
	return tc, true
}

// inferRequest assembles tensors into a ModelInfer request, raw or typed.
func inferRequest(model string, ts []tensorOf, raw bool) *pb.ModelInferRequest {
	r := &pb.ModelInferRequest{ModelName: model}
	for _, tc := range ts {
		in := &pb.ModelInferRequest_InferInputTensor{Name: tc.in.Name, Datatype: tc.in.Datatype, Shape: tc.in.Shape}
		if raw {
			r.RawInputContents = append(r.RawInputContents, tc.raw)
		} else {
			in.Contents = tc.in.Contents
		}
		r.Inputs = append(r.Inputs, in)
	}
	return r
}

// inferOutputs decodes a ModelInfer answer into per-output columns.
func inferOutputs(t *testing.T, resp *pb.ModelInferResponse) [][]float32 {
	t.Helper()
	var out [][]float32
	for _, raw := range resp.RawOutputContents {
		col := make([]float32, len(raw)/4)
		for j := range col {
			col[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
		}
		out = append(out, col)
	}
	return out
}

func TestOIPColumnsMatchMapPath(t *testing.T) {
	for _, c := range []struct{ name, model, rows string }{
		{"census", "../../testdata/census-small.dcrnn", "../../testdata/census-rows.csv"},
		{"funnel", "../model/testdata/v0-funnel.dcrnn", "../model/testdata/v0-funnel-rows.csv"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, err := model.Load(c.model)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := New(c.model, Options{ModelName: "m"})
			if err != nil {
				t.Fatal(err)
			}
			g := &oipGRPC{s: srv}
			rows := modelRows(t, tr, c.rows)
			m := srv.oipModel()
			// Missing values: row 1 lacks every other numeric value, row 2
			// every other categorical one (a field with one goes as BYTES).
			for k, f := range m.fields {
				if k%2 == 0 && f.kind == oipNumeric {
					rows[1][f.name] = ""
				} else if k%2 == 0 {
					rows[2][f.name] = ""
				}
			}
			// Each variant sends the numeric and the categorical fields
			// with one datatype, where their values fit it (BYTES
			// otherwise).
			variants := []struct{ numeric, categorical string }{
				{"BYTES", "BYTES"}, {"FP64", "INT64"}, {"FP32", "BYTES"}, {"INT64", "INT64"},
			}
			sent := map[string]int{}
			for _, v := range variants {
				var ts []tensorOf
				for _, f := range m.fields {
					vals := make([]string, len(rows))
					for i, r := range rows {
						vals[i] = r[f.name]
					}
					dt := v.categorical
					if f.kind == oipNumeric {
						dt = v.numeric
					} else if f.kind == oipMulti {
						dt = "BYTES"
					}
					tc, ok := encodeColumn(f.name, dt, vals)
					if !ok {
						tc, _ = encodeColumn(f.name, "BYTES", vals)
					}
					sent[tc.in.Datatype]++
					ts = append(ts, tc)
				}
				maps := make([]map[string]any, len(rows))
				for i := range maps {
					maps[i] = map[string]any{}
					for _, tc := range ts {
						maps[i][tc.in.Name] = tc.maps[i]
					}
				}
				want := offline(t, tr, maps)
				for _, raw := range []bool{false, true} {
					resp, err := g.ModelInfer(context.Background(), inferRequest("m", ts, raw))
					if err != nil {
						t.Fatalf("%+v raw %v: %v", v, raw, err)
					}
					got := inferOutputs(t, resp)
					if len(got) != len(m.outputs) {
						t.Fatalf("%d outputs, want %d", len(got), len(m.outputs))
					}
					for o := range got {
						for i := range want {
							if math.Float32bits(got[o][i]) != math.Float32bits(want[i][o]) {
								t.Fatalf("%+v raw %v: output %d row %d: %v, map path %v", v, raw, o, i, got[o][i], want[i][o])
							}
						}
					}
				}
			}
			for _, dt := range []string{"BYTES", "FP64", "FP32", "INT64"} {
				if sent[dt] == 0 {
					t.Errorf("no field went as %s: the variants do not cover it", dt)
				}
			}
			// /v1/predict on the same rows as text: the map path the
			// server itself takes.
			body := mustJSON(t, map[string]any{"rows": rows})
			rec := newRecorder()
			req, _ := http.NewRequest("POST", "/v1/predict", bytes.NewReader(body))
			srv.Handler().ServeHTTP(rec, req)
			var pr struct {
				Predictions []map[string]float64 `json:"predictions"`
			}
			if rec.code != 200 || json.Unmarshal(rec.body.Bytes(), &pr) != nil || len(pr.Predictions) != len(rows) {
				t.Fatalf("/v1/predict: %d %s", rec.code, rec.body.Bytes())
			}
			var ts []tensorOf
			for _, f := range m.fields {
				vals := make([]string, len(rows))
				for i, r := range rows {
					vals[i] = r[f.name]
				}
				tc, _ := encodeColumn(f.name, "BYTES", vals)
				ts = append(ts, tc)
			}
			resp, err := g.ModelInfer(context.Background(), inferRequest("m", ts, true))
			if err != nil {
				t.Fatal(err)
			}
			got := inferOutputs(t, resp)
			for o, name := range m.outputs {
				for i := range rows {
					if p, ok := pr.Predictions[i][name]; !ok || float32(p) != got[o][i] {
						t.Fatalf("row %d %s: /v1/predict %v (%v), ModelInfer %v", i, name, p, ok, got[o][i])
					}
				}
			}
		})
	}
}

// TestOIPColumnErrorsAsPredict: a bad value is refused with /v1/predict's
// message for the same rows (rows[i].field), the first in row order.
func TestOIPColumnErrorsAsPredict(t *testing.T) {
	const path = "../model/testdata/v0-funnel.dcrnn"
	tr, err := model.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, strict := range []bool{false, true} {
		srv, err := New(path, Options{ModelName: "m", Strict: strict})
		if err != nil {
			t.Fatal(err)
		}
		g := &oipGRPC{s: srv}
		m := srv.oipModel()
		for _, c := range []struct {
			name  string
			edit  func(rows []map[string]string)
			extra string // an input that is no feature field
		}{
			{"bad number", func(r []map[string]string) { r[7]["price"] = "cheap" }, ""},
			{"first row wins, NUL", func(r []map[string]string) { r[9]["price"] = "cheap"; r[4]["user_id"] = "4\x00668" }, ""},
			{"first field wins", func(r []map[string]string) { r[3]["noise_num"] = "1e16"; r[3]["price"] = "NaN" }, ""},
			{"beyond the input bound", func(r []map[string]string) { r[5]["price"] = "1e14" }, ""},
			{"unknown input", func(r []map[string]string) { r[5]["price"] = "x"; r[0]["zz"] = "1" }, "zz"},
			{"a label as input", func(r []map[string]string) { r[0]["click"] = "1" }, "click"},
		} {
			rows := modelRows(t, tr, "../model/testdata/v0-funnel-rows.csv")
			for _, r := range rows {
				for k := range r {
					if _, ok := m.index[k]; !ok {
						delete(r, k) // the labels
					}
				}
			}
			c.edit(rows)
			names := fieldNames(m)
			if c.extra != "" {
				names = append(names, c.extra)
				for _, r := range rows {
					if _, ok := r[c.extra]; !ok {
						r[c.extra] = "0"
					}
				}
			}
			body := mustJSON(t, map[string]any{"rows": rows})
			rec := newRecorder()
			req, _ := http.NewRequest("POST", "/v1/predict", bytes.NewReader(body))
			srv.Handler().ServeHTTP(rec, req)
			var pe struct {
				Error struct {
					Message string `json:"message"`
				} `json:"error"`
			}
			json.Unmarshal(rec.body.Bytes(), &pe)
			var ts []tensorOf
			for _, name := range names {
				vals := make([]string, len(rows))
				for i, r := range rows {
					vals[i] = r[name]
				}
				tc, _ := encodeColumn(name, "BYTES", vals)
				ts = append(ts, tc)
			}
			_, err := g.ModelInfer(context.Background(), inferRequest("m", ts, true))
			if rec.code == 200 {
				if err != nil {
					t.Errorf("strict %v, %s: /v1/predict took the rows, ModelInfer: %v", strict, c.name, err)
				}
				continue
			}
			want := pe.Error.Message
			if strings.Contains(c.name, "NUL") {
				// The /v1/predict decoder refuses a NUL byte in a JSON
				// string itself; the pipeline's words are the map path's.
				b := tr.Pipeline.NewBatch(len(rows))
				for i, r := range rows {
					m := map[string]any{}
					for k, v := range r {
						m[k] = v
					}
					if err := tr.Pipeline.TransformMapWith(m, nil, b); err != nil {
						want = fieldError(err, "rows", i).Message
						break
					}
				}
			}
			if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != want {
				t.Errorf("strict %v, %s: ModelInfer %v, /v1/predict %d %q", strict, c.name, err, rec.code, pe.Error.Message)
			}
			if !strings.HasPrefix(pe.Error.Message, "rows[") {
				t.Errorf("strict %v, %s: %q does not name the row", strict, c.name, pe.Error.Message)
			}
		}
	}
}

// TestOIPNumericTensorErrors: numbers that only a typed tensor can carry
// (NaN, beyond 1e15) are refused naming row and field, as the map path
// refuses the same float64 values.
func TestOIPNumericTensorErrors(t *testing.T) {
	const path = "../model/testdata/v0-funnel.dcrnn"
	tr, err := model.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(path, Options{ModelName: "m"})
	if err != nil {
		t.Fatal(err)
	}
	g := &oipGRPC{s: srv}
	m := srv.oipModel()
	rows := modelRows(t, tr, "../model/testdata/v0-funnel-rows.csv")
	for _, bad := range []float64{math.NaN(), 1e16, math.Inf(-1)} {
		var ts []tensorOf
		maps := make([]map[string]any, len(rows))
		for i := range maps {
			maps[i] = map[string]any{}
		}
		for _, f := range m.fields {
			vals := make([]string, len(rows))
			for i, r := range rows {
				vals[i] = r[f.name]
			}
			dt := "BYTES"
			if f.kind == oipNumeric {
				dt = "FP64"
			}
			tc, _ := encodeColumn(f.name, dt, vals)
			if f.name == "price" {
				tc.in.Contents.Fp64Contents[6] = bad
				tc.maps[6] = bad
			}
			for i := range maps {
				maps[i][f.name] = tc.maps[i]
			}
			ts = append(ts, tc)
		}
		_, err := g.ModelInfer(context.Background(), inferRequest("m", ts, false))
		b := tr.Pipeline.NewBatch(len(rows))
		var want *RequestError
		for i, r := range maps {
			if err := tr.Pipeline.TransformMapWith(r, nil, b); err != nil {
				want = fieldError(err, "rows", i)
				break
			}
		}
		if want == nil || !strings.HasPrefix(want.Message, "rows[6].price: ") {
			t.Fatalf("the map path: %v", want)
		}
		if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != want.Message {
			t.Errorf("price %v: %v, want %q", bad, err, want.Message)
		}
	}
}
