package imaging

import (
	"fmt"
	"math"
)

// OpenCV's 8-bit BGR ↔ YUV conversions (cv2.COLOR_BGR2YUV, COLOR_YUV2BGR) in their 14-bit fixed point, and
// the invisible-watermark library's "dwtDct" embedding that InvokeAI's img_watermark node runs on top of
// them.

const yuvShift = 14

// descale is OpenCV's CV_DESCALE: x/2^n rounded half up (an arithmetic shift, so negative values floor).
func descale(x int32) int32 { return (x + 1<<(yuvShift-1)) >> yuvShift }

func sat8(v int32) uint8 { return uint8(min(max(v, 0), 255)) }

// BGRToYUV is cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV) on interleaved 8-bit pixels, in place.
func BGRToYUV(pix []uint8) {
	for i := 0; i+2 < len(pix); i += 3 {
		b, g, r := int32(pix[i]), int32(pix[i+1]), int32(pix[i+2])
		y := descale(b*1868 + g*9617 + r*4899)
		v := descale((r-y)*14369 + 128<<yuvShift)
		u := descale((b-y)*8061 + 128<<yuvShift)
		pix[i], pix[i+1], pix[i+2] = sat8(y), sat8(u), sat8(v)
	}
}

// YUVToBGR is cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR) on interleaved 8-bit pixels, in place.
func YUVToBGR(pix []uint8) {
	for i := 0; i+2 < len(pix); i += 3 {
		y, u, v := int32(pix[i]), int32(pix[i+1])-128, int32(pix[i+2])-128
		b := y + descale(u*33292)
		g := y + descale(u*-6472+v*-9519)
		r := y + descale(v*18678)
		pix[i], pix[i+1], pix[i+2] = sat8(b), sat8(g), sat8(r)
	}
}

// MinWatermarkPixels is the smallest image (in pixels) invisible-watermark's encoder accepts.
const MinWatermarkPixels = 256 * 256

// haar is PyWavelets' Haar filter coefficient, 1/√2 as a double.
const haar = 0.7071067811865476

// EmbedWatermarkDwtDct is invisible-watermark's WatermarkEncoder.encode(bgr, "dwtDct") as InvokeAI vendors
// it, on interleaved 8-bit BGR pixels (changed in place): the image in OpenCV's YUV; the U channel's top-left
// region of whole 4×4 blocks through PyWavelets' 2-D Haar transform; in every 4×4 block of its approximation
// coefficients, the coefficient of largest magnitude after the first is moved to ⌊|v|/36⌋·36 + 9 or + 27
// for a 0 or 1 bit of the message (repeated), keeping its sign; the inverse transform, which the library
// runs with the horizontal and vertical detail bands swapped, written back with NumPy's unsafe cast; then
// back to BGR. The Y channel has scale 0 and is left alone, and the V channel is never visited.
func EmbedWatermarkDwtDct(bgr []uint8, w, h int, bits []uint8) error {
	if len(bgr) != w*h*3 {
		return fmt.Errorf("imaging: watermark: %d bytes for %dx%d", len(bgr), w, h)
	}
	if w*h < MinWatermarkPixels {
		return fmt.Errorf("image too small, should be larger than 256x256")
	}
	if len(bits) == 0 {
		return fmt.Errorf("imaging: watermark: an empty message")
	}
	BGRToYUV(bgr)
	rw, rh := w/4*4, h/4*4
	hw, hh := rw/2, rh/2
	// dwt2 along the rows' axis (vertical) first, then along the columns; each output is
	// (0 + f[0]·x[2k+1]) + f[1]·x[2k], PyWavelets' order.
	lo := func(a, b float64) float64 { return float64(haar*b) + float64(haar*a) }  // x[2k], x[2k+1]
	hi := func(a, b float64) float64 { return float64(-haar*b) + float64(haar*a) } // dec_hi = [-h, h]
	vL := make([]float64, hh*rw)                                                   // vertical low band
	vH := make([]float64, hh*rw)
	for y := 0; y < hh; y++ {
		for x := 0; x < rw; x++ {
			a, b := float64(bgr[((2*y)*w+x)*3+1]), float64(bgr[((2*y+1)*w+x)*3+1])
			vL[y*rw+x], vH[y*rw+x] = lo(a, b), hi(a, b)
		}
	}
	n := hh * hw
	cA, cH, cV, cD := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for y := 0; y < hh; y++ {
		for x := 0; x < hw; x++ {
			i := y*hw + x
			cA[i] = lo(vL[y*rw+2*x], vL[y*rw+2*x+1]) // 'aa'
			cV[i] = hi(vL[y*rw+2*x], vL[y*rw+2*x+1]) // 'ad'
			cH[i] = lo(vH[y*rw+2*x], vH[y*rw+2*x+1]) // 'da'
			cD[i] = hi(vH[y*rw+2*x], vH[y*rw+2*x+1]) // 'dd'
		}
	}
	const scale = 36.0
	num := 0
	for by := 0; by < hh/4; by++ {
		for bx := 0; bx < hw/4; bx++ {
			bit := float64(bits[num%len(bits)])
			num++
			// The first coefficient of largest magnitude, the block's first left out.
			best, bi := -1.0, 0
			for k := 1; k < 16; k++ {
				v := math.Abs(cA[(by*4+k/4)*hw+bx*4+k%4])
				if v > best {
					best, bi = v, k
				}
			}
			p := (by*4+bi/4)*hw + bx*4 + bi%4
			v := cA[p]
			if v >= 0 {
				cA[p] = (floorDivPy(v, scale) + 0.25 + 0.5*bit) * scale
			} else {
				cA[p] = -1.0 * (floorDivPy(math.Abs(v), scale) + 0.25 + 0.5*bit) * scale
			}
		}
	}
	// idwt2((cA, (cV, cH, cD))): the library passes its vertical band as the horizontal one and back.
	cH, cV = cV, cH
	// Inverse along the columns first: for each pair of bands (a: key+'a', d: key+'d'),
	// x[2k] = (0 + r_lo[0]·a) + r_hi[0]·d and x[2k+1] = (0 + r_lo[1]·a) + r_hi[1]·d, r_hi = [h, -h].
	even := func(a, d float64) float64 { return float64(haar*a) + float64(haar*d) }
	odd := func(a, d float64) float64 { return float64(haar*a) + float64(-haar*d) }
	rL := make([]float64, hh*rw) // key 'a': from aa and ad
	rH := make([]float64, hh*rw) // key 'd': from da and dd
	for y := 0; y < hh; y++ {
		for x := 0; x < hw; x++ {
			i := y*hw + x
			rL[y*rw+2*x], rL[y*rw+2*x+1] = even(cA[i], cV[i]), odd(cA[i], cV[i])
			rH[y*rw+2*x], rH[y*rw+2*x+1] = even(cH[i], cD[i]), odd(cH[i], cD[i])
		}
	}
	for y := 0; y < hh; y++ {
		for x := 0; x < rw; x++ {
			a, d := rL[y*rw+x], rH[y*rw+x]
			bgr[((2*y)*w+x)*3+1] = castF64U8(even(a, d))
			bgr[((2*y+1)*w+x)*3+1] = castF64U8(odd(a, d))
		}
	}
	YUVToBGR(bgr)
	return nil
}

// floorDivPy is NumPy's floor division of doubles (npy_divmod): fmod, the quotient of the difference, and
// its floor, rounded up when the floor is more than half below.
func floorDivPy(a, b float64) float64 {
	mod := math.Mod(a, b)
	div := (a - mod) / b
	if mod != 0 && (b < 0) != (mod < 0) {
		div -= 1
	}
	if div == 0 {
		return math.Copysign(0, a/b)
	}
	f := math.Floor(div)
	if div-f > 0.5 {
		f++
	}
	return f
}

// castF64U8 is NumPy's unsafe float64 → uint8 cast on x86-64: truncation through a 32-bit integer, keeping
// the low byte.
func castF64U8(f float64) uint8 {
	if math.IsNaN(f) || f >= 2147483648 || f < -2147483648 {
		return 0
	}
	return uint8(int32(f))
}
