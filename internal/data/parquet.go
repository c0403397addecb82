package data

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding"
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

	// A flat column of a fast kind is read in bulk (see decodeBulk): the
	// current page's definition levels and present values in place, by
	// dictionary index on a dictionary-encoded page.
	bulk    bool
	pdefs   []byte // definition level of each value of the page
	present []byte // pdefs of a required column's page (every value present)
	pAt, pV int    // next value (row) of the page, next present value
	pDict   bool   // the page holds dictionary indexes (pIdx)
	pIdx    []int32
	pBytes  []byte
	pOffs   []uint32
	pI64    []int64
	pI32    []int32
	pF64    []float64

	// The dictionary of the row group's column chunk: each entry's cell,
	// its number (NaN: none) and, when ids is set, its categorical id (-1:
	// refused, so the pipeline looks the cell up and reports it).
	dictOf    parquet.Dictionary
	dictBuf   []byte
	dictCells [][]byte
	dictNum   []float64
	dictID    []int32
	ids       func([]byte) (int32, bool)
	wantNum   bool // give the number of each value (ParquetReader.setNums)

	// The chunk's rows of this column: cells, ids (when ids is set) and
	// numbers (when wantNum), written in order and gathered by Next.
	out    [][]byte
	outID  []int32
	outNum []float64

	buf  []byte  // the cells of the current chunk, back to back
	ends []int32 // end of each row's cell in buf (columns not read in bulk)

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
	// Next gathers row k of the chunk from the columns' out, outID and
	// outNum into rec, idOut (when setIDs was called) and numOut (setNums);
	// the cells of columns not read stay empty, their ids -1 and numbers NaN.
	gCells   []gather[[]byte]
	gIDs     []gather[int32]
	gNums    []gather[float64]
	idOut    []int32
	numOut   []float64
	rec      [][]byte
	err      error
	progress func(int64)
}

// gather is where Next finds a cell (an id, a number) of the chunk's rows:
// the cell index in the record and the column's out (outID, outNum).
type gather[T any] struct {
	cell int
	rows []T
}

// pqValues is the number of values decoded at a time from a column read
// value by value (a list, or a type without a bulk path).
const pqValues = 512

// pqRows is the number of rows decoded per column at a time.
const pqRows = 256

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
		c.bulk = !c.list && c.fast != fastNone
		r.cols = append(r.cols, c)
	}
	var start int64
	for _, g := range pf.RowGroups() {
		r.groupStart = append(r.groupStart, start)
		start += g.NumRows()
	}
	r.rec = make([][]byte, len(r.columns))
	for i := range r.rec {
		r.rec[i] = emptyCell // columns not read: empty cells
	}
	for i := range r.cols {
		c := &r.cols[i]
		c.out = make([][]byte, pqRows)
		r.gCells = append(r.gCells, gather[[]byte]{c.cell, c.out})
	}
	return r, nil
}

// emptyCell is the cell of a null and of a column not read.
var emptyCell = []byte{}

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
	fastDouble
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
	case t.Kind() == parquet.Double && lt == nil:
		return f, fastDouble, nil
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
	r.cols, r.rec, r.idOut, r.numOut, r.pf = nil, nil, nil, nil, nil
	r.gCells, r.gIDs, r.gNums = nil, nil, nil
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
		c.vr, c.dictOf = nil, nil
		c.dropPage()
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
		c.page, c.vr, c.pos, c.n, c.done = nil, nil, 0, 0, false
		c.dropPage()
		if c.bulk {
			continue
		}
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
		c.page, c.vr = p, p.Values()
	}
	return true, nil
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
		for _, g := range r.gCells {
			r.rec[g.cell] = g.rows[k]
		}
		for _, g := range r.gIDs {
			r.idOut[g.cell] = g.rows[k]
		}
		for _, g := range r.gNums {
			r.numOut[g.cell] = g.rows[k]
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
	m := int(min(int64(pqRows), r.groupEnd-r.row))
	for i := range r.cols {
		c := &r.cols[i]
		c.buf, c.ends = c.buf[:0], c.ends[:0]
		var err error
		switch {
		case c.bulk:
			err = r.decodeBulk(c, m)
		case c.list:
			err = r.decodeList(c, m)
		default:
			err = r.decodeFlat(c, m)
		}
		if err != nil {
			return err
		}
		if c.bulk {
			continue
		}
		start := int32(0)
		for k, e := range c.ends {
			c.out[k] = c.buf[start:e:e]
			start = e
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
		run := c.vals[c.pos:min(c.n, c.pos+m-len(c.ends))]
		c.pos += len(run)
		buf, ends := c.buf, c.ends
		for i := range run {
			if !run[i].IsNull() {
				buf = c.format(buf, run[i])
			}
			ends = append(ends, int32(len(buf)))
		}
		c.buf, c.ends = buf, ends
	}
	return nil
}

// dropPage forgets the bulk state of the page read last.
func (c *pqColumn) dropPage() {
	c.pdefs, c.pAt, c.pV, c.pDict = nil, 0, 0, false
	c.pIdx, c.pBytes, c.pOffs, c.pI64, c.pI32, c.pF64 = nil, nil, nil, nil, nil, nil
}

// nextPage reads the next page of bulk column c (k rows into the chunk);
// false at the end of the row group.
func (r *ParquetReader) nextPage(c *pqColumn, k int) (bool, error) {
	if c.page != nil {
		parquet.Release(c.page) // its values are consumed
		c.page = nil
	}
	c.dropPage()
	if c.done {
		return false, nil
	}
	p, err := c.pages.ReadPage()
	if err == io.EOF {
		c.done = true
		return false, nil
	}
	if err != nil {
		return false, r.failAt(c, r.row+int64(k)+1, fmt.Errorf("read page: %w", err))
	}
	c.page = p
	defs := p.DefinitionLevels()
	if defs == nil { // a required column: every value present
		defs = c.present[:0]
		for range p.NumValues() {
			defs = append(defs, byte(c.maxDef))
		}
		c.present = defs
	}
	present := 0
	for _, d := range defs {
		if int(d) == c.maxDef {
			present++
		}
	}
	data := p.Data()
	want, n := encoding.Int32, 0
	if d := p.Dictionary(); d != nil {
		if data.Kind() == want {
			c.useDict(d)
			c.pDict, c.pIdx = true, data.Int32()
			n = len(c.pIdx)
		}
	} else {
		switch c.fast {
		case fastBytes:
			if want = encoding.ByteArray; data.Kind() == want {
				c.pBytes, c.pOffs = data.ByteArray()
				n = max(len(c.pOffs)-1, 0)
			}
		case fastInt64:
			if want = encoding.Int64; data.Kind() == want {
				c.pI64 = data.Int64()
				n = len(c.pI64)
			}
		case fastInt32:
			if want = encoding.Int32; data.Kind() == want {
				c.pI32 = data.Int32()
				n = len(c.pI32)
			}
		case fastDouble:
			if want = encoding.Double; data.Kind() == want {
				c.pF64 = data.Double()
				n = len(c.pF64)
			}
		}
	}
	if data.Kind() != want {
		return false, r.failAt(c, r.row+int64(k)+1, fmt.Errorf("a page of %s values, want %s", data.Kind(), want))
	}
	if n != present {
		return false, r.failAt(c, r.row+int64(k)+1, fmt.Errorf("damaged page: %d values for %d present rows", n, present))
	}
	c.pdefs = defs
	return true, nil
}

// useDict makes d, the dictionary of the row group's column chunk, the
// one that indexes of c's pages refer to: each entry's cell and number
// are computed once for the chunk, and its id (see id) on first use.
func (c *pqColumn) useDict(d parquet.Dictionary) {
	if d == c.dictOf {
		return
	}
	c.dictOf = d
	n := d.Len()
	c.dictBuf, c.dictNum = c.dictBuf[:0], c.dictNum[:0]
	ends := make([]int, 0, n)
	for k := range n {
		v := d.Index(int32(k))
		c.dictBuf = c.format(c.dictBuf, v)
		ends = append(ends, len(c.dictBuf))
		c.dictNum = append(c.dictNum, c.number(v))
	}
	c.dictCells = c.dictCells[:0]
	start := 0
	for _, e := range ends {
		c.dictCells = append(c.dictCells, c.dictBuf[start:e:e])
		start = e
	}
	c.dictIDs()
}

// dictIDs computes the id of every dictionary entry (when ids is set):
// once per row group, at most one look-up per row.
func (c *pqColumn) dictIDs() {
	c.dictID = c.dictID[:0]
	if c.ids == nil {
		return
	}
	for _, cell := range c.dictCells {
		id, ok := c.ids(cell)
		if !ok {
			id = -1
		}
		c.dictID = append(c.dictID, id)
	}
}

// number returns the raw numeric value of a value of c (NaN when it has
// none that its text would parse to: a string, a null, a float NaN or Inf).
func (c *pqColumn) number(v parquet.Value) float64 {
	if v.IsNull() {
		return math.NaN()
	}
	switch c.fast {
	case fastInt64:
		return float64(v.Int64())
	case fastInt32:
		return float64(v.Int32())
	case fastDouble:
		return finite(v.Double())
	}
	return math.NaN()
}

func finite(x float64) float64 {
	if math.IsInf(x, 0) {
		return math.NaN()
	}
	return x
}

// spread fills dst for a run of rows of a page: get(v) for a row with a
// value (its definition level is top), v counting the page's values from
// v0, and none for a null. It returns the index of the next value.
func spread[T any](dst []T, defs []byte, top byte, v0 int, none T, get func(v int) T) int {
	v := v0
	for j, d := range defs {
		if d != top {
			dst[j] = none
			continue
		}
		dst[j] = get(v)
		v++
	}
	return v
}

// spreadText is spread for the cells of a run: a row's value is appended
// to buf by add and its cell is that part of buf (a null is the empty
// cell). It returns the next value's index and the grown buf.
func spreadText(out [][]byte, defs []byte, top byte, v0 int, buf []byte, add func(buf []byte, v int) []byte) (int, []byte) {
	v := v0
	for j, d := range defs {
		if d != top {
			out[j] = emptyCell
			continue
		}
		b := len(buf)
		buf = add(buf, v)
		out[j] = buf[b:len(buf):len(buf)]
		v++
	}
	return v, buf
}

// decodeBulk decodes the next m rows of bulk column c straight from its
// pages' value arrays into the chunk: a dictionary entry's cell is shared
// by its rows, not copied, and its id and number come from the entry; a
// plain value is copied (its page is released once read) or formatted,
// and its number is the value itself. A null is the empty cell, id -1
// and number NaN (missing, by the cell).
func (r *ParquetReader) decodeBulk(c *pqColumn, m int) error {
	top := byte(c.maxDef)
	for k := 0; k < m; {
		if c.pAt == len(c.pdefs) {
			ok, err := r.nextPage(c, k)
			if err != nil {
				return err
			}
			if !ok {
				return r.failAt(c, r.row+int64(k)+1, fmt.Errorf("no value for the row (the row group holds %d rows)", r.groupEnd-r.groupStart[r.group]))
			}
			continue
		}
		n := min(m-k, len(c.pdefs)-c.pAt)
		defs := c.pdefs[c.pAt : c.pAt+n]
		out := c.out[k : k+n]
		var ids []int32
		var nums []float64
		if c.ids != nil {
			ids = c.outID[k : k+n]
		}
		if c.wantNum {
			nums = c.outNum[k : k+n]
		}
		v0, v := c.pV, 0
		buf := c.buf
		switch {
		case c.pDict:
			idx := c.pIdx
			v = spread(out, defs, top, v0, emptyCell, func(v int) []byte { return c.dictCells[idx[v]] })
			if ids != nil {
				spread(ids, defs, top, v0, -1, func(v int) int32 { return c.dictID[idx[v]] })
			}
			if nums != nil {
				spread(nums, defs, top, v0, math.NaN(), func(v int) float64 { return c.dictNum[idx[v]] })
			}
		case c.fast == fastBytes:
			v, buf = spreadText(out, defs, top, v0, buf, func(b []byte, v int) []byte { return append(b, c.pBytes[c.pOffs[v]:c.pOffs[v+1]]...) })
		case c.fast == fastInt64:
			v, buf = spreadText(out, defs, top, v0, buf, func(b []byte, v int) []byte { return strconv.AppendInt(b, c.pI64[v], 10) })
			if nums != nil {
				spread(nums, defs, top, v0, math.NaN(), func(v int) float64 { return float64(c.pI64[v]) })
			}
		case c.fast == fastInt32:
			v, buf = spreadText(out, defs, top, v0, buf, func(b []byte, v int) []byte { return strconv.AppendInt(b, int64(c.pI32[v]), 10) })
			if nums != nil {
				spread(nums, defs, top, v0, math.NaN(), func(v int) float64 { return float64(c.pI32[v]) })
			}
		default: // fastDouble
			v, buf = spreadText(out, defs, top, v0, buf, func(b []byte, v int) []byte { return strconv.AppendFloat(b, c.pF64[v], 'g', -1, 64) })
			if nums != nil {
				spread(nums, defs, top, v0, math.NaN(), func(v int) float64 { return finite(c.pF64[v]) })
			}
		}
		if ids != nil && !c.pDict {
			for j := range ids {
				ids[j] = -1
			}
		}
		c.buf = buf
		c.pV = v
		c.pAt += n
		k += n
	}
	return nil
}

// setIDs makes the reader give, with every row, the categorical id of the
// cells of the columns fns has a function for (see feature.Pipeline.ColumnIDs)
// where it can compute it once per dictionary entry; ids returns them.
func (r *ParquetReader) setIDs(fns []func([]byte) (int32, bool)) {
	r.idOut = make([]int32, len(r.columns))
	for i := range r.idOut {
		r.idOut[i] = -1
	}
	r.gIDs = r.gIDs[:0]
	for i := range r.cols {
		c := &r.cols[i]
		c.ids, c.outID = nil, nil
		if c.cell < len(fns) && fns[c.cell] != nil && c.bulk {
			c.ids = fns[c.cell]
			c.outID = make([]int32, pqRows)
			for k := range c.outID {
				c.outID[k] = -1 // the rows of the chunk decoded already
			}
			r.gIDs = append(r.gIDs, gather[int32]{c.cell, c.outID})
		}
		c.dictIDs()
	}
}

// ids returns the ids of the last row's cells (-1: not known), or nil
// when setIDs was not called.
func (r *ParquetReader) ids() []int32 { return r.idOut }

// setNums makes the reader give, with every row, the number of the cells
// of the integer and float columns cols marks (see
// feature.Pipeline.ColumnNumbers); nums returns them.
func (r *ParquetReader) setNums(cols []bool) {
	r.numOut = make([]float64, len(r.columns))
	for i := range r.numOut {
		r.numOut[i] = math.NaN()
	}
	r.gNums = r.gNums[:0]
	for i := range r.cols {
		c := &r.cols[i]
		numeric := c.fast == fastInt64 || c.fast == fastInt32 || c.fast == fastDouble
		c.wantNum, c.outNum = c.cell < len(cols) && cols[c.cell] && c.bulk && numeric, nil
		if c.wantNum {
			c.outNum = make([]float64, pqRows)
			for k := range c.outNum {
				c.outNum[k] = math.NaN() // the rows of the chunk decoded already
			}
			r.gNums = append(r.gNums, gather[float64]{c.cell, c.outNum})
		}
	}
}

// nums returns the numbers of the last row's cells (NaN: not known), or
// nil when setNums was not called.
func (r *ParquetReader) nums() []float64 { return r.numOut }

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
