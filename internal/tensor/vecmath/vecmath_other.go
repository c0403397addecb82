//go:build !amd64

package vecmath

const haveVecAsm = false

func sigmoidAVX2(dst, src *float32, n int) { panic("vecmath: sigmoidAVX2 without amd64") }

func tanhAVX2(dst, src *float32, n int) { panic("vecmath: tanhAVX2 without amd64") }

func addAVX2(dst, a, b *float32, n int) { panic("vecmath: addAVX2 without amd64") }

func mulAddAVX2(dst, a, b, c *float32, n int) { panic("vecmath: mulAddAVX2 without amd64") }

func lerpAVX2(dst, z, x, y *float32, n int) { panic("vecmath: lerpAVX2 without amd64") }

func gruGradAVX2(dx, dh, hg, s, hp, d *float32, h, n int) {
	panic("vecmath: gruGradAVX2 without amd64")
}
