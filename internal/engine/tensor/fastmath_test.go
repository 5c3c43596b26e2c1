package tensor

import (
	"math"
	"testing"
)

func TestExpfAccuracy(t *testing.T) {
	var worst float64
	for x := float32(-87); x < 88; x += 0.000731 {
		want := math.Exp(float64(x))
		got := float64(expf(x))
		worst = max(worst, math.Abs(got-want)/want)
	}
	t.Logf("expf max relative error %.3g", worst)
	if worst > 3e-7 {
		t.Errorf("expf max relative error %.3g", worst)
	}
	if expf(float32(math.Inf(-1))) != 0 || expf(-200) != 0 || expf(0) != 1 {
		t.Error("expf special values")
	}
	if !math.IsInf(float64(expf(100)), 1) {
		t.Error("expf overflow")
	}
}

func TestErffAccuracy(t *testing.T) {
	var worst float64
	for x := float32(-6); x < 6; x += 0.0001237 {
		worst = max(worst, math.Abs(float64(erff(x))-math.Erf(float64(x))))
	}
	t.Logf("erff max abs error %.3g", worst)
	if worst > 5e-7 {
		t.Errorf("erff max abs error %.3g", worst)
	}
}

func BenchmarkExpf(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = -float32(i) / 200
	}
	var s float32
	for i := 0; i < b.N; i++ {
		for _, v := range x {
			s += expf(v)
		}
	}
	_ = s
	b.SetBytes(4 * 4096)
}

func BenchmarkMathExp(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = -float32(i) / 200
	}
	var s float32
	for i := 0; i < b.N; i++ {
		for _, v := range x {
			s += float32(math.Exp(float64(v)))
		}
	}
	_ = s
	b.SetBytes(4 * 4096)
}

func TestExpShiftSum(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 31, 64, 1000} {
		x := make([]float32, n)
		for i := range x {
			x[i] = -float32(i)*0.37 + 2
		}
		if n > 3 {
			x[3] = float32(math.Inf(-1))
			x[2] = -1000
		}
		want := make([]float32, n)
		var wantSum float64
		for i, v := range x {
			want[i] = float32(math.Exp(float64(v - 2.5)))
			wantSum += float64(want[i])
		}
		sum := expShiftSum(x, 2.5)
		for i := range x {
			// Results below float32's normal range may flush to zero.
			if d := math.Abs(float64(x[i]) - float64(want[i])); d > 3e-7*float64(want[i]) && want[i] > 1.2e-38 || (want[i] == 0 && x[i] != 0) {
				t.Fatalf("n=%d: exp[%d] = %v, want %v", n, i, x[i], want[i])
			}
		}
		if math.Abs(float64(sum)-wantSum) > 1e-6*max(wantSum, 1) {
			t.Errorf("n=%d: sum %v, want %v", n, sum, wantSum)
		}
	}
}

func TestMaxFloat32(t *testing.T) {
	for _, n := range []int{0, 3, 8, 15, 16, 17, 100} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32((i*37)%101) - 50
		}
		want := float32(-1000)
		for _, v := range x {
			want = max(want, v)
		}
		if got := maxFloat32(x, -1000); got != want {
			t.Errorf("n=%d: max %v, want %v", n, got, want)
		}
		if got := maxFloat32(x, 1000); got != 1000 {
			t.Errorf("n=%d: running max lost", n)
		}
	}
}

func TestVectorActivations(t *testing.T) {
	for _, n := range []int{0, 5, 8, 37, 256} {
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(i%41)*0.7 - 14
		}
		src = append(src, 200, -200)[:n] // extremes when they fit
		if n > 10 {
			src[0], src[1] = 95, -95
		}
		dst := make([]float32, n)
		affineSiLU(dst, src, 1.5, -0.25)
		for i, v := range src {
			y := float64(v)*1.5 - 0.25
			want := y / (1 + math.Exp(-y))
			if math.Abs(float64(dst[i])-want) > 1e-6*max(1, math.Abs(want)) {
				t.Fatalf("silu(%v) = %v, want %v", y, dst[i], want)
			}
		}
		val := make([]float32, n)
		for i := range val {
			val[i] = float32(i%7) - 3
		}
		geglu(dst, val, src)
		for i, g := range src {
			gf := float64(g)
			want := float64(val[i]) * 0.5 * gf * (1 + math.Erf(gf/math.Sqrt2))
			if math.Abs(float64(dst[i])-want) > 2e-6*max(1, math.Abs(want)) {
				t.Fatalf("geglu(%v, %v) = %v, want %v", val[i], g, dst[i], want)
			}
		}
	}
}
