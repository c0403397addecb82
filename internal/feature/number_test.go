package feature

import (
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"strconv"
	"testing"
)

func TestScanDecimal(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"0", true}, {"42", true}, {"-7", true}, {"+3", true}, {".5", true}, {"5.", true}, {"-.5", true}, {"+5.", true},
		{"1.25", true}, {"1e5", true}, {"1E5", true}, {"1e-5", true}, {"1e+5", true}, {"2.5E-3", true}, {".5e1", true},
		{"5.e1", true}, {"007", true}, {"1e400", true}, {"1e30", true}, {"-1e308", true}, {"00.00e00", true},
		{"", false}, {"-", false}, {"+", false}, {".", false}, {"-.", false}, {"e5", false}, {".e5", false}, {"1e", false},
		{"1e+", false}, {"1e-", false}, {"1e5.5", false}, {"1_000", false}, {"1,000", false}, {"0x1p4", false},
		{"0x10", false}, {"0b1", false}, {"0o7", false}, {"Inf", false}, {"+Inf", false}, {"-inf", false},
		{"infinity", false}, {"Infinity", false}, {"NaN", false}, {"nan", false}, {" 1", false}, {"1 ", false},
		{"--1", false}, {"+-1", false}, {"1..2", false}, {"1.2.3", false}, {"1e5e5", false}, {"1\x00", false},
		{"１", false}, {"1d5", false}, {"1f", false},
	} {
		if got, _, _ := scanDecimal([]byte(tc.in)); got != tc.ok {
			t.Errorf("scanDecimal(%q) = %v, want %v", tc.in, got, tc.ok)
		}
	}
}

func TestParseNumber(t *testing.T) {
	for _, tc := range []struct {
		in string
		x  float64
		st numStatus
	}{
		{"1e15", 1e15, numOK}, {"-1e15", -1e15, numOK}, {"+3", 3, numOK}, {".5", 0.5, numOK}, {"5.", 5, numOK},
		{"1e-5", 1e-5, numOK}, {"-0", 0, numOK}, {"1e-400", 0, numOK}, {"38", 38, numOK}, {"-1200", -1200, numOK},
		{"999999999999999", 999999999999999, numOK}, {"1000000000000000", 1e15, numOK}, {"-000000000000000000007", -7, numOK},
		{"1000000000000001", 0, numRange}, {"99999999999999999999", 0, numRange},
		{"1e400", 0, numRange}, {"-1e400", 0, numRange}, {"1e30", 0, numRange}, {"-1e308", 0, numRange},
		{"1e308", 0, numRange}, {"1000000000000000.5", 0, numRange},
		{"1_000", 0, numSyntax}, {"0x1p4", 0, numSyntax}, {"Inf", 0, numSyntax}, {"infinity", 0, numSyntax},
		{"", 0, numSyntax}, {"-", 0, numSyntax}, {"e5", 0, numSyntax},
		{"NaN", 0, numMissing}, // a missing value when declared as one
		{"NA", 0, numMissing},
	} {
		x, st := parseNumber([]byte(tc.in), []string{"NaN", "NA"})
		if st != tc.st || (st == numOK && x != tc.x) {
			t.Errorf("parseNumber(%q) = %v, %d; want %v, %d", tc.in, x, st, tc.x, tc.st)
		}
	}
	// Without it in the missing values, NaN is no number at all.
	if _, st := parseNumber([]byte("NaN"), nil); st != numSyntax {
		t.Errorf("parseNumber(NaN) without missing values: status %d, want numSyntax", st)
	}
}

// TestBoundTexts: the bounds as messages spell them are the constants.
func TestBoundTexts(t *testing.T) {
	if v, _ := strconv.ParseFloat(maxAbsRawText, 64); v != MaxAbsRaw {
		t.Errorf("maxAbsRawText %q != MaxAbsRaw %g", maxAbsRawText, float64(MaxAbsRaw))
	}
	if v, _ := strconv.ParseFloat(maxAbsInputText, 64); v != MaxAbsInput {
		t.Errorf("maxAbsInputText %q != MaxAbsInput %g", maxAbsInputText, float64(MaxAbsInput))
	}
	if MaxAbsInput >= math.MaxFloat32 {
		t.Errorf("MaxAbsInput must keep inputs finite in float32")
	}
}

// decimalRE is the syntax of scanDecimal as a regular expression.
var decimalRE = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// FuzzParseNumber checks the scanner against a regular expression of the
// same syntax, and the values it accepts against strconv.ParseFloat: every
// accepted string parses (or overflows), and parseNumber returns ParseFloat's
// value exactly when it is within ±MaxAbsRaw.
func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"1", "-1.5e3", ".5", "5.", "+3", "1e400", "1e-400", "1_000", "0x1p4", "Inf", "NaN", "", "-", "e5", "1e15", "1000000000000000.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ok, isInt, n := scanDecimal([]byte(s))
		if ok != decimalRE.MatchString(s) {
			t.Fatalf("scanDecimal(%q) = %v, the regular expression says %v", s, ok, !ok)
		}
		x, st := parseNumber([]byte(s), nil)
		want, err := strconv.ParseFloat(s, 64)
		if !ok {
			if st != numSyntax {
				t.Fatalf("parseNumber(%q): status %d for a string the scanner refuses", s, st)
			}
			return
		}
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			t.Fatalf("the scanner accepts %q but ParseFloat says %v", s, err)
		}
		inRange := err == nil && math.Abs(want) <= MaxAbsRaw
		if inRange != (st == numOK) || (inRange && math.Float64bits(x) != math.Float64bits(want)) {
			t.Fatalf("parseNumber(%q) = %v, %d; ParseFloat %v, %v", s, x, st, want, err)
		}
		if isInt && math.Float64bits(n) != math.Float64bits(want) {
			t.Fatalf("scanDecimal(%q): integer %v, ParseFloat %v", s, n, want)
		}
		// A decimal string is a JSON number when JSON allows its form; then
		// encoding/json must read the same value.
		var j float64
		if json.Unmarshal([]byte(s), &j) == nil && inRange && j != x {
			t.Fatalf("%q: JSON %v, parseNumber %v", s, j, x)
		}
	})
}

// TestTransformAllocs: the checks added to the transforms allocate nothing
// on the row path (file rows and JSON maps, numbers and categorical values).
func TestTransformAllocs(t *testing.T) {
	p := fitTest(t, testSchema, testColumns, testRows)
	b := p.NewBatch(len(testRows) * 1100)
	recs := make([][][]byte, len(testRows))
	for i, r := range testRows {
		recs[i] = bytesRec(r)
	}
	if a := testing.AllocsPerRun(200, func() {
		for _, r := range recs {
			if err := p.TransformRow(r, b); err != nil {
				t.Fatal(err)
			}
		}
	}); a != 0 {
		t.Errorf("TransformRow: %v allocs per run, want 0", a)
	}
	b.Reset()
	m := map[string]any{"u": "a", "c": "q", "x": 5.0, "tags": []any{"t2", "t1"}, "h": "k", "age": json.Number("18"), "w": "-1", "note": "n"}
	ctx := map[string]any{"x": "3"}
	if a := testing.AllocsPerRun(200, func() {
		if err := p.TransformMapWith(m, ctx, b); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("TransformMapWith: %v allocs per run, want 0", a)
	}
}
