// Package feature holds the dataset schema and the fitted feature pipeline
// shared by training and serving: vocabularies, hashing, numeric transforms
// and label parsing. The same Pipeline value (carried inside the model file
// as JSON) transforms training rows (TransformRow) and serving requests,
// given as row maps (TransformMap) or as typed columns (TransformColumns,
// the same per-value transform), so all see exactly the same ids and
// values.
//
// # Schema
//
// A schema is YAML (see ParseSchema); unknown keys are errors that name the
// key and its line. Every column of the file must be a field (possibly of
// type ignore), a task label or the group_by column, unless the schema sets
// unlisted_columns: ignore; this keeps a forgotten column from silently
// vanishing. Values are trimmed of blanks before any use.
//
// # Categorical fields
//
// A vocabulary field maps each value seen at least min_count times in the
// training rows to an id 1..V, in order of decreasing count (ties by value);
// every other value, including values unseen in training, maps to the OOV id
// 0. The empty value is an ordinary value (it gets an id when frequent). A
// field without min_count gets DefaultMinCount(rows, positives): the smallest
// of 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000 that is at least √rows/1000 and
// at least 5/p, p the positive rate of the most frequent task, so ids seen
// once always go to OOV and a kept id is expected to carry 5 positives (100
// impressions at a 5% CTR). A field with
// hash_buckets = B maps an admitted value v to 1 + Hash64(v) % B, Hash64
// being 64-bit FNV-1a of the value's bytes (stable across runs, machines
// and versions), and every other value to the OOV id 0 (see "Frequency
// admission"). A multi_categorical cell is split on its separator (default
// "|"), tokens trimmed, empty tokens dropped, each token mapped like a
// value of a categorical field: by vocabulary, or hashed with hash_buckets.
//
// # Frequency admission
//
// Every id-like field admits a value only when it was seen at least
// min_count times in the training rows (tokens, for a multi-valued field),
// with the same default for all: DefaultMinCount. A vocabulary field keeps
// the admitted values as its vocabulary. A hashed field (categorical or
// multi_categorical with hash_buckets) sends a value that is not admitted
// to id 0 before hashing, so a request or session id, a field of no signal
// seen once per row, shares one row instead of filling B buckets with
// values to memorise; its embedding table stays B+1 rows. An explicit
// min_count: 1 admits every value: a hashed field then never uses id 0, as
// before admission existed.
//
// Counting a hashed field is bounded in memory whatever its number of
// distinct values (10⁸ included): the values are counted by their Hash64
// in an exact table of AdmitExactValues (2²⁰) values per field (12 bytes a
// slot at load ≤ ½: at most 24 MiB, grown as needed). When a new value finds
// it full, the values counted fewer times than the promotion level move
// with their counts into a count-min sketch of AdmitSketchDepth (4) rows of
// AdmitSketchWidth (2²²) one-byte saturating counters (16 MiB, allocated at
// the first overflow; conservative update); a value outside the table is
// counted there and enters the table, with its estimate as its count, once
// the estimate reaches the promotion level. The promotion level is the
// field's min_count, or for the default the smallest ladder value ≥
// √rows/1000 (at least 2, at most 255: the part of DefaultMinCount that
// only grows with the rows), so no value that reaches the final threshold
// is forgotten; only if more than AdmitExactValues/2 values are above the
// level when the table is full is the level doubled, and a value then
// counted between the two levels and never seen again is lost. So a field
// takes at most about 46 MiB during a fit (table, sketch and a prune's
// temporary copy), whatever its data.
//
// A rare value can be admitted by mistake when its sketch estimate is
// inflated by the values sharing its counters. For a value seen c times,
// threshold m and S values counted into the sketch, the rate is at most
// (S / (AdmitSketchWidth·(m−c)))^AdmitSketchDepth (Markov's inequality per
// row of a plain count-min sketch, which the conservative update only
// lowers): for S = 9.6·10⁶ and m = 10, 0.42% for a value seen once and 4.4%
// for one seen 5 times (S = 10⁷: 0.49% and 5.2%); measured on such a stream,
// none of 6·10⁶ values seen once nor of 2·10⁵ seen 5 times was admitted
// (TestSketchFalseAdmissionRate).
// Beyond about 4·10⁷ values counted into the sketch the bound says nothing
// at m = 10. Measured on 10⁸ values seen once mixed with 10⁵ seen 20 times
// (threshold 10, about a minute): 1 value seen once was admitted and no
// frequent value was lost, but the inflated estimates promoted enough rare
// values to fill the table, and a prune raised the level to 16, so at that
// scale a value seen 10 to 15 times can be lost if it is not seen again
// after the prune. A field whose values all fit the table (fewer than 2²⁰
// distinct) is counted exactly: no false admission, no loss.
//
// The fitted pipeline keeps a hashed field's admitted values in a Bloom
// filter of their Hash64: AdmitBloomBitsPerValue (10) bits per admitted
// value rounded up to 64-bit words, AdmitBloomHashes (7) probes, so a value
// that was not admitted (rare or unseen) passes and gets its bucket with
// probability (1 − e^(−0.7))⁷ ≈ 0.82%, the same way in training, eval,
// predict and serve; an admitted value always passes. The filter travels in
// the pipeline JSON as base64 of its words (about 1.7 bytes per admitted
// value). A pipeline with such a filter is written as version 2; version 1
// files (hashed fields without min_count) read as before, admitting every
// value.
//
// Large state leaves the JSON: MarshalWithBlobs returns every vocabulary
// and filter whose JSON form passes BlobMinBytes (64 KiB) as blobs (the
// values' bytes and offsets, the filter's words), which the model file
// stores as tensors, and writes version 3 with the vocabulary's size in
// their place; UnmarshalPipelineWithBlobs takes them back, checked against
// the JSON. So a vocabulary of 10⁷ values fits a model file whose header
// safetensors readers limit to 100 MB, and its bytes stay exact.
//
// The fit also records the training rows mapped to each id (Pipeline.RowCounts):
// a vocabulary value's count, a hashed bucket's admitted values' counts,
// and for id 0 every row mapped there. They drive the count-aware embedding
// penalty of training and are not written to the model file.
//
// # Numeric fields
//
// A cell whose trimmed text is in missing_values (default "", "?", "NA",
// "NaN", "nan", "null", "NULL") is missing and replaced by the raw fill value
// (missing: mean — the training mean of the raw values, the default —, zero,
// or a number); any other cell must be a decimal number in JSON/CSV syntax:
// an optional sign (+ or -), digits with an optional fraction (".5" and "5."
// too), an optional exponent (e or E, an optional sign, digits). Underscores
// ("1_000"), hexadecimal ("0x1p4") and words (Inf, infinity, NaN unless it is
// a missing value) are bad values; numeric strings in a serving request
// follow the same syntax, JSON numbers their own. Then transform (log1p
// means sign(x)·ln(1+|x|), defined for negatives) and normalize (standard:
// (t-mean)/std; minmax: (t-min)/(max-min), not clipped; none), with
// statistics of the transformed training values (a zero spread gives scale
// 1). With buckets: [b1..bk] the field is categorical for the engine: id 0 =
// missing, 1 = below b1, i+1 = [bi, bi+1), k+1 = at or above bk.
//
// Two bounds keep absurd values from turning into confident garbage. A raw
// value must be finite with |x| ≤ MaxAbsRaw (1e15), in the fit pass (so one
// 1e30 row cannot wreck a field's mean and spread) and in every transform;
// a fixed missing fill too. The model input z of a value-embedded field
// (after log1p and normalisation) must have |z| ≤ MaxAbsInput (1e6), which
// also keeps it finite in float32: checked in every transform, in the fit
// pass for a field without normalisation (there z is known already), and
// once for the missing fill when the pipeline is built. Bucketized fields
// check only the raw bound. A value that fails either is a bad value (a
// *FieldError wrapping ErrBadRow that says which bound): in training an
// error naming file, line and column, or a skipped and counted row under
// --bad-rows skip; in serving a 400 naming the field.
//
// # NUL bytes
//
// No value may hold a NUL byte: a categorical or multi-valued cell (or JSON
// string) with one is a bad value rather than a silent new category, and
// the data reader refuses a NUL in any cell of a file (ignored columns and
// labels included).
//
// # Labels and funnels
//
// A task's label is 1 when the cell is in positive (default ["1"]). With a
// negative list, a cell in it is 0 and any other value is a bad row; without
// one, any other non-empty value is 0 and an empty cell is a bad row. A task
// with after: A is a funnel step: a row positive for it but negative for A
// is a funnel violation (ErrFunnelViolation), an error unless the schema says
// funnel_violations: drop (the data reader then drops and counts it).
//
// # Negative down-sampling
//
// A log that kept only a fraction w of the first task's negative rows (and
// every positive) declares it on that task: negative_sampling: w, with
// 0 < w ≤ 1 (omitted: no down-sampling). Only the first task may declare it,
// and only when every other task is declared after another: a funnel's
// later steps (conversion after click) are conditional on the first step's
// positives, which were all kept, so they stay unbiased; a task unrelated to
// the first would be biased in a way no per-task correction undoes, so such
// a schema is refused. The rate travels with the fitted pipeline (the schema
// is part of its JSON), and every scorer of a model trained on such a log
// maps the first task's probability p back to the full population,
// q = p / (p + (1-p)/w), after calibration (package model); ctcvr is then
// the corrected first step times the conditional later step. Metrics of a
// down-sampled part are computed on these corrected probabilities, so its
// calibration (mean prediction / mean label) reads about r + w·(1-r), r the
// first task's positive rate in the full log (0.24 for r = 5%, w = 0.2),
// and its logloss is that of full-population probabilities against
// down-sampled labels. The first task's AUC is unchanged (the correction is
// monotone); ctcvr's may move a little, since it multiplies a corrected and
// an uncorrected step.
//
// # Label leakage
//
// A label column listed as a feature is refused when the schema is parsed
// (ErrLeakage). Fitting refuses a feature that alone predicts a task's label
// on the training rows, defined so that a rare or unique-per-row id is not
// taken for evidence. It is checked only when the training rows hold at
// least 10 positives and 10 negatives for the task. For a categorical or
// bucketized field, rows are grouped by their fitted id (so ids below
// min_count are pooled in OOV), for a hashed field by bucket before
// admission (the fitter keeps per-bucket labels, not per-value ones); ids
// seen only once are no evidence
// (any label is "predictable" from one row). The field leaks when every id
// seen at least twice has a single label, those rows hold at least 10
// positives and 10 negatives, and they cover at least half the rows. For a
// plain numeric field (missing cells excluded, present in at least half the
// rows), it leaks when one threshold separates all positives from all
// negatives. Multi-valued fields are not checked. allow_leakage: true turns
// both checks off.
//
// # Split and merged fits
//
// Fitters fed disjoint parts of the training rows merge (Fitter.Merge)
// into the Fitter of all of them: counts and extremes add exactly, and
// numeric sums are kept exactly (an integer multiple of 2⁻¹⁰⁷⁴ in 32-bit
// limbs, rounded once), so the order and grouping of the rows change
// nothing. A merged fit is therefore identical to one fit over the
// concatenated rows as long as every hashed field's counts fitted its
// exact table (fewer than AdmitExactValues distinct values); counters that
// spilled into the sketch merge by adding sketches, which over-estimates
// like the sketch does. MarshalState and UnmarshalFitState carry a
// Fitter's counts as JSON (the file `dcrnn fit` writes), so a fit can be
// split across processes and finished later.
//
// # Group keys
//
// With group_by, Batch.Group holds GroupKey(value) = int64(Hash64(value))
// per row, so gAUC groups are stable across files and processes.
package feature
