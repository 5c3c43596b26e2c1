package fluxnode

import (
	"encoding/json"

	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/nodes/diffusion"
)

// DenoiseMeta is flux_denoise_meta: flux_denoise, then its parameters added to the incoming metadata as
// InvokeAI adds them.
type DenoiseMeta struct {
	Denoise
	nodes.WithMetadata
}

// NodeInfo implements nodes.Node.
func (*DenoiseMeta) NodeInfo() nodes.Info {
	return nodes.Info{Type: "flux_denoise_meta", Class: "FluxDenoiseLatentsMetaInvocation", Title: "FLUX Denoise + Metadata",
		Description: "Run denoising process with a FLUX transformer model + metadata.",
		Tags:        []string{"flux", "latents", "denoise", "txt2img", "t2i", "t2l", "img2img", "i2i", "l2l"},
		Category:    "latents", Version: "1.0.1", Output: diffusion.LatentsMetaOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *DenoiseMeta) Invoke(ctx nodes.Context) (nodes.Output, error) {
	res, err := n.Denoise.Invoke(ctx)
	if err != nil {
		return nil, err
	}
	out := res.(diffusion.LatentsOutput)
	md := nodes.MetadataField{}
	if n.Metadata != nil {
		for k, v := range *n.Metadata {
			md[k] = v
		}
	}
	md["width"], md["height"] = out.Width, out.Height
	md["steps"] = n.NumSteps
	md["guidance"] = n.Guidance
	md["denoising_start"], md["denoising_end"] = n.DenoisingStart, n.DenoisingEnd
	md["model"] = plainJSON(n.Transformer.Transformer)
	md["seed"] = n.Seed
	if len(n.CFGScale) == 1 {
		md["cfg_scale"] = n.CFGScale[0]
	} else {
		md["cfg_scale"] = n.CFGScale
	}
	md["cfg_scale_start_step"], md["cfg_scale_end_step"] = n.CFGScaleStartStep, n.CFGScaleEndStep
	if len(n.Transformer.LoRAs) > 0 {
		loras := make([]any, len(n.Transformer.LoRAs))
		for i, l := range n.Transformer.LoRAs {
			loras[i] = map[string]any{"model": plainJSON(l.LoRA), "weight": l.Weight}
		}
		md["loras"] = loras
	}
	return diffusion.LatentsMetaOutput{Metadata: md, Latents: out.Latents, Width: out.Width, Height: out.Height}, nil
}

// plainJSON is v as a JSON value without its null members (pydantic's model_dump(exclude_none=True)).
func plainJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	for k, x := range m {
		if x == nil {
			delete(m, k)
		}
	}
	return m
}
