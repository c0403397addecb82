#include "textflag.h"

// func mulAVX2(dst, a, b *float32, n int)
//
// dst[i] = a[i] * b[i] for i < n, n a multiple of 8.
TEXT ·mulAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	JZ   muldone

mulloop:
	VMOVUPS (SI), Y0
	VMULPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     mulloop

muldone:
	VZEROUPPER
	RET

// func mulZAVX2(dst, a, b *float32, n int)
//
// dst[i] = 0 + a[i] * b[i] for i < n, n a multiple of 8.
TEXT ·mulZAVX2(SB), NOSPLIT, $0-32
	MOVQ  dst+0(FP), DI
	MOVQ  a+8(FP), SI
	MOVQ  b+16(FP), DX
	MOVQ  n+24(FP), CX
	VXORPS Y15, Y15, Y15
	SHRQ  $3, CX
	JZ    mzdone

mzloop:
	VMOVUPS (SI), Y0
	VMULPS  (DX), Y0, Y0
	VADDPS  Y15, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     mzloop

mzdone:
	VZEROUPPER
	RET

// func reluAVX2(dst, src *float32, n int)
//
// dst[i] = src[i] &^ (src[i] >> 31, arithmetic) on the bits, for i < n, n
// a multiple of 8.
TEXT ·reluAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   reludone

reluloop:
	VMOVDQU (SI), Y0
	VPSRAD  $31, Y0, Y1
	VPANDN  Y0, Y1, Y1
	VMOVDQU Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     reluloop

reludone:
	VZEROUPPER
	RET

// func reluBackwardAVX2(dst, dy, y *float32, n int)
//
// dst[i] = dy[i] & ((0 - y[i]) >> 31, arithmetic) on the bits, for i < n, n
// a multiple of 8.
TEXT ·reluBackwardAVX2(SB), NOSPLIT, $0-32
	MOVQ  dst+0(FP), DI
	MOVQ  dy+8(FP), SI
	MOVQ  y+16(FP), DX
	MOVQ  n+24(FP), CX
	VPXOR Y15, Y15, Y15
	SHRQ  $3, CX
	JZ    rbdone

rbloop:
	VMOVDQU (DX), Y0
	VPSUBD  Y0, Y15, Y0
	VPSRAD  $31, Y0, Y0
	VPAND   (SI), Y0, Y0
	VMOVDQU Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     rbloop

rbdone:
	VZEROUPPER
	RET

// func sumRowsAVX2(dst, src *float32, rows, stride, n int)
//
// dst[j] += src[i*stride+j] for i = 0..rows-1 in order, j < n, n a multiple
// of 8 and rows ≥ 1: 32 columns at a time (then 8), dst's values held in
// registers across the rows.
TEXT ·sumRowsAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), BX
	MOVQ stride+24(FP), R9
	SHLQ $2, R9               // stride in bytes
	MOVQ n+32(FP), CX

sr32:
	CMPQ    CX, $32
	JLT     sr8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	MOVQ    SI, AX
	MOVQ    BX, DX

sr32row:
	VADDPS (AX), Y0, Y0
	VADDPS 32(AX), Y1, Y1
	VADDPS 64(AX), Y2, Y2
	VADDPS 96(AX), Y3, Y3
	ADDQ   R9, AX
	DECQ   DX
	JNZ    sr32row
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	ADDQ    $128, SI
	SUBQ    $32, CX
	JMP     sr32

sr8:
	CMPQ    CX, $8
	JLT     srdone
	VMOVUPS (DI), Y0
	MOVQ    SI, AX
	MOVQ    BX, DX

sr8row:
	VADDPS (AX), Y0, Y0
	ADDQ   R9, AX
	DECQ   DX
	JNZ    sr8row
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     sr8

srdone:
	VZEROUPPER
	RET

// func addRowsAVX2(dst *float32, ptrs **float32, nptr, n int)
//
// dst[j] += ptrs[k][j] for k = 0..nptr-1 in order, j < n, n a multiple of 8,
// nptr ≥ 1: 64 columns at a time (then 8), held in registers across the
// rows. SI walks ptrs, R8 is the byte offset of the current columns.
TEXT ·addRowsAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ ptrs+8(FP), BX
	MOVQ nptr+16(FP), R9
	MOVQ n+24(FP), CX
	XORQ R8, R8

ar64:
	CMPQ    CX, $64
	JLT     ar8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 128(DI), Y4
	VMOVUPS 160(DI), Y5
	VMOVUPS 192(DI), Y6
	VMOVUPS 224(DI), Y7
	MOVQ    BX, SI
	MOVQ    R9, DX

ar64row:
	MOVQ   (SI), AX
	ADDQ   R8, AX
	VADDPS (AX), Y0, Y0
	VADDPS 32(AX), Y1, Y1
	VADDPS 64(AX), Y2, Y2
	VADDPS 96(AX), Y3, Y3
	VADDPS 128(AX), Y4, Y4
	VADDPS 160(AX), Y5, Y5
	VADDPS 192(AX), Y6, Y6
	VADDPS 224(AX), Y7, Y7
	ADDQ   $8, SI
	DECQ   DX
	JNZ    ar64row
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	ADDQ    $256, DI
	ADDQ    $256, R8
	SUBQ    $64, CX
	JMP     ar64

ar8:
	CMPQ    CX, $8
	JLT     ardone
	VMOVUPS (DI), Y0
	MOVQ    BX, SI
	MOVQ    R9, DX

ar8row:
	MOVQ   (SI), AX
	ADDQ   R8, AX
	VADDPS (AX), Y0, Y0
	ADDQ   $8, SI
	DECQ   DX
	JNZ    ar8row
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, R8
	SUBQ    $8, CX
	JMP     ar8

ardone:
	VZEROUPPER
	RET

// func adamAVX2(w, grad, m, v *float32, n int, k *AdamConsts)
//
// Adam for i < n, n a multiple of 8; k points at C1, B2, C2, StepSize,
// InvBc2, Eps, Keep (float32 each, in that order), broadcast to Y8-Y14.
TEXT ·adamAVX2(SB), NOSPLIT, $0-48
	MOVQ         w+0(FP), DI
	MOVQ         grad+8(FP), SI
	MOVQ         m+16(FP), DX
	MOVQ         v+24(FP), R8
	MOVQ         n+32(FP), CX
	MOVQ         k+40(FP), AX
	VBROADCASTSS 0(AX), Y8
	VBROADCASTSS 4(AX), Y9
	VBROADCASTSS 8(AX), Y10
	VBROADCASTSS 12(AX), Y11
	VBROADCASTSS 16(AX), Y12
	VBROADCASTSS 20(AX), Y13
	VBROADCASTSS 24(AX), Y14
	VXORPS       Y15, Y15, Y15
	SHRQ         $3, CX
	JZ           adamdone

adamloop:
	VMOVUPS (SI), Y0          // gi
	VMOVUPS (DI), Y1
	VMULPS  Y14, Y1, Y1       // wi = w * Keep
	VMOVUPS (DX), Y2
	VSUBPS  Y2, Y0, Y3        // gi - m
	VMULPS  Y3, Y8, Y3        // C1 * (gi - m)
	VADDPS  Y3, Y2, Y3        // mi = m + C1*(gi - m)
	VMOVUPS (R8), Y4
	VMULPS  Y4, Y9, Y4        // B2 * v
	VMULPS  Y0, Y10, Y5       // C2 * gi
	VMULPS  Y0, Y5, Y5        // C2*gi * gi
	VADDPS  Y5, Y4, Y4        // vi
	VMOVUPS Y3, (DX)
	VMOVUPS Y4, (R8)
	VSQRTPS Y4, Y6
	VMULPS  Y12, Y6, Y6       // sqrt(vi) * InvBc2
	VADDPS  Y13, Y6, Y6       // + Eps
	VMULPS  Y3, Y11, Y7       // StepSize * mi
	VDIVPS  Y6, Y7, Y7        // / (sqrt(vi)*InvBc2 + Eps)
	VSUBPS  Y7, Y1, Y1        // wi - …
	VMOVUPS Y1, (DI)
	VMOVUPS Y15, (SI)         // g = 0
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, R8
	DECQ    CX
	JNZ     adamloop

adamdone:
	VZEROUPPER
	RET
