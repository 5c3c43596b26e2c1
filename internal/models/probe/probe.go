// Package probe identifies model files and folders: base model, type, format, variant and prediction type,
// from safetensors headers, diffusers configs and (for legacy checkpoints) a restricted unpickler. It decides
// by structure — key names, class names, which parts exist — rather than by fixed layer widths, so that small
// test models are recognised like full-size ones. It also computes InvokeAI's content hash.
package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/invokego/invokego/internal/engine/esrgan"
	"github.com/invokego/invokego/internal/engine/ldm"
)

var (
	// ErrUnknownModel means the file or folder is not a model invokego recognises.
	ErrUnknownModel = errors.New("unknown model")
	// ErrInvalidModel means the file is malformed (a bad header, a refused pickle).
	ErrInvalidModel = errors.New("invalid model file")
)

// Hints are what the caller already knows (an install request's ModelRecordChanges). They settle what the
// files leave open, and override what the probe found.
type Hints struct {
	Base, Type, Format, Variant, PredictionType string
}

// Result is what a probe found.
type Result struct {
	Base           string
	Type           string
	Format         string
	Variant        string // "" when the type has none
	PredictionType string // "" when the type has none
	RepoVariant    string // "fp16" or ""
	// ConfigPath is an LDM yaml found beside a single-file checkpoint ("" when none).
	ConfigPath string
	// Submodels lists the component folders of a diffusers pipeline.
	Submodels map[string]SubmodelInfo
	// Name is the model's default name (file stem or folder name).
	Name string
	// FileSize is the total size in bytes.
	FileSize int64
	// Spandrel describes an image-to-image (upscaling) network; nil for other types.
	Spandrel *esrgan.Spec
	// ImageEncoder names the image encoder an IP-Adapter folder asks for ("" otherwise).
	ImageEncoder string
}

// SubmodelInfo is one component folder of a pipeline.
type SubmodelInfo struct {
	Path      string
	ModelType string
}

// Probe identifies the model at path.
func Probe(ctx context.Context, path string, hints Hints) (*Result, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnknownModel, err)
	}
	var res *Result
	if st.IsDir() {
		res, err = probeFolder(ctx, path, hints)
	} else {
		res, err = probeFile(ctx, path, hints)
	}
	if err != nil {
		return nil, err
	}
	applyHints(res, hints)
	if res.Base == "" {
		return nil, fmt.Errorf("%w: cannot tell the base model of this %s; say it in the request (e.g. {\"base\": \"sd-1\"})", ErrUnknownModel, res.Type)
	}
	res.FileSize, err = diskSize(path)
	if err != nil {
		return nil, err
	}
	if res.Name == "" {
		res.Name = modelName(path)
	}
	return res, nil
}

func applyHints(r *Result, h Hints) {
	if h.Base != "" {
		r.Base = h.Base
	}
	if h.Type != "" {
		r.Type = h.Type
	}
	if h.Format != "" {
		r.Format = h.Format
	}
	if h.Variant != "" {
		r.Variant = h.Variant
	}
	if h.PredictionType != "" {
		r.PredictionType = h.PredictionType
	}
}

// modelName is the file stem or the folder name.
func modelName(path string) string {
	base := filepath.Base(filepath.Clean(path))
	if ext := filepath.Ext(base); ext != "" {
		if st, err := os.Stat(path); err == nil && !st.IsDir() {
			return strings.TrimSuffix(base, ext)
		}
	}
	return base
}

// diskSize is a file's size or the total of a folder's files.
func diskSize(path string) (int64, error) {
	var total int64
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	return total, err
}

// --- single files ---

func probeFile(ctx context.Context, path string, hints Hints) (*Result, error) {
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".gguf":
		return probeGGUF(path)
	case ".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin":
	default:
		return nil, fmt.Errorf("%w: %s files are not supported", ErrUnknownModel, ext)
	}
	sd, err := ReadStateDict(ctx, path)
	if err != nil {
		return nil, err
	}
	// An LDM yaml beside a checkpoint describes it; it settles what the tensors leave open.
	yamlPath := strings.TrimSuffix(path, filepath.Ext(path)) + ".yaml"
	// An unreadable yaml settles nothing; identification goes on from the tensors.
	var cfg *ldm.Config
	if fileExists(yamlPath) {
		if c, err := ldm.LoadConfig(yamlPath); err == nil {
			cfg = &c
		}
	}
	if cfg != nil && hints.Base == "" {
		hints.Base = cfg.Base()
	}
	res, err := ClassifyStateDict(sd, hints)
	if err != nil {
		return nil, err
	}
	if res.Spandrel != nil {
		if err := spandrelLoadable(path); err != nil {
			return nil, err
		}
	}
	if res.Type == "main" || res.Type == "controlnet" || res.Type == "vae" {
		res.Format = "checkpoint"
		if cfg != nil {
			res.ConfigPath = yamlPath
			if res.Type == "main" && res.Base == "" {
				res.Base = hints.Base
			}
			if p := cfg.Prediction(); p != "" && res.Type == "main" {
				res.PredictionType = p
			}
		}
	}
	if hints.Base == "" && res.Type == "vae" && res.Base == "" {
		res.Base = baseFromName(path)
	}
	return res, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// baseFromName is InvokeAI's fallback for checkpoints whose architecture is the same across bases (VAEs).
func baseFromName(path string) string {
	n := strings.ToLower(filepath.Base(path))
	if strings.Contains(n, "xl") {
		return "sdxl"
	}
	return "sd-1"
}

// ClassifyStateDict identifies a single-file model from its tensor names and shapes.
func ClassifyStateDict(sd *StateDict, hints Hints) (*Result, error) {
	if len(sd.Shapes) == 0 {
		return nil, fmt.Errorf("%w: the file holds no tensors", ErrUnknownModel)
	}
	switch {
	case isLoRA(sd):
		if isFluxLoRA(sd) {
			return &Result{Type: "lora", Format: "lycoris", Base: "flux"}, nil
		}
		return &Result{Type: "lora", Format: "lycoris", Base: loraBase(sd)}, nil
	case sd.Has("emb_params") || sd.Has("string_to_param.*") || (sd.Has("clip_l") && sd.Has("clip_g")) || isDiffusersEmbedding(sd):
		return &Result{Type: "embedding", Format: "embedding_file", Base: embeddingBase(sd)}, nil
	case sd.HasPrefix("control_model.") || sd.Has("input_hint_block.0.weight") || sd.HasPrefix("controlnet_cond_embedding."):
		return &Result{Type: "controlnet", Base: controlNetCheckpointBase(sd)}, nil
	case isIPAdapter(sd):
		return &Result{Type: typeIPAdapter, Format: "checkpoint", Base: ipAdapterBase(sd)}, nil
	case sd.HasPrefix("double_blocks.") || sd.HasPrefix("model.diffusion_model.double_blocks."):
		return fluxCheckpoint(sd), nil
	case sd.HasPrefix("model.diffusion_model.") || sd.HasPrefix("cond_stage_model.") || sd.HasPrefix("conditioner.embedders."):
		return classifyMainCheckpoint(sd, hints)
	case isVAE(sd):
		if isFluxVAE(sd) {
			return &Result{Type: "vae", Base: "flux"}, nil
		}
		return &Result{Type: "vae"}, nil
	}
	if res, ok, err := spandrelResult(sd); ok {
		return res, err
	}
	return nil, fmt.Errorf("%w: the tensors match no supported model type", ErrUnknownModel)
}

func classifyMainCheckpoint(sd *StateDict, hints Hints) (*Result, error) {
	const unet = "model.diffusion_model."
	if !sd.HasPrefix(unet) {
		return nil, fmt.Errorf("%w: checkpoint has no UNet (model.diffusion_model.*)", ErrUnknownModel)
	}
	res := &Result{Type: "main"}
	hasADM := sd.HasPrefix(unet + "label_emb.")
	switch {
	case hasADM && sd.HasPrefix("conditioner.embedders.1."):
		res.Base = "sdxl" // CLIP-L plus OpenCLIP bigG, and the size/crop embedding
	case hasADM && sd.HasPrefix("conditioner.embedders.0.model."):
		res.Base = "sdxl-refiner" // OpenCLIP bigG alone
	case hasADM:
		res.Base = baseFromContextWidth(sd, "sdxl")
	case sd.HasPrefix("cond_stage_model.model."):
		res.Base = "sd-2" // OpenCLIP ViT-H text encoder
	case sd.HasPrefix("cond_stage_model.transformer."):
		res.Base = "sd-1" // OpenAI CLIP ViT-L text encoder
	default:
		res.Base = baseFromContextWidth(sd, "")
	}
	in := sd.Dim(unet+"input_blocks.0.0.weight", 1)
	switch in {
	case 4:
		res.Variant = "normal"
	case 9:
		res.Variant = "inpaint"
	case 5:
		res.Variant = "depth"
	default:
		return nil, fmt.Errorf("%w: unrecognized UNet input channels %d", ErrUnknownModel, in)
	}
	base := res.Base
	if hints.Base != "" {
		base = hints.Base
	}
	res.PredictionType = "epsilon"
	if base == "sd-2" {
		// SD 2.x 768 models predict v; the 512 "base" model (trained 220k steps) predicts noise.
		res.PredictionType = "v_prediction"
		if sd.Scalars["global_step"] == 220000 {
			res.PredictionType = "epsilon"
		}
	}
	return res, nil
}

// baseFromContextWidth uses the cross-attention width of the first attention layer found, for checkpoints
// whose text encoder is not bundled. Unknown widths leave the base open (fallback).
func baseFromContextWidth(sd *StateDict, fallback string) string {
	for name, shape := range sd.Shapes {
		if strings.HasPrefix(name, "model.diffusion_model.") && strings.HasSuffix(name, "attn2.to_k.weight") && len(shape) == 2 {
			if shape[1] == 1280 {
				return "sdxl-refiner" // OpenCLIP-G alone conditions the refiner
			}
			if base := baseForWidth(shape[1]); base != "" {
				return base
			}
		}
	}
	return fallback
}

// isLoRA recognises the LoRA key layouts the engine reads (package lora): kohya / A1111 lora_down/lora_up,
// PEFT lora_A/lora_B, diffusers 0.21–0.25 lora.down/lora.up (lora_linear_layer), the older
// attention-processor to_q_lora.down, and LyCORIS LoHa / LoKr factors.
func isLoRA(sd *StateDict) bool {
	for k := range sd.Shapes {
		if strings.Contains(k, "lora_down") || strings.Contains(k, "lora_up") || strings.Contains(k, ".lora_A.") ||
			strings.Contains(k, ".lora_B.") || strings.Contains(k, "lora.down.") || strings.Contains(k, "lora.up.") ||
			strings.Contains(k, "_lora.down.") || strings.Contains(k, "lora_linear_layer.") ||
			strings.HasSuffix(k, ".hada_w1_a") || strings.HasSuffix(k, ".lokr_w1") || strings.HasSuffix(k, ".lokr_w1_a") {
			return true
		}
	}
	return false
}

// baseForWidth names the base whose text conditioning has this width: CLIP-L 768 (SD 1), OpenCLIP-H
// 1024 (SD 2), CLIP-L + OpenCLIP-G 2048 (SDXL). Only add-on models (LoRA, ControlNet) are probed this way;
// main models are identified by structure.
func baseForWidth(width int64) string {
	switch width {
	case 768:
		return "sd-1"
	case 1024:
		return "sd-2"
	case 2048:
		return "sdxl"
	}
	return ""
}

// loraBase decides an SD LoRA's base from its structure first: SDXL's two text encoders (lora_te1_/lora_te2_,
// text_encoder_2.) or its original-UNet block names; then from the width of a cross-attention key
// projection's input (768 SD-1, 1024 SD-2, 2048 SDXL, as InvokeAI does); a LoRA that settles neither is an
// SD-1 LoRA (InvokeAI's most common base; the tiny test LoRAs are SD-1-shaped with 32-wide text states). A
// wrong guess is corrected at install or refused at run time: the layers must fit the model's modules.
func loraBase(sd *StateDict) string {
	if sd.HasPrefix("lora_te2_") || sd.HasPrefix("lora_te1_") || sd.HasPrefix("lora_unet_input_blocks_") ||
		sd.HasPrefix("lora_unet_output_blocks_") || sd.HasPrefix("lora_unet_middle_block_") || sd.HasPrefix("text_encoder_2.") {
		return "sdxl"
	}
	for name, shape := range sd.Shapes {
		crossKey := strings.Contains(name, "attn2_to_k") || strings.Contains(name, "attn2.to_k") || strings.Contains(name, "attn2.processor.to_k_lora")
		down := strings.Contains(name, "lora_down") || strings.Contains(name, "lora_A") || strings.Contains(name, "lora.down") ||
			strings.Contains(name, "_lora.down") || strings.HasSuffix(name, "hada_w1_b")
		if crossKey && down && len(shape) == 2 {
			if base := baseForWidth(shape[1]); base != "" {
				return base
			}
		}
	}
	return "sd-1"
}

// embeddingBase is an embedding's base: SDXL's clip_l + clip_g pair, else the vectors' width (1024 SD-2, as
// InvokeAI decides), else SD-1.
func embeddingBase(sd *StateDict) string {
	if sd.Has("clip_l") && sd.Has("clip_g") {
		return "sdxl"
	}
	for _, name := range []string{"emb_params", "string_to_param.*"} {
		if sd.Has(name) {
			if sd.Dim(name, -1) == 1024 {
				return "sd-2"
			}
			return "sd-1"
		}
	}
	for name := range sd.Shapes {
		if sd.Dim(name, -1) == 1024 {
			return "sd-2"
		}
	}
	return "sd-1"
}

// isDiffusersEmbedding recognises diffusers' learned_embeds layout as a single file: one tensor of one or
// a few vectors, named after its token.
func isDiffusersEmbedding(sd *StateDict) bool {
	if len(sd.Shapes) != 1 {
		return false
	}
	for name, shape := range sd.Shapes {
		return strings.HasPrefix(name, "<") && strings.HasSuffix(name, ">") && (len(shape) == 1 || len(shape) == 2)
	}
	return false
}

func controlNetBase(sd *StateDict) string {
	if sd.HasPrefix("add_embedding.") || sd.HasPrefix("control_model.label_emb.") {
		return "sdxl"
	}
	for name, shape := range sd.Shapes {
		if strings.HasSuffix(name, "attn2.to_k.weight") && len(shape) == 2 {
			if base := baseForWidth(shape[1]); base != "" {
				return base
			}
		}
	}
	return ""
}

// isVAE recognises an autoencoder alone, in LDM (encoder.down.N) or diffusers (encoder.down_blocks.N) naming.
func isVAE(sd *StateDict) bool {
	hasEnc := sd.Has("encoder.conv_in.weight") || sd.Has("first_stage_model.encoder.conv_in.weight")
	hasDec := sd.Has("decoder.conv_in.weight") || sd.Has("first_stage_model.decoder.conv_in.weight")
	return hasEnc && hasDec
}

// --- folders ---

type diffusersConfig map[string]any

func readConfig(path string) (diffusersConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	// Read no more than the bound: a huge config.json is refused, not loaded first.
	b, err := io.ReadAll(io.LimitReader(f, 4<<20+1))
	f.Close()
	if err != nil {
		return nil, err
	}
	if len(b) > 4<<20 {
		return nil, fmt.Errorf("%w: %s is too large", ErrInvalidModel, path)
	}
	var c diffusersConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidModel, filepath.Base(path), err)
	}
	return c, nil
}

func (c diffusersConfig) str(key string) string { s, _ := c[key].(string); return s }

func (c diffusersConfig) num(key string) (float64, bool) { f, ok := c[key].(float64); return f, ok }

// component returns the class name of a pipeline component ("" when absent or null).
func (c diffusersConfig) component(key string) string {
	arr, ok := c[key].([]any)
	if !ok || len(arr) != 2 {
		return ""
	}
	s, _ := arr[1].(string)
	return s
}

func probeFolder(ctx context.Context, dir string, hints Hints) (*Result, error) {
	if hints.Type == typeT5Encoder || hints.Type == typeCLIPEmbed {
		if res, ok, err := probeEncoderFolder(dir, hints); ok || err != nil {
			return res, err
		}
	}
	if idx, err := readConfig(filepath.Join(dir, "model_index.json")); err == nil {
		return probePipeline(dir, idx)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if cfg, err := readConfig(filepath.Join(dir, "config.json")); err == nil {
		return probeComponent(dir, cfg)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if res, ok, err := ipAdapterFolder(ctx, dir); ok || err != nil {
		return res, err
	}
	for _, name := range []string{"learned_embeds.safetensors", "learned_embeds.bin"} {
		if fileExists(filepath.Join(dir, name)) {
			sd, err := ReadStateDict(ctx, filepath.Join(dir, name))
			if err != nil {
				return nil, err
			}
			return &Result{Type: "embedding", Format: "embedding_folder", Base: embeddingBase(sd)}, nil
		}
	}
	for _, name := range []string{"pytorch_lora_weights.safetensors", "pytorch_lora_weights.bin"} {
		if fileExists(filepath.Join(dir, name)) {
			sd, err := ReadStateDict(ctx, filepath.Join(dir, name))
			if err != nil {
				return nil, err
			}
			return &Result{Type: "lora", Format: "diffusers", Base: loraBase(sd)}, nil
		}
	}
	if res, ok, err := probeEncoderFolder(dir, hints); ok || err != nil {
		return res, err
	}
	return nil, fmt.Errorf("%w: the folder has no model_index.json or config.json", ErrUnknownModel)
}

var sdPipelines = map[string]bool{
	"StableDiffusionPipeline": true, "StableDiffusionInpaintPipeline": true, "StableDiffusionImg2ImgPipeline": true,
	"LatentConsistencyModelPipeline": true, "StableDiffusionXLPipeline": true, "StableDiffusionXLInpaintPipeline": true,
	"StableDiffusionXLImg2ImgPipeline": true,
}

func probePipeline(dir string, idx diffusersConfig) (*Result, error) {
	class := idx.str("_class_name")
	switch {
	case class == "FluxPipeline" || class == "FluxImg2ImgPipeline" || class == "FluxInpaintPipeline" || class == "FluxFillPipeline":
		return fluxPipeline(dir, idx)
	case strings.HasPrefix(class, "Flux"):
		return nil, fmt.Errorf("%w: pipeline class %q is not supported", ErrUnknownModel, class)
	case !sdPipelines[class]:
		return nil, fmt.Errorf("%w: pipeline class %q is not supported", ErrUnknownModel, class)
	}
	unet, err := readConfig(filepath.Join(dir, "unet", "config.json"))
	if err != nil {
		return nil, fmt.Errorf("%w: pipeline without a readable unet/config.json: %v", ErrInvalidModel, err)
	}
	res := &Result{Type: "main", Format: "diffusers", RepoVariant: repoVariant(dir), Submodels: map[string]SubmodelInfo{}}
	isXL := strings.HasPrefix(class, "StableDiffusionXL") || unet.str("addition_embed_type") == "text_time" ||
		idx.component("text_encoder_2") != ""
	switch {
	case isXL && idx.component("text_encoder") == "" && idx.component("text_encoder_2") != "":
		res.Base = "sdxl-refiner" // the refiner has only the OpenCLIP bigG encoder
	case isXL:
		res.Base = "sdxl"
	default:
		res.Base = sd1or2(dir, unet)
	}
	in, _ := unet.num("in_channels")
	switch in {
	case 4:
		res.Variant = "normal"
	case 9:
		res.Variant = "inpaint"
	case 5:
		res.Variant = "depth"
	default:
		return nil, fmt.Errorf("%w: unrecognized UNet in_channels %v", ErrUnknownModel, in)
	}
	res.PredictionType = "epsilon"
	if sched, err := readConfig(filepath.Join(dir, "scheduler", "scheduler_config.json")); err == nil {
		switch p := sched.str("prediction_type"); p {
		case "", "epsilon":
		case "v_prediction":
			res.PredictionType = "v_prediction"
		default:
			return nil, fmt.Errorf("%w: unrecognized prediction_type %q", ErrUnknownModel, p)
		}
	}
	for key := range idx {
		if strings.HasPrefix(key, "_") {
			continue
		}
		cls := idx.component(key)
		if cls == "" {
			continue
		}
		mt := map[string]string{"UNet2DConditionModel": "main", "AutoencoderKL": "vae", "CLIPTextModel": "clip_embed",
			"CLIPTextModelWithProjection": "clip_embed", "CLIPTokenizer": "main"}[cls]
		if mt == "" {
			mt = "main"
		}
		res.Submodels[key] = SubmodelInfo{Path: key, ModelType: mt}
	}
	return res, nil
}

// sd1or2 tells SD 1.x from SD 2.x for a StableDiffusionPipeline by structure: the cross-attention width of
// real models (768 / 1024), else v-prediction or an OpenCLIP-style text encoder (gelu, as converted from
// OpenCLIP) mean SD 2.x, and anything else is SD 1.x.
func sd1or2(dir string, unet diffusersConfig) string {
	switch w, _ := unet.num("cross_attention_dim"); w {
	case 768:
		return "sd-1"
	case 1024:
		return "sd-2"
	}
	if sched, err := readConfig(filepath.Join(dir, "scheduler", "scheduler_config.json")); err == nil && sched.str("prediction_type") == "v_prediction" {
		return "sd-2"
	}
	if te, err := readConfig(filepath.Join(dir, "text_encoder", "config.json")); err == nil && te.str("hidden_act") == "gelu" {
		return "sd-2"
	}
	return "sd-1"
}

func probeComponent(dir string, cfg diffusersConfig) (*Result, error) {
	switch cfg.str("_class_name") {
	case "AutoencoderKL", "AutoencoderTiny":
		base := "sd-1"
		if lc, _ := cfg.num("latent_channels"); lc == 16 {
			base = "flux"
		} else if sf, ok := cfg.num("scaling_factor"); ok && sf > 0.13 && sf < 0.131 {
			base = "sdxl"
		} else if strings.Contains(strings.ToLower(filepath.Base(dir)+cfg.str("_name_or_path")), "xl") {
			base = "sdxl"
		}
		return &Result{Type: "vae", Format: "diffusers", Base: base, RepoVariant: repoVariant(dir)}, nil
	case "ControlNetModel":
		return &Result{Type: "controlnet", Format: "diffusers", RepoVariant: repoVariant(dir), Base: controlNetFolderBase(cfg)}, nil
	case "T2IAdapter":
		return t2iAdapterFolder(dir, cfg)
	}
	if isCLIPVisionConfig(cfg) {
		return &Result{Type: typeCLIPVision, Format: "diffusers", Base: "any", RepoVariant: repoVariant(dir)}, nil
	}
	return nil, fmt.Errorf("%w: component class %q is not supported", ErrUnknownModel, cfg.str("_class_name"))
}

// repoVariant is "fp16" when the folder's weights are the fp16 variant files (name.fp16.safetensors).
func repoVariant(dir string) string {
	found := ""
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && IsWeightsFile(d.Name()) && strings.Contains(d.Name(), ".fp16.") {
			found = "fp16"
			return filepath.SkipAll
		}
		return nil
	})
	return found
}
