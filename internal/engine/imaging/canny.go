package imaging

import (
	"fmt"
	"math"
)

// Canny is OpenCV 4's cv2.Canny(img, low, high) with its defaults (3×3 Sobel, L1 gradient) on a
// multi-channel 8-bit image given as interleaved channels in OpenCV's order (BGR for a colour image, as
// InvokeAI hands it over). It returns the edge map, 255 on edges and 0 elsewhere.
//
// The steps are OpenCV's: Sobel derivatives with replicated borders for every channel; at each pixel the
// channel with the largest |dx|+|dy| (the first on ties, so the channel order matters); non-maximum
// suppression along the gradient direction binned by tan 22.5° in 15-bit fixed point (strict on one side,
// not on the other, as OpenCV compares); and hysteresis: candidates above high start edges, which grow
// through 8-connected candidates above low.
func Canny(pix []uint8, w, h, ch int, low, high float64) ([]uint8, error) {
	if w < 1 || h < 1 || ch < 1 || len(pix) != w*h*ch {
		return nil, fmt.Errorf("canny: %d bytes for %dx%d×%d", len(pix), w, h, ch)
	}
	if low > high {
		low, high = high, low
	}
	lo, hi := int32(math.Floor(low)), int32(math.Floor(high))
	at := func(x, y, c int) int32 {
		x = min(max(x, 0), w-1)
		y = min(max(y, 0), h-1)
		return int32(pix[(y*w+x)*ch+c])
	}
	// Per pixel: the chosen channel's derivatives and magnitude.
	dx := make([]int32, w*h)
	dy := make([]int32, w*h)
	mag := make([]int32, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			best := int32(-1)
			for c := 0; c < ch; c++ {
				gx := at(x+1, y-1, c) + 2*at(x+1, y, c) + at(x+1, y+1, c) - at(x-1, y-1, c) - 2*at(x-1, y, c) - at(x-1, y+1, c)
				gy := at(x-1, y+1, c) + 2*at(x, y+1, c) + at(x+1, y+1, c) - at(x-1, y-1, c) - 2*at(x, y-1, c) - at(x+1, y-1, c)
				m := abs32(gx) + abs32(gy)
				if m > best {
					best, dx[y*w+x], dy[y*w+x] = m, gx, gy
				}
			}
			mag[y*w+x] = best
		}
	}
	magAt := func(x, y int) int32 { // zero outside the image
		if x < 0 || y < 0 || x >= w || y >= h {
			return 0
		}
		return mag[y*w+x]
	}
	const shift = 15
	tg22 := int32(math.Floor(0.4142135623730950488016887242097*(1<<shift) + 0.5)) // OpenCV's (int) cast
	// 0: candidate (weak), 1: not an edge, 2: edge.
	state := make([]uint8, w*h)
	var stack []int
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			m := mag[i]
			state[i] = 1
			if m <= lo {
				continue
			}
			xs, ys := dx[i], dy[i]
			ax, ay := int64(abs32(xs)), int64(abs32(ys))<<shift
			tg22x := ax * int64(tg22)
			local := false
			switch {
			case ay < tg22x: // horizontal gradient: compare left and right
				local = m > magAt(x-1, y) && m >= magAt(x+1, y)
			case ay > tg22x+ax<<(shift+1): // vertical: above and below
				local = m > magAt(x, y-1) && m >= magAt(x, y+1)
			default: // diagonal
				s := 1
				if (xs ^ ys) < 0 {
					s = -1
				}
				local = m > magAt(x-s, y-1) && m > magAt(x+s, y+1)
			}
			if !local {
				continue
			}
			state[i] = 0
			if m > hi {
				state[i] = 2
				stack = append(stack, i)
			}
		}
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		x, y := i%w, i/w
		for ny := y - 1; ny <= y+1; ny++ {
			for nx := x - 1; nx <= x+1; nx++ {
				if nx < 0 || ny < 0 || nx >= w || ny >= h {
					continue
				}
				if j := ny*w + nx; state[j] == 0 {
					state[j] = 2
					stack = append(stack, j)
				}
			}
		}
	}
	out := make([]uint8, w*h)
	for i, s := range state {
		if s == 2 {
			out[i] = 255
		}
	}
	return out, nil
}

func abs32(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}
