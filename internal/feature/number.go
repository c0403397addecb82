package feature

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
)

// MaxAbsRaw is the largest magnitude a raw numeric value (a numeric cell, a
// numeric string or a JSON number) may have: anything larger, or not finite,
// is a bad value, refused in the fit pass as well as in every transform, so
// that one absurd row cannot wreck a field's fitted mean and spread nor be
// scored as a confident extreme. 1e15 keeps every integer exact in float64
// (below 2^53) and the sums of squares of the statistics far from overflow,
// while holding any count, amount in cents or timestamp in milliseconds.
const MaxAbsRaw = 1e15

// MaxAbsInput is the largest magnitude of the value a value-embedded numeric
// field hands the network (after log1p and normalisation); a value that
// would go beyond it is a bad value. The training rows of a standard-
// normalised field stay within √rows of 0 and those of a minmax-normalised
// one within [0, 1], so only a value far outside the training range (or a
// large one in a field without normalisation) meets it. It also keeps the
// input finite in float32. Bucketized fields are bounded by MaxAbsRaw only.
const MaxAbsInput = 1e6

// The bounds as written in error messages.
const (
	maxAbsRawText   = "1e15"
	maxAbsInputText = "1e6"
)

// numStatus is the outcome of parsing one numeric value.
type numStatus uint8

const (
	numOK      numStatus = iota
	numMissing           // one of the field's missing values
	numSyntax            // not a decimal number
	numRange             // not finite, or beyond ±MaxAbsRaw
	numInput             // the model input would be beyond ±MaxAbsInput
)

// scanDecimal reports (ok) whether b is a decimal number in the syntax of
// JSON and CSV files, the only one numeric cells and numeric strings may
// use: an optional sign (+ or -), digits with an optional fraction (".5"
// and "5." included), and an optional exponent (e or E, an optional sign,
// digits). Underscores, hexadecimal and words such as Inf or NaN are
// refused. For a plain integer of at most 15 digits (the common cell) it
// also reports isInt with the value x, exact in float64, so that the caller
// can skip strconv.ParseFloat.
func scanDecimal(b []byte) (ok, isInt bool, x float64) {
	i := 0
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	var n uint64
	digits := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + uint64(b[i]-'0') // wraps past 19 digits; used only up to 15
		i++
		digits++
	}
	if i == len(b) && digits > 0 && digits <= 15 {
		x = float64(n)
		if neg {
			x = -x
		}
		return true, true, x
	}
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false, false, 0
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		exp := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == exp {
			return false, false, 0
		}
	}
	return i == len(b), false, 0
}

// parseNumber parses a trimmed numeric cell: one of missingValues
// (numMissing), else a decimal number (see scanDecimal) within ±MaxAbsRaw.
func parseNumber(v []byte, missingValues []string) (float64, numStatus) {
	if contains(missingValues, v) {
		return 0, numMissing
	}
	ok, isInt, x := scanDecimal(v)
	if !ok {
		return 0, numSyntax
	}
	if isInt {
		return x, numOK // at most 15 digits: within MaxAbsRaw
	}
	// A decimal number parses; err is ErrRange on overflow (±Inf), and an
	// underflow rounds towards 0 without one.
	x, err := strconv.ParseFloat(bstr(v), 64)
	if err != nil {
		return 0, numRange
	}
	return x, checkRaw(x)
}

// hasNumberText reports whether one of the missing values is a decimal
// number (so that a number's cell text may be missing).
func hasNumberText(missing []string) bool {
	for _, m := range missing {
		if ok, _, _ := scanDecimal([]byte(m)); ok {
			return true
		}
	}
	return false
}

// checkRaw returns numOK for a finite x within ±MaxAbsRaw, else numRange.
func checkRaw(x float64) numStatus {
	if math.Abs(x) <= MaxAbsRaw { // false for NaN
		return numOK
	}
	return numRange
}

// hasNUL reports whether v holds a NUL byte, which no cell or string value
// may: C tools and many stores cut a value there, so two ids that differ
// after it would silently become one somewhere downstream.
func hasNUL(v []byte) bool { return bytes.IndexByte(v, 0) >= 0 }

// nulError is the error of a categorical value holding a NUL byte.
func (f *pfield) nulError(col int, v []byte) *FieldError {
	return &FieldError{Column: col, Name: f.def.Name, Value: string(v), Expected: "a value without NUL bytes", Err: ErrBadRow}
}

// input returns the model input of a value-embedded numeric field for the
// raw value x: log1p when set, then the normalisation.
func (f *pfield) input(x float64) float64 {
	if f.log {
		x = signedLog1p(x)
	}
	return (x - f.shift) * f.scale
}

// inputOK reports whether a model input is within ±MaxAbsInput.
func inputOK(z float64) bool { return math.Abs(z) <= MaxAbsInput }

// transformName describes the transform of a value-embedded numeric field.
func transformName(fd Field) string {
	var s string
	if fd.Transform == "log1p" {
		s = "log1p and "
	}
	switch fd.Normalize {
	case "none":
		if s == "" {
			return "no transform"
		}
		return "log1p"
	case "minmax":
		return s + "minmax normalisation with the training min and max"
	}
	return s + "standard normalisation with the training mean and std"
}

// badNumber is the error of a numeric value of field f that failed with
// status st; col is -1 for a JSON value, and z is the model input for
// numInput.
func (f *pfield) badNumber(col int, value string, st numStatus, z float64) *FieldError {
	fe := &FieldError{Column: col, Name: f.def.Name, Value: value, Err: ErrBadRow}
	switch {
	case st == numRange:
		fe.Expected = "a finite number with |x| ≤ " + maxAbsRawText
	case st == numInput:
		fe.Expected = fmt.Sprintf("a number whose model input z (after %s) has |z| ≤ %s (this one gives z = %.4g)", transformName(f.def), maxAbsInputText, z)
	case col < 0:
		fe.Expected = "a finite number, a decimal numeric string or null"
	default:
		fe.Expected = fmt.Sprintf("a number (or a missing value %q)", f.missing)
	}
	return fe
}
