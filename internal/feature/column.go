package feature

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// The transform of one raw value of a field, shared by the two paths that
// take values rather than file cells: TransformMapWith (a row as a map) and
// TransformColumns (rows as typed columns). Each put* appends the value's
// ids or model input to the field's data and reports a fault instead of
// building the error, so that each path renders the offending value its
// own way, and only when there is one.

// faultKind says why a value was refused.
type faultKind uint8

const (
	faultNone   faultKind = iota
	faultNumber           // a numeric value: st (and z for numInput)
	faultNUL              // a categorical value holding a NUL byte: v
	faultType             // not a string or a number (NaN and ±Inf included)
)

// fault is why one raw value of a field was refused; the zero fault is
// none.
type fault struct {
	kind faultKind
	st   numStatus // faultNumber: numSyntax, numRange or numInput
	z    float64   // numInput: the model input
	v    []byte    // faultNUL: the value as the error shows it
}

// faultError is the error of fault ft of field f for the raw value raw (as
// a JSON value: a string, a number, nil, ...).
func (f *pfield) faultError(ft fault, raw any) *FieldError {
	switch ft.kind {
	case faultNUL:
		return f.nulError(-1, ft.v)
	case faultType:
		want := "a string or a number"
		if f.op == opMulti {
			want = "a string, a number or a list"
		}
		return &FieldError{Column: -1, Name: f.def.Name, Value: fmt.Sprint(raw), Expected: want, Err: ErrBadRow}
	}
	return f.badNumber(-1, fmt.Sprint(raw), ft.st, ft.z)
}

// putAny appends one value of a row map: nil for a missing value (an absent
// key reads as nil), a string, a json.Number or another number. A
// multi-valued field's list is the caller's.
func (f *pfield) putAny(raw any, d *FieldData, nb []byte) fault {
	if f.op == opNumeric || f.op == opBucket {
		switch v := raw.(type) {
		case nil:
			return f.putNum(0, numMissing, d)
		case string:
			return f.putText(sbytes(v), d)
		case json.Number:
			return f.putText(sbytes(string(v)), d)
		}
		x, ok := toFloat(raw)
		if !ok {
			return fault{kind: faultNumber, st: numSyntax}
		}
		return f.putNum(x, checkRaw(x), d)
	}
	v, ok := cellBytes(raw, nb)
	if !ok {
		return fault{kind: faultType}
	}
	return f.putText(v, d)
}

// putText appends a value given as text: a categorical value, a
// multi-valued cell (tokens joined by the separator), or a number in
// decimal (or one of the field's missing values).
func (f *pfield) putText(v []byte, d *FieldData) fault {
	switch f.op {
	case opVocab, opHash:
		v = trim(v)
		id := f.lookup(v)
		if f.nul(id, v) {
			return fault{kind: faultNUL, v: v}
		}
		d.IDs = append(d.IDs, id)
	case opMulti:
		if !f.putMulti(trim(v), d) {
			return fault{kind: faultNUL, v: v}
		}
	default:
		x, st := parseNumber(trim(v), f.missing)
		return f.putNum(x, st, d)
	}
	return fault{}
}

// putNum appends a numeric field's value x of status st (numMissing for a
// missing value, which takes the fill).
func (f *pfield) putNum(x float64, st numStatus, d *FieldData) fault {
	if st > numMissing {
		return fault{kind: faultNumber, st: st}
	}
	if z, ok := f.putNumber(x, st == numMissing, d); !ok {
		return fault{kind: faultNumber, st: numInput, z: z}
	}
	return fault{}
}

// Column is the raw values of one feature field for the rows of a block,
// in one of the typed forms a columnar request carries (the tensors of the
// Open Inference Protocol): one of Text, Floats and Ints holds the values,
// one per row, or none does and Missing marks every row.
type Column struct {
	// Text holds the values as a file cell or a JSON string would: a
	// categorical value; a multi_categorical cell, tokens joined by the
	// field's separator; a decimal number, or one of the field's missing
	// values, of a numeric field.
	Text []string
	// Floats holds the values as JSON numbers (float64).
	Floats []float64
	// Ints holds integers: a numeric field reads float64(x), the others
	// the decimal form, exactly (as json.Number(strconv.FormatInt(x, 10))).
	Ints []int64
	// Missing, when not nil, marks the rows whose value is missing (as a
	// nil value or an absent key of a row map); their element of Text,
	// Floats or Ints is not read.
	Missing []bool
}

// Slice returns the column of rows [lo, hi), sharing c's slices.
func (c Column) Slice(lo, hi int) Column {
	s := Column{}
	switch {
	case c.Text != nil:
		s.Text = c.Text[lo:hi]
	case c.Floats != nil:
		s.Floats = c.Floats[lo:hi]
	case c.Ints != nil:
		s.Ints = c.Ints[lo:hi]
	}
	if c.Missing != nil {
		s.Missing = c.Missing[lo:hi]
	}
	return s
}

// Check reports what is wrong, if anything, with a column meant to hold n
// rows.
func (c *Column) Check(n int) error {
	forms, l := 0, 0
	for _, k := range [...]struct {
		set bool
		n   int
	}{{c.Text != nil, len(c.Text)}, {c.Floats != nil, len(c.Floats)}, {c.Ints != nil, len(c.Ints)}} {
		if k.set {
			forms++
			l = k.n
		}
	}
	switch {
	case forms > 1:
		return fmt.Errorf("values in more than one of Text, Floats and Ints")
	case forms == 0 && len(c.Missing) != n:
		return fmt.Errorf("no values for %d rows", n)
	case forms == 1 && l != n:
		return fmt.Errorf("%d values for %d rows", l, n)
	case c.Missing != nil && len(c.Missing) != n:
		return fmt.Errorf("%d Missing flags for %d rows", len(c.Missing), n)
	}
	return nil
}

// Value returns row r's value as a row map of TransformMapWith would hold
// it for a field of type typ: a string, a float64, a json.Number (the
// decimal form of an integer of a categorical field) or nil (missing).
func (c *Column) Value(r int, typ FieldType) any {
	switch {
	case c.Missing != nil && c.Missing[r]:
		return nil
	case c.Text != nil:
		return c.Text[r]
	case c.Floats != nil:
		return c.Floats[r]
	case c.Ints != nil && typ == TypeNumeric:
		return float64(c.Ints[r])
	case c.Ints != nil:
		return json.Number(strconv.FormatInt(c.Ints[r], 10))
	}
	return nil
}

// put appends row r of c to field f's data.
func (f *pfield) put(c *Column, r int, d *FieldData, nb []byte) fault {
	if f.op != opNumeric && f.op != opBucket {
		v, ok := c.text(r, f.def.Type, nb)
		if !ok {
			return fault{kind: faultType}
		}
		return f.putText(v, d)
	}
	var x float64
	switch {
	case c.Missing != nil && c.Missing[r]:
		return f.putNum(0, numMissing, d)
	case c.Text != nil:
		return f.putText(sbytes(c.Text[r]), d)
	case c.Floats != nil:
		x = c.Floats[r]
	case c.Ints != nil:
		x = float64(c.Ints[r])
	default:
		return f.putNum(0, numMissing, d)
	}
	return f.putNum(x, checkRaw(x), d)
}

// TransformColumns appends n rows given column by column to b: cols[i]
// holds the values of field i (Fields order). Row r is transformed exactly
// as TransformMapWith transforms the map holding, for each field, element r
// of its column (Column.Value), so a block of rows costs no map per row
// and no lookup per field. Labels are written as 0 and group keys as those
// of a row without a group_by value. A column that does not fit n rows is
// an error with row -1. On a bad value b is unchanged, row is the first row
// that TransformMapWith would refuse (in row order, then field order) and
// err the *FieldError it would return for that row.
func (p *Pipeline) TransformColumns(n int, cols []Column, b *Batch) (row int, err error) {
	if len(cols) != len(p.fields) {
		return -1, fmt.Errorf("feature: %d columns for %d fields", len(cols), len(p.fields))
	}
	for i := range cols {
		if err := cols[i].Check(n); err != nil {
			return -1, fmt.Errorf("feature: column %d (%s): %v", i, p.fields[i].def.Name, err)
		}
	}
	n0 := b.N
	var nb [64]byte
	bad, badRow := (*FieldError)(nil), n
	for i := range p.fields {
		f, c, d := &p.fields[i], &cols[i], &b.Fields[i]
		// Only rows before the first bad one found so far matter: a later
		// field's fault in that row comes after it in a row's field order.
		if c.Text != nil && c.Missing == nil { // the common column: text alone
			for r, v := range c.Text[:badRow] {
				if ft := f.putText(sbytes(v), d); ft.kind != faultNone {
					bad, badRow = f.faultError(ft, c.Value(r, f.def.Type)), r
					break
				}
			}
			continue
		}
		for r := 0; r < badRow; r++ {
			if ft := f.put(c, r, d, nb[:0]); ft.kind != faultNone {
				bad, badRow = f.faultError(ft, c.Value(r, f.def.Type)), r
				break
			}
		}
	}
	if bad != nil {
		p.rollback(b, n0)
		return badRow, bad
	}
	for t := range b.Labels {
		for range n {
			b.Labels[t] = append(b.Labels[t], 0)
		}
	}
	if b.Group != nil {
		p.columnGroups(n, cols, b)
	}
	b.N += n
	return -1, nil
}

// columnGroups appends the group keys of n rows, as TransformMapWith
// computes them: from the group_by field's column when group_by is a
// feature field, else those of a row without a group_by value.
func (p *Pipeline) columnGroups(n int, cols []Column, b *Batch) {
	var g int64
	if p.schema.GroupBy != "" {
		g = GroupKey(nil)
	}
	gf := -1
	for i := range p.fields {
		if p.schema.GroupBy != "" && p.fields[i].def.Name == p.schema.GroupBy {
			gf = i
		}
	}
	var nb [64]byte
	for r := range n {
		k := g
		if gf >= 0 {
			k = 0 // a value that is not a scalar: no key, as in TransformMapWith
			if v, ok := cols[gf].text(r, p.fields[gf].def.Type, nb[:0]); ok {
				k = GroupKey(trim(v))
			}
		}
		b.Group = append(b.Group, k)
	}
}

// text renders row r of c as cellBytes renders Value(r, typ).
func (c *Column) text(r int, typ FieldType, nb []byte) ([]byte, bool) {
	switch {
	case c.Missing != nil && c.Missing[r]:
		return nil, true
	case c.Text != nil:
		return sbytes(c.Text[r]), true
	case c.Floats != nil:
		return floatText(c.Floats[r], nb)
	case c.Ints != nil && typ == TypeNumeric:
		return floatText(float64(c.Ints[r]), nb)
	case c.Ints != nil:
		return strconv.AppendInt(nb, c.Ints[r], 10), true
	}
	return nil, true
}
