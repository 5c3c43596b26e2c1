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

// ResizeNRGBA resizes non-premultiplied 8-bit RGBA pixels as Pillow resizes an "RGBA" image with filter f:
// the colours are premultiplied by alpha (rounded), resized with the alpha, and divided back (truncated, where
// alpha is neither 0 nor 255), so transparent pixels do not bleed colour into their neighbours.
func ResizeNRGBA(pix []uint8, w, h, outW, outH int, f Filter) ([]uint8, error) {
	if len(pix) != w*h*4 {
		return nil, fmt.Errorf("resize: %d bytes for %dx%d RGBA", len(pix), w, h)
	}
	pre := make([]uint8, len(pix))
	for i := 0; i < len(pix); i += 4 {
		a := uint32(pix[i+3])
		for c := range 3 {
			t := uint32(pix[i+c])*a + 128
			pre[i+c] = uint8(((t >> 8) + t) >> 8)
		}
		pre[i+3] = pix[i+3]
	}
	out, err := Resize(pre, w, h, 4, outW, outH, f)
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(out); i += 4 {
		a := uint32(out[i+3])
		if a == 0 || a == 255 {
			continue
		}
		for c := range 3 {
			out[i+c] = uint8(min(255*uint32(out[i+c])/a, 255))
		}
	}
	return out, nil
}
