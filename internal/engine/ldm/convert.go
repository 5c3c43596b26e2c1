// Package ldm reads original-layout Stable Diffusion checkpoints: the single .safetensors files of
// CompVis/LDM (SD-1.x, SD-2.x) and SGM (SDXL), whose key names it converts to the diffusers names the
// engine's networks are built from, and the LDM inference yaml that may come beside them.
package ldm

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// Key prefixes of the components inside an original (CompVis/LDM or SGM)
// checkpoint.
const (
	ldmUNetPrefix = "model.diffusion_model."
	ldmVAEPrefix  = "first_stage_model."
	// SD-1: transformers CLIP; SD-2: OpenCLIP (the layer after the
	// penultimate is unused and dropped, as diffusers does).
	ldmCLIPPrefix     = "cond_stage_model.transformer."
	ldmOpenCLIPPrefix = "cond_stage_model.model."
	// SDXL: embedders.0 is transformers CLIP-L, embedders.1 OpenCLIP bigG.
	sgmEmbedderPrefix = "conditioner.embedders."
)

// isLDMModelKey reports whether a single-file key holds weights we convert.
// Schedule buffers (betas, alphas_cumprod, ...), EMA copies, OpenCLIP's
// vision tower and other training state are skipped without being read.
func isLDMModelKey(name string) bool {
	if strings.Contains(name, ".model.visual.") {
		return false
	}
	for _, p := range []string{ldmUNetPrefix, ldmVAEPrefix, ldmCLIPPrefix, ldmOpenCLIPPrefix, sgmEmbedderPrefix} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Components are the diffusers-named state dicts converted from an
// original-layout checkpoint. A component absent from the file is nil.
type Components struct {
	UNet, VAE sd.StateDict
	// TextEncoder is CLIPTextModel; TextEncoder2 is SDXL's
	// CLIPTextModelWithProjection.
	TextEncoder, TextEncoder2 sd.StateDict
	// TextEncoderOpenCLIP and TextEncoder2OpenCLIP record that the weights
	// came from OpenCLIP, whose text towers use GELU rather than QuickGELU.
	TextEncoderOpenCLIP, TextEncoder2OpenCLIP bool
	// SGM records SDXL's (SGM) key layout, seen even where only part of the
	// file was read.
	SGM bool
}

// Convert renames the weights of an original SD checkpoint to
// diffusers names, following the layout rules of diffusers'
// convert_diffusers_to_original_stable_diffusion.py in reverse. The model's
// depth (levels, layers per block) is read from the key structure.
func Convert(ckpt sd.StateDict) (*Components, error) {
	out := &Components{}
	var err error
	if unet := ckpt.WithPrefix(ldmUNetPrefix); len(unet) > 0 {
		if out.UNet, err = convertLDMUNet(unet); err != nil {
			return nil, fmt.Errorf("convert unet: %w", err)
		}
	}
	if vae := ckpt.WithPrefix(ldmVAEPrefix); len(vae) > 0 {
		if out.VAE, err = convertLDMVAE(vae); err != nil {
			return nil, fmt.Errorf("convert vae: %w", err)
		}
	}
	if clip := ckpt.WithPrefix(ldmCLIPPrefix); len(clip) > 0 {
		out.TextEncoder = normalizeCLIPKeys(clip)
	}
	if oc := ckpt.WithPrefix(ldmOpenCLIPPrefix); len(oc) > 0 {
		if out.TextEncoder, err = convertOpenCLIP(oc, true); err != nil {
			return nil, fmt.Errorf("convert text encoder: %w", err)
		}
		out.TextEncoderOpenCLIP = true
	}
	for i := 0; i < 2; i++ {
		p := sgmEmbedderPrefix + strconv.Itoa(i) + "."
		if clip := ckpt.WithPrefix(p + "transformer."); len(clip) > 0 {
			out.TextEncoder = normalizeCLIPKeys(clip)
		}
		if oc := ckpt.WithPrefix(p + "model."); len(oc) > 0 {
			if out.TextEncoder2, err = convertOpenCLIP(oc, false); err != nil {
				return nil, fmt.Errorf("convert text encoder 2: %w", err)
			}
			out.TextEncoder2OpenCLIP = true
		}
	}
	return out, nil
}

// normalizeCLIPKeys drops the position_ids buffer and adds the
// "text_model." prefix that checkpoints saved by older transformers lack.
func normalizeCLIPKeys(in sd.StateDict) sd.StateDict {
	out := sd.StateDict{}
	for k, v := range in {
		if !strings.HasPrefix(k, "text_model.") && k != "text_projection.weight" {
			k = "text_model." + k
		}
		if k != "text_model.embeddings.position_ids" {
			out[k] = v
		}
	}
	return out
}

// convertOpenCLIP maps an OpenCLIP text tower to transformers CLIP names:
// the fused attention in-projection is split into q, k and v, and the
// text projection (applied as x·P in OpenCLIP) is transposed.
func convertOpenCLIP(src sd.StateDict, dropLastLayer bool) (sd.StateDict, error) {
	layers := src.CountIndexed(func(i int) string { return fmt.Sprintf("transformer.resblocks.%d.ln_1.weight", i) })
	if dropLastLayer {
		layers--
	}
	dst := sd.StateDict{}
	for k, v := range src {
		switch {
		case k == "token_embedding.weight":
			dst["text_model.embeddings.token_embedding.weight"] = v
		case k == "positional_embedding":
			dst["text_model.embeddings.position_embedding.weight"] = v
		case strings.HasPrefix(k, "ln_final."):
			dst["text_model.final_layer_norm."+strings.TrimPrefix(k, "ln_final.")] = v
		case k == "text_projection":
			if len(v.Shape) != 2 {
				return nil, fmt.Errorf("text_projection shape %v", v.Shape)
			}
			dst["text_projection.weight"] = transpose2D(v)
		case k == "logit_scale" || k == "attn_mask":
			// Training-only parameters.
		case strings.HasPrefix(k, "transformer.resblocks."):
			rest := strings.TrimPrefix(k, "transformer.resblocks.")
			idx, param, _ := strings.Cut(rest, ".")
			i, err := strconv.Atoi(idx)
			if err != nil {
				return nil, fmt.Errorf("malformed key %q", k)
			}
			if i >= layers {
				continue
			}
			p := fmt.Sprintf("text_model.encoder.layers.%d.", i)
			switch {
			case param == "attn.in_proj_weight" || param == "attn.in_proj_bias":
				if v.Shape[0]%3 != 0 {
					return nil, fmt.Errorf("%s: shape %v", k, v.Shape)
				}
				suffix := ".weight"
				if param == "attn.in_proj_bias" {
					suffix = ".bias"
				}
				part := len(v.Data) / 3
				rows := v.Shape[0] / 3
				for j, name := range []string{"q_proj", "k_proj", "v_proj"} {
					shape := append([]int{rows}, v.Shape[1:]...)
					dst[p+"self_attn."+name+suffix] = &tensor.Tensor{Shape: shape, Data: v.Data[j*part : (j+1)*part]}
				}
			default:
				renamed := map[string]string{
					"ln_1.": "layer_norm1.", "ln_2.": "layer_norm2.", "attn.out_proj.": "self_attn.out_proj.",
					"mlp.c_fc.": "mlp.fc1.", "mlp.c_proj.": "mlp.fc2.",
				}
				found := false
				for from, to := range renamed {
					if r, ok := strings.CutPrefix(param, from); ok {
						dst[p+to+r] = v
						found = true
						break
					}
				}
				if !found {
					return nil, fmt.Errorf("unexpected OpenCLIP key %q", k)
				}
			}
		default:
			return nil, fmt.Errorf("unexpected OpenCLIP key %q", k)
		}
	}
	return dst, nil
}

func transpose2D(t *tensor.Tensor) *tensor.Tensor {
	r, c := t.Shape[0], t.Shape[1]
	out := tensor.New(c, r)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out.Data[j*r+i] = t.Data[i*c+j]
		}
	}
	return out
}

// splitBlockKey parses "<index>.<sub>.<rest>" after a block-list prefix.
func splitBlockKey(key string) (index, sub int, rest string, ok bool) {
	parts := strings.SplitN(key, ".", 3)
	if len(parts) != 3 {
		return 0, 0, "", false
	}
	i, err1 := strconv.Atoi(parts[0])
	j, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || i < 0 || j < 0 {
		return 0, 0, "", false
	}
	return i, j, parts[2], true
}

// ldmResnetNames maps LDM ResBlock parameter prefixes to diffusers ResnetBlock2D ones.
var ldmResnetNames = []struct{ from, to string }{
	{"in_layers.0.", "norm1."}, {"in_layers.2.", "conv1."}, {"emb_layers.1.", "time_emb_proj."},
	{"out_layers.0.", "norm2."}, {"out_layers.3.", "conv2."}, {"skip_connection.", "conv_shortcut."},
}

func renameLDMResnet(rest string) (string, error) {
	for _, m := range ldmResnetNames {
		if r, ok := strings.CutPrefix(rest, m.from); ok {
			return m.to + r, nil
		}
	}
	return "", fmt.Errorf("unknown resblock parameter %q", rest)
}

func convertLDMUNet(src sd.StateDict) (sd.StateDict, error) {
	// Layers per block: the first downsampler ("op") sits at input block L+1.
	maxInput, firstOp := 0, -1
	for k := range src {
		if rest, ok := strings.CutPrefix(k, "input_blocks."); ok {
			n, sub, r, ok := splitBlockKey(rest)
			if !ok {
				return nil, fmt.Errorf("malformed key %q", k)
			}
			maxInput = max(maxInput, n)
			if sub == 0 && strings.HasPrefix(r, "op.") && (firstOp < 0 || n < firstOp) {
				firstOp = n
			}
		}
	}
	perLevel := maxInput // one level: every block after conv_in is a resnet
	if firstOp > 0 {
		perLevel = firstOp // L resnets + 1 downsampler
	} else {
		perLevel = maxInput + 1
	}
	if perLevel < 2 {
		return nil, fmt.Errorf("cannot infer layers per block (input blocks up to %d)", maxInput)
	}
	layers := perLevel - 1
	dst := sd.StateDict{}
	for k, v := range src {
		name, err := ldmUNetKey(k, layers)
		if err != nil {
			return nil, err
		}
		if _, dup := dst[name]; dup {
			return nil, fmt.Errorf("keys map to the same name %q", name)
		}
		dst[name] = v
	}
	return dst, nil
}

func ldmUNetKey(k string, layers int) (string, error) {
	simple := []struct{ from, to string }{
		{"time_embed.0.", "time_embedding.linear_1."}, {"time_embed.2.", "time_embedding.linear_2."},
		{"label_emb.0.0.", "add_embedding.linear_1."}, {"label_emb.0.2.", "add_embedding.linear_2."},
		{"input_blocks.0.0.", "conv_in."}, {"out.0.", "conv_norm_out."}, {"out.2.", "conv_out."},
	}
	for _, m := range simple {
		if r, ok := strings.CutPrefix(k, m.from); ok {
			return m.to + r, nil
		}
	}
	per := layers + 1
	if rest, ok := strings.CutPrefix(k, "input_blocks."); ok {
		n, sub, r, _ := splitBlockKey(rest)
		level, j := (n-1)/per, (n-1)%per
		prefix := fmt.Sprintf("down_blocks.%d.", level)
		switch {
		case j == layers && sub == 0:
			if r2, ok := strings.CutPrefix(r, "op."); ok {
				return prefix + "downsamplers.0.conv." + r2, nil
			}
		case sub == 0:
			rn, err := renameLDMResnet(r)
			if err != nil {
				return "", fmt.Errorf("%s: %w", k, err)
			}
			return fmt.Sprintf("%sresnets.%d.%s", prefix, j, rn), nil
		case sub == 1:
			return fmt.Sprintf("%sattentions.%d.%s", prefix, j, r), nil
		}
		return "", fmt.Errorf("unexpected unet key %q", k)
	}
	if rest, ok := strings.CutPrefix(k, "middle_block."); ok {
		parts := strings.SplitN(rest, ".", 2)
		if len(parts) == 2 {
			switch parts[0] {
			case "0", "2":
				rn, err := renameLDMResnet(parts[1])
				if err != nil {
					return "", fmt.Errorf("%s: %w", k, err)
				}
				idx := map[string]string{"0": "0", "2": "1"}[parts[0]]
				return "mid_block.resnets." + idx + "." + rn, nil
			case "1":
				return "mid_block.attentions.0." + parts[1], nil
			}
		}
		return "", fmt.Errorf("unexpected unet key %q", k)
	}
	if rest, ok := strings.CutPrefix(k, "output_blocks."); ok {
		n, sub, r, okSplit := splitBlockKey(rest)
		if !okSplit {
			return "", fmt.Errorf("malformed key %q", k)
		}
		level, j := n/per, n%per
		prefix := fmt.Sprintf("up_blocks.%d.", level)
		switch {
		case sub == 0:
			rn, err := renameLDMResnet(r)
			if err != nil {
				return "", fmt.Errorf("%s: %w", k, err)
			}
			return fmt.Sprintf("%sresnets.%d.%s", prefix, j, rn), nil
		case (sub == 1 || sub == 2) && strings.HasPrefix(r, "conv.") && j == layers:
			return prefix + "upsamplers.0." + r, nil
		case sub == 1:
			return fmt.Sprintf("%sattentions.%d.%s", prefix, j, r), nil
		}
		return "", fmt.Errorf("unexpected unet key %q", k)
	}
	return "", fmt.Errorf("unexpected unet key %q", k)
}

// ConvertVAE renames the weights of an LDM-layout VAE (encoder.down.N…,
// as in FLUX's ae.safetensors, without a first_stage_model. prefix) to
// diffusers' AutoencoderKL names.
func ConvertVAE(src sd.StateDict) (sd.StateDict, error) { return convertLDMVAE(src) }

func convertLDMVAE(src sd.StateDict) (sd.StateDict, error) {
	// Decoder levels are numbered in reverse in LDM ("up.0" is the last).
	upLevels := 0
	for k := range src {
		if rest, ok := strings.CutPrefix(k, "decoder.up."); ok {
			n, err := strconv.Atoi(strings.SplitN(rest, ".", 2)[0])
			if err != nil {
				return nil, fmt.Errorf("malformed key %q", k)
			}
			upLevels = max(upLevels, n+1)
		}
	}
	dst := sd.StateDict{}
	for k, v := range src {
		name, err := ldmVAEKey(k, upLevels)
		if err != nil {
			return nil, err
		}
		// LDM stores the mid-block attention projections as 1×1 convolutions.
		if strings.Contains(name, "mid_block.attentions.0.to_") && strings.HasSuffix(name, ".weight") && len(v.Shape) == 4 {
			v = v.Reshape(v.Shape[0], v.Shape[1]*v.Shape[2]*v.Shape[3])
		}
		if _, dup := dst[name]; dup {
			return nil, fmt.Errorf("keys map to the same name %q", name)
		}
		dst[name] = v
	}
	return dst, nil
}

func renameVAEResnet(rest string) string {
	if r, ok := strings.CutPrefix(rest, "nin_shortcut."); ok {
		return "conv_shortcut." + r
	}
	return rest
}

func ldmVAEKey(k string, upLevels int) (string, error) {
	for _, part := range []string{"encoder.", "decoder."} {
		rest, ok := strings.CutPrefix(k, part)
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(rest, "conv_in.") || strings.HasPrefix(rest, "conv_out."):
			return k, nil
		case strings.HasPrefix(rest, "norm_out."):
			return part + "conv_norm_out." + strings.TrimPrefix(rest, "norm_out."), nil
		case strings.HasPrefix(rest, "mid.block_1."):
			return part + "mid_block.resnets.0." + renameVAEResnet(strings.TrimPrefix(rest, "mid.block_1.")), nil
		case strings.HasPrefix(rest, "mid.block_2."):
			return part + "mid_block.resnets.1." + renameVAEResnet(strings.TrimPrefix(rest, "mid.block_2.")), nil
		case strings.HasPrefix(rest, "mid.attn_1."):
			r := strings.TrimPrefix(rest, "mid.attn_1.")
			for _, m := range []struct{ from, to string }{{"norm.", "group_norm."}, {"q.", "to_q."}, {"k.", "to_k."}, {"v.", "to_v."}, {"proj_out.", "to_out.0."}} {
				if r2, ok := strings.CutPrefix(r, m.from); ok {
					return part + "mid_block.attentions.0." + m.to + r2, nil
				}
			}
		case strings.HasPrefix(rest, "down.") || strings.HasPrefix(rest, "up."):
			isDown := strings.HasPrefix(rest, "down.")
			parts := strings.SplitN(rest, ".", 4) // down, i, block|downsample, ...
			if len(parts) < 4 {
				break
			}
			level, err := strconv.Atoi(parts[1])
			if err != nil {
				break
			}
			blocks := "down_blocks"
			if !isDown {
				blocks, level = "up_blocks", upLevels-1-level
			}
			prefix := fmt.Sprintf("%s%s.%d.", part, blocks, level)
			switch parts[2] {
			case "block":
				jr := strings.SplitN(parts[3], ".", 2)
				if len(jr) == 2 {
					return prefix + "resnets." + jr[0] + "." + renameVAEResnet(jr[1]), nil
				}
			case "downsample":
				return prefix + "downsamplers.0." + parts[3], nil
			case "upsample":
				return prefix + "upsamplers.0." + parts[3], nil
			}
		}
		return "", fmt.Errorf("unexpected vae key %q", k)
	}
	if strings.HasPrefix(k, "quant_conv.") || strings.HasPrefix(k, "post_quant_conv.") {
		return k, nil
	}
	return "", fmt.Errorf("unexpected vae key %q", k)
}
