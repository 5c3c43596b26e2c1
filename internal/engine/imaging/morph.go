package imaging

import "fmt"

// OpenCV's erode and dilate with a rectangular (all-ones) kernel, as cv2.erode(img, np.ones((k, k)),
// iterations=n) computes them: every output pixel is the minimum (erode) or maximum (dilate) of the input
// over a window, per channel. OpenCV folds n iterations of a full rectangle into one pass with the window
// k+(n-1)(k-1) wide whose anchor is n times the kernel's (k/2 by default), and its default border value
// leaves pixels outside the image out of the window.

// MaxMorphWindow bounds the folded window size.
const MaxMorphWindow = 1 << 16

// Erode is cv2.erode with a kw×kh kernel of ones, its default anchor and the given iterations.
func Erode(pix []uint8, w, h, ch, kw, kh, iterations int) ([]uint8, error) {
	return morphRect(pix, w, h, ch, kw, kh, iterations, false)
}

// Dilate is cv2.dilate with a kw×kh kernel of ones, its default anchor and the given iterations.
func Dilate(pix []uint8, w, h, ch, kw, kh, iterations int) ([]uint8, error) {
	return morphRect(pix, w, h, ch, kw, kh, iterations, true)
}

func morphRect(pix []uint8, w, h, ch, kw, kh, iterations int, dilate bool) ([]uint8, error) {
	if w < 0 || h < 0 || ch < 1 || len(pix) != w*h*ch {
		return nil, fmt.Errorf("imaging: morphology: %d bytes for %dx%d with %d channels", len(pix), w, h, ch)
	}
	if kw < 0 || kh < 0 || iterations < 0 || kw > MaxMorphWindow || kh > MaxMorphWindow || iterations > MaxMorphWindow {
		return nil, fmt.Errorf("imaging: morphology kernel %dx%d × %d iterations out of range", kw, kh, iterations)
	}
	out := append([]uint8(nil), pix...)
	if kw == 0 || kh == 0 {
		// An empty kernel is OpenCV's 3×3 default, grown by the iterations.
		kw, kh = 1+2*iterations, 1+2*iterations
		if iterations == 0 {
			return out, nil
		}
		iterations = 1
	}
	if iterations == 0 || kw*kh == 1 {
		return out, nil
	}
	ax, ay := kw/2*iterations, kh/2*iterations
	kw, kh = kw+(iterations-1)*(kw-1), kh+(iterations-1)*(kh-1)
	if kw > MaxMorphWindow || kh > MaxMorphWindow {
		return nil, fmt.Errorf("imaging: morphology window %dx%d too large", kw, kh)
	}
	tmp := make([]uint8, len(pix))
	n := max(w, h)
	line, res, queue := make([]uint8, n), make([]uint8, n), make([]int, n)
	for c := 0; c < ch; c++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				line[x] = pix[(y*w+x)*ch+c]
			}
			slideExtreme(res[:w], line[:w], ax, kw, dilate, queue)
			for x := 0; x < w; x++ {
				tmp[(y*w+x)*ch+c] = res[x]
			}
		}
		for x := 0; x < w; x++ {
			for y := 0; y < h; y++ {
				line[y] = tmp[(y*w+x)*ch+c]
			}
			slideExtreme(res[:h], line[:h], ay, kh, dilate, queue)
			for y := 0; y < h; y++ {
				out[(y*w+x)*ch+c] = res[y]
			}
		}
	}
	return out, nil
}

// slideExtreme sets out[i] to the minimum (or maximum) of in over i-anchor .. i-anchor+size-1 clipped to the
// line, in linear time whatever the window size: a queue keeps the indices of the candidates, best first.
func slideExtreme(out, in []uint8, anchor, size int, max bool, queue []int) {
	n := len(in)
	better := func(a, b uint8) bool { // a replaces b as the window's extreme
		if max {
			return a >= b
		}
		return a <= b
	}
	head, tail, next := 0, 0, 0
	for i := 0; i < n; i++ {
		hi := i - anchor + size - 1
		for ; next <= hi && next < n; next++ {
			for tail > head && better(in[next], in[queue[tail-1]]) {
				tail--
			}
			queue[tail] = next
			tail++
		}
		for queue[head] < i-anchor {
			head++
		}
		out[i] = in[queue[head]]
	}
}
