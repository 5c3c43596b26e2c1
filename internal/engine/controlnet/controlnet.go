// Package controlnet is diffusers' ControlNetModel: a copy of a UNet's encoder (time embedding, conv_in, down
// blocks, mid block) with its own weights, fed the noisy latents plus an embedding of a control image, whose
// intermediate activations pass through zero-initialised 1×1 convolutions to become residuals that the UNet
// adds to its skip connections and mid block (sd.UNetOptions.DownResiduals and MidResidual). Models load from
// diffusers folders or, through package ldm, from the original single-file layout.
package controlnet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/invokego/invokego/internal/engine/ldm"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// Config is a ControlNetModel's config.json: the UNet fields of its encoder plus the conditioning embedding.
type Config struct {
	sd.UNetConfig
	ConditioningChannels             int    `json:"conditioning_channels"`
	ConditioningEmbeddingOutChannels []int  `json:"conditioning_embedding_out_channels"`
	ChannelOrder                     string `json:"controlnet_conditioning_channel_order"`
	GlobalPoolConditions             bool   `json:"global_pool_conditions"`
}

// DefaultConfig is diffusers' constructor defaults.
func DefaultConfig() Config {
	c := Config{UNetConfig: sd.DefaultUNetConfig(), ConditioningChannels: 3,
		ConditioningEmbeddingOutChannels: []int{16, 32, 96, 256}, ChannelOrder: "rgb"}
	c.UpBlockTypes = nil
	return c
}

// maxConfigBytes bounds config.json; real ones are about a kilobyte.
const maxConfigBytes = 1 << 20

// LoadConfig reads a ControlNetModel config.json.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	f, err := os.Open(path)
	if err != nil {
		return c, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return c, err
	}
	if len(b) > maxConfigBytes {
		return c, fmt.Errorf("controlnet config %s: larger than %d bytes", path, maxConfigBytes)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("controlnet config %s: %w", path, err)
	}
	return c, nil
}

// ControlNet is a built model. It is immutable and safe for concurrent use.
type ControlNet struct {
	Config Config

	enc     *sd.UNetEncoder
	hintIn  *tensor.Conv2D   // controlnet_cond_embedding.conv_in
	hint    []*tensor.Conv2D // .blocks.k: pairs of a stride-1 and a stride-2 convolution
	hintOut *tensor.Conv2D
	zero    []*tensor.Conv2D // controlnet_down_blocks.i, one per skip connection
	midZero *tensor.Conv2D   // controlnet_mid_block
}

// Prefixes of the weights that are the ControlNet's own; the rest are the UNet encoder's.
const (
	prefixHint    = "controlnet_cond_embedding."
	prefixZero    = "controlnet_down_blocks."
	prefixMidZero = "controlnet_mid_block."
)

// New builds a ControlNet from diffusers-named weights.
func New(cfg Config, weights sd.StateDict, opts sd.Options) (*ControlNet, error) {
	switch cfg.ChannelOrder {
	case "", "rgb", "bgr":
	default:
		return nil, fmt.Errorf("build controlnet: unknown conditioning channel order %q", cfg.ChannelOrder)
	}
	encWeights := sd.StateDict{}
	for k, v := range weights {
		if !strings.HasPrefix(k, prefixHint) && !strings.HasPrefix(k, prefixZero) && !strings.HasPrefix(k, prefixMidZero) {
			encWeights[k] = v
		}
	}
	enc, err := sd.NewUNetEncoder(cfg.UNetConfig, encWeights, opts)
	if err != nil {
		return nil, fmt.Errorf("build controlnet: %w", err)
	}
	c := &ControlNet{Config: cfg, enc: enc}
	c.Config.UNetConfig = enc.Config
	b := &builder{weights: weights}
	c.hintIn = b.conv(prefixHint+"conv_in", 1, 1)
	for k := 0; b.has(prefixHint + "blocks." + strconv.Itoa(k) + ".weight"); k++ {
		// Odd blocks halve the size: the embedding takes the image to latent size.
		c.hint = append(c.hint, b.conv(prefixHint+"blocks."+strconv.Itoa(k), 1+k%2, 1))
	}
	c.hintOut = b.conv(prefixHint+"conv_out", 1, 1)
	for i := 0; b.has(prefixZero + strconv.Itoa(i) + ".weight"); i++ {
		c.zero = append(c.zero, b.conv(prefixZero+strconv.Itoa(i), 1, 0))
	}
	c.midZero = b.conv(strings.TrimSuffix(prefixMidZero, "."), 1, 0)
	if b.err != nil {
		return nil, fmt.Errorf("build controlnet: %w", b.err)
	}
	if want := 1 + len(cfg.BlockOutChannels)*cfg.LayersPerBlock + len(cfg.BlockOutChannels) - 1; len(c.zero) != want {
		return nil, fmt.Errorf("build controlnet: %d zero convolutions for %d skip connections", len(c.zero), want)
	}
	if c.hintIn.InC != max(cfg.ConditioningChannels, 1) || len(c.hint)%2 != 0 || c.hintOut.OutC != cfg.BlockOutChannels[0] {
		return nil, fmt.Errorf("build controlnet: conditioning embedding %d→%d with %d blocks does not fit", c.hintIn.InC, c.hintOut.OutC, len(c.hint))
	}
	for _, p := range append(append([]*tensor.Conv2D{c.hintIn, c.hintOut, c.midZero}, c.hint...), c.zero...) {
		p.Pack()
	}
	return c, nil
}

// builder reads convolutions by name, remembering the first error.
type builder struct {
	weights sd.StateDict
	err     error
}

func (b *builder) has(name string) bool { _, ok := b.weights[name]; return ok }

func (b *builder) conv(name string, stride, pad int) *tensor.Conv2D {
	fallback := &tensor.Conv2D{Stride: 1}
	if b.err != nil {
		return fallback
	}
	w, ok := b.weights[name+".weight"]
	if !ok || len(w.Shape) != 4 {
		b.err = fmt.Errorf("missing or malformed weight %q", name+".weight")
		return fallback
	}
	var bias []float32
	if t, ok := b.weights[name+".bias"]; ok {
		bias = t.Data
	}
	c, err := tensor.NewConv2D(w.Shape[1], w.Shape[0], w.Shape[2], w.Shape[3], stride, pad, w.Data, bias)
	if err != nil {
		b.err = fmt.Errorf("%s: %w", name, err)
		return fallback
	}
	return c
}

// Load reads a diffusers ControlNetModel folder (config.json and diffusion_pytorch_model.safetensors).
func Load(dir string, opts sd.Options) (*ControlNet, error) {
	cfg, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("load controlnet: %w", err)
	}
	path := filepath.Join(dir, "diffusion_pytorch_model.safetensors")
	if _, err := os.Stat(path); err != nil {
		path = filepath.Join(dir, "model.safetensors")
	}
	weights, err := sd.LoadStateDict(path, nil)
	if err != nil {
		return nil, fmt.Errorf("load controlnet: %w", err)
	}
	c, err := New(cfg, weights, opts)
	if err != nil {
		return nil, fmt.Errorf("load controlnet %s: %w", dir, err)
	}
	return c, nil
}

// Embed computes the conditioning embedding of a control image [N, C, H, W] with values in [0, 1]:
// silu(conv_in), silu after every block, conv_out. The result has the latents' size when H and W are eight
// times theirs. It depends only on the image, so a run computes it once.
func (c *ControlNet) Embed(image *tensor.Tensor) (*tensor.Tensor, error) {
	if len(image.Shape) != 4 || image.Shape[1] != c.hintIn.InC {
		return nil, fmt.Errorf("controlnet: control image %v, want [N, %d, H, W]", image.Shape, c.hintIn.InC)
	}
	x := image
	if c.Config.ChannelOrder == "bgr" {
		x = flipChannels(image)
	}
	h := c.hintIn.Forward(x)
	tensor.SiLU(h.Data)
	for _, conv := range c.hint {
		next := conv.Forward(h)
		h.Release()
		tensor.SiLU(next.Data)
		h = next
	}
	out := c.hintOut.Forward(h)
	h.Release()
	return out, nil
}

func flipChannels(x *tensor.Tensor) *tensor.Tensor {
	out := tensor.New(x.Shape...)
	n, ch, plane := x.Shape[0], x.Shape[1], x.Shape[2]*x.Shape[3]
	for b := 0; b < n; b++ {
		for i := 0; i < ch; i++ {
			copy(out.Data[(b*ch+i)*plane:(b*ch+i+1)*plane], x.Data[(b*ch+ch-1-i)*plane:])
		}
	}
	return out
}

// Input is one ControlNet call.
type Input struct {
	Sample    *tensor.Tensor // [N, 4, h, w], the scaled model input
	Timesteps []float32
	Context   *tensor.Tensor // [N, L, D]
	Added     *sd.AddedCond  // SDXL
	// Embedding is Embed's result for the control image, with batch N or 1.
	Embedding *tensor.Tensor
	// Scale multiplies every residual (conditioning_scale).
	Scale float32
	// GuessMode is diffusers' guess_mode (InvokeAI's "more_prompt" and "more_control"): the residuals are
	// scaled by 10^(-1 + i/n) from the first skip (0.1) to the mid block (1), times Scale.
	GuessMode bool
	// Options are the run's options for the encoder (seamless tiling, layer patches).
	Options sd.UNetOptions
}

// Forward returns the down residuals (one per UNet skip connection) and the mid residual.
func (c *ControlNet) Forward(ctx context.Context, in Input) (down []*tensor.Tensor, mid *tensor.Tensor, err error) {
	if in.Embedding == nil {
		return nil, nil, fmt.Errorf("controlnet: no conditioning embedding")
	}
	enc, err := c.enc.Forward(ctx, in.Sample, in.Timesteps, in.Context, in.Added, in.Options, in.Embedding)
	if err != nil {
		return nil, nil, fmt.Errorf("controlnet: %w", err)
	}
	if len(enc.Skips) != len(c.zero) {
		for _, s := range enc.Skips {
			s.Release()
		}
		enc.Mid.Release()
		return nil, nil, fmt.Errorf("controlnet: %d skips for %d zero convolutions", len(enc.Skips), len(c.zero))
	}
	scales := make([]float32, len(c.zero)+1)
	for i := range scales {
		scales[i] = in.Scale
		if in.GuessMode && !c.Config.GlobalPoolConditions {
			scales[i] = logspaceScale(i, len(scales)) * in.Scale
		}
	}
	for i, s := range enc.Skips {
		r := c.zero[i].Forward(s)
		s.Release()
		scaleInPlace(r.Data, scales[i])
		down = append(down, c.pool(r))
	}
	mid = c.midZero.Forward(enc.Mid)
	enc.Mid.Release()
	scaleInPlace(mid.Data, scales[len(scales)-1])
	return down, c.pool(mid), nil
}

// logspaceScale is element i of torch.logspace(-1, 0, n) in float32.
func logspaceScale(i, n int) float32 {
	if n == 1 {
		return 0.1
	}
	return float32(math.Pow(10, -1+float64(i)/float64(n-1)))
}

func scaleInPlace(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}

// pool averages every channel over the image for global_pool_conditions models (shuffle); the residual then
// broadcasts over the UNet's feature map.
func (c *ControlNet) pool(r *tensor.Tensor) *tensor.Tensor {
	if !c.Config.GlobalPoolConditions {
		return r
	}
	n, ch, plane := r.Shape[0], r.Shape[1], r.Shape[2]*r.Shape[3]
	out := tensor.New(n, ch, 1, 1)
	for i := 0; i < n*ch; i++ {
		var s float64
		for _, v := range r.Data[i*plane : (i+1)*plane] {
			s += float64(v)
		}
		out.Data[i] = float32(s / float64(plane))
	}
	r.Release()
	return out
}

// LoadSingleFile reads an original-layout ControlNet (.safetensors, lllyasviel's names), converting it with
// package ldm. The structure comes from the weights; the attention head rule from yamlPath (the cldm yaml),
// when given, else from the width of the text context as for single-file UNets.
func LoadSingleFile(path, yamlPath string, opts sd.Options) (*ControlNet, error) {
	ckpt, err := sd.LoadStateDict(path, nil)
	if err != nil {
		return nil, fmt.Errorf("load controlnet: %w", err)
	}
	weights, err := ldm.ConvertControlNet(ckpt)
	if err != nil {
		return nil, fmt.Errorf("load controlnet %s: %w", path, err)
	}
	var heads sd.UNetHeads
	if yamlPath != "" {
		y, err := ldm.LoadConfig(yamlPath)
		if err != nil {
			return nil, fmt.Errorf("load controlnet %s: %w", path, err)
		}
		heads = y.Heads
	}
	ucfg, err := sd.InferUNetConfig(weights, heads, 0)
	if err != nil {
		return nil, fmt.Errorf("load controlnet %s: %w", path, err)
	}
	cfg := DefaultConfig()
	cfg.UNetConfig = ucfg
	if w, ok := weights[prefixHint+"conv_in.weight"]; ok && len(w.Shape) == 4 {
		cfg.ConditioningChannels = w.Shape[1]
	}
	c, err := New(cfg, weights, opts)
	if err != nil {
		return nil, fmt.Errorf("load controlnet %s: %w", path, err)
	}
	return c, nil
}
