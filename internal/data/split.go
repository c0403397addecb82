package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dcrnn/dcrnn/internal/atomicfile"
)

// ErrRatios marks an invalid --split / --ratios specification.
var ErrRatios = errors.New("bad split ratios")

// MaxParts is the largest number of parts a split may have (train, valid, test).
const MaxParts = 3

// Splitter assigns data rows to the parts of a deterministic random split.
// Ratios are the part sizes (as returned by ParseRatios: positive, summing to
// 1); Seed selects the split. The assignment of a row depends only on
// (Seed, row, Ratios), never on the other rows, so it can be computed while
// streaming, and `dcrnn split` and `dcrnn train --split` agree on every row.
type Splitter struct {
	Ratios []float64
	Seed   uint64
}

// splitMix64 is the finaliser of SplitMix64 (Steele et al. 2014).
func splitMix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Part returns the part, in 0..len(Ratios)-1, of the data row with 0-based
// index row (the header line and blank lines are not rows; see SplitLines).
// It hashes (Seed, row) with SplitMix64 to a uniform u in [0,1) and returns
// the first part i with u·sum(Ratios) < Ratios[0]+…+Ratios[i]. With no ratios
// every row is in part 0.
func (s Splitter) Part(row int64) int {
	if len(s.Ratios) <= 1 {
		return 0
	}
	h := splitMix64(splitMix64(s.Seed^0x5851f42d4c957f2d) + uint64(row)*0x9e3779b97f4a7c15)
	u := float64(h>>11) * 0x1p-53
	var total float64
	for _, r := range s.Ratios {
		total += r
	}
	u *= total
	var acc float64
	for i, r := range s.Ratios[:len(s.Ratios)-1] {
		acc += r
		if u < acc {
			return i
		}
	}
	return len(s.Ratios) - 1
}

// ParseRatios parses a split specification such as "0.8,0.1,0.1": one to
// MaxParts comma-separated positive finite numbers that sum to 1 within 1e-6.
// Errors wrap ErrRatios and name the offending element.
func ParseRatios(spec string) ([]float64, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, fmt.Errorf("%w: empty (want e.g. 0.8,0.1,0.1)", ErrRatios)
	}
	items := strings.Split(spec, ",")
	if len(items) > MaxParts {
		return nil, fmt.Errorf("%w: %q has %d parts, at most %d (train,valid,test)", ErrRatios, spec, len(items), MaxParts)
	}
	out := make([]float64, len(items))
	var sum float64
	for i, it := range items {
		v, err := strconv.ParseFloat(strings.TrimSpace(it), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: part %d of %q: %q is not a number", ErrRatios, i+1, spec, it)
		}
		if v <= 0 {
			return nil, fmt.Errorf("%w: part %d of %q: %v is not positive", ErrRatios, i+1, spec, v)
		}
		out[i] = v
		sum += v
	}
	if math.Abs(sum-1) > 1e-6 {
		return nil, fmt.Errorf("%w: %q sums to %v, want 1", ErrRatios, spec, sum)
	}
	return out, nil
}

// PartNames returns the file stems of an n-part split: train, valid, test.
func PartNames(n int) []string {
	return []string{"train", "valid", "test"}[:min(max(n, 0), MaxParts)]
}

// HeaderMode says how SplitLines treats the first line.
type HeaderMode int

const (
	// HeaderAuto guesses with DetectHeader.
	HeaderAuto HeaderMode = iota
	// HeaderYes: the first line is a header.
	HeaderYes
	// HeaderNo: the first line is data.
	HeaderNo
)

// ParseHeaderMode parses "auto", "true"/"yes" or "false"/"no".
func ParseHeaderMode(s string) (HeaderMode, error) {
	switch strings.ToLower(s) {
	case "auto", "":
		return HeaderAuto, nil
	case "true", "yes", "1":
		return HeaderYes, nil
	case "false", "no", "0":
		return HeaderNo, nil
	}
	return 0, fmt.Errorf("header mode %q: want auto, true or false", s)
}

// DetectHeader guesses whether line (the first line of a file, with or
// without its line ending) is a header. The separator is sep, or when sep is
// empty a tab if the line holds one and a comma otherwise. The line is a
// header when every column, trimmed and unquoted, is non-empty, does not
// parse as a number, and no two columns are equal. A data file whose columns
// are all distinct non-numeric strings is misread as a header: give the mode
// explicitly then. A leading UTF-8 byte order mark is ignored.
func DetectHeader(line []byte, sep string) bool {
	line = bytes.TrimRight(bytes.TrimPrefix(line, utf8BOM), "\r\n")
	if len(bytes.TrimSpace(line)) == 0 {
		return false
	}
	if sep == "" {
		sep = ","
		if bytes.IndexByte(line, '\t') >= 0 {
			sep = "\t"
		}
	}
	seen := map[string]bool{}
	for col := range strings.SplitSeq(string(line), sep) {
		col = strings.TrimSpace(col)
		if len(col) >= 2 && col[0] == '"' && col[len(col)-1] == '"' {
			col = strings.TrimSpace(col[1 : len(col)-1])
		}
		if col == "" || seen[col] {
			return false
		}
		if _, err := strconv.ParseFloat(col, 64); err == nil {
			return false
		}
		seen[col] = true
	}
	return true
}

// SplitOptions configure SplitLines and SplitFile. The zero value guesses the
// header and does not check quotes.
type SplitOptions struct {
	Header    HeaderMode
	Separator string // used by HeaderAuto only; "" guesses (see DetectHeader)
	// Quote, when not 0, is the quote character: a line holding an odd number
	// of it would continue a quoted field on the next line, which SplitLines
	// refuses (quoted fields with embedded newlines are not supported).
	Quote byte
	// By, when set, assigns each row to the first part whose column range
	// holds it (the parts of TimeSplit) instead of by hash; then Separator
	// must be set, and Columns names the columns of a headerless file.
	By      []*ColumnRange
	Columns []string
}

// SplitResult reports what a split did.
type SplitResult struct {
	Header bool     // the first line was taken as a header and repeated in every part
	Rows   []int64  // data rows written to each part
	Blank  int64    // blank lines skipped
	Files  []string // SplitFile only: the files written, one per part
}

// SplitLines streams r line by line and copies every data row, byte for byte
// (line ending included), to parts[s.Part(row)]; row counts the non-blank
// lines after the header from 0. The header line, when there is one (see
// SplitOptions.Header), is written first to every part. Blank lines (empty or
// only "\r") are dropped and not counted as rows. A last line without a line
// ending gets "\n". A UTF-8 byte order mark at the start of r is dropped (the
// parts do not start with one). It returns an error naming the line when a line opens a
// quoted field that continues on the next line (when opt.Quote is set).
// len(parts) must equal max(1, len(s.Ratios)).
func SplitLines(ctx context.Context, r io.Reader, s Splitter, opt SplitOptions, parts []io.Writer) (SplitResult, error) {
	want := max(1, len(s.Ratios))
	if opt.By != nil {
		want = len(opt.By)
		if opt.Separator == "" {
			return SplitResult{}, errors.New("split: a split by column needs the separator")
		}
	}
	if len(parts) != want {
		return SplitResult{}, fmt.Errorf("split: %d writers for %d parts", len(parts), want)
	}
	var by []*rangeFilter
	bind := func(columns []string) error {
		for _, r := range opt.By {
			f, err := newRangeFilter(r, columns)
			if err != nil {
				return fmt.Errorf("split: %w", err)
			}
			by = append(by, f)
		}
		return nil
	}
	res := SplitResult{Rows: make([]int64, len(parts))}
	br := bufio.NewReaderSize(r, 1<<16)
	if b, _ := br.Peek(len(utf8BOM)); bytes.Equal(b, utf8BOM) {
		br.Discard(len(utf8BOM))
	}
	var long []byte
	var lineNo, row int64
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return res, fmt.Errorf("split: line %d: %w", lineNo+1, err)
		}
		if len(line) == 0 {
			break
		}
		lineNo++
		if line[len(line)-1] != '\n' {
			line = append(line[:len(line):len(line)], '\n') // copy: the reader's buffer is not ours to extend
		}
		if opt.Quote != 0 && bytes.Count(line, []byte{opt.Quote})%2 == 1 {
			return res, fmt.Errorf("split: line %d: odd number of %q: a quoted field spanning lines is not supported", lineNo, opt.Quote)
		}
		if lineNo == 1 {
			switch opt.Header {
			case HeaderYes:
				res.Header = true
			case HeaderAuto:
				res.Header = DetectHeader(line, opt.Separator)
			}
			if opt.By != nil {
				cols := opt.Columns
				if res.Header {
					cols = nil
					for _, c := range splitCells(bytes.TrimRight(line, "\r\n"), opt.Separator, opt.Quote) {
						cols = append(cols, string(c))
					}
				}
				if err := bind(cols); err != nil {
					return res, err
				}
			}
			if res.Header {
				for i, w := range parts {
					if _, werr := w.Write(line); werr != nil {
						return res, fmt.Errorf("split: write header to part %d: %w", i, werr)
					}
				}
				if err != nil {
					break
				}
				continue
			}
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			res.Blank++
		} else {
			p := 0
			if by != nil {
				cells := splitCells(bytes.TrimRight(line, "\r\n"), opt.Separator, opt.Quote)
				if len(cells) <= by[0].col {
					return res, fmt.Errorf("split: line %d: %d columns, no column %d (%s)", lineNo, len(cells), by[0].col+1, by[0].r.Column)
				}
				p = -1
				for k, f := range by {
					ok, err := f.keepValue(cells[f.col])
					if err != nil {
						return res, fmt.Errorf("split: line %d: %w", lineNo, err)
					}
					if ok {
						p = k
						break
					}
				}
				if p < 0 {
					return res, fmt.Errorf("split: line %d: %s %q is in no part", lineNo, by[0].r.Column, cells[by[0].col])
				}
			} else {
				p = s.Part(row)
			}
			if _, werr := parts[p].Write(line); werr != nil {
				return res, fmt.Errorf("split: write line %d to part %d: %w", lineNo, p, werr)
			}
			res.Rows[p]++
			row++
			if row&0xffff == 0 && ctx.Err() != nil {
				return res, ctx.Err()
			}
		}
		if err != nil {
			break
		}
	}
	return res, nil
}

// openSplitInput opens a data file for reading, transparently decompressing
// it when it starts with the gzip magic bytes (whatever its name).
func openSplitInput(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 1<<16)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: gzip: %w", path, err)
		}
		return &splitGzipFile{zr, f}, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{br, f}, nil
}

type splitGzipFile struct {
	*gzip.Reader
	f *os.File
}

func (g *splitGzipFile) Close() error {
	err := g.Reader.Close()
	if cerr := g.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SplitFile splits the data file in (plain or gzip) into outDir/train.csv,
// valid.csv and test.csv (as many as s.Ratios has parts; see PartNames) with
// SplitLines. The outputs are plain text (mode 0644), written as one
// atomicfile.Group: every part is complete and synced before any is renamed
// into place, so a failed split leaves no partial file behind. outDir is
// created if needed.
func SplitFile(ctx context.Context, in, outDir string, s Splitter, opt SplitOptions) (SplitResult, error) {
	src, err := openSplitInput(in)
	if err != nil {
		return SplitResult{}, fmt.Errorf("split: %w", err)
	}
	defer src.Close()
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return SplitResult{}, fmt.Errorf("split: %w", err)
	}
	names := PartNames(max(1, len(s.Ratios)))
	if opt.By != nil {
		names = PartNames(len(opt.By))
	}
	var files atomicfile.Group
	defer files.Abort()
	paths := make([]string, len(names))
	ws := make([]io.Writer, len(names))
	for i, n := range names {
		paths[i] = filepath.Join(outDir, n+".csv")
		f, err := files.Create(paths[i])
		if err != nil {
			return SplitResult{}, fmt.Errorf("split: %w", err)
		}
		ws[i] = f
	}
	res, err := SplitLines(ctx, src, s, opt, ws)
	if err != nil {
		return res, fmt.Errorf("%s: %w", in, err)
	}
	if err := files.Commit(); err != nil {
		return res, fmt.Errorf("split: %w", err)
	}
	res.Files = append(res.Files, paths...)
	return res, nil
}

// splitCells splits one line into trimmed cells, unquoting quoted ones (a
// doubled quote is one quote).
func splitCells(line []byte, sep string, quote byte) [][]byte {
	var out [][]byte
	for {
		rest := bytes.TrimLeft(line, " \t")
		if quote != 0 && len(rest) > 0 && rest[0] == quote {
			var cell []byte
			i := 1
			for i < len(rest) {
				if rest[i] == quote {
					if i+1 < len(rest) && rest[i+1] == quote {
						cell = append(cell, quote)
						i += 2
						continue
					}
					i++
					break
				}
				cell = append(cell, rest[i])
				i++
			}
			out = append(out, cell)
			j := bytes.Index(rest[i:], []byte(sep))
			if j < 0 {
				return out
			}
			line = rest[i+j+len(sep):]
			continue
		}
		j := bytes.Index(line, []byte(sep))
		if j < 0 {
			return append(out, trimCell(line))
		}
		out = append(out, trimCell(line[:j]))
		line = line[j+len(sep):]
	}
}
