package model_test

import (
	"testing"

	"github.com/dcrnn/dcrnn/internal/model"
	"github.com/dcrnn/dcrnn/internal/model/modeltest"
)

// TestConformance runs the conformance suite (modeltest.Run: shapes,
// determinism, zero allocations, the whole-model gradient check) over every
// registered model with the base cases, plus the cases below for the config
// keys that only one model reads. A new model needs no entry here.
func TestConformance(t *testing.T) {
	small := modeltest.Small
	modeltest.RunAll(t, map[string][]modeltest.Case{
		"dcrnn":         dcrnnCases(),
		"shared_bottom": {{Name: "nobottom/uncertainty", Cfg: small(model.Config{Deep: []int{}, LossWeighting: "uncertainty"})}},
		"single":        {{Name: "nodeep/notower", Cfg: small(model.Config{Deep: []int{}, Tower: []int{}})}},
		"esmm":          {{Name: "nodeep", Funnel: true, Cfg: small(model.Config{Deep: []int{}})}},
		"mmoe": {
			{Name: "oneexpert", Cfg: small(model.Config{Experts: 1})},
			{Name: "deepexperts", Funnel: true, Cfg: small(model.Config{Experts: 5, ExpertHidden: []int{4, 3}})},
		},
		"ple": {
			{Name: "levels2", Funnel: true, Cfg: small(model.Config{Levels: 2})},
			{Name: "levels3/wide", Cfg: small(model.Config{Levels: 3, SharedExperts: 1, TaskExperts: 2, ExpertHidden: []int{4, 3}})},
		},
		"aitm": {
			{Name: "nodeep", Funnel: true, Cfg: small(model.Config{Deep: []int{}})},
			{Name: "notower", Cfg: small(model.Config{Tower: []int{}})},
		},
		"dcnv2": {
			{Name: "nodeep", Funnel: true, Cfg: small(model.Config{Deep: []int{}})},
			{Name: "onecross", Cfg: small(model.Config{CrossLayers: 1})},
		},
	})
}
