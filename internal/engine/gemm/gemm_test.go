package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// problem is one Sgemm call with its inputs; newProblem fills it randomly.
type problem struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
}

func newProblem(rng *rand.Rand, transA, transB bool, m, n, k, pad int, alpha, beta float32) *problem {
	p := &problem{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	aRows, aCols := m, k
	if transA {
		aRows, aCols = k, m
	}
	bRows, bCols := k, n
	if transB {
		bRows, bCols = n, k
	}
	p.lda, p.ldb, p.ldc = aCols+pad, bCols+2*pad, n+3*pad
	p.a = randomMatrix(rng, aRows, p.lda)
	p.b = randomMatrix(rng, bRows, p.ldb)
	p.c = randomMatrix(rng, m, p.ldc)
	if beta == 0 {
		for i := range p.c {
			p.c[i] = float32(math.NaN())
		}
	}
	return p
}

func randomMatrix(rng *rand.Rand, rows, ld int) []float32 {
	s := make([]float32, rows*ld)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

func (p *problem) String() string {
	return fmt.Sprintf("transA=%v transB=%v m=%d n=%d k=%d alpha=%g beta=%g lda=%d ldb=%d ldc=%d",
		p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.beta, p.lda, p.ldb, p.ldc)
}

func (p *problem) elemA(i, l int) float64 {
	if p.transA {
		return float64(p.a[l*p.lda+i])
	}
	return float64(p.a[i*p.lda+l])
}

func (p *problem) elemB(l, j int) float64 {
	if p.transB {
		return float64(p.b[j*p.ldb+l])
	}
	return float64(p.b[l*p.ldb+j])
}

// reference computes the expected C in float64, leaving p.c untouched.
func (p *problem) reference() []float64 {
	want := make([]float64, len(p.c))
	for i := range p.c {
		want[i] = float64(p.c[i])
	}
	for i := range p.m {
		for j := range p.n {
			var sum float64
			for l := range p.k {
				sum += p.elemA(i, l) * p.elemB(l, j)
			}
			v := float64(p.alpha) * sum
			if p.beta != 0 {
				v += float64(p.beta) * float64(p.c[i*p.ldc+j])
			}
			want[i*p.ldc+j] = v
		}
	}
	return want
}

// check compares got with want: the m×n window within tolerance, and the
// stride padding of C untouched.
func (p *problem) check(t *testing.T, label string, got []float32, want []float64) {
	t.Helper()
	// Inputs are in [-1, 1]; the bound scales with the length of each dot product.
	tol := 1e-6*(float64(p.k)*math.Abs(float64(p.alpha))+math.Abs(float64(p.beta))) + 1e-7
	bad := 0
	for i := 0; i < len(got); i++ {
		row, col := i/p.ldc, i%p.ldc
		inside := row < p.m && col < p.n
		g, w := float64(got[i]), want[i]
		ok := g == w || (inside && math.Abs(g-w) <= tol)
		if !inside && math.IsNaN(w) {
			ok = math.IsNaN(g)
		}
		if !ok {
			if bad < 5 {
				t.Errorf("%s %v: C[%d,%d] = %g, want %g (tol %g, inside %v)", label, p, row, col, g, w, tol, inside)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%s %v: %d wrong elements", label, p, bad)
	}
}

func (p *problem) run(kern *microKernel[float32]) []float32 {
	got := append([]float32(nil), p.c...)
	sgemmWith(kern, p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, got, p.ldc)
	return got
}

var edgeDims = []int{1, 2, 3, 7, 13, 31, 33, 64, 100, 257}

var scalings = []struct{ alpha, beta float32 }{
	{1, 0}, {1, 1}, {-1.5, 0.25}, {0.5, 0}, {2, -1}, {0, 0.5}, {1, -0.75},
}

func TestSgemmAllBackendsEdges(t *testing.T) {
	for _, kern := range kernels() {
		t.Run(kern.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(1, uint64(kern.mr)))
			step := 0
			for trans := range 4 {
				transA, transB := trans&1 != 0, trans&2 != 0
				for mi, m := range edgeDims {
					for ni, n := range edgeDims {
						if testing.Short() && (mi+ni)%3 != 0 {
							continue
						}
						k := edgeDims[(mi+2*ni+trans)%len(edgeDims)]
						s := scalings[step%len(scalings)]
						p := newProblem(rng, transA, transB, m, n, k, step%3, s.alpha, s.beta)
						step++
						p.check(t, kern.name, p.run(kern), p.reference())
					}
				}
			}
		})
	}
}

// TestSgemmAllBackendsBlocking uses shapes that cross the kc/mc blocking,
// the column split and the packed-B chunking.
func TestSgemmAllBackendsBlocking(t *testing.T) {
	shapes := []struct{ m, n, k int }{
		{300, 70, 600},  // several kc blocks and row blocks
		{37, 530, 260},  // few rows: columns split across workers
		{1, 1000, 513},  // vector times matrix
		{513, 1, 129},   // matrix times vector
		{5, 1100, 4000}, // packed B larger than one scratch chunk
		{200, 129, 1},   // rank-1 update
		{97, 96, 1030},  // k just past a multiple of kc = 256
		{50, 64, 769},   // k just past a multiple of kc = 384
		{1025, 33, 47},  // many row blocks
		{64, 64, 64},    // exact tiles
		{120, 128, 384}, // exact avx512 tiles and kc
		{96, 96, 96},    // exact avx2 tiles
	}
	for _, kern := range kernels() {
		t.Run(kern.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(2, uint64(kern.nr)))
			for i, sh := range shapes {
				s := scalings[i%len(scalings)]
				p := newProblem(rng, i%2 == 1, i%3 != 0, sh.m, sh.n, sh.k, i%2, s.alpha, s.beta)
				p.check(t, kern.name, p.run(kern), p.reference())
			}
		})
	}
}

func TestSgemmZeroSizes(t *testing.T) {
	c := []float32{1, 2, 3, 4}
	Sgemm(false, false, 0, 2, 3, 1, nil, 3, make([]float32, 6), 2, 0, nil, 2)
	Sgemm(false, false, 2, 0, 3, 1, make([]float32, 6), 3, nil, 1, 0, c, 2)
	// k == 0 leaves beta·C.
	Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 2, c, 2)
	want := []float32{2, 4, 6, 8}
	for i := range c {
		if c[i] != want[i] {
			t.Fatalf("k=0: C = %v, want %v", c, want)
		}
	}
	// k == 0 with beta == 0 clears C even when it holds NaNs.
	c[1] = float32(math.NaN())
	Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0, c, 2)
	for i := range c {
		if c[i] != 0 {
			t.Fatalf("k=0 beta=0: C = %v, want zeros", c)
		}
	}
}

func TestSgemmPanicsOnShortOperand(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Sgemm accepted an A that is too short")
		}
	}()
	Sgemm(false, false, 4, 4, 4, 1, make([]float32, 15), 4, make([]float32, 16), 4, 0, make([]float32, 16), 4)
}

func TestSgemmPackedMatchesSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, kern := range kernels() {
		for _, sh := range []struct{ m, n, k int }{{1, 1, 1}, {13, 31, 7}, {100, 257, 33}, {257, 100, 600}, {64, 320, 320}} {
			for _, transB := range []bool{false, true} {
				for _, accumulate := range []bool{false, true} {
					beta := float32(0)
					if accumulate {
						beta = 1
					}
					p := newProblem(rng, false, transB, sh.m, sh.n, sh.k, 1, 1, beta)
					want := p.run(kern)
					// The kernel travels inside pb, so SgemmPacked uses this backend.
					pb := &PackedB{panels: packWhole(kern, transB, sh.k, sh.n, p.b, p.ldb)}
					if pb.K() != sh.k || pb.N() != sh.n {
						t.Fatalf("PackedB shape %d×%d, want %d×%d", pb.K(), pb.N(), sh.k, sh.n)
					}
					got := append([]float32(nil), p.c...)
					SgemmPacked(p.m, p.a, p.lda, pb, got, p.ldc, accumulate)
					for i := range got {
						same := got[i] == want[i] || (math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i])))
						if !same {
							t.Fatalf("%s %v accumulate=%v: packed C[%d] = %g, Sgemm gave %g", kern.name, p, accumulate, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

func TestSgemmConcurrentCallers(t *testing.T) {
	const callers = 8
	var wg sync.WaitGroup
	errs := make(chan string, callers)
	for g := range callers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(4, uint64(g)))
			for it := range 3 {
				p := newProblem(rng, g%2 == 0, it%2 == 0, 60+g*7, 90+it*13, 150+g, g%2, 1, float32(it)*0.5)
				got := append([]float32(nil), p.c...)
				Sgemm(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, got, p.ldc)
				want := p.reference()
				for i := range p.m * p.ldc {
					if i%p.ldc < p.n && math.Abs(float64(got[i])-want[i]) > 1e-6*float64(p.k+1) {
						errs <- fmt.Sprintf("caller %d %v: C[%d] = %g, want %g", g, p, i, got[i], want[i])
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestChooseKernel(t *testing.T) {
	available := kernels()
	if got := chooseKernel(""); got != available[0] {
		t.Errorf("default backend %q, want best available %q", got.name, available[0].name)
	}
	if got := chooseKernel("generic"); got.name != "generic" {
		t.Errorf("forcing generic gave %q", got.name)
	}
	if got := chooseKernel("no-such-backend"); got != available[0] {
		t.Errorf("unknown backend gave %q, want %q", got.name, available[0].name)
	}
	switch Backend() {
	case "avx512", "avx2", "generic":
	default:
		t.Errorf("Backend() = %q", Backend())
	}
}

func TestSgemmSerialMatchesSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	for i, sh := range []struct{ m, n, k int }{{300, 70, 600}, {1024, 40, 1024}, {5, 1100, 4000}, {7, 3, 2}} {
		p := newProblem(rng, i%2 == 1, i%3 != 0, sh.m, sh.n, sh.k, 1, 0.5, 0.25)
		got := append([]float32(nil), p.c...)
		SgemmSerial(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, got, p.ldc)
		p.check(t, "serial", got, p.reference())
	}
}
