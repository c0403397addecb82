package metric

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bruteAUC counts every (positive, negative) pair: 1 if the positive scores
// higher, 1/2 on a tie.
func bruteAUC(scores, labels []float32) float64 {
	var num, pairs float64
	for i := range scores {
		if labels[i] <= 0.5 {
			continue
		}
		for j := range scores {
			if labels[j] > 0.5 {
				continue
			}
			pairs++
			switch {
			case scores[i] > scores[j]:
				num++
			case scores[i] == scores[j]:
				num += 0.5
			}
		}
	}
	return num / pairs
}

func TestAUCAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		n := 1 + r.IntN(400)
		levels := 1 + r.IntN(10) // heavy ties
		scores := make([]float32, n)
		labels := make([]float32, n)
		for i := range n {
			scores[i] = float32(r.IntN(levels)) / 10
			if r.Float64() < 0.3+0.05*float64(scores[i]*10) {
				labels[i] = 1
			}
		}
		labels[0], labels[n-1] = 1, 0 // both classes (n may be 1: then only one)
		got := AUC(scores, labels)
		if n == 1 {
			if !math.IsNaN(got) {
				t.Fatalf("trial %d: one row: got %v, want NaN", trial, got)
			}
			continue
		}
		want := bruteAUC(scores, labels)
		if math.Abs(got-want) > 1e-12 {
			t.Fatalf("trial %d (n=%d, levels=%d): AUC %v, brute force %v", trial, n, levels, got, want)
		}
	}
}

func TestAUCCases(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name   string
		scores []float32
		labels []float32
		want   float64 // NaN means want NaN
	}{
		{"perfect", []float32{0.1, 0.2, 0.8, 0.9}, []float32{0, 0, 1, 1}, 1},
		{"inverse", []float32{0.9, 0.8, 0.2, 0.1}, []float32{0, 0, 1, 1}, 0},
		{"constant", []float32{0.5, 0.5, 0.5, 0.5, 0.5}, []float32{0, 1, 0, 1, 1}, 0.5},
		{"one pair tie", []float32{0.3, 0.3, 0.9}, []float32{1, 0, 0}, 0.25},
		{"hand 3/4", []float32{0.2, 0.4, 0.6, 0.8}, []float32{0, 1, 0, 1}, 0.75},
		{"NaN ranks lowest", []float32{nan, 0.1}, []float32{0, 1}, 1},
		{"only positives", []float32{0.1, 0.2}, []float32{1, 1}, math.NaN()},
		{"only negatives", []float32{0.1, 0.2}, []float32{0, 0}, math.NaN()},
		{"empty", nil, nil, math.NaN()},
	}
	for _, tc := range tests {
		got := AUC(tc.scores, tc.labels)
		if math.IsNaN(tc.want) != math.IsNaN(got) || (!math.IsNaN(got) && got != tc.want) {
			t.Errorf("%s: AUC = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAUCDeterministicUnderPermutation(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	n := 5000
	s := make([]float32, n)
	y := make([]float32, n)
	for i := range n {
		s[i] = float32(r.IntN(7))
		y[i] = float32(r.IntN(2))
	}
	a := AUC(s, y)
	r.Shuffle(n, func(i, j int) { s[i], s[j] = s[j], s[i]; y[i], y[j] = y[j], y[i] })
	if b := AUC(s, y); math.Float64bits(a) != math.Float64bits(b) {
		t.Fatalf("AUC changed under permutation: %v vs %v", a, b)
	}
}

func TestGAUCHandExample(t *testing.T) {
	// group 7: pos 0.9 vs negs 0.1, 0.5, 0.9 -> (1+1+0.5)/3 = 5/6, 4 rows
	// group 3: pos 0.2, 0.3 vs negs 0.8, 0.1 -> 2/4 = 1/2, 4 rows
	// group 5: positives only -> skipped
	// gAUC = (4·5/6 + 4·1/2) / 8 = 2/3
	scores := []float32{0.9, 0.2, 0.1, 0.8, 0.4, 0.5, 0.3, 0.6, 0.9, 0.1}
	labels := []float32{1, 1, 0, 0, 1, 0, 1, 1, 0, 0}
	groups := []int64{7, 3, 7, 3, 5, 7, 3, 5, 7, 3}
	got := GAUC(scores, labels, groups)
	if want := 2.0 / 3.0; math.Abs(got-want) > 1e-15 {
		t.Fatalf("GAUC = %v, want %v", got, want)
	}
	if g := GAUC([]float32{0.1, 0.2}, []float32{1, 0}, []int64{1, 2}); !math.IsNaN(g) {
		t.Fatalf("GAUC with no two-class group = %v, want NaN", g)
	}
}

func TestGAUCOneGroupEqualsAUC(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	n := 1000
	s := make([]float32, n)
	y := make([]float32, n)
	g := make([]int64, n)
	for i := range n {
		s[i] = float32(r.IntN(20))
		y[i] = float32(r.IntN(2))
		g[i] = 42
	}
	if a, b := AUC(s, y), GAUC(s, y, g); a != b {
		t.Fatalf("single group: GAUC %v != AUC %v", b, a)
	}
}

func TestLogLossHand(t *testing.T) {
	p := []float32{0.9, 0.2, 0, 1, 0.5}
	y := []float32{1, 0, 1, 0, 1}
	hi := 1 - 1e-7 // a variable, so that 1-hi is rounded at run time as in LogLoss
	want := (-math.Log(float64(float32(0.9))) - math.Log(1-float64(float32(0.2))) -
		math.Log(1e-7) - math.Log(1-hi) + math.Log(2)) / 5
	if got := LogLoss(p, y); math.Abs(got-want) > 1e-12 {
		t.Fatalf("LogLoss = %v, want %v", got, want)
	}
	if got := LogLoss(nil, nil); !math.IsNaN(got) {
		t.Fatalf("LogLoss(empty) = %v, want NaN", got)
	}
}

func TestCalibration(t *testing.T) {
	if got := Calibration([]float32{0.25, 0.25, 0.5, 0}, []float32{1, 0, 0, 0}); got != 1 {
		t.Fatalf("Calibration = %v, want 1", got)
	}
	if got := Calibration([]float32{0.75, 0.25, 0.5, 0.5}, []float32{1, 0, 0, 0}); got != 2 {
		t.Fatalf("Calibration = %v, want 2", got)
	}
	if got := Calibration([]float32{0.5}, []float32{0}); !math.IsNaN(got) {
		t.Fatalf("Calibration without positives = %v, want NaN", got)
	}
}

func TestBinaryMatchesFunctions(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var b Binary
	var all, ys []float32
	var gs []int64
	for range 5 {
		n := 1 + r.IntN(300)
		s := make([]float32, n)
		y := make([]float32, n)
		g := make([]int64, n)
		for i := range n {
			s[i] = r.Float32()
			y[i] = float32(r.IntN(2))
			g[i] = int64(r.IntN(10))
		}
		b.Add(s, y, g)
		all, ys, gs = append(all, s...), append(ys, y...), append(gs, g...)
	}
	sum := b.Summary()
	if sum.Rows != len(all) || sum.AUC != AUC(all, ys) || sum.GAUC != GAUC(all, ys, gs) ||
		math.Abs(sum.LogLoss-LogLoss(all, ys)) > 1e-12 || math.Abs(sum.Calibration-Calibration(all, ys)) > 1e-12 {
		t.Fatalf("Binary summary %+v disagrees with the functions", sum)
	}
	b.Add([]float32{0.5}, []float32{1}, nil)
	if s := b.Summary(); !math.IsNaN(s.GAUC) {
		t.Fatalf("GAUC after a batch without groups = %v, want NaN", s.GAUC)
	}
	b.Reset()
	if b.Len() != 0 || !math.IsNaN(b.Summary().AUC) {
		t.Fatalf("Reset did not empty the accumulator")
	}
}

func BenchmarkAUC(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	n := 100000
	s := make([]float32, n)
	y := make([]float32, n)
	for i := range n {
		s[i] = r.Float32()
		y[i] = float32(r.IntN(2))
	}
	b.ReportAllocs()
	for b.Loop() {
		AUC(s, y)
	}
}
