package main

import (
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/dcrnn/dcrnn/internal/atomicfile"
	"github.com/dcrnn/dcrnn/internal/feature"
)

// inputsWriter writes the transformed inputs of every scored row as JSON
// lines (dcrnn predict --inputs-out), so that an independent implementation
// of a model's forward pass (bench/dcrnn_check.py) can be fed exactly what
// the Go model saw without re-implementing the feature pipeline. Each line is
//
//	{"f": [v_0, v_1, ...]}
//
// with one entry per model field in pipeline order: the id (an integer) of a
// categorical field, the list of ids of a multi-categorical field (possibly
// empty), or the value of a numeric field after its transform and
// normalization, written so that parsing it as a float64 gives the float32
// exactly (a non-finite value is written as the string "NaN", "+Inf" or
// "-Inf", since JSON has no such numbers). The file is one of the predict
// command's atomicfile.Group, committed together with the predictions, so a
// failed run leaves no partial file.
type inputsWriter struct {
	w      io.Writer
	fields []feature.FieldSpec
	line   []byte
}

func newInputsWriter(files *atomicfile.Group, path string, fields []feature.FieldSpec) (*inputsWriter, error) {
	f, err := files.Create(path)
	if err != nil {
		return nil, fmt.Errorf("predict: --inputs-out: %w", err)
	}
	return &inputsWriter{w: f, fields: fields}, nil
}

// write appends one line per row of b.
func (iw *inputsWriter) write(b *feature.Batch) error {
	if len(b.Fields) != len(iw.fields) {
		return fmt.Errorf("predict: --inputs-out: batch has %d fields, the model %d", len(b.Fields), len(iw.fields))
	}
	for i := 0; i < b.N; i++ {
		l := append(iw.line[:0], `{"f":[`...)
		for f, fs := range iw.fields {
			if f > 0 {
				l = append(l, ',')
			}
			fd := &b.Fields[f]
			switch fs.Kind {
			case feature.Categorical:
				l = strconv.AppendInt(l, int64(fd.IDs[i]), 10)
			case feature.MultiCategorical:
				l = append(l, '[')
				for k, id := range fd.IDs[fd.Offsets[i]:fd.Offsets[i+1]] {
					if k > 0 {
						l = append(l, ',')
					}
					l = strconv.AppendInt(l, int64(id), 10)
				}
				l = append(l, ']')
			case feature.Numeric:
				v := float64(fd.Values[i])
				switch {
				case math.IsNaN(v):
					l = append(l, `"NaN"`...)
				case math.IsInf(v, 1):
					l = append(l, `"+Inf"`...)
				case math.IsInf(v, -1):
					l = append(l, `"-Inf"`...)
				default:
					// float64 formatting of the float32 value is exact.
					l = strconv.AppendFloat(l, v, 'g', -1, 64)
				}
			default:
				return fmt.Errorf("predict: --inputs-out: field %q: unknown kind %d", fs.Name, fs.Kind)
			}
		}
		l = append(l, "]}\n"...)
		iw.line = l
		if _, err := iw.w.Write(l); err != nil {
			return fmt.Errorf("predict: --inputs-out: %w", err)
		}
	}
	return nil
}
