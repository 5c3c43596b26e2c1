package sd

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// synthUNet builds a diffusers-named UNet state dict with random weights for
// a config, following UNet2DConditionModel's constructor. Weights are scaled
// by 1/√fan_in so activations stay in a normal range.
type synthUNet struct {
	cfg UNetConfig
	rng *rand.Rand // nil: every tensor shares one zero buffer (shape checks only)
	sd  StateDict
	// zeros backs shape-only state dicts; nothing writes to it.
	zeros []float32
}

func (s *synthUNet) param(name string, fanIn int, shape ...int) {
	n := tensor.NumElements(shape)
	if s.rng == nil {
		s.sd[name] = tensor.FromData(s.zeros[:n], shape...)
		return
	}
	data := make([]float32, n)
	scale := float32(1 / math.Sqrt(float64(max(fanIn, 1))))
	// A xorshift stream seeded from rng: benchmarks build ~860M parameters,
	// which rng.Float32 alone takes many seconds to draw.
	x := s.rng.Uint64() | 1
	for i := range data {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		data[i] = (float32(x>>40)/(1<<24)*2 - 1) * scale
	}
	s.sd[name] = tensor.FromData(data, shape...)
}

func (s *synthUNet) norm(name string, c int) {
	if s.rng == nil {
		s.param(name+".weight", 1, c)
		s.param(name+".bias", 1, c)
		return
	}
	w := make([]float32, c)
	for i := range w {
		w[i] = 1 + 0.1*(s.rng.Float32()-0.5)
	}
	s.sd[name+".weight"] = tensor.FromData(w, c)
	s.param(name+".bias", 10, c)
}

func (s *synthUNet) linear(name string, in, out int, bias bool) {
	s.param(name+".weight", in, out, in)
	if bias {
		s.param(name+".bias", in, out)
	}
}

func (s *synthUNet) conv(name string, in, out, k int) {
	s.param(name+".weight", in*k*k, out, in, k, k)
	s.param(name+".bias", in*k*k, out)
}

func (s *synthUNet) resnet(name string, in, out, temb int) {
	s.norm(name+".norm1", in)
	s.conv(name+".conv1", in, out, 3)
	s.linear(name+".time_emb_proj", temb, out, true)
	s.norm(name+".norm2", out)
	s.conv(name+".conv2", out, out, 3)
	if in != out {
		s.conv(name+".conv_shortcut", in, out, 1)
	}
}

func (s *synthUNet) transformer(name string, c, layers int) {
	s.norm(name+".norm", c)
	if s.cfg.UseLinearProjection {
		s.linear(name+".proj_in", c, c, true)
		s.linear(name+".proj_out", c, c, true)
	} else {
		s.conv(name+".proj_in", c, c, 1)
		s.conv(name+".proj_out", c, c, 1)
	}
	ctx := s.cfg.CrossAttentionDim
	for l := 0; l < layers; l++ {
		b := fmt.Sprintf("%s.transformer_blocks.%d", name, l)
		for _, n := range []string{".norm1", ".norm2", ".norm3"} {
			s.norm(b+n, c)
		}
		for _, a := range []string{".attn1", ".attn2"} {
			kv := c
			if a == ".attn2" {
				kv = ctx
			}
			s.linear(b+a+".to_q", c, c, false)
			s.linear(b+a+".to_k", kv, c, false)
			s.linear(b+a+".to_v", kv, c, false)
			s.linear(b+a+".to_out.0", c, c, true)
		}
		s.linear(b+".ff.net.0.proj", c, 8*c, true)
		s.linear(b+".ff.net.2", 4*c, c, true)
	}
}

// synthUNetStateDict returns random weights, or, when zeros is non-nil,
// shape-only weights that all alias zeros (large enough for any tensor).
func synthUNetStateDict(cfg UNetConfig, seed uint64, zeros []float32) StateDict {
	if err := cfg.Normalize(); err != nil {
		panic(err)
	}
	s := &synthUNet{cfg: cfg, sd: StateDict{}, zeros: zeros}
	if zeros == nil {
		s.rng = rand.New(rand.NewPCG(seed, 1))
	}
	ch := cfg.BlockOutChannels
	n := len(ch)
	temb := 4 * ch[0]
	s.conv("conv_in", cfg.InChannels, ch[0], 3)
	s.linear("time_embedding.linear_1", ch[0], temb, true)
	s.linear("time_embedding.linear_2", temb, temb, true)
	if cfg.AdditionEmbedType == "text_time" {
		s.linear("add_embedding.linear_1", cfg.ProjectionClassEmbeddingsInputDim, temb, true)
		s.linear("add_embedding.linear_2", temb, temb, true)
	}
	prev := ch[0]
	for i := 0; i < n; i++ {
		for j := 0; j < cfg.LayersPerBlock; j++ {
			in := ch[i]
			if j == 0 {
				in = prev
			}
			s.resnet(fmt.Sprintf("down_blocks.%d.resnets.%d", i, j), in, ch[i], temb)
			if cfg.DownBlockTypes[i] == "CrossAttnDownBlock2D" {
				s.transformer(fmt.Sprintf("down_blocks.%d.attentions.%d", i, j), ch[i], cfg.TransformerLayers[i])
			}
		}
		if i < n-1 {
			s.conv(fmt.Sprintf("down_blocks.%d.downsamplers.0.conv", i), ch[i], ch[i], 3)
		}
		prev = ch[i]
	}
	last := ch[n-1]
	s.resnet("mid_block.resnets.0", last, last, temb)
	s.transformer("mid_block.attentions.0", last, cfg.TransformerLayers[n-1])
	s.resnet("mid_block.resnets.1", last, last, temb)
	prevOut := last
	for i := 0; i < n; i++ {
		out := ch[n-1-i]
		input := ch[max(n-2-i, 0)]
		for j := 0; j <= cfg.LayersPerBlock; j++ {
			skip := out
			if j == cfg.LayersPerBlock {
				skip = input
			}
			in := out
			if j == 0 {
				in = prevOut
			}
			s.resnet(fmt.Sprintf("up_blocks.%d.resnets.%d", i, j), in+skip, out, temb)
			if cfg.UpBlockTypes[i] == "CrossAttnUpBlock2D" {
				s.transformer(fmt.Sprintf("up_blocks.%d.attentions.%d", i, j), out, cfg.TransformerLayers[n-1-i])
			}
		}
		if i < n-1 {
			s.conv(fmt.Sprintf("up_blocks.%d.upsamplers.0.conv", i), out, out, 3)
		}
		prevOut = out
	}
	s.norm("conv_norm_out", ch[0])
	s.conv("conv_out", ch[0], cfg.OutChannels, 3)
	return s.sd
}

// sd15Config is SD-1.5's UNet configuration.
func sd15Config() UNetConfig {
	c := DefaultUNetConfig()
	c.CrossAttentionDim = 768
	return c
}

// The synthetic state dict must build, which checks that the structure
// derived from shapes agrees with diffusers' constructor for full-size
// models; inference on the tiny SD config checks odd latent sizes.
func TestSynthUNetBuilds(t *testing.T) {
	sdxl := DefaultUNetConfig()
	sdxl.BlockOutChannels = []int{320, 640, 1280}
	sdxl.DownBlockTypes = []string{"DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"}
	sdxl.UpBlockTypes = []string{"CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"}
	sdxl.CrossAttentionDim = 2048
	sdxl.AttentionHeadDim = intList{5, 10, 20}
	sdxl.TransformerLayersPerBlock = intList{1, 2, 10}
	sdxl.UseLinearProjection = true
	sdxl.AdditionEmbedType = "text_time"
	sdxl.AdditionTimeEmbedDim = 256
	sdxl.ProjectionClassEmbeddingsInputDim = 2816
	sd2 := DefaultUNetConfig()
	sd2.CrossAttentionDim = 1024
	sd2.AttentionHeadDim = intList{5, 10, 20, 20}
	sd2.UseLinearProjection = true
	zeros := make([]float32, 32<<20)
	for name, cfg := range map[string]UNetConfig{"sd15": sd15Config(), "sd2": sd2, "sdxl": sdxl} {
		sd := synthUNetStateDict(cfg, 1, zeros)
		r := newWeightReader(sd)
		r.noPack = true // the weights share one zero buffer
		u, err := newUNet(cfg, r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		inferred, err := InferUNetConfig(sd, UNetHeads{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(inferred.Heads, u.Config.Heads) || !slices.Equal(inferred.TransformerLayers, u.Config.TransformerLayers) {
			t.Errorf("%s: inferred heads %v layers %v, want %v %v", name, inferred.Heads, inferred.TransformerLayers, u.Config.Heads, u.Config.TransformerLayers)
		}
		t.Logf("%s: %d tensors, %.1f GFLOP per 64x64 batch-2 step", name, len(sd), u.FLOPs(2, 64, 64, 77)/1e9)
	}
}

func TestUNetOddLatentSize(t *testing.T) {
	u, err := LoadUNetFolder(sdTiny(t, "models", "sd15-tiny", "unet"))
	if err != nil {
		t.Fatal(err)
	}
	sample := tensor.New(1, 4, 7, 5)
	out, err := u.Forward(context.Background(), sample, []float32{10}, tensor.New(1, 77, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.Shape, sample.Shape) {
		t.Fatalf("output %v for input %v", out.Shape, sample.Shape)
	}
}

// BenchmarkUNetSD15Step times one SD-1.5-sized UNet step (64×64 latents,
// batch 2 as with classifier-free guidance) with random weights.
func BenchmarkUNetSD15Step(b *testing.B) { benchUNetSD15Step(b, Options{}) }

// BenchmarkUNetSD15StepBF16 is BenchmarkUNetSD15Step with bf16 weights.
func BenchmarkUNetSD15StepBF16(b *testing.B) { benchUNetSD15Step(b, Options{Precision: "bf16"}) }

func benchUNetSD15Step(b *testing.B, opts Options) {
	cfg := sd15Config()
	u, err := NewUNetWithOptions(cfg, synthUNetStateDict(cfg, 1, nil), opts)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 3))
	sample, context := tensor.New(2, 4, 64, 64), tensor.New(2, 77, 768)
	for _, t := range []*tensor.Tensor{sample, context} {
		for i := range t.Data {
			t.Data[i] = float32(rng.NormFloat64())
		}
	}
	flops := u.FLOPs(2, 64, 64, 77)
	// Collect the state dict (and return its pages) before timing, as a
	// loader would: otherwise the timed step pays for freeing gigabytes.
	runtime.GC()
	debug.FreeOSMemory()
	b.ResetTimer()
	start, cpuStart := time.Now(), processCPUTime()
	for i := 0; i < b.N; i++ {
		out, err := u.Forward(b.Context(), sample, []float32{500}, context, nil)
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
	elapsed := time.Since(start).Seconds()
	cpu := (processCPUTime() - cpuStart).Seconds()
	b.ReportMetric(flops*float64(b.N)/elapsed/1e9, "GFLOP/s")
	b.ReportMetric(elapsed/float64(b.N), "s/step")
	// CPU seconds per step stay meaningful when other processes share the
	// cores (wall time does not).
	b.ReportMetric(cpu/float64(b.N), "cpu-s/step")
}
