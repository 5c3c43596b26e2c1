package main

import (
	"fmt"
	"hash/fnv"
	"math"
	"runtime"
	"sync"

	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// synth builds a diffusers/transformers-named state dict with random
// weights, following the constructors' layer layout. Weights are uniform in
// ±1/√fan_in (PyTorch's default Linear/Conv2d initialisation range), norm
// scales near 1 and biases small, so activations stay in a normal range and
// neither side of the benchmark runs into denormals.
//
// Tensors are first declared (name, shape, kind) and then filled in
// parallel, each from its own seed derived from the name, so the weights
// depend only on the seed and not on scheduling.
type synth struct {
	seed  uint64
	specs []paramSpec
}

type paramSpec struct {
	name  string
	shape []int
	lo    float32 // values are lo + span·u, u uniform in [0,1)
	span  float32
}

func (s *synth) add(name string, lo, span float32, shape ...int) {
	s.specs = append(s.specs, paramSpec{name: name, shape: shape, lo: lo, span: span})
}

func (s *synth) weight(name string, fanIn int, shape ...int) {
	b := float32(1 / math.Sqrt(float64(max(fanIn, 1))))
	s.add(name, -b, 2*b, shape...)
}

func (s *synth) linear(name string, in, out int, bias bool) {
	s.weight(name+".weight", in, out, in)
	if bias {
		s.weight(name+".bias", in, out)
	}
}

func (s *synth) conv(name string, in, out, k int) {
	s.weight(name+".weight", in*k*k, out, in, k, k)
	s.weight(name+".bias", in*k*k, out)
}

func (s *synth) norm(name string, c int) {
	s.add(name+".weight", 0.95, 0.1, c)
	s.add(name+".bias", -0.05, 0.1, c)
}

// params returns the number of parameters declared.
func (s *synth) params() int64 {
	var n int64
	for _, p := range s.specs {
		n += int64(tensor.NumElements(p.shape))
	}
	return n
}

// build fills every tensor and returns the state dict.
func (s *synth) build() sd.StateDict {
	out := make(sd.StateDict, len(s.specs))
	tensors := make([]*tensor.Tensor, len(s.specs))
	for i, p := range s.specs {
		tensors[i] = tensor.New(p.shape...)
	}
	var wg sync.WaitGroup
	next := make(chan int, len(s.specs))
	for i := range s.specs {
		next <- i
	}
	close(next)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				p := s.specs[i]
				h := fnv.New64a()
				h.Write([]byte(p.name))
				fillUniform(tensors[i].Data, h.Sum64()^s.seed, p.lo, p.span)
			}
		}()
	}
	wg.Wait()
	for i, p := range s.specs {
		if _, dup := out[p.name]; dup {
			panic("duplicate weight " + p.name)
		}
		out[p.name] = tensors[i]
	}
	return out
}

// fillUniform writes lo + span·u with u from a splitmix64 stream.
func fillUniform(dst []float32, seed uint64, lo, span float32) {
	x := seed
	for i := range dst {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		dst[i] = lo + span*float32(z>>40)*(1.0/(1<<24))
	}
}

// ---- UNet2DConditionModel (SD-1.x layout, conv projections) ----

type unetShape struct {
	blocks         []int
	layersPerBlock int
	crossDim       int
	inC, outC      int
	downTypes      []string
	upTypes        []string
	// SDXL: transformer blocks per level (nil: one), linear proj_in/out,
	// and the text_time added embedding (input width; 0: none).
	depth      []int
	linearProj bool
	addIn      int
}

func (u unetShape) depthAt(level int) int {
	if u.depth == nil {
		return 1
	}
	return u.depth[level]
}

// sdxlUNetShape is SDXL base's UNet (2.57B parameters).
func sdxlUNetShape() unetShape {
	return unetShape{
		blocks: []int{320, 640, 1280}, layersPerBlock: 2, crossDim: 2048, inC: 4, outC: 4,
		downTypes: []string{"DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"},
		upTypes:   []string{"CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"},
		depth:     []int{1, 2, 10}, linearProj: true, addIn: 2816,
	}
}

func sd15UNetShape() unetShape {
	return unetShape{
		blocks: []int{320, 640, 1280, 1280}, layersPerBlock: 2, crossDim: 768, inC: 4, outC: 4,
		downTypes: []string{"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"},
		upTypes:   []string{"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"},
	}
}

func (u unetShape) config() sd.UNetConfig {
	c := sd.DefaultUNetConfig()
	c.BlockOutChannels = u.blocks
	c.LayersPerBlock = u.layersPerBlock
	c.CrossAttentionDim = u.crossDim
	c.InChannels, c.OutChannels = u.inC, u.outC
	c.DownBlockTypes, c.UpBlockTypes = u.downTypes, u.upTypes
	// attention_head_dim 8 (= 8 heads, diffusers' legacy naming) is the default.
	return c
}

func (s *synth) resnet(name string, in, out, temb int) {
	s.norm(name+".norm1", in)
	s.conv(name+".conv1", in, out, 3)
	if temb > 0 {
		s.linear(name+".time_emb_proj", temb, out, true)
	}
	s.norm(name+".norm2", out)
	s.conv(name+".conv2", out, out, 3)
	if in != out {
		s.conv(name+".conv_shortcut", in, out, 1)
	}
}

// transformer2DWith is a Transformer2DModel with depth blocks and linear
// (SDXL) or 1×1 convolution (SD-1.x) projections.
func (s *synth) transformer2DWith(name string, c, ctx, depth int, linear bool) {
	s.norm(name+".norm", c)
	if linear {
		s.linear(name+".proj_in", c, c, true)
	} else {
		s.conv(name+".proj_in", c, c, 1)
	}
	for d := 0; d < depth; d++ {
		s.transformerBlock(fmt.Sprintf("%s.transformer_blocks.%d", name, d), c, ctx)
	}
	if linear {
		s.linear(name+".proj_out", c, c, true)
	} else {
		s.conv(name+".proj_out", c, c, 1)
	}
}

func (s *synth) transformerBlock(b string, c, ctx int) {
	s.norm(b+".norm1", c)
	s.norm(b+".norm2", c)
	s.norm(b+".norm3", c)
	for _, a := range []struct {
		name string
		kv   int
	}{{".attn1", c}, {".attn2", ctx}} {
		s.linear(b+a.name+".to_q", c, c, false)
		s.linear(b+a.name+".to_k", a.kv, c, false)
		s.linear(b+a.name+".to_v", a.kv, c, false)
		s.linear(b+a.name+".to_out.0", c, c, true)
	}
	s.linear(b+".ff.net.0.proj", c, 8*c, true) // GEGLU: value and gate halves
	s.linear(b+".ff.net.2", 4*c, c, true)
}

func synthUNet(u unetShape, seed uint64) *synth {
	s := &synth{seed: seed}
	ch := u.blocks
	n := len(ch)
	temb := s.unetEncoder(u)
	top := ch[n-1]
	prevOut := top
	for i := 0; i < n; i++ {
		out := ch[n-1-i]
		skipIn := ch[max(n-2-i, 0)]
		for j := 0; j <= u.layersPerBlock; j++ {
			skip := out
			if j == u.layersPerBlock {
				skip = skipIn
			}
			in := out
			if j == 0 {
				in = prevOut
			}
			s.resnet(fmt.Sprintf("up_blocks.%d.resnets.%d", i, j), in+skip, out, temb)
			if u.upTypes[i] == "CrossAttnUpBlock2D" {
				s.transformer2DWith(fmt.Sprintf("up_blocks.%d.attentions.%d", i, j), out, u.crossDim, u.depthAt(n-1-i), u.linearProj)
			}
		}
		if i < n-1 {
			s.conv(fmt.Sprintf("up_blocks.%d.upsamplers.0.conv", i), out, out, 3)
		}
		prevOut = out
	}
	s.norm("conv_norm_out", ch[0])
	s.conv("conv_out", ch[0], u.outC, 3)
	return s
}

// unetEncoder adds the encoder half of a UNet (time embedding, conv_in, down blocks, mid block), which a
// ControlNet has too, and returns the time-embedding width.
func (s *synth) unetEncoder(u unetShape) int {
	ch := u.blocks
	n := len(ch)
	temb := 4 * ch[0]
	s.conv("conv_in", u.inC, ch[0], 3)
	s.linear("time_embedding.linear_1", ch[0], temb, true)
	s.linear("time_embedding.linear_2", temb, temb, true)
	if u.addIn > 0 {
		s.linear("add_embedding.linear_1", u.addIn, temb, true)
		s.linear("add_embedding.linear_2", temb, temb, true)
	}
	prev := ch[0]
	for i := 0; i < n; i++ {
		for j := 0; j < u.layersPerBlock; j++ {
			in := ch[i]
			if j == 0 {
				in = prev
			}
			s.resnet(fmt.Sprintf("down_blocks.%d.resnets.%d", i, j), in, ch[i], temb)
			if u.downTypes[i] == "CrossAttnDownBlock2D" {
				s.transformer2DWith(fmt.Sprintf("down_blocks.%d.attentions.%d", i, j), ch[i], u.crossDim, u.depthAt(i), u.linearProj)
			}
		}
		if i < n-1 {
			s.conv(fmt.Sprintf("down_blocks.%d.downsamplers.0.conv", i), ch[i], ch[i], 3)
		}
		prev = ch[i]
	}
	top := ch[n-1]
	s.resnet("mid_block.resnets.0", top, top, temb)
	s.transformer2DWith("mid_block.attentions.0", top, u.crossDim, u.depthAt(n-1), u.linearProj)
	s.resnet("mid_block.resnets.1", top, top, temb)
	return temb
}

// synthControlNet is an SD-1.5 ControlNet (the lllyasviel v1.1 shape): the UNet's encoder, the conditioning
// embedding (3 → 16, 32, 96, 256 channels, three stride-2 steps to the latents' size → 320) and a 1×1 zero
// convolution per skip connection and for the mid block.
func synthControlNet(u unetShape, seed uint64) *synth {
	s := &synth{seed: seed}
	s.unetEncoder(u)
	emb := []int{16, 32, 96, 256}
	s.conv("controlnet_cond_embedding.conv_in", 3, emb[0], 3)
	for i := 0; i+1 < len(emb); i++ {
		s.conv(fmt.Sprintf("controlnet_cond_embedding.blocks.%d", 2*i), emb[i], emb[i], 3)
		s.conv(fmt.Sprintf("controlnet_cond_embedding.blocks.%d", 2*i+1), emb[i], emb[i+1], 3)
	}
	s.conv("controlnet_cond_embedding.conv_out", emb[len(emb)-1], u.blocks[0], 3)
	skips := []int{u.blocks[0]}
	for i, c := range u.blocks {
		for range u.layersPerBlock {
			skips = append(skips, c)
		}
		if i < len(u.blocks)-1 {
			skips = append(skips, c)
		}
	}
	for i, c := range skips {
		s.conv(fmt.Sprintf("controlnet_down_blocks.%d", i), c, c, 1)
	}
	top := u.blocks[len(u.blocks)-1]
	s.conv("controlnet_mid_block", top, top, 1)
	return s
}

// ---- CLIPTextModel (ViT-L/14 text tower) ----

func sd15CLIPConfig() sd.CLIPTextConfig {
	return sd.CLIPTextConfig{VocabSize: 49408, HiddenSize: 768, IntermediateSize: 3072, NumHiddenLayers: 12,
		NumAttentionHeads: 12, MaxPositionEmbeddings: 77, HiddenAct: "quick_gelu", LayerNormEps: 1e-5,
		ProjectionDim: 768, BOSTokenID: 49406, EOSTokenID: 49407, PadTokenID: 1}
}

func synthCLIP(c sd.CLIPTextConfig, seed uint64) *synth {
	s := &synth{seed: seed}
	d := c.HiddenSize
	s.add("text_model.embeddings.token_embedding.weight", -0.02, 0.04, c.VocabSize, d)
	s.add("text_model.embeddings.position_embedding.weight", -0.02, 0.04, c.MaxPositionEmbeddings, d)
	for i := 0; i < c.NumHiddenLayers; i++ {
		p := fmt.Sprintf("text_model.encoder.layers.%d", i)
		s.norm(p+".layer_norm1", d)
		for _, n := range []string{"q_proj", "k_proj", "v_proj", "out_proj"} {
			s.linear(p+".self_attn."+n, d, d, true)
		}
		s.norm(p+".layer_norm2", d)
		s.linear(p+".mlp.fc1", d, c.IntermediateSize, true)
		s.linear(p+".mlp.fc2", c.IntermediateSize, d, true)
	}
	s.norm("text_model.final_layer_norm", d)
	if c.WithProjection {
		s.linear("text_projection", d, c.ProjectionDim, false)
	}
	return s
}

// ---- AutoencoderKL ----

func sd15VAEConfig() sd.VAEConfig {
	c := sd.DefaultVAEConfig()
	c.BlockOutChannels = []int{128, 256, 512, 512}
	c.LayersPerBlock = 2
	c.DownBlockTypes = []string{"DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"}
	c.UpBlockTypes = []string{"UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"}
	return c
}

func (s *synth) vaeMid(name string, c int) {
	s.resnet(name+".resnets.0", c, c, 0)
	s.norm(name+".attentions.0.group_norm", c)
	for _, n := range []string{"to_q", "to_k", "to_v", "to_out.0"} {
		s.linear(name+".attentions.0."+n, c, c, true)
	}
	s.resnet(name+".resnets.1", c, c, 0)
}

// synthVAE declares the whole AutoencoderKL (the engine's constructor builds
// encoder and decoder together), or only the decode side when decodeOnly.
func synthVAE(c sd.VAEConfig, seed uint64, decodeOnly bool) *synth {
	s := &synth{seed: seed}
	ch := c.BlockOutChannels
	n := len(ch)
	lc := c.LatentChannels
	if !decodeOnly {
		s.conv("encoder.conv_in", c.InChannels, ch[0], 3)
		prev := ch[0]
		for i := 0; i < n; i++ {
			for j := 0; j < c.LayersPerBlock; j++ {
				in := ch[i]
				if j == 0 {
					in = prev
				}
				s.resnet(fmt.Sprintf("encoder.down_blocks.%d.resnets.%d", i, j), in, ch[i], 0)
			}
			if i < n-1 {
				s.conv(fmt.Sprintf("encoder.down_blocks.%d.downsamplers.0.conv", i), ch[i], ch[i], 3)
			}
			prev = ch[i]
		}
		s.vaeMid("encoder.mid_block", ch[n-1])
		s.norm("encoder.conv_norm_out", ch[n-1])
		s.conv("encoder.conv_out", ch[n-1], 2*lc, 3)
		s.conv("quant_conv", 2*lc, 2*lc, 1)
	}
	s.conv("post_quant_conv", lc, lc, 1)
	s.conv("decoder.conv_in", lc, ch[n-1], 3)
	s.vaeMid("decoder.mid_block", ch[n-1])
	prev := ch[n-1]
	for i := 0; i < n; i++ {
		out := ch[n-1-i]
		for j := 0; j <= c.LayersPerBlock; j++ {
			in := out
			if j == 0 {
				in = prev
			}
			s.resnet(fmt.Sprintf("decoder.up_blocks.%d.resnets.%d", i, j), in, out, 0)
		}
		if i < n-1 {
			s.conv(fmt.Sprintf("decoder.up_blocks.%d.upsamplers.0.conv", i), out, out, 3)
		}
		prev = out
	}
	s.norm("decoder.conv_norm_out", ch[0])
	s.conv("decoder.conv_out", ch[0], c.OutChannels, 3)
	return s
}
