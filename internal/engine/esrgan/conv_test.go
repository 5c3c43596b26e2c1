package esrgan

import (
	"math"
	"math/rand/v2"
	"testing"
)

// naiveConv is a direct 3×3, zero-padded convolution for reference.
func naiveConv(x []float32, inC, outC, h, w int, weight, bias []float32) []float32 {
	out := make([]float32, outC*h*w)
	for co := range outC {
		for y := range h {
			for xx := range w {
				s := float64(bias[co])
				for ci := range inC {
					for ky := range 3 {
						for kx := range 3 {
							iy, ix := y+ky-1, xx+kx-1
							if iy < 0 || iy >= h || ix < 0 || ix >= w {
								continue
							}
							s += float64(weight[((co*inC+ci)*3+ky)*3+kx]) * float64(x[(ci*h+iy)*w+ix])
						}
					}
				}
				out[(co*h+y)*w+xx] = float32(s)
			}
		}
	}
	return out
}

func TestConv3MatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ inC, outC, h, w int }{{3, 8, 5, 7}, {40, 32, 17, 23}, {136, 8, 24, 24}} {
		wt := make([]float32, tc.outC*tc.inC*9)
		b := make([]float32, tc.outC)
		x := make([]float32, (tc.inC+5)*tc.h*tc.w) // extra planes must be ignored
		for i := range wt {
			wt[i] = float32(r.NormFloat64())
		}
		for i := range b {
			b[i] = float32(r.NormFloat64())
		}
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		want := naiveConv(x, tc.inC, tc.outC, tc.h, tc.w, wt, b)
		c, err := newConv3(tc.inC, tc.outC, append([]float32(nil), wt...), b, false)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, tc.outC*tc.h*tc.w)
		c.forward(x, tc.h, tc.w, got, epilogue{})
		var maxErr float64
		for i := range got {
			maxErr = max(maxErr, math.Abs(float64(got[i]-want[i])))
		}
		if maxErr > 1e-3 {
			t.Errorf("%+v: max err %g", tc, maxErr)
		}
	}
}
