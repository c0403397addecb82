// Package dcrnn scores rows with a model file written by `dcrnn train`,
// inside a Go program: the same probabilities, to the bit, as `dcrnn
// predict`, `dcrnn eval` and `dcrnn serve` give for the same rows.
//
// # Loading a model
//
// Load reads a model file (Decode takes its bytes). The file is checked
// whole before anything is built: its format, checksum, every weight's
// shape, the feature pipeline and the calibration maps. A Model is
// read-only and safe to share between goroutines.
//
//	m, err := dcrnn.Load("census.dcrnn")
//	if err != nil {
//		return err
//	}
//	fmt.Println(m.Name(), m.Tasks()) // dcrnn [income marital]
//
// Tasks lists the model's tasks in schema order; Funnel reports whether
// the later task is conditional on the earlier one (a click → conversion
// funnel), in which case every prediction also carries the joint
// probability CTCVR. Fields describes the raw inputs a row may hold.
//
// # Scoring rows
//
// A row is a map from column name to its raw value, exactly as it is
// spelled in the training file: a string or a number for a categorical
// field, a number (or a numeric string) for a numeric one, a list (or one
// string holding the schema's separator) for a multi-valued one. A missing
// key or nil is a missing cell, and keys that are not features (labels,
// ids the model ignores) are ignored. Scoring applies the model's own
// feature pipeline (vocabularies, hash buckets, normalisation), its
// forward pass and its calibration maps.
//
// A Scorer holds the scratch memory of one scoring goroutine; make one per
// goroutine with NewScorer and keep it:
//
//	sc := m.NewScorer()
//	preds, err := sc.Score([]map[string]any{
//		{"age": 52, "education": "Masters degree(MA MS MEng MEd MSW MBA)"},
//		{"age": 19},
//	})
//	fmt.Println(preds[0].Prob("income"))
//
// ScoreInto fills a caller's slice instead and allocates nothing once the
// slice and the Scorer have grown to the batch size: use it on a hot path.
//
// # Errors
//
// A value the pipeline cannot read (a word for a numeric field, a nested
// list, a NUL byte) stops the call with a *FieldError naming the row, the
// field and what was wrong; nothing is scored then. Test for it with
// errors.As.
//
// # Serving
//
// Package github.com/dcrnn/dcrnn/serve is the HTTP server of `dcrnn
// serve`, for embedding in a program of your own.
package dcrnn
