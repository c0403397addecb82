package model_test

import (
	"testing"

	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/model/modeltest"
)

func f(v float64) *float64 { return &v }
func b(v bool) *bool       { return &v }

// small keeps the gradient check fast.
func small(c model.Config) model.Config {
	c.EmbeddingDim = 3
	c.Proj = 4
	c.Deep = []int{5}
	c.Tower = []int{4}
	if c.StateSize == 0 && c.SharedHidden == 0 {
		c.StateSize = 4
	}
	c.CrossSteps = 2
	return c
}

func TestDCRNNConformance(t *testing.T) {
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
							Cfg: small(model.Config{CrossMode: mode, Cell: cell, Rho: f(rho), Transfer: b(transfer)})})
					}
				}
			}
		}
	}
	cases = append(cases,
		modeltest.Case{Name: "uncertainty/funnel", Funnel: true, Cfg: small(model.Config{LossWeighting: "uncertainty"})},
		modeltest.Case{Name: "nodeep", Cfg: small(model.Config{Deep: []int{}})},
	)
	if testing.Short() {
		cases = cases[:4]
	}
	modeltest.Run(t, "dcrnn", cases)
}

func TestSharedBottomConformance(t *testing.T) {
	modeltest.Run(t, "shared_bottom", []modeltest.Case{
		{Name: "funnel", Funnel: true, Cfg: small(model.Config{})},
		{Name: "plain", Cfg: small(model.Config{})},
		{Name: "nobottom/uncertainty", Cfg: small(model.Config{Deep: []int{}, LossWeighting: "uncertainty"})},
	})
}

// TestModelFileRoundTrip saves and loads every registered model.
func TestModelFileRoundTrip(t *testing.T) {
	for _, name := range model.Names() {
		t.Run(name, func(t *testing.T) {
			modeltest.FileRoundTrip(t, name, small(model.Config{LossWeighting: "uncertainty"}))
		})
	}
}
