package nn

import "fmt"

// Mat is a batch-major activation: Rows×Cols values V, row-major, and, when
// it was made by a training tape, the gradient G of the loss with respect to V
// (same shape). Inference tapes leave G nil.
type Mat struct {
	Rows, Cols int
	V, G       []float32
}

// At returns element (i, j).
func (m *Mat) At(i, j int) float32 { return m.V[i*m.Cols+j] }

// Row returns the values of row i.
func (m *Mat) Row(i int) []float32 { return m.V[i*m.Cols : (i+1)*m.Cols] }

// NewMat allocates a Rows×Cols matrix with a gradient buffer. It is for
// inputs built outside a tape (tests, model inputs); layers use Tape.Mat.
func NewMat(rows, cols int) *Mat {
	return &Mat{Rows: rows, Cols: cols, V: make([]float32, rows*cols), G: make([]float32, rows*cols)}
}

// Param is a dense trainable tensor: values W and gradient G, both Rows×Cols
// row-major (a bias is 1×Cols).
type Param struct {
	Name       string
	Rows, Cols int
	W, G       []float32
	// NoDecay excludes the parameter from weight decay (biases).
	NoDecay bool
}

// NewParam allocates a zero Rows×Cols parameter.
func NewParam(name string, rows, cols int) *Param {
	return &Param{Name: name, Rows: rows, Cols: cols, W: make([]float32, rows*cols), G: make([]float32, rows*cols)}
}

// ZeroGrad clears the gradient.
func (p *Param) ZeroGrad() { clear(p.G) }

func (p *Param) String() string { return fmt.Sprintf("%s[%d×%d]", p.Name, p.Rows, p.Cols) }

// SparseParam is an embedding table of Rows rows of width Cols whose gradient
// is kept only for the rows touched since the last ZeroGrad: Touched lists
// them in first-touch order and G holds their gradients, len(Touched)×Cols.
// The cost of a step grows with the rows it touches, never with Rows.
type SparseParam struct {
	Name       string
	Rows, Cols int
	W          []float32 // Rows×Cols values
	Touched    []int32   // rows with a gradient, in first-touch order
	G          []float32 // len(Touched)×Cols gradients, row k belongs to Touched[k]
	slot       []int32   // row -> index in Touched, -1 when untouched (lazily sized)
}

// NewSparseParam allocates a zero Rows×Cols table.
func NewSparseParam(name string, rows, cols int) *SparseParam {
	return &SparseParam{Name: name, Rows: rows, Cols: cols, W: make([]float32, rows*cols)}
}

// Row returns the values of row id.
func (p *SparseParam) Row(id int32) []float32 {
	return p.W[int(id)*p.Cols : (int(id)+1)*p.Cols]
}

// GradRow returns the gradient row of id, registering id as touched with a
// zero gradient on first use.
func (p *SparseParam) GradRow(id int32) []float32 {
	if p.slot == nil {
		p.slot = make([]int32, p.Rows)
		for i := range p.slot {
			p.slot[i] = -1
		}
	}
	s := p.slot[id]
	if s < 0 {
		s = int32(len(p.Touched))
		p.slot[id] = s
		p.Touched = append(p.Touched, id)
		n := len(p.G)
		if cap(p.G) >= n+p.Cols {
			p.G = p.G[:n+p.Cols]
			clear(p.G[n:])
		} else {
			p.G = append(p.G, make([]float32, p.Cols)...)
		}
	}
	return p.G[int(s)*p.Cols : (int(s)+1)*p.Cols]
}

// ZeroGrad forgets the touched rows and their gradients, keeping capacity.
func (p *SparseParam) ZeroGrad() {
	for _, id := range p.Touched {
		p.slot[id] = -1
	}
	p.Touched = p.Touched[:0]
	p.G = p.G[:0]
}

// Module is anything that owns parameters.
type Module interface {
	Params() []*Param
}

// SparseModule is a module that owns embedding tables.
type SparseModule interface {
	SparseParams() []*SparseParam
}
