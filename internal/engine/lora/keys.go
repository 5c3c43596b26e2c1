package lora

import (
	"fmt"
	"strings"
)

// tensorKey is what a tensor name says: which network, which module (in the
// file's naming), which part of the layer, and in which layout.
type tensorKey struct {
	comp   Component
	module string
	suffix string // "up", "down", "alpha", "hada_w1_a", "lokr_w2_b", …
	format Format
}

// kohyaPrefixes maps kohya stem prefixes to networks; lora_te1_ and
// lora_te2_ are SDXL's two encoders, lora_te_ the single one of SD-1/2.
var kohyaPrefixes = []struct {
	prefix string
	comp   Component
}{
	{"lora_unet_", UNet},
	{"lora_te1_", TextEncoder},
	{"lora_te2_", TextEncoder2},
	{"lora_te_", TextEncoder},
}

// kohyaSuffixes maps the part after the stem to a parameter.
var kohyaSuffixes = map[string]string{
	"lora_down.weight": "down", "lora_up.weight": "up", "alpha": "alpha",
	"hada_w1_a": "hada_w1_a", "hada_w1_b": "hada_w1_b", "hada_w2_a": "hada_w2_a", "hada_w2_b": "hada_w2_b",
	"lokr_w1": "lokr_w1", "lokr_w1_a": "lokr_w1_a", "lokr_w1_b": "lokr_w1_b",
	"lokr_w2": "lokr_w2", "lokr_w2_a": "lokr_w2_a", "lokr_w2_b": "lokr_w2_b",
}

// unsupportedSuffixes are real adapter variants this package refuses by
// name rather than misreading.
var unsupportedSuffixes = map[string]string{
	"lora_mid.weight": "Tucker-decomposed LoCon (lora_mid)",
	"hada_t1":         "Tucker-decomposed LoHa (hada_t1)",
	"hada_t2":         "Tucker-decomposed LoHa (hada_t2)",
	"lokr_t2":         "Tucker-decomposed LoKr (lokr_t2)",
	"dora_scale":      "DoRA (dora_scale)",
	"diff":            "full weight differences (diff)",
	"diff_b":          "full bias differences (diff_b)",
	"on_input":        "(IA)³ (on_input)",
	"weight":          "(IA)³ (weight)",
	"w_norm":          "norm adapters (w_norm)",
	"b_norm":          "norm adapters (b_norm)",
	"bias_indices":    "LyCORIS bias adapters (bias_indices)",
	"bias_values":     "LyCORIS bias adapters (bias_values)",
	"bias_size":       "LyCORIS bias adapters (bias_size)",
}

// componentPrefixes name the networks in the diffusers and PEFT layouts.
var componentPrefixes = []struct {
	prefix string
	comp   Component
}{
	{"unet.", UNet},
	{"text_encoder_2.", TextEncoder2},
	{"text_encoder.", TextEncoder},
}

// oldProcessorProjections maps the attention-processor names of diffusers ≤
// 0.20 to module names: UNet attention (diffusers names) and the text
// encoder's self-attention (transformers names).
var oldProcessorProjections = map[string][2]string{
	"to_q_lora":   {"to_q", "q_proj"},
	"to_k_lora":   {"to_k", "k_proj"},
	"to_v_lora":   {"to_v", "v_proj"},
	"to_out_lora": {"to_out.0", "out_proj"},
}

// classify reads one tensor name.
func classify(name string) (tensorKey, error) {
	for _, p := range kohyaPrefixes {
		if !strings.HasPrefix(name, p.prefix) {
			continue
		}
		stem, suffix, ok := strings.Cut(name, ".")
		if !ok || len(stem) == len(p.prefix) {
			break
		}
		if s, ok := kohyaSuffixes[suffix]; ok {
			return tensorKey{comp: p.comp, module: stem[len(p.prefix):], suffix: s, format: FormatKohya}, nil
		}
		if what, ok := unsupportedSuffixes[suffix]; ok {
			return tensorKey{}, fmt.Errorf("%s is not supported (tensor %q)", what, name)
		}
		return tensorKey{}, fmt.Errorf("unrecognised tensor %q", name)
	}
	comp, rest, prefixed := UNet, name, false
	for _, p := range componentPrefixes {
		if r, ok := strings.CutPrefix(name, p.prefix); ok {
			comp, rest, prefixed = p.comp, r, true
			break
		}
	}
	if !prefixed {
		// PEFT's own adapter files nest the model under base_model.model.
		if r, ok := strings.CutPrefix(name, "base_model.model."); ok {
			rest = r
			if strings.HasPrefix(r, "text_model.") {
				comp = TextEncoder
			}
		}
	}
	switch {
	case strings.HasSuffix(rest, ".lora_A.weight"):
		return tensorKey{comp: comp, module: strings.TrimSuffix(rest, ".lora_A.weight"), suffix: "down", format: FormatPEFT}, nil
	case strings.HasSuffix(rest, ".lora_B.weight"):
		return tensorKey{comp: comp, module: strings.TrimSuffix(rest, ".lora_B.weight"), suffix: "up", format: FormatPEFT}, nil
	}
	for _, part := range []string{".lora.", ".lora_linear_layer."} {
		for _, s := range []string{"down", "up"} {
			if m, ok := strings.CutSuffix(rest, part+s+".weight"); ok {
				return tensorKey{comp: comp, module: m, suffix: s, format: FormatDiffusers}, nil
			}
		}
	}
	for proj, mods := range oldProcessorProjections {
		for _, s := range []string{"down", "up"} {
			tail := "." + proj + "." + s + ".weight"
			m, ok := strings.CutSuffix(rest, tail)
			if !ok {
				continue
			}
			if p, isUNet := strings.CutSuffix(m, ".processor"); isUNet && comp != TextEncoder && comp != TextEncoder2 {
				return tensorKey{comp: UNet, module: p + "." + mods[0], suffix: s, format: FormatDiffusersOld}, nil
			}
			if prefixed && comp != UNet {
				return tensorKey{comp: comp, module: m + "." + mods[1], suffix: s, format: FormatDiffusersOld}, nil
			}
		}
	}
	if m, ok := strings.CutSuffix(rest, ".alpha"); ok && prefixed {
		return tensorKey{comp: comp, module: m, suffix: "alpha", format: FormatPEFT}, nil
	}
	return tensorKey{}, fmt.Errorf("unrecognised tensor %q", name)
}
