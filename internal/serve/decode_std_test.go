package serve

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
)

// decodeRequestStd is the predict request decoded with encoding/json (the
// least it takes to give the pipeline the same values: json.Number for
// integers, float64 for other numbers, NUL refused, rows counted), for
// BenchmarkPredictCensus100Decoder: the hand-written decoder is kept only
// while it wins by a margin worth its size.
func decodeRequestStd(body []byte, r *request, maxRows int) error {
	var std struct {
		Rows    []map[string]any `json:"rows"`
		Items   []map[string]any `json:"items"`
		Context map[string]any   `json:"context"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&std); err != nil {
		return reqErr(http.StatusBadRequest, CodeMalformedJSON, "", -1, "malformed JSON: %v", err)
	}
	rows := std.Rows
	r.hasItems = std.Items != nil
	if r.hasItems {
		rows = std.Items
	}
	if len(rows) == 0 {
		return reqErr(http.StatusBadRequest, CodeEmpty, "rows", -1, "nothing to score")
	}
	if len(rows) > maxRows {
		return reqErr(http.StatusRequestEntityTooLarge, CodeTooManyRows, "rows", -1, "too many rows")
	}
	for _, m := range rows {
		if err := stdValues(m); err != nil {
			return err
		}
	}
	if err := stdValues(std.Context); err != nil {
		return err
	}
	r.rows, r.n, r.context = rows, len(rows), std.Context
	return nil
}

func stdValues(m map[string]any) error {
	for k, v := range m {
		switch v := v.(type) {
		case json.Number:
			if strings.ContainsAny(string(v), ".eE") {
				f, err := v.Float64()
				if err != nil {
					return reqErr(http.StatusBadRequest, CodeWrongType, k, -1, "number %s is out of range", v)
				}
				m[k] = f
			}
		case string:
			if strings.IndexByte(v, 0) >= 0 {
				return reqErr(http.StatusBadRequest, CodeWrongType, k, -1, "NUL byte")
			}
		case []any:
			for i, e := range v {
				if n, ok := e.(json.Number); ok && strings.ContainsAny(string(n), ".eE") {
					f, _ := n.Float64()
					v[i] = f
				}
			}
		}
	}
	return nil
}
