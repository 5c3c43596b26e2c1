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

// TestExpScaledSum: the bf16 softmax's exp agrees with float64 exp to 1e-5
// relative (its bound is 3e-6 plus float32 rounding of the argument), for
// lengths around the vector widths (masked tails), with -Inf and underflowing
// inputs, and the fallback path gives the same values to the same bound.
func TestExpScaledSum(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	scale := float32(1 / math.Sqrt(40))
	for _, avx512 := range []bool{true, false} {
		if avx512 && !haveExpAVX512 {
			continue
		}
		saved := haveExpAVX512
		haveExpAVX512 = avx512
		for _, n := range []int{1, 7, 15, 16, 17, 31, 32, 33, 47, 77, 1000, 1024} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(r.NormFloat64() * 30)
				switch r.IntN(20) {
				case 0:
					x[i] = float32(math.Inf(-1))
				case 1:
					x[i] = -3000
				}
			}
			shift := float32(80)
			got := append([]float32(nil), x...)
			sum := expScaledSum(got, scale, shift)
			var want float64
			for i, v := range x {
				e := math.Exp(float64(scale) * (float64(v) - float64(shift)))
				want += e
				if d := math.Abs(float64(got[i]) - e); d > 1e-5*e+1e-37 {
					t.Fatalf("avx512=%v n=%d: exp at %d (x=%v) is %v, want %v", avx512, n, i, v, got[i], e)
				}
			}
			if math.Abs(float64(sum)-want) > 1e-5*want+1e-37 {
				t.Errorf("avx512=%v n=%d: sum %v, want %v", avx512, n, sum, want)
			}
		}
		haveExpAVX512 = saved
	}
}

// TestMeanVarAVX512: the vector sums agree with the scalar loop to 1e-12
// relative for lengths around the 32-element stride, with an offset mean
// (the two-pass form keeps the variance accurate there).
func TestMeanVarAVX512(t *testing.T) {
	if !haveExpAVX512 {
		t.Skip("no AVX-512 on this CPU: the vector sums cannot run")
	}
	r := rand.New(rand.NewPCG(7, 7))
	for _, n := range []int{1, 31, 32, 33, 63, 64, 100, 320, 4096, 40960 + 7} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64()*3 + 50)
		}
		m, v := meanVar(x)
		wm, wv := meanVarScalar(x)
		if math.Abs(m-wm) > 1e-12*math.Abs(wm) || math.Abs(v-wv) > 1e-12*wv {
			t.Errorf("n=%d: mean %v var %v, scalar %v %v", n, m, v, wm, wv)
		}
		if n > 1 && math.Abs(v-9) > 9*0.5 {
			t.Errorf("n=%d: variance %v of N(50, 3²) samples", n, v)
		}
	}
}
