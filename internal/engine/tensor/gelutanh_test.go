package tensor

import (
	"math"
	"testing"
)

func TestGELUTanh(t *testing.T) {
	x := make([]float32, 100001)
	for i := range x {
		x[i] = float32(i-50000) / 5000 // [-10, 10]
	}
	want := make([]float64, len(x))
	for i, v := range x {
		f := float64(v)
		want[i] = 0.5 * f * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(f+0.044715*f*f*f)))
	}
	GELUTanh(x)
	for i, v := range x {
		if d := math.Abs(float64(v) - want[i]); d > 2e-6*max(1, math.Abs(want[i])) {
			t.Fatalf("GELUTanh at %d: %v, want %v", i, v, want[i])
		}
	}
}
