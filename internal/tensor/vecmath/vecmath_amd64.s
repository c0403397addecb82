#include "textflag.h"

// Constants, each broadcast to 8 lanes.
DATA vmc<>+0(SB)/4, $0x3f800000
DATA vmc<>+4(SB)/4, $0x3f800000
DATA vmc<>+8(SB)/4, $0x3f800000
DATA vmc<>+12(SB)/4, $0x3f800000
DATA vmc<>+16(SB)/4, $0x3f800000
DATA vmc<>+20(SB)/4, $0x3f800000
DATA vmc<>+24(SB)/4, $0x3f800000
DATA vmc<>+28(SB)/4, $0x3f800000
DATA vmc<>+32(SB)/4, $0x3f000000
DATA vmc<>+36(SB)/4, $0x3f000000
DATA vmc<>+40(SB)/4, $0x3f000000
DATA vmc<>+44(SB)/4, $0x3f000000
DATA vmc<>+48(SB)/4, $0x3f000000
DATA vmc<>+52(SB)/4, $0x3f000000
DATA vmc<>+56(SB)/4, $0x3f000000
DATA vmc<>+60(SB)/4, $0x3f000000
DATA vmc<>+64(SB)/4, $0x3e2aaaab
DATA vmc<>+68(SB)/4, $0x3e2aaaab
DATA vmc<>+72(SB)/4, $0x3e2aaaab
DATA vmc<>+76(SB)/4, $0x3e2aaaab
DATA vmc<>+80(SB)/4, $0x3e2aaaab
DATA vmc<>+84(SB)/4, $0x3e2aaaab
DATA vmc<>+88(SB)/4, $0x3e2aaaab
DATA vmc<>+92(SB)/4, $0x3e2aaaab
DATA vmc<>+96(SB)/4, $0x3d2aaaab
DATA vmc<>+100(SB)/4, $0x3d2aaaab
DATA vmc<>+104(SB)/4, $0x3d2aaaab
DATA vmc<>+108(SB)/4, $0x3d2aaaab
DATA vmc<>+112(SB)/4, $0x3d2aaaab
DATA vmc<>+116(SB)/4, $0x3d2aaaab
DATA vmc<>+120(SB)/4, $0x3d2aaaab
DATA vmc<>+124(SB)/4, $0x3d2aaaab
DATA vmc<>+128(SB)/4, $0x3c088889
DATA vmc<>+132(SB)/4, $0x3c088889
DATA vmc<>+136(SB)/4, $0x3c088889
DATA vmc<>+140(SB)/4, $0x3c088889
DATA vmc<>+144(SB)/4, $0x3c088889
DATA vmc<>+148(SB)/4, $0x3c088889
DATA vmc<>+152(SB)/4, $0x3c088889
DATA vmc<>+156(SB)/4, $0x3c088889
DATA vmc<>+160(SB)/4, $0x3ab60b61
DATA vmc<>+164(SB)/4, $0x3ab60b61
DATA vmc<>+168(SB)/4, $0x3ab60b61
DATA vmc<>+172(SB)/4, $0x3ab60b61
DATA vmc<>+176(SB)/4, $0x3ab60b61
DATA vmc<>+180(SB)/4, $0x3ab60b61
DATA vmc<>+184(SB)/4, $0x3ab60b61
DATA vmc<>+188(SB)/4, $0x3ab60b61
DATA vmc<>+192(SB)/4, $0x39500d01
DATA vmc<>+196(SB)/4, $0x39500d01
DATA vmc<>+200(SB)/4, $0x39500d01
DATA vmc<>+204(SB)/4, $0x39500d01
DATA vmc<>+208(SB)/4, $0x39500d01
DATA vmc<>+212(SB)/4, $0x39500d01
DATA vmc<>+216(SB)/4, $0x39500d01
DATA vmc<>+220(SB)/4, $0x39500d01
DATA vmc<>+224(SB)/4, $0x3fb8aa3b
DATA vmc<>+228(SB)/4, $0x3fb8aa3b
DATA vmc<>+232(SB)/4, $0x3fb8aa3b
DATA vmc<>+236(SB)/4, $0x3fb8aa3b
DATA vmc<>+240(SB)/4, $0x3fb8aa3b
DATA vmc<>+244(SB)/4, $0x3fb8aa3b
DATA vmc<>+248(SB)/4, $0x3fb8aa3b
DATA vmc<>+252(SB)/4, $0x3fb8aa3b
DATA vmc<>+256(SB)/4, $0x4b400000
DATA vmc<>+260(SB)/4, $0x4b400000
DATA vmc<>+264(SB)/4, $0x4b400000
DATA vmc<>+268(SB)/4, $0x4b400000
DATA vmc<>+272(SB)/4, $0x4b400000
DATA vmc<>+276(SB)/4, $0x4b400000
DATA vmc<>+280(SB)/4, $0x4b400000
DATA vmc<>+284(SB)/4, $0x4b400000
DATA vmc<>+288(SB)/4, $0x3f317200
DATA vmc<>+292(SB)/4, $0x3f317200
DATA vmc<>+296(SB)/4, $0x3f317200
DATA vmc<>+300(SB)/4, $0x3f317200
DATA vmc<>+304(SB)/4, $0x3f317200
DATA vmc<>+308(SB)/4, $0x3f317200
DATA vmc<>+312(SB)/4, $0x3f317200
DATA vmc<>+316(SB)/4, $0x3f317200
DATA vmc<>+320(SB)/4, $0x35bfbe8e
DATA vmc<>+324(SB)/4, $0x35bfbe8e
DATA vmc<>+328(SB)/4, $0x35bfbe8e
DATA vmc<>+332(SB)/4, $0x35bfbe8e
DATA vmc<>+336(SB)/4, $0x35bfbe8e
DATA vmc<>+340(SB)/4, $0x35bfbe8e
DATA vmc<>+344(SB)/4, $0x35bfbe8e
DATA vmc<>+348(SB)/4, $0x35bfbe8e
DATA vmc<>+352(SB)/4, $0xc2ae0000
DATA vmc<>+356(SB)/4, $0xc2ae0000
DATA vmc<>+360(SB)/4, $0xc2ae0000
DATA vmc<>+364(SB)/4, $0xc2ae0000
DATA vmc<>+368(SB)/4, $0xc2ae0000
DATA vmc<>+372(SB)/4, $0xc2ae0000
DATA vmc<>+376(SB)/4, $0xc2ae0000
DATA vmc<>+380(SB)/4, $0xc2ae0000
DATA vmc<>+384(SB)/4, $0x42ae0000
DATA vmc<>+388(SB)/4, $0x42ae0000
DATA vmc<>+392(SB)/4, $0x42ae0000
DATA vmc<>+396(SB)/4, $0x42ae0000
DATA vmc<>+400(SB)/4, $0x42ae0000
DATA vmc<>+404(SB)/4, $0x42ae0000
DATA vmc<>+408(SB)/4, $0x42ae0000
DATA vmc<>+412(SB)/4, $0x42ae0000
DATA vmc<>+416(SB)/4, $0xc1100000
DATA vmc<>+420(SB)/4, $0xc1100000
DATA vmc<>+424(SB)/4, $0xc1100000
DATA vmc<>+428(SB)/4, $0xc1100000
DATA vmc<>+432(SB)/4, $0xc1100000
DATA vmc<>+436(SB)/4, $0xc1100000
DATA vmc<>+440(SB)/4, $0xc1100000
DATA vmc<>+444(SB)/4, $0xc1100000
DATA vmc<>+448(SB)/4, $0x41100000
DATA vmc<>+452(SB)/4, $0x41100000
DATA vmc<>+456(SB)/4, $0x41100000
DATA vmc<>+460(SB)/4, $0x41100000
DATA vmc<>+464(SB)/4, $0x41100000
DATA vmc<>+468(SB)/4, $0x41100000
DATA vmc<>+472(SB)/4, $0x41100000
DATA vmc<>+476(SB)/4, $0x41100000
DATA vmc<>+480(SB)/4, $0xbeaaaaab
DATA vmc<>+484(SB)/4, $0xbeaaaaab
DATA vmc<>+488(SB)/4, $0xbeaaaaab
DATA vmc<>+492(SB)/4, $0xbeaaaaab
DATA vmc<>+496(SB)/4, $0xbeaaaaab
DATA vmc<>+500(SB)/4, $0xbeaaaaab
DATA vmc<>+504(SB)/4, $0xbeaaaaab
DATA vmc<>+508(SB)/4, $0xbeaaaaab
DATA vmc<>+512(SB)/4, $0x3e088889
DATA vmc<>+516(SB)/4, $0x3e088889
DATA vmc<>+520(SB)/4, $0x3e088889
DATA vmc<>+524(SB)/4, $0x3e088889
DATA vmc<>+528(SB)/4, $0x3e088889
DATA vmc<>+532(SB)/4, $0x3e088889
DATA vmc<>+536(SB)/4, $0x3e088889
DATA vmc<>+540(SB)/4, $0x3e088889
DATA vmc<>+544(SB)/4, $0xbd5d0dd1
DATA vmc<>+548(SB)/4, $0xbd5d0dd1
DATA vmc<>+552(SB)/4, $0xbd5d0dd1
DATA vmc<>+556(SB)/4, $0xbd5d0dd1
DATA vmc<>+560(SB)/4, $0xbd5d0dd1
DATA vmc<>+564(SB)/4, $0xbd5d0dd1
DATA vmc<>+568(SB)/4, $0xbd5d0dd1
DATA vmc<>+572(SB)/4, $0xbd5d0dd1
DATA vmc<>+576(SB)/4, $0x3dcccccd
DATA vmc<>+580(SB)/4, $0x3dcccccd
DATA vmc<>+584(SB)/4, $0x3dcccccd
DATA vmc<>+588(SB)/4, $0x3dcccccd
DATA vmc<>+592(SB)/4, $0x3dcccccd
DATA vmc<>+596(SB)/4, $0x3dcccccd
DATA vmc<>+600(SB)/4, $0x3dcccccd
DATA vmc<>+604(SB)/4, $0x3dcccccd
DATA vmc<>+608(SB)/4, $0x80000000
DATA vmc<>+612(SB)/4, $0x80000000
DATA vmc<>+616(SB)/4, $0x80000000
DATA vmc<>+620(SB)/4, $0x80000000
DATA vmc<>+624(SB)/4, $0x80000000
DATA vmc<>+628(SB)/4, $0x80000000
DATA vmc<>+632(SB)/4, $0x80000000
DATA vmc<>+636(SB)/4, $0x80000000
DATA vmc<>+640(SB)/4, $0x7fffffff
DATA vmc<>+644(SB)/4, $0x7fffffff
DATA vmc<>+648(SB)/4, $0x7fffffff
DATA vmc<>+652(SB)/4, $0x7fffffff
DATA vmc<>+656(SB)/4, $0x7fffffff
DATA vmc<>+660(SB)/4, $0x7fffffff
DATA vmc<>+664(SB)/4, $0x7fffffff
DATA vmc<>+668(SB)/4, $0x7fffffff
GLOBL vmc<>(SB), RODATA|NOPTR, $672

#define ONE vmc<>+0(SB)
#define HALF vmc<>+32(SB)
#define P3 vmc<>+64(SB)
#define P4 vmc<>+96(SB)
#define P5 vmc<>+128(SB)
#define P6 vmc<>+160(SB)
#define P7 vmc<>+192(SB)
#define LOG2E vmc<>+224(SB)
#define MAGIC vmc<>+256(SB)
#define LN2HI vmc<>+288(SB)
#define LN2LO vmc<>+320(SB)
#define M87 vmc<>+352(SB)
#define P87 vmc<>+384(SB)
#define M9 vmc<>+416(SB)
#define P9 vmc<>+448(SB)
#define T3 vmc<>+480(SB)
#define T5 vmc<>+512(SB)
#define T7 vmc<>+544(SB)
#define TENTH vmc<>+576(SB)
#define SIGN vmc<>+608(SB)
#define ABS vmc<>+640(SB)

// EXP sets Y5 = e^Y1 for Y1 in [-87, 87], the algorithm of nn.expCore:
// n = round(x·log2e) by the 1.5·2²³ magic add, r = x − n·ln2Hi − n·ln2Lo,
// a degree-7 Taylor polynomial, then n added to the exponent bits.
// Clobbers Y2, Y3, Y4.
#define EXP \
	VMOVUPS      MAGIC, Y2 \
	VFMADD231PS  LOG2E, Y1, Y2 \
	VSUBPS       MAGIC, Y2, Y3 \
	VPSUBD       MAGIC, Y2, Y2 \
	VPSLLD       $23, Y2, Y2 \
	VMOVAPS      Y1, Y4 \
	VFNMADD231PS LN2HI, Y3, Y4 \
	VFNMADD231PS LN2LO, Y3, Y4 \
	VMOVUPS      P7, Y5 \
	VFMADD213PS  P6, Y4, Y5 \
	VFMADD213PS  P5, Y4, Y5 \
	VFMADD213PS  P4, Y4, Y5 \
	VFMADD213PS  P3, Y4, Y5 \
	VFMADD213PS  HALF, Y4, Y5 \
	VFMADD213PS  ONE, Y4, Y5 \
	VFMADD213PS  ONE, Y4, Y5 \
	VPADDD       Y2, Y5, Y5

// func sigmoidAVX2(dst, src *float32, n int)
//
// dst[i] = 1/(1+e^-src[i]) for i < n, n a multiple of 8. AVX2 + FMA.
TEXT ·sigmoidAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   sdone

sloop:
	VMOVUPS (SI), Y0
	VXORPS  SIGN, Y0, Y1
	VMAXPS  M87, Y1, Y1
	VMINPS  P87, Y1, Y1
	EXP
	VADDPS    ONE, Y5, Y5
	VMOVUPS   ONE, Y6
	VDIVPS    Y5, Y6, Y6
	VCMPPS    $3, Y0, Y0, Y7
	VBLENDVPS Y7, Y0, Y6, Y6
	VMOVUPS   Y6, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       sloop

sdone:
	VZEROUPPER
	RET

// func tanhAVX2(dst, src *float32, n int)
//
// dst[i] = tanh(src[i]) for i < n, n a multiple of 8: (e−1)/(e+1) with
// e = e^{2x}, x clamped to [−9, 9], and the odd Taylor series where
// |x| < 0.1 (or x is NaN, which the series propagates). AVX2 + FMA.
TEXT ·tanhAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   tdone

tloop:
	VMOVUPS (SI), Y0
	VMAXPS  M9, Y0, Y1
	VMINPS  P9, Y1, Y1
	VADDPS  Y1, Y1, Y1
	EXP
	VSUBPS      ONE, Y5, Y6
	VADDPS      ONE, Y5, Y5
	VDIVPS      Y5, Y6, Y6
	VMULPS      Y0, Y0, Y7
	VMOVUPS     T7, Y8
	VFMADD213PS T5, Y7, Y8
	VFMADD213PS T3, Y7, Y8
	VFMADD213PS ONE, Y7, Y8
	VMULPS      Y0, Y8, Y8
	VANDPS      ABS, Y0, Y9
	VCMPPS      $9, TENTH, Y9, Y9
	VBLENDVPS   Y9, Y8, Y6, Y6
	VMOVUPS     Y6, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         tloop

tdone:
	VZEROUPPER
	RET

// func addAVX2(dst, a, b *float32, n int)
//
// dst[i] = a[i] + b[i] for i < n, n a multiple of 8.
TEXT ·addAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	JZ   adddone

addloop:
	VMOVUPS (SI), Y0
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     addloop

adddone:
	VZEROUPPER
	RET

// func mulAddAVX2(dst, a, b, c *float32, n int)
//
// dst[i] = a[i] + b[i]*c[i] for i < n, n a multiple of 8; the product is
// rounded before the sum.
TEXT ·mulAddAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ c+24(FP), R8
	MOVQ n+32(FP), CX
	SHRQ $3, CX
	JZ   madone

maloop:
	VMOVUPS (DX), Y0
	VMULPS  (R8), Y0, Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, R8
	ADDQ    $32, DI
	DECQ    CX
	JNZ     maloop

madone:
	VZEROUPPER
	RET

// func lerpAVX2(dst, z, x, y *float32, n int)
//
// dst[i] = (1-z[i])*x[i] + z[i]*y[i] for i < n, n a multiple of 8, each
// operation rounded.
TEXT ·lerpAVX2(SB), NOSPLIT, $0-40
	MOVQ    dst+0(FP), DI
	MOVQ    z+8(FP), SI
	MOVQ    x+16(FP), DX
	MOVQ    y+24(FP), R8
	MOVQ    n+32(FP), CX
	VMOVUPS ONE, Y15
	SHRQ    $3, CX
	JZ      lerpdone

lerploop:
	VMOVUPS (SI), Y0
	VSUBPS  Y0, Y15, Y1
	VMULPS  (DX), Y1, Y1
	VMULPS  (R8), Y0, Y2
	VADDPS  Y2, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, R8
	ADDQ    $32, DI
	DECQ    CX
	JNZ     lerploop

lerpdone:
	VZEROUPPER
	RET

// func gruGradAVX2(dx, dh, hg, s, hp, d *float32, h, n int)
//
// GRUGrad for units j < n, n a multiple of 8, rows of width h: s holds
// r z n hn at float offsets 0, h, 2h, 3h; dx and dh get their three gates
// at 0, h, 2h; hg (skipped when nil) gets d·z added. Each operation is
// rounded in the order of GRUGrad's Go expressions.
TEXT ·gruGradAVX2(SB), NOSPLIT, $0-64
	MOVQ    dx+0(FP), DI
	MOVQ    dh+8(FP), SI
	MOVQ    hg+16(FP), R11
	MOVQ    s+24(FP), DX
	MOVQ    hp+32(FP), R12
	MOVQ    d+40(FP), R13
	MOVQ    h+48(FP), R8
	MOVQ    n+56(FP), CX
	SHLQ    $2, R8                 // h in bytes
	LEAQ    (R8)(R8*1), R9         // 2h
	LEAQ    (R9)(R8*1), R10        // 3h
	VMOVUPS ONE, Y15
	SHRQ    $3, CX
	JZ      ggdone

ggloop:
	VMOVUPS (R13), Y0              // d
	VMOVUPS (DX), Y1               // r
	VMOVUPS (DX)(R8*1), Y2         // z
	VMOVUPS (DX)(R9*1), Y3         // n
	VMOVUPS (DX)(R10*1), Y4        // hn
	VMOVUPS (R12), Y5              // hp
	VSUBPS  Y2, Y15, Y10           // 1-z
	VMULPS  Y10, Y0, Y6            // d*(1-z)
	VMULPS  Y3, Y3, Y7             // n*n
	VSUBPS  Y7, Y15, Y7            // 1-n*n
	VMULPS  Y7, Y6, Y6             // dn
	VSUBPS  Y3, Y5, Y8             // hp-n
	VMULPS  Y8, Y0, Y8             // d*(hp-n)
	VMULPS  Y2, Y8, Y8             // *z
	VMULPS  Y10, Y8, Y8            // dz
	VMULPS  Y4, Y6, Y11            // dn*hn
	VMULPS  Y1, Y11, Y11           // *r
	VSUBPS  Y1, Y15, Y12           // 1-r
	VMULPS  Y12, Y11, Y11          // dr
	VMOVUPS Y11, (DI)
	VMOVUPS Y8, (DI)(R8*1)
	VMOVUPS Y6, (DI)(R9*1)
	VMOVUPS Y11, (SI)
	VMOVUPS Y8, (SI)(R8*1)
	VMULPS  Y1, Y6, Y13            // dn*r
	VMOVUPS Y13, (SI)(R9*1)
	TESTQ   R11, R11
	JZ      ggnext
	VMULPS  Y2, Y0, Y14            // d*z
	VADDPS  (R11), Y14, Y14        // hg + d*z
	VMOVUPS Y14, (R11)
	ADDQ    $32, R11

ggnext:
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, R12
	ADDQ $32, R13
	DECQ CX
	JNZ  ggloop

ggdone:
	VZEROUPPER
	RET
