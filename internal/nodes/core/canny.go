package core

import (
	"image"
	imgdraw "image/draw"
	"math"

	"github.com/invokego/invokego/internal/nodes"
)

// canny is the classic Canny edge detector (Sobel gradients, non-maximum suppression, hysteresis), as
// OpenCV's cv2.Canny with L1 gradient magnitude, producing a white-on-black edge map.
func canny(ctx nodes.Context, img image.Image, low, high float64) (*image.Gray, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	gray := image.NewGray(image.Rect(0, 0, w, h))
	imgdraw.Draw(gray, gray.Bounds(), img, b.Min, imgdraw.Src)
	px := func(x, y int) float64 {
		x = min(max(x, 0), w-1)
		y = min(max(y, 0), h-1)
		return float64(gray.Pix[y*gray.Stride+x])
	}
	mag := make([]float64, w*h)
	dir := make([]uint8, w*h) // 0: horizontal, 1: 45°, 2: vertical, 3: 135°
	for y := 0; y < h; y++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for x := 0; x < w; x++ {
			gx := -px(x-1, y-1) - 2*px(x-1, y) - px(x-1, y+1) + px(x+1, y-1) + 2*px(x+1, y) + px(x+1, y+1)
			gy := -px(x-1, y-1) - 2*px(x, y-1) - px(x+1, y-1) + px(x-1, y+1) + 2*px(x, y+1) + px(x+1, y+1)
			mag[y*w+x] = math.Abs(gx) + math.Abs(gy)
			angle := math.Atan2(gy, gx) * 180 / math.Pi
			if angle < 0 {
				angle += 180
			}
			switch {
			case angle < 22.5 || angle >= 157.5:
				dir[y*w+x] = 0
			case angle < 67.5:
				dir[y*w+x] = 1
			case angle < 112.5:
				dir[y*w+x] = 2
			default:
				dir[y*w+x] = 3
			}
		}
	}
	at := func(x, y int) float64 {
		if x < 0 || y < 0 || x >= w || y >= h {
			return 0
		}
		return mag[y*w+x]
	}
	const (
		none   = 0
		weak   = 1
		strong = 2
	)
	state := make([]uint8, w*h)
	var stack []int
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m := mag[y*w+x]
			var a, c float64
			switch dir[y*w+x] {
			case 0:
				a, c = at(x-1, y), at(x+1, y)
			case 1:
				a, c = at(x+1, y-1), at(x-1, y+1)
			case 2:
				a, c = at(x, y-1), at(x, y+1)
			default:
				a, c = at(x-1, y-1), at(x+1, y+1)
			}
			if m <= low || m < a || m < c {
				continue
			}
			if m > high {
				state[y*w+x] = strong
				stack = append(stack, y*w+x)
			} else {
				state[y*w+x] = weak
			}
		}
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		x, y := i%w, i/w
		for dy := -1; dy <= 1; dy++ {
			for dx := -1; dx <= 1; dx++ {
				nx, ny := x+dx, y+dy
				if nx < 0 || ny < 0 || nx >= w || ny >= h {
					continue
				}
				if j := ny*w + nx; state[j] == weak {
					state[j] = strong
					stack = append(stack, j)
				}
			}
		}
	}
	out := image.NewGray(image.Rect(0, 0, w, h))
	for i, s := range state {
		if s == strong {
			out.Pix[i] = 255
		}
	}
	return out, nil
}
