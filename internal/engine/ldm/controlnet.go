package ldm

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/invokego/invokego/internal/engine/sd"
)

// IsControlNet reports whether original-layout weights are a ControlNet (lllyasviel's layout, with or
// without the "control_model." prefix): they have the hint block that embeds the control image.
func IsControlNet(names []string) bool {
	for _, n := range names {
		n = strings.TrimPrefix(n, "control_model.")
		if strings.HasPrefix(n, "input_hint_block.") {
			return true
		}
	}
	return false
}

// ConvertControlNet renames an original-layout ControlNet to diffusers' ControlNetModel names. Its encoder
// follows the UNet's LDM layout; the control parts map as
//
//	input_hint_block.0            controlnet_cond_embedding.conv_in
//	input_hint_block.(2k+2)       controlnet_cond_embedding.blocks.k
//	input_hint_block.<last>       controlnet_cond_embedding.conv_out
//	zero_convs.i.0                controlnet_down_blocks.i
//	middle_block_out.0            controlnet_mid_block
//
// (the hint block interleaves SiLUs, which hold no weights, with its convolutions).
func ConvertControlNet(ckpt sd.StateDict) (sd.StateDict, error) {
	unet := sd.StateDict{}
	out := sd.StateDict{}
	hintLast := -1
	for k := range ckpt {
		name := strings.TrimPrefix(k, "control_model.")
		if rest, ok := strings.CutPrefix(name, "input_hint_block."); ok {
			idx, _, ok := strings.Cut(rest, ".")
			i, err := strconv.Atoi(idx)
			if !ok || err != nil || i < 0 || i%2 != 0 {
				return nil, fmt.Errorf("unexpected controlnet key %q", k)
			}
			hintLast = max(hintLast, i)
		}
	}
	for k, v := range ckpt {
		name := strings.TrimPrefix(k, "control_model.")
		switch {
		case strings.HasPrefix(name, "input_hint_block."):
			rest := strings.TrimPrefix(name, "input_hint_block.")
			idx, param, _ := strings.Cut(rest, ".")
			i, _ := strconv.Atoi(idx)
			switch {
			case i == 0:
				out["controlnet_cond_embedding.conv_in."+param] = v
			case i == hintLast:
				out["controlnet_cond_embedding.conv_out."+param] = v
			default:
				out["controlnet_cond_embedding.blocks."+strconv.Itoa((i-2)/2)+"."+param] = v
			}
		case strings.HasPrefix(name, "zero_convs."):
			idx, rest, ok := strings.Cut(strings.TrimPrefix(name, "zero_convs."), ".")
			param, ok2 := strings.CutPrefix(rest, "0.")
			if _, err := strconv.Atoi(idx); err != nil || !ok || !ok2 {
				return nil, fmt.Errorf("unexpected controlnet key %q", k)
			}
			out["controlnet_down_blocks."+idx+"."+param] = v
		case strings.HasPrefix(name, "middle_block_out.0."):
			out["controlnet_mid_block."+strings.TrimPrefix(name, "middle_block_out.0.")] = v
		default:
			unet[name] = v
		}
	}
	if hintLast < 2 {
		return nil, fmt.Errorf("controlnet: no conditioning embedding (input_hint_block)")
	}
	converted, err := convertLDMUNet(unet)
	if err != nil {
		return nil, fmt.Errorf("convert controlnet: %w", err)
	}
	for k, v := range converted {
		out[k] = v
	}
	return out, nil
}
