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
		if kern.packA == nil {
			continue // widening strategies do not pack A as bf16
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
