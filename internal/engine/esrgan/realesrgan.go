package esrgan

import (
	"context"
	"fmt"
	"image"
	"math"
)

// RealESRGAN's own tiling (InvokeAI's legacy "esrgan" node, after Real-ESRGAN's RealESRGANer): the image is
// reflect-padded by realESRGANPrePad pixels right and bottom (and to an even size for ×2 models), cut into
// a grid of non-overlapping tile×tile tiles, each run with realESRGANTilePad pixels of context on every
// side that is then cropped away, and the result is rounded (not truncated) to 8 bits.
const (
	realESRGANPrePad  = 10
	realESRGANTilePad = 10
)

// UpscaleRealESRGAN upscales img as InvokeAI's esrgan node does (tile 0: the whole image at once).
// Progress is called after each tile.
func (m *Model) UpscaleRealESRGAN(ctx context.Context, img image.Image, tile int, progress func(done, total int)) (*image.NRGBA, error) {
	s := m.Spec
	if s.Arch != ArchESRGAN {
		return nil, fmt.Errorf("esrgan: RealESRGAN tiling runs RRDBNet models, not %s", s.Arch)
	}
	if tile < 0 {
		return nil, fmt.Errorf("esrgan: tile size %d", tile)
	}
	src := toNRGBA(img)
	h, w := src.Rect.Dy(), src.Rect.Dx()
	if h <= realESRGANPrePad || w <= realESRGANPrePad {
		return nil, fmt.Errorf("esrgan: a %dx%d image is too small for RealESRGAN's %d-pixel reflection padding", w, h, realESRGANPrePad)
	}
	x := make([]float32, 3*h*w)
	for y := range h {
		row := src.Pix[y*src.Stride:]
		for xx := range w {
			for c := range 3 {
				x[(c*h+y)*w+xx] = float32(row[xx*4+c]) / 255
			}
		}
	}
	ph, pw := h+realESRGANPrePad, w+realESRGANPrePad
	// ×2 models see a pixel-unshuffled input and want an even size, ×1 models a multiple of 4.
	mod := 1
	switch s.Scale {
	case 2:
		mod = 2
	case 1:
		mod = 4
	}
	ph, pw = padTo(ph, 0, mod), padTo(pw, 0, mod)
	x = reflectPad(x, 3, h, w, h+realESRGANPrePad, w+realESRGANPrePad)
	x = reflectPad(x, 3, h+realESRGANPrePad, w+realESRGANPrePad, ph, pw)
	sc := s.Scale
	oh, ow := ph*sc, pw*sc
	var out []float32
	if tile == 0 {
		var err error
		if err = m.checkShuffle(ph, pw); err != nil {
			return nil, err
		}
		if out, err = m.forward(ctx, x, ph, pw); err != nil {
			return nil, err
		}
		if progress != nil {
			progress(1, 1)
		}
	} else {
		out = make([]float32, 3*oh*ow)
		tx, ty := (pw+tile-1)/tile, (ph+tile-1)/tile
		for i := range tx * ty {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			x0, y0 := (i%tx)*tile, (i/tx)*tile
			x1, y1 := min(x0+tile, pw), min(y0+tile, ph)
			px0, py0 := max(x0-realESRGANTilePad, 0), max(y0-realESRGANTilePad, 0)
			px1, py1 := min(x1+realESRGANTilePad, pw), min(y1+realESRGANTilePad, ph)
			th, tw := py1-py0, px1-px0
			if err := m.checkShuffle(th, tw); err != nil {
				return nil, err
			}
			in := make([]float32, 3*th*tw)
			for c := range 3 {
				for yy := range th {
					copy(in[(c*th+yy)*tw:][:tw], x[(c*ph+py0+yy)*pw+px0:][:tw])
				}
			}
			y, err := m.forward(ctx, in, th, tw)
			if err != nil {
				return nil, err
			}
			// Keep the tile's own part, without its context.
			offY, offX := (y0-py0)*sc, (x0-px0)*sc
			rows, cols := (y1-y0)*sc, (x1-x0)*sc
			for c := range 3 {
				for r := range rows {
					copy(out[(c*oh+y0*sc+r)*ow+x0*sc:][:cols], y[(c*th*sc+offY+r)*tw*sc+offX:][:cols])
				}
			}
			if progress != nil {
				progress(i+1, tx*ty)
			}
		}
	}
	res := image.NewNRGBA(image.Rect(0, 0, w*sc, h*sc))
	for y := range h * sc {
		row := res.Pix[y*res.Stride:]
		for xx := range w * sc {
			for c := range 3 {
				v := min(max(out[(c*oh+y)*ow+xx], 0), 1)
				row[xx*4+c] = uint8(math.RoundToEven(float64(v * 255)))
			}
			row[xx*4+3] = 255
		}
	}
	return res, nil
}

// checkShuffle refuses sizes a pixel-unshuffled network cannot take (RealESRGAN's tiles are not padded).
func (m *Model) checkShuffle(h, w int) error {
	if s := m.Spec.Shuffle; s > 1 && (h%s != 0 || w%s != 0) {
		return fmt.Errorf("esrgan: a %dx%d tile is not a multiple of %d, as this ×%d model needs (use an even tile size)", w, h, s, m.Spec.Scale)
	}
	return nil
}

// reflectPad pads [c, h, w] right and bottom to [c, ph, pw] by reflection without repeating the edge
// (torch's "reflect"); the padding must be smaller than the size.
func reflectPad(x []float32, c, h, w, ph, pw int) []float32 {
	if ph == h && pw == w {
		return x
	}
	out := make([]float32, c*ph*pw)
	src := func(i, n int) int {
		if i < n {
			return i
		}
		return 2*(n-1) - i
	}
	for ci := range c {
		for i := range ph {
			srow := x[(ci*h+src(i, h))*w:][:w]
			drow := out[(ci*ph+i)*pw:][:pw]
			for j := range drow {
				drow[j] = srow[src(j, w)]
			}
		}
	}
	return out
}
