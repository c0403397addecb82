// Package data streams dataset files: a CSV/TSV record reader (gzip
// transparent, quoted fields, multi-character separators), a Parquet
// reader (ParquetReader) and writer, a batcher that applies a
// feature.Pipeline into reusable batches with an optional deterministic
// shuffle buffer, pipeline fitting, splits, and dataset inspection. Memory
// does not grow with the file size.
//
// # Inputs
//
// Every pass reads a data argument as Expand turns it into files: one
// path, a comma-separated list, globs and directories, in a deterministic
// order; all must have the same columns. A file named *.parquet (or any
// file, under a schema with format type parquet) is read as Parquet:
// only the columns the schema uses (non-ignored fields, labels, group_by,
// a split column) are decoded, one row group at a time in chunks of 256
// rows per column; values become the cells a text file would hold (nulls
// empty, so missing; integers in decimal; floats in shortest form;
// booleans 1/0; dates YYYY-MM-DD; a LIST column of a multi-valued field
// joined by its separator), so both formats give the same fit and the same
// batches. Flat string, signed integer and double columns are read in bulk
// from their pages' value arrays; a dictionary-encoded page by index, with
// each dictionary entry's cell and the pipeline's id of it computed once
// (feature.Pipeline.ColumnIDs). The Batcher also takes the numbers of
// integer and double columns as they are, without parsing their cells
// (feature.Pipeline.TransformRowValues). Snappy, zstd, gzip and uncompressed pages
// are read. A damaged or truncated file, a column of a type without a text
// form (a struct, a map, a decimal) or a LIST for a field that is not
// multi-valued, and a numeric field over binary values are errors naming
// the file, row group, row and column (RowError), never panics.
//
// With a shuffle buffer the Batcher reads the files in an order drawn from
// its seed (a new order each epoch), and the buffer mixes rows across file
// boundaries. A random split's row key is the row index within its file
// plus the file's position in the list (SourceOptions.Filter), so a split
// does not depend on the file order of an epoch. A ColumnRange keeps the
// rows of a time range (TimeSplit: train before t₁, validation up to t₂,
// test after).
//
// # Fitting over shards
//
// Fit fits several files in parallel, one feature.Fitter per file, merged
// in file order; merged fits equal the fit of the concatenated rows (see
// feature.Fitter.Merge), and a Fitter saved with MarshalState is the fit
// file of `dcrnn fit`.
package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unsafe"

	"github.com/dcrnn/dcrnn/internal/feature"
)

// ErrBadRow marks a malformed row; it is feature.ErrBadRow.
var ErrBadRow = feature.ErrBadRow

// utf8BOM is the byte order mark some editors and exporters write at the
// start of a UTF-8 file; the readers drop it there.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// MaxRecordBytes bounds one record (a quoted field may span lines); a longer
// record is an error rather than unbounded memory.
const MaxRecordBytes = 64 << 20

// RowError is an error located in a data file: a line of a text file, or
// a row (and its row group) of a Parquet file.
type RowError struct {
	File string
	Line int64 // text: 1-based physical line where the record starts
	// Row is the 1-based row of a Parquet file (0 for a text file), Group
	// the 0-based row group holding it.
	Row   int64
	Group int
	Err   error // often a *feature.FieldError naming the column
}

func (e *RowError) Error() string {
	if e.Row > 0 {
		return fmt.Sprintf("%s: row group %d, row %d: %v", e.File, e.Group, e.Row, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

// Unwrap returns the underlying error.
func (e *RowError) Unwrap() error { return e.Err }

// ReaderOptions configures a Reader.
type ReaderOptions struct {
	// Separator splits columns; it may have several bytes. Default ",".
	Separator string
	// Quote is the quote byte; 0 turns quoting off.
	Quote byte
	// Header says the first record holds the column names.
	Header bool
	// Columns names the columns (required without Header; checked against the
	// header with it).
	Columns []string
	// Filter, when set, keeps only data rows for which it returns true;
	// rowIndex is the 0-based index of the data row (header excluded, blank
	// lines not counted). Skipped rows are not validated.
	Filter func(rowIndex int64) bool
	// Progress, when set, receives the bytes read from the file (before
	// decompression) as they are read (Open only).
	Progress func(bytes int64)
}

// OptionsFor returns ReaderOptions for a schema format.
func OptionsFor(f feature.Format) ReaderOptions {
	return ReaderOptions{Separator: f.Separator, Quote: f.QuoteChar(), Header: f.Header, Columns: f.Columns}
}

// Reader streams the records of a CSV/TSV file. Each record is a slice of
// trimmed cells that stays valid until the next call to Next.
type Reader struct {
	name    string
	opt     ReaderOptions
	sep     []byte
	columns []string
	closer  []io.Closer

	br     *bufio.Reader
	line   []byte
	fields [][]byte
	lineNo int64 // physical lines consumed
	start  int64 // line of the current record
	row    int64 // index of the next data row
	cur    int64 // index of the current row
	err    error
}

// Open opens a file (gzip detected by its magic bytes) for reading with the
// given options. A UTF-8 byte order mark at the start of the (decompressed)
// text is dropped.
func Open(path string, opt ReaderOptions) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var in io.Reader = f
	if opt.Progress != nil {
		in = &countingReader{r: f, fn: opt.Progress}
	}
	r, err := NewReader(in, path, opt)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = append(r.closer, f)
	return r, nil
}

// NewReader reads records from r (gzip detected by its magic bytes; a
// leading UTF-8 byte order mark dropped); name is used in error messages.
// With Header it reads the header now.
func NewReader(r io.Reader, name string, opt ReaderOptions) (*Reader, error) {
	if opt.Separator == "" {
		opt.Separator = ","
	}
	if strings.ContainsAny(opt.Separator, "\r\n") || (opt.Quote != 0 && strings.IndexByte(opt.Separator, opt.Quote) >= 0) {
		return nil, fmt.Errorf("data: %s: separator %q is unusable (holds a line break or the quote)", name, opt.Separator)
	}
	rd := &Reader{name: name, opt: opt, sep: []byte(opt.Separator)}
	br := bufio.NewReaderSize(r, 1<<18)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("data: %s: gzip: %w", name, err)
		}
		rd.closer = append(rd.closer, zr)
		br = bufio.NewReaderSize(zr, 1<<18)
	}
	if b, _ := br.Peek(len(utf8BOM)); bytes.Equal(b, utf8BOM) {
		br.Discard(len(utf8BOM))
	}
	rd.br = br
	if opt.Header {
		rec, err := rd.record()
		if err == io.EOF {
			return nil, fmt.Errorf("data: %s: empty file, expected a header line", name)
		}
		if err != nil {
			return nil, err
		}
		for _, c := range rec {
			rd.columns = append(rd.columns, string(c))
		}
		if opt.Columns != nil && !slices.Equal(opt.Columns, rd.columns) {
			return nil, &RowError{File: name, Line: rd.start, Err: fmt.Errorf("header %q differs from the schema's format.columns %q", rd.columns, opt.Columns)}
		}
	} else {
		if len(opt.Columns) == 0 {
			return nil, fmt.Errorf("data: %s: a headerless file needs column names", name)
		}
		rd.columns = append([]string(nil), opt.Columns...)
	}
	return rd, nil
}

// Name returns the file name used in errors.
func (r *Reader) Name() string { return r.name }

// Columns returns the column names.
func (r *Reader) Columns() []string { return append([]string(nil), r.columns...) }

// Line returns the 1-based line where the last record returned by Next starts.
func (r *Reader) Line() int64 { return r.start }

// Pos is Line (the position rowSource reports).
func (r *Reader) Pos() int64 { return r.start }

func (r *Reader) errAt(pos int64, err error) *RowError {
	return &RowError{File: r.name, Line: pos, Err: err}
}

func (r *Reader) broken() bool { return r.err != nil }

// Row returns the 0-based data-row index of the last record returned by Next.
func (r *Reader) Row() int64 { return r.cur }

// Close releases the file.
func (r *Reader) Close() error {
	var err error
	for i := len(r.closer) - 1; i >= 0; i-- {
		err = errors.Join(err, r.closer[i].Close())
	}
	r.closer = nil
	// A list of files keeps its closed readers (to locate errors): drop
	// the read buffers, which are most of a reader's memory.
	r.br, r.line, r.fields = nil, nil, nil
	if r.err == nil {
		r.err = fmt.Errorf("data: %s: read after Close", r.name)
	}
	return err
}

// Next returns the next data row that passes the filter, its cells trimmed.
// It returns io.EOF at the end. A row with the wrong number of columns, or
// with a NUL byte in any cell, is a *RowError wrapping ErrBadRow (naming the
// line, and the column for a NUL); reading can continue after it.
func (r *Reader) Next() ([][]byte, error) {
	for {
		if r.err != nil {
			return nil, r.err
		}
		if err := r.readLine(); err != nil {
			return nil, err
		}
		r.cur = r.row
		r.row++
		if r.opt.Filter != nil && !r.opt.Filter(r.cur) {
			if err := r.skipRecord(); err != nil {
				return nil, err
			}
			continue
		}
		rec, err := r.split()
		if err != nil {
			return nil, err
		}
		if len(rec) != len(r.columns) {
			return nil, &RowError{File: r.name, Line: r.start, Err: &feature.FieldError{Column: -1, Value: fmt.Sprintf("%d columns", len(rec)), Expected: fmt.Sprintf("%d columns (separator %q)", len(r.columns), r.opt.Separator), Err: ErrBadRow}}
		}
		// One scan of the record for the rare NUL; only then find its cell
		// (a NUL in a multi-byte separator is in no cell).
		if bytes.IndexByte(r.line, 0) >= 0 {
			for i, c := range rec {
				if bytes.IndexByte(c, 0) >= 0 {
					return nil, &RowError{File: r.name, Line: r.start, Err: &feature.FieldError{Column: i, Name: r.columns[i], Value: string(c), Expected: "a value without NUL bytes", Err: ErrBadRow}}
				}
			}
		}
		return rec, nil
	}
}

// record reads and splits the next record (used for the header).
func (r *Reader) record() ([][]byte, error) {
	if err := r.readLine(); err != nil {
		return nil, err
	}
	return r.split()
}

// readLine reads the next non-blank physical line into r.line.
func (r *Reader) readLine() error {
	for {
		r.line = r.line[:0]
		chunk, err := r.br.ReadSlice('\n')
		for err == bufio.ErrBufferFull {
			r.line = append(r.line, chunk...)
			if len(r.line) > MaxRecordBytes {
				r.err = &RowError{File: r.name, Line: r.lineNo + 1, Err: fmt.Errorf("line longer than %d bytes: %w", MaxRecordBytes, ErrBadRow)}
				return r.err
			}
			chunk, err = r.br.ReadSlice('\n')
		}
		r.line = append(r.line, chunk...)
		if err != nil && err != io.EOF {
			r.err = fmt.Errorf("data: %s:%d: %w", r.name, r.lineNo+1, err)
			return r.err
		}
		if len(r.line) == 0 && err == io.EOF {
			return io.EOF
		}
		r.lineNo++
		r.start = r.lineNo
		r.line = chomp(r.line)
		if !r.blank() {
			return nil
		}
		if err == io.EOF {
			return io.EOF
		}
	}
}

// blank reports a line holding only spaces (and not a record of empty
// cells, as a TSV line of tabs is).
func (r *Reader) blank() bool {
	if r.opt.Separator == " " {
		return len(r.line) == 0
	}
	for _, c := range r.line {
		if c != ' ' {
			return false
		}
	}
	return true
}

func chomp(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// more appends the next physical line (for a quoted field spanning lines).
func (r *Reader) more() error {
	chunk, err := r.br.ReadSlice('\n')
	if len(chunk) == 0 && err != nil {
		if err == io.EOF {
			return &RowError{File: r.name, Line: r.start, Err: fmt.Errorf("unterminated quoted field (end of file): %w", ErrBadRow)}
		}
		return fmt.Errorf("data: %s:%d: %w", r.name, r.lineNo+1, err)
	}
	r.line = append(r.line, '\n')
	for {
		r.line = append(r.line, chunk...)
		if len(r.line) > MaxRecordBytes {
			return &RowError{File: r.name, Line: r.start, Err: fmt.Errorf("unterminated quoted field (record longer than %d bytes): %w", MaxRecordBytes, ErrBadRow)}
		}
		if err != bufio.ErrBufferFull {
			break
		}
		chunk, err = r.br.ReadSlice('\n')
	}
	if err != nil && err != io.EOF {
		return fmt.Errorf("data: %s:%d: %w", r.name, r.lineNo+1, err)
	}
	r.lineNo++
	r.line = chomp(r.line)
	return nil
}

// skipRecord consumes the rest of a filtered-out record.
func (r *Reader) skipRecord() error {
	if r.opt.Quote == 0 || bytes.IndexByte(r.line, r.opt.Quote) < 0 {
		return nil
	}
	for {
		done, err := r.scan(false)
		if err != nil || done {
			if err != nil {
				r.err = err
			}
			return err
		}
		if err := r.more(); err != nil {
			r.err = err
			return err
		}
	}
}

// split splits r.line into trimmed cells, reading more lines while a quoted
// field is open.
func (r *Reader) split() ([][]byte, error) {
	if r.opt.Quote != 0 && bytes.IndexByte(r.line, r.opt.Quote) >= 0 {
		for {
			done, err := r.scan(false)
			if err != nil {
				return nil, err
			}
			if done {
				break
			}
			if err := r.more(); err != nil {
				r.err = err
				return nil, err
			}
		}
		if _, err := r.scan(true); err != nil {
			return nil, err
		}
		return r.fields, nil
	}
	// Hand-rolled splitting: cells are short, so a byte loop beats a call to
	// bytes.Index per cell.
	r.fields = r.fields[:0]
	line, sep := r.line, r.sep
	c0, start := sep[0], 0
	if len(sep) == 1 {
		for i, c := range line {
			if c == c0 {
				r.fields = append(r.fields, trimCell(line[start:i]))
				start = i + 1
			}
		}
	} else {
		rest := bstr(sep[1:])
		for i := 0; i+len(sep) <= len(line); i++ {
			if line[i] == c0 && string(line[i+1:i+len(sep)]) == rest {
				r.fields = append(r.fields, trimCell(line[start:i]))
				start = i + len(sep)
				i += len(sep) - 1
			}
		}
	}
	r.fields = append(r.fields, trimCell(line[start:]))
	return r.fields, nil
}

// bstr views b as a string without copying.
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// scan walks r.line with quote handling. With write it unescapes quoted
// fields in place and fills r.fields; without, it only reports whether the
// record is complete (no quoted field left open).
func (r *Reader) scan(write bool) (complete bool, err error) {
	line, sep, q := r.line, r.sep, r.opt.Quote
	if write {
		r.fields = r.fields[:0]
	}
	pos, nf := 0, 0
	for {
		nf++
		// Look for an opening quote after leading blanks.
		k := pos
		for k < len(line) && (line[k] == ' ' || line[k] == '\t') && !bytes.HasPrefix(line[k:], sep) {
			k++
		}
		if k < len(line) && line[k] == q {
			i, w := k+1, k
			closed := false
			for i < len(line) {
				c := line[i]
				if c == q {
					if i+1 < len(line) && line[i+1] == q {
						if write {
							line[w] = q
						}
						w++
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				if write {
					line[w] = c
				}
				w++
				i++
			}
			if !closed {
				if write {
					return false, &RowError{File: r.name, Line: r.start, Err: fmt.Errorf("unterminated quoted field: %w", ErrBadRow)}
				}
				return false, nil
			}
			if write {
				r.fields = append(r.fields, line[k:w])
			}
			for i < len(line) && (line[i] == ' ' || line[i] == '\t') && !bytes.HasPrefix(line[i:], sep) {
				i++
			}
			if i == len(line) {
				return true, nil
			}
			if !bytes.HasPrefix(line[i:], sep) {
				return false, &RowError{File: r.name, Line: r.start, Err: &feature.FieldError{Column: nf - 1, Name: "quoted field", Value: string(line[i:min(i+10, len(line))]), Expected: fmt.Sprintf("the separator %q or end of line after a closing quote", r.opt.Separator), Err: ErrBadRow}}
			}
			pos = i + len(sep)
			continue
		}
		i := bytes.Index(line[pos:], sep)
		if i < 0 {
			if write {
				r.fields = append(r.fields, trimCell(line[pos:]))
			}
			return true, nil
		}
		if write {
			r.fields = append(r.fields, trimCell(line[pos:pos+i]))
		}
		pos += i + len(sep)
	}
}

// trimCell removes ASCII blanks at both ends of a cell.
func trimCell(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
