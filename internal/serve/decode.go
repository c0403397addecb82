package serve

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// Error codes of a RequestError, as sent in the "code" member of the JSON error.
const (
	CodeMalformedJSON = "malformed_json" // the body is not one JSON object
	CodeBadRequest    = "bad_request"    // valid JSON of the wrong shape
	CodeWrongType     = "wrong_type"     // a feature value of the wrong type
	CodeUnknownField  = "unknown_field"  // strict mode: a key the model does not know
	CodeEmpty         = "empty"          // no rows or no items
	CodeTooManyRows   = "too_many_rows"  // more rows than --max-rows
	CodeBodyTooLarge  = "body_too_large" // a body over --max-body-bytes
	CodeMethod        = "method_not_allowed"
	CodeNotFound      = "not_found"
	CodeReloadFailed  = "reload_failed"
	CodeNotReady      = "not_ready"
	CodeInternal      = "internal"
)

// RequestError is a request the server refuses, sent to the client as
// {"error": {"code": …, "message": …, "field": …, "row": …}} with Status.
// Field is the offending JSON path ("rows[3].age", "context.user_id") or "";
// Row is the 0-based row or item index, or -1.
type RequestError struct {
	Status  int
	Code    string
	Message string
	Field   string
	Row     int
}

func (e *RequestError) Error() string { return e.Message }

func reqErr(status int, code, field string, row int, format string, a ...any) *RequestError {
	return &RequestError{Status: status, Code: code, Field: field, Row: row, Message: fmt.Sprintf(format, a...)}
}

// request is a decoded predict request. Its maps and slices are reused from
// request to request; string values may point into the body buffer, so a
// request is valid only while its body is.
type request struct {
	context   map[string]any // nil when the request has no context
	hasItems  bool           // the rows came as "items" (possibly with "context")
	rows      []map[string]any
	n         int // rows in use
	ctxMap    map[string]any
	maxRows   int
	rowsSeen  bool
	itemsSeen bool
	ctxSeen   bool
}

// Rows returns the decoded rows (or items), in request order.
func (r *request) Rows() []map[string]any { return r.rows[:r.n] }

func (r *request) nextRow() map[string]any {
	if r.n == len(r.rows) {
		r.rows = append(r.rows, make(map[string]any, 64))
	}
	m := r.rows[r.n]
	clear(m)
	r.n++
	return m
}

// decoder is a hand-written JSON scanner for the predict request. It accepts
// exactly RFC 8259 JSON (as encoding/json does, except that string bytes are
// taken as they are, without replacing invalid UTF-8) and decodes feature
// values as encoding/json would into an interface, except integers, which
// are kept exact as json.Number so that 64-bit ids survive. A string value
// holding a NUL byte (only the escape \u0000 can make one) is refused with a
// wrong_type error naming the field, whatever the key: no value may hold one
// (see package feature).
//
// It is kept because it pays for its size: on the 100-row Census request,
// through the whole predict handler (BenchmarkPredictCensus100Decoder:
// pipeline and an untrained default DCRNN included, median of 400
// requests alternated with the same handler decoding with encoding/json,
// decodeRequestStd), encoding/json took 1.85–2.2× the time per request in
// six runs on the shared 2-core machine (2026-12-02), allocating 12× the
// bytes (about 1 MB against 84 KB per request) and 4× the objects; the
// decoding alone took 16–24× (BenchmarkDecodeCensus100Decoder).
type decoder struct {
	b   []byte
	pos int
	nul bool // the last escaped string decoded a NUL
}

func (d *decoder) syntax(format string, a ...any) *RequestError {
	line, col := 1, 1
	for _, c := range d.b[:min(d.pos, len(d.b))] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	msg := fmt.Sprintf(format, a...)
	return reqErr(http.StatusBadRequest, CodeMalformedJSON, "", -1, "malformed JSON at line %d, column %d (byte %d): %s", line, col, d.pos, msg)
}

func (d *decoder) ws() {
	for d.pos < len(d.b) {
		switch d.b[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// found describes the byte at pos for an error message.
func (d *decoder) found() string {
	if d.pos >= len(d.b) {
		return "end of input"
	}
	c := d.b[d.pos]
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (d *decoder) expect(c byte, what string) error {
	d.ws()
	if d.pos >= len(d.b) || d.b[d.pos] != c {
		return d.syntax("expected %s, found %s", what, d.found())
	}
	d.pos++
	return nil
}

// decodeRequest parses body into r. maxRows bounds rows+items. A body that
// is not well-formed JSON always gets a malformed_json error, even when a
// problem of shape comes earlier in it.
func decodeRequest(body []byte, r *request, maxRows int) error {
	err := decodeRequest1(body, r, maxRows)
	if e, ok := err.(*RequestError); ok && e.Code != CodeMalformedJSON {
		d := &decoder{b: body}
		if serr := d.skip(); serr != nil {
			return serr
		}
		if d.ws(); d.pos != len(d.b) {
			return d.syntax("unexpected data after the top-level object: %s", d.found())
		}
	}
	return err
}

func decodeRequest1(body []byte, r *request, maxRows int) error {
	r.n = 0
	r.context = nil
	r.hasItems = false
	r.maxRows = maxRows
	r.rowsSeen, r.itemsSeen, r.ctxSeen = false, false, false
	d := &decoder{b: body}
	d.ws()
	if d.pos >= len(d.b) {
		return reqErr(http.StatusBadRequest, CodeMalformedJSON, "", -1, "empty body: expected a JSON object with \"rows\" or \"items\"")
	}
	if d.b[d.pos] != '{' {
		// Tell a well-formed non-object apart from garbage.
		if json.Valid(body) {
			return reqErr(http.StatusBadRequest, CodeBadRequest, "", -1, "the body must be a JSON object with \"rows\" or \"items\", got %s", kindOf(d.b[d.pos]))
		}
		return d.syntax("expected '{', found %s", d.found())
	}
	d.pos++
	if err := d.members(func(key string) error { return d.topMember(r, key) }); err != nil {
		return err
	}
	d.ws()
	if d.pos != len(d.b) {
		return d.syntax("unexpected data after the top-level object: %s", d.found())
	}
	switch {
	case r.rowsSeen && (r.itemsSeen || r.ctxSeen):
		return reqErr(http.StatusBadRequest, CodeBadRequest, "rows", -1, "give either \"rows\" or \"context\"+\"items\", not both")
	case !r.rowsSeen && !r.itemsSeen:
		if r.ctxSeen {
			return reqErr(http.StatusBadRequest, CodeBadRequest, "items", -1, "\"context\" needs \"items\": the list of item rows to score")
		}
		return reqErr(http.StatusBadRequest, CodeBadRequest, "", -1, "the request has neither \"rows\" nor \"items\"")
	case r.n == 0 && r.rowsSeen:
		return reqErr(http.StatusBadRequest, CodeEmpty, "rows", -1, "\"rows\" is empty: nothing to score")
	case r.n == 0:
		return reqErr(http.StatusBadRequest, CodeEmpty, "items", -1, "\"items\" is empty: nothing to score")
	}
	r.hasItems = r.itemsSeen
	return nil
}

func kindOf(c byte) string {
	switch c {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '{':
		return "an object"
	}
	return "a number"
}

// members parses the members of an object whose '{' was consumed, calling
// member after each key (positioned before the ':' value).
func (d *decoder) members(member func(key string) error) error {
	d.ws()
	if d.pos < len(d.b) && d.b[d.pos] == '}' {
		d.pos++
		return nil
	}
	for {
		d.ws()
		if d.pos >= len(d.b) || d.b[d.pos] != '"' {
			return d.syntax("expected a string key, found %s", d.found())
		}
		key, err := d.str()
		if err != nil {
			return err
		}
		if err := d.expect(':', "':' after an object key"); err != nil {
			return err
		}
		d.ws()
		if err := member(key); err != nil {
			return err
		}
		if done, err := d.sep('}', "an object member"); done || err != nil {
			return err
		}
	}
}

func (d *decoder) topMember(r *request, key string) error {
	if (key == "rows" && r.rowsSeen) || (key == "items" && r.itemsSeen) || (key == "context" && r.ctxSeen) {
		return reqErr(http.StatusBadRequest, CodeBadRequest, key, -1, "duplicate key %q", key)
	}
	switch key {
	case "rows", "items":
		if key == "rows" {
			r.rowsSeen = true
		} else {
			r.itemsSeen = true
		}
		return d.rowList(r, key)
	case "context":
		r.ctxSeen = true
		if d.pos < len(d.b) && d.b[d.pos] == 'n' { // "context": null is no context
			return d.literal("null")
		}
		if d.pos >= len(d.b) || d.b[d.pos] != '{' {
			return d.wrongShape(key, "an object of user feature values")
		}
		d.pos++
		if r.ctxMap == nil {
			r.ctxMap = make(map[string]any, 32)
		}
		clear(r.ctxMap)
		r.context = r.ctxMap
		return d.members(func(k string) error { return d.value(r.ctxMap, k, "context", -1) })
	}
	if err := d.skip(); err != nil {
		return err
	}
	return reqErr(http.StatusBadRequest, CodeBadRequest, key, -1, "unknown top-level key %q: expected \"rows\", or \"context\" and \"items\"", key)
}

// wrongShape reports a well-formed value of the wrong kind at the current
// position (after checking the value itself is valid JSON).
func (d *decoder) wrongShape(field, want string) error {
	c := byte(0)
	if d.pos < len(d.b) {
		c = d.b[d.pos]
	}
	if err := d.skip(); err != nil {
		return err
	}
	return reqErr(http.StatusBadRequest, CodeBadRequest, field, -1, "%q must be %s, got %s", field, want, kindOf(c))
}

func (d *decoder) rowList(r *request, key string) error {
	if d.pos >= len(d.b) || d.b[d.pos] != '[' {
		return d.wrongShape(key, "a list of objects (feature name → value)")
	}
	d.pos++
	d.ws()
	if d.pos < len(d.b) && d.b[d.pos] == ']' {
		d.pos++
		return nil
	}
	for i := 0; ; i++ {
		d.ws()
		if r.n >= r.maxRows {
			return reqErr(http.StatusRequestEntityTooLarge, CodeTooManyRows, key, -1, "too many rows: this server scores at most %d rows per request (--max-rows)", r.maxRows)
		}
		if d.pos >= len(d.b) || d.b[d.pos] != '{' {
			c := byte(0)
			if d.pos < len(d.b) {
				c = d.b[d.pos]
			}
			if err := d.skip(); err != nil {
				return err
			}
			path := key + "[" + strconv.Itoa(i) + "]"
			return reqErr(http.StatusBadRequest, CodeBadRequest, path, i, "%s must be an object (feature name → value), got %s", path, kindOf(c))
		}
		d.pos++
		m := r.nextRow()
		if err := d.members(func(k string) error { return d.value(m, k, key, i) }); err != nil {
			return err
		}
		if done, err := d.sep(']', "a list element"); done || err != nil {
			return err
		}
	}
}

// value decodes one feature value into m[key]: a string, a number, null, a
// boolean (refused later by the pipeline with its field name) or a list of
// those. list and row name the value in errors: list "context" with row -1,
// or "rows"/"items" with the row index.
func (d *decoder) value(m map[string]any, key, list string, row int) error {
	d.nul = false
	v, err := d.scalar()
	if err != nil {
		if e, ok := err.(*RequestError); ok && e.Code == CodeWrongType {
			e.Field, e.Row = fieldPath(list, key, row), row
			e.Message = fmt.Sprintf("feature %q: %s", key, e.Message)
		}
		return err
	}
	if v != errNotScalar {
		if d.nul {
			return nulError(v, list, key, row)
		}
		m[key] = v
		return nil
	}
	if d.b[d.pos] == '{' {
		if err := d.skip(); err != nil {
			return err
		}
		return &RequestError{Status: http.StatusBadRequest, Code: CodeWrongType, Row: row, Field: fieldPath(list, key, row),
			Message: fmt.Sprintf("feature %q: expected a string, a number, null or a list of those, got an object", key)}
	}
	// a list
	d.pos++
	vals := make([]any, 0, 4)
	d.ws()
	if d.pos < len(d.b) && d.b[d.pos] == ']' {
		d.pos++
		m[key] = vals
		return nil
	}
	for {
		d.ws()
		d.nul = false
		e, err := d.scalar()
		if err != nil {
			if re, ok := err.(*RequestError); ok && re.Code == CodeWrongType {
				re.Field, re.Row = fieldPath(list, key, row), row
				re.Message = fmt.Sprintf("feature %q: %s", key, re.Message)
			}
			return err
		}
		if e == errNotScalar {
			if err := d.skip(); err != nil {
				return err
			}
			return &RequestError{Status: http.StatusBadRequest, Code: CodeWrongType, Row: row, Field: fieldPath(list, key, row),
				Message: fmt.Sprintf("feature %q: a list may hold only strings, numbers and nulls, got a nested list or object", key)}
		}
		if d.nul {
			return nulError(e, list, key, row)
		}
		vals = append(vals, e)
		done, err := d.sep(']', "a list element")
		if err != nil {
			return err
		}
		if done {
			m[key] = vals
			return nil
		}
	}
}

// nulError refuses the string value v of key, which holds a NUL byte.
func nulError(v any, list, key string, row int) *RequestError {
	path := fieldPath(list, key, row)
	return &RequestError{Status: http.StatusBadRequest, Code: CodeWrongType, Row: row, Field: path,
		Message: fmt.Sprintf("%s: expected a string without NUL bytes (\\u0000), got %s", path, describe(fmt.Sprint(v)))}
}

// fieldPath names a feature in a row ("rows[3].age") or in the context
// ("context.age", row -1).
func fieldPath(list, key string, row int) string {
	if row < 0 {
		return list + "." + key
	}
	return list + "[" + strconv.Itoa(row) + "]." + key
}

type notScalar struct{}

// errNotScalar is returned by scalar for '[' or '{' (not consumed).
var errNotScalar any = notScalar{}

// scalar decodes a string, number, boolean or null; for '[' and '{' it
// returns errNotScalar without consuming anything.
func (d *decoder) scalar() (any, error) {
	if d.pos >= len(d.b) {
		return nil, d.syntax("expected a value, found end of input")
	}
	switch c := d.b[d.pos]; {
	case c == '"':
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		return s, nil
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '[' || c == '{':
		return errNotScalar, nil
	}
	return nil, d.syntax("expected a value, found %s", d.found())
}

func (d *decoder) literal(s string) error {
	if len(d.b)-d.pos < len(s) || string(d.b[d.pos:d.pos+len(s)]) != s {
		return d.syntax("invalid literal: expected %s", s)
	}
	d.pos += len(s)
	return nil
}

// number scans a JSON number. An integer literal is returned as json.Number
// (exact); any other as float64 (encoding/json's choice), refused when out
// of range.
func (d *decoder) number() (any, error) {
	start := d.pos
	b := d.b
	i := d.pos
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		d.pos = i
		return nil, d.syntax("invalid number: expected a digit, found %s", d.found())
	}
	integer := true
	if i < len(b) && b[i] == '.' {
		integer = false
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.pos = i
			return nil, d.syntax("invalid number: expected a digit after '.', found %s", d.found())
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integer = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.pos = i
			return nil, d.syntax("invalid number: expected a digit in the exponent, found %s", d.found())
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	d.pos = i
	lit := b[start:i]
	if integer && !(len(lit) == 2 && lit[0] == '-' && lit[1] == '0') {
		return json.Number(string(lit)), nil
	}
	x, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(lit), len(lit)), 64)
	if err != nil || math.IsInf(x, 0) {
		d.pos = start
		return nil, reqErr(http.StatusBadRequest, CodeWrongType, "", -1, "number %s is out of range", lit)
	}
	return x, nil
}

// str scans a string at pos ('"'). Without escapes the result points into
// the body (no copy).
func (d *decoder) str() (string, error) {
	b := d.b
	i := d.pos + 1
	for i < len(b) {
		c := b[i]
		if c == '"' {
			s := b[d.pos+1 : i]
			d.pos = i + 1
			return unsafe.String(unsafe.SliceData(s), len(s)), nil
		}
		if c == '\\' {
			return d.strEscaped()
		}
		if c < 0x20 {
			d.pos = i
			return "", d.syntax("control character %s in a string (escape it)", d.found())
		}
		i++
	}
	d.pos = i
	return "", d.syntax("unterminated string")
}

func (d *decoder) strEscaped() (string, error) {
	b := d.b
	out := make([]byte, 0, 32)
	i := d.pos + 1
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return string(out), nil
		case c < 0x20:
			d.pos = i
			return "", d.syntax("control character %s in a string (escape it)", d.found())
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(b) {
			d.pos = i + 1
			return "", d.syntax("unterminated string")
		}
		switch e := b[i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(b[i+2:])
			if !ok {
				d.pos = i
				return "", d.syntax("invalid \\u escape: expected 4 hex digits")
			}
			i += 6
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(-1), false
				if len(b)-i >= 6 && b[i] == '\\' && b[i+1] == 'u' {
					r2, ok2 = hex4(b[i+2:])
				}
				if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError // a lone surrogate, as encoding/json does
				}
			}
			d.nul = d.nul || r == 0
			out = utf8.AppendRune(out, r)
			continue
		default:
			d.pos = i
			return "", d.syntax("invalid escape \\%c in a string", e)
		}
		i += 2
	}
	d.pos = i
	return "", d.syntax("unterminated string")
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// maxDepth bounds the nesting skip accepts, so a hostile body cannot blow the stack.
const maxDepth = 1000

// skip validates and skips one JSON value of any kind.
func (d *decoder) skip() error { return d.skipDepth(0) }

func (d *decoder) skipDepth(depth int) error {
	if depth > maxDepth {
		return reqErr(http.StatusBadRequest, CodeBadRequest, "", -1, "JSON nested deeper than %d levels", maxDepth)
	}
	d.ws()
	v, err := d.scalar()
	if err != nil {
		if e, ok := err.(*RequestError); ok && e.Code == CodeWrongType {
			// an out-of-range number is well-formed JSON; skipping it is fine
			d.numberEnd()
			return nil
		}
		return err
	}
	if v != errNotScalar {
		return nil
	}
	open := d.b[d.pos]
	d.pos++
	d.ws()
	closer := byte(']')
	if open == '{' {
		closer = '}'
	}
	if d.pos < len(d.b) && d.b[d.pos] == closer {
		d.pos++
		return nil
	}
	for {
		d.ws()
		if open == '{' {
			if d.pos >= len(d.b) || d.b[d.pos] != '"' {
				return d.syntax("expected a string key, found %s", d.found())
			}
			if _, err := d.str(); err != nil {
				return err
			}
			if err := d.expect(':', "':' after an object key"); err != nil {
				return err
			}
		}
		if err := d.skipDepth(depth + 1); err != nil {
			return err
		}
		if done, err := d.sep(closer, ""); done || err != nil {
			return err
		}
	}
}

// sep consumes the ',' or the closer that follows an object member or a list
// element and reports whether it was the closer; what names the item for the
// error message ("" to leave it out).
func (d *decoder) sep(closer byte, what string) (done bool, err error) {
	d.ws()
	if d.pos >= len(d.b) {
		return false, d.syntax("expected ',' or %q, found end of input", closer)
	}
	switch d.b[d.pos] {
	case ',':
		d.pos++
		return false, nil
	case closer:
		d.pos++
		return true, nil
	}
	if what != "" {
		return false, d.syntax("expected ',' or %q after %s, found %s", closer, what, d.found())
	}
	return false, d.syntax("expected ',' or %q, found %s", closer, d.found())
}

// numberEnd moves pos past a (valid) number literal.
func (d *decoder) numberEnd() {
	for d.pos < len(d.b) {
		switch c := d.b[d.pos]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			d.pos++
		default:
			return
		}
	}
}
