package data

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/dcrnn/dcrnn/internal/feature"
)

// Report is the result of Inspect.
type Report struct {
	File    string
	Funnel  string // the schema's funnel_violations policy (error|drop)
	Summary feature.Summary
	Stats   Stats
}

// Inspect streams path through the schema and summarizes it: rows, per-field
// distinct values, missing and OOV rates, label rates, funnel consistency and
// bad rows. Funnel violations are counted, not refused; leaks are listed, not
// refused. opt.BadRows decides whether a malformed row stops it.
func Inspect(ctx context.Context, s *feature.Schema, path string, opt FitOptions) (*Report, error) {
	f, st, err := fitRows(ctx, s, path, opt, true)
	if err != nil {
		return nil, err
	}
	return &Report{File: path, Funnel: s.FunnelViolations, Summary: f.Summary(), Stats: st}, nil
}

// Count formats n with thousands separators (99762 → "99,762").
func Count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func pct(a, b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
}

// oovCell formats an OOV rate; a range (low–high) where a hashed field's
// counts spilled into the sketch leave it uncertain.
func oovCell(o feature.OOVRate) string {
	if o.RateMin < o.Rate {
		return fmt.Sprintf("%.1f–%.1f%%", 100*o.RateMin, 100*o.Rate)
	}
	return fmt.Sprintf("%.1f%%", 100*o.Rate)
}

// Write prints the report as text.
func (r *Report) Write(w io.Writer) error {
	s := r.Summary
	var b strings.Builder
	fmt.Fprintf(&b, "file: %s\n", r.File)
	fmt.Fprintf(&b, "rows: %s\n", Count(s.Rows))
	fmt.Fprintf(&b, "bad rows skipped: %s\n", Count(r.Stats.BadRows))
	for _, m := range r.Stats.FirstBad {
		fmt.Fprintf(&b, "  e.g. %s\n", m)
	}
	fmt.Fprintf(&b, "\ntasks:\n")
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  task\tlabel\tpositives\tpositive rate\tafter\n")
	for _, t := range s.Tasks {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", t.Name, t.Label, Count(t.Positives), pct(t.Positives, s.Rows), t.After)
	}
	tw.Flush()
	for _, t := range s.Tasks {
		if t.After == "" {
			continue
		}
		fmt.Fprintf(&b, "funnel %s after %s: %s rows with %s positive and %s negative", t.Name, t.After, Count(s.FunnelViolations), t.Name, t.After)
		if s.FunnelViolations == 0 {
			b.WriteString(" (consistent)\n")
		} else if r.Funnel == "drop" {
			b.WriteString(" (inconsistent: training drops and counts them, funnel_violations: drop)\n")
		} else {
			b.WriteString(" (inconsistent: training refuses them unless funnel_violations: drop)\n")
		}
		break
	}
	fmt.Fprintf(&b, "\ndefault min_count for %s rows: %d (%s)\n", Count(s.Rows), s.DefaultMinCount, feature.DefaultMinCountRule())
	fmt.Fprintf(&b, "\nfields:\n")
	tw = tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	head := "  field\ttype\tdistinct\tmissing"
	for _, th := range feature.InspectMinCounts {
		head += fmt.Sprintf("\tOOV@%d", th)
	}
	fmt.Fprintln(tw, head+"\tmin_count (OOV)\tmean\tstd")
	for _, f := range s.Fields {
		typ := string(f.Type)
		if f.Hashed {
			typ += " (hashed)"
		}
		distinct := "-"
		switch {
		case f.Hashed && f.Values > 0: // values counted, not buckets
			distinct = Count(int64(f.Values))
			if f.Sketched {
				distinct += "+"
			}
		case f.Distinct >= 0:
			distinct = Count(int64(f.Distinct))
		}
		line := fmt.Sprintf("  %s\t%s\t%s\t%s", f.Name, typ, distinct, pct(f.Missing, s.Rows))
		chosen := "-"
		for _, th := range feature.InspectMinCounts {
			cell := "-"
			for _, o := range f.OOV {
				if o.MinCount == th {
					cell = oovCell(o)
				}
			}
			line += "\t" + cell
		}
		for _, o := range f.OOV {
			if o.MinCount == f.MinCount {
				how := "set"
				if f.Default {
					how = "default"
				}
				if f.Hashed {
					chosen = fmt.Sprintf("%d %s (%s, admits %s values, %s rows)", f.MinCount, how, oovCell(o), Count(int64(o.Vocab)), Count(int64(f.Buckets)+1))
				} else {
					chosen = fmt.Sprintf("%d %s (%s, vocab %s)", f.MinCount, how, oovCell(o), Count(int64(o.Vocab)+1))
				}
			}
		}
		mean, std := "-", "-"
		if f.Type == feature.TypeNumeric {
			mean, std = fmt.Sprintf("%.4g", f.Stats.Mean), fmt.Sprintf("%.4g", f.Stats.Std)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", line, chosen, mean, std)
	}
	tw.Flush()
	if len(s.Leaks) > 0 {
		fmt.Fprintf(&b, "\nlabel leakage (training refuses these unless allow_leakage: true):\n")
		for _, l := range s.Leaks {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
