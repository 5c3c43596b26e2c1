package sd

import "fmt"

// UNetHeads says how attention heads are chosen, which weight shapes cannot
// reveal: a fixed number of heads per block (SD-1 style num_heads) or a fixed
// head width (SD-2/SDXL style num_head_channels). Zero values mean "guess
// from the context width".
type UNetHeads struct {
	NumHeads        int
	NumHeadChannels int
}

// InferUNetConfig derives a UNet config from diffusers-named weights.
// addTimeEmbedDim is SDXL's addition_time_embed_dim (0 means 256, SDXL's value).
func InferUNetConfig(sd StateDict, heads UNetHeads, addTimeEmbedDim int) (UNetConfig, error) {
	c := DefaultUNetConfig()
	r := newWeightReader(sd)
	convIn := r.shape("conv_in.weight")
	if r.err != nil {
		return c, r.err
	}
	if len(convIn) != 4 {
		return c, fmt.Errorf("infer unet config: conv_in weight shape %v", convIn)
	}
	c.InChannels, c.OutChannels = convIn[1], convIn[1]
	// A ControlNet is a UNet encoder: it has no conv_out.
	if convOut, ok := sd["conv_out.weight"]; ok && len(convOut.Shape) == 4 {
		c.OutChannels = convOut.Shape[0]
	}
	levels := sd.CountIndexed(func(i int) string { return fmt.Sprintf("down_blocks.%d.resnets.0.conv1.weight", i) })
	if levels == 0 {
		return c, fmt.Errorf("infer unet config: no down blocks")
	}
	c.LayersPerBlock = sd.CountIndexed(func(i int) string { return fmt.Sprintf("down_blocks.0.resnets.%d.conv1.weight", i) })
	c.BlockOutChannels = make([]int, levels)
	c.DownBlockTypes = make([]string, levels)
	c.UpBlockTypes = make([]string, levels)
	c.TransformerLayersPerBlock = make(intList, levels)
	c.CrossAttentionDim = 0
	for i := 0; i < levels; i++ {
		c.BlockOutChannels[i] = r.shape(fmt.Sprintf("down_blocks.%d.resnets.0.conv1.weight", i))[0]
		c.DownBlockTypes[i] = "DownBlock2D"
		c.TransformerLayersPerBlock[i] = 1
		attn := fmt.Sprintf("down_blocks.%d.attentions.0.", i)
		if _, ok := sd[attn+"norm.weight"]; ok {
			c.DownBlockTypes[i] = "CrossAttnDownBlock2D"
			c.TransformerLayersPerBlock[i] = sd.CountIndexed(func(j int) string { return fmt.Sprintf("%stransformer_blocks.%d.norm1.weight", attn, j) })
			if s, ok := sd[attn+"transformer_blocks.0.attn2.to_k.weight"]; ok && c.CrossAttentionDim == 0 {
				c.CrossAttentionDim = s.Shape[1]
			}
			c.UseLinearProjection = len(sd[attn+"proj_in.weight"].Shape) == 2
		}
		c.UpBlockTypes[i] = "UpBlock2D"
		if _, ok := sd[fmt.Sprintf("up_blocks.%d.attentions.0.norm.weight", i)]; ok {
			c.UpBlockTypes[i] = "CrossAttnUpBlock2D"
		}
	}
	if s, ok := sd["mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight"]; ok && c.CrossAttentionDim == 0 {
		c.CrossAttentionDim = s.Shape[1]
	}
	if s, ok := sd["add_embedding.linear_1.weight"]; ok {
		c.AdditionEmbedType = "text_time"
		c.ProjectionClassEmbeddingsInputDim = s.Shape[1]
		c.AdditionTimeEmbedDim = addTimeEmbedDim
		if c.AdditionTimeEmbedDim == 0 {
			c.AdditionTimeEmbedDim = 256
		}
	}
	if heads.NumHeads == 0 && heads.NumHeadChannels == 0 {
		// SD-1 uses 8 heads; SD-2 and SDXL (wider contexts) use 64-wide heads.
		if c.CrossAttentionDim >= 1024 {
			heads.NumHeadChannels = 64
		} else {
			heads.NumHeads = 8
		}
	}
	perBlock := make(intList, levels)
	for i, ch := range c.BlockOutChannels {
		if heads.NumHeadChannels > 0 {
			perBlock[i] = max(1, ch/heads.NumHeadChannels)
		} else {
			perBlock[i] = heads.NumHeads
		}
	}
	c.AttentionHeadDim = perBlock
	return c, c.Normalize()
}

// InferVAEConfig derives an AutoencoderKL config from diffusers-named weights.
func InferVAEConfig(sd StateDict, scalingFactor float32) (VAEConfig, error) {
	c := DefaultVAEConfig()
	levels := sd.CountIndexed(func(i int) string { return fmt.Sprintf("encoder.down_blocks.%d.resnets.0.conv1.weight", i) })
	if levels == 0 {
		return c, fmt.Errorf("infer vae config: no encoder blocks")
	}
	c.BlockOutChannels = make([]int, levels)
	for i := range c.BlockOutChannels {
		c.BlockOutChannels[i] = sd[fmt.Sprintf("encoder.down_blocks.%d.resnets.0.conv1.weight", i)].Shape[0]
	}
	c.LayersPerBlock = sd.CountIndexed(func(i int) string { return fmt.Sprintf("encoder.down_blocks.0.resnets.%d.conv1.weight", i) })
	if w, ok := sd["decoder.conv_in.weight"]; ok {
		c.LatentChannels = w.Shape[1]
	}
	if w, ok := sd["encoder.conv_in.weight"]; ok {
		c.InChannels = w.Shape[1]
	}
	if w, ok := sd["decoder.conv_out.weight"]; ok {
		c.OutChannels = w.Shape[0]
	}
	if scalingFactor != 0 {
		c.ScalingFactor = scalingFactor
	}
	return c, nil
}

// InferCLIPTextConfig derives a CLIP text config from transformers-named
// weights. Head count cannot be seen in the shapes; CLIP models use 64-wide
// heads, so hidden/64 is assumed (pass a config when that is wrong).
func InferCLIPTextConfig(sd StateDict) (CLIPTextConfig, error) {
	tok, ok1 := sd["text_model.embeddings.token_embedding.weight"]
	pos, ok2 := sd["text_model.embeddings.position_embedding.weight"]
	fc1, ok3 := sd["text_model.encoder.layers.0.mlp.fc1.weight"]
	if !ok1 || !ok2 || !ok3 {
		return CLIPTextConfig{}, fmt.Errorf("infer clip config: embeddings or first layer missing")
	}
	hidden := tok.Shape[1]
	c := CLIPTextConfig{
		VocabSize: tok.Shape[0], HiddenSize: hidden, IntermediateSize: fc1.Shape[0],
		NumHiddenLayers:       sd.CountIndexed(func(i int) string { return fmt.Sprintf("text_model.encoder.layers.%d.mlp.fc1.weight", i) }),
		NumAttentionHeads:     max(1, hidden/64),
		MaxPositionEmbeddings: pos.Shape[0], HiddenAct: "quick_gelu", LayerNormEps: 1e-5,
		BOSTokenID: 49406, EOSTokenID: 49407, PadTokenID: 49407,
	}
	if p, ok := sd["text_projection.weight"]; ok {
		c.ProjectionDim, c.WithProjection = p.Shape[0], true
	}
	return c, nil
}

// CountIndexed counts consecutive indices i, from 0, for which name(i) is present.
func (sd StateDict) CountIndexed(name func(i int) string) int {
	n := 0
	for ; ; n++ {
		if _, ok := sd[name(n)]; !ok {
			return n
		}
	}
}
