package tiles

import "fmt"

// MaxTiles bounds the tiles one grid may hold: each is a record the caller keeps and usually an image
// or a denoising pass, so a grid of single pixels over a large image is refused instead of listed.
const MaxTiles = 1 << 16

// latentScale is the VAE's downscaling, which even splits keep tile sizes a multiple of.
const latentScale = 8

func checkCount(ny, nx int) error {
	if ny < 1 || nx < 1 || ny > MaxTiles || nx > MaxTiles || ny*nx > MaxTiles {
		return fmt.Errorf("tiles: %d×%d tiles (at most %d in all)", nx, ny, MaxTiles)
	}
	return nil
}

// linkOverlaps records, on both neighbours, how far each tile of a row-major grid overlaps the tile
// above it and the tile to its left (InvokeAI's calc_overlap: never negative).
func linkOverlaps(ts []Tile, nx, ny int) []Tile {
	for iy := range ny {
		for ix := range nx {
			cur := &ts[iy*nx+ix]
			if iy > 0 {
				up := &ts[(iy-1)*nx+ix]
				cur.OverlapTop = max(0, up.Bottom-cur.Top)
				up.OverlapBottom = cur.OverlapTop
			}
			if ix > 0 {
				left := &ts[iy*nx+ix-1]
				cur.OverlapLeft = max(0, left.Right-cur.Left)
				left.OverlapRight = cur.OverlapLeft
			}
		}
	}
	return ts
}

// ceilDiv is ⌈a/b⌉ for b > 0 and any a, as Python's math.ceil(a / b) gives it for integers this small.
func ceilDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a > 0) == (b > 0) {
		q++
	}
	return q
}

// WithOverlap is InvokeAI's calc_tiles_with_overlap: tiles of exactly tileH×tileW stepping by the tile
// size less the overlap, the last row and column moved back to end at the image's edge (so they overlap
// more). The image must be at least a tile, and the overlap below the tile size.
func WithOverlap(h, w, tileH, tileW, overlap int) ([]Tile, error) {
	if tileH < 1 || tileW < 1 || h < tileH || w < tileW {
		return nil, fmt.Errorf("tiles: the image (%d×%d) must be at least one tile (%d×%d)", w, h, tileW, tileH)
	}
	if overlap < 0 || overlap >= tileH || overlap >= tileW {
		return nil, fmt.Errorf("tiles: overlap %d must be below the tile size %d×%d", overlap, tileW, tileH)
	}
	stepY, stepX := tileH-overlap, tileW-overlap
	ny, nx := ceilDiv(h-overlap, stepY), ceilDiv(w-overlap, stepX)
	if err := checkCount(ny, nx); err != nil {
		return nil, err
	}
	ts := make([]Tile, 0, ny*nx)
	for iy := range ny {
		for ix := range nx {
			t := Tile{Top: iy * stepY, Bottom: iy*stepY + tileH, Left: ix * stepX, Right: ix*stepX + tileW}
			if t.Bottom > h {
				t.Bottom, t.Top = h, h-tileH
			}
			if t.Right > w {
				t.Right, t.Left = w, w-tileW
			}
			ts = append(ts, t)
		}
	}
	return linkOverlaps(ts, nx, ny), nil
}

// EvenSplit is InvokeAI's calc_tiles_even_split: nx×ny tiles whose size is the image plus the shared
// overlaps divided evenly and rounded down to a multiple of 8, stepping by that size less the overlap,
// the last row and column stretched to the image's edge. The image's sides must be multiples of 8.
func EvenSplit(h, w, nx, ny, overlap int) ([]Tile, error) {
	if w%latentScale != 0 || h%latentScale != 0 {
		return nil, fmt.Errorf("tiles: image size (%d, %d) must be divisible by %d", w, h, latentScale)
	}
	if h < 1 || w < 1 || overlap < 0 {
		return nil, fmt.Errorf("tiles: image size %d×%d, overlap %d", w, h, overlap)
	}
	if err := checkCount(ny, nx); err != nil {
		return nil, err
	}
	size := func(n, count int) (int, error) {
		if count == 1 {
			return n, nil
		}
		if overlap > n-latentScale*(count-1) {
			return 0, fmt.Errorf("tiles: overlap %d is too large for %d tiles over %d pixels", overlap, count, n)
		}
		s := (n + overlap*(count-1)) / count / latentScale * latentScale
		if overlap >= s {
			return 0, fmt.Errorf("tiles: overlap %d is not below the tile size %d", overlap, s)
		}
		return s, nil
	}
	sx, err := size(w, nx)
	if err != nil {
		return nil, err
	}
	sy, err := size(h, ny)
	if err != nil {
		return nil, err
	}
	ts := make([]Tile, 0, ny*nx)
	for iy := range ny {
		top := iy * (sy - overlap)
		bottom := min(top+sy, h)
		if iy == ny-1 {
			bottom = h
		}
		for ix := range nx {
			left := ix * (sx - overlap)
			right := min(left+sx, w)
			if ix == nx-1 {
				right = w
			}
			ts = append(ts, Tile{Top: top, Bottom: bottom, Left: left, Right: right})
		}
	}
	return linkOverlaps(ts, nx, ny), nil
}

// MinOverlapExact is InvokeAI's calc_tiles_min_overlap as its node runs it: Grid, plus the one case in
// which InvokeAI fails instead (a tile clamped to an image side equal to the overlap divides by zero).
func MinOverlapExact(h, w, tileH, tileW, minOverlap int) ([]Tile, error) {
	if minOverlap >= 0 && minOverlap < tileH && minOverlap < tileW && ((h <= tileH && h == minOverlap) || (w <= tileW && w == minOverlap)) {
		return nil, fmt.Errorf("tiles: an image side (%d×%d) equal to the overlap %d leaves no room for a tile", w, h, minOverlap)
	}
	if tileH >= 1 && tileW >= 1 && minOverlap >= 0 && minOverlap < tileH && minOverlap < tileW && h >= 1 && w >= 1 {
		th, tw := min(tileH, h), min(tileW, w)
		ny, nx := 1, 1
		if th < h {
			ny = ceilDiv(h-minOverlap, th-minOverlap)
		}
		if tw < w {
			nx = ceilDiv(w-minOverlap, tw-minOverlap)
		}
		if err := checkCount(ny, nx); err != nil {
			return nil, err
		}
	}
	return Grid(h, w, tileH, tileW, minOverlap)
}
