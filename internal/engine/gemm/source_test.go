package gemm

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// floatRows is a RowSource over a float32 matrix W (n×k, stride ld) that
// checks the DecodeRows contract and counts the weights decoded.
type floatRows struct {
	t       *testing.T
	w       []float32
	k, n    int
	ld      int
	blockK  int
	decoded atomic.Int64
}

func (s *floatRows) Dims() (int, int) { return s.k, s.n }
func (s *floatRows) BlockK() int      { return s.blockK }

func (s *floatRows) DecodeRows(dst []float32, j0, rows, p0, kb int) {
	if p0%s.blockK != 0 || (kb%s.blockK != 0 && p0+kb != s.k) || j0 < 0 || rows < 1 || j0+rows > s.n || p0+kb > s.k {
		s.t.Errorf("DecodeRows(j0=%d rows=%d p0=%d kb=%d) breaks the contract (k=%d n=%d block %d)", j0, rows, p0, kb, s.k, s.n, s.blockK)
		return
	}
	for r := range rows {
		copy(dst[r*kb:r*kb+kb], s.w[(j0+r)*s.ld+p0:])
	}
	s.decoded.Add(int64(rows * kb))
}

// TestSgemmSource runs the on-the-fly path on every kernel (fp32, and the
// native bf16 ones against bf16-rounded operands) across edge shapes,
// storage block sizes that force kc to be rounded up, depths spanning
// several chunks, and accumulation; each weight must be decoded exactly once.
func TestSgemmSource(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	type shape struct{ m, n, k, blockK int }
	shapes := []shape{
		{1, 1, 1, 1}, {3, 7, 32, 32}, {13, 33, 256, 256}, {12, 32, 768, 256},
		{31, 100, 1000 + 24, 8}, {5, 64, 2 * 768, 256}, {40, 65, 3 * 512, 512}, {7, 3, 33, 3},
		{2, 1100, 4096, 256}, // several packed chunks
	}
	type variant struct {
		name  string
		run   func(m int, a []float32, lda int, src RowSource, c []float32, ldc int, acc bool)
		bf16A bool
	}
	var variants []variant
	for _, kern := range kernels() {
		variants = append(variants, variant{name: kern.name, run: func(m int, a []float32, lda int, src RowSource, c []float32, ldc int, acc bool) {
			sourceMultiply(kern, m, operandA{data: a, ld: lda}, src, c, ldc, acc)
		}})
	}
	for _, kern := range archBF16Kernels() {
		variants = append(variants, variant{name: kern.name, bf16A: true, run: func(m int, a []float32, lda int, src RowSource, c []float32, ldc int, acc bool) {
			sourceMultiply(kern, m, operandA{data: a, ld: lda}, src, c, ldc, acc)
		}})
	}
	variants = append(variants, variant{name: "public", bf16A: BF16Backend() == "avx512bf16", run: func(m int, a []float32, lda int, src RowSource, c []float32, ldc int, acc bool) {
		SgemmSource(m, a, lda, src, c, ldc, acc, true)
	}})
	for _, v := range variants {
		for step, sh := range shapes {
			if v.name == "generic" && sh.m*sh.n*sh.k > 1<<20 {
				continue
			}
			accumulate := step%2 == 1
			beta := float32(0)
			if accumulate {
				beta = 1
			}
			p := newProblem(rng, false, true, sh.m, sh.n, sh.k, step%3, 1, beta)
			rounded := *p
			if v.bf16A {
				rounded.a, rounded.b = roundedCopy(p.a), roundedCopy(p.b)
			}
			want := rounded.reference()
			src := &floatRows{t: t, w: p.b, k: sh.k, n: sh.n, ld: p.ldb, blockK: sh.blockK}
			got := append([]float32(nil), p.c...)
			v.run(sh.m, p.a, p.lda, src, got, p.ldc, accumulate)
			p.check(t, fmt.Sprintf("%s block %d", v.name, sh.blockK), got, want)
			if d := src.decoded.Load(); d != int64(sh.n*sh.k) {
				t.Errorf("%s %v: decoded %d weights, want each of %d once", v.name, p, d, sh.n*sh.k)
			}
		}
	}
}

func TestSgemmSourceDegenerate(t *testing.T) {
	src := &floatRows{t: t, w: []float32{1, 2, 3, 4, 5, 6}, k: 3, n: 2, ld: 3, blockK: 1}
	c := []float32{7, 7}
	SgemmSource(0, nil, 3, src, nil, 2, false, false) // m = 0: nothing to do
	empty := &floatRows{t: t, k: 0, n: 2, ld: 0, blockK: 1}
	SgemmSource(1, nil, 1, empty, c, 2, false, false)
	if c[0] != 0 || c[1] != 0 {
		t.Fatalf("k = 0 without accumulate: C = %v, want zeros", c)
	}
	c = []float32{7, 7}
	SgemmSource(1, nil, 1, empty, c, 2, true, false)
	if c[0] != 7 {
		t.Fatalf("k = 0 with accumulate changed C: %v", c)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("short A did not panic")
		}
	}()
	SgemmSource(2, make([]float32, 4), 3, src, make([]float32, 4), 2, false, false)
}
