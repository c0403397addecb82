package serve

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecodeValues(t *testing.T) {
	body := `{"context": {"u": "x\u00e9\ud83d\ude00\n", "n": null}, "items": [
	  {"a": 1, "b": -2.5e1, "c": "plain", "d": [1, "two", null], "e": true, "f": 18446744073709551617, "g": -0, "h": "\ud800"},
	  {}]}`
	var r request
	if err := decodeRequest([]byte(body), &r, 10); err != nil {
		t.Fatal(err)
	}
	if !r.hasItems || r.n != 2 {
		t.Fatalf("hasItems %v n %d", r.hasItems, r.n)
	}
	wantCtx := map[string]any{"u": "xé😀\n", "n": nil}
	if !reflect.DeepEqual(r.context, wantCtx) {
		t.Errorf("context = %#v, want %#v", r.context, wantCtx)
	}
	want := map[string]any{"a": json.Number("1"), "b": -25.0, "c": "plain", "d": []any{json.Number("1"), "two", nil},
		"e": true, "f": json.Number("18446744073709551617"), "g": math.Copysign(0, -1), "h": "\uFFFD"}
	if got := r.Rows()[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("row 0 = %#v\nwant %#v", got, want)
	}
	if len(r.Rows()[1]) != 0 {
		t.Errorf("row 1 = %v, want empty", r.Rows()[1])
	}
	// reuse: a second decode must not see the first's rows
	if err := decodeRequest([]byte(`{"rows": [{"z": "1"}]}`), &r, 10); err != nil {
		t.Fatal(err)
	}
	if r.hasItems || r.context != nil || r.n != 1 || !reflect.DeepEqual(r.Rows()[0], map[string]any{"z": "1"}) {
		t.Errorf("after reuse: %+v", r.Rows())
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		body, code, msg string
	}{
		{`{"rows": [{}], "rows": [{}]}`, CodeBadRequest, `duplicate key "rows"`},
		{`{"bogus": 1, `, CodeMalformedJSON, "end of input"}, // syntax wins over shape
		{`{"rows": [{},{},{}], x}`, CodeMalformedJSON, "line 1, column 22"},
		{"{\n\"rows\": [{\"a\": \"\x01\"}]}", CodeMalformedJSON, "line 2"},
		{`{"rows": [{"a": "\q"}]}`, CodeMalformedJSON, `invalid escape \q`},
		{`{"rows": [{"a": 01}]}`, CodeMalformedJSON, "expected ',' or '}'"},
		{`{"rows": [{"a": 1.}]}`, CodeMalformedJSON, "digit after '.'"},
		{`{"rows": [{"a": "\u12"}]}`, CodeMalformedJSON, "4 hex digits"},
		{`{"rows": [` + strings.Repeat(`{},`, 5) + `{}]}`, CodeTooManyRows, "at most 5"},
		{`{"rows": [{"a": ` + strings.Repeat("[", 1100) + strings.Repeat("]", 1100) + `}]}`, CodeBadRequest, "nested deeper"},
		{`{"x": ` + strings.Repeat("[", 1100) + strings.Repeat("]", 1100) + `}`, CodeBadRequest, "nested deeper"},
	}
	for _, tc := range tests {
		var r request
		err := decodeRequest([]byte(tc.body), &r, 5)
		e, ok := err.(*RequestError)
		if !ok || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%.40q: got %v (%T), want %s containing %q", tc.body, err, err, tc.code, tc.msg)
		}
	}
}

// FuzzDecodeRequest checks the hand-written decoder against encoding/json:
// it never panics, accepts only well-formed JSON, calls every malformed body
// malformed, and decodes the same values (integers kept exact).
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"rows": [{"a": 1, "b": "x", "c": [1, "2"], "d": null, "e": true}]}`,
		`{"context": {"u": "\u00e9"}, "items": [{"i": 2.5e3}, {}]}`,
		`{"rows": [{"a": "\ud83d\ude00", "b": -0, "c": 1e400}]}`,
		`{"rows": []}`, `[1]`, `{`, `{"rows": [{"a": {"b": 1}}]}`, `{"x": [[[]]], "rows": [{}]}`,
		` {"items" : [ { "k" : [ ] } ] , "context" : null } `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var r request
		err := decodeRequest(body, &r, 50)
		valid := json.Valid(body)
		if err != nil {
			e, ok := err.(*RequestError)
			if !ok {
				t.Fatalf("error %T %v is not a *RequestError", err, err)
			}
			if e.Status < 400 || e.Status > 499 || e.Message == "" {
				t.Fatalf("error %+v", e)
			}
			if (e.Code == CodeMalformedJSON) == valid && !strings.Contains(e.Message, "nested deeper") {
				t.Fatalf("valid JSON %v but code %s: %v", valid, e.Code, e)
			}
			return
		}
		if !valid {
			t.Fatalf("accepted malformed JSON %q", body)
		}
		if !utf8.Valid(body) {
			return // encoding/json replaces invalid UTF-8; we keep the bytes
		}
		var std struct {
			Rows    []map[string]any `json:"rows"`
			Items   []map[string]any `json:"items"`
			Context map[string]any   `json:"context"`
		}
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.UseNumber()
		if err := dec.Decode(&std); err != nil {
			t.Fatalf("we accepted what encoding/json refuses (%v): %q", err, body)
		}
		rows := std.Rows
		if r.hasItems {
			rows = std.Items
		}
		if len(rows) != r.n {
			t.Fatalf("%d rows, encoding/json %d", r.n, len(rows))
		}
		for i, m := range rows {
			sameMap(t, r.Rows()[i], m)
		}
		if r.context != nil || std.Context != nil {
			sameMap(t, r.context, std.Context)
		}
	})
}

func sameMap(t *testing.T, got, want map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("map %v, encoding/json %v", got, want)
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Fatalf("key %q missing", k)
		}
		sameValue(t, k, g, w)
	}
}

func sameValue(t *testing.T, k string, g, w any) {
	t.Helper()
	switch w := w.(type) {
	case json.Number:
		wf, err := strconv.ParseFloat(string(w), 64)
		if err != nil {
			t.Fatalf("%q: encoding/json number %s unparsable", k, w)
		}
		switch g := g.(type) {
		case json.Number:
			if g != w {
				t.Fatalf("%q: integer %s, want %s", k, g, w)
			}
		case float64:
			if g != wf {
				t.Fatalf("%q: %v, want %v", k, g, wf)
			}
		default:
			t.Fatalf("%q: %T for a number", k, g)
		}
	case []any:
		gl, ok := g.([]any)
		if !ok || len(gl) != len(w) {
			t.Fatalf("%q: %#v, want %#v", k, g, w)
		}
		for i := range w {
			sameValue(t, k, gl[i], w[i])
		}
	default:
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("%q: %#v, want %#v", k, g, w)
		}
	}
}

// FuzzPredictHandler sends arbitrary bodies through the whole predict path
// (decode, pipeline, model) of a strict server: every answer is a 200 or a
// 4xx with a JSON error, never a 500.
func FuzzPredictHandler(f *testing.F) {
	fx := newFixture(f)
	srv, err := New(fx.pathA, Options{Strict: true, MaxRows: 20, MaxBodyBytes: 1 << 16})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		`{"rows": [{"user_id": "u1", "tags": ["a", 3], "price": "1e3", "age": 18}]}`,
		`{"context": {"user_id": 7, "age": null}, "items": [{"item_id": "i1", "tags": "a|b"}, {"price": -1e300}]}`,
		`{"rows": [{"tags": [true]}]}`, `{"rows": [{"price": "NaN"}]}`, `{"rows": [{"age": "Inf"}]}`,
	} {
		f.Add([]byte(s))
	}
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _ := http.NewRequest("POST", "/v1/predict", bytes.NewReader(body))
		rec := newRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.code == 200:
			var got predictResponse
			if err := json.Unmarshal(rec.body.Bytes(), &got); err != nil || len(got.Predictions) == 0 {
				t.Fatalf("200 with a bad body (%v): %s", err, rec.body.Bytes())
			}
		case rec.code >= 400 && rec.code < 500:
			var e errorResponse
			if err := json.Unmarshal(rec.body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%d without a JSON error (%v): %s", rec.code, err, rec.body.Bytes())
			}
		default:
			t.Fatalf("status %d for %q: %s", rec.code, body, rec.body.Bytes())
		}
	})
}
