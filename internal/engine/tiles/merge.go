package tiles

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// RGB is an 8-bit RGB image, rows of interleaved R, G, B.
type RGB struct {
	Pix  []uint8
	W, H int
}

// NewRGB is a black w×h image.
func NewRGB(w, h int) *RGB { return &RGB{Pix: make([]uint8, w*h*3), W: w, H: h} }

// Piece is a tile with its image, which must be the tile's size.
type Piece struct {
	Tile  Tile
	Image *RGB
}

// mergeRows checks the pieces against their tiles and the destination, orders them left to right and
// top to bottom (a stable sort by left, then by top, as InvokeAI sorts them) and groups them into rows:
// runs of tiles sharing the first one's top and bottom.
func mergeRows(dst *RGB, pieces []Piece) ([][]Piece, error) {
	if len(pieces) == 0 {
		return nil, errors.New("tiles: nothing to merge")
	}
	for i, p := range pieces {
		t := p.Tile
		if p.Image == nil || t.Top < 0 || t.Left < 0 || t.Bottom > dst.H || t.Right > dst.W ||
			p.Image.H != t.Bottom-t.Top || p.Image.W != t.Right-t.Left {
			return nil, fmt.Errorf("tiles: tile %d (%+v) does not match its image or the merged image", i, t)
		}
	}
	sorted := append([]Piece(nil), pieces...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Tile.Left < sorted[j].Tile.Left })
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Tile.Top < sorted[j].Tile.Top })
	var rows [][]Piece
	start := 0
	for i := range sorted {
		if sorted[i].Tile.Top != sorted[start].Tile.Top || sorted[i].Tile.Bottom != sorted[start].Tile.Bottom {
			rows = append(rows, sorted[start:i])
			start = i
		}
	}
	return append(rows, sorted[start:]), nil
}

// linspace01 is NumPy's linspace(0, 1, n): i times the step 1/(n−1), the last value exactly 1.
func linspace01(n int) []float64 {
	out := make([]float64, n)
	if n > 1 {
		step := 1 / float64(n-1)
		for i := range out {
			out[i] = float64(i) * step
		}
		out[n-1] = 1
	}
	return out
}

// mix is src·m + dst·(1 − m) in float64, truncated to 8 bits as NumPy's cast into a uint8 array does. The
// conversions keep the two products rounded apart (no fused multiply-add), as NumPy computes them.
func mix(src, dst uint8, m float64) uint8 {
	return uint8(float64(float64(src)*m) + float64(float64(dst)*(1-m)))
}

// MergeLinear is InvokeAI's merge_tiles_with_linear_blending: the tiles of each row are pasted left to
// right, each one fading in over blend pixels centred in its left overlap (0 before the ramp); then each
// row is pasted top to bottom, fading in the same way over its top overlap (the first tile's). Every
// overlap must be 0 or at least blend.
func MergeLinear(dst *RGB, pieces []Piece, blend int) error {
	if blend < 0 {
		return fmt.Errorf("tiles: blend amount %d", blend)
	}
	rows, err := mergeRows(dst, pieces)
	if err != nil {
		return err
	}
	ramp := linspace01(blend)
	// start is where the ramp begins in an overlap of o pixels, or an error where it does not fit.
	start := func(o, size int) (int, error) {
		if o < blend {
			return 0, fmt.Errorf("tiles: an overlap of %d is below the blend amount %d", o, blend)
		}
		s := o/2 - blend/2
		if s+blend > size {
			return 0, fmt.Errorf("tiles: the blend (%d) does not fit a tile of %d", blend, size)
		}
		return s, nil
	}
	W := dst.W
	for _, row := range rows {
		first := row[0].Tile
		rh := first.Bottom - first.Top
		rowImg := make([]uint8, rh*W*3)
		mask := make([]float64, W)
		for _, p := range row {
			t, img := p.Tile, p.Image
			for x := range img.W {
				mask[x] = 1
			}
			if t.OverlapLeft > 0 {
				s, err := start(t.OverlapLeft, img.W)
				if err != nil {
					return err
				}
				for x := range s {
					mask[x] = 0
				}
				copy(mask[s:s+blend], ramp)
			}
			for y := range rh {
				src := img.Pix[y*img.W*3:][:img.W*3]
				out := rowImg[(y*W+t.Left)*3:][:img.W*3]
				for i := range src {
					out[i] = mix(src[i], out[i], mask[i/3])
				}
			}
		}
		colMask := make([]float64, rh)
		for y := range colMask {
			colMask[y] = 1
		}
		if first.OverlapTop > 0 {
			s, err := start(first.OverlapTop, rh)
			if err != nil {
				return err
			}
			for y := range s {
				colMask[y] = 0
			}
			copy(colMask[s:s+blend], ramp)
		}
		for y := range rh {
			out := dst.Pix[(first.Top+y)*W*3:][:W*3]
			src := rowImg[y*W*3:][:W*3]
			for i := range out {
				out[i] = mix(src[i], out[i], colMask[y])
			}
		}
	}
	return nil
}

// MergeSeam is InvokeAI's merge_tiles_with_seam_blending: each tile's left overlap with the row built so
// far, and each row's top overlap with the image built so far, are joined along a seam of least energy
// in the difference of their luminances (SeamBlend); the rest of the tile or row is copied. Every overlap
// must be 0 or at least blend.
func MergeSeam(dst *RGB, pieces []Piece, blend int) error {
	if blend < 0 {
		return fmt.Errorf("tiles: blend amount %d", blend)
	}
	rows, err := mergeRows(dst, pieces)
	if err != nil {
		return err
	}
	W := dst.W
	for _, row := range rows {
		first := row[0].Tile
		rh := first.Bottom - first.Top
		rowImg := &RGB{Pix: make([]uint8, rh*W*3), W: W, H: rh}
		for _, p := range row {
			t, img := p.Tile, p.Image
			o := min(t.OverlapLeft, img.W)
			if o > 0 {
				if o < blend {
					return fmt.Errorf("tiles: an overlap of %d is below the blend amount %d", o, blend)
				}
				a, b := crop(rowImg, 0, rh, t.Left, t.Left+o), crop(img, 0, rh, 0, o)
				blended, err := SeamBlend(a, b, blend, false)
				if err != nil {
					return err
				}
				paste(rowImg, blended, 0, t.Left)
			}
			paste(rowImg, crop(img, 0, rh, o, img.W), 0, t.Left+o)
		}
		o := min(first.OverlapTop, rh)
		if o > 0 {
			if o < blend {
				return fmt.Errorf("tiles: an overlap of %d is below the blend amount %d", o, blend)
			}
			blended, err := SeamBlend(crop(dst, first.Top, first.Top+o, 0, W), crop(rowImg, 0, o, 0, W), blend, true)
			if err != nil {
				return err
			}
			paste(dst, blended, first.Top, 0)
		}
		paste(dst, crop(rowImg, o, rh, 0, W), first.Top+o, 0)
	}
	return nil
}

func crop(img *RGB, top, bottom, left, right int) *RGB {
	out := NewRGB(right-left, bottom-top)
	for y := range out.H {
		copy(out.Pix[y*out.W*3:][:out.W*3], img.Pix[((top+y)*img.W+left)*3:])
	}
	return out
}

func paste(dst, src *RGB, top, left int) {
	for y := range src.H {
		copy(dst.Pix[((top+y)*dst.W+left)*3:][:src.W*3], src.Pix[y*src.W*3:][:src.W*3])
	}
}

// SeamBlend is InvokeAI's seam_blend of two equally sized overlaps a (what is there) and b (what comes):
// the BT.601 luminance difference b − a, its energy |∂y| + |∂x| (NumPy's gradient), a path of least
// energy from the bottom row up, a mask that is 1 (take a) left of the path, blurred by a blend×blend box
// filter (OpenCV's blur, reflected borders), and a·mask + b·(1 − mask) truncated to 8 bits. xSeam finds a
// horizontal seam instead (the overlap of rows), computed on the difference turned a quarter counter-
// clockwise. Where InvokeAI's search fails (an overlap too narrow for the blur's margins, arrays NumPy
// cannot take a gradient of) this fails too.
func SeamBlend(a, b *RGB, blend int, xSeam bool) (*RGB, error) {
	if a.W != b.W || a.H != b.H {
		return nil, errors.New("tiles: seam blend of differently sized images")
	}
	h, w := a.H, a.W
	// The difference, turned when the seam runs across: d is rows × cols.
	rows, cols := h, w
	if xSeam {
		rows, cols = w, h
	}
	if rows < 2 || cols < 2 {
		return nil, fmt.Errorf("tiles: a %d×%d overlap is too small to find a seam in", w, h)
	}
	// np.dot's sum, in order, each product rounded.
	lum := func(p []uint8, i int) float64 {
		r, g, b := float64(float64(p[i*3])*0.2989), float64(float64(p[i*3+1])*0.5870), float64(float64(p[i*3+2])*0.1140)
		return float64(r+g) + b
	}
	d := make([]float64, rows*cols)
	for y := range h {
		for x := range w {
			i := y*w + x
			v := lum(b.Pix, i) - lum(a.Pix, i)
			if xSeam {
				d[(w-1-x)*cols+y] = v // np.rot90(…, 1)
			} else {
				d[i] = v
			}
		}
	}
	energy := gradientEnergy(d, rows, cols)
	gutter := 0
	if blend > 0 {
		gutter = (blend + 1) / 2
	}
	minX, maxX := gutter, cols-gutter
	// Accumulate from the top: each row adds the least of its own three neighbouring energies (255 past
	// the ends) to the sum above.
	res := append([]float64(nil), energy...)
	for y := 1; y < rows; y++ {
		row, prev, out := energy[y*cols:][:cols], res[(y-1)*cols:][:cols], res[y*cols:][:cols]
		for x := range cols {
			l, r := 255.0, 255.0
			if x+1 < cols {
				l = row[x+1]
			}
			if x > 0 {
				r = row[x-1]
			}
			out[x] = prev[x] + min(row[x], l, r)
		}
	}
	line := make([]int, rows)
	last := res[(rows-1)*cols:][:cols]
	if minX >= maxX-1 {
		return nil, fmt.Errorf("tiles: an overlap of %d is too narrow for a blend of %d", cols, blend)
	}
	// InvokeAI keeps this first position relative to the margin (argmin of the slice, not offset).
	line[rows-1] = argmin(last[minX : maxX-1])
	clip := func(v int) int { return min(max(v, minX), maxX-1) }
	for y := rows - 2; y >= 0; y-- {
		lo, hi := clip(line[y+1]-1), clip(line[y+1]+1)
		line[y] = argmin(energy[y*cols+lo:y*cols+hi+1]) + lo
	}
	mask := make([]float64, h*w)
	for y := range rows {
		for x := range line[y] {
			if xSeam {
				// Back from the turned frame: turned (r, c) is pixel (c, w−1−r).
				mask[x*w+(w-1-y)] = 1
			} else {
				mask[y*w+x] = 1
			}
		}
	}
	if blend > 0 {
		mask = boxBlur(mask, w, h, blend)
	}
	out := NewRGB(w, h)
	for i, m := range mask {
		for c := range 3 {
			out.Pix[i*3+c] = mix(a.Pix[i*3+c], b.Pix[i*3+c], m)
		}
	}
	return out, nil
}

func argmin(v []float64) int {
	best := 0
	for i, x := range v {
		if x < v[best] {
			best = i
		}
	}
	return best
}

// gradientEnergy is |np.gradient(d, axis=0)| + |np.gradient(d, axis=1)|: central differences halved
// inside, one-sided differences at the ends.
func gradientEnergy(d []float64, rows, cols int) []float64 {
	grad := func(at func(int) float64, n, i int) float64 {
		switch i {
		case 0:
			return at(1) - at(0)
		case n - 1:
			return at(n-1) - at(n-2)
		}
		return (at(i+1) - at(i-1)) / 2
	}
	out := make([]float64, rows*cols)
	for y := range rows {
		for x := range cols {
			gy := grad(func(k int) float64 { return d[k*cols+x] }, rows, y)
			gx := grad(func(k int) float64 { return d[y*cols+k] }, cols, x)
			out[y*cols+x] = math.Abs(gy) + math.Abs(gx)
		}
	}
	return out
}

// reflect101 is OpenCV's borderInterpolate for BORDER_REFLECT_101 (gfedcb|abcdefgh|gfedcba).
func reflect101(p, n int) int {
	if n == 1 {
		return 0
	}
	for p < 0 || p >= n {
		if p < 0 {
			p = -p
		} else {
			p = 2*n - 2 - p
		}
	}
	return p
}

// boxBlur is cv2.blur(m, (k, k)) on a float64 plane: the k×k window anchored at k/2, reflected borders,
// the window's sum times 1/k². The sums of a 0/1 mask are whole numbers, so their order does not matter.
func boxBlur(m []float64, w, h, k int) []float64 {
	a := k / 2
	rowSum := make([]float64, w*h)
	for y := range h {
		for x := range w {
			var s float64
			for i := range k {
				s += m[y*w+reflect101(x-a+i, w)]
			}
			rowSum[y*w+x] = s
		}
	}
	scale := 1 / float64(k*k)
	out := make([]float64, w*h)
	for y := range h {
		for x := range w {
			var s float64
			for i := range k {
				s += rowSum[reflect101(y-a+i, h)*w+x]
			}
			out[y*w+x] = s * scale
		}
	}
	return out
}
