package feature

import (
	"errors"
	"strings"
	"testing"
)

const minimalSchema = `
format: {type: csv, header: true}
fields:
  - {name: u, type: categorical}
tasks:
  - {name: click, label: click}
`

func TestParseSchemaErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error
		sentinel   error
	}{
		{"unknown top key", minimalSchema + "bogus: 1\n", []string{`unknown key "bogus"`, "line 7", "top level"}, ErrSchema},
		{"unknown field key", strings.Replace(minimalSchema, "type: categorical}", "type: categorical, hash_bucket: 4}", 1), []string{`unknown key "hash_bucket"`, "a field"}, ErrSchema},
		{"unknown format key", strings.Replace(minimalSchema, "header: true}", "header: true, sep: x}", 1), []string{`unknown key "sep"`, "format"}, ErrSchema},
		{"bad type", strings.Replace(minimalSchema, "categorical}", "categoric}", 1), []string{`fields[0] "u"`, "type", "categoric"}, ErrSchema},
		{"bad format type", strings.Replace(minimalSchema, "type: csv", "type: xls", 1), []string{"format.type", "xls"}, ErrSchema},
		{"headerless without columns", strings.Replace(minimalSchema, "header: true", "header: false", 1), []string{"format.columns"}, ErrSchema},
		{"no tasks", "format: {header: true}\nfields: [{name: u, type: categorical}]\n", []string{"tasks"}, ErrSchema},
		{"after unknown", minimalSchema + "  - {name: buy, label: buy, after: view}\n", []string{`tasks[1] "buy"`, "after", "view"}, ErrSchema},
		{"label is a feature", minimalSchema + "  - {name: t2, label: u}\n", []string{`label column "u"`, "allow_leakage"}, ErrLeakage},
		{"transform on categorical", strings.Replace(minimalSchema, "categorical}", "categorical, transform: log1p}", 1), []string{"only for numeric"}, ErrSchema},
		{"bad transform", strings.Replace(minimalSchema, "type: categorical}", "type: numeric, transform: sqrt}", 1), []string{"transform", "sqrt"}, ErrSchema},
		{"bad missing", strings.Replace(minimalSchema, "type: categorical}", "type: numeric, missing: median}", 1), []string{"missing", "median"}, ErrSchema},
		{"buckets not increasing", strings.Replace(minimalSchema, "type: categorical}", "type: numeric, buckets: [3, 1]}", 1), []string{"buckets[1]"}, ErrSchema},
		{"duplicate field", strings.Replace(minimalSchema, "  - {name: u, type: categorical}\n", "  - {name: u, type: categorical}\n  - {name: u, type: numeric}\n", 1), []string{"duplicate field"}, ErrSchema},
		{"bad funnel policy", minimalSchema + "funnel_violations: keep\n", []string{"funnel_violations", "keep"}, ErrSchema},
		{"wrong value type", strings.Replace(minimalSchema, "header: true", "header: maybe", 1), []string{"line 2"}, ErrSchema},
		{"min_count zero", strings.Replace(minimalSchema, "categorical}", "categorical, min_count: 0}", 1), []string{"min_count"}, ErrSchema},
		{"hashed min_count zero", strings.Replace(minimalSchema, "categorical}", "categorical, hash_buckets: 8, min_count: 0}", 1), []string{"min_count"}, ErrSchema},
		{"hash_buckets on numeric", strings.Replace(minimalSchema, "type: categorical}", "type: numeric, hash_buckets: 8}", 1), []string{"hash_buckets", "only for categorical"}, ErrSchema},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSchema([]byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("error %v is not %v", err, tc.sentinel)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestHashedSchemaKeys checks that min_count goes with hash_buckets
// (categorical and multi_categorical) and that hash_buckets reaches a
// multi_categorical field.
func TestHashedSchemaKeys(t *testing.T) {
	for _, f := range []string{"categorical, hash_buckets: 8, min_count: 1}", "categorical, hash_buckets: 8, min_count: 50}", "multi_categorical, hash_buckets: 8}", "multi_categorical, hash_buckets: 8, min_count: 3}"} {
		s, err := ParseSchema([]byte(strings.Replace(minimalSchema, "categorical}", f, 1)))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if s.Fields[0].HashBuckets != 8 {
			t.Errorf("%s: hash_buckets %d", f, s.Fields[0].HashBuckets)
		}
	}
}

func TestParseSchemaDefaults(t *testing.T) {
	s, err := ParseSchema([]byte(minimalSchema + "  - {name: buy, label: b, after: click}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Format.Separator != "," || s.Format.QuoteChar() != '"' {
		t.Errorf("format defaults: sep %q quote %q", s.Format.Separator, s.Format.QuoteChar())
	}
	if got := s.Tasks[0].Positive; len(got) != 1 || got[0] != "1" {
		t.Errorf("default positive = %q, want [1]", got)
	}
	if s.FunnelViolations != "error" || s.UnlistedColumns != "error" {
		t.Errorf("policies: %q %q", s.FunnelViolations, s.UnlistedColumns)
	}
	s2, err := ParseSchema([]byte(strings.Replace(minimalSchema, "type: csv, header: true", "type: tsv, header: true, quote: ''", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if s2.Format.Separator != "\t" || s2.Format.QuoteChar() != 0 {
		t.Errorf("tsv defaults: sep %q quote %q", s2.Format.Separator, s2.Format.QuoteChar())
	}
	if _, err := ParseSchema([]byte(minimalSchema + "  - {name: t2, label: u}\nallow_leakage: true\n")); err != nil {
		t.Errorf("allow_leakage: %v", err)
	}
}

func TestBindColumns(t *testing.T) {
	s, err := ParseSchema([]byte(minimalSchema))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewFitter(s, []string{"u", "click", "extra"}); err == nil || !strings.Contains(err.Error(), "extra") {
		t.Errorf("unlisted column: got %v, want an error naming it", err)
	}
	if _, err := NewFitter(s, []string{"click"}); err == nil || !strings.Contains(err.Error(), `"u"`) {
		t.Errorf("missing feature column: got %v", err)
	}
	s.UnlistedColumns = "ignore"
	if _, err := NewFitter(s, []string{"u", "click", "extra"}); err != nil {
		t.Errorf("unlisted_columns: ignore: %v", err)
	}
}

func FuzzParseSchema(f *testing.F) {
	f.Add([]byte(minimalSchema))
	f.Add([]byte("format: {type: tsv, separator: ', ', columns: [a, b]}\nfields: [{name: a, type: numeric, buckets: [1, 2]}]\ntasks: [{name: t, label: b, positive: [x], negative: [y]}]\n"))
	f.Add([]byte("fields: [{name: a, type: multi_categorical, separator: ';'}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSchema(b)
		if err != nil {
			return
		}
		// A valid schema validates again unchanged.
		if err := s.Validate(); err != nil {
			t.Fatalf("revalidate: %v", err)
		}
	})
}
