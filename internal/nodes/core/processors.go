package core

import (
	"image"
	"math"
	"math/rand/v2"

	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/nodes"
)

// Model-free control-image processors besides canny (images.go), as InvokeAI's invocations compute them.

// modelProcessors are InvokeAI 6.12's control-image processors that run models of their own (depth, pose,
// edges learned by networks, line art, straight lines, normals, faces, segmentation). invokego does not have
// those models, so the types are not advertised and graphs that use them are refused with this reason.
var modelProcessors = []string{"depth_anything_depth_estimation", "dw_openpose_detection", "hed_edge_detection",
	"lineart_edge_detection", "lineart_anime_edge_detection", "mlsd_detection", "normal_map", "pidi_edge_detection",
	"mediapipe_face_detection", "segment_anything", "grounding_dino"}

const modelProcessorReason = "this processor needs its own model, which is not installed (invokego has the model-free " +
	"processors: canny_edge_detection, content_shuffle, color_map, img_blur)"

// maxProcessorTile bounds content_shuffle's scale factor, which widens the noise field by twice its value, and
// color_map's tile size (tiles are at most an image, 16384 pixels a side).
const maxProcessorTile = 1 << 14

// ColorMap is color_map: the image shrunk by the tile size with OpenCV's cubic resize and enlarged back with
// nearest neighbours, a mosaic of its average colours.
type ColorMap struct {
	saving
	Image    nodes.ImageField `json:"image" description:"The image to process"`
	TileSize int              `json:"tile_size" default:"64" ge:"1" le:"16384" description:"Tile size"`
}

// NodeInfo implements nodes.Node.
func (*ColorMap) NodeInfo() nodes.Info {
	return nodes.Info{Type: "color_map", Title: "Color Map", Description: "Generates a color map from the provided image.",
		Tags: []string{"controlnet"}, Category: "controlnet", Version: "1.0.0", Output: nodes.ImageOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *ColorMap) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if n.TileSize < 1 || n.TileSize > maxProcessorTile {
		return nil, nodes.Errorf("ValueError", "tile_size %d outside 1..%d", n.TileSize, maxProcessorTile)
	}
	img, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	pix, w, h := imaging.RGB8(img)
	tw, th := min(n.TileSize, w), min(n.TileSize, h)
	small, err := imaging.ResizeCubicCV(pix, w, h, 3, w/tw, h/th)
	if err != nil {
		return nil, nodes.Errorf("ValueError", "%v", err)
	}
	return n.save(ctx, rgbImage(imaging.ResizeNearestCV(small, w/tw, h/th, 3, w, h), w, h))
}

// ContentShuffle is content_shuffle: the image warped by a smooth random flow (noise on a grid of
// scale_factor-pixel cells, enlarged with OpenCV's cubic resize and stretched to the image), like a liquify.
// As in InvokeAI the noise is not seeded, so every run shuffles differently (and, as there, a cached result
// may be reused).
type ContentShuffle struct {
	saving
	Image       nodes.ImageField `json:"image" description:"The image to process"`
	ScaleFactor int              `json:"scale_factor" default:"256" ge:"0" le:"16384" description:"The scale factor used for the shuffle"`
}

// NodeInfo implements nodes.Node.
func (*ContentShuffle) NodeInfo() nodes.Info {
	return nodes.Info{Type: "content_shuffle", Title: "Content Shuffle", Description: "Shuffles the image, similar to a 'liquify' filter.",
		Tags: []string{"controlnet", "normal"}, Category: "controlnet", Version: "1.0.0", Output: nodes.ImageOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *ContentShuffle) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if n.ScaleFactor < 1 || n.ScaleFactor > maxProcessorTile {
		return nil, nodes.Errorf("ValueError", "scale_factor %d outside 1..%d", n.ScaleFactor, maxProcessorTile)
	}
	img, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	pix, w, h := imaging.RGB8(img)
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	fx := noiseDisk(rng, w, h, n.ScaleFactor)
	fy := noiseDisk(rng, w, h, n.ScaleFactor)
	out := make([]uint8, len(pix))
	for y := 0; y < h; y++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for x := 0; x < w; x++ {
			sx, sy := float32(fx[y*w+x]*float64(w-1)), float32(fy[y*w+x]*float64(h-1))
			remapBilinear(out[(y*w+x)*3:][:3], pix, w, h, sx, sy)
		}
	}
	return n.save(ctx, rgbImage(out, w, h))
}

// noiseDisk is a smooth noise field in [0, 1] of the image's size: uniform noise on a grid of (h/f+2)×(w/f+2)
// cells, enlarged by cubic interpolation to (h+2f)×(w+2f), the middle cropped and stretched to [0, 1].
func noiseDisk(rng *rand.Rand, w, h, f int) []float64 {
	gw, gh := w/f+2, h/f+2
	grid := make([]float64, gw*gh)
	for i := range grid {
		grid[i] = rng.Float64()
	}
	big := imaging.ResizeCubicFloat(grid, gw, gh, w+2*f, h+2*f)
	out := make([]float64, w*h)
	lo, hi := math.Inf(1), math.Inf(-1)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := big[(y+f)*(w+2*f)+x+f]
			out[y*w+x] = v
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	for i := range out {
		if hi > lo {
			out[i] = (out[i] - lo) / (hi - lo)
		} else {
			out[i] = 0
		}
	}
	return out
}

// remapBilinear samples the image at (x, y) with bilinear interpolation, black outside (cv2.remap's
// INTER_LINEAR with a constant border).
func remapBilinear(dst, pix []uint8, w, h int, x, y float32) {
	x0, y0 := int(math.Floor(float64(x))), int(math.Floor(float64(y)))
	ax, ay := x-float32(x0), y-float32(y0)
	at := func(px, py, c int) float32 {
		if px < 0 || py < 0 || px >= w || py >= h {
			return 0
		}
		return float32(pix[(py*w+px)*3+c])
	}
	for c := 0; c < 3; c++ {
		v := (at(x0, y0, c)*(1-ax)+at(x0+1, y0, c)*ax)*(1-ay) + (at(x0, y0+1, c)*(1-ax)+at(x0+1, y0+1, c)*ax)*ay
		dst[c] = uint8(min(max(math.Round(float64(v)), 0), 255))
	}
}

// rgbImage wraps interleaved RGB pixels as an opaque image.
func rgbImage(pix []uint8, w, h int) *image.NRGBA {
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		out.Pix[i*4], out.Pix[i*4+1], out.Pix[i*4+2], out.Pix[i*4+3] = pix[i*3], pix[i*3+1], pix[i*3+2], 255
	}
	return out
}
