package imaging

import (
	"fmt"
	"math"
)

// OpenCV 4.6's operations behind InvokeAI's heuristic_resize, on 8-bit pixels: COLOR_BGR2GRAY, resize with
// INTER_AREA, the morphological gradient, Otsu's threshold and ximgproc's Zhang-Suen thinning.

// GrayCV is cv2.cvtColor(pix, cv2.COLOR_BGR2GRAY): the first byte of each pixel weighs as blue, the last as
// red, in 15-bit fixed point rounded half up (equal to OpenCV 4.6 on all 2^24 colours).
func GrayCV(pix []uint8) []uint8 {
	out := make([]uint8, len(pix)/3)
	for i := range out {
		b, g, r := int32(pix[i*3]), int32(pix[i*3+1]), int32(pix[i*3+2])
		out[i] = uint8((b*3735 + g*19235 + r*9798 + 1<<14) >> 15)
	}
	return out
}

// ResizeAreaCV is cv2.resize(pix, (nw, nh), interpolation=cv2.INTER_AREA) for a picture that shrinks (or
// keeps) both sides: for whole-number factors, each destination pixel is the mean of its block (2×2 blocks of
// 1, 3 or 4 channels as OpenCV's vector code rounds them, (sum+2)>>2; other blocks as sum·(1/area) in single
// precision, rounded half to even); otherwise the overlap-weighted mean of OpenCV's area tables in single
// precision, rounded half to even. When a side grows, OpenCV's linear filter runs with INTER_AREA's
// coefficients instead (resizeAreaLinearCV).
func ResizeAreaCV(pix []uint8, w, h, ch, nw, nh int) ([]uint8, error) {
	if w < 1 || h < 1 || ch < 1 || nw < 1 || nh < 1 || len(pix) != w*h*ch {
		return nil, fmt.Errorf("resize: %d bytes for %dx%d×%d to %dx%d", len(pix), w, h, ch, nw, nh)
	}
	sx, sy := 1/(float64(nw)/float64(w)), 1/(float64(nh)/float64(h))
	if sx < 1 || sy < 1 {
		return resizeAreaLinearCV(pix, w, h, ch, nw, nh, sx, sy), nil
	}
	isx, isy := int(math.RoundToEven(sx)), int(math.RoundToEven(sy))
	out := make([]uint8, nw*nh*ch)
	if math.Abs(sx-float64(isx)) < 2.220446049250313e-16 && math.Abs(sy-float64(isy)) < 2.220446049250313e-16 {
		area := isx * isy
		scale := float32(1) / float32(area)
		fast := isx == 2 && isy == 2 && (ch == 1 || ch == 3 || ch == 4)
		for dy := 0; dy < nh; dy++ {
			for dx := 0; dx < nw; dx++ {
				for c := 0; c < ch; c++ {
					sum := int32(0)
					for ky := 0; ky < isy; ky++ {
						for kx := 0; kx < isx; kx++ {
							sum += int32(pix[((dy*isy+ky)*w+dx*isx+kx)*ch+c])
						}
					}
					v := sat8(int32(math.RoundToEven(float64(float32(sum) * scale))))
					if fast {
						v = uint8((sum + 2) >> 2)
					}
					out[(dy*nw+dx)*ch+c] = v
				}
			}
		}
		return out, nil
	}
	xtab, ytab := areaTab(w, nw, sx), areaTab(h, nh, sy)
	buf := make([]float32, nw*ch)
	sum := make([]float32, nw*ch)
	prev := ytab[0].di
	flush := func(dy int) {
		for i, v := range sum {
			out[dy*nw*ch+i] = sat8(int32(math.RoundToEven(float64(v))))
		}
	}
	for _, yt := range ytab {
		for i := range buf {
			buf[i] = 0
		}
		row := pix[yt.si*w*ch:]
		for _, xt := range xtab {
			for c := 0; c < ch; c++ {
				buf[xt.di*ch+c] += float32(float32(row[xt.si*ch+c]) * xt.alpha)
			}
		}
		if yt.di != prev {
			flush(prev)
			for i := range sum {
				sum[i] = float32(yt.alpha * buf[i])
			}
			prev = yt.di
		} else {
			for i := range sum {
				sum[i] += float32(yt.alpha * buf[i])
			}
		}
	}
	flush(prev)
	return out, nil
}

type areaEntry struct {
	si, di int
	alpha  float32
}

// areaTab is OpenCV's computeResizeAreaTab: the source cells each destination cell overlaps, with the
// overlap as a fraction of the cell (in double precision, stored as float).
func areaTab(ssize, dsize int, scale float64) []areaEntry {
	var tab []areaEntry
	for dx := 0; dx < dsize; dx++ {
		fsx1 := float64(dx) * scale
		fsx2 := fsx1 + scale
		cell := min(scale, float64(ssize)-fsx1)
		sx1, sx2 := int(math.Ceil(fsx1)), int(math.Floor(fsx2))
		sx2 = min(sx2, ssize-1)
		sx1 = min(sx1, sx2)
		if float64(sx1)-fsx1 > 1e-3 {
			tab = append(tab, areaEntry{sx1 - 1, dx, float32((float64(sx1) - fsx1) / cell)})
		}
		for sx := sx1; sx < sx2; sx++ {
			tab = append(tab, areaEntry{sx, dx, float32(1.0 / cell)})
		}
		if fsx2-float64(sx2) > 1e-3 {
			tab = append(tab, areaEntry{sx2, dx, float32(min(min(fsx2-float64(sx2), 1), cell) / cell)})
		}
	}
	return tab
}

// MorphGradient3 is cv2.morphologyEx(gray, cv2.MORPH_GRADIENT, 3×3 ones): the 3×3 dilation minus the 3×3
// erosion, pixels outside the image left out.
func MorphGradient3(gray []uint8, w, h int) ([]uint8, error) {
	d, err := Dilate(gray, w, h, 1, 3, 3, 1)
	if err != nil {
		return nil, err
	}
	e, err := Erode(gray, w, h, 1, 3, 3, 1)
	if err != nil {
		return nil, err
	}
	for i := range d {
		d[i] -= e[i]
	}
	return d, nil
}

// OtsuThreshold is OpenCV's getThreshVal_Otsu_8u: the level that maximises the between-class variance of the
// histogram, in double precision, the first on ties.
func OtsuThreshold(gray []uint8) int {
	var hist [256]int
	for _, v := range gray {
		hist[v]++
	}
	scale := 1.0 / float64(len(gray))
	mu := 0.0
	for i, c := range hist {
		mu += float64(i) * float64(c)
	}
	mu *= scale
	const fltEps = 1.1920928955078125e-07
	mu1, q1, maxSigma, maxVal := 0.0, 0.0, 0.0, 0
	for i, c := range hist {
		p := float64(c) * scale
		mu1 *= q1
		q1 += p
		q2 := 1 - q1
		if min(q1, q2) < fltEps || max(q1, q2) > 1-fltEps {
			continue
		}
		mu1 = (mu1 + float64(i)*p) / q1
		mu2 := (mu - q1*mu1) / q2
		sigma := q1 * q2 * (mu1 - mu2) * (mu1 - mu2)
		if sigma > maxSigma {
			maxSigma, maxVal = sigma, i
		}
	}
	return maxVal
}

// ThinZhangSuen is cv2.ximgproc.thinning(binary) with its default Zhang-Suen method: the two sub-iterations
// that peel boundary pixels off a 0/255 image until nothing changes; the outermost rows and columns are
// never changed.
func ThinZhangSuen(bin []uint8, w, h int) []uint8 {
	img := make([]uint8, len(bin))
	for i, v := range bin {
		img[i] = uint8((int(v) + 127) / 255) // Mat /= 255 rounds
	}
	marker := make([]uint8, len(img))
	at := func(y, x int) int { return int(img[y*w+x]) }
	for {
		changed := false
		for iter := 0; iter < 2; iter++ {
			for i := range marker {
				marker[i] = 0
			}
			for i := 1; i < h-1; i++ {
				for j := 1; j < w-1; j++ {
					p2, p3, p4, p5 := at(i-1, j), at(i-1, j+1), at(i, j+1), at(i+1, j+1)
					p6, p7, p8, p9 := at(i+1, j), at(i+1, j-1), at(i, j-1), at(i-1, j-1)
					a := b2i(p2 == 0 && p3 == 1) + b2i(p3 == 0 && p4 == 1) + b2i(p4 == 0 && p5 == 1) +
						b2i(p5 == 0 && p6 == 1) + b2i(p6 == 0 && p7 == 1) + b2i(p7 == 0 && p8 == 1) +
						b2i(p8 == 0 && p9 == 1) + b2i(p9 == 0 && p2 == 1)
					b := p2 + p3 + p4 + p5 + p6 + p7 + p8 + p9
					m1, m2 := p2*p4*p6, p4*p6*p8
					if iter == 1 {
						m1, m2 = p2*p4*p8, p2*p6*p8
					}
					if a == 1 && b >= 2 && b <= 6 && m1 == 0 && m2 == 0 {
						marker[i*w+j] = 1
					}
				}
			}
			for i, m := range marker {
				if m == 1 && img[i] != 0 {
					img[i] = 0
					changed = true
				}
			}
		}
		if !changed {
			break
		}
	}
	for i, v := range img {
		img[i] = v * 255
	}
	return img
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// resizeAreaLinearCV is cv2.resize's generic two-tap path as INTER_AREA drives it when a side grows: source
// index ⌊d·s⌋ and weight frac((d+1) − (⌊d·s⌋+1)/s) (0 when not positive), weights in 11-bit fixed point
// (rounded half to even), edges clamped; the horizontal pass in integers, the vertical one as OpenCV's vector
// code computes it, ((S0>>4)·b0>>16) + ((S1>>4)·b1>>16) rounded by 2 bits, for every byte (equal to
// OpenCV 4.6 on rows of 9 to 450 bytes, including the ends of rows).
func resizeAreaLinearCV(pix []uint8, w, h, ch, nw, nh int, sx, sy float64) []uint8 {
	const one = 2048
	coef := func(d int, scale, inv float64, n int) (int, [2]int32, bool) {
		s := int(math.Floor(float64(d) * scale))
		f := float32(float64(d+1) - float64(s+1)*inv)
		if f <= 0 {
			f = 0
		} else {
			f -= float32(math.Floor(float64(f)))
		}
		edge := false
		if s < 0 {
			f, s = 0, 0
		}
		if s+1 >= n {
			edge = true
			if s >= n-1 {
				f, s = 0, n-1
			}
		}
		r := func(v float32) int32 { return int32(math.RoundToEven(float64(v * one))) }
		return s, [2]int32{r(1 - f), r(f)}, edge
	}
	xofs := make([]int, nw)
	xa := make([][2]int32, nw)
	xmax := nw
	for d := 0; d < nw; d++ {
		var edge bool
		xofs[d], xa[d], edge = coef(d, sx, float64(nw)/float64(w), w)
		if edge {
			xmax = min(xmax, d)
		}
	}
	width := nw * ch
	rowAt := func(y int) []int32 {
		row := make([]int32, width)
		src := pix[y*w*ch:]
		for d := 0; d < nw; d++ {
			for c := 0; c < ch; c++ {
				s0 := int32(src[xofs[d]*ch+c])
				if d < xmax {
					row[d*ch+c] = s0*xa[d][0] + int32(src[(xofs[d]+1)*ch+c])*xa[d][1]
				} else {
					row[d*ch+c] = s0 * one
				}
			}
		}
		return row
	}
	out := make([]uint8, nh*width)
	for dy := 0; dy < nh; dy++ {
		y0, b, _ := coef(dy, sy, float64(nh)/float64(h), h)
		r0, r1 := rowAt(min(max(y0, 0), h-1)), rowAt(min(max(y0+1, 0), h-1))
		d := out[dy*width:]
		vec := func(x int) {
			v := ((r0[x]>>4)*b[0]>>16 + (r1[x]>>4)*b[1]>>16 + 2) >> 2
			d[x] = sat8(v)
		}
		for x := 0; x < width; x++ {
			vec(x)
		}
	}
	return out
}
