package imaging

import (
	"fmt"
	"math"
)

// ResizeNearest is Pillow's Image.resize with the nearest filter: output pixel x reads input column
// ⌊(x + ½)·w/outW⌋, the position accumulated step by step in double precision as Pillow's scaling transform
// does (rows likewise).
func ResizeNearest(pix []uint8, w, h, ch, outW, outH int) ([]uint8, error) {
	if w < 1 || h < 1 || ch < 1 || outW < 1 || outH < 1 || len(pix) != w*h*ch {
		return nil, fmt.Errorf("resize: %d bytes for %dx%d×%d to %dx%d", len(pix), w, h, ch, outW, outH)
	}
	xs, ys := nearestTaps(w, outW), nearestTaps(h, outH)
	out := make([]uint8, outW*outH*ch)
	for y, yi := range ys {
		row := pix[yi*w*ch:]
		for x, xi := range xs {
			copy(out[(y*outW+x)*ch:(y*outW+x+1)*ch], row[xi*ch:(xi+1)*ch])
		}
	}
	return out, nil
}

func nearestTaps(in, out int) []int {
	step := float64(in) / float64(out)
	pos := step * 0.5
	taps := make([]int, out)
	for i := range taps {
		// Positions stay inside [0, in) for a plain resize; the clamp only guards the last rounding.
		taps[i] = min(int(math.Max(pos, 0)), in-1)
		pos += step
	}
	return taps
}
