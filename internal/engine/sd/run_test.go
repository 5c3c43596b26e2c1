package sd

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// biasPatcher replaces one named convolution by a shallow copy whose bias is
// raised by one, and records every layer name it is asked about.
type biasPatcher struct {
	target string
	mu     sync.Mutex
	seen   map[string]bool
}

func (b *biasPatcher) note(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen == nil {
		b.seen = map[string]bool{}
	}
	b.seen[name] = true
}

func (b *biasPatcher) Linear(name string, base *tensor.Linear) *tensor.Linear {
	b.note(name)
	return base
}

func (b *biasPatcher) Conv(name string, base *tensor.Conv2D) *tensor.Conv2D {
	b.note(name)
	if name != b.target {
		return base
	}
	c := *base
	c.Bias = make([]float32, len(base.Bias))
	for i, v := range base.Bias {
		c.Bias[i] = v + 1
	}
	return &c
}

func sameData(t *testing.T, what string, a, b *tensor.Tensor) {
	t.Helper()
	if len(a.Data) != len(b.Data) {
		t.Fatalf("%s: %d values, want %d", what, len(a.Data), len(b.Data))
	}
	for i := range a.Data {
		if a.Data[i] != b.Data[i] {
			t.Fatalf("%s: differs at %d: %v vs %v", what, i, a.Data[i], b.Data[i])
		}
	}
}

// TestUNetRunOptionsConcurrent runs one shared UNet with different per-run
// options at the same time: each concurrent result must equal the same
// options run alone, so no option leaks into the model or into another
// run. Under -race it also proves that a pass writes nothing shared.
func TestUNetRunOptionsConcurrent(t *testing.T) {
	u, err := LoadUNetFolder(sdTiny(t, "models", "sd15-tiny", "unet"))
	if err != nil {
		t.Fatal(err)
	}
	g := openGolden(t, "unet.safetensors")
	sample, states := g.tensor("sample"), g.tensor("encoder_hidden_states")
	ctx := context.Background()
	patch := &biasPatcher{target: "conv_out"}
	options := []UNetOptions{
		{},
		{Seamless: Seamless{X: true}},
		{Seamless: Seamless{X: true, Y: true}},
		{Layers: patch},
	}
	alone := make([]*tensor.Tensor, len(options))
	for i, o := range options {
		if alone[i], err = u.ForwardWith(ctx, sample, []float32{10}, states, nil, o); err != nil {
			t.Fatal(err)
		}
	}
	// The options do change the result, so the comparison below can fail.
	for i := 1; i < len(options); i++ {
		if maxAbsDiff(alone[0].Data, alone[i].Data) == 0 {
			t.Fatalf("options %d changed nothing", i)
		}
	}
	// The bias patch adds exactly one to conv_out's output.
	for i, v := range alone[3].Data {
		if d := v - alone[0].Data[i]; d < 1-1e-5 || d > 1+1e-5 {
			t.Fatalf("bias patch: output %d moved by %v, want 1", i, d)
		}
	}
	for _, name := range []string{"conv_in", "conv_out", "time_embedding.linear_1", "down_blocks.0.resnets.0.conv1",
		"down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k", "mid_block.attentions.0.proj_in", "up_blocks.0.upsamplers.0.conv"} {
		if !patch.seen[name] {
			t.Errorf("the patcher was never asked for %q", name)
		}
	}
	const rounds = 3
	results := make([][]*tensor.Tensor, len(options))
	errs := make([]error, len(options))
	var wg sync.WaitGroup
	for i, o := range options {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				out, err := u.ForwardWith(ctx, sample, []float32{10}, states, nil, o)
				if err != nil {
					errs[i] = err
					return
				}
				results[i] = append(results[i], out)
			}
		}()
	}
	wg.Wait()
	for i := range options {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		for _, out := range results[i] {
			sameData(t, fmt.Sprintf("concurrent run with options %d", i), out, alone[i])
		}
	}
	// And the plain model is still plain.
	after, err := u.Forward(ctx, sample, []float32{10}, states, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameData(t, "plain run afterwards", after, alone[0])
}

// TestVAERunOptionsConcurrent is the same check for the VAE's decoder.
func TestVAERunOptionsConcurrent(t *testing.T) {
	v, err := LoadVAEFolder(sdTiny(t, "models", "sd15-tiny", "vae"))
	if err != nil {
		t.Fatal(err)
	}
	latent := tensor.New(1, 4, 8, 8)
	for i := range latent.Data {
		latent.Data[i] = float32(i%13)/6 - 1
	}
	ctx := context.Background()
	options := []VAEOptions{{}, {Seamless: Seamless{Y: true}}, {Seamless: Seamless{X: true, Y: true}}}
	alone := make([]*tensor.Tensor, len(options))
	for i, o := range options {
		if alone[i], err = v.DecodeWith(ctx, latent, o); err != nil {
			t.Fatal(err)
		}
		if i > 0 && maxAbsDiff(alone[0].Data, alone[i].Data) == 0 {
			t.Fatalf("options %d changed nothing", i)
		}
	}
	results := make([]*tensor.Tensor, len(options))
	errs := make([]error, len(options))
	var wg sync.WaitGroup
	for i, o := range options {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = v.DecodeWith(ctx, latent, o)
		}()
	}
	wg.Wait()
	for i := range options {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		sameData(t, "concurrent decode", results[i], alone[i])
	}
}

func maxAbsDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}
