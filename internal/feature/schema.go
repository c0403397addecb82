package feature

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Sentinel errors that callers test with errors.Is.
var (
	// ErrSchema marks an invalid schema file.
	ErrSchema = errors.New("invalid schema")
	// ErrBadRow marks a malformed data row (wrong column count, unparsable
	// number, unknown label value, ...).
	ErrBadRow = errors.New("bad row")
	// ErrFunnelViolation marks a row where a later funnel step is positive
	// while the step it comes after is not (a conversion without a click).
	ErrFunnelViolation = errors.New("funnel violation")
	// ErrLeakage marks a label that leaks into the features.
	ErrLeakage = errors.New("label leakage")
)

// MaxTasks is the largest number of tasks a schema may declare.
const MaxTasks = 32

// FieldType is the declared type of a schema field.
type FieldType string

// Field types accepted in a schema.
const (
	TypeCategorical      FieldType = "categorical"
	TypeMultiCategorical FieldType = "multi_categorical"
	TypeNumeric          FieldType = "numeric"
	TypeIgnore           FieldType = "ignore"
)

// DefaultMissingValues are the raw strings (after trimming) that count as a
// missing numeric value when a field does not set missing_values.
var DefaultMissingValues = []string{"", "?", "NA", "NaN", "nan", "null", "NULL"}

// Format describes the file layout.
type Format struct {
	// Type is csv (default), tsv or parquet. A file named *.parquet is read
	// as Parquet whatever the type (so one schema reads text and Parquet
	// copies of the same data); format.columns, when given, must then be
	// the Parquet file's columns (in any order).
	Type string `yaml:"type" json:"type"`
	// Separator splits the columns; it may have several characters (", ").
	// Default "," for csv and "\t" for tsv.
	Separator string `yaml:"separator" json:"separator"`
	// Header says the first line holds the column names.
	Header bool `yaml:"header" json:"header"`
	// Columns names the columns of a headerless file (required then). With a
	// header, Columns (when given) must equal the header.
	Columns []string `yaml:"columns" json:"columns,omitempty"`
	// Quote is the quote character; default `"`; "" turns quoting off.
	Quote *string `yaml:"quote" json:"quote,omitempty"`
}

// QuoteChar returns the quote byte, 0 when quoting is off.
func (f Format) QuoteChar() byte {
	if f.Quote == nil {
		return '"'
	}
	if *f.Quote == "" {
		return 0
	}
	return (*f.Quote)[0]
}

// Field declares one column used as a feature (or explicitly ignored).
type Field struct {
	Name string    `yaml:"name" json:"name"`
	Type FieldType `yaml:"type" json:"type"`
	// MinCount (categorical, multi_categorical, vocabulary or hashed):
	// values seen fewer times in the training rows map to the OOV id 0 (for
	// a hashed field, before hashing: see "Frequency admission" in the
	// package doc). Nil: chosen from the data (see DefaultMinCount); 1 keeps
	// every value.
	MinCount *int `yaml:"min_count" json:"min_count,omitempty"`
	// HashBuckets (categorical, multi_categorical): hash values into this
	// many buckets instead of building a vocabulary (default 0: a
	// vocabulary).
	HashBuckets int `yaml:"hash_buckets" json:"hash_buckets,omitempty"`
	// Separator (multi_categorical) splits a cell into values; default "|".
	Separator string `yaml:"separator" json:"separator,omitempty"`
	// Transform (numeric): none (default) or log1p (sign(x)·ln(1+|x|)).
	Transform string `yaml:"transform" json:"transform,omitempty"`
	// Normalize (numeric): standard (default), minmax or none.
	Normalize string `yaml:"normalize" json:"normalize,omitempty"`
	// Missing (numeric): the raw value used for a missing cell: mean
	// (default, the training mean), zero, or a number.
	Missing string `yaml:"missing" json:"missing,omitempty"`
	// MissingValues (numeric): raw strings that mean "missing"; default
	// DefaultMissingValues.
	MissingValues []string `yaml:"missing_values" json:"missing_values"`
	// Buckets (numeric): increasing boundaries; the field becomes categorical
	// with id 0 = missing, 1 = below Buckets[0], k+1 = [Buckets[k-1], Buckets[k]).
	Buckets []float64 `yaml:"buckets" json:"buckets,omitempty"`
}

// Task declares one binary label.
type Task struct {
	Name  string `yaml:"name" json:"name"`
	Label string `yaml:"label" json:"label"`
	// Positive lists the raw values meaning 1; default ["1"].
	Positive []string `yaml:"positive" json:"positive"`
	// Negative, when given, lists the values meaning 0 and every other value
	// is an error. When omitted, every non-empty value not in Positive is 0.
	Negative []string `yaml:"negative" json:"negative"`
	// After names an earlier task this one follows in a funnel (conversion
	// after click): a positive here requires a positive there.
	After string `yaml:"after" json:"after,omitempty"`
	// NegativeSampling is the rate at which the log kept this task's
	// negative rows (0 < rate ≤ 1; positives all kept); nil means none. Only
	// the first task may set it, and only when every other task comes after
	// another (see "Negative down-sampling" in the package doc).
	NegativeSampling *float64 `yaml:"negative_sampling" json:"negative_sampling,omitempty"`
}

// Schema is a parsed and validated dataset schema.
type Schema struct {
	Format Format  `yaml:"format" json:"format"`
	Fields []Field `yaml:"fields" json:"fields"`
	Tasks  []Task  `yaml:"tasks" json:"tasks"`
	// GroupBy names the column that groups rows for gAUC (need not be a feature).
	GroupBy string `yaml:"group_by" json:"group_by,omitempty"`
	// AllowLeakage turns the label-leakage checks off.
	AllowLeakage bool `yaml:"allow_leakage" json:"allow_leakage,omitempty"`
	// FunnelViolations is error (default) or drop (drop and count such rows).
	FunnelViolations string `yaml:"funnel_violations" json:"funnel_violations,omitempty"`
	// UnlistedColumns is error (default: every column must be a field, a
	// label or group_by; list the rest as type ignore) or ignore.
	UnlistedColumns string `yaml:"unlisted_columns" json:"unlisted_columns,omitempty"`
}

// LoadSchema reads and validates a schema file.
func LoadSchema(path string) (*Schema, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("feature: load schema: %w", err)
	}
	s, err := ParseSchema(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

var unknownKeyRE = regexp.MustCompile(`line (\d+): field (\S+) not found in type feature\.(\w+)`)

var typeContext = map[string]string{"Schema": "top level", "Format": "format", "Field": "a field", "Task": "a task"}

// ParseSchema parses and validates a YAML schema. Unknown keys are errors
// naming the key and line.
func ParseSchema(b []byte) (*Schema, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Schema
	if err := dec.Decode(&s); err != nil {
		msg := err.Error()
		if m := unknownKeyRE.FindStringSubmatch(msg); m != nil {
			return nil, fmt.Errorf("feature: schema: line %s: unknown key %q in %s: %w", m[1], m[2], typeContext[m[3]], ErrSchema)
		}
		msg = strings.ReplaceAll(strings.TrimPrefix(msg, "yaml: "), "\n ", ";")
		return nil, fmt.Errorf("feature: schema: %s: %w", msg, ErrSchema)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

func schemaErr(format string, args ...any) error {
	return fmt.Errorf("feature: schema: %s: %w", fmt.Sprintf(format, args...), ErrSchema)
}

// Validate checks the schema and fills defaults (separator, positive, ...).
func (s *Schema) Validate() error {
	f := &s.Format
	switch f.Type {
	case "", "csv":
		f.Type = "csv"
		if f.Separator == "" {
			f.Separator = ","
		}
	case "tsv":
		if f.Separator == "" {
			f.Separator = "\t"
		}
	case "parquet": // column names come from the file; separator unused
		if f.Separator == "" {
			f.Separator = ","
		}
	default:
		return schemaErr("format.type: want csv, tsv or parquet, got %q", f.Type)
	}
	if strings.ContainsAny(f.Separator, "\r\n") {
		return schemaErr("format.separator: must not hold a line break")
	}
	if f.Quote != nil && len(*f.Quote) > 1 {
		return schemaErr("format.quote: want one character or \"\", got %q", *f.Quote)
	}
	if q := f.QuoteChar(); q != 0 && strings.IndexByte(f.Separator, q) >= 0 {
		return schemaErr("format.quote: %q is part of the separator %q", q, f.Separator)
	}
	if !f.Header && len(f.Columns) == 0 && f.Type != "parquet" {
		return schemaErr("format: a headerless file needs format.columns (or set header: true)")
	}
	for i, c := range f.Columns {
		if strings.TrimSpace(c) == "" {
			return schemaErr("format.columns[%d]: empty name", i)
		}
		if slices.Index(f.Columns, c) != i {
			return schemaErr("format.columns[%d]: duplicate column %q", i, c)
		}
	}
	switch s.FunnelViolations {
	case "":
		s.FunnelViolations = "error"
	case "error", "drop":
	default:
		return schemaErr("funnel_violations: want error or drop, got %q", s.FunnelViolations)
	}
	switch s.UnlistedColumns {
	case "":
		s.UnlistedColumns = "error"
	case "error", "ignore":
	default:
		return schemaErr("unlisted_columns: want error or ignore, got %q", s.UnlistedColumns)
	}
	seen := map[string]int{}
	features := 0
	for i := range s.Fields {
		fd := &s.Fields[i]
		if err := fd.validate(); err != nil {
			return schemaErr("fields[%d] %q: %v", i, fd.Name, err)
		}
		if j, ok := seen[fd.Name]; ok {
			return schemaErr("fields[%d]: duplicate field %q (also fields[%d])", i, fd.Name, j)
		}
		seen[fd.Name] = i
		if fd.Type != TypeIgnore {
			features++
		}
	}
	if features == 0 {
		return schemaErr("fields: no feature field (all missing or ignore)")
	}
	if len(s.Tasks) == 0 {
		return schemaErr("tasks: at least one task is required")
	}
	if len(s.Tasks) > MaxTasks {
		return schemaErr("tasks: at most %d tasks, got %d", MaxTasks, len(s.Tasks))
	}
	tasks := map[string]int{}
	for i := range s.Tasks {
		t := &s.Tasks[i]
		if t.Name == "" {
			return schemaErr("tasks[%d]: name is required", i)
		}
		if t.Name == "ctcvr" {
			return schemaErr("tasks[%d]: name %q is reserved for the funnel product", i, t.Name)
		}
		if _, dup := tasks[t.Name]; dup {
			return schemaErr("tasks[%d]: duplicate task %q", i, t.Name)
		}
		if t.Label == "" {
			return schemaErr("tasks[%d] %q: label is required", i, t.Name)
		}
		if len(t.Positive) == 0 {
			t.Positive = []string{"1"}
		}
		for j := range t.Positive {
			t.Positive[j] = strings.TrimSpace(t.Positive[j])
		}
		for j := range t.Negative {
			t.Negative[j] = strings.TrimSpace(t.Negative[j])
			if slices.Contains(t.Positive, t.Negative[j]) {
				return schemaErr("tasks[%d] %q: value %q is both positive and negative", i, t.Name, t.Negative[j])
			}
		}
		if t.After != "" {
			if _, ok := tasks[t.After]; !ok {
				return schemaErr("tasks[%d] %q: after: %q is not an earlier task", i, t.Name, t.After)
			}
		}
		if w := t.NegativeSampling; w != nil {
			if !(*w > 0 && *w <= 1) {
				return schemaErr("tasks[%d] %q: negative_sampling: want a rate in (0, 1], got %v", i, t.Name, *w)
			}
			if i > 0 {
				return schemaErr("tasks[%d] %q: negative_sampling: only the first task may declare it", i, t.Name)
			}
		}
		if i > 0 && t.After == "" && s.Tasks[0].NegativeSampling != nil {
			return schemaErr("tasks[0] %q: negative_sampling: every other task must come after another (tasks[%d] %q does not), since down-sampling %q biases an unrelated task beyond correction", s.Tasks[0].Name, i, t.Name, s.Tasks[0].Name)
		}
		tasks[t.Name] = i
		if j, ok := seen[t.Label]; ok {
			switch {
			case s.Fields[j].Type == TypeIgnore:
				return schemaErr("tasks[%d] %q: label column %q is also declared as fields[%d] with type ignore", i, t.Name, t.Label, j)
			case !s.AllowLeakage:
				return fmt.Errorf("feature: schema: tasks[%d] %q: label column %q is also the feature fields[%d] (set allow_leakage: true to allow it): %w", i, t.Name, t.Label, j, ErrLeakage)
			}
		}
	}
	return nil
}

func (fd *Field) validate() error {
	if strings.TrimSpace(fd.Name) == "" {
		return errors.New("name is required")
	}
	num := fd.Type == TypeNumeric
	cat := fd.Type == TypeCategorical || fd.Type == TypeMultiCategorical
	switch fd.Type {
	case TypeCategorical, TypeMultiCategorical, TypeNumeric, TypeIgnore:
	case "":
		return errors.New("type is required (categorical, multi_categorical, numeric or ignore)")
	default:
		return fmt.Errorf("type: want categorical, multi_categorical, numeric or ignore, got %q", fd.Type)
	}
	if fd.MinCount != nil && (!cat || *fd.MinCount < 1) {
		if !cat {
			return fmt.Errorf("min_count: only for categorical fields")
		}
		return fmt.Errorf("min_count: want >= 1, got %d", *fd.MinCount)
	}
	if fd.HashBuckets != 0 {
		if !cat {
			return fmt.Errorf("hash_buckets: only for categorical and multi_categorical fields")
		}
		if fd.HashBuckets < 1 || fd.HashBuckets > 1<<30 {
			return fmt.Errorf("hash_buckets: want 1..%d, got %d", 1<<30, fd.HashBuckets)
		}
	}
	if fd.Separator != "" && fd.Type != TypeMultiCategorical {
		return fmt.Errorf("separator: only for multi_categorical fields")
	}
	if fd.Type == TypeMultiCategorical && fd.Separator == "" {
		fd.Separator = "|"
	}
	if !num && (fd.Transform != "" || fd.Normalize != "" || fd.Missing != "" || fd.MissingValues != nil || fd.Buckets != nil) {
		return fmt.Errorf("transform, normalize, missing, missing_values and buckets are only for numeric fields")
	}
	if !num {
		return nil
	}
	switch fd.Transform {
	case "", "none":
		fd.Transform = "none"
	case "log1p":
	default:
		return fmt.Errorf("transform: want log1p or none, got %q", fd.Transform)
	}
	switch fd.Normalize {
	case "", "standard":
		fd.Normalize = "standard"
	case "minmax", "none":
	default:
		return fmt.Errorf("normalize: want standard, minmax or none, got %q", fd.Normalize)
	}
	switch fd.Missing {
	case "":
		fd.Missing = "mean"
	case "mean", "zero":
	default:
		if _, st := parseNumber([]byte(fd.Missing), nil); st != numOK {
			return fmt.Errorf("missing: want mean, zero or a decimal number with |x| ≤ %s, got %q", maxAbsRawText, fd.Missing)
		}
	}
	if fd.MissingValues == nil {
		fd.MissingValues = slices.Clone(DefaultMissingValues)
	}
	for i := range fd.MissingValues {
		fd.MissingValues[i] = strings.TrimSpace(fd.MissingValues[i])
	}
	for i, b := range fd.Buckets {
		if math.IsNaN(b) || math.IsInf(b, 0) {
			return fmt.Errorf("buckets[%d]: want a finite number", i)
		}
		if i > 0 && b <= fd.Buckets[i-1] {
			return fmt.Errorf("buckets[%d]: boundaries must increase (%v after %v)", i, b, fd.Buckets[i-1])
		}
	}
	if fd.Buckets != nil && len(fd.Buckets) == 0 {
		return fmt.Errorf("buckets: empty list")
	}
	return nil
}

// layout maps schema names to column indexes of one file.
type layout struct {
	columns []string
	field   []int // per s.Fields entry (-1 for ignore)
	label   []int // per task; -1 when the label column is absent
	group   int   // -1 when no group_by (or absent)
}

// bind resolves the schema against the column names of a file. When
// requireLabels is false, absent label and group columns are allowed (-1).
func (s *Schema) bind(columns []string, requireLabels bool) (*layout, error) {
	idx := make(map[string]int, len(columns))
	for i, c := range columns {
		if j, dup := idx[c]; dup {
			return nil, schemaErr("columns %d and %d are both named %q", j+1, i+1, c)
		}
		idx[c] = i
	}
	l := &layout{columns: slices.Clone(columns), group: -1}
	used := make([]bool, len(columns))
	find := func(what, name string, required bool) (int, error) {
		i, ok := idx[name]
		if !ok {
			if !required {
				return -1, nil
			}
			return -1, schemaErr("%s: no column %q in the file (columns: %s)", what, name, abbrev(columns))
		}
		used[i] = true
		return i, nil
	}
	for i, fd := range s.Fields {
		if fd.Type == TypeIgnore {
			if j, ok := idx[fd.Name]; ok {
				used[j] = true
			}
			l.field = append(l.field, -1)
			continue
		}
		c, err := find(fmt.Sprintf("fields[%d]", i), fd.Name, true)
		if err != nil {
			return nil, err
		}
		l.field = append(l.field, c)
	}
	for i, t := range s.Tasks {
		c, err := find(fmt.Sprintf("tasks[%d] %q: label", i, t.Name), t.Label, requireLabels)
		if err != nil {
			return nil, err
		}
		l.label = append(l.label, c)
	}
	if s.GroupBy != "" {
		c, err := find("group_by", s.GroupBy, requireLabels)
		if err != nil {
			return nil, err
		}
		l.group = c
	}
	if s.UnlistedColumns == "error" && requireLabels {
		var un []string
		for i, u := range used {
			if !u {
				un = append(un, columns[i])
			}
		}
		if len(un) > 0 {
			return nil, schemaErr("columns not mentioned in fields, tasks or group_by: %s (list them as {name: ..., type: ignore} or set unlisted_columns: ignore)", abbrev(un))
		}
	}
	return l, nil
}

func abbrev(names []string) string {
	if len(names) <= 12 {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:12], ", ") + fmt.Sprintf(", … (%d in all)", len(names))
}

// FeatureNames returns the names of the non-ignored fields in schema order.
func (s *Schema) FeatureNames() []string {
	var out []string
	for _, f := range s.Fields {
		if f.Type != TypeIgnore {
			out = append(out, f.Name)
		}
	}
	return out
}
