package feature

import (
	"errors"
	"strings"
	"testing"
)

func TestSchemaNegativeSampling(t *testing.T) {
	const head = "format: {type: csv, header: true}\nfields:\n  - {name: x, type: categorical}\ntasks:\n"
	ok := head + "  - {name: click, label: c, negative_sampling: 0.1}\n  - {name: conversion, label: v, after: click}\n"
	s, err := ParseSchema([]byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if w := s.Tasks[0].NegativeSampling; w == nil || *w != 0.1 || s.Tasks[1].NegativeSampling != nil {
		t.Fatalf("parsed rates %v %v", w, s.Tasks[1].NegativeSampling)
	}
	for _, c := range []struct{ tasks, want string }{
		{"  - {name: click, label: c, negative_sampling: 0}\n", "want a rate in (0, 1]"},
		{"  - {name: click, label: c, negative_sampling: 1.5}\n", "want a rate in (0, 1]"},
		{"  - {name: click, label: c, negative_sampling: .nan}\n", "want a rate in (0, 1]"},
		{"  - {name: click, label: c}\n  - {name: conversion, label: v, after: click, negative_sampling: 0.5}\n", "only the first task"},
		{"  - {name: income, label: c, negative_sampling: 0.5}\n  - {name: marital, label: v}\n", "every other task must come after another"},
	} {
		_, err := ParseSchema([]byte(head + c.tasks))
		if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want ErrSchema with %q", c.tasks, err, c.want)
		}
	}
}
