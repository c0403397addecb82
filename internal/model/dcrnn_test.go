package model_test

import (
	"strings"
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
	nocross := []modeltest.Case{
		{Name: "nocross/funnel", Funnel: true, Cfg: modeltest.Small(model.Config{Cross: b(false)})},
		{Name: "nocross/notransfer", Cfg: modeltest.Small(model.Config{Cross: b(false), Transfer: b(false)})},
		{Name: "nocross/fields/lstm", Funnel: true, Cfg: modeltest.Small(model.Config{Cross: b(false), CrossMode: "fields", Cell: "lstm"})},
		{Name: "nocross/nodeep", Funnel: true, Cfg: modeltest.Small(model.Config{Cross: b(false), Deep: []int{}})},
	}
	if testing.Short() {
		cases = cases[:4]
	}
	return append(cases, nocross...)
}

// TestDCRNNCrossOff: cross false builds no cross parameter, whatever the
// cross keys say, and leaves the deep branch, towers and transfer gate of
// the default model.
func TestDCRNNCrossOff(t *testing.T) {
	spec := modeltest.TinySpec(true)
	build := func(c model.Config) model.Model {
		t.Helper()
		cfg := modeltest.Small(c)
		m, err := model.New("dcrnn", &cfg, spec, 1)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	names := func(m model.Model) map[string]int {
		n := map[string]int{}
		for _, p := range m.Params() {
			n[p.Name] = len(p.W)
		}
		return n
	}
	on, off := names(build(model.Config{})), names(build(model.Config{Cross: b(false)}))
	for name := range off {
		if strings.HasPrefix(name, "cross.") {
			t.Errorf("cross false has parameter %s", name)
		}
	}
	var cross int
	for name := range on {
		if strings.HasPrefix(name, "cross.") {
			cross++
			continue
		}
		if _, ok := off[name]; !ok {
			t.Errorf("cross false lacks %s", name)
		}
	}
	if cross == 0 || len(off) == 0 {
		t.Fatalf("default has %d cross parameters, cross false %d parameters", cross, len(off))
	}
	if _, ok := off["transfer.conversion.W"]; !ok {
		t.Errorf("cross false lost the transfer gate: %v", off)
	}
	modeltest.FileRoundTrip(t, "dcrnn", modeltest.Small(model.Config{Cross: b(false)}))
	// The cross keys change nothing.
	ref := model.CountParams(build(model.Config{Cross: b(false)}))
	for _, c := range []model.Config{
		{Cross: b(false), Cell: "lstm"}, {Cross: b(false), CrossMode: "fields"}, {Cross: b(false), Rho: f(0)},
	} {
		if got := model.CountParams(build(c)); got != ref {
			t.Errorf("cross false with %+v: %d parameters, want %d (the cross keys are ignored)", c, got, ref)
		}
	}
}

// TestModelFileRoundTrip saves and loads every registered model.
func TestModelFileRoundTrip(t *testing.T) {
	for _, name := range model.Names() {
		t.Run(name, func(t *testing.T) {
			modeltest.FileRoundTrip(t, name, modeltest.Small(model.Config{LossWeighting: "uncertainty"}))
		})
	}
}
