// Package prepare writes the transformed rows of a dataset as Parquet shards,
// for trainers outside this binary (the PyTorch package in python/): the
// feature pipeline stays the one place where raw values become ids and
// numbers, and another trainer reads exactly what `dcrnn train` would feed
// its models.
//
// Run fits the pipeline on the training rows (or takes a given one), then
// writes, under the output directory,
//
//	pipeline.json               the fitted pipeline (feature.Pipeline's JSON)
//	train/part-KKKKK.parquet    the training rows, in file order, in N shards
//	valid/part-KKKKK.parquet    the validation rows
//	test/part-KKKKK.parquet     the test rows (when there is a test part)
//	row_counts.json             per id-like field, the training rows the fit
//	                            mapped to each id (feature.Pipeline.RowCounts;
//	                            for the count-aware embedding penalty);
//	                            absent with a given pipeline, which has none
//	manifest.json               fields, vocabulary sizes, tasks, funnel, and
//	                            the rows of every shard (Manifest)
//
// Shard k of a part of R rows holds its rows [k·R/N, (k+1)·R/N) (integer
// division), so reading the shards in order gives the rows in file order.
// Columns: one INT32 per categorical field (bucketized numeric fields
// included), a LIST of INT32 per multi-categorical field (possibly empty), a
// FLOAT (float32) per numeric field after its transform and normalisation,
// a UINT8 (0 or 1) per task label named "__label_" + task, and an INT64
// "__group" with the group keys when the schema has group_by. The column
// names are in the manifest.
//
// Every shard is written atomically (package atomicfile) and carries in its
// key-value metadata the plan it belongs to: a SHA-256 of the pipeline, the
// sources (path, size, modification time, the caller's description of the
// split) and N. A run that finds a shard of the same plan already in place
// keeps it and does not write it again, so an interrupted run resumes shard
// by shard; a shard of another plan is replaced. The pass is deterministic:
// the same inputs give the same rows in the same shards.
//
// A part's row count is needed before its first shard is cut: for the
// training part it comes from the fit pass, for the others (and for the
// training part with a given pipeline) from a counting pass that transforms
// the rows once without writing them. A part whose rows change between the
// two passes is an error.
package prepare

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/dcrnn/dcrnn/internal/atomicfile"
	"github.com/dcrnn/dcrnn/internal/data"
	"github.com/dcrnn/dcrnn/internal/feature"
	"github.com/dcrnn/dcrnn/internal/train"
)

// ManifestVersion is the version of manifest.json written by Run.
const ManifestVersion = 1

// Column names that are not feature fields.
const (
	LabelPrefix = "__label_"
	GroupColumn = "__group"
)

// Metadata keys of every shard.
const (
	metaPlan  = "dcrnn.plan"
	metaShard = "dcrnn.shard"
)

// Job is one prepare run.
type Job struct {
	Schema *feature.Schema
	// Pipeline, when set, transforms the rows instead of one fitted on
	// the training part.
	Pipeline *feature.Pipeline
	Train    train.Source
	Valid    train.Source
	Test     *train.Source // optional
	// Describe names how the parts were chosen (e.g. "data F split
	// 0.8,0.1,0.1 seed 1"); it enters the plan, since a Source's filter
	// cannot.
	Describe string
	Out      string
	Shards   int // ≥ 1
	BadRows  data.BadRows
	Logger   *slog.Logger
}

// Manifest is manifest.json.
type Manifest struct {
	Version  int    `json:"version"`
	Plan     string `json:"plan"`
	Pipeline string `json:"pipeline"` // file name of the pipeline, relative to the directory
	// RowCounts names row_counts.json ({field: [rows per id]}), "" when
	// the pipeline was given rather than fitted.
	RowCounts string  `json:"row_counts,omitempty"`
	Fields    []Field `json:"fields"`
	Tasks     []Task  `json:"tasks"`
	// Funnel names the first funnel pair (a task declared after another),
	// nil when there is none.
	Funnel  *Funnel `json:"funnel"`
	GroupBy string  `json:"group_by,omitempty"`
	// Group is the group-key column, "" without group_by.
	Group  string  `json:"group_column,omitempty"`
	Shards int     `json:"shards"`
	Splits []Split `json:"splits"` // train, valid, then test when present
}

// Field is one model input.
type Field struct {
	Name   string `json:"name"`
	Column string `json:"column"`
	// Kind is "categorical", "multi_categorical" or "numeric", as the
	// models see the field (a bucketized numeric field is categorical).
	Kind  string `json:"kind"`
	Vocab int    `json:"vocab"` // embedding rows (ids 0..vocab-1); 0 for numeric
}

// Task is one label.
type Task struct {
	Name   string `json:"name"`
	Column string `json:"column"`
	After  string `json:"after,omitempty"`
	// NegativeSampling is the first task's negative down-sampling rate,
	// when the schema declares one.
	NegativeSampling *float64 `json:"negative_sampling,omitempty"`
}

// Funnel is a funnel pair: Then is declared after First.
type Funnel struct {
	First string `json:"first"`
	Then  string `json:"then"`
}

// Split is one part of the data.
type Split struct {
	Name          string  `json:"name"`
	Rows          int64   `json:"rows"`
	BadRows       int64   `json:"bad_rows"`
	FunnelDropped int64   `json:"funnel_dropped"`
	Shards        []Shard `json:"shards"`
}

// Shard is one Parquet file of a part.
type Shard struct {
	File    string `json:"file"` // relative to the directory
	Rows    int64  `json:"rows"`
	Resumed bool   `json:"-"` // found complete, not written by this run
}

// kindName is the manifest name of a field kind.
func kindName(k feature.Kind) (string, error) {
	switch k {
	case feature.Categorical:
		return "categorical", nil
	case feature.MultiCategorical:
		return "multi_categorical", nil
	case feature.Numeric:
		return "numeric", nil
	}
	return "", fmt.Errorf("prepare: unknown field kind %d", k)
}

// manifestFor describes p's fields and tasks.
func manifestFor(p *feature.Pipeline) (*Manifest, error) {
	m := &Manifest{Version: ManifestVersion, Pipeline: "pipeline.json"}
	used := map[string]string{}
	claim := func(col, what string) error {
		if prev, ok := used[col]; ok {
			return fmt.Errorf("prepare: column %q would hold both %s and %s; rename one", col, prev, what)
		}
		used[col] = what
		return nil
	}
	for _, fs := range p.Fields() {
		kind, err := kindName(fs.Kind)
		if err != nil {
			return nil, err
		}
		if err := claim(fs.Name, "field "+fs.Name); err != nil {
			return nil, err
		}
		m.Fields = append(m.Fields, Field{Name: fs.Name, Column: fs.Name, Kind: kind, Vocab: fs.Vocab})
	}
	tasks := p.Tasks()
	sch := p.Schema()
	for i, t := range tasks {
		mt := Task{Name: t.Name, Column: LabelPrefix + t.Name}
		if t.After >= 0 {
			mt.After = tasks[t.After].Name
			if m.Funnel == nil {
				m.Funnel = &Funnel{First: mt.After, Then: t.Name}
			}
		}
		if i < len(sch.Tasks) {
			mt.NegativeSampling = sch.Tasks[i].NegativeSampling
		}
		if err := claim(mt.Column, "the label of task "+t.Name); err != nil {
			return nil, err
		}
		m.Tasks = append(m.Tasks, mt)
	}
	if g := p.GroupBy(); g != "" {
		m.GroupBy, m.Group = g, GroupColumn
		if err := claim(GroupColumn, "the group keys"); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// parquetSchema is the shard schema of m.
func parquetSchema(m *Manifest) *parquet.Schema {
	g := parquet.Group{}
	for _, f := range m.Fields {
		switch f.Kind {
		case "categorical":
			g[f.Column] = parquet.Leaf(parquet.Int32Type)
		case "multi_categorical":
			g[f.Column] = parquet.List(parquet.Leaf(parquet.Int32Type))
		default:
			g[f.Column] = parquet.Leaf(parquet.FloatType)
		}
	}
	for _, t := range m.Tasks {
		g[t.Column] = parquet.Uint(8)
	}
	if m.Group != "" {
		g[m.Group] = parquet.Leaf(parquet.Int64Type)
	}
	return parquet.NewSchema("dcrnn_rows", g)
}

// plan returns the plan hash of a run.
func plan(j *Job, pipeJSON []byte) (string, error) {
	h := sha256.New()
	put := func(s string) {
		_ = binary.Write(h, binary.LittleEndian, uint64(len(s)))
		io.WriteString(h, s)
	}
	put("dcrnn prepare 1")
	put(string(pipeJSON))
	put(j.Describe)
	put(fmt.Sprint(j.Shards))
	for _, s := range j.sources() {
		st, err := os.Stat(s.Path)
		if err != nil {
			return "", fmt.Errorf("prepare: %s: %w", s.Name, err)
		}
		put(s.Name)
		put(s.Path)
		put(fmt.Sprint(st.Size(), st.ModTime().UnixNano()))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (j *Job) sources() []train.Source {
	s := []train.Source{j.Train, j.Valid}
	if j.Test != nil {
		s = append(s, *j.Test)
	}
	return s
}

// Run prepares the data of j (see the package comment) and returns the
// manifest it wrote.
func Run(ctx context.Context, j Job) (*Manifest, error) {
	if j.Shards < 1 {
		return nil, fmt.Errorf("prepare: --shards must be ≥ 1, got %d", j.Shards)
	}
	if j.Out == "" {
		return nil, errors.New("prepare: no output directory")
	}
	log := j.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := j.Pipeline
	trainRows := int64(-1)
	if p == nil {
		fitted, st, err := data.FitPipeline(ctx, j.Schema, j.Train.Path, data.FitOptions{Filter: j.Train.Filter, BadRows: j.BadRows, Logger: log})
		if err != nil {
			return nil, err
		}
		if st.Rows == 0 {
			return nil, fmt.Errorf("prepare: %s: no training rows", j.Train.Path)
		}
		p, trainRows = fitted, st.Rows
	}
	pipeJSON, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("prepare: pipeline: %w", err)
	}
	m, err := manifestFor(p)
	if err != nil {
		return nil, err
	}
	if m.Plan, err = plan(&j, pipeJSON); err != nil {
		return nil, err
	}
	m.Shards = j.Shards
	if err := os.MkdirAll(j.Out, 0o755); err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(j.Out, m.Pipeline), append(pipeJSON, '\n')); err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if counts := p.RowCounts(); counts != nil {
		byField := map[string][]int64{}
		for f, fs := range p.Fields() {
			if counts[f] != nil {
				byField[fs.Name] = counts[f]
			}
		}
		b, err := json.Marshal(byField)
		if err != nil {
			return nil, err
		}
		m.RowCounts = "row_counts.json"
		if err := atomicfile.WriteFile(filepath.Join(j.Out, m.RowCounts), append(b, '\n')); err != nil {
			return nil, fmt.Errorf("prepare: %w", err)
		}
	}
	schema := parquetSchema(m)
	for _, src := range j.sources() {
		rows := int64(-1)
		if src.Name == "train" {
			rows = trainRows
		}
		sp, err := writeSplit(ctx, &j, p, m, schema, src, rows, log)
		if err != nil {
			return nil, err
		}
		m.Splits = append(m.Splits, *sp)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(j.Out, "manifest.json"), append(b, '\n')); err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	return m, nil
}

// countRows transforms the rows of src once and counts them.
func countRows(ctx context.Context, j *Job, p *feature.Pipeline, src train.Source) (int64, error) {
	bt, err := data.NewBatcher(p, src.Path, data.BatchOptions{BatchSize: 4096, BadRows: j.BadRows, Filter: src.Filter, RequireLabels: true})
	if err != nil {
		return 0, err
	}
	defer bt.Close()
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if _, err := bt.Next(); errors.Is(err, io.EOF) {
			return bt.Stats().Rows, nil
		} else if err != nil {
			return 0, err
		}
	}
}

// shardFile is the path of shard k of a part, relative to the directory.
func shardFile(split string, k int) string {
	return filepath.ToSlash(filepath.Join(split, fmt.Sprintf("part-%05d.parquet", k)))
}

// complete reports whether path is a shard of the plan (its metadata says
// so and it reads as Parquet), and its rows.
func complete(path, planHash, shard string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return 0, false
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return 0, false
	}
	if v, ok := pf.Lookup(metaPlan); !ok || v != planHash {
		return 0, false
	}
	if v, ok := pf.Lookup(metaShard); !ok || v != shard {
		return 0, false
	}
	return pf.NumRows(), true
}

// shardWriter writes one shard.
type shardWriter struct {
	file *atomicfile.File
	w    *parquet.Writer
	rows int64
}

func newShardWriter(path string, schema *parquet.Schema, planHash, shard string) (*shardWriter, error) {
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	w := parquet.NewWriter(f, schema, parquet.Compression(&parquet.Snappy),
		parquet.KeyValueMetadata(metaPlan, planHash), parquet.KeyValueMetadata(metaShard, shard))
	return &shardWriter{file: f, w: w}, nil
}

func (s *shardWriter) commit() error {
	if err := s.w.Close(); err != nil {
		s.file.Abort()
		return fmt.Errorf("prepare: %s: %w", s.file.Name(), err)
	}
	return s.file.Commit()
}

// writeSplit writes the shards of one part; rows is its row count, or -1
// when a counting pass must find it.
func writeSplit(ctx context.Context, j *Job, p *feature.Pipeline, m *Manifest, schema *parquet.Schema, src train.Source, rows int64, log *slog.Logger) (*Split, error) {
	if err := os.MkdirAll(filepath.Join(j.Out, src.Name), 0o755); err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	n := int64(j.Shards)
	sp := &Split{Name: src.Name}
	// Shards already complete are kept as they are; when every shard is,
	// the part is not read at all (its row count is theirs).
	done := make([]bool, n)
	all := true
	var found int64
	for k := range n {
		rel := shardFile(src.Name, int(k))
		r, ok := complete(filepath.Join(j.Out, rel), m.Plan, fmt.Sprintf("%d/%d", k, n))
		done[k] = ok
		all = all && ok
		sp.Shards = append(sp.Shards, Shard{File: rel, Rows: r, Resumed: ok})
		found += r
	}
	if all {
		sp.Rows = found
		log.Info("prepare: part already complete", "part", src.Name, "rows", found, "shards", n)
		return sp, nil
	}
	if rows < 0 {
		var err error
		if rows, err = countRows(ctx, j, p, src); err != nil {
			return nil, err
		}
	}
	sp.Rows = rows
	bound := func(k int64) int64 { return k * rows / n }
	for k := range n {
		want := bound(k+1) - bound(k)
		if done[k] && sp.Shards[k].Rows != want {
			return nil, fmt.Errorf("prepare: %s holds %d rows, the plan %d (remove the directory and prepare again)", sp.Shards[k].File, sp.Shards[k].Rows, want)
		}
		sp.Shards[k].Rows = want
	}
	bt, err := data.NewBatcher(p, src.Path, data.BatchOptions{BatchSize: 4096, BadRows: j.BadRows, Filter: src.Filter, RequireLabels: true})
	if err != nil {
		return nil, err
	}
	defer bt.Close()
	fields := bt.Pipeline().Fields()
	var cur *shardWriter
	defer func() {
		if cur != nil {
			cur.file.Abort()
		}
	}()
	k := int64(0) // current shard
	row := make(map[string]any, len(m.Fields)+len(m.Tasks)+1)
	var g int64 // rows seen
	// open moves to the shard of row g, committing the finished ones.
	advance := func() error {
		for k < n && g >= bound(k+1) {
			if cur != nil {
				if err := cur.commit(); err != nil {
					return err
				}
				cur = nil
			} else if !done[k] && bound(k+1) == bound(k) {
				// an empty shard: write it with no rows
				w, err := newShardWriter(filepath.Join(j.Out, sp.Shards[k].File), schema, m.Plan, fmt.Sprintf("%d/%d", k, n))
				if err != nil {
					return err
				}
				if err := w.commit(); err != nil {
					return err
				}
			}
			k++
		}
		if k < n && cur == nil && !done[k] {
			w, err := newShardWriter(filepath.Join(j.Out, sp.Shards[k].File), schema, m.Plan, fmt.Sprintf("%d/%d", k, n))
			if err != nil {
				return err
			}
			cur = w
		}
		return nil
	}
	if err := advance(); err != nil {
		return nil, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := bt.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if g+int64(b.N) > rows {
			return nil, fmt.Errorf("prepare: %s: the %s part now holds more than the %d rows counted before (did the file change?)", src.Path, src.Name, rows)
		}
		for i := 0; i < b.N; i++ {
			if cur != nil {
				fillRow(row, m, fields, b, i)
				if err := cur.w.Write(row); err != nil {
					return nil, fmt.Errorf("prepare: %s: %w", sp.Shards[k].File, err)
				}
				cur.rows++
			}
			g++
			if g == bound(k+1) {
				if err := advance(); err != nil {
					return nil, err
				}
			}
		}
	}
	if g != rows {
		return nil, fmt.Errorf("prepare: %s: the %s part holds %d rows, %d counted before (did the file change?)", src.Path, src.Name, g, rows)
	}
	if err := advance(); err != nil { // empty trailing shards
		return nil, err
	}
	st := bt.Stats()
	sp.BadRows, sp.FunnelDropped = st.BadRows, st.FunnelDropped
	resumed := 0
	for _, s := range sp.Shards {
		if s.Resumed {
			resumed++
		}
	}
	log.Info("prepare: part written", "part", src.Name, "rows", rows, "shards", n, "kept", resumed, "bad_rows", st.BadRows)
	return sp, nil
}

// fillRow sets row to row i of b.
func fillRow(row map[string]any, m *Manifest, fields []feature.FieldSpec, b *feature.Batch, i int) {
	for f, mf := range m.Fields {
		fd := &b.Fields[f]
		switch fields[f].Kind {
		case feature.Categorical:
			row[mf.Column] = fd.IDs[i]
		case feature.MultiCategorical:
			row[mf.Column] = fd.IDs[fd.Offsets[i]:fd.Offsets[i+1]]
		default:
			row[mf.Column] = fd.Values[i]
		}
	}
	for t, mt := range m.Tasks {
		row[mt.Column] = uint8(b.Labels[t][i])
	}
	if m.Group != "" {
		row[m.Group] = b.Group[i]
	}
}

// LoadPipeline reads a pipeline JSON file (as Run writes it).
func LoadPipeline(path string) (*feature.Pipeline, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("prepare: --pipeline: %w", err)
	}
	p, err := feature.UnmarshalPipeline(b)
	if err != nil {
		return nil, fmt.Errorf("prepare: --pipeline %s: %w", path, err)
	}
	return p, nil
}

// String describes a manifest in one line per part.
func (m *Manifest) String() string {
	var sb strings.Builder
	for _, s := range m.Splits {
		fmt.Fprintf(&sb, "%s: %d rows in %d shards\n", s.Name, s.Rows, len(s.Shards))
	}
	return sb.String()
}
