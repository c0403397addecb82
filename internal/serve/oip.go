package serve

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"unsafe"

	"github.com/dcrnn/dcrnn/internal/feature"
)

// The Open Inference Protocol v2 (KServe, Triton, Seldon) over REST
// (oip_rest.go) and gRPC (oip_grpc.go). This file holds what both share:
// the model as tensors and the mapping of input tensors to rows.
//
// Tensor mapping. The model has one input tensor per feature field of its
// schema (ignored columns and labels are not inputs), shape [N] (or [N, 1]),
// element i being row i's value:
//   - categorical: BYTES, the value as in the training file ("Private");
//     INT32/INT64 are taken too, as their decimal form;
//   - multi_categorical: BYTES, one element per row holding the whole cell
//     as in the training file, tokens joined by the field's separator
//     (default "|"): "sports|news";
//   - numeric: FP32, FP64, INT32 or INT64; or BYTES holding the number as
//     text, where "" (or one of the field's missing values) is a missing
//     value. FP64 and INT64 values reach the pipeline exactly, FP32 values
//     are widened to float64.
// Every feature field must have its input. The outputs are one FP32 tensor
// [N] per task, named after the task, in the model's task order, then
// "ctcvr" for a funnel model. An input whose name is not a feature field is
// ignored, unless the server is strict: then it is refused when it is not a
// column of the training data, as a /v1/predict row key would be.

// oipKind is the kind of an input tensor.
type oipKind uint8

const (
	oipCategorical oipKind = iota
	oipMulti
	oipNumeric
	oipOther // not a feature field (strict mode): any datatype
)

// Datatypes of the protocol used here.
const (
	dtBytes = "BYTES"
	dtFP32  = "FP32"
	dtFP64  = "FP64"
	dtINT32 = "INT32"
	dtINT64 = "INT64"
)

// oipField is one input tensor of the model.
type oipField struct {
	name     string
	kind     oipKind
	datatype string // advertised in the metadata
}

// oipModel is the served model as the protocol sees it.
type oipModel struct {
	handle   any // the backend's model (for Server: *loaded)
	name     string
	version  string // first 12 hex digits of the checksum
	checksum string
	fields   []oipField
	index    map[string]int // input name → fields index
	outputs  []string       // task names, then "ctcvr" for a funnel
	outIndex map[string]int
}

func newOIPModel(name, checksum string, schema []feature.Field, tasks []string, funnel bool) *oipModel {
	m := &oipModel{name: name, checksum: checksum, version: oipVersion(checksum), index: map[string]int{}, outIndex: map[string]int{}}
	for _, f := range schema {
		k, ok := oipFieldKind(f.Type)
		if !ok {
			continue
		}
		dt := dtBytes
		if k == oipNumeric {
			dt = dtFP64
		}
		m.index[f.Name] = len(m.fields)
		m.fields = append(m.fields, oipField{name: f.Name, kind: k, datatype: dt})
	}
	m.outputs = append(m.outputs, tasks...)
	if funnel {
		m.outputs = append(m.outputs, "ctcvr")
	}
	for i, o := range m.outputs {
		m.outIndex[o] = i
	}
	return m
}

// oipVersion is the model version of a checksum: its first 12 hex digits
// (after any "algorithm:" prefix).
func oipVersion(checksum string) string {
	for i := 0; i < len(checksum); i++ {
		if checksum[i] == ':' {
			checksum = checksum[i+1:]
			break
		}
	}
	if len(checksum) > 12 {
		checksum = checksum[:12]
	}
	return checksum
}

// oipTensor is one input tensor as received, in whichever of the wire forms
// it came: raw little-endian bytes (gRPC raw_input_contents, the REST binary
// extension), typed contents (gRPC), or JSON values (REST).
type oipTensor struct {
	name     string
	datatype string
	shape    []int64
	raw      []byte
	hasRaw   bool
	bytes    [][]byte // gRPC contents.bytes_contents
	fp32     []float32
	fp64     []float64
	int64s   []int64
	int32s   []int32
	json     []any // REST data, flattened: string, json.Number, bool or nil
	hasJSON  bool
	elements int // set by check
}

// oipRequest is one inference request.
type oipRequest struct {
	model, version, id string
	inputs             []oipTensor
	outputs            []string // requested outputs; none: all
}

// oipResult is the answer to an oipRequest.
type oipResult struct {
	model   *oipModel
	id      string
	n       int
	names   []string
	data    [][]float32
	indexes []int // names[i] is model output indexes[i]
}

// oipError is a request refused with an HTTP status (mapped to a gRPC code
// by oip_grpc.go).
type oipError struct {
	status int
	msg    string
}

func (e *oipError) Error() string { return e.msg }

func oipErrorf(status int, format string, a ...any) *oipError {
	return &oipError{status: status, msg: fmt.Sprintf(format, a...)}
}

// oipService answers protocol requests with a backend.
type oipService struct {
	b       oipBackend
	maxRows int
	strict  bool
	scratch sync.Pool // *oipScratch
}

// oipScratch is the reused scratch of one request's columns: one
// feature.Column per feature field, and n elements per field of each form
// that a tensor may need converting into.
type oipScratch struct {
	cols   []feature.Column
	text   []string
	floats []float64
	ints   []int64
	extra  []string // strict mode: the names of inputs that are not feature fields
}

// reset makes room for n rows of fields columns.
func (sc *oipScratch) reset(n, fields int) {
	if cap(sc.cols) < fields {
		sc.cols = make([]feature.Column, fields)
	}
	sc.cols = sc.cols[:fields]
	if cap(sc.text) < n*fields {
		sc.text = make([]string, n*fields)
		sc.floats = make([]float64, n*fields)
		sc.ints = make([]int64, n*fields)
	}
	sc.text, sc.floats, sc.ints = sc.text[:n*fields], sc.floats[:n*fields], sc.ints[:n*fields]
	sc.extra = sc.extra[:0]
}

// release drops the references to the request's bytes and tensors.
func (sc *oipScratch) release() {
	clear(sc.cols)
	clear(sc.text)
	clear(sc.extra)
}

func newOIPService(b oipBackend, maxRows int, strict bool) *oipService {
	o := &oipService{b: b, maxRows: maxRows, strict: strict}
	o.scratch.New = func() any { return &oipScratch{} }
	return o
}

// model returns the served model when name and version (version "" for
// any) name it, or a 404.
func (o *oipService) model(name, version string) (*oipModel, *oipError) {
	m := o.b.oipModel()
	if m == nil {
		return nil, oipErrorf(http.StatusServiceUnavailable, "no model loaded")
	}
	if name != m.name {
		return nil, oipErrorf(http.StatusNotFound, "unknown model %q (this server serves %q)", name, m.name)
	}
	if version != "" && version != m.version {
		return nil, oipErrorf(http.StatusNotFound, "model %q has no version %q (the served version is %q)", name, version, m.version)
	}
	return m, nil
}

// infer checks and scores one request.
func (o *oipService) infer(ctx context.Context, req *oipRequest) (*oipResult, *oipError) {
	m, err := o.model(req.model, req.version)
	if err != nil {
		return nil, err
	}
	if !o.b.oipReady() {
		return nil, oipErrorf(http.StatusServiceUnavailable, "the server is shutting down")
	}
	res := &oipResult{model: m, id: req.id}
	if len(req.outputs) == 0 {
		res.names = m.outputs
		for i := range m.outputs {
			res.indexes = append(res.indexes, i)
		}
	} else {
		seen := map[string]bool{}
		for _, name := range req.outputs {
			i, ok := m.outIndex[name]
			if !ok {
				return nil, oipErrorf(http.StatusBadRequest, "unknown output %q (the model's outputs are %q)", name, m.outputs)
			}
			if seen[name] {
				return nil, oipErrorf(http.StatusBadRequest, "output %q is requested twice", name)
			}
			seen[name] = true
			res.names = append(res.names, name)
			res.indexes = append(res.indexes, i)
		}
	}
	if len(req.inputs) == 0 {
		return nil, oipErrorf(http.StatusBadRequest, "no inputs (the model takes one per feature field: %q)", fieldNames(m))
	}
	n := -1
	byField := make([]*oipTensor, len(m.fields))
	for i := range req.inputs {
		t := &req.inputs[i]
		if t.name == "" {
			return nil, oipErrorf(http.StatusBadRequest, "input %d has no name", i)
		}
		rows, err := t.check(o.maxRows)
		if err != nil {
			return nil, err
		}
		if n >= 0 && rows != n {
			return nil, oipErrorf(http.StatusBadRequest, "input %q has %d rows, input %q has %d: every input is [N] for the same N", t.name, rows, req.inputs[0].name, n)
		}
		n = rows
		if f, ok := m.index[t.name]; ok {
			if byField[f] != nil {
				return nil, oipErrorf(http.StatusBadRequest, "input %q is given twice", t.name)
			}
			byField[f] = t
		}
	}
	for f, t := range byField {
		if t == nil {
			return nil, oipErrorf(http.StatusBadRequest, "missing input %q (every feature field is an input; send an empty BYTES element for a missing value)", m.fields[f].name)
		}
	}
	// The tensors go to the pipeline as typed columns, field by field: no
	// map per row, no boxed value per cell.
	sc := o.scratch.Get().(*oipScratch)
	defer o.scratch.Put(sc)
	defer sc.release()
	sc.reset(n, len(m.fields))
	for f, t := range byField {
		lo, hi := f*n, (f+1)*n
		if err := t.column(&sc.cols[f], m.fields[f].name, m.fields[f].kind, sc.text[lo:hi], sc.floats[lo:hi], sc.ints[lo:hi]); err != nil {
			return nil, err
		}
	}
	if o.strict {
		// Unknown names go to the backend, which refuses those that are not
		// columns of the training data, as the strict check of a
		// /v1/predict row does; their values are checked like any input's.
		for i := range req.inputs {
			t := &req.inputs[i]
			if _, ok := m.index[t.name]; !ok {
				var c feature.Column
				if err := t.column(&c, t.name, oipOther, make([]string, n), make([]float64, n), make([]int64, n)); err != nil {
					return nil, err
				}
				sc.extra = append(sc.extra, t.name)
			}
		}
	}
	out := make([][]float32, len(m.outputs))
	buf := make([]float32, len(m.outputs)*n)
	for i := range out {
		out[i] = buf[i*n : (i+1)*n : (i+1)*n]
	}
	if rerr := o.b.scoreColumns(ctx, m, n, sc.cols, sc.extra, out); rerr != nil {
		return nil, &oipError{status: rerr.Status, msg: rerr.Message}
	}
	res.n = n
	for _, i := range res.indexes {
		res.data = append(res.data, out[i])
	}
	return res, nil
}

func fieldNames(m *oipModel) []string {
	names := make([]string, len(m.fields))
	for i, f := range m.fields {
		names[i] = f.name
	}
	return names
}

// elemSize is the bytes of one element of a fixed-size datatype (0 for BYTES
// and unsupported ones).
func elemSize(dt string) int {
	switch dt {
	case dtFP32, dtINT32:
		return 4
	case dtFP64, dtINT64:
		return 8
	}
	return 0
}

// check validates the shape and data size and returns the rows N.
func (t *oipTensor) check(maxRows int) (int, *oipError) {
	switch t.datatype {
	case dtBytes, dtFP32, dtFP64, dtINT32, dtINT64:
	default:
		return 0, oipErrorf(http.StatusBadRequest, "input %q: datatype %q is not supported (use BYTES, FP32, FP64, INT32 or INT64)", t.name, t.datatype)
	}
	if len(t.shape) == 0 || len(t.shape) > 2 || (len(t.shape) == 2 && t.shape[1] != 1) {
		return 0, oipErrorf(http.StatusBadRequest, "input %q: shape %v is not [N] or [N, 1]", t.name, t.shape)
	}
	n := t.shape[0]
	if n < 1 {
		return 0, oipErrorf(http.StatusBadRequest, "input %q: shape %v has no rows", t.name, t.shape)
	}
	if n > int64(maxRows) {
		return 0, oipErrorf(http.StatusRequestEntityTooLarge, "input %q: %d rows, more than %d (--max-rows)", t.name, n, maxRows)
	}
	rows := int(n)
	got := -1
	switch {
	case t.hasRaw:
		if sz := elemSize(t.datatype); sz > 0 {
			if len(t.raw) != sz*rows {
				return 0, oipErrorf(http.StatusBadRequest, "input %q: %d bytes of raw data for shape %v of %s (want %d)", t.name, len(t.raw), t.shape, t.datatype, sz*rows)
			}
			got = rows
		} else {
			c, err := countBytesElements(t.raw)
			if err != nil {
				return 0, oipErrorf(http.StatusBadRequest, "input %q: raw BYTES data: %v", t.name, err)
			}
			got = c
		}
	case t.hasJSON:
		got = len(t.json)
	default:
		switch t.datatype {
		case dtBytes:
			got = len(t.bytes)
		case dtFP32:
			got = len(t.fp32)
		case dtFP64:
			got = len(t.fp64)
		case dtINT32:
			got = len(t.int32s)
		case dtINT64:
			got = len(t.int64s)
		}
		if others := len(t.bytes) + len(t.fp32) + len(t.fp64) + len(t.int32s) + len(t.int64s); others != got {
			return 0, oipErrorf(http.StatusBadRequest, "input %q: contents of another datatype than %s", t.name, t.datatype)
		}
	}
	if got != rows {
		return 0, oipErrorf(http.StatusBadRequest, "input %q: %d elements for shape %v", t.name, got, t.shape)
	}
	t.elements = rows
	return rows, nil
}

// countBytesElements counts the elements of raw BYTES data: each is a
// 4-byte little-endian length and that many bytes.
func countBytesElements(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if len(b) < 4 {
			return 0, fmt.Errorf("%d bytes left after element %d, too few for a length", len(b), n)
		}
		l := binary.LittleEndian.Uint32(b)
		if uint64(l) > uint64(len(b)-4) {
			return 0, fmt.Errorf("element %d has length %d but only %d bytes follow", n, l, len(b)-4)
		}
		b = b[4+l:]
		n++
	}
	return n, nil
}

// view is a string sharing b's bytes: the columns live only while the
// request is scored, and the pipeline copies what it keeps (error messages).
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// column sets c to the tensor's values as the column of the input name, of
// kind kind, which decides the datatypes that fit; text, floats and ints
// are scratch of one element per row, one of which c may use. The values
// are those a /v1/predict row would hold: BYTES elements as strings (a
// numeric field parses them, "" being missing), FP32 widened to float64,
// integers as their decimal form for a categorical field (feature.Column
// renders Ints so) and by value for a numeric one.
func (t *oipTensor) column(c *feature.Column, name string, kind oipKind, text []string, floats []float64, ints []int64) *oipError {
	anyKind := kind == oipOther
	numericType := t.datatype == dtFP32 || t.datatype == dtFP64
	if !anyKind {
		switch {
		case kind == oipMulti && t.datatype != dtBytes:
			return oipErrorf(http.StatusBadRequest, "input %q (multi_categorical): datatype %s, want BYTES (one element per row, tokens joined by the field's separator)", name, t.datatype)
		case kind == oipCategorical && numericType:
			return oipErrorf(http.StatusBadRequest, "input %q (categorical): datatype %s, want BYTES (or INT32/INT64 ids)", name, t.datatype)
		}
	}
	// Integers of a categorical field are matched by their decimal form;
	// of a numeric field, by value.
	intAsText := kind != oipNumeric || anyKind
	*c = feature.Column{}
	switch {
	case t.hasJSON:
		// A JSON integer keeps its text for a categorical field.
		if t.datatype == dtBytes || (!numericType && intAsText) {
			c.Text = text
		} else {
			c.Floats = floats
		}
		for i, v := range t.json {
			switch x := v.(type) {
			case string:
				if t.datatype != dtBytes {
					return oipErrorf(http.StatusBadRequest, "input %q: element %d is a string in a %s tensor", name, i, t.datatype)
				}
				text[i] = x
			case json.Number:
				if t.datatype == dtBytes {
					return oipErrorf(http.StatusBadRequest, "input %q: element %d is a number in a BYTES tensor (send it as a string)", name, i)
				}
				if !numericType {
					if _, err := strconv.ParseInt(string(x), 10, 64); err != nil {
						return oipErrorf(http.StatusBadRequest, "input %q: element %d (%s) is not an integer of %s", name, i, x, t.datatype)
					}
					if intAsText {
						text[i] = string(x)
						continue
					}
				}
				f, err := strconv.ParseFloat(string(x), 64)
				if err != nil {
					return oipErrorf(http.StatusBadRequest, "input %q: element %d (%s) is not a number", name, i, x)
				}
				if t.datatype == dtFP32 {
					f = float64(float32(f))
				}
				floats[i] = f
			default:
				return oipErrorf(http.StatusBadRequest, "input %q: element %d is %s, want a %s", name, i, jsonKind(v), map[bool]string{true: "string", false: "number"}[t.datatype == dtBytes])
			}
		}
	case t.hasRaw && t.datatype == dtBytes:
		b := t.raw
		for i := range text {
			l := binary.LittleEndian.Uint32(b)
			text[i] = view(b[4 : 4+l])
			b = b[4+l:]
		}
		c.Text = text
	case t.hasRaw:
		switch t.datatype {
		case dtFP32:
			for i := range floats {
				floats[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(t.raw[4*i:])))
			}
			c.Floats = floats
		case dtFP64:
			for i := range floats {
				floats[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.raw[8*i:]))
			}
			c.Floats = floats
		case dtINT32:
			for i := range ints {
				ints[i] = int64(int32(binary.LittleEndian.Uint32(t.raw[4*i:])))
			}
			c.Ints = ints
		case dtINT64:
			for i := range ints {
				ints[i] = int64(binary.LittleEndian.Uint64(t.raw[8*i:]))
			}
			c.Ints = ints
		}
	default:
		switch t.datatype {
		case dtBytes:
			for i, b := range t.bytes {
				text[i] = view(b)
			}
			c.Text = text
		case dtFP32:
			for i, x := range t.fp32 {
				floats[i] = float64(x)
			}
			c.Floats = floats
		case dtFP64:
			c.Floats = t.fp64
		case dtINT32:
			for i, x := range t.int32s {
				ints[i] = int64(x)
			}
			c.Ints = ints
		case dtINT64:
			c.Ints = t.int64s
		}
	}
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
