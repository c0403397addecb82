package serve

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestStrictInput: numbers beyond the feature bounds, numeric strings in Go
// rather than decimal syntax, and NUL bytes in string values are 400s that
// name the field and the row; the decimal forms a file may hold still score.
func TestStrictInput(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f.pathA, Options{})
	const bound, syntax, nul = "|x| ≤ 1e15", "expected a finite number", "NUL"
	tests := []struct {
		name  string
		body  string
		field string // "" for a 200
		msg   string
	}{
		{"1e30", `{"rows": [{"price": 1e30}]}`, "rows[0].price", bound},
		{"1e308", `{"rows": [{"price": 1e308}]}`, "rows[0].price", bound},
		{"-1e308", `{"rows": [{}, {"price": -1e308}]}`, "rows[1].price", bound},
		{"1e30 bucketized", `{"rows": [{"age": 1e30}]}`, "rows[0].age", bound},
		{"-1e308 bucketized", `{"rows": [{"age": -1e308}]}`, "rows[0].age", bound},
		{"huge integer", `{"rows": [{"price": 1000000000000000000000000000000}]}`, "rows[0].price", bound},
		{"1e30 string", `{"rows": [{"price": "1e30"}]}`, "rows[0].price", bound},
		{"1e30 in the context", `{"context": {"price": 1e30}, "items": [{}]}`, "context.price", bound},
		{"1e30 in an item", `{"context": {"price": 3}, "items": [{}, {"price": 1e30}]}`, "items[1].price", bound},
		{"1_000", `{"rows": [{"price": "1_000"}]}`, "rows[0].price", syntax},
		{"0x1p4", `{"rows": [{"price": "0x1p4"}]}`, "rows[0].price", syntax},
		{"0x1p4 bucketized", `{"rows": [{"age": "0x1p4"}]}`, "rows[0].age", syntax},
		{"Inf", `{"rows": [{"price": "Inf"}]}`, "rows[0].price", syntax},
		{"infinity", `{"rows": [{"age": "-infinity"}]}`, "rows[0].age", syntax},
		{"NUL categorical", `{"rows": [{"user_id": "u1\u0000x"}]}`, "rows[0].user_id", nul},
		{"NUL only", `{"rows": [{}, {}, {"item_id": "\u0000"}]}`, "rows[2].item_id", nul},
		{"NUL multi string", `{"rows": [{"tags": "a|\u0000"}]}`, "rows[0].tags", nul},
		{"NUL multi list", `{"rows": [{"tags": ["a", "b\u0000"]}]}`, "rows[0].tags", nul},
		{"NUL numeric string", `{"rows": [{"price": "1\u0000"}]}`, "rows[0].price", nul},
		{"NUL in the context", `{"context": {"user_id": "\u0000"}, "items": [{}]}`, "context.user_id", nul},
		{"NUL in an item", `{"context": {"user_id": "u1"}, "items": [{}, {"item_id": "i\u0000"}]}`, "items[1].item_id", nul},
		{"NUL ignored field", `{"rows": [{"note": "\u0000"}]}`, "rows[0].note", nul},
		{"NUL label", `{"rows": [{"clicked": "1\u0000"}]}`, "rows[0].clicked", nul},
		{"NUL unknown key", `{"rows": [{"bogus": "\u0000"}]}`, "rows[0].bogus", nul},
		{"decimal forms", `{"rows": [{"price": "+3"}, {"price": ".5"}, {"price": "5."}, {"price": "1e-5"}, {"price": "NaN"}, {"age": 1e15}, {"price": -1e15}]}`, "", ""},
		{"escaped non-NUL", `{"rows": [{"user_id": "u\u0031", "tags": ["\u0061"]}]}`, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, ts.url+"/v1/predict", []byte(tc.body))
			if tc.field == "" {
				if code != 200 {
					t.Fatalf("status %d, want 200: %s", code, body)
				}
				return
			}
			if code != 400 {
				t.Fatalf("status %d, want 400: %s", code, body)
			}
			var e errorResponse
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body is not JSON: %v: %s", err, body)
			}
			if e.Error.Code != CodeWrongType || e.Error.Field != tc.field || !strings.Contains(e.Error.Message, tc.field) || !strings.Contains(e.Error.Message, tc.msg) {
				t.Errorf("error = %+v, want code %s, field %q and a message naming it and containing %q", e.Error, CodeWrongType, tc.field, tc.msg)
			}
			if want := rowOf(tc.field); (e.Error.Row == nil) != (want < 0) || (e.Error.Row != nil && *e.Error.Row != want) {
				t.Errorf("row = %v, want %d", e.Error.Row, want)
			}
		})
	}
}

// rowOf returns the row index in a field path ("rows[2].x" → 2), -1 for
// "context.x".
func rowOf(path string) int {
	i, j := strings.IndexByte(path, '['), strings.IndexByte(path, ']')
	if i < 0 || j < i {
		return -1
	}
	n := 0
	for _, c := range path[i+1 : j] {
		n = 10*n + int(c-'0')
	}
	return n
}
