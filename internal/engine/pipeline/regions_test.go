package pipeline

import (
	"context"
	"fmt"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// Concatenation, token ranges, nearest-neighbour masks and SDXL's choice of pooled embeddings, as InvokeAI's
// _concat_regional_text_embeddings makes them.
func TestRegionalConditioningAssembly(t *testing.T) {
	cond := func(tokens int, v float32, pooled float32) *Conditioning {
		e := tensor.New(1, tokens, 2)
		for i := range e.Data {
			e.Data[i] = v
		}
		c := &Conditioning{Embeds: e}
		if pooled != 0 {
			c.PooledEmbeds = tensor.FromData([]float32{pooled}, 1, 1)
			c.AddTimeIDs = []float32{pooled, 0, 0, 0, 0, 0}
		}
		return c
	}
	// A 4×6 mask, set in its right half and (0.7) on its bottom row's first pixel.
	mask := tensor.New(1, 4, 6)
	for y := 0; y < 4; y++ {
		for x := 3; x < 6; x++ {
			mask.Data[y*6+x] = 1
		}
	}
	mask.Data[3*6] = 0.7
	c, regions, err := RegionalConditioning([]*Conditioning{cond(3, 1, 0), cond(2, 2, 0)}, []*tensor.Tensor{nil, mask}, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(c.Embeds.Shape) != "[1 5 2]" || fmt.Sprint(c.Embeds.Data) != "[1 1 1 1 1 1 2 2 2 2]" {
		t.Fatalf("embeds %v %v", c.Embeds.Shape, c.Embeds.Data)
	}
	if fmt.Sprint(regions.Ranges) != "[[0 3] [3 5]]" {
		t.Fatalf("ranges %v", regions.Ranges)
	}
	// The unmasked prompt applies everywhere; the mask, resized 4×6 → 2×3 by torch's nearest rule (source
	// index floor(i·2)), keeps rows 0 and 2 and columns 0, 2 and 4 (so not the bottom row).
	if fmt.Sprint(regions.Masks[0].Data) != "[1 1 1 1 1 1]" || fmt.Sprint(regions.Masks[1].Data) != "[0 0 1 0 0 1]" {
		t.Fatalf("masks %v %v", regions.Masks[0].Data, regions.Masks[1].Data)
	}
	// Without any mask, several conditionings are one long prompt.
	if _, r, err := RegionalConditioning([]*Conditioning{cond(3, 1, 0), cond(2, 2, 0)}, []*tensor.Tensor{nil, nil}, 2, 3); err != nil || r != nil {
		t.Fatalf("unmasked: regions %v, error %v", r, err)
	}
	// SDXL: the pooled embedding of the last unmasked conditioning, else the first's.
	c, _, err = RegionalConditioning([]*Conditioning{cond(1, 1, 7), cond(1, 1, 8), cond(1, 1, 9)}, []*tensor.Tensor{mask, nil, mask}, 2, 3)
	if err != nil || c.PooledEmbeds.Data[0] != 8 || c.AddTimeIDs[0] != 8 {
		t.Fatalf("pooled %v, error %v", c.PooledEmbeds, err)
	}
	c, _, err = RegionalConditioning([]*Conditioning{cond(1, 1, 7), cond(1, 1, 8)}, []*tensor.Tensor{mask, mask}, 2, 3)
	if err != nil || c.PooledEmbeds.Data[0] != 7 {
		t.Fatalf("pooled of all-masked %v, error %v", c.PooledEmbeds, err)
	}
	if _, _, err := RegionalConditioning([]*Conditioning{cond(1, 1, 7), cond(1, 1, 0)}, []*tensor.Tensor{nil, mask}, 2, 3); err == nil {
		t.Fatal("SD and SDXL conditionings were mixed")
	}
	if _, _, err := RegionalConditioning([]*Conditioning{cond(1, 1, 0)}, []*tensor.Tensor{tensor.New(2, 4, 6)}, 2, 3); err == nil {
		t.Fatal("a two-channel mask was accepted")
	}
}

// The masks of each UNet level are 2×2 max pools (rounding up) of the previous one, and a token outside its
// pixel's region scores −10000.
func TestRegionBiasLevels(t *testing.T) {
	// 5×3: set only at (row 4, column 2).
	m := tensor.New(1, 5, 3)
	m.Data[4*3+2] = 1
	all := tensor.New(1, 5, 3)
	for i := range all.Data {
		all.Data[i] = 1
	}
	rb := newRegionBias(&TextRegions{Masks: []*tensor.Tensor{all, m}, Ranges: [][2]int{{0, 2}, {2, 3}}}, 3, 5, 3)
	for lq, want := range map[int]string{15: "[0 0 0 0 0 0 0 0 0 0 0 0 0 0 1]", 6: "[0 0 0 0 0 1]", 2: "[0 1]", 1: "[1]"} {
		got := rb.levels[lq]
		if len(got) != 2 || fmt.Sprint(got[1].Data) != want {
			t.Fatalf("level %d: %v, want %s", lq, got, want)
		}
	}
	b, err := rb.at(2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(b) != "[0 0 -10000 0 0 0]" {
		t.Fatalf("bias %v", b)
	}
	if _, err := rb.at(7, 3); err == nil {
		t.Fatal("a query length without a level was accepted")
	}
}

// A region that covers every pixel and one that covers none: the run is the one with the covering prompt
// alone (the other prompt's tokens get no attention anywhere), on the positive side (two halves run apart,
// 154 and 77 tokens), the negative side, and both (one batched call with both biases); while the same two
// prompts without masks (one long prompt) give a different result.
func TestRegionalDenoiseMasksTokens(t *testing.T) {
	p := loadTinyPipe(t)
	ctx := context.Background()
	run := func(params DenoiseParams) []float32 {
		t.Helper()
		out, err := Denoise(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		return out.Data
	}
	cat := &Conditioning{Embeds: encode(t, p, "a photo of a cat")}
	car := &Conditioning{Embeds: encode(t, p, "a red sports car on a road")}
	empty := &Conditioning{Embeds: encode(t, p, "")}
	blurry := &Conditioning{Embeds: encode(t, p, "blurry, low quality")}
	ones, zeros := tensor.New(1, 8, 8), tensor.New(1, 8, 8)
	for i := range ones.Data {
		ones.Data[i] = 1
	}
	regional := func(a, b *Conditioning, ma, mb *tensor.Tensor) (*Conditioning, *TextRegions) {
		c, r, err := RegionalConditioning([]*Conditioning{a, b}, []*tensor.Tensor{ma, mb}, 8, 8)
		if err != nil {
			t.Fatal(err)
		}
		return c, r
	}
	// One model call: the differences are float rounding (sums over 154 keys, some weighted 0, rather than 77).
	const tol = 5e-6
	base := baseParams(t, p, "euler", 1)
	base.Positive, base.Negative = cat, empty
	catOnly := run(base)

	pos := baseParams(t, p, "euler", 1)
	pos.Negative = empty
	pos.Positive, pos.PositiveRegions = regional(cat, car, ones, zeros)
	if d := maxDiff(run(pos), catOnly); d > tol {
		t.Errorf("positive regions: %v from the covering prompt alone", d)
	} else {
		t.Logf("positive regions: %v from the covering prompt alone", d)
	}
	swapped := pos
	swapped.Positive, swapped.PositiveRegions = regional(car, cat, zeros, ones)
	if d := maxDiff(run(swapped), catOnly); d > tol {
		t.Errorf("positive regions, other order: %v from the covering prompt alone", d)
	}
	neg := baseParams(t, p, "euler", 1)
	neg.Positive = cat
	neg.Negative, neg.NegativeRegions = regional(empty, blurry, ones, zeros)
	if d := maxDiff(run(neg), catOnly); d > tol {
		t.Errorf("negative regions: %v from the covering prompt alone", d)
	}
	both := baseParams(t, p, "euler", 1)
	both.Positive, both.PositiveRegions = regional(cat, car, ones, zeros)
	both.Negative, both.NegativeRegions = regional(empty, blurry, ones, zeros)
	if d := maxDiff(run(both), catOnly); d > tol {
		t.Errorf("regions on both sides: %v from the covering prompts alone", d)
	} else {
		t.Logf("regions on both sides: %v from the covering prompts alone", d)
	}
	long := baseParams(t, p, "euler", 1)
	long.Negative = empty
	long.Positive, _ = regional(cat, car, nil, nil)
	if d := maxDiff(run(long), catOnly); d < 100*tol {
		t.Errorf("the unmasked two-prompt run is only %v from the one-prompt run: the test cannot tell masks apart", d)
	} else {
		t.Logf("without masks: %v from the one-prompt run", d)
	}
	// A mask that is not the latents' size is refused.
	bad := pos
	bad.PositiveRegions = &TextRegions{Masks: []*tensor.Tensor{ones, tensor.New(1, 4, 4)}, Ranges: pos.PositiveRegions.Ranges}
	if _, err := Denoise(ctx, bad); err == nil {
		t.Error("a mask of the wrong size was accepted")
	}
}

// SDXL: the same equivalence on the SDXL-shaped UNet (its attention sits at the 1/2 and 1/4 levels), with
// the pooled embedding taken from the unmasked prompt.
func TestRegionalDenoiseSDXL(t *testing.T) {
	dir, err := goldens.Path("sd-tiny", "models", "sdxl-tiny", "unet")
	if err != nil {
		t.Fatal(err)
	}
	unet, err := sd.LoadUNetFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	cond := func(seed uint64) *Conditioning {
		return &Conditioning{
			Embeds:       tensor.FromData(noise.Randn(seed, noise.Float32, 1, 77, 64), 1, 77, 64),
			PooledEmbeds: tensor.FromData(noise.Randn(seed+1, noise.Float32, 1, 32), 1, 32),
			AddTimeIDs:   []float32{1024, 1024, 0, 0, 1024, 1024},
		}
	}
	shape := []int{1, 4, 10, 6} // odd levels: 10×6, 5×3, 3×2
	params := DenoiseParams{
		UNet: unet, SchedulerName: "euler", Steps: 1, CFGScale: []float64{5}, DenoisingEnd: 1,
		Positive: cond(1), Negative: cond(3),
		Noise: tensor.FromData(noise.Randn(0, noise.Float32, shape...), shape...),
	}
	plain, err := Denoise(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	zeros := tensor.New(1, 10, 6)
	// The covering prompt is unmasked (nil), the other masked out everywhere; its pooled embedding must not
	// be used.
	c, r, err := RegionalConditioning([]*Conditioning{cond(5), params.Positive}, []*tensor.Tensor{zeros, nil}, 10, 6)
	if err != nil {
		t.Fatal(err)
	}
	params.Positive, params.PositiveRegions = c, r
	got, err := Denoise(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(got.Data, plain.Data); d > 5e-6 {
		t.Fatalf("SDXL regions: %v from the covering prompt alone", d)
	}
}

// A regional IP-Adapter's mask is thresholded at 0.5, resized to the latents by nearest neighbour and
// max-pooled (2×2, rounding up) for each smaller UNet level, one weight per query position; an adapter
// without a mask gets no Mask option; a level the UNet does not have is reported as a failure.
func TestIPAdapterMaskLevels(t *testing.T) {
	// 10×14 → 5×7 by nearest samples source row 2y, column 2x: the set pixel (6, 10) lands on (3, 5); the
	// 0.4 at (2, 2) would land on (1, 1) but is below the threshold.
	m := tensor.New(1, 10, 14)
	m.Data[6*14+10] = 0.6
	m.Data[2*14+2] = 0.4
	r := &runAdapters{ips: []IPAdapter{{Mask: m}, {}}}
	if err := r.prepareMasks(5, 7); err != nil {
		t.Fatal(err)
	}
	if r.ipMask(1) != nil {
		t.Error("an adapter without a mask has a Mask option")
	}
	f := r.ipMask(0)
	// 5×7 (3, 5) → 3×4 (1, 2) → 2×2 (0, 1) → 1×1 (0, 0).
	for lq, want := range map[int]int{35: 3*7 + 5, 12: 1*4 + 2, 4: 1, 1: 0} {
		mask := f(lq)
		if len(mask) != lq {
			t.Fatalf("level %d: %d weights", lq, len(mask))
		}
		for i, v := range mask {
			if (i == want) != (v == 1) || (v != 0 && v != 1) {
				t.Errorf("level %d: weight %d is %v (set: %d)", lq, i, v, want)
			}
		}
	}
	if err := r.failure(); err != nil {
		t.Fatal(err)
	}
	f(36)
	if r.failure() == nil {
		t.Error("an unknown level is not reported")
	}
}
