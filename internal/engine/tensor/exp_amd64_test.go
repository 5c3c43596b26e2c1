package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExpShiftAVX512BitIdentical: the 16-lane softmax exp gives the AVX2
// loop's values and sum bit for bit, for lengths around the vector widths,
// with -Inf and underflowing inputs mixed in.
func TestExpShiftAVX512BitIdentical(t *testing.T) {
	if !haveExpAVX512 {
		t.Skip("no AVX-512 on this CPU: the 16-lane loop cannot run")
	}
	r := rand.New(rand.NewPCG(4, 4))
	for _, n := range []int{8, 15, 16, 17, 24, 31, 32, 40, 1000, 1024, 1031} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 20)
			switch r.IntN(20) {
			case 0:
				x[i] = float32(math.Inf(-1))
			case 1:
				x[i] = -200
			}
		}
		shift := float32(30)
		a := append([]float32(nil), x...)
		b := append([]float32(nil), x...)
		sa := expShiftSum(a, shift)
		haveExpAVX512 = false
		sb := expShiftSum(b, shift)
		haveExpAVX512 = true
		if math.Float32bits(sa) != math.Float32bits(sb) {
			t.Errorf("n=%d: sum %v (AVX-512) vs %v (AVX2)", n, sa, sb)
		}
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("n=%d: exp at %d is %v (AVX-512) vs %v (AVX2)", n, i, a[i], b[i])
			}
		}
	}
}

// TestMaxFloat32AVX512: the 16-lane maximum agrees with a plain loop.
func TestMaxFloat32AVX512(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{1, 8, 15, 16, 17, 33, 48, 1000, 1031} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		x[r.IntN(n)] = 7
		for _, m := range []float32{float32(math.Inf(-1)), 3, 9} {
			want := m
			for _, v := range x {
				want = max(want, v)
			}
			if got := maxFloat32(x, m); got != want {
				t.Errorf("n=%d m=%v: max %v, want %v", n, m, got, want)
			}
		}
	}
}
