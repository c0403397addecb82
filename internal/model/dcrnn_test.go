package model_test

import (
	"testing"

	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/model/modeltest"
)

func f(v float64) *float64 { return &v }
func b(v bool) *bool       { return &v }

// dcrnnCases are DCRNN's own conformance cases: every cross mode, cell,
// sharing ratio (0: no shared state, 1: no private one), with and without
// the transfer gate and a funnel, and without the deep branch.
func dcrnnCases() []modeltest.Case {
	var cases []modeltest.Case
	for _, mode := range []string{"depth", "fields"} {
		for _, cell := range []string{"gru", "lstm", "rnn"} {
			for _, rho := range []float64{0, 0.5, 1} {
				for _, transfer := range []bool{true, false} {
					for _, funnel := range []bool{true, false} {
						name := mode + "/" + cell + "/rho" + map[float64]string{0: "0", 0.5: "0.5", 1: "1"}[rho] +
							map[bool]string{true: "/transfer", false: "/notransfer"}[transfer] +
							map[bool]string{true: "/funnel", false: "/nofunnel"}[funnel]
						cases = append(cases, modeltest.Case{Name: name, Funnel: funnel,
							Cfg: modeltest.Small(model.Config{CrossMode: mode, Cell: cell, Rho: f(rho), Transfer: b(transfer)})})
					}
				}
			}
		}
	}
	cases = append(cases,
		modeltest.Case{Name: "nodeep", Cfg: modeltest.Small(model.Config{Deep: []int{}})},
		modeltest.Case{Name: "nodeep/notower/funnel", Funnel: true, Cfg: modeltest.Small(model.Config{Deep: []int{}, Tower: []int{}})},
	)
	if testing.Short() {
		cases = cases[:4]
	}
	return cases
}

// TestModelFileRoundTrip saves and loads every registered model.
func TestModelFileRoundTrip(t *testing.T) {
	for _, name := range model.Names() {
		t.Run(name, func(t *testing.T) {
			modeltest.FileRoundTrip(t, name, modeltest.Small(model.Config{LossWeighting: "uncertainty"}))
		})
	}
}
