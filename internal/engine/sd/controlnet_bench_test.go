package sd_test

import (
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/engine/controlnet"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// BenchmarkUNetSD15StepControlNet times one SD-1.5 denoising step (64×64 latents, batch 2) with one
// ControlNet (random weights): the ControlNet's encoder and zero convolutions, then the UNet with the
// residuals. Compare with BenchmarkUNetSD15Step, the plain step: a ControlNet adds about its own FLOPs.
func BenchmarkUNetSD15StepControlNet(b *testing.B) {
	u, cn := sd15WithControlNet(b)
	rng := rand.New(rand.NewPCG(6, 7))
	sample, context, image := tensor.New(2, 4, 64, 64), tensor.New(2, 77, 768), tensor.New(1, 3, 512, 512)
	for _, t := range []*tensor.Tensor{sample, context, image} {
		for i := range t.Data {
			t.Data[i] = float32(rng.NormFloat64())
		}
	}
	embedding, err := cn.Embed(image)
	if err != nil {
		b.Fatal(err)
	}
	// Return the state dicts' pages before timing, as a loader would.
	runtime.GC()
	debug.FreeOSMemory()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		down, mid, err := cn.Forward(b.Context(), controlnet.Input{Sample: sample, Timesteps: []float32{500}, Context: context, Embedding: embedding, Scale: 1})
		if err != nil {
			b.Fatal(err)
		}
		out, err := u.ForwardWith(b.Context(), sample, []float32{500}, context, nil, sd.UNetOptions{DownResiduals: down, MidResidual: mid})
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
	b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "s/step")
}

// sd15WithControlNet builds an SD-1.5 UNet and an SD-1.5 ControlNet with random weights.
func sd15WithControlNet(b *testing.B) (*sd.UNet, *controlnet.ControlNet) {
	cfg := sd.SD15Config()
	u, err := sd.NewUNet(cfg, sd.SynthUNetStateDict(cfg, 1))
	if err != nil {
		b.Fatal(err)
	}
	// The ControlNet's encoder has the UNet's shapes (other random values), plus its own layers.
	cnWeights := sd.StateDict{}
	for k, v := range sd.SynthUNetStateDict(cfg, 2) {
		if !strings.HasPrefix(k, "up_blocks.") && !strings.HasPrefix(k, "conv_out") && !strings.HasPrefix(k, "conv_norm_out") {
			cnWeights[k] = v
		}
	}
	rng := rand.New(rand.NewPCG(4, 5))
	conv := func(name string, in, out, k int) {
		w := tensor.New(out, in, k, k)
		for i := range w.Data {
			w.Data[i] = float32(rng.NormFloat64()) * 0.05
		}
		cnWeights[name+".weight"], cnWeights[name+".bias"] = w, tensor.New(out)
	}
	emb := []int{16, 32, 96, 256}
	conv("controlnet_cond_embedding.conv_in", 3, emb[0], 3)
	for i := 0; i+1 < len(emb); i++ {
		conv("controlnet_cond_embedding.blocks."+strconv.Itoa(2*i), emb[i], emb[i], 3)
		conv("controlnet_cond_embedding.blocks."+strconv.Itoa(2*i+1), emb[i], emb[i+1], 3)
	}
	conv("controlnet_cond_embedding.conv_out", emb[len(emb)-1], cfg.BlockOutChannels[0], 3)
	skips := []int{cfg.BlockOutChannels[0]}
	for i, c := range cfg.BlockOutChannels {
		for range cfg.LayersPerBlock {
			skips = append(skips, c)
		}
		if i < len(cfg.BlockOutChannels)-1 {
			skips = append(skips, c)
		}
	}
	for i, c := range skips {
		conv("controlnet_down_blocks."+strconv.Itoa(i), c, c, 1)
	}
	top := cfg.BlockOutChannels[len(cfg.BlockOutChannels)-1]
	conv("controlnet_mid_block", top, top, 1)
	ccfg := controlnet.DefaultConfig()
	ccfg.UNetConfig = cfg
	cn, err := controlnet.New(ccfg, cnWeights, sd.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return u, cn
}
