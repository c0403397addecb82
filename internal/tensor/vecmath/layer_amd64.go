package vecmath

// mulAVX2, mulZAVX2, reluAVX2 and reluBackwardAVX2 are the vector bodies of Mul, MulZ,
// ReLU and ReLUBackward for the first n elements, n a multiple of 8; sumRowsAVX2
// is SumRows' for the first n columns.
//
//go:noescape
func mulAVX2(dst, a, b *float32, n int)

//go:noescape
func mulZAVX2(dst, a, b *float32, n int)

//go:noescape
func reluAVX2(dst, src *float32, n int)

//go:noescape
func reluBackwardAVX2(dst, dy, y *float32, n int)

//go:noescape
func sumRowsAVX2(dst, src *float32, rows, stride, n int)

// addRowsAVX2 is AddRows' body: dst[j] += (*ptrs[k])[j] for k < nptr in
// order, j < n, n a multiple of 8 and nptr ≥ 1.
//
//go:noescape
func addRowsAVX2(dst *float32, ptrs **float32, nptr, n int)

// adamAVX2 is Adam's body for the first n elements, n a multiple of 8.
//
//go:noescape
func adamAVX2(w, grad, m, v *float32, n int, k *AdamConsts)
