// Package upscale holds InvokeAI's image-to-image (upscaling) nodes, spandrel_image_to_image and
// spandrel_image_to_image_autoscale, on top of the engine's esrgan package, the model cache's loader for
// spandrel_image_to_image models, and unsharp_mask, the sharpening step of upscaling workflows.
package upscale

import (
	"context"
	"errors"
	"fmt"
	"image"

	"github.com/invokego/invokego/internal/engine/esrgan"
	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/nodes/diffusion"
)

// ModelRecords looks up installed models.
type ModelRecords interface {
	Get(ctx context.Context, key string) (*models.Config, error)
}

// ModelCache hands out loaded models.
type ModelCache interface {
	Get(ctx context.Context, cfg *models.Config, submodel string) (any, error)
}

// Deps are what the nodes need from the application.
type Deps struct {
	Records ModelRecords
	Cache   ModelCache
	// Installed lists the installed spandrel_image_to_image models (the esrgan node finds its file among them).
	Installed func(ctx context.Context) ([]*models.Config, error)
}

// Limits that keep a graph from asking for unbounded memory (docs/security.md): a tile is at most
// maxTilePixels (an untiled run counts as one tile covering the image), and an output side at most
// maxSide pixels.
const (
	maxTilePixels = 1024 * 1024
	maxSide       = 16384
)

// Register adds the upscaling node types to r.
func Register(r *nodes.Registry, deps Deps) {
	r.Register(&SpandrelImageToImage{deps: deps}, &SpandrelImageToImageAutoscale{SpandrelImageToImage: SpandrelImageToImage{deps: deps}},
		&UnsharpMask{}, &ESRGAN{deps: deps})
}

// NodeInfo implements nodes.Node.
func (*SpandrelImageToImage) NodeInfo() nodes.Info {
	return nodes.Info{Type: "spandrel_image_to_image", Title: "Image-to-Image",
		Description: "Run any spandrel image-to-image model (https://github.com/chaiNNer-org/spandrel).",
		Version:     "1.3.0", Category: "upscale", Tags: []string{"upscale"}, Output: nodes.ImageOutput{}}
}

// NodeInfo implements nodes.Node.
func (*SpandrelImageToImageAutoscale) NodeInfo() nodes.Info {
	return nodes.Info{Type: "spandrel_image_to_image_autoscale", Title: "Image-to-Image (Autoscale)",
		Description: "Run any spandrel image-to-image model (https://github.com/chaiNNer-org/spandrel) until the target scale is reached.",
		Version:     "1.0.0", Category: "upscale", Tags: []string{"upscale"}, Output: nodes.ImageOutput{}}
}

// Load is the model cache's loader for spandrel_image_to_image records (path is the model file).
func Load(_ context.Context, cfg *models.Config, path string) (any, int64, error) {
	m, err := esrgan.Load(path, esrgan.Options{})
	if err != nil {
		return nil, 0, fmt.Errorf("load %s: %w", cfg.Name, err)
	}
	return m, m.Spec.Parameters * 4, nil
}

// SpandrelImageToImage is spandrel_image_to_image.
type SpandrelImageToImage struct {
	nodes.WithMetadata
	nodes.WithBoard
	Image    nodes.ImageField               `json:"image" description:"The input image"`
	Model    diffusion.ModelIdentifierField `json:"image_to_image_model" title:"Image-to-Image Model" ui_model_type:"spandrel_image_to_image" description:"Image-to-Image model"`
	TileSize int                            `json:"tile_size" default:"512" ge:"0" le:"1024" description:"The tile size for tiled image-to-image. Set to 0 to disable tiling."`

	deps Deps
}

// Invoke implements nodes.Invocation.
func (n *SpandrelImageToImage) Invoke(ctx nodes.Context) (nodes.Output, error) {
	img, m, err := n.prepare(ctx)
	if err != nil {
		return nil, err
	}
	out, err := n.run(ctx, m, img)
	if err != nil {
		return nil, err
	}
	return ctx.SaveImage(out, nodes.SaveImageOptions{Board: n.Board, Metadata: n.Metadata})
}

// prepare loads the input image and the model.
func (n *SpandrelImageToImage) prepare(ctx nodes.Context) (image.Image, *esrgan.Model, error) {
	if n.Image.ImageName == "" {
		return nil, nil, nodes.Errorf("ValueError", "no image given")
	}
	if n.Model.Key == "" {
		return nil, nil, nodes.Errorf("ValueError", "no image-to-image model given")
	}
	img, err := ctx.LoadImage(n.Image.ImageName)
	if err != nil {
		return nil, nil, err
	}
	if n.deps.Records == nil || n.deps.Cache == nil {
		return nil, nil, errors.New("the model manager is not available")
	}
	cfg, err := n.deps.Records.Get(ctx, n.Model.Key)
	if err != nil {
		return nil, nil, nodes.Errorf("ValueError", "unknown model %s: %v", n.Model.Key, err)
	}
	if cfg.Type != models.TypeSpandrel {
		return nil, nil, nodes.Errorf("ValueError", "model %s is a %s model, not an image-to-image model", cfg.Name, cfg.Type)
	}
	v, err := n.deps.Cache.Get(ctx, cfg, "")
	if err != nil {
		return nil, nil, err
	}
	m, ok := v.(*esrgan.Model)
	if !ok || m == nil {
		return nil, nil, fmt.Errorf("model %s did not load as an image-to-image model", cfg.Name)
	}
	return img, m, nil
}

// run upscales img once, tile by tile, reporting progress per tile.
func (n *SpandrelImageToImage) run(ctx nodes.Context, m *esrgan.Model, img image.Image) (*image.NRGBA, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	side := n.TileSize
	if side <= 0 {
		side = max(w, h)
	}
	if n.TileSize > 0 && n.TileSize <= esrgan.DefaultMinOverlap {
		return nil, nodes.Errorf("ValueError", "tile_size %d must exceed the tile overlap of %d pixels (or be 0)", n.TileSize, esrgan.DefaultMinOverlap)
	}
	if min(side, w)*min(side, h) > maxTilePixels {
		return nil, nodes.Errorf("ValueError", "a %dx%d tile is too large: tiles may have at most %d pixels (set tile_size to at most 1024)", min(side, w), min(side, h), maxTilePixels)
	}
	s := m.Spec.Scale
	if w*s > maxSide || h*s > maxSide {
		return nil, nodes.Errorf("ValueError", "the result would be %dx%d; at most %d pixels per side", w*s, h*s, maxSide)
	}
	out, err := m.Upscale(ctx, img, esrgan.UpscaleOptions{TileSize: max(n.TileSize, 0), Progress: func(done, total int) {
		pct := float64(done) / float64(total)
		ctx.ReportProgress(nodes.Progress{Message: fmt.Sprintf("Processing tile %d/%d", done, total), Percentage: &pct})
	}})
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	return out, nil
}

// SpandrelImageToImageAutoscale is spandrel_image_to_image_autoscale: the model runs repeatedly
// until the image is at least scale times its size (at most 5 runs), then Pillow's Lanczos resize
// brings it to exactly that size, as InvokeAI does. A model that does not enlarge runs once and the
// scale is ignored.
type SpandrelImageToImageAutoscale struct {
	SpandrelImageToImage
	Scale            float64 `json:"scale" default:"4.0" gt:"0" le:"16" description:"The final scale of the output image. If the model does not upscale the image, this will be ignored."`
	FitToMultipleOf8 bool    `json:"fit_to_multiple_of_8" default:"false" description:"If true, the output image will be resized to the nearest multiple of 8 in both dimensions."`
}

// Invoke implements nodes.Invocation.
func (n *SpandrelImageToImageAutoscale) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if !(n.Scale > 0 && n.Scale <= 16) {
		return nil, nodes.Errorf("ValueError", "scale %v is outside (0, 16]", n.Scale)
	}
	img, m, err := n.prepare(ctx)
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	tw, th := int(float64(b.Dx())*n.Scale), int(float64(b.Dy())*n.Scale)
	if tw > maxSide || th > maxSide {
		return nil, nodes.Errorf("ValueError", "the result would be %dx%d; at most %d pixels per side", tw, th, maxSide)
	}
	out, err := n.run(ctx, m, img)
	if err != nil {
		return nil, err
	}
	if out.Bounds().Dx() > b.Dx() && out.Bounds().Dy() > b.Dy() {
		for runs := 1; (out.Bounds().Dx() < tw || out.Bounds().Dy() < th) && runs < 5; runs++ {
			if out, err = n.run(ctx, m, out); err != nil {
				return nil, err
			}
		}
	} else {
		tw, th = out.Bounds().Dx(), out.Bounds().Dy()
	}
	if n.FitToMultipleOf8 {
		tw, th = tw/8*8, th/8*8
	}
	if tw < 1 || th < 1 {
		return nil, nodes.Errorf("ValueError", "the target size %dx%d is empty", tw, th)
	}
	var final image.Image = out
	if tw != out.Bounds().Dx() || th != out.Bounds().Dy() {
		if final, err = resize(out, tw, th); err != nil {
			return nil, err
		}
	}
	return ctx.SaveImage(final, nodes.SaveImageOptions{Board: n.Board, Metadata: n.Metadata})
}

// resize is Pillow's Lanczos resize of the model's RGB output, the final resize InvokeAI makes.
func resize(src *image.NRGBA, w, h int) (image.Image, error) {
	pic, err := imaging.FromImage(src).Convert(imaging.ModeRGB)
	if err != nil {
		return nil, err
	}
	if pic, err = pic.Resize(w, h, imaging.Lanczos); err != nil {
		return nil, nodes.Errorf("ValueError", "%v", err)
	}
	return pic.Image()
}
