package flux

import (
	"fmt"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// Pack turns latents [B, C, h, w] (h, w even) into the token sequence
// [B, (h/2)·(w/2), 4C]: token (y/2)·(w/2) + x/2, channel c·4 + (y%2)·2 + x%2.
func Pack(x *tensor.Tensor) (*tensor.Tensor, error) {
	if len(x.Shape) != 4 || x.Shape[2]%2 != 0 || x.Shape[3]%2 != 0 {
		return nil, fmt.Errorf("flux pack: latents of shape %v, want [B, C, h, w] with h and w even", x.Shape)
	}
	b, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	ph, pw := h/2, w/2
	out := tensor.New(b, ph*pw, 4*c)
	for bi := range b {
		for ch := range c {
			plane := x.Data[(bi*c+ch)*h*w:]
			for y := range h {
				for xx := range w {
					tok := (y/2)*pw + xx/2
					out.Data[(bi*ph*pw+tok)*4*c+ch*4+(y%2)*2+xx%2] = plane[y*w+xx]
				}
			}
		}
	}
	return out, nil
}

// Unpack is the inverse of Pack for latents of h×w (latent pixels).
func Unpack(x *tensor.Tensor, h, w int) (*tensor.Tensor, error) {
	if h%2 != 0 || w%2 != 0 || len(x.Shape) != 3 || x.Shape[1] != (h/2)*(w/2) || x.Shape[2]%4 != 0 {
		return nil, fmt.Errorf("flux unpack: tokens of shape %v do not fit %dx%d latents", x.Shape, h, w)
	}
	b, c := x.Shape[0], x.Shape[2]/4
	pw := w / 2
	out := tensor.New(b, c, h, w)
	for bi := range b {
		for ch := range c {
			plane := out.Data[(bi*c+ch)*h*w:]
			for y := range h {
				for xx := range w {
					tok := (y/2)*pw + xx/2
					plane[y*w+xx] = x.Data[(bi*x.Shape[1]+tok)*4*c+ch*4+(y%2)*2+xx%2]
				}
			}
		}
	}
	return out, nil
}

// ImageIDs returns the position ids [(h/2)·(w/2), 3] of the packed tokens of
// h×w latents: (0, row, column) of each 2×2 patch.
func ImageIDs(h, w int) []float32 {
	ph, pw := h/2, w/2
	ids := make([]float32, 3*ph*pw)
	for y := range ph {
		for x := range pw {
			i := 3 * (y*pw + x)
			ids[i+1], ids[i+2] = float32(y), float32(x)
		}
	}
	return ids
}

// TextIDs returns the all-zero position ids [l, 3] of a text sequence.
func TextIDs(l int) []float32 { return make([]float32, 3*l) }
