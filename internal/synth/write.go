package synth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/dcrnn/dcrnn/internal/atomicfile"
)

// ChunkRows is the number of rows generated from one PCG stream.
const ChunkRows = 1 << 14

// baseColumns are the columns of data.csv without the noise ids.
var baseColumns = []string{"click", "conversion", "user_id", "item_id", "item_category", "city",
	"age_group", "gender", "device", "hour", "position", "channel", "noise_cat",
	"price", "user_activity", "item_quality", "noise_num"}

// schemaHead and schemaTasks frame the fields of schema.yaml; schemaFields
// are the fields without the noise ids, noiseIDFields the noise ids.
const (
	schemaHead = `# Synthetic funnel written by dcrnn gen (generative process: see the package
# doc of internal/synth). %s have no effect.
format: {type: csv, separator: ",", header: true}
fields:
`
	schemaFields = `  - {name: user_id,       type: categorical}
  - {name: item_id,       type: categorical}
  - {name: item_category, type: categorical}
  - {name: city,          type: categorical}
  - {name: age_group,     type: categorical}
  - {name: gender,        type: categorical}
  - {name: device,        type: categorical}
  - {name: hour,          type: categorical}
  - {name: position,      type: categorical}
  - {name: channel,       type: categorical}
  - {name: noise_cat,     type: categorical}
  - {name: price,         type: numeric, transform: log1p, normalize: standard}
  - {name: user_activity, type: numeric, transform: log1p, normalize: standard}
  - {name: item_quality,  type: numeric, normalize: standard}
  - {name: noise_num,     type: numeric, normalize: standard}
`
	noiseIDFields = `  - {name: request_id,    type: categorical, hash_buckets: 100000}
  - {name: session_user,  type: categorical}
`
	schemaTasks = `tasks:
  - {name: click,      label: click,      positive: ["1"]}
  - {name: conversion, label: conversion, positive: ["1"], after: click}
`
)

// Config configures Generate and WriteDir (the generative process is the
// package doc).
type Config struct {
	Rows    int64  // data rows to generate (≥ 1)
	Seed    uint64 // selects the hidden parameters and the sample
	Threads int    // worker goroutines; ≤ 0 means GOMAXPROCS. The output does not depend on it.
	// NoiseIDs appends the label-free high-cardinality columns request_id
	// (hashed) and session_user (package doc, "Noise ids"); the other
	// columns and truth.csv stay byte for byte those written without them.
	// dcrnn gen and dcrnn demo turn it on unless --noise-ids=false.
	NoiseIDs bool
}

// Columns returns the columns of the generated data.csv, in order.
func (c Config) Columns() []string {
	cols := slices.Clone(baseColumns)
	if c.NoiseIDs {
		cols = append(cols, NoiseIDColumns...)
	}
	return cols
}

// Schema returns the schema.yaml written next to the generated data.
func (c Config) Schema() string {
	if c.NoiseIDs {
		return fmt.Sprintf(schemaHead, "noise_cat, noise_num, request_id and session_user") + schemaFields + noiseIDFields + schemaTasks
	}
	return fmt.Sprintf(schemaHead, "noise_cat and noise_num") + schemaFields + schemaTasks
}

// Stats reports a generated file.
type Stats struct {
	Rows, Clicks, Conversions int64
	Oracle                    *Oracle // nil unless truth was requested
}

// CTR returns clicks / rows.
func (s Stats) CTR() float64 { return float64(s.Clicks) / float64(s.Rows) }

// CVR returns conversions / clicks.
func (s Stats) CVR() float64 { return float64(s.Conversions) / float64(s.Clicks) }

// ErrRows marks a non-positive row count.
var ErrRows = errors.New("synth: rows must be at least 1")

// chunk is the output of one chunk.
type chunk struct {
	data, truth         []byte
	pc, pv, pcv         []float32
	click, conv         []float32
	clicks, conversions int64
}

// genChunk generates and formats the rows of chunk k into out, with the
// noise ids when noise is not nil.
func (m *process) genChunk(seed uint64, k int64, rows int, withTruth bool, noise *noiseIDs, out *chunk) {
	r := rand.New(rand.NewPCG(seed, 0x10000+uint64(k)))
	var rn *rand.Rand
	if noise != nil {
		rn = rand.New(rand.NewPCG(seed, noiseIDsStream+uint64(k)))
	}
	out.data = out.data[:0]
	out.truth = out.truth[:0]
	out.pc, out.pv, out.pcv = out.pc[:0], out.pv[:0], out.pcv[:0]
	out.click, out.conv = out.click[:0], out.conv[:0]
	out.clicks, out.conversions = 0, 0
	var rw row
	b := out.data
	for range rows {
		m.draw(r, &rw)
		pc := sigmoid(rw.zc + m.bc)
		pv := sigmoid(rw.zv + m.bv)
		click := r.Float64() < pc
		conv := false
		if click {
			conv = r.Float64() < pv
			out.clicks++
			if conv {
				out.conversions++
			}
		}
		u := &m.users[rw.user]
		it := &m.items[rw.item]
		b = appendBit(b, click)
		b = append(b, ',')
		b = appendBit(b, conv)
		for _, id := range [...]int{m.idUser[rw.user], m.idItem[rw.item], m.idCat[it.cat], m.idCity[u.city],
			m.idAge[u.age], m.idGender[u.gender], m.idDev[rw.dev], m.idHour[rw.hour], rw.pos + 1,
			m.idChan[rw.ch], m.idNoise[rw.noise]} {
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(id), 10)
		}
		b = append(b, ',')
		b = strconv.AppendFloat(b, rw.price, 'f', 2, 64)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(u.activity), 10)
		b = append(b, ',')
		b = append(b, it.qualityFormatted...)
		b = append(b, ',')
		b = strconv.AppendFloat(b, rw.noiseNum, 'f', 4, 64)
		if noise != nil {
			b = noise.appendIDs(b, rn)
		}
		b = append(b, '\n')
		if withTruth {
			f1, f2, f3 := float32(pc), float32(pv), float32(pc*pv)
			out.truth = strconv.AppendFloat(out.truth, float64(f1), 'g', -1, 32)
			out.truth = append(out.truth, ',')
			out.truth = strconv.AppendFloat(out.truth, float64(f2), 'g', -1, 32)
			out.truth = append(out.truth, ',')
			out.truth = strconv.AppendFloat(out.truth, float64(f3), 'g', -1, 32)
			out.truth = append(out.truth, '\n')
			out.pc, out.pv, out.pcv = append(out.pc, f1), append(out.pv, f2), append(out.pcv, f3)
			out.click, out.conv = append(out.click, bit(click)), append(out.conv, bit(conv))
		}
	}
	out.data = b
}

func appendBit(b []byte, v bool) []byte {
	if v {
		return append(b, '1')
	}
	return append(b, '0')
}

func bit(v bool) float32 {
	if v {
		return 1
	}
	return 0
}

// Generate writes cfg.Rows rows of the synthetic funnel (see the generative
// process in the package doc) with a header line to data. When truth is not
// nil it also writes the true probabilities (header
// p_click,p_conversion_given_click,p_ctcvr; one line per data row, float32
// values in shortest form) and fills Stats.Oracle, computed on exactly
// those float32 values; this keeps 20 bytes per row in memory.
func Generate(ctx context.Context, cfg Config, data, truth io.Writer) (Stats, error) {
	if cfg.Rows < 1 {
		return Stats{}, ErrRows
	}
	threads := cfg.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	m := newProcess(cfg.Seed)
	var noise *noiseIDs
	if cfg.NoiseIDs {
		noise = newNoiseIDs(cfg.Seed)
	}
	withTruth := truth != nil
	st := Stats{Rows: cfg.Rows}
	if _, err := io.WriteString(data, strings.Join(cfg.Columns(), ",")+"\n"); err != nil {
		return st, fmt.Errorf("synth: write data: %w", err)
	}
	if withTruth {
		if _, err := io.WriteString(truth, "p_click,p_conversion_given_click,p_ctcvr\n"); err != nil {
			return st, fmt.Errorf("synth: write truth: %w", err)
		}
	}
	var pc, pv, pcv, click, conv []float32
	if withTruth {
		n := int(cfg.Rows)
		pc, pv, pcv = make([]float32, 0, n), make([]float32, 0, n), make([]float32, 0, n)
		click, conv = make([]float32, 0, n), make([]float32, 0, n)
	}
	chunks := (cfg.Rows + ChunkRows - 1) / ChunkRows
	bufs := make([]chunk, threads)
	for first := int64(0); first < chunks; first += int64(threads) {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		n := int(min(int64(threads), chunks-first))
		var wg sync.WaitGroup
		for j := range n {
			k := first + int64(j)
			rows := int(min(ChunkRows, cfg.Rows-k*ChunkRows))
			wg.Go(func() { m.genChunk(cfg.Seed, k, rows, withTruth, noise, &bufs[j]) })
		}
		wg.Wait()
		for j := range n {
			c := &bufs[j]
			if _, err := data.Write(c.data); err != nil {
				return st, fmt.Errorf("synth: write data: %w", err)
			}
			st.Clicks += c.clicks
			st.Conversions += c.conversions
			if withTruth {
				if _, err := truth.Write(c.truth); err != nil {
					return st, fmt.Errorf("synth: write truth: %w", err)
				}
				pc, pv, pcv = append(pc, c.pc...), append(pv, c.pv...), append(pcv, c.pcv...)
				click, conv = append(click, c.click...), append(conv, c.conv...)
			}
		}
	}
	if withTruth {
		st.Oracle = oracleOf(pc, pv, pcv, click, conv)
	}
	return st, nil
}

// WriteDir generates the synthetic funnel into dir (created if needed):
// data.csv and schema.yaml, plus truth.csv and oracle.json when truth is set.
// The files (mode 0644) are one atomicfile.Group: each is written to a
// temporary file, and all are synced before any is renamed into place.
func WriteDir(ctx context.Context, dir string, cfg Config, truth bool) (Stats, error) {
	if cfg.Rows < 1 {
		return Stats{}, ErrRows
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Stats{}, fmt.Errorf("synth: %w", err)
	}
	var files atomicfile.Group
	defer files.Abort()
	open := func(name string) (io.Writer, error) {
		f, err := files.Create(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("synth: %w", err)
		}
		return f, nil
	}
	dw, err := open("data.csv")
	if err != nil {
		return Stats{}, err
	}
	var tw io.Writer
	if truth {
		if tw, err = open("truth.csv"); err != nil {
			return Stats{}, err
		}
	}
	st, err := Generate(ctx, cfg, dw, tw)
	if err != nil {
		return st, err
	}
	sw, err := open("schema.yaml")
	if err != nil {
		return st, err
	}
	if _, err := io.WriteString(sw, cfg.Schema()); err != nil {
		return st, fmt.Errorf("synth: schema.yaml: %w", err)
	}
	if truth {
		ow, err := open("oracle.json")
		if err != nil {
			return st, err
		}
		b, err := st.OracleJSON(cfg.Seed)
		if err != nil {
			return st, err
		}
		if _, err := ow.Write(b); err != nil {
			return st, fmt.Errorf("synth: oracle.json: %w", err)
		}
	}
	if err := files.Commit(); err != nil {
		return st, fmt.Errorf("synth: %w", err)
	}
	return st, nil
}
