package imaging

import (
	"fmt"
	"math"
)

// DistanceL2Mask5 is cv2.distanceTransform(src, cv2.DIST_L2, 5): for every nonzero pixel, the distance to
// the nearest zero pixel along paths of 5×5 chamfer steps (1 horizontally or vertically, 1.4 diagonally,
// 2.1969 for a knight's move), in OpenCV's 16.16 fixed point, as float32. Zero pixels are 0; without any zero
// pixel every distance is OpenCV's "infinite" start value.
func DistanceL2Mask5(src []uint8, w, h int) ([]float32, error) {
	if w < 0 || h < 0 || len(src) != w*h {
		return nil, fmt.Errorf("imaging: distance transform: %d bytes for %dx%d", len(src), w, h)
	}
	const (
		border = 2
		shift  = 16
		inf    = math.MaxInt32 >> 2
	)
	fix := func(v float32) int32 { return int32(math.RoundToEven(float64(v) * (1 << shift))) }
	hv, diag, long := fix(1), fix(1.4), fix(2.1969)
	stride := w + 2*border
	tmp := make([]int32, (h+2*border)*stride)
	for i := range tmp {
		tmp[i] = inf
	}
	out := make([]float32, w*h)
	const scale = float32(1) / (1 << shift)
	minOf := func(t0 int32, ts ...int32) int32 {
		for _, t := range ts {
			if t0 > t {
				t0 = t
			}
		}
		return t0
	}
	for y := 0; y < h; y++ {
		row := (y+border)*stride + border
		for x := 0; x < w; x++ {
			p := row + x
			if src[y*w+x] == 0 {
				tmp[p] = 0
				continue
			}
			up, up2 := p-stride, p-2*stride
			tmp[p] = minOf(tmp[up2-1]+long, tmp[up2+1]+long, tmp[up-2]+long, tmp[up-1]+diag, tmp[up]+hv,
				tmp[up+1]+diag, tmp[up+2]+long, tmp[p-1]+hv)
		}
	}
	for y := h - 1; y >= 0; y-- {
		row := (y+border)*stride + border
		for x := w - 1; x >= 0; x-- {
			p := row + x
			t0 := tmp[p]
			if t0 > hv {
				dn, dn2 := p+stride, p+2*stride
				t0 = minOf(t0, tmp[dn2+1]+long, tmp[dn2-1]+long, tmp[dn+2]+long, tmp[dn+1]+diag, tmp[dn]+hv,
					tmp[dn-1]+diag, tmp[dn-2]+long, tmp[p+1]+hv)
				tmp[p] = t0
			}
			// OpenCV 4.6 never reports more than its start value (what a pixel with no zero pixel to reach
			// gets).
			out[y*w+x] = float32(min(t0, inf)) * scale
		}
	}
	return out, nil
}
