package sd

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// FourierFilter against diffusers' fourier_filter computed with torch.fft (testdata/nodes/freeu).
func TestFourierFilterMatchesTorchFFT(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(fixturesDir(t), "nodes", "freeu", "fourier.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Shape []int
		Scale float32
		X, Y  []float32
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		x := &tensor.Tensor{Shape: c.Shape, Data: append([]float32(nil), c.X...)}
		FourierFilter(x, c.Scale)
		worst := 0.0
		for i := range x.Data {
			worst = math.Max(worst, math.Abs(float64(x.Data[i]-c.Y[i])))
		}
		// torch runs the transform in float32; this computes the four coefficients in float64.
		if worst > 2e-6 {
			t.Errorf("shape %v scale %v: max difference %g", c.Shape, c.Scale, worst)
		}
	}
}

// FreeU on the tiny SD-1.5 UNet: factors of one change nothing, a zero factor turns it off as in diffusers,
// and each factor reaches the output on its own.
func TestUNetFreeU(t *testing.T) {
	u, err := LoadUNetFolder(sdTiny(t, "models", "sd15-tiny", "unet"))
	if err != nil {
		t.Fatal(err)
	}
	g := openGolden(t, "unet.safetensors")
	sample, states := g.tensor("sample"), g.tensor("encoder_hidden_states")
	ts := g.tensor("timestep_t10").Data
	run := func(f *FreeU) []float32 {
		out, err := u.ForwardWith(context.Background(), sample, ts, states, nil, UNetOptions{FreeU: f})
		if err != nil {
			t.Fatal(err)
		}
		return out.Data
	}
	same := func(a, b []float32) bool {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	plain := run(nil)
	if !same(plain, run(&FreeU{1, 1, 1, 1})) {
		t.Error("FreeU with factors of one changed the output")
	}
	if !same(plain, run(&FreeU{B1: 1.2, B2: 1.4, S1: 0.9, S2: 0})) {
		t.Error("a zero factor did not turn FreeU off")
	}
	for _, f := range []FreeU{{1.2, 1, 1, 1}, {1, 1.4, 1, 1}, {1, 1, 0.5, 1}, {1, 1, 1, 0.2}} {
		if same(plain, run(&f)) {
			t.Errorf("FreeU %+v changed nothing", f)
		}
	}
	// The model is not changed: a plain run afterwards is the first one.
	if !same(plain, run(nil)) {
		t.Error("FreeU changed the model")
	}
}

// A refiner-shaped UNet (five time ids: original size, crop, aesthetic score) runs with five ids and refuses six.
func TestRefinerUNetTakesFiveTimeIDs(t *testing.T) {
	cfg, err := LoadUNetConfig(sdTiny(t, "models", "sdxl-tiny", "unet", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	pooled := cfg.ProjectionClassEmbeddingsInputDim - 6*cfg.AdditionTimeEmbedDim
	cfg.ProjectionClassEmbeddingsInputDim = pooled + 5*cfg.AdditionTimeEmbedDim
	u, err := NewUNet(cfg, SynthUNetStateDict(cfg, 3))
	if err != nil {
		t.Fatal(err)
	}
	sample := tensor.New(1, 4, 8, 8)
	states := tensor.New(1, 77, cfg.CrossAttentionDim)
	for _, ids := range []int{5, 6} {
		added := &AddedCond{TextEmbeds: tensor.New(1, pooled), TimeIDs: tensor.New(1, ids)}
		_, err := u.Forward(context.Background(), sample, []float32{10}, states, added)
		if (err == nil) != (ids == 5) {
			t.Errorf("%d time ids: %v", ids, err)
		}
	}
}
