package canvas

import (
	"math"

	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/engine/inpaint"
	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/nodes/core"
)

// infill runs fill on an RGBA image; any other image passes through unchanged and unsaved, as in InvokeAI
// (only an image with an alpha channel has anything to fill).
func infill(ctx nodes.Context, s *saving, f nodes.ImageField, fill func(*pilImage) (*pilImage, error)) (nodes.Output, error) {
	img, err := loadPIL(ctx, f)
	if err != nil {
		return nil, err
	}
	if img.mode != "RGBA" {
		return nodes.ImageOutput{Image: f, Width: img.w, Height: img.h}, nil
	}
	out, err := fill(img)
	if err != nil {
		return nil, err
	}
	return s.save(ctx, out, "")
}

// pasteKnown lays the RGBA image over the filled image through its own alpha channel (PIL's
// paste(image, (0, 0), alpha)), so that the known pixels come back.
func pasteKnown(filled, img *pilImage) (*pilImage, error) {
	return filled, pasteAt00(filled, img, &pilImage{w: img.w, h: img.h, mode: "L", pix: img.band(3)})
}

// InfillColor is infill_rgba: the transparent areas become a solid colour.
type InfillColor struct {
	saving
	Image nodes.ImageField `json:"image" description:"The image to process"`
	Color nodes.ColorField `json:"color" default:"{\"r\":127,\"g\":127,\"b\":127,\"a\":255}" description:"The colour to fill with"`
}

// NodeInfo implements nodes.Node.
func (*InfillColor) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "infill_rgba",
		Title:       "Solid Color Infill",
		Description: "Fills the transparent areas of an image with a solid colour.",
		Tags:        []string{"image", "inpaint"},
		Category:    "inpaint",
		Version:     "1.2.2",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation: the image composited over the colour, then the image pasted back
// through its alpha channel.
func (n *InfillColor) Invoke(ctx nodes.Context) (nodes.Output, error) {
	return infill(ctx, &n.saving, n.Image, func(img *pilImage) (*pilImage, error) {
		bg := make([]uint8, len(img.pix))
		c := []uint8{uint8(n.Color.R), uint8(n.Color.G), uint8(n.Color.B), uint8(n.Color.A)}
		for i := 0; i < len(bg); i += 4 {
			copy(bg[i:i+4], c)
		}
		comp, err := imaging.AlphaComposite(bg, img.pix)
		if err != nil {
			return nil, err
		}
		return pasteKnown(&pilImage{w: img.w, h: img.h, mode: "RGBA", pix: comp}, img)
	})
}

// InfillTile is infill_tile: the image is covered with tiles cut from its opaque parts, chosen with NumPy's
// default generator for the seed, and the image is laid over them.
type InfillTile struct {
	saving
	Image    nodes.ImageField `json:"image" description:"The image to process"`
	TileSize int              `json:"tile_size" default:"32" ge:"1" description:"The tile size (px)"`
	Seed     int64            `json:"seed" default:"0" ge:"0" le:"4294967295" description:"The seed of the tile choice"`
}

// NodeInfo implements nodes.Node.
func (*InfillTile) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "infill_tile",
		Title:       "Tile Infill",
		Description: "Fills the transparent areas of an image with tiles of the image itself.",
		Tags:        []string{"image", "inpaint"},
		Category:    "inpaint",
		Version:     "1.2.3",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *InfillTile) Invoke(ctx nodes.Context) (nodes.Output, error) {
	return infill(ctx, &n.saving, n.Image, func(img *pilImage) (*pilImage, error) {
		return tileFill(img, n.TileSize, uint64(n.Seed))
	})
}

// tileFill is InvokeAI's infill_tile: the pool is every fully opaque tile of the tile grid (row by row), and
// each grid cell of the output, row by row, gets a random tile of the pool, cropped at the image's edges.
func tileFill(img *pilImage, size int, seed uint64) (*pilImage, error) {
	var pool []uint32 // y·w + x of each opaque tile's corner
	for y := 0; y+size <= img.h; y += size {
		for x := 0; x+size <= img.w; x += size {
			if opaque(img, x, y, size) {
				pool = append(pool, uint32(y*img.w+x))
			}
		}
	}
	if len(pool) == 0 {
		return nil, valueError("Not enough opaque pixels to generate any tiles. Use a smaller tile size or a different image.")
	}
	rng := noise.NewNumPyRNG(seed)
	out := &pilImage{w: img.w, h: img.h, mode: "RGB", pix: make([]uint8, img.w*img.h*3)}
	for y := 0; y < img.h; y += size {
		for x := 0; x < img.w; x += size {
			t := int(pool[rng.Intn(len(pool))])
			ty, tx := t/img.w, t%img.w
			for dy := 0; dy < min(size, img.h-y); dy++ {
				for dx := 0; dx < min(size, img.w-x); dx++ {
					s := ((ty+dy)*img.w + tx + dx) * 4
					copy(out.pix[((y+dy)*img.w+x+dx)*3:], img.pix[s:s+3])
				}
			}
		}
	}
	return pasteKnown(out, img)
}

func opaque(img *pilImage, x, y, size int) bool {
	for dy := 0; dy < size; dy++ {
		row := img.pix[((y+dy)*img.w+x)*4 : ((y+dy)*img.w+x+size)*4]
		for i := 3; i < len(row); i += 4 {
			if row[i] != 255 {
				return false
			}
		}
	}
	return true
}

// InfillPatchMatch is infill_patchmatch.
type InfillPatchMatch struct {
	saving
	Image        nodes.ImageField  `json:"image" description:"The image to process"`
	Downscale    float64           `json:"downscale" default:"2.0" gt:"0" description:"Run PatchMatch on a downscaled image (see the node's notes)"`
	ResampleMode core.ResampleMode `json:"resample_mode" default:"bicubic" description:"The resampling mode"`
}

// NodeInfo implements nodes.Node.
func (*InfillPatchMatch) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "infill_patchmatch",
		Title:       "PatchMatch Infill",
		Description: "Fills the transparent areas of an image with PatchMatch.",
		Tags:        []string{"image", "inpaint"},
		Category:    "inpaint",
		Version:     "1.2.2",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation. InvokeAI 6.12 computes the downscaled image but then fills the
// full-size one, so the result does not depend on downscale or resample_mode (a downscaled size below one
// pixel still fails, as PIL's resize does); invokego fills the full-size image likewise.
func (n *InfillPatchMatch) Invoke(ctx nodes.Context) (nodes.Output, error) {
	return infill(ctx, &n.saving, n.Image, func(img *pilImage) (*pilImage, error) {
		w, h := math.Trunc(float64(img.w)/n.Downscale), math.Trunc(float64(img.h)/n.Downscale)
		if w < 1 || h < 1 {
			return nil, valueError("height and width must be > 0 (downscale %v leaves %vx%v)", n.Downscale, w, h)
		}
		if w > inpaint.MaxSide || h > inpaint.MaxSide {
			return nil, valueError("downscale %v makes a %vx%v image; at most %d pixels a side", n.Downscale, w, h, inpaint.MaxSide)
		}
		alpha := img.band(3)
		invert(alpha)
		rgb := img.convert("RGB")
		filled, err := inpaint.PatchMatch(ctx, rgb.pix, alpha, img.w, img.h, 3)
		if err != nil {
			return nil, err
		}
		return pasteKnown(&pilImage{w: img.w, h: img.h, mode: "RGB", pix: filled}, img)
	})
}

// CV2Infill is infill_cv2: OpenCV's Telea inpainting (radius 3) of the pixels that are not fully opaque.
type CV2Infill struct {
	saving
	Image nodes.ImageField `json:"image" description:"The image to process"`
}

// NodeInfo implements nodes.Node.
func (*CV2Infill) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "infill_cv2",
		Class:       "CV2InfillInvocation",
		Title:       "CV2 Infill",
		Description: "Fills the transparent areas of an image with OpenCV's inpainting.",
		Tags:        []string{"image", "inpaint"},
		Category:    "inpaint",
		Version:     "1.2.2",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *CV2Infill) Invoke(ctx nodes.Context) (nodes.Output, error) {
	return infill(ctx, &n.saving, n.Image, func(img *pilImage) (*pilImage, error) {
		alpha := img.band(3)
		invert(alpha)
		out, err := inpaint.Telea(ctx, img.convert("RGB").pix, alpha, img.w, img.h, 3)
		if err != nil {
			return nil, err
		}
		return &pilImage{w: img.w, h: img.h, mode: "RGB", pix: out}, nil
	})
}

// CvInpaint is cv_inpaint: OpenCV's Telea inpainting (radius 3) of the pixels where the mask is not white.
type CvInpaint struct {
	saving
	Image nodes.ImageField `json:"image" description:"The image to inpaint"`
	Mask  nodes.ImageField `json:"mask" description:"The mask: white keeps, anything darker is inpainted"`
}

// NodeInfo implements nodes.Node.
func (*CvInpaint) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "cv_inpaint",
		Title:       "OpenCV Inpaint",
		Description: "Inpaints an image with OpenCV's Telea method.",
		Tags:        []string{"opencv", "inpaint"},
		Category:    "inpaint",
		Version:     "1.3.1",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *CvInpaint) Invoke(ctx nodes.Context) (nodes.Output, error) {
	img, err := loadPIL(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	mask, err := loadPIL(ctx, n.Mask)
	if err != nil {
		return nil, err
	}
	if img.w != mask.w || img.h != mask.h {
		return nil, valueError("the image (%dx%d) and the mask (%dx%d) must have the same size", img.w, img.h, mask.w, mask.h)
	}
	unknown := mask.convert("L").pix
	invert(unknown)
	out, err := inpaint.Telea(ctx, img.convert("RGB").pix, unknown, img.w, img.h, 3)
	if err != nil {
		return nil, err
	}
	return n.save(ctx, &pilImage{w: img.w, h: img.h, mode: "RGB", pix: out}, "")
}
