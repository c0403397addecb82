//go:build !amd64

package vecmath

func mulAVX2(dst, a, b *float32, n int) { panic("vecmath: mulAVX2 without amd64") }

func reluAVX2(dst, src *float32, n int) { panic("vecmath: reluAVX2 without amd64") }

func reluBackwardAVX2(dst, dy, y *float32, n int) { panic("vecmath: reluBackwardAVX2 without amd64") }

func sumRowsAVX2(dst, src *float32, rows, stride, n int) { panic("vecmath: sumRowsAVX2 without amd64") }

func addRowsAVX2(dst *float32, ptrs **float32, nptr, n int) {
	panic("vecmath: addRowsAVX2 without amd64")
}

func mulZAVX2(dst, a, b *float32, n int) { panic("vecmath: mulZAVX2 without amd64") }

func adamAVX2(w, grad, m, v *float32, n int, k *AdamConsts) { panic("vecmath: adamAVX2 without amd64") }
