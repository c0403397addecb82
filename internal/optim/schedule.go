package optim

import (
	"fmt"
	"math"
)

// ScheduleKind is the decay applied after the warm-up of a Schedule.
type ScheduleKind uint8

const (
	// Constant keeps the base learning rate after the warm-up (the default).
	Constant ScheduleKind = iota
	// Cosine decays from the base rate to Min along half a cosine over the
	// steps from Warmup to Total (Loshchilov & Hutter, "SGDR", ICLR 2017,
	// without restarts), then stays at Min.
	Cosine
	// Exponential multiplies the rate by Gamma every step after the warm-up.
	Exponential
)

func (k ScheduleKind) String() string {
	switch k {
	case Constant:
		return "constant"
	case Cosine:
		return "cosine"
	case Exponential:
		return "exponential"
	}
	return fmt.Sprintf("ScheduleKind(%d)", uint8(k))
}

// ParseScheduleKind parses "constant", "cosine" or "exponential".
func ParseScheduleKind(s string) (ScheduleKind, error) {
	switch s {
	case "constant", "":
		return Constant, nil
	case "cosine":
		return Cosine, nil
	case "exponential", "exp":
		return Exponential, nil
	}
	return 0, fmt.Errorf("%w: lr schedule %q: want constant, cosine or exponential", ErrConfig, s)
}

// Schedule is a learning-rate schedule: a linear warm-up over the first
// Warmup steps, then Kind. Steps are counted from 0 (the first Step of the
// optimizer is step 0).
type Schedule struct {
	Base   float64      // learning rate after the warm-up
	Kind   ScheduleKind // decay after the warm-up, default Constant
	Warmup int          // warm-up steps: step s < Warmup uses Base·(s+1)/Warmup; default 0
	Total  int          // Cosine: the step at which the rate reaches Min
	Min    float64      // Cosine: final learning rate, default 0
	Gamma  float64      // Exponential: per-step factor in (0, 1]
}

// Validate reports an inconsistent schedule.
func (s Schedule) Validate() error {
	switch {
	case !(s.Base >= 0) || math.IsInf(s.Base, 0):
		return fmt.Errorf("%w: lr schedule: base %v: want a finite value ≥ 0", ErrConfig, s.Base)
	case s.Warmup < 0:
		return fmt.Errorf("%w: lr schedule: warmup %d < 0", ErrConfig, s.Warmup)
	case s.Kind > Exponential:
		return fmt.Errorf("%w: lr schedule: unknown kind %v", ErrConfig, s.Kind)
	case s.Kind == Cosine && s.Total <= s.Warmup:
		return fmt.Errorf("%w: lr schedule: cosine total %d must exceed warmup %d", ErrConfig, s.Total, s.Warmup)
	case s.Kind == Cosine && !(s.Min >= 0 && s.Min <= s.Base):
		return fmt.Errorf("%w: lr schedule: cosine min %v: want 0 ≤ min ≤ base %v", ErrConfig, s.Min, s.Base)
	case s.Kind == Exponential && !(s.Gamma > 0 && s.Gamma <= 1):
		return fmt.Errorf("%w: lr schedule: gamma %v: want 0 < gamma ≤ 1", ErrConfig, s.Gamma)
	}
	return nil
}

// LR returns the learning rate of step (counted from 0).
func (s Schedule) LR(step int) float64 {
	if step < s.Warmup {
		return s.Base * float64(step+1) / float64(s.Warmup)
	}
	d := step - s.Warmup
	switch s.Kind {
	case Cosine:
		n := s.Total - s.Warmup
		if d >= n {
			return s.Min
		}
		return s.Min + (s.Base-s.Min)*0.5*(1+math.Cos(math.Pi*float64(d)/float64(n)))
	case Exponential:
		return s.Base * math.Pow(s.Gamma, float64(d))
	}
	return s.Base
}
