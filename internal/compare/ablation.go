package compare

import (
	"fmt"
	"strings"
)

// AblationModel is the model the ablation trains.
const AblationModel = "dcrnn"

// DefaultVariant names the ablation's reference row: the compared config
// without an override. Every ablation starts with it.
const DefaultVariant = "default"

// Variant is one row of the DCRNN ablation: config overrides applied, like
// --set, on top of the config every model reads.
type Variant struct {
	// Name is the row's label: "default", "no-cross", "no-transfer" or a
	// key=value override such as "rho=0" or "cell=lstm".
	Name string `json:"name"`
	// Set lists the overrides as key=value (none for the default).
	Set []string `json:"set"`
}

// namedVariants are the variants with a name of their own.
var namedVariants = map[string][]string{
	DefaultVariant: nil,
	"no-cross":     {"cross=false"},
	"no-transfer":  {"transfer=false"},
}

// AblationAll is the list --ablate all stands for: the recurrent cross
// block off, each sharing ratio, each cell, each cross mode, transfer off.
// Variants whose config equals the default's (rho=0.5, cell=gru,
// cross_mode=depth with the default config) reuse its runs.
var AblationAll = []string{DefaultVariant, "no-cross", "rho=0", "rho=0.5", "rho=1",
	"cell=gru", "cell=lstm", "cell=rnn", "cross_mode=depth", "cross_mode=fields", "no-transfer"}

// ParseAblate parses the --ablate list: comma-separated variant names, each
// "default", "no-cross" (cross=false), "no-transfer" (transfer=false), "all"
// (AblationAll) or one key=value config override (for example rho=0,
// cell=lstm, cross_mode=fields, cross_steps=5). The result starts with the
// default variant even when the list does not name it, and keeps the first
// of variants that "all" repeats; a variant named twice is an error. Whether
// a key exists and its value fits is checked when the config is loaded.
// "" means no ablation.
func ParseAblate(s string) ([]Variant, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	vs := []Variant{{Name: DefaultVariant}}
	have := map[string]bool{DefaultVariant: true}
	named := map[string]bool{}
	add := func(n string) error {
		set, ok := namedVariants[n]
		if !ok {
			key, val, isSet := strings.Cut(n, "=")
			key, val = strings.TrimSpace(key), strings.TrimSpace(val)
			if !isSet || key == "" || val == "" {
				return fmt.Errorf("compare: --ablate: variant %q: want default, no-cross, no-transfer, all or key=value (e.g. rho=0, cell=lstm)", n)
			}
			if key == "seed" {
				return fmt.Errorf("compare: --ablate: variant %q: the seeds are 1..--seeds, not a variant", n)
			}
			n = key + "=" + val
			set = []string{n}
		}
		if !have[n] {
			have[n] = true
			vs = append(vs, Variant{Name: n, Set: set})
		}
		return nil
	}
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if n == "all" {
			for _, a := range AblationAll {
				if err := add(a); err != nil {
					return nil, err
				}
			}
			continue
		}
		key := strings.Join(strings.Fields(strings.ReplaceAll(n, "=", " = ")), "")
		if named[key] {
			return nil, fmt.Errorf("compare: --ablate: %q is listed twice", n)
		}
		named[key] = true
		if err := add(n); err != nil {
			return nil, err
		}
	}
	return vs, nil
}
