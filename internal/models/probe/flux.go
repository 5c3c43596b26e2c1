package probe

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/invokego/invokego/internal/engine/gguf"
)

// FLUX.1 identification: main models (dev, schnell, dev_fill) as diffusers folders, Black Forest Labs single
// files and GGUF files; the T5 encoder as InvokeAI's folder (text_encoder_2/ + tokenizer_2/) or a GGUF file;
// CLIP-L as InvokeAI's clip_embed folder (text_encoder/ + tokenizer/); the 16-channel VAE.

// FLUX variants (InvokeAI's FluxVariantType).
const (
	FluxDev     = "dev"
	FluxSchnell = "schnell"
	FluxDevFill = "dev_fill"
)

// Model types and formats of the FLUX side.
const (
	typeT5Encoder   = "t5_encoder"
	typeCLIPEmbed   = "clip_embed"
	formatT5Encoder = "t5_encoder"
	formatGGUF      = "gguf_quantized"
)

// fluxFillInputs is the packed input width of FLUX.1 Fill (64 latent + 320 conditioning channels).
const fluxFillInputs = 384

// fluxVariant names a FLUX transformer's variant from whether it has a guidance embedding and its packed
// input width: no guidance is schnell, the widened input of Fill is dev_fill, anything else dev.
func fluxVariant(guidance bool, inChannels int64) string {
	switch {
	case !guidance:
		return FluxSchnell
	case inChannels == fluxFillInputs:
		return FluxDevFill
	}
	return FluxDev
}

// fluxCheckpoint identifies a BFL-layout transformer file (names may carry ComfyUI's model.diffusion_model.
// prefix).
func fluxCheckpoint(sd *StateDict) *Result {
	prefix := ""
	if !sd.Has("double_blocks.0.img_attn.qkv.weight") && sd.Has("model.diffusion_model.double_blocks.0.img_attn.qkv.weight") {
		prefix = "model.diffusion_model."
	}
	return &Result{Type: "main", Base: "flux",
		Variant: fluxVariant(sd.HasPrefix(prefix+"guidance_in."), sd.Dim(prefix+"img_in.weight", 1))}
}

// isFluxVAE tells FLUX's autoencoder by its 16 latent channels (SD's have 4).
func isFluxVAE(sd *StateDict) bool {
	for _, name := range []string{"decoder.conv_in.weight", "first_stage_model.decoder.conv_in.weight"} {
		if sd.Dim(name, 1) == 16 {
			return true
		}
	}
	return false
}

// isFluxLoRA tells a LoRA for the FLUX transformer by the modules it names: BFL blocks in kohya names
// (lora_unet_double_blocks_N_…, lora_unet_single_blocks_N_…) or behind diffusion_model., or diffusers'
// FLUX blocks behind transformer. (transformer.single_transformer_blocks.N.…).
func isFluxLoRA(sd *StateDict) bool {
	for _, p := range []string{"lora_unet_double_blocks_", "lora_unet_single_blocks_", "diffusion_model.double_blocks.",
		"diffusion_model.single_blocks.", "transformer.single_transformer_blocks.", "transformer.transformer_blocks."} {
		if sd.HasPrefix(p) {
			return true
		}
	}
	return false
}

// probeGGUF identifies a GGUF file: a FLUX transformer (BFL tensor names, as city96's conversions) or a T5
// encoder (llama.cpp's enc.blk.N names or transformers' encoder.block.N names).
func probeGGUF(path string) (*Result, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidModel, err)
	}
	defer f.Close()
	h := f.Header
	shape := func(name string) []int {
		if t, ok := h.Tensor(name); ok {
			return t.Shape()
		}
		return nil
	}
	has := func(name string) bool { _, ok := h.Tensor(name); return ok }
	arch := h.String("general.architecture")
	switch {
	case has("double_blocks.0.img_attn.qkv.weight"):
		in := int64(-1)
		if s := shape("img_in.weight"); len(s) == 2 {
			in = int64(s[1])
		}
		guidance := has("guidance_in.in_layer.weight")
		return &Result{Type: "main", Format: formatGGUF, Base: "flux", Variant: fluxVariant(guidance, in)}, nil
	case has("enc.blk.0.attn_q.weight") || has("encoder.block.0.layer.0.SelfAttention.q.weight") ||
		arch == "t5encoder" || arch == "t5":
		return &Result{Type: typeT5Encoder, Format: formatGGUF, Base: "any"}, nil
	}
	if arch == "flux" {
		return nil, fmt.Errorf("%w: a GGUF file of architecture flux without FLUX transformer tensors", ErrUnknownModel)
	}
	return nil, fmt.Errorf("%w: GGUF architecture %q is not supported", ErrUnknownModel, arch)
}

// fluxPipeline identifies a FluxPipeline folder's variant from transformer/config.json and lists its parts.
func fluxPipeline(dir string, idx diffusersConfig) (*Result, error) {
	tc, err := readConfig(filepath.Join(dir, "transformer", "config.json"))
	if err != nil {
		return nil, fmt.Errorf("%w: FLUX pipeline without a readable transformer/config.json: %v", ErrInvalidModel, err)
	}
	guidance, _ := tc["guidance_embeds"].(bool)
	in, ok := tc.num("in_channels")
	if !ok {
		in = 64
	}
	res := &Result{Type: "main", Format: "diffusers", Base: "flux", RepoVariant: repoVariant(dir),
		Variant: fluxVariant(guidance, int64(in)), Submodels: map[string]SubmodelInfo{}}
	for key := range idx {
		if strings.HasPrefix(key, "_") || idx.component(key) == "" {
			continue
		}
		mt := map[string]string{"FluxTransformer2DModel": "main", "AutoencoderKL": "vae", "CLIPTextModel": typeCLIPEmbed,
			"T5EncoderModel": typeT5Encoder}[idx.component(key)]
		if mt == "" {
			mt = "main"
		}
		res.Submodels[key] = SubmodelInfo{Path: key, ModelType: mt}
	}
	return res, nil
}

// probeEncoderFolder recognises InvokeAI's standalone text-encoder folders: text_encoder_2/ (a
// T5EncoderModel) with tokenizer_2/ is a t5_encoder, text_encoder/ (a CLIPTextModel) with tokenizer/ a
// clip_embed. A FLUX pipeline folder holds both, so a type hint picks one of them from it. ok is false when
// the folder is neither.
func probeEncoderFolder(dir string, hints Hints) (*Result, bool, error) {
	t5 := isDir(filepath.Join(dir, "tokenizer_2")) && fileExists(filepath.Join(dir, "text_encoder_2", "config.json"))
	clip := isDir(filepath.Join(dir, "tokenizer")) && fileExists(filepath.Join(dir, "text_encoder", "config.json"))
	switch {
	case t5 && (hints.Type == typeT5Encoder || (hints.Type == "" && !clip)):
		cfg, err := readConfig(filepath.Join(dir, "text_encoder_2", "config.json"))
		if err != nil {
			return nil, false, err
		}
		if !hasArchitecture(cfg, "T5EncoderModel") && cfg.str("model_type") != "t5" {
			return nil, false, fmt.Errorf("%w: text_encoder_2 is not a T5 encoder", ErrUnknownModel)
		}
		return &Result{Type: typeT5Encoder, Format: formatT5Encoder, Base: "any"}, true, nil
	case clip && (hints.Type == typeCLIPEmbed || (hints.Type == "" && !t5)):
		cfg, err := readConfig(filepath.Join(dir, "text_encoder", "config.json"))
		if err != nil {
			return nil, false, err
		}
		variant := "large"
		if w, _ := cfg.num("hidden_size"); w == 1280 || hasArchitecture(cfg, "CLIPTextModelWithProjection") {
			variant = "gigantic"
		} else if !hasArchitecture(cfg, "CLIPTextModel") && cfg.str("model_type") != "clip_text_model" {
			return nil, false, fmt.Errorf("%w: text_encoder is not a CLIP text model", ErrUnknownModel)
		}
		return &Result{Type: typeCLIPEmbed, Format: "diffusers", Base: "any", Variant: variant, RepoVariant: repoVariant(dir)}, true, nil
	}
	return nil, false, nil
}

func hasArchitecture(cfg diffusersConfig, name string) bool {
	arr, _ := cfg["architectures"].([]any)
	for _, a := range arr {
		if s, _ := a.(string); s == name {
			return true
		}
	}
	return false
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
