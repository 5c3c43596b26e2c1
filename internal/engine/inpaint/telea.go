// Package inpaint fills the unknown pixels of an image from the known ones, as InvokeAI's infill and OpenCV
// inpaint nodes do: Telea's fast-marching method (OpenCV's cv2.inpaint with INPAINT_TELEA), PatchMatch
// (InvokeAI's pypatchmatch) and tiling with random tiles of the image itself.
package inpaint

import (
	"container/heap"
	"context"
	"fmt"
	"math"

	"github.com/invokego/invokego/internal/engine/imaging"
)

// MaxSide bounds the images these functions accept.
const MaxSide = 1 << 14

// Telea is cv2.inpaint(img, mask, radius, cv2.INPAINT_TELEA) on an interleaved 8-bit three-channel image: the
// pixels where mask is nonzero are filled, nearest the boundary first (in the order of the fast-marching
// distance from it), each as a weighted average over the known pixels within radius of it, extrapolated along
// their image gradients. It follows OpenCV 4.6 step for step, its rounding and single-precision arithmetic
// included, and also where OpenCV is odd (the image gradients' scale, which pixels stand in for the first
// row and column). The result is a new slice.
func Telea(ctx context.Context, img []uint8, mask []uint8, w, h int, radius float64) ([]uint8, error) {
	if w < 1 || h < 1 || w > MaxSide || h > MaxSide || len(img) != w*h*3 || len(mask) != w*h {
		return nil, fmt.Errorf("inpaint: telea: %d image and %d mask bytes for %dx%d", len(img), len(mask), w, h)
	}
	rng := int(math.RoundToEven(radius))
	rng = min(max(rng, 1), 100)
	out := append([]uint8(nil), img...)
	m := newTeleaState(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if mask[y*w+x] != 0 {
				m.mask[(y+1)*m.cols+x+1] = inside
			}
		}
	}
	// The narrow band: the unknown region grown by a 4-neighbourhood, less the region, less the border.
	band := dilateCross(m.mask, m.rows, m.cols)
	capacity := countNonzero(band)
	if capacity == 0 {
		return out, nil
	}
	for i := range band {
		band[i] = subSat(band[i], m.mask[i])
	}
	setBorder(band, m.rows, m.cols)
	q := newFMMQueue(capacity)
	q.addNonzero(band, m.cols)
	for i := range m.t {
		m.t[i] = 1e6
		if band[i] != 0 {
			m.t[i] = 0
		}
	}
	// Distances outside the region, within radius of it, computed by marching outwards and negated.
	outer, err := imaging.Dilate(m.mask, m.cols, m.rows, 1, 2*rng+1, 2*rng+1, 1)
	if err != nil {
		return nil, err
	}
	for i := range outer {
		outer[i] = subSat(outer[i], m.mask[i])
	}
	oq := newFMMQueue(countNonzero(outer))
	if oq.capacity == 0 {
		return out, nil
	}
	oq.addNonzero(band, m.cols)
	for i := range outer {
		outer[i] = subSat(outer[i], band[i])
	}
	setBorder(outer, m.rows, m.cols)
	if err := m.marchOutwards(ctx, outer, oq); err != nil {
		return nil, err
	}
	if err := m.fill(ctx, out, w, rng, q); err != nil {
		return nil, err
	}
	return out, nil
}

// Pixel flags (OpenCV's KNOWN, BAND, INSIDE and its temporary CHANGE).
const (
	known  = 0
	inBand = 1
	inside = 2
	change = 3
)

// teleaState holds OpenCV's working matrices, one pixel larger than the image on every side.
type teleaState struct {
	rows, cols int
	mask       []uint8   // inside for unknown pixels, known elsewhere: the flags the fill marches with
	t          []float32 // the fast-marching distance
}

func newTeleaState(w, h int) *teleaState {
	rows, cols := h+2, w+2
	return &teleaState{rows: rows, cols: cols, mask: make([]uint8, rows*cols), t: make([]float32, rows*cols)}
}

func countNonzero(a []uint8) int {
	n := 0
	for _, v := range a {
		if v != 0 {
			n++
		}
	}
	return n
}

func subSat(a, b uint8) uint8 {
	if a < b {
		return 0
	}
	return a - b
}

func setBorder(a []uint8, rows, cols int) {
	for j := 0; j < cols; j++ {
		a[j], a[(rows-1)*cols+j] = 0, 0
	}
	for i := 1; i < rows-1; i++ {
		a[i*cols], a[i*cols+cols-1] = 0, 0
	}
}

// dilateCross is cvDilate with a 3×3 cross: the largest of a pixel and its four neighbours inside the matrix.
func dilateCross(src []uint8, rows, cols int) []uint8 {
	out := append([]uint8(nil), src...)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			v := &out[i*cols+j]
			for _, d := range neighbours {
				y, x := i+d[0], j+d[1]
				if y >= 0 && y < rows && x >= 0 && x < cols && src[y*cols+x] > *v {
					*v = src[y*cols+x]
				}
			}
		}
	}
	return out
}

// solve is OpenCV's FastMarching_solve: the distance at a pixel from two of its neighbours (in double
// precision, returned as float32).
func solve(f []uint8, t []float32, cols, i1, j1, i2, j2 int) float32 {
	a11, a22 := float64(t[i1*cols+j1]), float64(t[i2*cols+j2])
	m12 := math.Min(a11, a22)
	var sol float64
	switch {
	case f[i1*cols+j1] != inside && f[i2*cols+j2] != inside:
		if math.Abs(a11-a22) >= 1.0 {
			sol = 1 + m12
		} else {
			sol = (a11 + a22 + math.Sqrt(2-(a11-a22)*(a11-a22))) * 0.5
		}
	case f[i1*cols+j1] != inside:
		sol = 1 + a11
	case f[i2*cols+j2] != inside:
		sol = 1 + a22
	default:
		sol = 1 + m12
	}
	return float32(sol)
}

func min4(a, b, c, d float32) float32 {
	return min(min(a, b), min(c, d))
}

// distanceAt is the minimum of the four two-neighbour solutions at (i, j).
func distanceAt(f []uint8, t []float32, cols, i, j int) float32 {
	return min4(solve(f, t, cols, i-1, j, i, j-1), solve(f, t, cols, i+1, j, i, j-1),
		solve(f, t, cols, i-1, j, i, j+1), solve(f, t, cols, i+1, j, i, j+1))
}

// neighbours are the four neighbours in OpenCV's order: up, left, down, right.
var neighbours = [4][2]int{{-1, 0}, {0, -1}, {1, 0}, {0, 1}}

// marchOutwards is OpenCV's icvCalcFMM over the ring outside the region (f holds inside for the ring's
// unvisited pixels), then the negation of every visited distance.
func (m *teleaState) marchOutwards(ctx context.Context, f []uint8, q *fmmQueue) error {
	for n := 0; q.Len() > 0; n++ {
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		ii, jj := q.pop()
		f[ii*m.cols+jj] = change
		for _, d := range neighbours {
			i, j := ii+d[0], jj+d[1]
			if i <= 0 || j <= 0 || i > m.rows || j > m.cols {
				continue
			}
			if f[i*m.cols+j] == inside {
				dist := distanceAt(f, m.t, m.cols, i, j)
				m.t[i*m.cols+j] = dist
				f[i*m.cols+j] = inBand
				q.push(i, j, dist)
			}
		}
	}
	for i, v := range f {
		if v == change {
			m.t[i] = -m.t[i]
		}
	}
	return nil
}

// fill is OpenCV's icvTeleaInpaintFMM for 8-bit three-channel images. Products are converted to float32
// before they are summed, so that no compiler fuses them (OpenCV rounds each).
func (m *teleaState) fill(ctx context.Context, out []uint8, w, rng int, q *fmmQueue) error {
	f, t, rows, cols := m.mask, m.t, m.rows, m.cols
	px := func(y, x, c int) float32 { return float32(out[(y*w+x)*3+c]) }
	for n := 0; q.Len() > 0; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		ii, jj := q.pop()
		f[ii*cols+jj] = known
		for _, d := range neighbours {
			i, j := ii+d[0], jj+d[1]
			if i <= 0 || j <= 0 || i > rows-1 || j > cols-1 {
				continue
			}
			if f[i*cols+j] != inside {
				continue
			}
			dist := distanceAt(f, t, cols, i, j)
			t[i*cols+j] = dist
			tij := t[i*cols+j]
			var gradTx, gradTy float32
			right, left := f[i*cols+j+1] != inside, f[i*cols+j-1] != inside
			switch {
			case right && left:
				gradTx = (t[i*cols+j+1] - t[i*cols+j-1]) * 0.5
			case right:
				gradTx = t[i*cols+j+1] - tij
			case left:
				gradTx = tij - t[i*cols+j-1]
			}
			down, up := f[(i+1)*cols+j] != inside, f[(i-1)*cols+j] != inside
			switch {
			case down && up:
				gradTy = (t[(i+1)*cols+j] - t[(i-1)*cols+j]) * 0.5
			case down:
				gradTy = t[(i+1)*cols+j] - tij
			case up:
				gradTy = tij - t[(i-1)*cols+j]
			}
			for c := 0; c < 3; c++ {
				var ia, jx, jy float32
				s := float32(1.0e-20)
				for k := i - rng; k <= i+rng; k++ {
					km, kp := k-1, k-1
					if k == 1 {
						km++
					}
					if k == rows-2 {
						kp--
					}
					for l := j - rng; l <= j+rng; l++ {
						lm, lp := l-1, l-1
						if l == 1 {
							lm++
						}
						if l == cols-2 {
							lp--
						}
						if !(k > 0 && l > 0 && k < rows-1 && l < cols-1) {
							continue
						}
						if f[k*cols+l] == inside || (l-j)*(l-j)+(k-i)*(k-i) > rng*rng {
							continue
						}
						ry, rx := float32(i-k), float32(j-l)
						len2 := float32(rx*rx) + float32(ry*ry)
						dst := float32(1. / (float64(len2) * math.Sqrt(float64(len2))))
						lev := float32(1. / float64(1+float32(math.Abs(float64(t[k*cols+l]-tij)))))
						dir := float32(rx*gradTx) + float32(ry*gradTy)
						if math.Abs(float64(dir)) <= 0.01 {
							dir = 0.000001
						}
						wgt := float32(math.Abs(float64(float32(dst*lev) * dir)))
						var gix, giy float32
						r, lf := f[k*cols+l+1] != inside, f[k*cols+l-1] != inside
						switch {
						case r && lf:
							gix = (px(km, lp+1, c) - px(km, lm-1, c)) * 2.0
						case r:
							gix = px(km, lp+1, c) - px(km, lm, c)
						case lf:
							gix = px(km, lp, c) - px(km, lm-1, c)
						}
						dn, upk := f[(k+1)*cols+l] != inside, f[(k-1)*cols+l] != inside
						switch {
						case dn && upk:
							giy = (px(kp+1, lm, c) - px(km-1, lm, c)) * 2.0
						case dn:
							giy = px(kp+1, lm, c) - px(km, lm, c)
						case upk:
							giy = px(kp, lm, c) - px(km-1, lm, c)
						}
						ia += float32(wgt * px(km, lm, c))
						jx -= float32(wgt * float32(gix*rx))
						jy -= float32(wgt * float32(giy*ry))
						s += wgt
					}
				}
				norm := float32(math.Sqrt(float64(float32(jx*jx)+float32(jy*jy)))) + 1.0e-20
				sat := ia/s + (jx+jy)/norm + 0.5
				out[((i-1)*w+j-1)*3+c] = saturateRound(sat)
			}
			f[i*cols+j] = inBand
			q.push(i, j, dist)
		}
	}
	return nil
}

// saturateRound is cv::saturate_cast<uchar>(float): round half to even, then clamp.
func saturateRound(v float32) uint8 {
	r := math.RoundToEven(float64(v))
	if r != r || r < 0 {
		return 0
	}
	if r > 255 {
		return 255
	}
	return uint8(r)
}

// fmmQueue is OpenCV's CvPriorityQueueFloat: the smallest distance first, and among equal distances the one
// pushed first. Like OpenCV's it holds at most capacity entries and drops pushes beyond them.
type fmmQueue struct {
	items    []fmmItem
	seq      int
	capacity int
}

type fmmItem struct {
	t    float32
	seq  int
	i, j int
}

func newFMMQueue(capacity int) *fmmQueue { return &fmmQueue{capacity: capacity} }

func (q *fmmQueue) Len() int { return len(q.items) }
func (q *fmmQueue) Less(a, b int) bool {
	if q.items[a].t != q.items[b].t {
		return q.items[a].t < q.items[b].t
	}
	return q.items[a].seq < q.items[b].seq
}
func (q *fmmQueue) Swap(a, b int) { q.items[a], q.items[b] = q.items[b], q.items[a] }
func (q *fmmQueue) Push(x any)    { q.items = append(q.items, x.(fmmItem)) }
func (q *fmmQueue) Pop() any {
	it := q.items[len(q.items)-1]
	q.items = q.items[:len(q.items)-1]
	return it
}

func (q *fmmQueue) push(i, j int, t float32) {
	if len(q.items) >= q.capacity {
		return
	}
	heap.Push(q, fmmItem{t: t, seq: q.seq, i: i, j: j})
	q.seq++
}

func (q *fmmQueue) pop() (i, j int) {
	it := heap.Pop(q).(fmmItem)
	return it.i, it.j
}

// addNonzero pushes every nonzero pixel of a matrix with distance 0, in raster order.
func (q *fmmQueue) addNonzero(a []uint8, cols int) {
	for p, v := range a {
		if v != 0 {
			q.push(p/cols, p%cols, 0)
		}
	}
}
