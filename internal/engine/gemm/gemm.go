// Package gemm provides the single-precision matrix multiplication every
// engine layer is built on (linear layers, im2col convolutions, attention).
//
// The implementation follows the BLIS blocking scheme: B is packed into
// kc-row blocks of nr-column micro-panels (kept in L3, one micro-panel in
// L1/L2), A is packed per worker into mc×kc blocks of mr-row micro-panels
// (kept in L2), and an mr×nr register-blocked micro-kernel (Go assembly on
// amd64) does the arithmetic. Work is split over runtime.GOMAXPROCS(0)
// goroutines. An optional bfloat16 path (bf16.go) stores packed weights at
// half the size and uses AVX512_BF16 dot products where the CPU has them.
//
// Use: Sgemm packs B on every call, which costs a pass over B (a few per cent
// at UNet sizes, much more when m is small), so weights that are used again
// should be packed once with PackB (or PackBBF16) and multiplied with
// SgemmPacked. Calls are safe to make concurrently; each uses all cores for
// large products, so callers gain nothing by splitting one product across
// goroutines themselves. For attention, multiplying blocks of a few hundred
// query rows keeps the scores in cache, where one 4096×4096 product is
// bound by memory traffic rather than arithmetic.
//
// Convolutions (conv.go) are products with the weight pre-packed as B and
// im2col folded into the packing of A (SgemmConvPacked); callers that spread
// independent products over the cores themselves use SgemmSerial.
//
// Process-wide state: the backend choice (sync.OnceValue, read-only after
// first use) and the scratch-buffer pools (sync.Pool, safe for concurrent
// use); nothing else is mutable.
package gemm

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices.
// op(A) is m×k (A is stored k×m when transA), op(B) is k×n (B stored n×k when transB).
// lda, ldb, ldc are row strides in elements. beta == 0 means C is overwritten (never read, NaNs in C are ignored).
// C must not overlap A or B. Slices too short for their shape and stride cause a panic.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmWith(selectedKernel(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Backend reports which kernel was chosen at start-up: "avx512", "avx2", or "generic".
func Backend() string { return selectedKernel().name }

// PackedB is a weight matrix pre-packed once at model-load time for repeated
// use as the B operand of SgemmPacked. It is immutable after PackB and may be
// shared by concurrent calls.
type PackedB struct {
	panels packedPanels[float32]
}

// K returns the number of rows of op(B) (the inner dimension).
func (pb *PackedB) K() int { return pb.panels.k }

// N returns the number of columns of op(B) (the output width).
func (pb *PackedB) N() int { return pb.panels.n }

// PackB packs op(B) (k×n; B is stored n×k when transB) for use with SgemmPacked.
func PackB(transB bool, k, n int, b []float32, ldb int) *PackedB {
	pp, mem := packResident(selectedKernel(), transB, k, n, b, ldb)
	pb := &PackedB{panels: pp}
	releaseWith(pb, mem)
	return pb
}

// SgemmPacked computes C = A·B (+C if accumulate) with B pre-packed. A is m×k row-major (lda).
// The packing belongs to the backend chosen at start-up, like Sgemm's.
func SgemmPacked(m int, a []float32, lda int, pb *PackedB, c []float32, ldc int, accumulate bool) {
	multiplyWhole(m, a, lda, pb.panels, c, ldc, accumulate)
	runtime.KeepAlive(pb) // its panels may be off the heap (offheap_linux.go)
}

// packWhole packs all of op(B) for kern on the heap (tests, and what
// packResident falls back to).
func packWhole[E element](kern *microKernel[E], transB bool, k, n int, b []float32, ldb int) packedPanels[E] {
	pp, _ := packInto(kern, transB, k, n, b, ldb, func(n int) ([]float32, []byte) { return alignedFloats(n), nil })
	return pp
}

// packResident packs all of op(B) for kern off the heap where it can; it
// backs PackB and PackBBF16, which tie mem (nil on the heap) to the packed
// matrix's lifetime with releaseWith.
func packResident[E element](kern *microKernel[E], transB bool, k, n int, b []float32, ldb int) (packedPanels[E], []byte) {
	return packInto(kern, transB, k, n, b, ldb, residentFloats)
}

func packInto[E element](kern *microKernel[E], transB bool, k, n int, b []float32, ldb int, alloc func(int) ([]float32, []byte)) (packedPanels[E], []byte) {
	if k < 0 || n < 0 {
		panic(fmt.Sprintf("gemm: negative dimensions k=%d n=%d", k, n))
	}
	if transB {
		checkOperand("B", b, n, k, ldb)
	} else {
		checkOperand("B", b, k, n, ldb)
	}
	pp := packedPanels[E]{kern: kern, k: k, n: n}
	floats, mem := alloc(pp.size())
	pp.data = asElements[E](floats)
	pp.pack(operandB{data: b, ld: ldb, trans: transB}, 0, parallelism(1, n, k))
	return pp, mem
}

// multiplyWhole computes C = A·B (+C if accumulate) for B packed by packWhole.
func multiplyWhole[E element](m int, a []float32, lda int, pp packedPanels[E], c []float32, ldc int, accumulate bool) {
	k, n := pp.k, pp.n
	if m < 0 {
		panic(fmt.Sprintf("gemm: negative m %d", m))
	}
	checkOperand("A", a, m, k, lda)
	checkOperand("C", c, m, n, ldc)
	beta := float32(0)
	if accumulate {
		beta = 1
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	multiplyPacked(pp.kern, m, n, k, 1, operandA{data: a, ld: lda}, pp, beta, c, ldc)
}

// SgemmSerial is Sgemm computed entirely on the calling goroutine, for
// callers that already spread independent products over the cores (such as
// attention heads): nested parallel products only add scheduling and cache
// contention there.
func SgemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmWorkers(selectedKernel(), 1, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func sgemmWith(kern *microKernel[float32], transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmWorkers(kern, 0, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmWorkers is Sgemm on at most maxWorkers goroutines (0: no limit),
// with kern's packing (fp32, or bf16 pairs for a native bf16 kernel).
func sgemmWorkers[E element](kern *microKernel[E], maxWorkers int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimensions m=%d n=%d k=%d", m, n, k))
	}
	if transA {
		checkOperand("A", a, k, m, lda)
	} else {
		checkOperand("A", a, m, k, lda)
	}
	if transB {
		checkOperand("B", b, n, k, ldb)
	} else {
		checkOperand("B", b, k, n, ldb)
	}
	checkOperand("C", c, m, n, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}

	// B is packed in chunks of whole kc blocks so the scratch buffer stays
	// bounded for very deep products; each chunk is multiplied before the
	// next is packed, accumulating into C after the first.
	nPad := roundUp(n, kern.nr)
	chunkK := max(kern.kc, (maxPackedChunkFloats/nPad)/kern.kc*kern.kc)
	chunkK = min(chunkK, k)
	buf := getScratch(chunkK * nPad)
	defer putScratch(buf)
	workers := parallelism(m, n, k)
	if maxWorkers > 0 {
		workers = min(workers, maxWorkers)
	}
	opA := operandA{data: a, ld: lda, trans: transA}
	opB := operandB{data: b, ld: ldb, trans: transB}
	for k0 := 0; k0 < k; k0 += chunkK {
		kb := min(chunkK, k-k0)
		pp := packedPanels[E]{kern: kern, k: kb, n: n}
		pp.data = asElements[E]((*buf)[:pp.size()])
		pp.pack(opB, k0, workers)
		multiplyPackedN(kern, workers, m, n, kb, alpha, opA.shiftK(k0), pp, beta, c, ldc)
		beta = 1
	}
}

// maxPackedChunkFloats bounds the packed-B scratch of one Sgemm call (16 MiB).
const maxPackedChunkFloats = 4 << 20

// minParallelFlops is the problem size below which goroutine hand-off costs
// more than it saves.
const minParallelFlops = 1 << 21

// parallelism returns how many workers an m×n×k product deserves (packing
// passes use m = 1). Flops are counted in float64 so 32-bit ints cannot overflow.
func parallelism(m, n, k int) int {
	flops := 2 * float64(m) * float64(n) * float64(k)
	if flops < minParallelFlops {
		return 1
	}
	return int(max(1, min(float64(runtime.GOMAXPROCS(0)), flops/minParallelFlops)))
}

// checkOperand panics unless mat holds a rows×cols row-major matrix with stride ld.
func checkOperand(name string, mat []float32, rows, cols, ld int) {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("gemm: %s has negative shape %d×%d", name, rows, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if ld < cols {
		panic(fmt.Sprintf("gemm: %s stride %d < %d columns", name, ld, cols))
	}
	if need := (rows-1)*ld + cols; len(mat) < need {
		panic(fmt.Sprintf("gemm: %s has %d elements, %d×%d with stride %d needs %d", name, len(mat), rows, cols, ld, need))
	}
}

// scaleC sets C = beta·C, writing zeros without reading C when beta == 0.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

func roundUp(x, to int) int { return (x + to - 1) / to * to }

func ceilDiv(x, by int) int { return (x + by - 1) / by }

// operandA describes op(A): element (i, p) is data[i*ld+p], or data[p*ld+i] when trans.
type operandA struct {
	data  []float32
	ld    int
	trans bool
	conv  *convOperand // when set, op(A) is this im2col view and data, ld, trans are unused
}

// shiftK returns the operand whose column 0 is column k0 of op(A).
func (o operandA) shiftK(k0 int) operandA {
	if k0 == 0 {
		return o
	}
	if o.conv != nil {
		c := *o.conv
		c.k0 += k0
		o.conv = &c
		return o
	}
	if o.trans {
		o.data = o.data[k0*o.ld:]
	} else {
		o.data = o.data[k0:]
	}
	return o
}

// operandB describes op(B): element (p, j) is data[p*ld+j], or data[j*ld+p] when trans.
type operandB struct {
	data  []float32
	ld    int
	trans bool
}

// packedPanels is op(B) (k×n) packed for a micro-kernel with panel width nr
// that consumes kPerStep rows of k per packed step. Rows are grouped into
// blocks of kc (the last may be shorter, kb rows, s = ceil(kb/kPerStep)
// steps); the block starting at row p0 occupies s·nPad elements from
// (p0/kPerStep)·nPad and holds nPad/nr micro-panels of s×nr elements, each
// stored step by step. Columns past n are zero.
type packedPanels[E element] struct {
	kern *microKernel[E]
	k, n int
	data []E
}

// size returns the number of elements the packed matrix occupies.
func (pp packedPanels[E]) size() int {
	return ceilDiv(pp.k, pp.kern.kPerStep) * roundUp(pp.n, pp.kern.nr)
}

// block returns the micro-panels of the kc block starting at row p0, its
// height in rows of k and its number of packed steps.
func (pp packedPanels[E]) block(p0 int) (panels []E, kb, steps int) {
	nPad := roundUp(pp.n, pp.kern.nr)
	kb = min(pp.kern.kc, pp.k-p0)
	steps = ceilDiv(kb, pp.kern.kPerStep)
	start := p0 / pp.kern.kPerStep * nPad
	return pp.data[start : start+steps*nPad], kb, steps
}

// pack fills pp from rows [k0, k0+pp.k) of op(B), splitting the micro-panels over workers.
func (pp packedPanels[E]) pack(src operandB, k0, workers int) {
	nr, kc := pp.kern.nr, pp.kern.kc
	panels := ceilDiv(pp.n, nr)
	blocks := ceilDiv(pp.k, kc)
	// Consecutive tasks walk one panel through all blocks, so that with
	// transB each source row is read front to back.
	packOne := func(t int) {
		jp := t / blocks
		p0 := (t % blocks) * kc
		blk, kb, steps := pp.block(p0)
		dst := blk[jp*steps*nr : (jp+1)*steps*nr]
		pp.kern.packB(dst, src, k0+p0, kb, jp*nr, min(nr, pp.n-jp*nr))
	}
	parallelFor(panels*blocks, workers, packOne)
}

// multiplyPacked computes C = alpha·op(A)·B + beta·C for B packed in pp.
func multiplyPacked[E element](kern *microKernel[E], m, n, k int, alpha float32, opA operandA, pp packedPanels[E], beta float32, c []float32, ldc int) {
	multiplyPackedN(kern, parallelism(m, n, k), m, n, k, alpha, opA, pp, beta, c, ldc)
}

// multiplyPackedN is multiplyPacked on the given number of workers.
func multiplyPackedN[E element](kern *microKernel[E], workers, m, n, k int, alpha float32, opA operandA, pp packedPanels[E], beta float32, c []float32, ldc int) {
	mr, nr := kern.mr, kern.nr

	// Split rows into mBlocks of mc (a multiple of mr, at most kern.mc),
	// preferring a block count that divides evenly among the workers; when
	// there are too few row blocks, also split the columns.
	mBlocks := ceilDiv(m, kern.mc)
	if workers > 1 && mBlocks%workers != 0 && mBlocks > workers {
		mBlocks = roundUp(mBlocks, workers)
	}
	mc := roundUp(ceilDiv(m, mBlocks), mr)
	mBlocks = ceilDiv(m, mc)
	panels := ceilDiv(n, nr)
	nSplits := 1
	if mBlocks < 2*workers {
		nSplits = min(panels, ceilDiv(2*workers, mBlocks))
	}
	panelsPerSplit := ceilDiv(panels, nSplits)
	nSplits = ceilDiv(panels, panelsPerSplit)
	kc := min(k, kern.kc)

	var next atomic.Int64
	work := func() {
		// packA may stage one extra panel of unconverted data (see microKernel.packA).
		packBuf := getScratch(mc*kc + mr*kc)
		defer putScratch(packBuf)
		packA := asElements[E](*packBuf)
		edge := getScratch(mr * nr)
		defer putScratch(edge)
		for {
			t := int(next.Add(1) - 1)
			if t >= mBlocks*nSplits {
				return
			}
			i0 := (t / nSplits) * mc
			rows := min(mc, m-i0)
			jp0 := (t % nSplits) * panelsPerSplit
			jp1 := min(panels, jp0+panelsPerSplit)
			blockBeta := beta
			for p0 := 0; p0 < k; p0 += kern.kc {
				blk, kb, steps := pp.block(p0)
				for ip := 0; ip*mr < rows; ip++ {
					kern.packA(packA[ip*steps*mr:], opA, i0+ip*mr, min(mr, rows-ip*mr), p0, kb, alpha)
				}
				for jp := jp0; jp < jp1; jp++ {
					bPanel := blk[jp*steps*nr : (jp+1)*steps*nr]
					j := jp * nr
					cols := min(nr, n-j)
					run, width := kern.run, nr
					if cols <= kern.narrowCols {
						run, width = kern.narrowRun, kern.narrowCols
					}
					for ip := 0; ip*mr < rows; ip++ {
						aPanel := packA[ip*steps*mr : (ip+1)*steps*mr]
						i := i0 + ip*mr
						tileRows := min(mr, rows-ip*mr)
						if tileRows == mr && cols == width {
							off := i*ldc + j
							run(steps, aPanel, bPanel, c[off:off+(mr-1)*ldc+width], ldc, blockBeta)
							continue
						}
						tile := (*edge)[:mr*nr]
						run(steps, aPanel, bPanel, tile, nr, 0)
						mergeTile(c[i*ldc+j:], ldc, tile, nr, tileRows, cols, blockBeta)
					}
				}
				blockBeta = 1
			}
		}
	}
	runWorkers(min(workers, mBlocks*nSplits), work)
}

// mergeTile stores C = tile + beta·C for a rows×cols corner of a micro-tile.
func mergeTile(c []float32, ldc int, tile []float32, ldt, rows, cols int, beta float32) {
	for i := range rows {
		dst := c[i*ldc : i*ldc+cols]
		src := tile[i*ldt : i*ldt+cols]
		switch beta {
		case 0:
			copy(dst, src)
		case 1:
			for j, v := range src {
				dst[j] += v
			}
		default:
			for j, v := range src {
				dst[j] = v + beta*dst[j]
			}
		}
	}
}

// runWorkers runs work on n goroutines (the caller's included) and waits.
func runWorkers(n int, work func()) {
	if n <= 1 {
		work()
		return
	}
	var wg sync.WaitGroup
	for range n - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// parallelFor calls fn(0..total-1), spread over up to workers goroutines.
func parallelFor(total, workers int, fn func(int)) {
	if workers <= 1 || total <= 1 {
		for t := range total {
			fn(t)
		}
		return
	}
	var next atomic.Int64
	runWorkers(min(workers, total), func() {
		for {
			t := int(next.Add(1) - 1)
			if t >= total {
				return
			}
			fn(t)
		}
	})
}
