package tensor

import (
	"slices"
	"testing"
)

func TestVecHelpers(t *testing.T) {
	x := []float32{1, -2, 3, -4, 5, -6} // 2×3
	tests := []struct {
		name string
		run  func() []float32
		want []float32
	}{
		{"AddRowVector", func() []float32 {
			d := slices.Clone(x)
			AddRowVector(d, 2, 3, []float32{10, 20, 30, 99})
			return d
		}, []float32{11, 18, 33, 6, 25, 24}},
		{"SetRowVector", func() []float32 {
			d := slices.Clone(x)
			SetRowVector(d, 2, 3, []float32{7, 8, 9})
			return d
		}, []float32{7, 8, 9, 7, 8, 9}},
		{"SumRows accumulates", func() []float32 {
			d := []float32{100, 200, 300}
			SumRows(d, x, 2, 3)
			return d
		}, []float32{97, 203, 297}},
		{"SumRows 3×2", func() []float32 {
			d := make([]float32, 2)
			SumRows(d, x, 3, 2)
			return d
		}, []float32{9, -12}},
		{"Axpy", func() []float32 {
			d := []float32{1, 1, 1}
			Axpy(d, -2, x)
			return d
		}, []float32{-1, 5, -5}},
		{"Scale", func() []float32 {
			d := slices.Clone(x)
			Scale(d, 0.5)
			return d
		}, []float32{0.5, -1, 1.5, -2, 2.5, -3}},
		{"Add", func() []float32 {
			d := []float32{1, 2}
			Add(d, x)
			return d
		}, []float32{2, 0}},
		{"Mul", func() []float32 {
			d := make([]float32, 3)
			Mul(d, x, []float32{2, 3, 4})
			return d
		}, []float32{2, -6, 12}},
		{"Dot", func() []float32 {
			return []float32{Dot(x[:3], []float32{1, 1, 2, 50})}
		}, []float32{5}},
		{"ReLU", func() []float32 {
			d := make([]float32, 6)
			ReLU(d, x)
			return d
		}, []float32{1, 0, 3, 0, 5, 0}},
		{"ReLU in place", func() []float32 {
			d := slices.Clone(x)
			ReLU(d, d)
			return d
		}, []float32{1, 0, 3, 0, 5, 0}},
		{"ReLUBackward", func() []float32 {
			d := []float32{9, 9, 9, 9}
			ReLUBackward(d, []float32{1, 2, 3, 4}, []float32{0.5, 0, -1, 2})
			return d
		}, []float32{1, 0, 0, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.run(); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestVecHelpersPanicOnShortInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"AddRowVector short v", func() { AddRowVector(make([]float32, 6), 2, 3, make([]float32, 2)) }},
		{"AddRowVector short dst", func() { AddRowVector(make([]float32, 5), 2, 3, make([]float32, 3)) }},
		{"SumRows short dst", func() { SumRows(make([]float32, 2), make([]float32, 6), 2, 3) }},
		{"SumRows short src", func() { SumRows(make([]float32, 3), make([]float32, 5), 2, 3) }},
		{"Axpy short x", func() { Axpy(make([]float32, 3), 1, make([]float32, 2)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.f()
		})
	}
}

func BenchmarkSumRows(b *testing.B) {
	src := make([]float32, 1024*256)
	dst := make([]float32, 256)
	b.ReportAllocs()
	b.SetBytes(int64(4 * len(src)))
	for b.Loop() {
		SumRows(dst, src, 1024, 256)
	}
}

func BenchmarkAddRowVector(b *testing.B) {
	dst := make([]float32, 1024*256)
	v := make([]float32, 256)
	b.ReportAllocs()
	b.SetBytes(int64(4 * len(dst)))
	for b.Loop() {
		AddRowVector(dst, 1024, 256, v)
	}
}
