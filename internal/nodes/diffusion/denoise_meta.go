package diffusion

import (
	"encoding/json"

	"github.com/invokego/invokego/internal/nodes"
)

// LatentsMetaOutput is latents_meta_output: denoised latents and the metadata describing them.
type LatentsMetaOutput struct {
	Metadata nodes.MetadataField `json:"metadata" description:"Metadata Dict"`
	Latents  LatentsField        `json:"latents" description:"Latents tensor"`
	Width    int                 `json:"width" description:"Width of output (px)"`
	Height   int                 `json:"height" description:"Height of output (px)"`
}

// OutputType implements nodes.Output.
func (LatentsMetaOutput) OutputType() string { return "latents_meta_output" }

// DenoiseLatentsMeta is denoise_latents_meta: denoise_latents, then its parameters added to the incoming
// metadata as InvokeAI adds them.
type DenoiseLatentsMeta struct {
	DenoiseLatents
	nodes.WithMetadata
}

// NodeInfo implements nodes.Node.
func (*DenoiseLatentsMeta) NodeInfo() nodes.Info {
	return nodes.Info{Type: "denoise_latents_meta", Title: "Denoise - SD1.5, SDXL + Metadata",
		Tags:     []string{"latents", "denoise", "txt2img", "t2i", "t2l", "img2img", "i2i", "l2l"},
		Category: "latents", Version: "1.1.1", Output: LatentsMetaOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *DenoiseLatentsMeta) Invoke(ctx nodes.Context) (nodes.Output, error) {
	res, err := n.DenoiseLatents.Invoke(ctx)
	if err != nil {
		return nil, err
	}
	out := res.(LatentsOutput)
	md := nodes.MetadataField{}
	if n.Metadata != nil {
		for k, v := range *n.Metadata {
			md[k] = v
		}
	}
	md["width"] = out.Width
	md["height"] = out.Height
	md["steps"] = n.Steps
	if len(n.CFGScale) == 1 {
		md["cfg_scale"] = n.CFGScale[0]
	} else {
		md["cfg_scale"] = n.CFGScale
	}
	md["cfg_rescale_multiplier"] = n.CFGRescaleMultiplier
	md["denoising_start"] = n.DenoisingStart
	md["denoising_end"] = n.DenoisingEnd
	md["scheduler"] = string(n.Scheduler)
	md["model"] = withoutNulls(n.UNet.UNet)
	if len(n.Control) > 0 {
		md["controlnets"] = withoutNulls(n.Control)
	}
	if len(n.IPAdapter) > 0 {
		md["ipAdapters"] = withoutNulls(n.IPAdapter)
	}
	if len(n.T2IAdapter) > 0 {
		md["t2iAdapters"] = withoutNulls(n.T2IAdapter)
	}
	if len(n.UNet.LoRAs) > 0 {
		loras := make([]any, len(n.UNet.LoRAs))
		for i, l := range n.UNet.LoRAs {
			loras[i] = map[string]any{"model": withoutNulls(l.LoRA), "weight": l.Weight}
		}
		md["loras"] = loras
	}
	if n.Noise != nil {
		md["seed"] = n.Noise.Seed
	}
	return LatentsMetaOutput{Metadata: md, Latents: out.Latents, Width: out.Width, Height: out.Height}, nil
}

// withoutNulls is v as JSON with null members dropped, as pydantic's model_dump(exclude_none=True).
func withoutNulls(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		return nil
	}
	return dropNulls(x)
}

func dropNulls(x any) any {
	switch t := x.(type) {
	case map[string]any:
		for k, v := range t {
			if v == nil {
				delete(t, k)
			} else {
				t[k] = dropNulls(v)
			}
		}
	case []any:
		for i, v := range t {
			t[i] = dropNulls(v)
		}
	}
	return x
}
