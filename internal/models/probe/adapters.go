package probe

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Control and image adapters: ControlNet, T2I-Adapter, IP-Adapter and the CLIP image encoder IP-Adapters use.
// The base comes from structure, as for main models: SDXL's text-time conditioning (ControlNet), the adapter
// type (T2I-Adapter), the width of the text context the weights attend to (768 SD-1, 1024 SD-2, 2048 SDXL);
// a model of another width and without SDXL's structure (such as the tiny test models) is SD-1, the default
// sd1or2 uses for main models too.

// Model types and formats of this file (InvokeAI's ModelType and ModelFormat values).
const (
	typeIPAdapter  = "ip_adapter"
	typeT2IAdapter = "t2i_adapter"
	typeCLIPVision = "clip_vision"
	formatInvokeAI = "invokeai"
)

// isIPAdapter recognises h94's layout: an image projection and per-processor key/value projections.
func isIPAdapter(sd *StateDict) bool {
	return sd.HasPrefix("image_proj.") && sd.HasPrefix("ip_adapter.")
}

// ipAdapterBase reads the width of the text context from the first layer's key projection.
func ipAdapterBase(sd *StateDict) string {
	for name, shape := range sd.Shapes {
		if strings.HasPrefix(name, "ip_adapter.") && strings.HasSuffix(name, ".to_k_ip.weight") && len(shape) == 2 {
			if base := baseForWidth(shape[1]); base != "" {
				return base
			}
			return "sd-1"
		}
	}
	return ""
}

// controlNetCheckpointBase is the base of a single-file ControlNet: SDXL's added (label) embedding, else the
// context width, else SD-1.
func controlNetCheckpointBase(sd *StateDict) string {
	if base := controlNetBase(sd); base != "" {
		return base
	}
	if sd.HasPrefix("label_emb.") {
		return "sdxl"
	}
	return "sd-1"
}

// controlNetFolderBase is the base of a diffusers ControlNetModel from its config.
func controlNetFolderBase(cfg diffusersConfig) string {
	switch w, _ := cfg.num("cross_attention_dim"); {
	case cfg.str("addition_embed_type") == "text_time" || w == 2048:
		return "sdxl"
	case w == 1024:
		return "sd-2"
	}
	return "sd-1"
}

// t2iAdapterFolder identifies a diffusers T2IAdapter folder: full_adapter_xl is SDXL's, full_adapter and
// light_adapter SD-1's.
func t2iAdapterFolder(dir string, cfg diffusersConfig) (*Result, error) {
	res := &Result{Type: typeT2IAdapter, Format: "diffusers", RepoVariant: repoVariant(dir)}
	switch t := cfg.str("adapter_type"); t {
	case "full_adapter_xl":
		res.Base = "sdxl"
	case "full_adapter", "light_adapter", "":
		res.Base = "sd-1"
	default:
		return nil, fmt.Errorf("%w: T2I-Adapter type %q is not supported", ErrUnknownModel, t)
	}
	return res, nil
}

// isCLIPVisionConfig recognises a transformers image encoder config (CLIPVisionModelWithProjection).
func isCLIPVisionConfig(cfg diffusersConfig) bool {
	if cfg.str("model_type") == "clip_vision_model" {
		return true
	}
	if arch, ok := cfg["architectures"].([]any); ok {
		for _, a := range arch {
			if s, _ := a.(string); s == "CLIPVisionModelWithProjection" || s == "CLIPVisionModel" {
				return true
			}
		}
	}
	return false
}

// maxEncoderNameBytes bounds image_encoder.txt.
const maxEncoderNameBytes = 1 << 10

// ipAdapterFolder identifies InvokeAI's IP-Adapter folder: ip_adapter.safetensors (or ip_adapter.bin) and
// image_encoder.txt, which names the image encoder to use. ok is false when dir is not such a folder.
func ipAdapterFolder(ctx context.Context, dir string) (res *Result, ok bool, err error) {
	var weights string
	for _, name := range []string{"ip_adapter.safetensors", "ip_adapter.bin"} {
		if fileExists(filepath.Join(dir, name)) {
			weights = filepath.Join(dir, name)
			break
		}
	}
	if weights == "" {
		return nil, false, nil
	}
	sd, err := ReadStateDict(ctx, weights)
	if err != nil {
		return nil, true, err
	}
	if !isIPAdapter(sd) {
		return nil, true, fmt.Errorf("%w: %s holds no IP-Adapter weights", ErrUnknownModel, filepath.Base(weights))
	}
	f, err := os.Open(filepath.Join(dir, "image_encoder.txt"))
	if err != nil {
		return nil, true, fmt.Errorf("%w: an IP-Adapter folder needs image_encoder.txt naming its image encoder", ErrUnknownModel)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxEncoderNameBytes+1))
	if err != nil || len(b) > maxEncoderNameBytes || strings.TrimSpace(string(b)) == "" {
		return nil, true, fmt.Errorf("%w: image_encoder.txt must hold the image encoder's name", ErrInvalidModel)
	}
	return &Result{Type: typeIPAdapter, Format: formatInvokeAI, Base: ipAdapterBase(sd), ImageEncoder: strings.TrimSpace(string(b))}, true, nil
}
