//go:build amd64

package gemm

import "golang.org/x/sys/cpu"

// Assembly micro-kernels (gemm_amd64.s); see microKernel.run for the contract.
// Callers guarantee steps ≥ 1 and that a, b and c reach as far as run requires.

//go:noescape
func sgemmKernel12x32AVX512(steps int, a, b, c *float32, ldc int, beta float32)

//go:noescape
func sgemmKernel12x16AVX512(steps int, a, b, c *float32, ldc int, beta float32)

//go:noescape
func sgemmKernel6x16AVX2(steps int, a, b, c *float32, ldc int, beta float32)

// avx512Kernel keeps 24 zmm accumulators. kc = 384 makes a B micro-panel
// (48 KiB) spill from L1 to L2, but measured faster than 256 because C is
// revisited fewer times; the 288×384 packed A block (432 KiB) sits in L2.
var avx512Kernel = func() *microKernel[float32] {
	k := newF32Kernel("avx512", 12, 32, 384, 288, func(steps int, a, b, c []float32, ldc int, beta float32) {
		_, _, _ = a[steps*12-1], b[steps*32-1], c[11*ldc+31]
		sgemmKernel12x32AVX512(steps, &a[0], &b[0], &c[0], ldc, beta)
	}, transposeAVX2)
	k.narrowCols = 16
	k.narrowRun = func(steps int, a, b, c []float32, ldc int, beta float32) {
		_, _, _ = a[steps*12-1], b[steps*32-1], c[11*ldc+15]
		sgemmKernel12x16AVX512(steps, &a[0], &b[0], &c[0], ldc, beta)
	}
	return k
}()

// avx2Kernel keeps 12 ymm accumulators, the most the 16 registers allow.
var avx2Kernel = newF32Kernel("avx2", 6, 16, 256, 144, func(steps int, a, b, c []float32, ldc int, beta float32) {
	_, _, _ = a[steps*6-1], b[steps*16-1], c[5*ldc+15]
	sgemmKernel6x16AVX2(steps, &a[0], &b[0], &c[0], ldc, beta)
}, transposeAVX2)

// archKernels returns the assembly kernels this CPU (and OS) supports, best
// first. Both pack with the AVX2 transposer, hence AVX2 in both conditions.
func archKernels() []*microKernel[float32] {
	var ks []*microKernel[float32]
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX2 {
		ks = append(ks, avx512Kernel)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, avx2Kernel)
	}
	return ks
}

// packTranspose4AVX2 and packTranspose8AVX2 write
// dst[p*stride+r] = alpha·src[r*ld+p] for r < 4 (or 8·groups) and
// p < 8·chunks (groups, chunks ≥ 1).
//
//go:noescape
func packTranspose4AVX2(dst, src *float32, ld, stride, chunks int, alpha float32)

//go:noescape
func packTranspose8AVX2(dst, src *float32, ld, stride, groups, chunks int, alpha float32)

// transposeAVX2 implements transposeFunc for the first cols&^7 columns:
// eight rows at a time, then four, then the last few in Go.
func transposeAVX2(dst, src []float32, ld, rows, cols int, alpha float32) int {
	done := cols &^ 7
	if rows == 0 || done == 0 {
		return 0
	}
	_, _ = dst[(done-1)*rows+rows-1], src[(rows-1)*ld+done-1]
	r := rows &^ 7
	if r > 0 {
		packTranspose8AVX2(&dst[0], &src[0], ld, rows, r/8, done/8, alpha)
	}
	if r+4 <= rows {
		packTranspose4AVX2(&dst[r], &src[r*ld], ld, rows, done/8, alpha)
		r += 4
	}
	for ; r < rows; r++ {
		row := src[r*ld : r*ld+done]
		for p, v := range row {
			dst[p*rows+r] = alpha * v
		}
	}
	return done
}

// convertPairsAVX turns the first pairs steps of an fp32-staged panel into
// bf16 pairs in place (see microKernel.packA); mr is a positive multiple of 4.
//
//go:noescape
func convertPairsAVX(dst *uint32, pairs, mr int)

//go:noescape
func sgemmKernel12x32BF16(steps int, a, b *uint32, c *float32, ldc int, beta float32)

//go:noescape
func sgemmKernel12x16BF16(steps int, a, b *uint32, c *float32, ldc int, beta float32)

//go:noescape
func convertPairsAVX512(dst *uint32, pairs, mr int)

//go:noescape
func convertRowsAVX512(dst *uint32, src *float32, ld, rows, pairs int)

//go:noescape
func packTranspose4Words(dst, src *float32, ld, stride, chunks int)

//go:noescape
func packTranspose8Words(dst, src *float32, ld, stride, groups, chunks int)

// packPairsA implements pairsPackFunc for a 12-row panel of a row-major
// A (the bf16 kernel's): the rows are squeezed into bf16 pairs in a
// row-major scratch (convertRowsAVX512), then the pair words are transposed
// into the panel, eight rows at a time and then four (mr = 12), so the
// transpose moves half the data it would as floats and no converting pass
// over the panel remains. It returns the number of steps it packed (a
// multiple of 8); the caller does the rest.
func packPairsA(dst []uint32, src []float32, ld, rows, kb int) int {
	steps := (kb / 2) &^ 7
	if rows != 12 || steps == 0 {
		return 0
	}
	_, _ = dst[steps*12-1], src[11*ld+2*steps-1]
	buf := getScratch(12 * steps)
	words := *buf
	convertRowsAVX512(&asElements[uint32](words)[0], &src[0], ld, 12, steps)
	out := asFloats(dst)
	packTranspose8Words(&out[0], &words[0], steps, 12, 1, steps/8)
	packTranspose4Words(&out[8], &words[8*steps], steps, 12, steps/8)
	putScratch(buf)
	return steps
}

// convertAVX implements convertFunc: sixteen lanes at a time where the CPU
// has AVX-512 (always so for the bf16 kernel), four otherwise.
func convertAVX(dst []uint32, pairs, mr int) int {
	if pairs == 0 || mr < 1 {
		return 0
	}
	_ = dst[2*pairs*mr-1]
	if cpu.X86.HasAVX512F {
		convertPairsAVX512(&dst[0], pairs, mr)
		return pairs
	}
	if mr%4 != 0 {
		return 0
	}
	convertPairsAVX(&dst[0], pairs, mr)
	return pairs
}

// avx512BF16Kernel mirrors avx512Kernel with VDPBF16PS; a step covers two rows
// of k, so kc = 768 keeps the same bytes per packed block.
var avx512BF16Kernel = func() *microKernel[uint32] {
	k := newBF16Kernel("avx512bf16", 12, 32, 768, 288, func(steps int, a, b []uint32, c []float32, ldc int, beta float32) {
		_, _, _ = a[steps*12-1], b[steps*32-1], c[11*ldc+31]
		sgemmKernel12x32BF16(steps, &a[0], &b[0], &c[0], ldc, beta)
	}, transposeAVX2, convertAVX)
	k.packA = withPairsPackA(12, k.packA, packPairsA)
	k.narrowCols = 16
	k.narrowRun = func(steps int, a, b []uint32, c []float32, ldc int, beta float32) {
		_, _, _ = a[steps*12-1], b[steps*32-1], c[11*ldc+15]
		sgemmKernel12x16BF16(steps, &a[0], &b[0], &c[0], ldc, beta)
	}
	return k
}()

// archBF16Kernels returns the bfloat16 assembly kernels this CPU supports,
// best first: AMX tiles where the process may use them (usableAMX; every
// AMX CPU also has AVX-512-BF16, whose packing the AMX kernel shares).
func archBF16Kernels() []*microKernel[uint32] {
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BF16 && cpu.X86.HasAVX2 {
		if amx := usableAMX(); amx != nil {
			return []*microKernel[uint32]{amx, avx512BF16Kernel}
		}
		return []*microKernel[uint32]{avx512BF16Kernel}
	}
	return nil
}

// transposeArch transposes the first cols&^7 columns of full groups of
// eight rows, then four (see Transpose), returning the rows it did.
func transposeArch(dst []float32, stride int, src []float32, ld, rows, cols int) int {
	chunks := cols / 8
	if chunks == 0 || !cpu.X86.HasAVX2 {
		return 0
	}
	r := rows &^ 7
	if r > 0 {
		packTranspose8Words(&dst[0], &src[0], ld, stride, r/8, chunks)
	}
	if r+4 <= rows {
		packTranspose4Words(&dst[r], &src[r*ld], ld, stride, chunks)
		r += 4
	}
	return r
}
