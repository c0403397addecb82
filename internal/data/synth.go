package data

import (
	"context"

	"github.com/dcrnn/dcrnn/internal/synth"
)

// SynthConfig is synth.Config, kept for callers outside this package that
// have not moved to package synth yet.
//
// Deprecated: use synth.Config.
type SynthConfig = synth.Config

// WriteSynthDir calls synth.WriteDir, kept for callers outside this package
// that have not moved to package synth yet (the tests of internal/train).
//
// Deprecated: use synth.WriteDir.
func WriteSynthDir(ctx context.Context, dir string, cfg SynthConfig, truth bool) (synth.Stats, error) {
	return synth.WriteDir(ctx, dir, cfg, truth)
}
