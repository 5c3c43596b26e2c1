package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestRoundBF16(t *testing.T) {
	cases := []struct {
		in   uint32
		want uint32
	}{
		{0x3f800000, 0x3f80}, // 1
		{0x80000000, 0x8000}, // -0
		{0x3f808000, 0x3f80}, // tie, even stays
		{0x3f818000, 0x3f82}, // tie, odd rounds up
		{0x3f808001, 0x3f81}, // above the tie
		{0x3f807fff, 0x3f80}, // below the tie
		{0xbf818000, 0xbf82}, // negative tie
		{0x7f800000, 0x7f80}, // +Inf
		{0xff800000, 0xff80}, // -Inf
		{0x7f7fffff, 0x7f80}, // max float rounds to +Inf
		{0x7fc00000, 0x7fc0}, // quiet NaN
		{0x7fffffff, 0x7fff}, // NaN with full payload stays NaN
		{0xff800001, 0xffc0}, // signalling NaN is quietened
		{0x00000001, 0x0000}, // tiny subnormal rounds to zero
	}
	for _, tc := range cases {
		if got := roundBF16(math.Float32frombits(tc.in)); got != tc.want {
			t.Errorf("roundBF16(%#08x) = %#04x, want %#04x", tc.in, got, tc.want)
		}
	}
}

// specialFloats are mixed into packing inputs to exercise rounding corners.
var specialFloats = []uint32{0x3f808000, 0x3f818000, 0x7f7fffff, 0x7fc00000, 0xff800001, 0x7f800000, 0x80000000, 0x00000001, 0x7fffffff}

// TestBF16PackA checks every kernel's A packing (including the assembly
// conversion) against roundBF16, for even and odd depths.
func TestBF16PackA(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, kern := range bf16Kernels() {
		if kern.packA == nil || kern.name == amxKernelName {
			continue // widening strategies do not pack A as bf16; AMX's layout: TestAMXPackA
		}
		for _, kb := range []int{1, 2, 7, 8, 33, 64} {
			for _, trans := range []bool{false, true} {
				for _, rows := range []int{kern.mr, 1} {
					const ld = 80
					src := randomMatrix(rng, 80, ld)
					for i := range src {
						if rng.IntN(5) == 0 {
							src[i] = math.Float32frombits(specialFloats[rng.IntN(len(specialFloats))])
						}
					}
					op := operandA{data: src, ld: ld, trans: trans}
					const i0, p0 = 3, 5
					dst := make([]uint32, kb*kern.mr)
					kern.packA(dst, op, i0, rows, p0, kb, 1)
					at := func(i, p int) float32 {
						if i >= rows || p >= kb {
							return 0
						}
						if trans {
							return src[(p0+p)*ld+i0+i]
						}
						return src[(i0+i)*ld+p0+p]
					}
					for q := range ceilDiv(kb, 2) {
						for i := range kern.mr {
							want := bf16Pair(at(i, 2*q), at(i, 2*q+1))
							if got := dst[q*kern.mr+i]; got != want {
								t.Fatalf("%s kb=%d trans=%v rows=%d: pair (%d,%d) = %#08x, want %#08x", kern.name, kb, trans, rows, q, i, got, want)
							}
						}
					}
				}
			}
		}
	}
}

// TestSgemmPackedBF16 compares each bfloat16 strategy with a float64 product
// of the inputs it rounds (B always, A only for native kernels), so only
// float32 accumulation error is tolerated.
func TestSgemmPackedBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	dims := []int{1, 2, 3, 7, 13, 31, 33, 64, 100, 257}
	type shape struct{ m, n, k int }
	var shapes []shape
	for mi, m := range dims {
		for ni, n := range dims {
			if testing.Short() && (mi+ni)%3 != 0 {
				continue
			}
			k := dims[(mi+2*ni)%len(dims)]
			if len(shapes)%5 == 0 {
				k = 1000 + len(shapes) // several kc blocks, sometimes odd
			}
			shapes = append(shapes, shape{m, n, k})
		}
	}
	// Widened weights larger than one scratch chunk; odd depth.
	shapes = append(shapes, shape{3, 1100, 4000}, shape{5, 40, 3001})
	for _, kern := range bf16Kernels() {
		t.Run(kern.name, func(t *testing.T) {
			for step, sh := range shapes {
				accumulate := step%2 == 1
				beta := float32(0)
				if accumulate {
					beta = 1
				}
				p := newProblem(rng, false, step%3 == 0, sh.m, sh.n, sh.k, step%2, 1, beta)
				rounded := *p
				if kern.widenTo == nil {
					rounded.a = roundedCopy(p.a)
				}
				rounded.b = roundedCopy(p.b)
				want := rounded.reference()
				pb := &PackedBBF16{panels: packWhole(kern, p.transB, sh.k, sh.n, p.b, p.ldb)}
				got := append([]float32(nil), p.c...)
				SgemmPackedBF16(sh.m, p.a, p.lda, pb, got, p.ldc, accumulate)
				p.check(t, kern.name, got, want)
			}
		})
	}
}

// scaledBF16Reference is what a bf16 kernel should give for q with alpha:
// alpha folds into A before A and B round to bfloat16 (the packing step
// scales and converts in one pass), then the float64 reference product.
func scaledBF16Reference(q *problem, alpha float32) []float64 {
	r := *q
	r.a = make([]float32, len(q.a))
	for i, v := range q.a {
		r.a[i] = alpha * v
	}
	r.a, r.b, r.alpha = roundedCopy(r.a), roundedCopy(q.b), 1
	return r.reference()
}

func roundedCopy(s []float32) []float32 {
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = math.Float32frombits(roundBF16(v) << 16)
	}
	return out
}

// TestSgemmPackedBF16Accuracy checks the public path against fp32 within the
// documented bfloat16 error bound.
func TestSgemmPackedBF16Accuracy(t *testing.T) {
	const m, n, k = 50, 70, 640
	rng := rand.New(rand.NewPCG(9, 9))
	a := randomMatrix(rng, m, k)
	w := randomMatrix(rng, n, k)
	want := make([]float32, m*n)
	Sgemm(false, true, m, n, k, 1, a, k, w, k, 0, want, n)
	pb := PackBBF16(true, k, n, w, k)
	if pb.K() != k || pb.N() != n {
		t.Fatalf("PackedBBF16 shape %d×%d, want %d×%d", pb.K(), pb.N(), k, n)
	}
	got := make([]float32, m*n)
	SgemmPackedBF16(m, a, k, pb, got, n, false)
	for i := range m {
		for j := range n {
			var absSum float64
			for l := range k {
				absSum += math.Abs(float64(a[i*k+l]) * float64(w[j*k+l]))
			}
			if d := math.Abs(float64(got[i*n+j] - want[i*n+j])); d > absSum/256 {
				t.Fatalf("C[%d,%d] = %g, fp32 gives %g: off by %g > 2⁻⁸·Σ|ab| = %g", i, j, got[i*n+j], want[i*n+j], d, absSum/256)
			}
		}
	}
	if got := BF16Backend(); got != "avx512bf16" && got != "fp32-"+Backend() {
		t.Errorf("BF16Backend() = %q with fp32 backend %q", got, Backend())
	}
}

// TestSgemmBF16 checks the unpacked bf16 product against float64 sums of
// the bf16-rounded operands, for every transposition, alpha, beta and a
// few shapes (edge tiles, odd k, k over kc); without a native bf16 kernel
// it must be Sgemm exactly.
func TestSgemmBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	round := func(v float32) float64 {
		return float64(math.Float32frombits(roundBF16(v) << 16))
	}
	for _, sh := range [][3]int{{1, 1, 1}, {13, 33, 7}, {40, 70, 40}, {25, 17, 1601}, {100, 40, 300}} {
		m, n, k := sh[0], sh[1], sh[2]
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			for _, ab := range [][2]float32{{1, 0}, {0.37, 1}, {-2, 0.5}} {
				alpha, beta := ab[0], ab[1]
				lda, ldb, ldc := k+3, n+2, n+5
				if tr[0] {
					lda = m + 3
				}
				if tr[1] {
					ldb = k + 2
				}
				a := randomMatrix(rng, max(m, k), lda)
				b := randomMatrix(rng, max(n, k), ldb)
				c := randomMatrix(rng, m, ldc)
				got := append([]float32(nil), c...)
				for _, serial := range []bool{false, true} {
					copy(got, c)
					if serial {
						SgemmBF16Serial(tr[0], tr[1], m, n, k, alpha, a, lda, b, ldb, beta, got, ldc)
					} else {
						SgemmBF16(tr[0], tr[1], m, n, k, alpha, a, lda, b, ldb, beta, got, ldc)
					}
					if !HasNativeBF16() {
						want := append([]float32(nil), c...)
						Sgemm(tr[0], tr[1], m, n, k, alpha, a, lda, b, ldb, beta, want, ldc)
						for i := range want {
							if got[i] != want[i] {
								t.Fatalf("no native bf16: SgemmBF16 differs from Sgemm at %d", i)
							}
						}
						continue
					}
					for i := range m {
						for j := range n {
							s, mag := 0.0, 0.0
							for p := range k {
								av, bv := a[i*lda+p], b[p*ldb+j]
								if tr[0] {
									av = a[p*lda+i]
								}
								if tr[1] {
									bv = b[j*ldb+p]
								}
								// alpha scales A before rounding, as packing does.
								x := round(alpha*av) * round(bv)
								s += x
								mag += math.Abs(x)
							}
							want := s + float64(beta)*float64(c[i*ldc+j])
							tol := 1e-5*(mag+math.Abs(float64(beta*c[i*ldc+j]))) + 1e-6
							if g := float64(got[i*ldc+j]); math.Abs(g-want) > tol {
								t.Fatalf("m=%d n=%d k=%d trans=%v alpha=%v beta=%v serial=%v: C[%d,%d] = %v, want %v (tol %.3g)", m, n, k, tr, alpha, beta, serial, i, j, g, want, tol)
							}
						}
					}
				}
			}
		}
	}
}
