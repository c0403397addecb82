package train

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dcrnn/dcrnn/internal/atomicfile"
	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/modelfile"
	"github.com/dcrnn/dcrnn/internal/nn"
	"github.com/dcrnn/dcrnn/internal/optim"
)

// CheckpointFile is the name of the single checkpoint that versions before
// numbered checkpoints wrote. A resume still reads it, as the oldest
// candidate, and it is pruned like a numbered one.
const CheckpointFile = "checkpoint.dcrnn"

// DefaultKeepCheckpoints is the number of checkpoints a checkpoint directory
// keeps when Job.KeepCheckpoints is 0.
const DefaultKeepCheckpoints = 3

// CheckpointName is the file name of the checkpoint written after step
// training steps in all: checkpoint-000001234.dcrnn (at least 9 digits).
func CheckpointName(step int) string {
	return fmt.Sprintf("checkpoint-%09d.dcrnn", step)
}

// ErrNoCheckpoint is returned by a resume when the directory holds none.
var ErrNoCheckpoint = errors.New("no checkpoint to resume from")

// checkpointer writes and reads the training state. A checkpoint is a model
// file (package modelfile: checksummed, written atomically) whose tensors
// are the weights ("w."), the best epoch's weights ("best.") and the
// optimizer state ("opt.dense.", "opt.sparse."), and whose "checkpoint"
// document holds the counters, the data position and the dropout RNG state.
// Each is named by its global step (CheckpointName); after every write the
// directory is pruned to the keep newest (see prune), and a resume loads the
// newest one that reads and validates.
type checkpointer struct {
	dir    string
	every  int
	keep   int
	log    *slog.Logger
	tr     *model.Trained
	adam   *optim.Adam
	sadam  *optim.SparseAdam
	pcg    *rand.PCG
	dense  []*nn.Param
	sparse []*nn.SparseParam
	sel    selectKeys
}

// selectKeys are the config keys of model selection. A checkpoint records
// them, and a resume with other values is refused: the evaluations so far
// and the best weights were chosen by them.
type selectKeys struct {
	ValidPerEpoch int    `json:"valid_per_epoch"`
	Metric        string `json:"metric"`
	Smooth        int    `json:"smooth"`
	Patience      int    `json:"patience"`
}

func selectKeysOf(c Config) selectKeys {
	return selectKeys{ValidPerEpoch: c.ValidPerEpoch, Metric: c.Metric, Smooth: c.Smooth, Patience: c.Patience}
}

// ckptDoc is the "checkpoint" document.
type ckptDoc struct {
	Model         string        `json:"model"`
	Config        model.Config  `json:"config"`
	Epoch         int           `json:"epoch"`
	StepInEpoch   int           `json:"step_in_epoch"`
	Step          int           `json:"step"`
	LossSum       float64       `json:"loss_sum"`
	Rows          int64         `json:"rows"`
	TrainRows     int64         `json:"train_rows"`
	FullEpochRows int64         `json:"full_epoch_rows"`
	TrainNanos    int64         `json:"train_nanos"`
	BestScore     *float64      `json:"best_score"` // nil: none yet
	BestEpoch     int           `json:"best_epoch"`
	Bad           int           `json:"bad"`
	Stopped       bool          `json:"stopped"`
	RNG           []byte        `json:"rng"`
	Epochs        []EpochResult `json:"epochs"` // the end-of-epoch evaluations; all there is in older checkpoints
	Valid         *Report       `json:"valid"`
	// Evaluations holds every validation evaluation (mid-epoch ones too):
	// a resume replays their scores through the selection rule. Absent in
	// checkpoints of versions that evaluated once per epoch.
	Evaluations []EpochResult `json:"evaluations,omitempty"`
	// Select holds the selection keys of the run; absent in older
	// checkpoints (valid_per_epoch 1, smooth 1).
	Select *selectKeys `json:"select,omitempty"`
	// BestStep is the global step of the best evaluation.
	BestStep int `json:"best_step"`
}

func (c *checkpointer) save(st *state) error {
	if c.dir == "" {
		return nil
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	rng, err := c.pcg.MarshalBinary()
	if err != nil {
		return err
	}
	sel := c.sel
	doc := ckptDoc{Model: c.tr.Name, Config: c.tr.Config, Epoch: st.epoch, StepInEpoch: st.stepInEpoch, Step: st.step,
		LossSum: st.lossSum, Rows: st.rows, TrainRows: st.trainRows, FullEpochRows: st.fullEpochRows,
		TrainNanos: int64(st.trainDur), Bad: st.sel.bad, Stopped: st.stopped, RNG: rng,
		Epochs: epochEnds(st.res.Evaluations), Valid: st.res.Valid, Evaluations: st.res.Evaluations, Select: &sel}
	if st.sel.best >= 0 {
		b := st.sel.bestScore
		doc.BestScore = &b
		doc.BestEpoch, doc.BestStep = st.res.Evaluations[st.sel.best].Epoch, st.res.Evaluations[st.sel.best].Step
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	f := &modelfile.File{Meta: map[string]string{"checkpoint": string(js)}}
	for i, p := range c.dense {
		f.Tensors = append(f.Tensors,
			modelfile.Tensor{Name: "w." + p.Name, Shape: []int{p.Rows, p.Cols}, Data: p.W},
			modelfile.Tensor{Name: "best." + p.Name, Shape: []int{p.Rows, p.Cols}, Data: st.best.dense[i]})
	}
	for i, p := range c.sparse {
		f.Tensors = append(f.Tensors,
			modelfile.Tensor{Name: "w." + p.Name, Shape: []int{p.Rows, p.Cols}, Data: p.W},
			modelfile.Tensor{Name: "best." + p.Name, Shape: []int{p.Rows, p.Cols}, Data: st.best.sparse[i]})
	}
	f.Tensors = appendOptState(f.Tensors, "opt.dense.", c.adam.State())
	f.Tensors = appendOptState(f.Tensors, "opt.sparse.", c.sadam.State())
	if _, err := modelfile.Write(filepath.Join(c.dir, CheckpointName(st.step)), f); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	c.prune(st.step)
	return nil
}

// ckptFile is a checkpoint in the directory; step is -1 for CheckpointFile.
type ckptFile struct {
	name string
	step int
}

// list returns the checkpoints in the directory, oldest first: the legacy
// CheckpointFile, then the numbered ones by step.
func (c *checkpointer) list() ([]ckptFile, error) {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return nil, err
	}
	var out []ckptFile
	for _, e := range ents {
		if step, ok := checkpointStep(e.Name()); ok && e.Type().IsRegular() {
			out = append(out, ckptFile{e.Name(), step})
		}
	}
	slices.SortFunc(out, func(a, b ckptFile) int { return cmp.Compare(a.step, b.step) })
	return out, nil
}

// checkpointStep returns the step of a checkpoint file name: n for
// CheckpointName(n), -1 for CheckpointFile.
func checkpointStep(name string) (int, bool) {
	if name == CheckpointFile {
		return -1, true
	}
	num, ok := strings.CutPrefix(name, "checkpoint-")
	if !ok {
		return 0, false
	}
	if num, ok = strings.CutSuffix(num, ".dcrnn"); !ok || num == "" || strings.Trim(num, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n, err == nil
}

// prune keeps the checkpoint of step just written and the keep-1 newest
// before it, and removes the others: older ones, and newer ones, which are
// left by a run this one did not resume from (a fresh run into the same
// directory) or failed to load when it resumed. It also removes the
// temporary files of checkpoint writes that were killed (each name is
// written once, so atomicfile.Create would not see them again). A failure
// to prune is only logged: the new checkpoint is in place.
func (c *checkpointer) prune(step int) {
	atomicfile.RemoveStale(c.dir, func(base string) bool {
		_, ok := checkpointStep(base)
		return ok
	})
	files, err := c.list()
	if err != nil {
		c.log.Warn("could not list the checkpoints to prune", "dir", c.dir, "err", err)
		return
	}
	kept := 1 // the one just written
	for i := len(files) - 1; i >= 0; i-- {
		f := files[i]
		switch {
		case f.step == step:
			continue
		case f.step < step && kept < c.keep:
			kept++
			continue
		}
		if err := os.Remove(filepath.Join(c.dir, f.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			c.log.Warn("could not remove an old checkpoint", "file", f.name, "err", err)
		}
	}
}

func appendOptState(dst []modelfile.Tensor, prefix string, ts []optim.Tensor) []modelfile.Tensor {
	for _, t := range ts {
		mt := modelfile.Tensor{Name: prefix + t.Name, Shape: t.Shape}
		switch {
		case t.F32 != nil:
			mt.DType, mt.Data = modelfile.F32, t.F32
		case t.I32 != nil:
			mt.DType, mt.Int32 = modelfile.I32, t.I32
		default:
			mt.DType, mt.Int64 = modelfile.I64, t.I64
		}
		dst = append(dst, mt)
	}
	return dst
}

// load restores st, the weights and the optimizers from the newest
// checkpoint that reads and validates, logging a warning for each newer one
// that does not. It returns the path it loaded.
func (c *checkpointer) load(st *state) (string, error) {
	if c.dir == "" {
		return "", errors.New("train: --resume needs --checkpoint-dir")
	}
	files, err := c.list()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("train: resume: %w", err)
	}
	if len(files) == 0 {
		return "", fmt.Errorf("train: %s: %w", c.dir, ErrNoCheckpoint)
	}
	var first error
	for i := len(files) - 1; i >= 0; i-- {
		path := filepath.Join(c.dir, files[i].name)
		// A checkpoint that fails may have set part of the state; the next
		// one that loads sets all of it.
		err := c.loadFile(path, st)
		if err == nil {
			return path, nil
		}
		if first == nil {
			first = err
		}
		if i > 0 {
			c.log.Warn("checkpoint unusable, resuming from the previous one", "file", path, "err", err, "previous", files[i-1].name)
		}
	}
	if len(files) > 1 {
		return "", fmt.Errorf("%w (and the %d older checkpoints in %s failed too)", first, len(files)-1, c.dir)
	}
	return "", first
}

// loadFile restores st, the weights and the optimizers from the checkpoint
// at path.
func (c *checkpointer) loadFile(path string, st *state) error {
	f, _, err := modelfile.Read(path)
	if err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	var doc ckptDoc
	if err := json.Unmarshal([]byte(f.Meta["checkpoint"]), &doc); err != nil {
		return fmt.Errorf("train: resume: %s: checkpoint document: %w", path, err)
	}
	want, _ := json.Marshal(c.tr.Config)
	got, _ := json.Marshal(doc.Config)
	if doc.Model != c.tr.Name || string(want) != string(got) {
		return fmt.Errorf("train: resume: %s was written by model %s with another config; resume with the same --model, --config and --set", path, doc.Model)
	}
	switch sel := doc.Select; {
	case sel == nil && (c.sel.ValidPerEpoch != 1 || c.sel.Smooth != 1):
		return fmt.Errorf("train: resume: %s was written by a version that evaluated once per epoch on the metric itself; resume it with --set valid_per_epoch=1 --set smooth=1", path)
	case sel != nil && *sel != c.sel:
		return fmt.Errorf("train: resume: %s was written with the selection keys %+v, this run has %+v; resume with the same keys", path, *sel, c.sel)
	}
	byName := map[string]*modelfile.Tensor{}
	for i := range f.Tensors {
		byName[f.Tensors[i].Name] = &f.Tensors[i]
	}
	take := func(name string, dst []float32) error {
		t, ok := byName[name]
		if !ok || len(t.Data) != len(dst) {
			return fmt.Errorf("train: resume: %s: tensor %q missing or misshapen", path, name)
		}
		copy(dst, t.Data)
		return nil
	}
	for i, p := range c.dense {
		if err := take("w."+p.Name, p.W); err != nil {
			return err
		}
		if err := take("best."+p.Name, st.best.dense[i]); err != nil {
			return err
		}
	}
	for i, p := range c.sparse {
		if err := take("w."+p.Name, p.W); err != nil {
			return err
		}
		if err := take("best."+p.Name, st.best.sparse[i]); err != nil {
			return err
		}
	}
	if err := c.adam.SetState(optState(f, "opt.dense.")); err != nil {
		return fmt.Errorf("train: resume: %s: %w", path, err)
	}
	if err := c.sadam.SetState(optState(f, "opt.sparse.")); err != nil {
		return fmt.Errorf("train: resume: %s: %w", path, err)
	}
	if err := c.pcg.UnmarshalBinary(doc.RNG); err != nil {
		return fmt.Errorf("train: resume: %s: rng state: %w", path, err)
	}
	st.epoch, st.stepInEpoch, st.step = doc.Epoch, doc.StepInEpoch, doc.Step
	st.lossSum, st.rows, st.trainRows, st.fullEpochRows = doc.LossSum, doc.Rows, doc.TrainRows, doc.FullEpochRows
	st.trainDur = time.Duration(doc.TrainNanos)
	st.stopped = doc.Stopped
	evs := doc.Evaluations
	if evs == nil { // an older checkpoint: one evaluation per epoch
		for _, e := range doc.Epochs {
			e.EpochEnd = true
			evs = append(evs, e)
		}
	}
	// Replay the scores through the selection rule: it ends in the state
	// the interrupted run had (best, its score, evaluations since).
	st.sel = newSelector(c.sel.Smooth, c.sel.Patience)
	for i := range evs {
		st.sel.add(evs[i].Score)
		evs[i].Select = st.sel.last
	}
	st.res.Evaluations, st.res.Valid = evs, doc.Valid
	return nil
}

func optState(f *modelfile.File, prefix string) []optim.Tensor {
	var out []optim.Tensor
	for _, t := range f.Tensors {
		if len(t.Name) <= len(prefix) || t.Name[:len(prefix)] != prefix {
			continue
		}
		ot := optim.Tensor{Name: t.Name[len(prefix):], Shape: t.Shape}
		switch t.DType {
		case modelfile.I32:
			ot.I32 = t.Int32
		case modelfile.I64:
			ot.I64 = t.Int64
		default:
			ot.F32 = t.Data
		}
		out = append(out, ot)
	}
	return out
}
