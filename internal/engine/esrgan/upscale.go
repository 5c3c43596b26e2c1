package esrgan

import (
	"context"
	"fmt"
	"image"
	"image/draw"

	"github.com/invokego/invokego/internal/engine/tiles"
)

// Run applies the model to x [InChannels, h, w] (values in [0, 1]) as spandrel's model descriptor
// does: the input is padded right and bottom to the size requirement (reflect, then replicate
// where reflection runs out), the network runs, the result is clamped to [0, 1] and cropped to
// [OutChannels, h·Scale, w·Scale].
func (m *Model) Run(ctx context.Context, x []float32, h, w int) ([]float32, error) {
	y, err := m.runRaw(ctx, x, h, w)
	if err != nil {
		return nil, err
	}
	for i, v := range y {
		y[i] = min(max(v, 0), 1)
	}
	return y, nil
}

// runRaw is Run without the clamp.
func (m *Model) runRaw(ctx context.Context, x []float32, h, w int) ([]float32, error) {
	c := m.Spec.InChannels
	if h < 1 || w < 1 || len(x) != c*h*w {
		return nil, fmt.Errorf("esrgan: input of %d values for %d×%d×%d", len(x), c, h, w)
	}
	minimum, multiple := m.Spec.sizeRequirement()
	ph, pw := padTo(h, minimum, multiple), padTo(w, minimum, multiple)
	if ph != h || pw != w {
		x = padRightBottom(x, c, h, w, ph, pw)
	}
	y, err := m.forward(ctx, x, ph, pw)
	if err != nil {
		return nil, err
	}
	s := m.Spec.Scale
	if ph == h && pw == w {
		return y, nil
	}
	oc := m.Spec.OutChannels
	out := make([]float32, oc*h*s*w*s)
	for ci := range oc {
		for r := range h * s {
			copy(out[(ci*h*s+r)*w*s:(ci*h*s+r+1)*w*s], y[(ci*ph*s+r)*pw*s:])
		}
	}
	return out, nil
}

func padTo(n, minimum, multiple int) int {
	n = max(n, minimum)
	if n%multiple != 0 {
		n = (n/multiple + 1) * multiple
	}
	return n
}

// padSource maps padded index i of an axis of length n to its source: itself inside, a
// reflection (without repeating the edge) for the first n-1 extra positions, and after those the
// last reflected position again (replicate padding of the reflected result).
func padSource(i, n, padded int) int {
	if i < n {
		return i
	}
	reflect := min(padded-n, n-1)
	if i >= n+reflect {
		i = n + reflect - 1
	}
	return 2*(n-1) - i
}

func padRightBottom(x []float32, c, h, w, ph, pw int) []float32 {
	out := make([]float32, c*ph*pw)
	cols := make([]int, pw)
	for j := range cols {
		cols[j] = padSource(j, w, pw)
	}
	for ci := range c {
		for i := range ph {
			src := x[(ci*h+padSource(i, h, ph))*w:][:w]
			dst := out[(ci*ph+i)*pw:][:pw]
			for j, sj := range cols {
				dst[j] = src[sj]
			}
		}
	}
	return out
}

// Tile is one tile of an image (see package tiles).
type Tile = tiles.Tile

// Tiles is tiles.MinOverlap: InvokeAI's tile grid, in processing order.
func Tiles(h, w, size, minOverlap int) ([]Tile, error) {
	return tiles.MinOverlap(h, w, size, minOverlap)
}

// DefaultMinOverlap is the overlap InvokeAI's image-to-image nodes tile with.
const DefaultMinOverlap = 20

// UpscaleOptions control a tiled upscale.
type UpscaleOptions struct {
	// TileSize is the tile side in input pixels; 0 runs the whole image at once.
	TileSize int
	// MinOverlap is the least overlap between tiles (DefaultMinOverlap when 0 and tiling).
	MinOverlap int
	// Progress, when set, is called after each tile with the tiles done and the total.
	Progress func(done, total int)
}

// Upscale runs the model over an image tile by tile, as InvokeAI's spandrel node does: each
// tile is run alone (Run), truncated to 8 bits ((clamp·255) cast, not rounded) and pasted into
// the output keeping only half of its top and left overlap, so every seam lies in the middle of
// an overlap, far from the tile borders where the network lacked context. Memory is bounded by
// the tile size (plus the 8-bit output); the context is checked between tiles (and inside them).
// Alpha is dropped: the result is opaque RGB.
func (m *Model) Upscale(ctx context.Context, img image.Image, opts UpscaleOptions) (*image.NRGBA, error) {
	b := img.Bounds()
	h, w := b.Dy(), b.Dx()
	minOverlap := 0
	if opts.TileSize > 0 {
		minOverlap = opts.MinOverlap
		if minOverlap == 0 {
			minOverlap = DefaultMinOverlap
		}
	}
	tiles, err := Tiles(h, w, opts.TileSize, minOverlap)
	if err != nil {
		return nil, err
	}
	src := toNRGBA(img)
	s := m.Spec.Scale
	out := image.NewNRGBA(image.Rect(0, 0, w*s, h*s))
	for i, t := range tiles {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		th, tw := t.Bottom-t.Top, t.Right-t.Left
		x := make([]float32, 3*th*tw)
		for y := range th {
			row := src.Pix[(t.Top+y)*src.Stride+t.Left*4:]
			for xx := range tw {
				for c := range 3 {
					x[(c*th+y)*tw+xx] = float32(row[xx*4+c]) / 255
				}
			}
		}
		y, err := m.Run(ctx, x, th, tw)
		if err != nil {
			return nil, err
		}
		ot, ol := t.OverlapTop*s/2, t.OverlapLeft*s/2
		oth, otw := th*s, tw*s
		for yy := ot; yy < oth; yy++ {
			dst := out.Pix[(t.Top*s+yy)*out.Stride:]
			for xx := ol; xx < otw; xx++ {
				p := dst[(t.Left*s+xx)*4:]
				for c := range 3 {
					p[c] = uint8(y[(c*oth+yy)*otw+xx] * 255)
				}
				p[3] = 255
			}
		}
		if opts.Progress != nil {
			opts.Progress(i+1, len(tiles))
		}
	}
	return out, nil
}

// toNRGBA returns img as an *image.NRGBA at the origin (the image itself when it already is one).
func toNRGBA(img image.Image) *image.NRGBA {
	if n, ok := img.(*image.NRGBA); ok && n.Rect.Min == (image.Point{}) {
		return n
	}
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
	return out
}
