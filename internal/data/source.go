package data

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/dcrnn/dcrnn/internal/feature"
)

// rowSource is what the Batcher and the fit pass read: records of cells,
// each valid until the next call to Next.
type rowSource interface {
	Next() ([][]byte, error)
	Columns() []string
	Name() string
	// Pos locates the last record returned (a text line, a Parquet row).
	Pos() int64
	// errAt wraps err as the error of the record at pos.
	errAt(pos int64, err error) *RowError
	// broken reports a sticky read error: reading cannot continue.
	broken() bool
	Close() error
}

// dataSuffixes are the file name endings a directory input picks up.
var dataSuffixes = []string{".csv", ".tsv", ".txt", ".data", ".gz", ".parquet"}

// Expand turns a data argument into its files, in a deterministic order. The
// argument is one path, or several separated by commas; each is a file, a
// glob ('logs/day=2026-11-0[1-6]/*.parquet', matches sorted by name) or a
// directory (its files ending in .csv, .tsv, .txt, .data, .gz or .parquet,
// at any depth, sorted by path; names starting with '.' or '_' are
// skipped). A path that exists as a file is taken whole even if it holds
// a comma. A glob that matches nothing, a directory without data files, a
// missing file and a file listed twice are errors.
func Expand(spec string) ([]string, error) {
	if st, err := os.Stat(spec); err == nil && !st.IsDir() {
		return []string{spec}, nil
	}
	var out []string
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		var files []string
		if strings.ContainsAny(item, "*?[") {
			m, err := filepath.Glob(item)
			if err != nil {
				return nil, fmt.Errorf("data: %q: %w", item, err)
			}
			for _, f := range m {
				if st, err := os.Stat(f); err == nil && !st.IsDir() {
					files = append(files, f)
				}
			}
			if len(files) == 0 {
				return nil, fmt.Errorf("data: %q: no file matches", item)
			}
			slices.Sort(files)
		} else if st, err := os.Stat(item); err != nil {
			return nil, fmt.Errorf("data: %w", err)
		} else if st.IsDir() {
			err := filepath.WalkDir(item, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				name := d.Name()
				if p != item && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				if !d.IsDir() && slices.ContainsFunc(dataSuffixes, func(s string) bool { return strings.HasSuffix(strings.ToLower(name), s) }) {
					files = append(files, p)
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("data: %w", err)
			}
			if len(files) == 0 {
				return nil, fmt.Errorf("data: directory %s holds no data file (%s)", item, strings.Join(dataSuffixes, " "))
			}
		} else {
			files = []string{item}
		}
		out = append(out, files...)
	}
	if len(out) == 0 {
		return nil, errors.New("data: no input file given")
	}
	seen := map[string]bool{}
	for _, f := range out {
		k := filepath.Clean(f)
		if seen[k] {
			return nil, fmt.Errorf("data: %s is listed twice", f)
		}
		seen[k] = true
	}
	return out, nil
}

// ColumnRange keeps the rows whose value in Column is ≥ From and < Until
// (an empty bound is open). When every bound given parses as a number,
// values compare as numbers (a value that does not is a bad row); else as
// byte strings, which orders ISO-8601 dates and times ("2026-11-05",
// "2026-11-05T10:00:00") in time. A time-based split is three ranges:
// train (−∞, t₁), validation [t₁, t₂), test [t₂, ∞).
type ColumnRange struct {
	Column      string
	From, Until string
}

// TimeSplit returns the three ranges of a split on column at trainUntil and
// validUntil (train: below trainUntil, validation: up to validUntil, test:
// the rest). The bounds must be in increasing order.
func TimeSplit(column, trainUntil, validUntil string) ([3]*ColumnRange, error) {
	var parts [3]*ColumnRange
	if column == "" || trainUntil == "" || validUntil == "" {
		return parts, errors.New("data: a time split needs a column and both bounds (--split-by C --train-until V --valid-until V)")
	}
	a, errA := strconv.ParseFloat(trainUntil, 64)
	b, errB := strconv.ParseFloat(validUntil, 64)
	if (errA == nil) != (errB == nil) {
		return parts, fmt.Errorf("data: time split bounds %q and %q: both numbers or both not", trainUntil, validUntil)
	}
	if (errA == nil && a >= b) || (errA != nil && trainUntil >= validUntil) {
		return parts, fmt.Errorf("data: time split: --train-until %q must be below --valid-until %q", trainUntil, validUntil)
	}
	parts[0] = &ColumnRange{Column: column, Until: trainUntil}
	parts[1] = &ColumnRange{Column: column, From: trainUntil, Until: validUntil}
	parts[2] = &ColumnRange{Column: column, From: validUntil}
	return parts, nil
}

// usesWith is UsesFor(s), plus the split column of r.
func usesWith(s *feature.Schema, r *ColumnRange) map[string]ColumnUse {
	m := UsesFor(s)
	if r != nil {
		if _, ok := m[r.Column]; !ok {
			m[r.Column] = ColumnUse{}
		}
	}
	return m
}

// rangeFilter is a ColumnRange bound to a file's columns.
type rangeFilter struct {
	r            ColumnRange
	col          int
	numeric      bool
	from, until  float64
	hasF, hasU   bool
	fromB, untlB []byte
}

func newRangeFilter(r *ColumnRange, columns []string) (*rangeFilter, error) {
	f := &rangeFilter{r: *r, col: slices.Index(columns, r.Column), fromB: []byte(r.From), untlB: []byte(r.Until)}
	if f.col < 0 {
		return nil, fmt.Errorf("split column %q is not a column of the file (columns: %s)", r.Column, abbrevCols(columns))
	}
	f.hasF, f.hasU = r.From != "", r.Until != ""
	f.numeric = true
	var err error
	if f.hasF {
		if f.from, err = strconv.ParseFloat(r.From, 64); err != nil {
			f.numeric = false
		}
	}
	if f.hasU {
		if f.until, err = strconv.ParseFloat(r.Until, 64); err != nil {
			f.numeric = false
		}
	}
	return f, nil
}

// keep reports whether rec is in the range.
func (f *rangeFilter) keep(rec [][]byte) (bool, error) { return f.keepValue(rec[f.col]) }

// keepValue reports whether the split column's value v is in the range.
func (f *rangeFilter) keepValue(v []byte) (bool, error) {
	v = trimCell(v)
	if len(v) == 0 {
		return false, &feature.FieldError{Column: f.col, Name: f.r.Column, Value: "", Expected: "a value of the split column (it is empty)", Err: ErrBadRow}
	}
	if f.numeric {
		x, err := strconv.ParseFloat(bstr(v), 64)
		if err != nil {
			return false, &feature.FieldError{Column: f.col, Name: f.r.Column, Value: string(v), Expected: "a number (the split bounds are numbers)", Err: ErrBadRow}
		}
		return (!f.hasF || x >= f.from) && (!f.hasU || x < f.until), nil
	}
	return (!f.hasF || bytes.Compare(v, f.fromB) >= 0) && (!f.hasU || bytes.Compare(v, f.untlB) < 0), nil
}

// SourceOptions says which rows of a list of files to read.
type SourceOptions struct {
	// Filter keeps the rows it returns true for, given their key: the
	// 0-based row index in the file, plus (file's position in the list)<<40
	// for the second file on, so a single file keeps plain row indexes.
	Filter func(key int64) bool
	// Range keeps the rows in a column range (a time-based split part).
	Range *ColumnRange
	// ShuffleFiles, when set, reads the files in the order of a
	// permutation drawn from this seed (0 = list order).
	ShuffleFiles uint64
	// Progress, when set, receives the bytes read from the files as they go.
	Progress func(bytes int64)
}

// fileSource reads a list of files one after the other as one stream of
// records. Every file must have the same columns (a Parquet file may hold
// them in another order; its cells come in the first file's order).
type fileSource struct {
	files  []string
	order  []int
	format feature.Format
	uses   map[string]ColumnUse
	opt    SourceOptions
	rng    *rangeFilter

	columns []string
	opened  []rowSource // by read position; closed ones kept for errAt
	at      int
	cur     rowSource
	idFns   []func([]byte) (int32, bool)
	numCols []bool
}

// setIDs passes fns to every file that can give ids (see idSource).
func (fs *fileSource) setIDs(fns []func([]byte) (int32, bool)) {
	fs.idFns = fns
	if is, ok := fs.cur.(idSource); ok {
		is.setIDs(fns)
	}
}

// ids returns the current file's ids of the last record (nil: none).
func (fs *fileSource) ids() []int32 {
	if is, ok := fs.cur.(idSource); ok {
		return is.ids()
	}
	return nil
}

// setNums passes cols to every file that can give numbers (see idSource).
func (fs *fileSource) setNums(cols []bool) {
	fs.numCols = cols
	if is, ok := fs.cur.(idSource); ok {
		is.setNums(cols)
	}
}

// nums returns the current file's numbers of the last record (nil: none).
func (fs *fileSource) nums() []float64 {
	if is, ok := fs.cur.(idSource); ok {
		return is.nums()
	}
	return nil
}

// posShift places the read position of a file above its record position.
const posShift = 40

// openFiles opens the rows of files (as a schema with format f and column
// uses reads them) for one pass.
func openFiles(files []string, s *feature.Schema, opt SourceOptions) (*fileSource, error) {
	if len(files) == 0 {
		return nil, errors.New("data: no input file given")
	}
	fs := &fileSource{files: files, format: s.Format, uses: usesWith(s, opt.Range), opt: opt}
	fs.order = make([]int, len(files))
	for i := range fs.order {
		fs.order[i] = i
	}
	if opt.ShuffleFiles != 0 && len(files) > 1 {
		rng := rand.New(rand.NewPCG(opt.ShuffleFiles, 0xf11e5))
		rng.Shuffle(len(fs.order), func(i, j int) { fs.order[i], fs.order[j] = fs.order[j], fs.order[i] })
	}
	if err := fs.open(0); err != nil {
		return nil, err
	}
	if opt.Range != nil {
		rf, err := newRangeFilter(opt.Range, fs.columns)
		if err != nil {
			err = fmt.Errorf("data: %s: %w", fs.cur.Name(), err)
			fs.Close()
			return nil, err
		}
		fs.rng = rf
	}
	return fs, nil
}

// openOne opens one file with the schema's format (Parquet by suffix or
// format type); expect, when set, are the columns it must have.
func openOne(path string, f feature.Format, uses map[string]ColumnUse, expect []string, filter func(int64) bool, progress func(int64)) (rowSource, error) {
	if IsParquet(path) || f.Type == "parquet" {
		cols := expect
		if cols == nil {
			cols = f.Columns
		}
		r, err := OpenParquet(path, ParquetOptions{Columns: cols, Read: uses, Filter: filter})
		if err != nil {
			return nil, err
		}
		r.progress = progress
		return r, nil
	}
	ro := OptionsFor(f)
	ro.Filter, ro.Progress = filter, progress
	r, err := Open(path, ro)
	if err != nil {
		return nil, err
	}
	if expect != nil && !slices.Equal(r.columns, expect) {
		r.Close()
		return nil, fmt.Errorf("data: %s: columns %s differ from those of the other files %s", path, abbrevCols(r.columns), abbrevCols(expect))
	}
	return r, nil
}

// open opens the file at read position at.
func (fs *fileSource) open(at int) error {
	ord := fs.order[at]
	filter := fs.opt.Filter
	if filter != nil && ord > 0 {
		base, f := int64(ord)<<posShift, fs.opt.Filter
		filter = func(row int64) bool { return f(base | row) }
	}
	r, err := openOne(fs.files[ord], fs.format, fs.uses, fs.columns, filter, fs.opt.Progress)
	if err != nil {
		return err
	}
	if fs.columns == nil {
		fs.columns = r.Columns()
	}
	fs.opened = append(fs.opened, r)
	fs.at, fs.cur = at, r
	if is, ok := r.(idSource); ok && fs.idFns != nil {
		is.setIDs(fs.idFns)
	}
	if is, ok := r.(idSource); ok && fs.numCols != nil {
		is.setNums(fs.numCols)
	}
	return nil
}

func (fs *fileSource) Columns() []string { return slices.Clone(fs.columns) }

func (fs *fileSource) Name() string {
	if fs.cur == nil {
		return fs.files[fs.order[fs.at]]
	}
	return fs.cur.Name()
}

func (fs *fileSource) Pos() int64 {
	if fs.cur == nil {
		return int64(fs.at) << posShift
	}
	return int64(fs.at)<<posShift | fs.cur.Pos()
}

func (fs *fileSource) errAt(pos int64, err error) *RowError {
	return fs.opened[pos>>posShift].errAt(pos&(1<<posShift-1), err)
}

func (fs *fileSource) broken() bool { return fs.cur == nil || fs.cur.broken() }

// Close closes the open file.
func (fs *fileSource) Close() error {
	if fs.cur == nil {
		return nil
	}
	err := fs.cur.Close()
	fs.cur = nil
	return err
}

// Next returns the next record of the files, or io.EOF after the last.
func (fs *fileSource) Next() ([][]byte, error) {
	for {
		if fs.cur == nil {
			return nil, io.EOF
		}
		rec, err := fs.cur.Next()
		if err == io.EOF {
			if cerr := fs.cur.Close(); cerr != nil {
				return nil, fmt.Errorf("data: %s: %w", fs.cur.Name(), cerr)
			}
			if fs.at+1 == len(fs.order) {
				fs.cur = nil
				return nil, io.EOF
			}
			if err := fs.open(fs.at + 1); err != nil {
				fs.cur = nil
				return nil, err
			}
			continue
		}
		if err != nil || fs.rng == nil {
			return rec, err
		}
		ok, err := fs.rng.keep(rec)
		if err != nil {
			return nil, fs.cur.errAt(fs.cur.Pos(), err)
		}
		if ok {
			return rec, nil
		}
	}
}

// countingReader reports the bytes read through it.
type countingReader struct {
	r  io.Reader
	fn func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.fn(int64(n))
	}
	return n, err
}
