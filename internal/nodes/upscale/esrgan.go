package upscale

import (
	"fmt"
	"path"
	"strings"

	"github.com/invokego/invokego/internal/engine/esrgan"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/nodes"
)

// ESRGANModelName is the esrgan node's model_name: the Real-ESRGAN release files InvokeAI downloads.
type ESRGANModelName string

// LiteralValues implements schema.Literal.
func (ESRGANModelName) LiteralValues() []string {
	return []string{"RealESRGAN_x4plus.pth", "RealESRGAN_x4plus_anime_6B.pth", "ESRGAN_SRx4_DF2KOST_official-ff704c30.pth", "RealESRGAN_x2plus.pth"}
}

// ESRGAN is esrgan, InvokeAI's legacy Real-ESRGAN node. InvokeAI downloads the named release file; invokego
// never downloads at run time, so the file must be installed through the model manager (any installed
// spandrel_image_to_image model whose file, source or name is that file matches). The image is processed with
// Real-ESRGAN's own tiling (esrgan.Model.UpscaleRealESRGAN) and comes back as opaque RGBA.
type ESRGAN struct {
	nodes.WithMetadata
	nodes.WithBoard
	Image     nodes.ImageField `json:"image" description:"The input image"`
	ModelName ESRGANModelName  `json:"model_name" default:"RealESRGAN_x4plus.pth" description:"The Real-ESRGAN model to use"`
	TileSize  int              `json:"tile_size" default:"400" ge:"0" le:"1024" description:"Tile size for tiled ESRGAN upscaling (0=tiling disabled)"`

	deps Deps
}

// NodeInfo implements nodes.Node.
func (*ESRGAN) NodeInfo() nodes.Info {
	return nodes.Info{Type: "esrgan", Title: "Upscale (RealESRGAN)", Description: "Upscales an image using RealESRGAN.",
		Version: "1.3.2", Category: "esrgan", Tags: []string{"esrgan", "upscale"}, Output: nodes.ImageOutput{}}
}

// matches reports whether an installed model is the named release file.
func matches(cfg *models.Config, file string) bool {
	stem := strings.TrimSuffix(file, path.Ext(file))
	base := func(s string) string {
		s = strings.ReplaceAll(s, "\\", "/")
		if i := strings.LastIndex(s, "::"); i >= 0 {
			s = s[i+2:]
		}
		return path.Base(s)
	}
	return base(cfg.Path) == file || base(cfg.Source) == file || cfg.Name == stem || cfg.Name == file
}

// Invoke implements nodes.Invocation.
func (n *ESRGAN) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if n.Image.ImageName == "" {
		return nil, nodes.Errorf("ValueError", "no image given")
	}
	if n.TileSize < 0 || n.TileSize > 1024 {
		return nil, nodes.Errorf("ValueError", "tile_size %d is outside 0..1024", n.TileSize)
	}
	if n.deps.Installed == nil || n.deps.Cache == nil {
		return nil, fmt.Errorf("the model manager is not available")
	}
	installed, err := n.deps.Installed(ctx)
	if err != nil {
		return nil, err
	}
	var cfg *models.Config
	for _, c := range installed {
		if c.Type == models.TypeSpandrel && matches(c, string(n.ModelName)) {
			cfg = c
			break
		}
	}
	if cfg == nil {
		return nil, nodes.Errorf("ValueError", "the RealESRGAN model %s is not installed: install it with the model manager first", n.ModelName)
	}
	v, err := n.deps.Cache.Get(ctx, cfg, "")
	if err != nil {
		return nil, err
	}
	m, ok := v.(*esrgan.Model)
	if !ok || m == nil || m.Spec.Arch != esrgan.ArchESRGAN {
		return nil, nodes.Errorf("ValueError", "model %s is not an RRDBNet (ESRGAN) model", cfg.Name)
	}
	img, err := ctx.LoadImage(n.Image.ImageName)
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	// An untiled run is one tile of the whole (padded) image.
	if n.TileSize == 0 && (b.Dx()+12)*(b.Dy()+12) > maxTilePixels {
		return nil, nodes.Errorf("ValueError", "a %dx%d image is too large to upscale untiled; set tile_size (at most 1024)", b.Dx(), b.Dy())
	}
	if s := m.Spec.Scale; b.Dx()*s > maxSide || b.Dy()*s > maxSide {
		return nil, nodes.Errorf("ValueError", "the result would be %dx%d; at most %d pixels per side", b.Dx()*s, b.Dy()*s, maxSide)
	}
	out, err := m.UpscaleRealESRGAN(ctx, img, n.TileSize, func(done, total int) {
		pct := float64(done) / float64(total)
		ctx.ReportProgress(nodes.Progress{Message: fmt.Sprintf("Processing tile %d/%d", done, total), Percentage: &pct})
	})
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, nodes.Errorf("ValueError", "%v", err)
	}
	return ctx.SaveImage(out, nodes.SaveImageOptions{Board: n.Board, Metadata: n.Metadata})
}
