package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// Bounds of the REST infer request's JSON, so that what a body decodes to
// stays within a small multiple of the body: a list never grows past its
// bound, and unknown keys and parameters are skipped, not kept.
const (
	maxRESTInputs  = 4096 // inputs of one request
	maxRESTOutputs = 64   // requested outputs
	maxShapeDims   = 8
)

// restInput is one input of a REST infer request.
type restInput struct {
	name, datatype string
	shape          []int64
	binarySize     int64 // -1: none
	data           []any // string, json.Number, bool or nil; nil when absent
	hasData        bool
}

// restRequest is a decoded REST infer request.
type restRequest struct {
	id           string
	binaryOutput *bool // parameters.binary_data_output
	inputs       []restInput
	outputs      []string
	outputBinary []*bool // per output: parameters.binary_data
}

// restDecoder reads a REST infer request with encoding/json's token stream.
type restDecoder struct {
	dec     *json.Decoder
	maxRows int
}

// decodeRESTRequest decodes the JSON of an infer request; an input's data
// may hold at most maxRows values.
func decodeRESTRequest(js []byte, maxRows int) (*restRequest, *oipError) {
	d := &restDecoder{dec: json.NewDecoder(bytes.NewReader(js)), maxRows: maxRows}
	d.dec.UseNumber()
	var r restRequest
	err := d.object(func(key string) error {
		switch key {
		case "id":
			return d.dec.Decode(&r.id)
		case "parameters":
			return d.object(func(k string) error {
				if k == "binary_data_output" {
					return d.boolValue(&r.binaryOutput, "parameters.binary_data_output")
				}
				return d.skip()
			})
		case "inputs":
			return d.list(maxRESTInputs, "inputs", func(i int) error {
				in, err := d.input(i)
				r.inputs = append(r.inputs, in)
				return err
			})
		case "outputs":
			return d.list(maxRESTOutputs, "outputs", func(i int) error {
				var name string
				var bin *bool
				err := d.object(func(k string) error {
					switch k {
					case "name":
						return d.dec.Decode(&name)
					case "parameters":
						return d.object(func(p string) error {
							if p == "binary_data" {
								return d.boolValue(&bin, fmt.Sprintf("outputs[%d].parameters.binary_data", i))
							}
							return d.skip()
						})
					}
					return d.skip()
				})
				r.outputs = append(r.outputs, name)
				r.outputBinary = append(r.outputBinary, bin)
				return err
			})
		}
		return d.skip()
	})
	if err == nil {
		if _, terr := d.dec.Token(); terr != io.EOF {
			err = fmt.Errorf("data after the JSON object (binary data needs the %s header)", inferHeaderLength)
		}
	}
	if err != nil {
		var oe *oipError
		if errors.As(err, &oe) {
			return nil, oe
		}
		return nil, oipErrorf(http.StatusBadRequest, "the request is not an inference request object: %v", err)
	}
	return &r, nil
}

func (d *restDecoder) input(i int) (restInput, error) {
	in := restInput{binarySize: -1}
	err := d.object(func(k string) error {
		switch k {
		case "name":
			return d.dec.Decode(&in.name)
		case "datatype":
			return d.dec.Decode(&in.datatype)
		case "shape":
			return d.list(maxShapeDims, fmt.Sprintf("inputs[%d].shape", i), func(int) error {
				var dim int64
				if err := d.dec.Decode(&dim); err != nil {
					return fmt.Errorf("inputs[%d].shape: %v", i, err)
				}
				in.shape = append(in.shape, dim)
				return nil
			})
		case "parameters":
			return d.object(func(p string) error {
				if p != "binary_data_size" {
					return d.skip()
				}
				var n json.Number
				if err := d.dec.Decode(&n); err != nil {
					return fmt.Errorf("inputs[%d].parameters.binary_data_size: %v", i, err)
				}
				size, err := n.Int64()
				if err != nil || size < 0 {
					return fmt.Errorf("inputs[%d].parameters.binary_data_size: %s is not a length", i, n)
				}
				in.binarySize = size
				return nil
			})
		case "data":
			in.hasData = true
			return d.data(&in, fmt.Sprintf("inputs[%d].data", i))
		}
		return d.skip()
	})
	return in, err
}

// data appends the values of a data list (nested at most two deep) to
// in.data, at most maxRows of them; what names the list in errors.
func (d *restDecoder) data(in *restInput, what string) error {
	t, err := d.dec.Token()
	if err != nil {
		return err
	}
	if t == nil {
		in.hasData = false
		return nil
	}
	notList := fmt.Errorf("%s is not a list of values (nested at most two deep)", what)
	if t != json.Delim('[') {
		return notList
	}
	for d.dec.More() {
		if len(in.data) == d.maxRows {
			return oipErrorf(http.StatusRequestEntityTooLarge, "%s: more than %d values (--max-rows)", what, d.maxRows)
		}
		t, err := d.dec.Token()
		if err != nil {
			return err
		}
		switch v := t.(type) {
		case json.Delim:
			if v != '[' {
				return notList
			}
			for d.dec.More() {
				if len(in.data) == d.maxRows {
					return oipErrorf(http.StatusRequestEntityTooLarge, "%s: more than %d values (--max-rows)", what, d.maxRows)
				}
				e, err := d.dec.Token()
				if err != nil {
					return err
				}
				if _, isDelim := e.(json.Delim); isDelim {
					return notList
				}
				in.data = append(in.data, e)
			}
			if _, err := d.dec.Token(); err != nil { // ']'
				return err
			}
		default:
			in.data = append(in.data, v)
		}
	}
	_, err = d.dec.Token() // ']'
	return err
}

// object reads an object, calling fn for each key; fn must read the value.
func (d *restDecoder) object(fn func(key string) error) error {
	t, err := d.dec.Token()
	if err != nil {
		return err
	}
	if t != json.Delim('{') {
		return fmt.Errorf("expected an object, got %v", t)
	}
	for d.dec.More() {
		t, err := d.dec.Token()
		if err != nil {
			return err
		}
		if err := fn(t.(string)); err != nil {
			return err
		}
	}
	_, err = d.dec.Token() // '}'
	return err
}

// list reads a list of at most max elements, calling fn for each; fn must
// read the element.
func (d *restDecoder) list(max int, what string, fn func(i int) error) error {
	t, err := d.dec.Token()
	if err != nil {
		return err
	}
	if t != json.Delim('[') {
		return fmt.Errorf("%s: expected a list, got %v", what, t)
	}
	for i := 0; d.dec.More(); i++ {
		if i == max {
			return fmt.Errorf("%s: more than %d elements", what, max)
		}
		if err := fn(i); err != nil {
			return err
		}
	}
	_, err = d.dec.Token() // ']'
	return err
}

func (d *restDecoder) boolValue(dst **bool, what string) error {
	t, err := d.dec.Token()
	if err != nil {
		return err
	}
	b, ok := t.(bool)
	if !ok {
		return fmt.Errorf("%s: %v is not a boolean", what, t)
	}
	*dst = &b
	return nil
}

// skip reads and drops one value, keeping nothing of it.
func (d *restDecoder) skip() error {
	depth := 0
	for {
		t, err := d.dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// parseRESTInfer decodes an infer body (JSON, then the binary data of the
// inputs that give binary_data_size when headerLen is set).
func parseRESTInfer(body []byte, headerLen string, maxRows int) (*oipRequest, *binaryOutputs, *oipError) {
	js, rest := body, []byte(nil)
	if headerLen != "" {
		l, err := strconv.Atoi(headerLen)
		if err != nil || l < 0 || l > len(body) {
			return nil, nil, oipErrorf(http.StatusBadRequest, "%s: %q is not a length within the %d-byte body", inferHeaderLength, headerLen, len(body))
		}
		js, rest = body[:l], body[l:]
	}
	rr, oerr := decodeRESTRequest(js, maxRows)
	if oerr != nil {
		return nil, nil, oerr
	}
	req := &oipRequest{id: rr.id}
	for i, in := range rr.inputs {
		t := oipTensor{name: in.name, datatype: in.datatype, shape: in.shape}
		switch {
		case in.binarySize >= 0:
			if in.hasData {
				return nil, nil, oipErrorf(http.StatusBadRequest, "input %q has both data and binary_data_size", in.name)
			}
			if in.binarySize > int64(len(rest)) {
				return nil, nil, oipErrorf(http.StatusBadRequest, "input %q: binary_data_size %d is beyond the %d bytes of binary data left", in.name, in.binarySize, len(rest))
			}
			t.raw, t.hasRaw = rest[:in.binarySize], true
			rest = rest[in.binarySize:]
		case in.hasData:
			t.json, t.hasJSON = in.data, true
		default:
			return nil, nil, oipErrorf(http.StatusBadRequest, "input %q (%d) has no data", in.name, i)
		}
		req.inputs = append(req.inputs, t)
	}
	if len(rest) > 0 {
		return nil, nil, oipErrorf(http.StatusBadRequest, "%d bytes of binary data are not claimed by any input's binary_data_size", len(rest))
	}
	bo := &binaryOutputs{}
	if rr.binaryOutput != nil {
		bo.all = *rr.binaryOutput
	}
	if len(rr.outputs) > 0 {
		for i, name := range rr.outputs {
			req.outputs = append(req.outputs, name)
			bin := bo.all
			if b := rr.outputBinary[i]; b != nil {
				bin = *b
			}
			bo.each = append(bo.each, bin)
		}
	}
	return req, bo, nil
}
