package data

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
)

// ParquetKind is the type of a written Parquet column.
type ParquetKind int

const (
	// ParquetString is a dictionary-encoded UTF-8 string column.
	ParquetString ParquetKind = iota
	// ParquetInt64 is a 64-bit integer column.
	ParquetInt64
	// ParquetDouble is a 64-bit float column.
	ParquetDouble
)

// ParquetCodecs are the page compressions a ParquetWriter can use.
var ParquetCodecs = map[string]compress.Codec{
	"snappy": &parquet.Snappy, "zstd": &parquet.Zstd, "gzip": &parquet.Gzip, "none": &parquet.Uncompressed,
}

// ParquetWriterRowGroup is the number of rows of a written row group.
const ParquetWriterRowGroup = 1 << 17

// ParquetWriter writes rows of text cells as a Parquet file with optional
// typed columns (an empty cell is a null), one row group per
// ParquetWriterRowGroup rows, so its memory is that of one row group.
type ParquetWriter struct {
	w     *parquet.Writer
	kinds []ParquetKind
	names []string
	leaf  []int // leaf column of each input column
	rows  []parquet.Row
	n     int64
}

// NewParquetWriter writes a Parquet file of the given columns to w with
// codec (a key of ParquetCodecs).
func NewParquetWriter(w io.Writer, names []string, kinds []ParquetKind, codec string) (*ParquetWriter, error) {
	c, ok := ParquetCodecs[codec]
	if !ok {
		return nil, fmt.Errorf("data: parquet codec %q: want snappy, zstd, gzip or none", codec)
	}
	if len(names) != len(kinds) || len(names) == 0 {
		return nil, errors.New("data: parquet writer: one kind per column")
	}
	g := parquet.Group{}
	for i, n := range names {
		var node parquet.Node
		switch kinds[i] {
		case ParquetInt64:
			node = parquet.Int(64)
		case ParquetDouble:
			node = parquet.Leaf(parquet.DoubleType)
		default:
			node = parquet.Encoded(parquet.String(), &parquet.RLEDictionary)
		}
		if _, dup := g[n]; dup {
			return nil, fmt.Errorf("data: parquet writer: column %q twice", n)
		}
		g[n] = parquet.Optional(node)
	}
	schema := parquet.NewSchema("row", orderedGroup{g, names})
	pw := &ParquetWriter{kinds: kinds, names: names, leaf: make([]int, len(names))}
	for i, n := range names {
		lc, _ := schema.Lookup(n)
		pw.leaf[i] = lc.ColumnIndex
	}
	pw.w = parquet.NewWriter(w, schema, parquet.Compression(c), parquet.MaxRowsPerRowGroup(ParquetWriterRowGroup))
	return pw, nil
}

// orderedGroup is a parquet.Group whose fields keep the given order (a
// Group sorts them by name), so a written file has its columns in the
// order of the text it came from.
type orderedGroup struct {
	parquet.Group
	order []string
}

func (g orderedGroup) Fields() []parquet.Field {
	fields := g.Group.Fields()
	out := make([]parquet.Field, 0, len(fields))
	for _, n := range g.order {
		for _, f := range fields {
			if f.Name() == n {
				out = append(out, f)
			}
		}
	}
	return out
}

// Write writes one row of cells (in the column order given to
// NewParquetWriter).
func (pw *ParquetWriter) Write(cells [][]byte) error {
	if len(cells) != len(pw.kinds) {
		return fmt.Errorf("data: parquet writer: %d cells for %d columns", len(cells), len(pw.kinds))
	}
	var row parquet.Row
	if len(pw.rows) < cap(pw.rows) {
		row = pw.rows[:len(pw.rows)+1][len(pw.rows)][:0]
	}
	for i, c := range cells {
		v := parquet.NullValue()
		if len(c) > 0 {
			switch pw.kinds[i] {
			case ParquetInt64:
				x, err := strconv.ParseInt(bstr(c), 10, 64)
				if err != nil {
					return fmt.Errorf("data: parquet writer: row %d, column %q: %q is not an integer", pw.n+1, pw.names[i], c)
				}
				v = parquet.Int64Value(x)
			case ParquetDouble:
				x, err := strconv.ParseFloat(bstr(c), 64)
				if err != nil {
					return fmt.Errorf("data: parquet writer: row %d, column %q: %q is not a number", pw.n+1, pw.names[i], c)
				}
				v = parquet.DoubleValue(x)
			default:
				v = parquet.ByteArrayValue(bytes.Clone(c))
			}
			v = v.Level(0, 1, pw.leaf[i])
		} else {
			v = v.Level(0, 0, pw.leaf[i])
		}
		row = append(row, v)
	}
	pw.rows = append(pw.rows, row)
	pw.n++
	if len(pw.rows) == 1024 {
		return pw.flushRows()
	}
	return nil
}

func (pw *ParquetWriter) flushRows() error {
	// WriteRows wants the values of a row in leaf order.
	for _, r := range pw.rows {
		sortByColumn(r)
	}
	if _, err := pw.w.WriteRows(pw.rows); err != nil {
		return fmt.Errorf("data: parquet writer: %w", err)
	}
	pw.rows = pw.rows[:0]
	return nil
}

func sortByColumn(r parquet.Row) {
	for i := 1; i < len(r); i++ {
		for j := i; j > 0 && r[j].Column() < r[j-1].Column(); j-- {
			r[j], r[j-1] = r[j-1], r[j]
		}
	}
}

// Rows returns the rows written.
func (pw *ParquetWriter) Rows() int64 { return pw.n }

// Close writes the last rows and the footer (it does not close w).
func (pw *ParquetWriter) Close() error {
	if err := pw.flushRows(); err != nil {
		return err
	}
	if err := pw.w.Close(); err != nil {
		return fmt.Errorf("data: parquet writer: %w", err)
	}
	return nil
}

// ParquetShards is an io.Writer that takes a CSV stream (a header line,
// then rows; comma-separated, no quoting) and writes its rows as Parquet
// shards: shard k of n gets rows [k·rows/n, (k+1)·rows/n). create opens
// the file of shard k. Memory is one row group per open shard (one at a
// time), whatever the number of rows.
type ParquetShards struct {
	create  func(k int) (io.Writer, error)
	kinds   map[string]ParquetKind
	codec   string
	rows    int64
	n       int
	columns []string
	line    []byte
	cells   [][]byte
	shard   int
	w       *ParquetWriter
	seen    int64 // data rows received
}

// NewParquetShards returns a ParquetShards for rows data rows cut into n
// shards; columns not in kinds are strings.
func NewParquetShards(rows int64, n int, kinds map[string]ParquetKind, codec string, create func(k int) (io.Writer, error)) (*ParquetShards, error) {
	if n < 1 || int64(n) > rows {
		return nil, fmt.Errorf("data: %d shards for %d rows: want 1 to %d", n, rows, rows)
	}
	if _, ok := ParquetCodecs[codec]; !ok {
		return nil, fmt.Errorf("data: parquet codec %q: want snappy, zstd, gzip or none", codec)
	}
	return &ParquetShards{create: create, kinds: kinds, codec: codec, rows: rows, n: n, shard: -1}, nil
}

// end returns the first row after shard k.
func (s *ParquetShards) end(k int) int64 { return int64(k+1) * s.rows / int64(s.n) }

// Write consumes CSV text; rows may be cut anywhere.
func (s *ParquetShards) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.line = append(s.line, p...)
			break
		}
		line := p[:i]
		if len(s.line) > 0 {
			s.line = append(s.line, line...)
			line = s.line
		}
		if err := s.row(line); err != nil {
			return 0, err
		}
		s.line = s.line[:0]
		p = p[i+1:]
	}
	return n, nil
}

func (s *ParquetShards) row(line []byte) error {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if s.columns == nil {
		for c := range bytes.SplitSeq(line, []byte{','}) {
			s.columns = append(s.columns, string(c))
		}
		return nil
	}
	if s.w == nil || s.seen == s.end(s.shard) {
		if err := s.closeShard(); err != nil {
			return err
		}
		if s.shard+1 >= s.n {
			return fmt.Errorf("data: parquet shards: more than the %d rows announced", s.rows)
		}
		s.shard++
		w, err := s.create(s.shard)
		if err != nil {
			return err
		}
		kinds := make([]ParquetKind, len(s.columns))
		for i, c := range s.columns {
			kinds[i] = s.kinds[c]
		}
		if s.w, err = NewParquetWriter(w, s.columns, kinds, s.codec); err != nil {
			return err
		}
	}
	s.cells = s.cells[:0]
	for c := range bytes.SplitSeq(line, []byte{','}) {
		s.cells = append(s.cells, c)
	}
	s.seen++
	return s.w.Write(s.cells)
}

func (s *ParquetShards) closeShard() error {
	if s.w == nil {
		return nil
	}
	err := s.w.Close()
	s.w = nil
	return err
}

// Close finishes the last shard; every announced row must have come.
func (s *ParquetShards) Close() error {
	if len(s.line) > 0 {
		if err := s.row(s.line); err != nil {
			return err
		}
		s.line = s.line[:0]
	}
	if err := s.closeShard(); err != nil {
		return err
	}
	if s.seen != s.rows || s.shard != s.n-1 {
		return fmt.Errorf("data: parquet shards: %d rows in %d shards, announced %d in %d", s.seen, s.shard+1, s.rows, s.n)
	}
	return nil
}
