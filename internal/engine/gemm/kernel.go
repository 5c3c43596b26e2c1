package gemm

import (
	"math/bits"
	"os"
	"sync"
	"unsafe"
)

// element is what a packed operand is stored as: float32, or two bfloat16
// values of consecutive k packed into a uint32 (low half first).
type element interface{ float32 | uint32 }

// microKernel is one register-blocked inner kernel plus the packing and
// cache blocking that suit it.
type microKernel[E element] struct {
	name     string
	mr, nr   int // micro-tile rows and columns
	kc       int // rows of k per packed block (even where kPerStep is 2)
	mc       int // upper bound on rows of a packed A block: mc×kc should sit in L2
	kPerStep int // rows of k one packed element covers: 1 for fp32, 2 for bf16 pairs

	// run computes the mr×nr tile T = Σ_s a[s*mr+i]·b[s*nr+j] over steps
	// packed steps and stores C = T + beta·C into c (row stride ldc); with
	// beta == 0 it stores T without reading C. c must reach (mr-1)*ldc+nr
	// elements.
	run runFunc[E]

	// narrowRun, if set, is run for a last micro-panel holding at most
	// narrowCols columns: it computes only the left mr×narrowCols part of
	// the tile (B keeps its nr stride), saving the work on padding.
	narrowRun  runFunc[E]
	narrowCols int

	// packA packs rows [i0, i0+rows) × k-rows [p0, p0+kb) of alpha·op(A)
	// into one mr-row micro-panel of ceil(kb/kPerStep) steps, zero-filling
	// rows past rows. It may use dst up to kb*mr elements as staging.
	packA func(dst []E, src operandA, i0, rows, p0, kb int, alpha float32)

	// packB packs k-rows [p0, p0+kb) × columns [j0, j0+cols) of op(B) into
	// one nr-column micro-panel, zero-filling columns past cols.
	packB func(dst []E, src operandB, p0, kb, j0, cols int)

	// widenTo, set only on bf16 packings without a kernel of their own,
	// names the fp32 kernel that multiplies the panels after widening
	// (run and packA are then nil; see SgemmPackedBF16).
	widenTo *microKernel[float32]
}

type runFunc[E element] func(steps int, a, b []E, c []float32, ldc int, beta float32)

// transposeFunc packs strided rows: dst[p*rows+r] = alpha·src[r*ld+p] for
// r < rows and p < done, where done ≤ cols is the prefix it chose to handle.
type transposeFunc func(dst, src []float32, ld, rows, cols int, alpha float32) (done int)

// newF32Kernel describes an fp32 kernel; transpose (optional) speeds up packing.
func newF32Kernel(name string, mr, nr, kc, mc int, run runFunc[float32], transpose transposeFunc) *microKernel[float32] {
	return &microKernel[float32]{
		name: name, mr: mr, nr: nr, kc: kc, mc: mc, kPerStep: 1, run: run,
		packA: func(dst []float32, src operandA, i0, rows, p0, kb int, alpha float32) {
			packPanelA(dst, src, i0, rows, p0, kb, mr, alpha, transpose)
		},
		packB: func(dst []float32, src operandB, p0, kb, j0, cols int) {
			packPanelB(dst, src, p0, kb, j0, cols, nr, transpose)
		},
	}
}

// EnvBackend names the environment variable that forces a backend
// ("generic", "avx2" or "avx512") for tests and benchmarks. An unknown or
// unsupported value falls back to the best backend the CPU supports.
const EnvBackend = "INVOKEGO_GEMM"

// kernels lists the backends usable on this machine, best first; the
// portable kernel is always last.
func kernels() []*microKernel[float32] {
	return append(archKernels(), genericKernel)
}

// selectedKernel is the backend chosen on first use: the best supported one
// unless EnvBackend names another supported one.
var selectedKernel = sync.OnceValue(func() *microKernel[float32] {
	return chooseKernel(os.Getenv(EnvBackend))
})

// chooseKernel returns the available backend called want, or the best one.
func chooseKernel(want string) *microKernel[float32] {
	available := kernels()
	for _, k := range available {
		if k.name == want {
			return k
		}
	}
	return available[0]
}

// genericKernel is the portable fallback used where no assembly kernel applies.
var genericKernel = newF32Kernel("generic", 4, 4, 256, 128, kernelGeneric4x4, nil)

// kernelGeneric4x4 is the pure-Go micro-kernel: sixteen scalar accumulators
// fit the 32 floating-point registers of arm64 (amd64, which spills some of
// them, normally runs an assembly kernel instead).
func kernelGeneric4x4(steps int, a, b, c []float32, ldc int, beta float32) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	a = a[:steps*4]
	b = b[:steps*4]
	for p := 0; p < len(a); p += 4 {
		ap := a[p : p+4 : p+4]
		bp := b[p : p+4 : p+4]
		a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	tile := [4][4]float32{
		{c00, c01, c02, c03},
		{c10, c11, c12, c13},
		{c20, c21, c22, c23},
		{c30, c31, c32, c33},
	}
	for i := range tile {
		row := c[i*ldc : i*ldc+4 : i*ldc+4]
		if beta == 0 {
			copy(row, tile[i][:])
			continue
		}
		for j := range row {
			row[j] = tile[i][j] + beta*row[j]
		}
	}
}

// scratchPools recycle packing buffers, one pool per power-of-two size so a
// large B buffer is never traded for a small A buffer: fresh pages cost far
// more to touch than the packing itself for mid-sized products.
var scratchPools [48]sync.Pool

// getScratch returns a 64-byte aligned buffer of n floats with unspecified contents.
func getScratch(n int) *[]float32 {
	class := bits.Len(uint(max(n, 1) - 1))
	if p, ok := scratchPools[class].Get().(*[]float32); ok {
		*p = (*p)[:n]
		return p
	}
	s := alignedFloats(1 << class)[:n]
	return &s
}

// putScratch returns a buffer obtained from getScratch.
func putScratch(p *[]float32) {
	scratchPools[bits.Len(uint(cap(*p)-1))].Put(p)
}

// alignedFloats allocates n zeroed floats starting on a cache-line boundary,
// so packed micro-panels never straddle lines.
func alignedFloats(n int) []float32 {
	const lineFloats = 16
	s := make([]float32, n+lineFloats)
	skip := 0
	if rem := uintptr(unsafe.Pointer(unsafe.SliceData(s))) % 64; rem != 0 {
		skip = int(64-rem) / 4
	}
	return s[skip : skip+n : skip+n]
}

// asFloatsOf reinterprets a byte buffer (length a multiple of 4, 4-byte
// aligned) as floats.
func asFloatsOf(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
}

// asElements reinterprets a float32 buffer as packed elements of the same size.
func asElements[E element](s []float32) []E {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*E)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// asFloats reinterprets packed elements as the float32 buffer they came from.
func asFloats[E element](s []E) []float32 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}
