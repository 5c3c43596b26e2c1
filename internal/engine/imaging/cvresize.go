package imaging

import (
	"fmt"
	"math"
)

// OpenCV's resize with INTER_CUBIC and INTER_NEAREST, the resampling InvokeAI's control-image processors
// call: a source position (dx+0.5)·s − 0.5 for destination dx (s = source/destination size), Keys' cubic with
// a = −0.75 over the four nearest pixels, edge pixels repeated. Unlike Pillow's filters it does not widen
// the kernel when shrinking.

// cubicWeights are OpenCV's interpolateCubic coefficients for a fractional offset t.
func cubicWeights(t float32) [4]float32 {
	const a = float32(-0.75)
	var c [4]float32
	c[0] = ((a*(t+1)-5*a)*(t+1)+8*a)*(t+1) - 4*a
	c[1] = ((a+2)*t-(a+3))*t*t + 1
	c[2] = ((a+2)*(1-t)-(a+3))*(1-t)*(1-t) + 1
	c[3] = 1 - c[0] - c[1] - c[2]
	return c
}

// cubicTaps returns, per destination index, the first source index and the weights.
func cubicTaps(src, dst int) ([]int, [][4]float32) {
	scale := float64(src) / float64(dst)
	first := make([]int, dst)
	weights := make([][4]float32, dst)
	for d := 0; d < dst; d++ {
		f := float32((float64(d)+0.5)*scale - 0.5)
		s := int(math.Floor(float64(f)))
		first[d] = s - 1
		weights[d] = cubicWeights(f - float32(s))
	}
	return first, weights
}

func clampIndex(i, n int) int { return min(max(i, 0), n-1) }

// ResizeCubicCV resizes 8-bit interleaved pixels like cv2.resize(INTER_CUBIC): weights in 11-bit fixed
// point, a horizontal then a vertical pass summed in integers, rounded once at the end.
func ResizeCubicCV(pix []uint8, w, h, ch, nw, nh int) ([]uint8, error) {
	if w < 1 || h < 1 || ch < 1 || nw < 1 || nh < 1 || len(pix) != w*h*ch {
		return nil, fmt.Errorf("resize: %d bytes for %dx%d×%d to %dx%d", len(pix), w, h, ch, nw, nh)
	}
	const bits = 11
	fixed := func(c [4]float32) [4]int64 {
		var out [4]int64
		for i, v := range c {
			out[i] = int64(math.RoundToEven(float64(v * (1 << bits))))
		}
		return out
	}
	xs, xw := cubicTaps(w, nw)
	ys, yw := cubicTaps(h, nh)
	rows := make([]int64, nw*ch*h) // horizontal pass, every source row
	for y := 0; y < h; y++ {
		for d := 0; d < nw; d++ {
			k := fixed(xw[d])
			for c := 0; c < ch; c++ {
				var s int64
				for t := 0; t < 4; t++ {
					s += int64(pix[(y*w+clampIndex(xs[d]+t, w))*ch+c]) * k[t]
				}
				rows[(y*nw+d)*ch+c] = s
			}
		}
	}
	out := make([]uint8, nw*nh*ch)
	for d := 0; d < nh; d++ {
		k := fixed(yw[d])
		for x := 0; x < nw*ch; x++ {
			var s int64
			for t := 0; t < 4; t++ {
				s += rows[clampIndex(ys[d]+t, h)*nw*ch+x] * k[t]
			}
			v := (s + 1<<(2*bits-1)) >> (2 * bits)
			out[d*nw*ch+x] = uint8(min(max(v, 0), 255))
		}
	}
	return out, nil
}

// ResizeCubicFloat is cv2.resize(INTER_CUBIC) on one float64 plane.
func ResizeCubicFloat(src []float64, w, h, nw, nh int) []float64 {
	xs, xw := cubicTaps(w, nw)
	ys, yw := cubicTaps(h, nh)
	rows := make([]float64, nw*h)
	for y := 0; y < h; y++ {
		for d := 0; d < nw; d++ {
			var s float64
			for t := 0; t < 4; t++ {
				s += src[y*w+clampIndex(xs[d]+t, w)] * float64(xw[d][t])
			}
			rows[y*nw+d] = s
		}
	}
	out := make([]float64, nw*nh)
	for d := 0; d < nh; d++ {
		for x := 0; x < nw; x++ {
			var s float64
			for t := 0; t < 4; t++ {
				s += rows[clampIndex(ys[d]+t, h)*nw+x] * float64(yw[d][t])
			}
			out[d*nw+x] = s
		}
	}
	return out
}

// ResizeNearestCV is cv2.resize(INTER_NEAREST): destination x takes source floor(x·w/nw).
func ResizeNearestCV(pix []uint8, w, h, ch, nw, nh int) []uint8 {
	out := make([]uint8, nw*nh*ch)
	fx, fy := float64(w)/float64(nw), float64(h)/float64(nh)
	for y := 0; y < nh; y++ {
		sy := min(int(math.Floor(float64(y)*fy)), h-1)
		for x := 0; x < nw; x++ {
			sx := min(int(math.Floor(float64(x)*fx)), w-1)
			copy(out[(y*nw+x)*ch:][:ch], pix[(sy*w+sx)*ch:])
		}
	}
	return out
}
