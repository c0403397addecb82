package optim

import (
	"errors"
	"math"
	"testing"
)

func TestSchedule(t *testing.T) {
	tests := []struct {
		name string
		s    Schedule
		step int
		want float64
	}{
		{"warmup first", Schedule{Base: 1, Warmup: 4}, 0, 0.25},
		{"warmup last", Schedule{Base: 1, Warmup: 4}, 3, 1},
		{"constant", Schedule{Base: 0.5, Warmup: 4}, 100, 0.5},
		{"no warmup", Schedule{Base: 0.5}, 0, 0.5},
		{"cosine start", Schedule{Base: 1, Kind: Cosine, Warmup: 10, Total: 110, Min: 0.1}, 10, 1},
		{"cosine middle", Schedule{Base: 1, Kind: Cosine, Warmup: 10, Total: 110, Min: 0.1}, 60, 0.55},
		{"cosine quarter", Schedule{Base: 1, Kind: Cosine, Total: 100}, 25, 0.5 * (1 + math.Sqrt2/2)},
		{"cosine end", Schedule{Base: 1, Kind: Cosine, Warmup: 10, Total: 110, Min: 0.1}, 110, 0.1},
		{"cosine after", Schedule{Base: 1, Kind: Cosine, Warmup: 10, Total: 110, Min: 0.1}, 500, 0.1},
		{"exp", Schedule{Base: 2, Kind: Exponential, Warmup: 2, Gamma: 0.5}, 5, 0.25},
		{"exp warmup", Schedule{Base: 2, Kind: Exponential, Warmup: 2, Gamma: 0.5}, 0, 1},
	}
	for _, tc := range tests {
		if err := tc.s.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", tc.name, err)
		}
		if got := tc.s.LR(tc.step); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: LR(%d) = %v, want %v", tc.name, tc.step, got, tc.want)
		}
	}
	for _, s := range []Schedule{
		{Base: -1},
		{Base: 1, Warmup: -1},
		{Base: 1, Kind: Cosine, Warmup: 5, Total: 5},
		{Base: 1, Kind: Cosine, Total: 5, Min: 2},
		{Base: 1, Kind: Exponential, Gamma: 0},
		{Base: 1, Kind: Exponential, Gamma: 1.5},
		{Base: 1, Kind: 9},
	} {
		if err := s.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: Validate = %v, want ErrConfig", s, err)
		}
	}
	for _, name := range []string{"constant", "cosine", "exponential"} {
		if k, err := ParseScheduleKind(name); err != nil || k.String() != name {
			t.Errorf("ParseScheduleKind(%q) = %v, %v", name, k, err)
		}
	}
	if _, err := ParseScheduleKind("linear"); !errors.Is(err, ErrConfig) {
		t.Errorf("ParseScheduleKind(linear): %v, want ErrConfig", err)
	}
}
