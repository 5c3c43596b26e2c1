package gemm

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
)

// AMX-BF16 kernel, Go side (amx_amd64.s has the instructions; docs/kernels.md
// the design). One call of the assembly body computes a 32×32 block of C as
// four 16×16 fp32 accumulator tiles, walking k in chunks of 16 bf16 pairs
// (32 values of k: one 64-byte tile row):
//
//   - B is the bf16 pair panel every bf16 kernel packs (step q, column j at
//     q·32+j, the pair holding rows 2q and 2q+1 of k), which is already
//     AMX's B layout: the 16 steps of a chunk are 16 tile rows of 32 pairs,
//     and the two 16-column halves are two tiles with a 128-byte stride.
//   - A is packed by rows instead: in chunk t, row i's 16 pairs are the 64
//     bytes at (t·32+i)·16 words, so each half of a chunk is one contiguous
//     1 KiB tile. The last steps%16 steps (the tail) are stored row-major at
//     stride steps%16 after the full chunks, in the same steps·32 words the
//     framework allots a panel; the run function copies that tail, and
//     B's, into zero-padded 16-step chunks, because the tile shape is fixed
//     for the whole call.
//
// kc = 1024 (512 steps, 32 chunks) amortises the call's fixed cost (tile
// configuration, loading and storing C, release) over 128 tile products;
// mc = 256 keeps the packed A block (512 KiB) in a 2 MiB L2. Both are
// untuned: no AMX machine was at hand when this was written.
const (
	amxMR          = 32
	amxNR          = 32
	amxKC          = 1024
	amxMC          = 256
	amxChunkSteps  = 16                    // bf16 pairs in a 64-byte tile row
	amxChunkWords  = amxChunkSteps * amxMR // uint32 words in a chunk of A (and of B: nr = mr)
	amxKernelName  = "amx"
	amxTileRows    = 16
	amxTileRowSize = 64
)

// amxTileConfig is LDTILECFG's 64-byte operand: palette (byte 0), start
// row (1), bytes per row of tiles 0–15 (uint16 at 16+2t) and rows of tiles
// 0–15 (byte 48+t).
type amxTileConfig [64]byte

// newAMXTileConfig returns palette 1 with tiles 0–7 all 16 rows × 64 bytes,
// the shape every tile of the kernel and of the peak loop uses.
func newAMXTileConfig() *amxTileConfig {
	var cfg amxTileConfig
	cfg[0] = 1
	for t := range 8 {
		cfg[16+2*t] = amxTileRowSize
		cfg[48+t] = amxTileRows
	}
	return &cfg
}

// amxBody is the kernel body's contract (the assembly's, or a stand-in's):
// with the tile configuration cfg, C (32×32 at c, row stride ldc floats)
// is loaded (accumulate) or zeroed, the steps packed steps of a and b (AMX
// layouts, steps·32 words each) are multiplied into it, and it is stored
// back. c reaches 31·ldc+32 elements.
type amxBody func(cfg *amxTileConfig, steps int, a, b []uint32, c []float32, ldc int, accumulate bool)

// amxTail copies the steps after the last full chunk of a and b (A's
// stored row-major at stride steps%16, B's step-major) into ta and tb as
// zero-padded 16-step chunks, and returns the number of full chunks. The
// tile shape is fixed for the whole call, so a short last chunk is
// multiplied as a full one whose missing pairs are zero on both sides.
func amxTail(ta, tb *[amxChunkWords]uint32, a, b []uint32, steps int) (chunks int) {
	chunks = steps / amxChunkSteps
	full := chunks * amxChunkWords
	rem := steps - chunks*amxChunkSteps
	for i := range amxMR {
		copy(ta[i*amxChunkSteps:i*amxChunkSteps+rem], a[full+i*rem:full+(i+1)*rem])
	}
	copy(tb[:], b[full:full+rem*amxNR])
	return chunks
}

// rowPairsFunc squeezes rows of a row-major A into bf16 pairs, row-major:
// dst[r*pairs+q] = bf16Pair(src[r*ld+2q], src[r*ld+2q+1]) for r < rows,
// q < pairs; it reports false (doing nothing) where it cannot.
type rowPairsFunc func(dst []uint32, src []float32, ld, rows, pairs int) bool

// newAMXKernel describes the AMX kernel around body. B packing and the
// fp32 staging of A are the shared bf16 ones (transpose and convert as for
// newBF16Kernel); packA then reorders the pairs into AMX's row layout.
// rowPairs (optional) packs full panels of a plain row-major A, which are
// already in AMX's order chunk by chunk, in one pass instead.
func newAMXKernel(name string, body amxBody, transpose transposeFunc, convert convertFunc, rowPairs rowPairsFunc) *microKernel[uint32] {
	cfg := newAMXTileConfig()
	run := func(steps int, a, b []uint32, c []float32, ldc int, beta float32) {
		a, b = a[:steps*amxMR], b[:steps*amxNR]
		c = c[:(amxMR-1)*ldc+amxNR]
		if beta != 0 && beta != 1 {
			// The tiles can only load C or start from zero: scale C first.
			for i := range amxMR {
				row := c[i*ldc : i*ldc+amxNR]
				for j := range row {
					row[j] *= beta
				}
			}
			beta = 1
		}
		body(cfg, steps, a, b, c, ldc, beta == 1)
	}
	k := newBF16Kernel(name, amxMR, amxNR, amxKC, amxMC, run, transpose, convert)
	stagePairs := k.packA
	k.packA = func(dst []uint32, src operandA, i0, rows, p0, kb int, alpha float32) {
		if rowPairs != nil && src.conv == nil && !src.trans && alpha == 1 && rows == amxMR &&
			amxPackRows(dst, src.data[i0*src.ld+p0:], src.ld, kb, rowPairs) {
			return
		}
		steps := ceilDiv(kb, 2)
		buf := getScratch(kb * amxMR)
		pairs := asElements[uint32](*buf)
		stagePairs(pairs, src, i0, rows, p0, kb, alpha)
		amxLayoutA(dst[:steps*amxMR], pairs[:steps*amxMR], steps)
		putScratch(buf)
	}
	return k
}

// amxPackRows packs a full panel of a row-major A (alpha 1) straight into
// the AMX layout: each chunk whose 32 values of k all lie below kb with
// rowPairs (a chunk is 32 rows × 16 pairs, row-major), the rest (a chunk
// holding an odd kb's last value, and the tail) in Go.
func amxPackRows(dst []uint32, src []float32, ld, kb int, rowPairs rowPairsFunc) bool {
	steps := ceilDiv(kb, 2)
	chunks := steps / amxChunkSteps
	fast := min(chunks, kb/(2*amxChunkSteps))
	for t := range fast {
		if !rowPairs(dst[t*amxChunkWords:(t+1)*amxChunkWords], src[2*amxChunkSteps*t:], ld, amxMR, amxChunkSteps) {
			return amxPackRowsFrom(dst, src, ld, kb, t)
		}
	}
	return amxPackRowsFrom(dst, src, ld, kb, fast)
}

// amxPackRowsFrom packs the steps from chunk t0 on (see amxPackRows) in
// Go; it always succeeds.
func amxPackRowsFrom(dst []uint32, src []float32, ld, kb, t0 int) bool {
	steps := ceilDiv(kb, 2)
	chunks := steps / amxChunkSteps
	full := chunks * amxChunkWords
	rem := steps - chunks*amxChunkSteps
	for i := range amxMR {
		row := src[i*ld : i*ld+kb]
		for q := t0 * amxChunkSteps; q < steps; q++ {
			hi := float32(0)
			if 2*q+1 < kb {
				hi = row[2*q+1]
			}
			idx := (q/amxChunkSteps)*amxChunkWords + i*amxChunkSteps + q%amxChunkSteps
			if q >= chunks*amxChunkSteps {
				idx = full + i*rem + q - chunks*amxChunkSteps
			}
			dst[idx] = bf16Pair(row[2*q], hi)
		}
	}
	return true
}

// amxLayoutA moves an A panel of bf16 pairs from the step-major order the
// other kernels use (step q, row i at q·32+i) into the AMX order described
// above.
func amxLayoutA(dst, pairs []uint32, steps int) {
	chunks := steps / amxChunkSteps
	amxReorderChunks(dst, pairs, chunks)
	full := chunks * amxChunkWords
	rem := steps - chunks*amxChunkSteps
	for q := range rem {
		for i, v := range pairs[full+q*amxMR : full+(q+1)*amxMR] {
			dst[full+i*rem+q] = v
		}
	}
}

// amxReorderChunksGo is amxReorderChunks in Go: for each full chunk,
// dst[i*16+q] = pairs[q*32+i].
func amxReorderChunksGo(dst, pairs []uint32, chunks int) {
	for t := range chunks {
		// Array pointers: constant bounds, so the loops need no checks.
		out := (*[amxChunkWords]uint32)(dst[t*amxChunkWords:])
		in := (*[amxChunkWords]uint32)(pairs[t*amxChunkWords:])
		for i := range amxMR {
			for q := range amxChunkSteps {
				out[i*amxChunkSteps+q] = in[q*amxMR+i]
			}
		}
	}
}

// amxPlatform is what choosing the AMX kernel asks of the machine.
type amxPlatform interface {
	// Support reports why the CPU or the OS cannot run AMX-BF16, or nil.
	Support() error
	// RequestPermission asks the OS for the tile data state (Linux
	// refuses AMX instructions to a process that has not asked).
	RequestPermission() error
}

// chooseAMX returns kern if the platform supports AMX-BF16, grants the tile
// state and kern passes check; otherwise nil and the reason. A failed check
// is logged as a warning: it means the hardware or the kernel is wrong, and
// the caller falls back to the AVX-512-BF16 kernel.
func chooseAMX(p amxPlatform, kern *microKernel[uint32], check func(*microKernel[uint32]) error, log *slog.Logger) (*microKernel[uint32], error) {
	if err := p.Support(); err != nil {
		return nil, err
	}
	if err := p.RequestPermission(); err != nil {
		return nil, fmt.Errorf("AMX tile permission: %w", err)
	}
	if err := check(kern); err != nil {
		log.Warn("gemm: the AMX kernel failed its self-check; using the AVX-512-BF16 kernel", "err", err)
		return nil, fmt.Errorf("AMX self-check: %w", err)
	}
	return kern, nil
}

// errBF16Mismatch reports a kernel whose product is off the reference.
var errBF16Mismatch = errors.New("product differs from the reference")

// selfCheckBF16 multiplies a few random shapes (edge tiles, a k tail, more
// than one kc block, accumulation) with kern and compares each element with
// a float64 product of the same bf16-rounded operands. The bound, 2⁻¹⁸ of
// Σ|a·b|, allows float32 rounding of the sums (typically near 2⁻²⁴ of it)
// with a wide margin; a wrong layout or instruction is off by far more.
func selfCheckBF16(kern *microKernel[uint32]) error {
	rng := rand.New(rand.NewPCG(17, 1))
	shapes := []struct{ m, n, k int }{{33, 47, 70}, {64, 64, 1056}, {5, 100, 31}, {40, 33, 2}}
	for s, sh := range shapes {
		m, n, k := sh.m, sh.n, sh.k
		a := make([]float32, m*k)
		b := make([]float32, k*n)
		c := make([]float32, m*n)
		for _, x := range [][]float32{a, b, c} {
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
		}
		c0 := append([]float32(nil), c...)
		accumulate := s%2 == 1
		pp := packWhole(kern, false, k, n, b, n)
		multiplyWhole(m, a, k, pp, c, n, accumulate)
		for i := range m {
			for j := range n {
				var sum, mag float64
				for p := range k {
					x := float64(fromBF16(roundBF16(a[i*k+p])))
					y := float64(fromBF16(roundBF16(b[p*n+j])))
					sum += x * y
					mag += math.Abs(x * y)
				}
				if accumulate {
					sum += float64(c0[i*n+j])
					mag += math.Abs(float64(c0[i*n+j]))
				}
				got := float64(c[i*n+j])
				if !(math.Abs(got-sum) <= mag*0x1p-18) {
					return fmt.Errorf("%w: %s %d×%d×%d, C[%d][%d] = %g, want %g", errBF16Mismatch, kern.name, m, n, k, i, j, got, sum)
				}
			}
		}
	}
	return nil
}

// fromBF16 widens a bfloat16 (low 16 bits of h) to float32.
func fromBF16(h uint32) float32 { return math.Float32frombits(h << 16) }
