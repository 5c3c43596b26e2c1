package gemm

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// Bfloat16 path: weights are packed once as bfloat16 (half the memory of
// fp32). On CPUs with AVX512_BF16 the activations are rounded to bfloat16 as
// they are packed and VDPBF16PS does two multiply-adds per lane per
// instruction, roughly doubling fp32 throughput. Elsewhere each call widens
// the packed weights back to fp32 panels (a pass over the weights, like
// Sgemm's own packing) and runs the fp32 kernel with unrounded activations.
//
// Accuracy: operands are rounded to nearest-even bfloat16 (8 significant
// bits, relative error ≤ 2⁻⁹ each), products and sums are float32. A dot
// product of length k therefore differs from the fp32 result by at most about
// 2⁻⁸·Σ|aᵢ·bᵢ| and typically ~2⁻⁸·√k·rms(aᵢbᵢ), i.e. a few tenths of a
// percent for well-conditioned sums. VDPBF16PS also flushes bfloat16
// subnormals to zero. Results differ slightly between the two strategies.

// PackedBBF16 is a weight matrix pre-packed as bfloat16 for SgemmPackedBF16.
// It is immutable after PackBBF16 and may be shared by concurrent calls.
type PackedBBF16 struct {
	panels packedPanels[uint32]
}

// K returns the number of rows of op(B) (the inner dimension).
func (pb *PackedBBF16) K() int { return pb.panels.k }

// N returns the number of columns of op(B) (the output width).
func (pb *PackedBBF16) N() int { return pb.panels.n }

// PackBBF16 rounds op(B) (k×n; B is stored n×k when transB) to bfloat16 and
// packs it for SgemmPackedBF16.
func PackBBF16(transB bool, k, n int, b []float32, ldb int) *PackedBBF16 {
	pp, mem := packResident(selectedBF16Kernel(), transB, k, n, b, ldb)
	pb := &PackedBBF16{panels: pp}
	releaseWith(pb, mem)
	return pb
}

// SgemmPackedBF16 computes C = A·B (+C if accumulate) with A m×k row-major
// (stride lda) and B pre-packed by PackBBF16. See the accuracy note above.
func SgemmPackedBF16(m int, a []float32, lda int, pb *PackedBBF16, c []float32, ldc int, accumulate bool) {
	defer runtime.KeepAlive(pb) // its panels may be off the heap (offheap_linux.go)
	pp := pb.panels
	if pp.kern.widenTo == nil {
		multiplyWhole(m, a, lda, pp, c, ldc, accumulate)
		return
	}
	if m < 0 {
		panic(fmt.Sprintf("gemm: negative m %d", m))
	}
	checkOperand("A", a, m, pp.k, lda)
	widenAndMultiply(m, operandA{data: a, ld: lda}, pp, c, ldc, accumulate)
}

// HasNativeBF16 reports whether bf16 products run on a bf16 kernel
// (VDPBF16PS) rather than on widened fp32 panels; only then do SgemmBF16
// and SgemmBF16Serial differ from Sgemm and SgemmSerial.
func HasNativeBF16() bool { return selectedBF16Kernel().widenTo == nil }

// SgemmBF16 is Sgemm with both operands rounded to bfloat16 as they are
// packed and float32 sums (see the accuracy note above): for products of
// activations with activations, such as attention's, where neither side is
// a weight packed at load. Without a native bf16 kernel it is Sgemm.
func SgemmBF16(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if kern := selectedBF16Kernel(); kern.widenTo == nil {
		sgemmWorkers(kern, 0, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmBF16Serial is SgemmBF16 on the calling goroutine (see SgemmSerial).
func SgemmBF16Serial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if kern := selectedBF16Kernel(); kern.widenTo == nil {
		sgemmWorkers(kern, 1, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	SgemmSerial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// widenAndMultiply runs a bf16 product on a CPU without a bf16 kernel by
// widening the packed weights to fp32 panels chunk by chunk.
func widenAndMultiply(m int, opA operandA, pp packedPanels[uint32], c []float32, ldc int, accumulate bool) {
	checkOperand("C", c, m, pp.n, ldc)
	if m == 0 || pp.n == 0 {
		return
	}
	if pp.k == 0 {
		if !accumulate {
			scaleC(m, pp.n, 0, c, ldc)
		}
		return
	}
	// Widen whole kc blocks at a time into a bounded fp32 scratch and
	// multiply each chunk, accumulating after the first.
	f32 := pp.kern.widenTo
	nPad := roundUp(pp.n, f32.nr)
	chunkK := min(pp.k, max(f32.kc, (maxPackedChunkFloats/nPad)/f32.kc*f32.kc))
	buf := getScratch(chunkK * nPad)
	defer putScratch(buf)
	workers := parallelism(m, pp.n, pp.k)
	beta := float32(0)
	if accumulate {
		beta = 1
	}
	for k0 := 0; k0 < pp.k; k0 += chunkK {
		kb := min(chunkK, pp.k-k0)
		wide := packedPanels[float32]{kern: f32, k: kb, n: pp.n, data: (*buf)[:kb*nPad]}
		widenPanels(wide, pp, k0, workers)
		multiplyPacked(f32, m, pp.n, kb, 1, opA.shiftK(k0), wide, beta, c, ldc)
		beta = 1
	}
}

// widenPanels fills dst (fp32, rows [k0, k0+dst.k) of src) from the bf16
// pairs in src; both use the same nr and kc, so blocks and panels line up.
func widenPanels(dst packedPanels[float32], src packedPanels[uint32], k0, workers int) {
	nr, kc := dst.kern.nr, dst.kern.kc
	panels := ceilDiv(dst.n, nr)
	blocks := ceilDiv(dst.k, kc)
	parallelFor(panels*blocks, workers, func(t int) {
		jp, p0 := t/blocks, (t%blocks)*kc
		wideBlk, kb, _ := dst.block(p0)
		pairBlk, _, steps := src.block(k0 + p0)
		wide := wideBlk[jp*kb*nr : (jp+1)*kb*nr]
		pairs := pairBlk[jp*steps*nr : (jp+1)*steps*nr]
		for p := range kb {
			row := pairs[p/2*nr : p/2*nr+nr]
			out := wide[p*nr : p*nr+nr]
			shift := 16 * uint(1-p%2) // low half holds the even row
			for j, v := range row {
				out[j] = math.Float32frombits(v << shift & 0xffff0000)
			}
		}
	})
}

// BF16Backend reports how SgemmPackedBF16 runs: "avx512bf16" when the fp32
// backend is avx512 and the CPU has AVX512_BF16, otherwise "fp32-" plus the
// fp32 backend whose kernel runs on the widened weights.
func BF16Backend() string { return selectedBF16Kernel().name }

// bf16Kernels lists the bfloat16 strategies usable here: native kernels,
// then widening onto each fp32 kernel.
func bf16Kernels() []*microKernel[uint32] {
	ks := archBF16Kernels()
	for _, f32 := range kernels() {
		ks = append(ks, widening(f32))
	}
	return ks
}

var selectedBF16Kernel = sync.OnceValue(func() *microKernel[uint32] {
	if arch := archBF16Kernels(); len(arch) > 0 && selectedKernel().name == "avx512" {
		return arch[0]
	}
	return widening(selectedKernel())
})

// widening describes bf16 packing laid out to be widened for the fp32 kernel f32.
func widening(f32 *microKernel[float32]) *microKernel[uint32] {
	nr := f32.nr
	return &microKernel[uint32]{
		name: "fp32-" + f32.name, mr: f32.mr, nr: nr, kc: roundUp(f32.kc, 2), mc: f32.mc, kPerStep: 2,
		widenTo: f32,
		packB: func(dst []uint32, src operandB, p0, kb, j0, cols int) {
			packPanelBBF16(dst, src, p0, kb, j0, cols, nr)
		},
	}
}

// roundBF16 rounds f to the nearest bfloat16 (ties to even) and returns its
// 16 bits. NaNs stay NaNs (quietened) rather than rounding into infinity.
func roundBF16(f float32) uint32 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return (u | 0x00400000) >> 16
	}
	return (u + 0x7fff + (u>>16)&1) >> 16
}

// bf16Pair packs two bfloat16 values as one element: lo holds row 2q, hi row 2q+1.
func bf16Pair(lo, hi float32) uint32 { return roundBF16(lo) | roundBF16(hi)<<16 }

// newBF16Kernel describes a bfloat16 kernel. transpose (optional) speeds up
// staging A as fp32; convert (optional) turns staged fp32 rows into pairs.
func newBF16Kernel(name string, mr, nr, kc, mc int, run runFunc[uint32], transpose transposeFunc, convert convertFunc) *microKernel[uint32] {
	return &microKernel[uint32]{
		name: name, mr: mr, nr: nr, kc: kc, mc: mc, kPerStep: 2, run: run,
		packA: func(dst []uint32, src operandA, i0, rows, p0, kb int, alpha float32) {
			// Stage the panel as fp32 in dst itself, then squeeze pairs of
			// rows into bf16 pairs in place: step q reads rows 2q and 2q+1,
			// which lie at or after where it writes.
			stage := asFloats(dst[:kb*mr])
			packPanelA(stage, src, i0, rows, p0, kb, mr, alpha, transpose)
			done := 0
			if convert != nil {
				done = convert(dst, kb/2, mr)
			}
			for q := done; q < ceilDiv(kb, 2); q++ {
				for i := range mr {
					hi := float32(0)
					if 2*q+1 < kb {
						hi = stage[(2*q+1)*mr+i]
					}
					dst[q*mr+i] = bf16Pair(stage[2*q*mr+i], hi)
				}
			}
		},
		packB: func(dst []uint32, src operandB, p0, kb, j0, cols int) {
			if transpose != nil && convert != nil && kb >= 2 {
				packStagedPairs(dst, src, p0, kb, j0, cols, nr, transpose, convert)
				return
			}
			packPanelBBF16(dst, src, p0, kb, j0, cols, nr)
		},
	}
}

// packStagedPairs is packPanelBBF16 through an fp32 staging panel: the
// panel is packed as fp32 (transposed with the kernel's transposer for the
// weight layout, copied row by row otherwise), then squeezed into bf16
// pairs in place with its converter, instead of rounding element by
// element. Products with weights decoded on the fly, and attention's
// per-call value panels, pack this way on every call, so its speed matters.
func packStagedPairs(dst []uint32, src operandB, p0, kb, j0, cols, nr int, transpose transposeFunc, convert convertFunc) {
	steps := ceilDiv(kb, 2)
	buf := getScratch(2 * steps * nr)
	stage := (*buf)[:2*steps*nr]
	packPanelB(stage, src, p0, kb, j0, cols, nr, transpose)
	if kb%2 == 1 {
		clear(stage[kb*nr:]) // the odd row's partner is zero
	}
	pairs := asElements[uint32](stage)
	converted := convert(pairs, steps, nr)
	for q := converted; q < steps; q++ {
		for i := range nr {
			pairs[q*nr+i] = bf16Pair(stage[2*q*nr+i], stage[(2*q+1)*nr+i])
		}
	}
	copy(dst[:steps*nr], pairs[:steps*nr])
	putScratch(buf)
}

// pairsPackFunc packs the first steps (its return value) of a full mr-row
// panel of a row-major A, unscaled, straight into bf16 pairs:
// dst[q*mr+i] = bf16Pair(src[i*ld+2q], src[i*ld+2q+1]).
type pairsPackFunc func(dst []uint32, src []float32, ld, rows, kb int) (steps int)

// withPairsPackA wraps a bf16 kernel's packA (mr-row panels): full panels
// of a plain row-major A with alpha 1 (linear layers, attention's
// probabilities) go through pairs first; what it leaves (edge panels, a
// scaled or transposed A, the last few columns) the wrapped packA packs.
func withPairsPackA(mr int, packA func(dst []uint32, src operandA, i0, rows, p0, kb int, alpha float32), pairs pairsPackFunc) func(dst []uint32, src operandA, i0, rows, p0, kb int, alpha float32) {
	return func(dst []uint32, src operandA, i0, rows, p0, kb int, alpha float32) {
		steps := 0
		if src.conv == nil && !src.trans && alpha == 1 && rows == mr {
			steps = pairs(dst, src.data[i0*src.ld+p0:], src.ld, rows, kb)
		}
		if 2*steps < kb {
			packA(dst[steps*mr:], src, i0, rows, p0+2*steps, kb-2*steps, alpha)
		}
	}
}

// convertFunc turns the first `pairs` steps of an fp32-staged mr-row panel
// in dst into bf16 pairs in place and returns how many it converted.
type convertFunc func(dst []uint32, pairs, mr int) (done int)

// packPanelBBF16 packs k-rows [p0, p0+kb) × columns [j0, j0+cols) of op(B)
// as bf16 pairs, nr columns per step, zero-filling the rest.
func packPanelBBF16(dst []uint32, src operandB, p0, kb, j0, cols, nr int) {
	steps := ceilDiv(kb, 2)
	dst = dst[:steps*nr]
	if cols < nr {
		clear(dst)
	}
	if src.trans {
		// Column j of op(B) is row j0+j of B: its consecutive pairs are the steps.
		for j := range cols {
			col := src.data[(j0+j)*src.ld+p0:]
			col = col[:kb]
			for q := range kb / 2 {
				dst[q*nr+j] = bf16Pair(col[2*q], col[2*q+1])
			}
			if kb%2 == 1 {
				dst[(steps-1)*nr+j] = roundBF16(col[kb-1])
			}
		}
		return
	}
	for q := range steps {
		out := dst[q*nr : q*nr+cols]
		even := src.data[(p0+2*q)*src.ld+j0:]
		even = even[:cols]
		if 2*q+1 == kb {
			for j, v := range even {
				out[j] = roundBF16(v)
			}
			continue
		}
		odd := src.data[(p0+2*q+1)*src.ld+j0:]
		odd = odd[:cols]
		for j, v := range even {
			out[j] = bf16Pair(v, odd[j])
		}
	}
}
