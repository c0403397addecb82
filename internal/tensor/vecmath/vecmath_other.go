//go:build !amd64

package vecmath

const haveVecAsm = false

func sigmoidAVX2(dst, src *float32, n int) { panic("vecmath: sigmoidAVX2 without amd64") }

func tanhAVX2(dst, src *float32, n int) { panic("vecmath: tanhAVX2 without amd64") }
