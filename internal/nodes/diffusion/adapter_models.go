package diffusion

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/invokego/invokego/internal/engine/controlnet"
	"github.com/invokego/invokego/internal/engine/ipadapter"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/t2iadapter"
	"github.com/invokego/invokego/internal/models"
)

// isAdapterType reports the model types loadAdapter builds.
func isAdapterType(typ string) bool {
	switch typ {
	case models.TypeControlNet, models.TypeT2IAdapter, models.TypeIPAdapter, models.TypeCLIPVision:
		return true
	}
	return false
}

// loadAdapter builds a control or image adapter, whole (they have no submodels): a ControlNet from a
// diffusers folder or an original single file (with its yaml), a T2I-Adapter folder, an IP-Adapter file or
// InvokeAI folder, or a CLIP image encoder folder.
func (l Loader) loadAdapter(ctx context.Context, cfg *models.Config, path string) (any, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	var v any
	var err error
	switch cfg.Type {
	case models.TypeControlNet:
		if cfg.Format == models.FormatCheckpoint {
			yaml := ""
			if cfg.ConfigPath != nil && *cfg.ConfigPath != "" {
				yaml = *cfg.ConfigPath
				if l.PathOf != nil {
					yaml = l.PathOf(yaml)
				}
			}
			v, err = controlnet.LoadSingleFile(path, yaml, sd.Options{})
		} else {
			v, err = controlnet.Load(path, sd.Options{})
		}
	case models.TypeT2IAdapter:
		v, err = t2iadapter.Load(path)
	case models.TypeIPAdapter:
		file := path
		if cfg.Format == models.FormatInvokeAI {
			file = filepath.Join(path, "ip_adapter.safetensors")
		}
		if filepath.Ext(file) != ".safetensors" {
			return nil, 0, fmt.Errorf("load %s: IP-Adapter weights in %s files are not supported; use the .safetensors file", cfg.Name, filepath.Ext(file))
		}
		var w sd.StateDict
		if w, err = sd.LoadStateDict(file, nil); err == nil {
			v, err = ipadapter.New(w)
		}
	case models.TypeCLIPVision:
		v, err = sd.LoadCLIPVisionFolder(path)
	default:
		return nil, 0, fmt.Errorf("load %s: model type %q is not an adapter", cfg.Name, cfg.Type)
	}
	if err != nil {
		return nil, 0, wrapLoad(cfg, cfg.Type, err)
	}
	return v, dirSize(path), nil
}
