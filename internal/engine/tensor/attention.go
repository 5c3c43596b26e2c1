package tensor

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/invokego/invokego/internal/engine/gemm"
)

// Attention tile sizes: a query block attends to one key block at a time,
// so scratch memory is O(queryBlock·keyBlock) (4 MiB per worker) whatever
// the sequence length. Smaller tiles make the head-width (40..160) products
// too small for gemm to run efficiently: measured on SD-1.5's 4096-token
// self-attention, 1024×1024 tiles took 30% less CPU than 256×512.
const (
	attnQueryBlock = 1024
	attnKeyBlock   = 1024
)

// Attention computes softmax(Q·Kᵀ/√d)·V for every (batch, head).
//
// q is [batch, lq, heads·headDim], k and v are [batch, lk, heads·headDim],
// and out has q's layout; head h occupies columns h·headDim..(h+1)·headDim.
// With causal set, query i sees only keys j ≤ i (CLIP's text mask).
//
// The softmax is computed online over key blocks (the flash-attention
// recurrence): each query row keeps its running maximum and normaliser, and
// the partial output is rescaled when the maximum grows.
func Attention(q, k, v []float32, batch, lq, lk, heads, headDim int, causal bool, out []float32) {
	attention(q, k, v, nil, batch, lq, lk, heads, headDim, causal, false, out)
}

// AttentionBF16 is Attention (not causal) with both products, Q·Kᵀ and
// P·V, taken on bfloat16-rounded operands with float32 sums where the CPU
// has a bf16 kernel (gemm.HasNativeBF16), as PyTorch computes attention on
// bf16 tensors; the softmax stays float32. Elsewhere it is Attention.
// Relative errors are those of gemm's bf16 note: a few 1e-3 of the scores.
func AttentionBF16(q, k, v []float32, batch, lq, lk, heads, headDim int, out []float32) {
	attention(q, k, v, nil, batch, lq, lk, heads, headDim, false, true, out)
}

// AttentionBias is Attention with an additive score bias: softmax(Q·Kᵀ/√d + bias)·V, where bias is
// [batch, lq, lk] and the same for every head (an attention mask given as scores, as PyTorch's
// scaled_dot_product_attention takes a float attn_mask).
func AttentionBias(q, k, v, bias []float32, batch, lq, lk, heads, headDim int, out []float32) {
	if len(bias) != batch*lq*lk {
		panic("tensor: attention bias of the wrong size")
	}
	attention(q, k, v, bias, batch, lq, lk, heads, headDim, false, false, out)
}

func attention(q, k, v, bias []float32, batch, lq, lk, heads, headDim int, causal, bf16 bool, out []float32) {
	width := heads * headDim
	scale := float32(1 / math.Sqrt(float64(headDim)))
	qBlocks := (lq + attnQueryBlock - 1) / attnQueryBlock
	tasks := batch * heads * qBlocks
	workers := min(runtime.GOMAXPROCS(0), tasks)
	if lq*lk*headDim < 1<<16 {
		workers = 1
	}
	// With a task per core or more, each product runs on its worker alone.
	sgemm := gemm.Sgemm
	if tasks >= runtime.GOMAXPROCS(0) {
		sgemm = gemm.SgemmSerial
	}
	if bf16 {
		sgemm = gemm.SgemmBF16
		if tasks >= runtime.GOMAXPROCS(0) {
			sgemm = gemm.SgemmBF16Serial
		}
	}
	var nextTask atomic.Int64
	var wg sync.WaitGroup
	work := func() {
		defer wg.Done()
		s := newAttnScratch(min(lq, attnQueryBlock), min(lk, attnKeyBlock), headDim)
		defer s.release()
		for {
			t := int(nextTask.Add(1) - 1)
			if t >= tasks {
				return
			}
			qb := t % qBlocks
			bh := t / qBlocks
			b, h := bh/heads, bh%heads
			q0 := qb * attnQueryBlock
			nq := min(attnQueryBlock, lq-q0)
			qs := q[(b*lq+q0)*width+h*headDim:]
			ks := k[b*lk*width+h*headDim:]
			vs := v[b*lk*width+h*headDim:]
			os := out[(b*lq+q0)*width+h*headDim:]
			var bs []float32
			if bias != nil {
				bs = bias[(b*lq+q0)*lk : (b*lq+q0+nq)*lk]
			}
			s.run(sgemm, qs, ks, vs, bs, os, nq, lk, q0, width, headDim, scale, causal, bf16)
		}
	}
	wg.Add(workers)
	for i := 1; i < workers; i++ {
		go work()
	}
	work()
	wg.Wait()
}

type sgemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

type attnScratch struct {
	scores []float32 // [queryBlock, keyBlock]
	acc    []float32 // [queryBlock, headDim]
	rowMax []float32
	rowSum []float32
}

// newAttnScratch sizes the buffers for tiles of at most qb queries × kb keys.
func newAttnScratch(qb, kb, headDim int) *attnScratch {
	return &attnScratch{
		scores: getBuffer(qb * kb),
		acc:    getBuffer(qb * headDim),
		rowMax: make([]float32, qb),
		rowSum: make([]float32, qb),
	}
}

func (s *attnScratch) release() {
	putBuffer(s.scores)
	putBuffer(s.acc)
}

// run processes nq queries (absolute index q0..) against all lk keys.
// q, k, v and out are strided by width; bias, when set, is [nq, lk].
//
// With bf16 set (no bias, not causal) the scores stay unscaled and the
// scale is applied inside the softmax's exp (expScaledSum): Q then packs
// straight into bf16 pairs (gemm's pairs path takes only alpha = 1), and
// the exp is the faster one whose error bf16's rounding of the
// probabilities swamps. rowMax then holds unscaled maxima.
func (s *attnScratch) run(sgemm sgemmFunc, q, k, v, bias, out []float32, nq, lk, q0, width, headDim int, scale float32, causal, bf16 bool) {
	fast := bf16 && bias == nil && !causal
	alpha, corrScale := scale, float32(1) // product's scale, and the one left for the exp
	if fast {
		alpha, corrScale = 1, scale
	}
	acc := s.acc[:nq*headDim]
	clear(acc)
	negInf := float32(math.Inf(-1))
	for i := 0; i < nq; i++ {
		s.rowMax[i] = negInf
		s.rowSum[i] = 0
	}
	keysVisible := lk
	if causal {
		keysVisible = min(lk, q0+nq)
	}
	for k0 := 0; k0 < keysVisible; k0 += attnKeyBlock {
		nk := min(attnKeyBlock, keysVisible-k0)
		sc := s.scores[:nq*nk]
		sgemm(false, true, nq, nk, headDim, alpha, q, width, k[k0*width:], width, 0, sc, nk)
		for i := 0; i < nq; i++ {
			row := sc[i*nk : (i+1)*nk]
			if bias != nil {
				for j, b := range bias[i*lk+k0 : i*lk+k0+nk] {
					row[j] += b
				}
			}
			if causal {
				// Keys after the query's own position are masked out.
				for j := max(0, q0+i+1-k0); j < nk; j++ {
					row[j] = negInf
				}
			}
			m := maxFloat32(row, s.rowMax[i])
			if m == negInf {
				clear(row) // nothing visible yet in this row
				continue
			}
			var sum float32
			if fast {
				sum = expScaledSum(row, scale, m)
			} else {
				sum = expShiftSum(row, m)
			}
			if old := s.rowMax[i]; old != m {
				corr := expf(corrScale * (old - m)) // 0 on the first block (old = -Inf)
				s.rowSum[i] *= corr
				a := acc[i*headDim : (i+1)*headDim]
				for d := range a {
					a[d] *= corr
				}
			}
			s.rowMax[i] = m
			s.rowSum[i] += sum
		}
		sgemm(false, false, nq, headDim, nk, 1, sc, nk, v[k0*width:], width, 1, acc, headDim)
	}
	for i := 0; i < nq; i++ {
		inv := 1 / s.rowSum[i]
		a := acc[i*headDim : (i+1)*headDim]
		o := out[i*width : i*width+headDim]
		for d := range o {
			o[d] = a[d] * inv
		}
	}
}
