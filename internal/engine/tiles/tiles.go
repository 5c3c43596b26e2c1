// Package tiles computes InvokeAI's tile grids (invokeai/backend/tiles): evenly spread tiles of a fixed
// size that overlap by at least a given amount, with the overlaps each tile shares with its neighbours.
// Image upscaling tiles pixels with it, multi-diffusion tiles latents.
package tiles

import (
	"fmt"
	"sort"
)

// Tile is one tile of an image: its rectangle [Top, Bottom) × [Left, Right) and how far it
// overlaps its neighbours.
type Tile struct {
	Top, Bottom, Left, Right                             int
	OverlapTop, OverlapBottom, OverlapLeft, OverlapRight int
}

// MinOverlap splits an h×w image into tiles of at most size×size that overlap by at least minOverlap,
// spread evenly (InvokeAI's calc_tiles_min_overlap and calc_overlap), in processing order: row by
// row, left to right. size 0 means one tile covering the image.
func MinOverlap(h, w, size, minOverlap int) ([]Tile, error) {
	if size <= 0 {
		if h < 1 || w < 1 {
			return nil, fmt.Errorf("tiles: image size %d×%d", w, h)
		}
		return []Tile{{Bottom: h, Right: w}}, nil
	}
	return Grid(h, w, size, size, minOverlap)
}

// Grid is MinOverlap with tiles of tileH×tileW (both positive).
func Grid(h, w, tileH, tileW, minOverlap int) ([]Tile, error) {
	if h < 1 || w < 1 {
		return nil, fmt.Errorf("tiles: image size %d×%d", w, h)
	}
	if tileH < 1 || tileW < 1 || minOverlap < 0 || minOverlap >= tileH || minOverlap >= tileW {
		return nil, fmt.Errorf("tiles: overlap %d must be below the tile size %d×%d", minOverlap, tileW, tileH)
	}
	th, tw := min(tileH, h), min(tileW, w)
	starts := func(n, t int) []int {
		count := 1
		if t < n {
			count = (n - minOverlap + (t - minOverlap) - 1) / (t - minOverlap)
		}
		out := make([]int, count)
		for i := range out {
			if count > 1 {
				out[i] = i * (n - t) / (count - 1)
			}
		}
		return out
	}
	ys, xs := starts(h, th), starts(w, tw)
	tiles := make([]Tile, 0, len(ys)*len(xs))
	for iy, top := range ys {
		for ix, left := range xs {
			t := Tile{Top: top, Bottom: top + th, Left: left, Right: left + tw}
			if iy > 0 {
				t.OverlapTop = max(0, ys[iy-1]+th-top)
				tiles[(iy-1)*len(xs)+ix].OverlapBottom = t.OverlapTop
			}
			if ix > 0 {
				t.OverlapLeft = max(0, xs[ix-1]+tw-left)
				tiles[len(tiles)-1].OverlapRight = t.OverlapLeft
			}
			tiles = append(tiles, t)
		}
	}
	// InvokeAI sorts by left, then (stably) by top: row-major order, which this already is.
	sort.SliceStable(tiles, func(i, j int) bool { return tiles[i].Left < tiles[j].Left })
	sort.SliceStable(tiles, func(i, j int) bool { return tiles[i].Top < tiles[j].Top })
	return tiles, nil
}
