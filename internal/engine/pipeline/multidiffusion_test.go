package pipeline

import (
	"context"
	"math"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens/goldtest"
	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/engine/tiles"
)

// The boundary condition under which tiling changes nothing: tiles that do not overlap. A 2×2 grid of
// disjoint tiles then blends nothing, and each quadrant of the multi-diffusion result equals a plain
// (untiled) Denoise of that quadrant alone, bit for bit, with a deterministic scheduler; one region
// covering the latents is plain Denoise. With overlapping tiles the UNet sees less context than the whole
// image, so the result differs from the untiled run, by less than its magnitude.
func TestMultiDiffusionTiles(t *testing.T) {
	p := loadTinyPipe(t)
	ctx := context.Background()
	const side = 16 // latents of a 128×128 image
	shape := []int{1, 4, side, side}
	params := baseParams(t, p, "euler", 4)
	params.Noise = tensor.FromData(noise.Randn(7, noise.Float32, shape...), shape...)

	grid, err := tiles.Grid(side, side, side/2, side/2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(grid) != 4 {
		t.Fatalf("%d tiles", len(grid))
	}
	got, err := MultiDiffusionDenoise(ctx, params, grid)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range grid {
		q := params
		q.Noise = tensor.FromData(cropLatents(params.Noise.Data, side, side, r), 1, 4, r.Bottom-r.Top, r.Right-r.Left)
		want, err := Denoise(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(cropLatents(got.Data, side, side, r), want.Data); d != 0 {
			t.Errorf("tile %+v: multi-diffusion differs from the tile's own run by %g", r, d)
		}
	}

	// One region covering everything is plain Denoise.
	whole, err := Denoise(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	one, err := MultiDiffusionDenoise(ctx, params, []tiles.Tile{{Bottom: side, Right: side}})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(one.Data, whole.Data); d != 0 {
		t.Errorf("a single full region differs from Denoise by %g", d)
	}

	// Overlapping 2×2 tiles (12 wide, overlap 8).
	grid, err = tiles.Grid(side, side, 12, 12, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(grid) != 4 || grid[1].OverlapLeft != 8 {
		t.Fatalf("grid %+v", grid)
	}
	blended, err := MultiDiffusionDenoise(ctx, params, grid)
	if err != nil {
		t.Fatal(err)
	}
	var maxRef float64
	for _, v := range whole.Data {
		maxRef = max(maxRef, math.Abs(float64(v)))
	}
	d := maxDiff(blended.Data, whole.Data)
	t.Logf("overlapping 2×2 vs untiled: max|diff| %.3g (max|ref| %.3g)", d, maxRef)
	if d == 0 || d > maxRef || math.IsNaN(d) {
		t.Errorf("overlapping 2×2 vs untiled: max|diff| %g against max|ref| %g", d, maxRef)
	}
	// Stochastic schedulers, img2img windows and progress reporting run through the same loop.
	params.SchedulerName = "euler_a"
	params.DenoisingStart = 0.5
	steps := 0
	params.OnStep = func(s StepInfo) error { steps++; return nil }
	if _, err := MultiDiffusionDenoise(ctx, params, grid); err != nil || steps != 2 {
		t.Errorf("euler_a from 0.5: %v after %d steps", err, steps)
	}
	if _, err := MultiDiffusionDenoise(ctx, params, []tiles.Tile{{Top: 4, Bottom: 20, Right: 8}}); err == nil {
		t.Error("a region outside the latents was accepted")
	}
}

// Per-tile ControlNet: each region sees its own crop of the control image (InvokeAI's
// crop_controlnet_data). With disjoint tiles each quadrant equals a plain Denoise of the quadrant with the
// quadrant of the control image, bit for bit; one region covering everything is Denoise with the whole
// image; and the control changes the result (the test can fail).
func TestMultiDiffusionControlPerTile(t *testing.T) {
	p := loadTinyPipe(t)
	cn := loadControlNet(t)
	ctx := context.Background()
	const side = 16
	shape := []int{1, 4, side, side}
	params := baseParams(t, p, "euler", 3)
	params.Noise = tensor.FromData(noise.Randn(11, noise.Float32, shape...), shape...)
	image, err := PrepareControlImage(readPNG(t, goldtest.Path(t, "sd-ext", "controlnet", "inputs", "control_shapes64.png")),
		side*8, side*8, ResizeJust, 3)
	if err != nil {
		t.Fatal(err)
	}
	params.Controls = []Control{{Model: cn, Image: image, Weight: []float64{0.8}, EndStepPercent: 1}}

	grid, err := tiles.Grid(side, side, side/2, side/2, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := MultiDiffusionDenoise(ctx, params, grid)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range grid {
		q := params
		q.Noise = tensor.FromData(cropLatents(params.Noise.Data, side, side, r), 1, 4, r.Bottom-r.Top, r.Right-r.Left)
		q.Controls = []Control{params.Controls[0]}
		q.Controls[0].Image = cropPixels(image, r)
		want, err := Denoise(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(cropLatents(got.Data, side, side, r), want.Data); d != 0 {
			t.Errorf("tile %+v: multi-diffusion with control differs from the tile's own run by %g", r, d)
		}
	}
	whole, err := Denoise(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	one, err := MultiDiffusionDenoise(ctx, params, []tiles.Tile{{Bottom: side, Right: side}})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(one.Data, whole.Data); d != 0 {
		t.Errorf("a single full region with control differs from Denoise by %g", d)
	}
	plain := params
	plain.Controls = nil
	without, err := MultiDiffusionDenoise(ctx, plain, grid)
	if err != nil {
		t.Fatal(err)
	}
	if maxDiff(without.Data, got.Data) == 0 {
		t.Error("the ControlNet changed nothing")
	}
	// A control image not at the latents' size ×8 is refused.
	bad := params
	bad.Controls = []Control{params.Controls[0]}
	bad.Controls[0].Image = cropPixels(image, tiles.Tile{Bottom: 8, Right: 8})
	if _, err := MultiDiffusionDenoise(ctx, bad, grid); err == nil {
		t.Error("a control image of the wrong size was accepted")
	}
}
