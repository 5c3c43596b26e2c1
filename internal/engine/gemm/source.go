package gemm

import "fmt"

// RowSource is a weight matrix W of n rows by k columns (the [out, in]
// layout of y = x·Wᵀ) kept in a compact form — block-quantized, float16 or
// bfloat16, often a memory-mapped file region — and expanded to float32 a
// few rows at a time while SgemmSource packs its panels. Only one panel's
// worth of float32 exists at a time per worker, so the weight's memory stays
// the compact bytes plus a bounded scratch.
type RowSource interface {
	// Dims returns W's column count k (the inner dimension of the
	// product) and row count n (the output width).
	Dims() (k, n int)
	// BlockK returns the column granularity of the storage: DecodeRows is
	// only asked for column ranges that start at a multiple of it and end
	// at one or at k. It must be at least 1.
	BlockK() int
	// DecodeRows writes W[j0+r][p0+p] into dst[r*kb+p] for r < rows and
	// p < kb. It is called from several goroutines at once.
	DecodeRows(dst []float32, j0, rows, p0, kb int)
}

// SgemmSource computes C = A·Wᵀ (+C if accumulate) with A m×k row-major
// (stride lda) and W supplied by src. W is decoded and packed in chunks of
// whole kc blocks, each chunk multiplied before the next is decoded, so
// every weight is decoded once per call whatever m is.
//
// With bf16 false the product is float32 throughout. With bf16 true it
// uses the bfloat16 kernel where the CPU has one (weights and activations
// rounded to bfloat16, see the accuracy note in bf16.go) and the float32
// kernel on the exact decoded weights elsewhere, as SgemmPackedBF16 does.
func SgemmSource(m int, a []float32, lda int, src RowSource, c []float32, ldc int, accumulate, bf16 bool) {
	k, n := src.Dims()
	if m < 0 || k < 0 || n < 0 {
		panic(fmt.Sprintf("gemm: negative dimensions m=%d n=%d k=%d", m, n, k))
	}
	checkOperand("A", a, m, k, lda)
	checkOperand("C", c, m, n, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if !accumulate {
			scaleC(m, n, 0, c, ldc)
		}
		return
	}
	if bf16 {
		if kern := selectedBF16Kernel(); kern.widenTo == nil {
			sourceMultiply(kern, m, operandA{data: a, ld: lda}, src, c, ldc, accumulate)
			return
		}
	}
	sourceMultiply(selectedKernel(), m, operandA{data: a, ld: lda}, src, c, ldc, accumulate)
}

// withBlockK returns kern with kc rounded up to a multiple of blockK (and
// of kern.kPerStep), so that packed blocks start on storage block bounds.
func withBlockK[E element](kern *microKernel[E], blockK int) *microKernel[E] {
	step := max(1, blockK)
	if step%kern.kPerStep != 0 {
		step *= kern.kPerStep
	}
	kc := roundUp(kern.kc, step)
	if kc == kern.kc {
		return kern
	}
	adjusted := *kern
	adjusted.kc = kc
	return &adjusted
}

// sourceMultiply is SgemmSource for one kernel.
func sourceMultiply[E element](base *microKernel[E], m int, opA operandA, src RowSource, c []float32, ldc int, accumulate bool) {
	k, n := src.Dims()
	kern := withBlockK(base, src.BlockK())
	nPad := roundUp(n, kern.nr)
	stepsPerBlock := ceilDiv(kern.kc, kern.kPerStep)
	chunkK := min(k, max(kern.kc, (maxPackedChunkFloats/(stepsPerBlock*nPad))*kern.kc))
	buf := getScratch(ceilDiv(chunkK, kern.kPerStep) * nPad)
	defer putScratch(buf)
	workers := parallelism(m, n, k)
	beta := float32(0)
	if accumulate {
		beta = 1
	}
	for k0 := 0; k0 < k; k0 += chunkK {
		kb := min(chunkK, k-k0)
		pp := packedPanels[E]{kern: kern, k: kb, n: n}
		pp.data = asElements[E]((*buf)[:pp.size()])
		decodePanels(pp, src, k0, max(workers, parallelism(1, n, kb)))
		multiplyPackedN(kern, workers, m, n, kb, 1, opA.shiftK(k0), pp, beta, c, ldc)
		beta = 1
	}
}

// decodePanels fills pp with rows [k0, k0+pp.k) of op(B) = Wᵀ: each task
// decodes the nr weight rows of one micro-panel for one kc block into a
// float32 staging area and packs them as the kernel expects.
func decodePanels[E element](pp packedPanels[E], src RowSource, k0, workers int) {
	nr, kc := pp.kern.nr, pp.kern.kc
	panels := ceilDiv(pp.n, nr)
	blocks := ceilDiv(pp.k, kc)
	parallelFor(panels*blocks, workers, func(t int) {
		jp := t / blocks
		p0 := (t % blocks) * kc
		blk, kb, steps := pp.block(p0)
		dst := blk[jp*steps*nr : (jp+1)*steps*nr]
		cols := min(nr, pp.n-jp*nr)
		stage := getScratch(cols * kb)
		src.DecodeRows(*stage, jp*nr, cols, k0+p0, kb)
		pp.kern.packB(dst, operandB{data: *stage, ld: kb, trans: true}, 0, kb, 0, cols)
		putScratch(stage)
	})
}
