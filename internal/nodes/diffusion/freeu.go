package diffusion

import (
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/nodes"
)

// FreeUConfig is InvokeAI's FreeUConfig, carried on a UNetField to denoise_latents, which applies it per call
// (sd.FreeU).
type FreeUConfig struct {
	S1 float64 `json:"s1" ge:"-1" le:"3" description:"Scaling factor for stage 1 to attenuate the contributions of the skip features. This is done to mitigate the \"oversmoothing effect\" in the enhanced denoising process."`
	S2 float64 `json:"s2" ge:"-1" le:"3" description:"Scaling factor for stage 2 to attenuate the contributions of the skip features. This is done to mitigate the \"oversmoothing effect\" in the enhanced denoising process."`
	B1 float64 `json:"b1" ge:"-1" le:"3" description:"Scaling factor for stage 1 to amplify the contributions of backbone features."`
	B2 float64 `json:"b2" ge:"-1" le:"3" description:"Scaling factor for stage 2 to amplify the contributions of backbone features."`
}

// FieldTypeName implements nodes.TypeNamer.
func (FreeUConfig) FieldTypeName() string { return "FreeUConfig" }

// engine is the engine's per-call FreeU, nil without a config.
func (c *FreeUConfig) engine() *sd.FreeU {
	if c == nil {
		return nil
	}
	return &sd.FreeU{B1: float32(c.B1), B2: float32(c.B2), S1: float32(c.S1), S2: float32(c.S2)}
}

// UNetOutput is unet_output.
type UNetOutput struct {
	UNet UNetField `json:"unet" title:"UNet" description:"UNet (scheduler, LoRAs)"`
}

// OutputType implements nodes.Output.
func (UNetOutput) OutputType() string { return "unet_output" }

// FreeU is freeu: it sets the UNet's FreeU factors for the denoising that uses it.
type FreeU struct {
	UNet UNetField `json:"unet" input:"connection" title:"UNet" description:"UNet (scheduler, LoRAs)"`
	B1   float64   `json:"b1" default:"1.2" ge:"-1" le:"3" description:"Scaling factor for stage 1 to amplify the contributions of backbone features."`
	B2   float64   `json:"b2" default:"1.4" ge:"-1" le:"3" description:"Scaling factor for stage 2 to amplify the contributions of backbone features."`
	S1   float64   `json:"s1" default:"0.9" ge:"-1" le:"3" description:"Scaling factor for stage 1 to attenuate the contributions of the skip features. This is done to mitigate the \"oversmoothing effect\" in the enhanced denoising process."`
	S2   float64   `json:"s2" default:"0.2" ge:"-1" le:"3" description:"Scaling factor for stage 2 to attenuate the contributions of the skip features. This is done to mitigate the \"oversmoothing effect\" in the enhanced denoising process."`
}

// NodeInfo implements nodes.Node.
func (*FreeU) NodeInfo() nodes.Info {
	return nodes.Info{Type: "freeu", Class: "FreeUInvocation", Title: "Apply FreeU - SD1.5, SDXL",
		Description: "Applies FreeU to the UNet. Suggested values (b1/b2/s1/s2):\n\nSD1.5: 1.2/1.4/0.9/0.2,\nSD2: 1.1/1.2/0.9/0.2,\nSDXL: 1.1/1.2/0.6/0.4,",
		Tags:        []string{"freeu"}, Category: "unet", Version: "1.0.2", Output: UNetOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *FreeU) Invoke(nodes.Context) (nodes.Output, error) {
	u := n.UNet
	u.FreeUConfig = &FreeUConfig{S1: n.S1, S2: n.S2, B1: n.B1, B2: n.B2}
	return UNetOutput{u}, nil
}
