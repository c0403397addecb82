package data

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/dcrnn/dcrnn/internal/feature"
)

// IsParquet reports whether path names a Parquet file by its suffix.
func IsParquet(path string) bool { return strings.HasSuffix(strings.ToLower(path), ".parquet") }

// ParquetOptions configures a ParquetReader.
type ParquetOptions struct {
	// Columns, when set, must equal the file's top-level column names as a
	// set; the reader then returns cells in this order (shards written with
	// another column order read alike).
	Columns []string
	// Read names the columns whose values are decoded; every other column
	// reads as an empty cell without being decoded. Nil reads every column.
	Read map[string]ColumnUse
	// Filter keeps only the rows (0-based in the file) it returns true for.
	Filter func(rowIndex int64) bool
}

// ColumnUse says what a schema does with a column, which decides the
// Parquet types it accepts.
type ColumnUse struct {
	// Numeric: an integer, float or boolean column (or a string one holding
	// numbers).
	Numeric bool
	// Multi: a multi-valued field; a LIST column's elements are joined with
	// Separator (a flat string column is split as in a text file).
	Multi     bool
	Separator string
}

// UsesFor returns, for every column schema s reads, what it is used for
// (the argument of ParquetOptions.Read): non-ignored fields, task labels
// and the group_by column. Ignored and unlisted columns are not read.
func UsesFor(s *feature.Schema) map[string]ColumnUse {
	m := map[string]ColumnUse{}
	for _, f := range s.Fields {
		switch f.Type {
		case feature.TypeIgnore:
		case feature.TypeNumeric:
			m[f.Name] = ColumnUse{Numeric: true}
		case feature.TypeMultiCategorical:
			sep := f.Separator
			if sep == "" {
				sep = "|"
			}
			m[f.Name] = ColumnUse{Multi: true, Separator: sep}
		default:
			m[f.Name] = ColumnUse{}
		}
	}
	for _, t := range s.Tasks {
		m[t.Label] = ColumnUse{}
	}
	if s.GroupBy != "" {
		m[s.GroupBy] = ColumnUse{}
	}
	return m
}

// pqColumn is one decoded (projected) column of a ParquetReader.
type pqColumn struct {
	name   string
	cell   int // index in the returned record
	leaf   int // leaf column index in the file
	kind   parquet.Kind
	format func(dst []byte, v parquet.Value) []byte
	list   bool
	sep    string

	fast fastKind
	// maxDef is the definition level of a present value.
	maxDef int

	// A dictionary-encoded page is read by its indexes (dict set).
	dict, dictOf parquet.Dictionary
	dIdx         []int32 // indexes of the page's present values
	dDefs        []byte  // definition level of each value
	present      []byte
	dPos, dI     int // next value, next index
	dictBuf      []byte
	dictEnds     []int32
	memo         []int32 // id of each entry (-1: not computed)
	keys         []int32 // entry of each row of the chunk (-1: null or not by dictionary)
	ids          func([]byte) (int32, bool)

	buf  []byte  // the cells of the current chunk, back to back
	ends []int32 // end of each row's cell in buf

	pages parquet.Pages
	page  parquet.Page
	vr    parquet.ValueReader
	vals  []parquet.Value
	pos   int
	n     int
	done  bool // no more values in this row group
}

// ParquetReader streams the rows of a Parquet file as records of cells, like
// Reader does for text: one row group at a time, page by page, decoding only
// the projected columns. Values become cells as text: strings as they are,
// integers in decimal, floats in the shortest form that parses back to the
// same value, booleans as 1 and 0, dates as YYYY-MM-DD, and null as the
// empty cell (a missing value). A LIST column's elements are joined with
// the field's separator.
type ParquetReader struct {
	name    string
	f       *os.File
	pf      *parquet.File
	columns []string
	cols    []pqColumn
	filter  func(int64) bool

	groupStart []int64 // first row of each row group
	numRows    int64
	group      int   // current row group (-1 before the first)
	groupEnd   int64 // first row after the current group
	row        int64 // index of the next row
	cur        int64 // index of the last row returned
	chunkRow   int64 // first row of the decoded chunk
	chunkAt    int   // next row of the chunk to return
	chunkN     int   // rows in the chunk
	idOut      []int32
	rec        [][]byte
	err        error
	progress   func(int64)
}

// pqValues is the number of values decoded per column at a time.
const pqValues = 512

// OpenParquet opens a Parquet file. Errors name the file (and the column).
func OpenParquet(path string, opt ParquetOptions) (*ParquetReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	r, err := newParquetReader(f, path, opt)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

func newParquetReader(f *os.File, name string, opt ParquetOptions) (r *ParquetReader, err error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer func() { // a damaged footer must be an error, never a panic
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("data: %s: not a readable Parquet file: %v", name, p)
		}
	}()
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true), parquet.ReadBufferSize(1<<20))
	if err != nil {
		return nil, fmt.Errorf("data: %s: not a readable Parquet file: %w", name, err)
	}
	r = &ParquetReader{name: name, f: f, pf: pf, filter: opt.Filter, group: -1, numRows: pf.NumRows()}
	fields := pf.Schema().Fields()
	fileCols := make([]string, len(fields))
	for i, fd := range fields {
		fileCols[i] = fd.Name()
	}
	r.columns = fileCols
	if opt.Columns != nil {
		a, b := slices.Clone(opt.Columns), slices.Clone(fileCols)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			return nil, fmt.Errorf("data: %s: columns %s differ from the expected %s", name, abbrevCols(fileCols), abbrevCols(opt.Columns))
		}
		r.columns = slices.Clone(opt.Columns)
	}
	cellOf := map[string]int{}
	for i, c := range r.columns {
		cellOf[c] = i
	}
	leaves := pf.Schema().Columns()
	for _, fd := range fields {
		use, read := opt.Read[fd.Name()]
		if opt.Read != nil && !read {
			continue
		}
		c := pqColumn{name: fd.Name(), cell: cellOf[fd.Name()]}
		path := []string{fd.Name()}
		if !fd.Leaf() {
			elem, ok := listElement(fd)
			if !ok {
				return nil, fmt.Errorf("data: %s: column %q: a nested %s column; only flat columns and lists of flat values are read", name, fd.Name(), nodeKind(fd))
			}
			if !use.Multi {
				return nil, fmt.Errorf("data: %s: column %q: a LIST column, but the schema does not declare it multi_categorical", name, fd.Name())
			}
			path = elem
			c.list, c.sep = true, use.Separator
		} else if fd.Repeated() {
			if !use.Multi {
				return nil, fmt.Errorf("data: %s: column %q: a repeated column, but the schema does not declare it multi_categorical", name, fd.Name())
			}
			c.list, c.sep = true, use.Separator
		}
		c.leaf = slices.IndexFunc(leaves, func(p []string) bool { return slices.Equal(p, path) })
		if c.leaf < 0 {
			return nil, fmt.Errorf("data: %s: column %q: leaf %s not found", name, fd.Name(), strings.Join(path, "."))
		}
		lc, _ := pf.Schema().Lookup(path...)
		c.maxDef = lc.MaxDefinitionLevel
		typ := lc.Node.Type()
		c.kind = typ.Kind()
		c.format, c.fast, err = cellFormat(typ)
		if err == nil && use.Numeric && c.kind == parquet.ByteArray && !isString(typ) {
			err = errors.New("binary values")
		}
		if err != nil {
			want := "a string, integer, float or boolean column"
			if use.Numeric {
				want = "an integer, float, boolean or string column (the field is numeric)"
			}
			return nil, fmt.Errorf("data: %s: column %q: type %s (%v): want %s", name, fd.Name(), typ, err, want)
		}
		r.cols = append(r.cols, c)
	}
	var start int64
	for _, g := range pf.RowGroups() {
		r.groupStart = append(r.groupStart, start)
		start += g.NumRows()
	}
	r.rec = make([][]byte, len(r.columns))
	for i := range r.rec {
		r.rec[i] = []byte{} // columns not read: empty cells
	}
	return r, nil
}

// listElement returns the leaf path of a LIST of flat values (the standard
// three-level form, name.list.element, or a two-level repeated group).
func listElement(fd parquet.Field) ([]string, bool) {
	if _, ok := logical(fd.Type()).(*format.ListType); !ok {
		return nil, false
	}
	inner := fd.Fields()
	if len(inner) != 1 {
		return nil, false
	}
	if inner[0].Leaf() {
		return []string{fd.Name(), inner[0].Name()}, true
	}
	el := inner[0].Fields()
	if len(el) != 1 || !el[0].Leaf() {
		return nil, false
	}
	return []string{fd.Name(), inner[0].Name(), el[0].Name()}, true
}

func nodeKind(n parquet.Node) string {
	switch logical(n.Type()).(type) {
	case *format.MapType:
		return "MAP"
	case *format.ListType:
		return "LIST"
	}
	return "group"
}

// logical returns a type's logical annotation (nil when it has none).
func logical(t parquet.Type) format.LogicalTypeValue {
	if lt := t.LogicalType(); lt != nil {
		return lt.Value
	}
	return nil
}

func isString(t parquet.Type) bool {
	switch logical(t).(type) {
	case *format.StringType, *format.EnumType, *format.JsonType:
		return true
	}
	return false
}

// fastKind names the value types decoded without calling the format func.
type fastKind int

const (
	fastNone fastKind = iota
	fastBytes
	fastInt64
	fastInt32
)

// cellFormat returns the text form of a column's values (and the fast
// path that gives the same), or an error for a type without one.
func cellFormat(t parquet.Type) (func([]byte, parquet.Value) []byte, fastKind, error) {
	f, err := cellFormatFunc(t)
	if err != nil {
		return nil, 0, err
	}
	lt := logical(t)
	plain := lt == nil
	if it, ok := lt.(*format.IntType); ok && it.IsSigned {
		plain = true
	}
	switch {
	case t.Kind() == parquet.ByteArray:
		return f, fastBytes, nil
	case t.Kind() == parquet.Int64 && plain:
		return f, fastInt64, nil
	case t.Kind() == parquet.Int32 && plain:
		return f, fastInt32, nil
	}
	return f, fastNone, nil
}

func cellFormatFunc(t parquet.Type) (func([]byte, parquet.Value) []byte, error) {
	lt := logical(t)
	_, date := lt.(*format.DateType)
	_, decimal := lt.(*format.DecimalType)
	it, _ := lt.(*format.IntType)
	unsigned := it != nil && !it.IsSigned
	switch t.Kind() {
	case parquet.Boolean:
		return func(d []byte, v parquet.Value) []byte {
			if v.Boolean() {
				return append(d, '1')
			}
			return append(d, '0')
		}, nil
	case parquet.Int32:
		if date {
			return func(d []byte, v parquet.Value) []byte {
				return time.Unix(int64(v.Int32())*86400, 0).UTC().AppendFormat(d, time.DateOnly)
			}, nil
		}
		if decimal {
			return nil, errors.New("decimal")
		}
		if unsigned {
			return func(d []byte, v parquet.Value) []byte { return strconv.AppendUint(d, uint64(uint32(v.Int32())), 10) }, nil
		}
		return func(d []byte, v parquet.Value) []byte { return strconv.AppendInt(d, int64(v.Int32()), 10) }, nil
	case parquet.Int64:
		if decimal {
			return nil, errors.New("decimal")
		}
		if unsigned {
			return func(d []byte, v parquet.Value) []byte { return strconv.AppendUint(d, v.Uint64(), 10) }, nil
		}
		return func(d []byte, v parquet.Value) []byte { return strconv.AppendInt(d, v.Int64(), 10) }, nil
	case parquet.Float:
		return func(d []byte, v parquet.Value) []byte {
			return strconv.AppendFloat(d, float64(v.Float()), 'g', -1, 32)
		}, nil
	case parquet.Double:
		return func(d []byte, v parquet.Value) []byte { return strconv.AppendFloat(d, v.Double(), 'g', -1, 64) }, nil
	case parquet.ByteArray:
		return func(d []byte, v parquet.Value) []byte { return append(d, v.ByteArray()...) }, nil
	}
	return nil, errors.New("no text form")
}

func abbrevCols(c []string) string {
	if len(c) <= 12 {
		return "[" + strings.Join(c, ", ") + "]"
	}
	return "[" + strings.Join(c[:12], ", ") + fmt.Sprintf(", … (%d in all)]", len(c))
}

// Name returns the file name used in errors.
func (r *ParquetReader) Name() string { return r.name }

// Columns returns the column names, in the order of the cells.
func (r *ParquetReader) Columns() []string { return slices.Clone(r.columns) }

// NumRows returns the number of rows in the file.
func (r *ParquetReader) NumRows() int64 { return r.numRows }

// Pos returns the 1-based row (in the file) of the last record returned.
func (r *ParquetReader) Pos() int64 { return r.cur + 1 }

// Close releases the file, the pages and the decode buffers; only what
// locates a row in errors is kept (a list of files keeps its closed
// readers for that), so a closed reader holds a few bytes per row group.
func (r *ParquetReader) Close() error {
	r.releaseGroup()
	r.cols, r.rec, r.idOut, r.pf = nil, nil, nil, nil
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	if r.err == nil {
		r.err = fmt.Errorf("data: %s: read after Close", r.name)
	}
	return err
}

// releaseGroup gives back the current row group's page readers and pages
// (whose values are all consumed: the cells are copied into the chunk)
// and drops what points into them.
func (r *ParquetReader) releaseGroup() {
	for i := range r.cols {
		c := &r.cols[i]
		if c.page != nil {
			parquet.Release(c.page)
			c.page = nil
		}
		if c.pages != nil {
			c.pages.Close()
			c.pages = nil
		}
		c.vr, c.dict, c.dictOf, c.dIdx, c.dDefs = nil, nil, nil, nil, nil
		clear(c.vals)
	}
}

// errAt locates err at the 1-based file row pos.
func (r *ParquetReader) errAt(pos int64, err error) *RowError {
	g, _ := slices.BinarySearch(r.groupStart, pos)
	return &RowError{File: r.name, Row: pos, Group: max(g-1, 0), Err: err}
}

func (r *ParquetReader) broken() bool { return r.err != nil }

// fail records a sticky error for column c at the current chunk.
func (r *ParquetReader) fail(c *pqColumn, err error) error {
	return r.failAt(c, r.row+int64(len(c.ends))+1, err)
}

// failAt records a sticky error for column c at 1-based row pos.
func (r *ParquetReader) failAt(c *pqColumn, pos int64, err error) error {
	r.err = r.errAt(pos, fmt.Errorf("column %q: %w", c.name, err))
	return r.err
}

// nextGroup opens the page readers of the next row group.
func (r *ParquetReader) nextGroup() error {
	groups := r.pf.RowGroups()
	r.releaseGroup()
	r.group++
	if r.group >= len(groups) {
		return io.EOF
	}
	g := groups[r.group]
	r.groupEnd = r.groupStart[r.group] + g.NumRows()
	chunks := g.ColumnChunks()
	for i := range r.cols {
		c := &r.cols[i]
		c.pages = chunks[c.leaf].Pages()
		c.page, c.vr, c.pos, c.n, c.done, c.dict = nil, nil, 0, 0, false, nil
		if c.vals == nil {
			c.vals = make([]parquet.Value, pqValues)
		}
	}
	if r.progress != nil && r.group < len(r.pf.Metadata().RowGroups) {
		r.progress(r.pf.Metadata().RowGroups[r.group].TotalCompressedSize)
	}
	return nil
}

// fill buffers more values of column c; false at the end of the row group.
func (r *ParquetReader) fill(c *pqColumn) (bool, error) {
	for c.pos >= c.n {
		if c.done {
			return false, nil
		}
		if c.vr != nil {
			n, err := c.vr.ReadValues(c.vals)
			c.pos, c.n = 0, n
			if err == io.EOF {
				c.vr = nil
				err = nil
			}
			if err != nil {
				return false, r.fail(c, fmt.Errorf("read values: %w", err))
			}
			continue
		}
		if c.dict != nil && c.dPos < len(c.dDefs) {
			return true, nil
		}
		if c.page != nil {
			parquet.Release(c.page) // its values are consumed
			c.page = nil
		}
		p, err := c.pages.ReadPage()
		if err == io.EOF {
			c.done = true
			return false, nil
		}
		if err != nil {
			return false, r.fail(c, fmt.Errorf("read page: %w", err))
		}
		c.page, c.vr = p, nil
		if d := p.Dictionary(); d != nil && c.fast == fastBytes && !c.list {
			c.usePage(p, d)
			if c.dPos < len(c.dDefs) {
				return true, nil
			}
			continue
		}
		c.dict = nil
		c.vr = p.Values()
	}
	return true, nil
}

// usePage reads dictionary-encoded page p by its indexes: a value is the
// dictionary entry's bytes, and its categorical id (when the Batcher
// asked for ids) is computed once per entry of the row group's dictionary.
func (c *pqColumn) usePage(p parquet.Page, d parquet.Dictionary) {
	if d != c.dictOf {
		c.dictOf = d
		c.dictBuf, c.dictEnds = c.dictBuf[:0], c.dictEnds[:0]
		for k := range d.Len() {
			c.dictBuf = append(c.dictBuf, d.Index(int32(k)).ByteArray()...)
			c.dictEnds = append(c.dictEnds, int32(len(c.dictBuf)))
		}
		c.memo = c.memo[:0]
		for range d.Len() {
			c.memo = append(c.memo, -1)
		}
	}
	c.dict = d
	data := p.Data()
	c.dIdx = data.Int32()
	c.dDefs = p.DefinitionLevels()
	if c.dDefs == nil { // a required column: every value present
		c.dDefs = c.present[:0]
		for range p.NumValues() {
			c.dDefs = append(c.dDefs, byte(c.maxDef))
		}
		c.present = c.dDefs
	}
	c.dPos, c.dI = 0, 0
	c.pos, c.n = 0, 0
}

// dictCell returns dictionary entry k's bytes.
func (c *pqColumn) dictCell(k int32) []byte {
	start := int32(0)
	if k > 0 {
		start = c.dictEnds[k-1]
	}
	return c.dictBuf[start:c.dictEnds[k]]
}

// Next returns the next row that passes the filter, or io.EOF. A read
// error (a damaged page, a truncated file) is a *RowError naming the row
// group, row and column; reading stops there.
func (r *ParquetReader) Next() (rec [][]byte, err error) {
	if r.err != nil {
		return nil, r.err
	}
	for {
		if r.chunkAt == r.chunkN {
			if err := r.nextChunk(); err != nil {
				return nil, err
			}
			continue
		}
		k := r.chunkAt
		r.chunkAt++
		r.cur = r.chunkRow + int64(k)
		if r.filter != nil && !r.filter(r.cur) {
			continue
		}
		for i := range r.cols {
			c := &r.cols[i]
			start := int32(0)
			if k > 0 {
				start = c.ends[k-1]
			}
			e := c.ends[k]
			r.rec[c.cell] = c.buf[start:e:e]
			if c.ids != nil {
				id := int32(-1)
				if key := c.keys[k]; key >= 0 {
					if id = c.memo[key]; id < 0 {
						if v, ok := c.ids(c.dictCell(key)); ok {
							id, c.memo[key] = v, v
						}
					}
				}
				r.idOut[c.cell] = id
			}
		}
		return r.rec, nil
	}
}

// nextChunk decodes the next pqValues rows (fewer at the end of a row
// group) of every projected column.
func (r *ParquetReader) nextChunk() (err error) {
	defer func() { // a damaged page must be an error, never a panic
		if p := recover(); p != nil {
			r.err = r.errAt(r.row+1, fmt.Errorf("damaged data: %v", p))
			err = r.err
		}
	}()
	for r.row >= r.groupEnd {
		if err := r.nextGroup(); err != nil {
			if err == io.EOF && r.row != r.pf.NumRows() {
				r.err = r.errAt(r.row, fmt.Errorf("the row groups hold %d rows, the footer says %d", r.row, r.pf.NumRows()))
				return r.err
			}
			return err
		}
	}
	m := int(min(int64(pqValues), r.groupEnd-r.row))
	for i := range r.cols {
		c := &r.cols[i]
		c.buf, c.ends, c.keys = c.buf[:0], c.ends[:0], c.keys[:0]
		var err error
		if c.list {
			err = r.decodeList(c, m)
		} else {
			err = r.decodeFlat(c, m)
		}
		if err != nil {
			return err
		}
	}
	r.chunkRow, r.chunkAt, r.chunkN = r.row, 0, m
	r.row += int64(m)
	return nil
}

// decodeFlat decodes the next m values of flat column c into its cells.
func (r *ParquetReader) decodeFlat(c *pqColumn, m int) error {
	for len(c.ends) < m {
		ok, err := r.fill(c)
		if err != nil {
			return err
		}
		if !ok {
			return r.failAt(c, r.row+int64(len(c.ends))+1, fmt.Errorf("no value for the row (the row group holds %d rows)", r.groupEnd-r.groupStart[r.group]))
		}
		if c.dict != nil {
			r.decodeDict(c, m)
			continue
		}
		for len(c.keys) < len(c.ends)+min(c.n-c.pos, m-len(c.ends)) {
			c.keys = append(c.keys, -1)
		}
		run := c.vals[c.pos:min(c.n, c.pos+m-len(c.ends))]
		c.pos += len(run)
		buf, ends := c.buf, c.ends
		switch c.fast {
		case fastBytes:
			for i := range run {
				if !run[i].IsNull() {
					buf = append(buf, run[i].ByteArray()...)
				}
				ends = append(ends, int32(len(buf)))
			}
		case fastInt64:
			for i := range run {
				if !run[i].IsNull() {
					buf = strconv.AppendInt(buf, run[i].Int64(), 10)
				}
				ends = append(ends, int32(len(buf)))
			}
		case fastInt32:
			for i := range run {
				if !run[i].IsNull() {
					buf = strconv.AppendInt(buf, int64(run[i].Int32()), 10)
				}
				ends = append(ends, int32(len(buf)))
			}
		default:
			for i := range run {
				if !run[i].IsNull() {
					buf = c.format(buf, run[i])
				}
				ends = append(ends, int32(len(buf)))
			}
		}
		c.buf, c.ends = buf, ends
	}
	return nil
}

// decodeDict decodes rows of a dictionary page until the chunk holds m
// rows or the page ends.
func (r *ParquetReader) decodeDict(c *pqColumn, m int) {
	buf, ends, keys := c.buf, c.ends, c.keys
	defs, idx, max := c.dDefs, c.dIdx, byte(c.maxDef)
	i, j := c.dPos, c.dI
	for len(ends) < m && i < len(defs) {
		k := int32(-1)
		if defs[i] == max {
			k = idx[j]
			j++
			buf = append(buf, c.dictCell(k)...)
		}
		i++
		ends = append(ends, int32(len(buf)))
		keys = append(keys, k)
	}
	c.dPos, c.dI = i, j
	c.buf, c.ends, c.keys = buf, ends, keys
}

// setIDs makes the reader give, with every row, the categorical id of the
// cells of the columns fns has a function for (see feature.Pipeline.ColumnIDs)
// where it can compute it once per dictionary entry; ids returns them.
func (r *ParquetReader) setIDs(fns []func([]byte) (int32, bool)) {
	r.idOut = make([]int32, len(r.columns))
	for i := range r.idOut {
		r.idOut[i] = -1
	}
	for i := range r.cols {
		c := &r.cols[i]
		if c.cell < len(fns) && c.fast == fastBytes && !c.list {
			c.ids = fns[c.cell]
		}
	}
}

// ids returns the ids of the last row's cells (-1: not known), or nil
// when setIDs was not called.
func (r *ParquetReader) ids() []int32 { return r.idOut }

// decodeList decodes the next m rows of list column c: the values up to
// the next one that starts a row (repetition level 0), joined by the
// separator; a null or empty list is one null value.
func (r *ParquetReader) decodeList(c *pqColumn, m int) error {
	for len(c.ends) < m {
		ok, err := r.fill(c)
		if err != nil {
			return err
		}
		if !ok {
			return r.failAt(c, r.row+int64(len(c.ends))+1, fmt.Errorf("no value for the row (the row group holds %d rows)", r.groupEnd-r.groupStart[r.group]))
		}
		start, first := len(c.buf), true
		for {
			if !first {
				ok, err := r.fill(c)
				if err != nil {
					return err
				}
				if !ok || c.vals[c.pos].RepetitionLevel() == 0 {
					break
				}
			}
			first = false
			v := c.vals[c.pos]
			c.pos++
			if v.IsNull() {
				continue
			}
			if len(c.buf) > start {
				c.buf = append(c.buf, c.sep...)
			}
			el := len(c.buf)
			c.buf = c.format(c.buf, v)
			if strings.Contains(bstr(c.buf[el:]), c.sep) {
				return r.failAt(c, r.row+int64(len(c.ends))+1, fmt.Errorf("list element %q holds the separator %q: %w", c.buf[el:], c.sep, ErrBadRow))
			}
		}
		c.ends = append(c.ends, int32(len(c.buf)))
	}
	return nil
}
