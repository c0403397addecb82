package optim

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dcrnn/dcrnn/internal/nn"
)

// table returns a rows×cols table with values drawn from rng.
func table(name string, rows, cols int, rng *rand.Rand) *nn.SparseParam {
	p := nn.NewSparseParam(name, rows, cols)
	for i := range p.W {
		p.W[i] = float32(rng.Float64()*2 - 1)
	}
	return p
}

func touch(p *nn.SparseParam, id int32, g ...float32) {
	copy(p.GradRow(id), g)
}

// sparseAdamRef is lazy Adam for one row in float64, written from the
// formulas: step t of the row, gradient g, returns the new (w, m, v).
func sparseAdamRef(w, m, v, g float64, t int, lr, l2 float64) (float64, float64, float64) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	g += l2 * w
	m = b1*m + (1-b1)*g
	v = b2*v + (1-b2)*g*g
	step := lr * math.Sqrt(1-math.Pow(b2, float64(t))) / (1 - math.Pow(b1, float64(t)))
	return w - step*m/(math.Sqrt(v)+eps), m, v
}

// TestSparseAdamLazy checks that only touched rows change (the others keep
// values and moments bit for bit), that Step resets the touched set, and
// that each row's bias correction uses its own step count: row 1 is touched
// at steps 1 and 5 and gets the t = 2 correction at step 5, while row 2 is
// touched at every step.
func TestSparseAdamLazy(t *testing.T) {
	for _, l2 := range []float64{0, 0.1} {
		rng := rand.New(rand.NewPCG(2, 3))
		p := table("emb", 6, 3, rng)
		w0 := append([]float32(nil), p.W...)
		const lr = 0.05
		s, err := NewSparseAdam([]*nn.SparseParam{p}, SparseAdamConfig{LR: lr, L2: l2})
		if err != nil {
			t.Fatal(err)
		}
		type ref struct{ w, m, v [3]float64 }
		rows := map[int32]*ref{}
		for _, id := range []int32{1, 2} {
			r := &ref{}
			for j := range 3 {
				r.w[j] = float64(w0[int(id)*3+j])
			}
			rows[id] = r
		}
		steps := map[int32]int{}
		for step := 1; step <= 5; step++ {
			var ids []int32
			if step == 1 || step == 5 {
				ids = append(ids, 1)
			}
			ids = append(ids, 2)
			for _, id := range ids {
				g := []float32{float32(0.1 * float64(step)), -0.3, float32(0.05 * float64(id))}
				touch(p, id, g...)
				steps[id]++
				r := rows[id]
				for j := range 3 {
					r.w[j], r.m[j], r.v[j] = sparseAdamRef(r.w[j], r.m[j], r.v[j], float64(g[j]), steps[id], lr, l2)
				}
			}
			s.Step()
			if len(p.Touched) != 0 || len(p.G) != 0 {
				t.Fatalf("step %d: Step left %d touched rows", step, len(p.Touched))
			}
		}
		if steps[1] != 2 {
			t.Fatalf("test setup: row 1 touched %d times", steps[1])
		}
		st := s.State()
		mv, rs := st[1].F32, st[2].I32
		for id := range int32(6) {
			r, touched := rows[id]
			for j := range 3 {
				k := int(id)*3 + j
				if !touched {
					if math.Float32bits(p.W[k]) != math.Float32bits(w0[k]) {
						t.Errorf("l2=%v: untouched row %d col %d changed: %v → %v", l2, id, j, w0[k], p.W[k])
					}
					if mv[int(id)*6+j] != 0 || mv[int(id)*6+3+j] != 0 {
						t.Errorf("l2=%v: untouched row %d has moments", l2, id)
					}
					continue
				}
				near(t, "w", p.W[k], r.w[j], 3e-6)
				near(t, "m", mv[int(id)*6+j], r.m[j], 1e-7)
				near(t, "v", mv[int(id)*6+3+j], r.v[j], 1e-9)
			}
			if want := int32(steps[id]); rs[id] != want {
				t.Errorf("row %d step = %d, want %d", id, rs[id], want)
			}
		}
		if st[0].I64[0] != 5 {
			t.Errorf("global step %v, want 5", st[0].I64)
		}
	}
}

// TestSparseAdamPerRowBias pins the per-row bias correction with hand
// numbers: a row touched at steps 1 and 5 with g = 1 both times moves by
// lr·1/(1+ε) at step 1 and, at step 5 with t = 2 (m = 0.19, v = 0.001999),
// by lr·√0.001999/0.19·0.19/(√0.001999+ε) ≈ lr. With the global step (t = 5)
// it would move by lr·√(1−0.999⁵)/(1−0.9⁵)·0.19/√0.001999 ≈ 0.4545·lr.
func TestSparseAdamPerRowBias(t *testing.T) {
	p := nn.NewSparseParam("e", 4, 1)
	s, err := NewSparseAdam([]*nn.SparseParam{p}, SparseAdamConfig{LR: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	for step := 1; step <= 5; step++ {
		if step == 1 || step == 5 {
			touch(p, 1, 1)
		}
		touch(p, 3, 0.5)
		s.Step()
		if step == 1 {
			near(t, "w after step 1", p.W[1], -0.1, 1e-6)
		}
	}
	// w = −0.1 − 0.1·0.19/(1−0.81) / (√0.001999/√(1−0.998001)) = −0.2 (up to ε).
	near(t, "w after step 5", p.W[1], -0.2, 2e-6)
}

func TestSparseAdamBiasTable(t *testing.T) {
	for _, b := range [][2]float64{{0.9, 0.999}, {0.5, 0.9}, {0, 0.99}, {0.9, 0}} {
		bc, capped := biasTable(b[0], b[1])
		if capped {
			t.Fatalf("%v: table capped at %d", b, len(bc))
		}
		for _, tt := range []int64{1, 2, 7, int64(len(bc)) - 1} {
			if tt < 1 {
				continue
			}
			want := math.Sqrt(1-math.Pow(b[1], float64(tt))) / (1 - math.Pow(b[0], float64(tt)))
			if math.Abs(bc[tt]-want) > 1e-15*want {
				t.Errorf("%v: bc[%d] = %v, want %v", b, tt, bc[tt], want)
			}
		}
		// Past the table the factor must round to 1 in float32.
		for _, tt := range []int64{int64(len(bc)), int64(len(bc)) + 1, 10 * int64(len(bc)), 1 << 30} {
			f := math.Sqrt(1-math.Pow(b[1], float64(tt))) / (1 - math.Pow(b[0], float64(tt)))
			if float32(f) != 1 {
				t.Errorf("%v: factor at t=%d is %v, not 1 in float32", b, tt, f)
			}
		}
	}
	if _, capped := biasTable(0.9, 0.9999999); !capped {
		t.Errorf("β2 = 0.9999999: want a capped table")
	}
	s, err := NewSparseAdam(nil, SparseAdamConfig{Beta2: 0.9999999})
	if err != nil {
		t.Fatal(err)
	}
	tt := int32(maxBiasTable + 5)
	want := math.Sqrt(1-math.Pow(0.9999999, float64(tt))) / (1 - math.Pow(0.9, float64(tt)))
	if got := s.factor(tt); math.Abs(got-want) > 1e-12 {
		t.Errorf("capped factor(%d) = %v, want %v", tt, got, want)
	}
}

// TestSparseAdamQuadratic: lazy Adam minimizes Σ (w − c)² over rows sampled
// at random, and rows never sampled stay put.
func TestSparseAdamQuadratic(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	p := table("e", 50, 4, rng)
	w0 := append([]float32(nil), p.W...)
	c := make([]float64, len(p.W))
	for i := range c {
		c[i] = rng.Float64()*2 - 1
	}
	s, err := NewSparseAdam([]*nn.SparseParam{p}, SparseAdamConfig{LR: 0.02})
	if err != nil {
		t.Fatal(err)
	}
	for range 4000 {
		for range 5 {
			id := int32(rng.IntN(40)) // rows 40..49 are never touched
			g := p.GradRow(id)
			for j := range g {
				k := int(id)*4 + j
				g[j] += float32(2 * (float64(p.W[k]) - c[k]))
			}
		}
		s.Step()
	}
	for i, w := range p.W {
		if i >= 40*4 {
			if w != w0[i] {
				t.Errorf("untouched w[%d] changed", i)
			}
			continue
		}
		if d := math.Abs(float64(w) - c[i]); d > 0.02 {
			t.Errorf("w[%d] = %v, want %v", i, w, c[i])
		}
	}
}
