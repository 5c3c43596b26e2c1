package pipeline

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

func encode(t *testing.T, p *tinyPipe, text string) *tensor.Tensor {
	t.Helper()
	z, err := EncodePrompt(context.Background(), p.encoder(), text, LastHiddenNormalized)
	if err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	return z
}

func maxDiff(a, b []float32) float64 {
	var worst float64
	for i := range a {
		worst = max(worst, math.Abs(float64(a[i])-float64(b[i])))
	}
	return worst
}

// TestCompelWeights checks compel's weighting rules against the raw
// encoder: fragments concatenate into one token sequence, weights above 1
// scale the distance from the empty prompt, weights below 1 lerp towards
// the prompt with the fragment masked out of attention.
func TestCompelWeights(t *testing.T) {
	p := loadTinyPipe(t)
	ctx := context.Background()
	plain := encode(t, p, "a photo of a cat")
	if d := maxDiff(encode(t, p, "a photo of a (cat)1.0").Data, plain.Data); d != 0 {
		t.Errorf("weight-1 fragment changes the embedding by %g", d)
	}

	ids := p.tok.Encode77("a photo of a cat")
	raw, err := p.pipe.TextEncoder.Forward(ctx, [][]int{ids})
	if err != nil {
		t.Fatal(err)
	}
	emptyIDs := p.tok.Encode77("")
	empty, err := p.pipe.TextEncoder.Forward(ctx, [][]int{emptyIDs})
	if err != nil {
		t.Fatal(err)
	}
	dim := plain.Shape[2]
	catPos := 5 // BOS a photo of a cat
	up := encode(t, p, "a photo of a (cat)1.5")
	for tok := 0; tok < 77; tok++ {
		w := float32(1)
		if tok == catPos {
			w = 1.5
		}
		for i := 0; i < dim; i++ {
			z, e := raw.LastHiddenState.Data[tok*dim+i], empty.LastHiddenState.Data[tok*dim+i]
			want := e + float32((z-e)*w)
			if got := up.Data[tok*dim+i]; got != want {
				t.Fatalf("up-weighted token %d feature %d: %v, want %v", tok, i, got, want)
			}
		}
	}

	keep := make([]bool, 77)
	for i := range keep {
		keep[i] = i != catPos
	}
	masked, err := p.pipe.TextEncoder.ForwardWith(ctx, [][]int{ids}, sd.ForwardOptions{KeyMask: [][]bool{keep}})
	if err != nil {
		t.Fatal(err)
	}
	down := encode(t, p, "a photo of a (cat)0.5")
	for i := range down.Data {
		// Both embeddings carry the fragment's weight on its own tokens.
		w := float32(1)
		if i/dim == catPos {
			w = 0.5
		}
		e := empty.LastHiddenState.Data[i]
		base := e + float32((raw.LastHiddenState.Data[i]-e)*w)
		without := e + float32((masked.LastHiddenState.Data[i]-e)*w)
		w1 := float32(math.Tan(0.5 * math.Pi / 2))
		sum := 1 + w1
		want := float32(base*(1/sum)) + float32(without*(w1/sum))
		if math.Abs(float64(down.Data[i]-want)) > 1e-6 {
			t.Fatalf("down-weighted feature %d: %v, want %v", i, down.Data[i], want)
		}
	}
	if maxDiff(down.Data, plain.Data) < 1e-4 {
		t.Error("down-weighting changed nothing")
	}
}

func TestCompelConjunctionBlendAndLongPrompts(t *testing.T) {
	p := loadTinyPipe(t)
	cat, dog := encode(t, p, "a cat"), encode(t, p, "a dog")

	and := encode(t, p, `("a cat", "a dog").and()`)
	if and.Shape[1] != 154 {
		t.Fatalf(".and() of two prompts has %d tokens, want 154", and.Shape[1])
	}
	if maxDiff(and.Data[:len(cat.Data)], cat.Data) != 0 || maxDiff(and.Data[len(cat.Data):], dog.Data) != 0 {
		t.Error(".and() is not the concatenation of its prompts")
	}

	blend := encode(t, p, `("a cat", "a dog").blend(1, 3)`)
	for i := range blend.Data {
		want := float32(cat.Data[i]*0.25) + float32(dog.Data[i]*0.75)
		if blend.Data[i] != want {
			t.Fatalf("blend feature %d: %v, want %v", i, blend.Data[i], want)
		}
	}

	long := strings.Repeat("red ", 100)
	z := encode(t, p, long)
	if z.Shape[1] != 154 {
		t.Fatalf("a 100-token prompt gives %d tokens, want 2 windows of 77", z.Shape[1])
	}
	// The second window is its own [BOS, 25 tokens, EOS, pad…] sequence.
	second := append([]int{p.tok.BOSID()}, p.tok.IDs(strings.Repeat("red ", 25))...)
	second = append(second, p.tok.EOSID())
	for len(second) < 77 {
		second = append(second, p.tok.PadID)
	}
	out, err := p.pipe.TextEncoder.Forward(context.Background(), [][]int{second})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(z.Data[77*z.Shape[2]:], out.LastHiddenState.Data); d > 1e-6 {
		t.Errorf("second window differs from encoding it alone by %g", d)
	}
}

func TestClipSkip(t *testing.T) {
	p := loadTinyPipe(t)
	enc := p.encoder()
	enc.SkipLayers = 1
	z, err := EncodePrompt(context.Background(), enc, "a photo of a cat", LastHiddenNormalized)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.pipe.TextEncoder.Forward(context.Background(), [][]int{p.tok.Encode77("a photo of a cat")})
	if err != nil {
		t.Fatal(err)
	}
	want, err := out.SkipLayers(1, true)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(z.Data, want.Data); d > 1e-6 {
		t.Errorf("clip skip 1 differs from final_layer_norm(hidden_states[-2]) by %g", d)
	}
	enc.SkipLayers = 2
	if _, err := EncodePrompt(context.Background(), enc, "x", LastHiddenNormalized); err == nil {
		t.Error("skipping every layer of a 2-layer encoder was accepted")
	}
}

// baseParams is a short txt2img run on the tiny model.
func baseParams(t *testing.T, p *tinyPipe, sched string, steps int) DenoiseParams {
	shape := []int{1, 4, 8, 8}
	return DenoiseParams{
		UNet: p.pipe.UNet, SchedulerName: sched, SchedulerConfig: p.schedulerConfig, Steps: steps,
		CFGScale: []float64{7.5}, DenoisingEnd: 1,
		Positive: &Conditioning{Embeds: encode(t, p, "a photo of a cat")},
		Negative: &Conditioning{Embeds: encode(t, p, "")},
		Noise:    tensor.FromData(noise.Randn(0, noise.Float32, shape...), shape...),
	}
}

func TestDenoiseCancelStopsWithinOneStep(t *testing.T) {
	p := loadTinyPipe(t)
	ctx, cancel := context.WithCancel(context.Background())
	params := baseParams(t, p, "euler", 50)
	calls := 0
	params.OnStep = func(StepInfo) error {
		calls++
		cancel()
		return nil
	}
	_, err := Denoise(ctx, params)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if calls != 1 {
		t.Errorf("%d steps ran, want 1", calls)
	}
}

func TestDenoiseImg2ImgAndInpaint(t *testing.T) {
	p := loadTinyPipe(t)
	ctx := context.Background()
	init := loadGolden(t, "s0_cat_noneg_euler.latents.safetensors")["final_latents"]
	initLatents := tensor.FromData(init.Float32(), init.Shape...)

	img2img := baseParams(t, p, "euler", 8)
	img2img.Latents = initLatents
	img2img.DenoisingStart = 0.5
	calls := 0
	img2img.OnStep = func(s StepInfo) error {
		calls++
		if s.TotalSteps != 4 {
			t.Errorf("total steps %d, want 4", s.TotalSteps)
		}
		return nil
	}
	plain, err := Denoise(ctx, img2img)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 4 {
		t.Errorf("img2img from 0.5 ran %d of 8 steps, want 4", calls)
	}
	if maxDiff(plain.Data, initLatents.Data) == 0 {
		t.Error("img2img left the latents unchanged")
	}

	// A mask of ones keeps every known latent: the result is the input.
	keepAll := img2img
	keepAll.OnStep = nil
	ones := tensor.New(1, 1, 64, 64)
	for i := range ones.Data {
		ones.Data[i] = 1
	}
	keepAll.Mask = &DenoiseMask{Mask: ones}
	got, err := Denoise(ctx, keepAll)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(got.Data, initLatents.Data); d != 0 {
		t.Errorf("keep-everything inpainting changed the latents by %g", d)
	}
	// A mask of zeros regenerates everything: plain img2img.
	regenAll := keepAll
	regenAll.Mask = &DenoiseMask{Mask: tensor.New(1, 1, 64, 64)}
	got, err = Denoise(ctx, regenAll)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(got.Data, plain.Data); d != 0 {
		t.Errorf("regenerate-everything inpainting differs from img2img by %g", d)
	}
	// Half and half: the kept half stays, the other changes.
	half := tensor.New(1, 1, 64, 64)
	for y := 0; y < 64; y++ {
		for x := 0; x < 32; x++ {
			half.Data[y*64+x] = 1
		}
	}
	mixed := keepAll
	mixed.Mask = &DenoiseMask{Mask: half}
	got, err = Denoise(ctx, mixed)
	if err != nil {
		t.Fatal(err)
	}
	for c := 0; c < 4; c++ {
		for y := 0; y < 8; y++ {
			for x := 0; x < 8; x++ {
				i := c*64 + y*8 + x
				if x < 3 && got.Data[i] != initLatents.Data[i] {
					t.Fatalf("kept latent (%d,%d,%d) changed", c, y, x)
				}
				if x > 4 && got.Data[i] == initLatents.Data[i] {
					t.Fatalf("regenerated latent (%d,%d,%d) kept its value", c, y, x)
				}
			}
		}
	}
	for _, gradient := range []bool{true} {
		g := mixed
		g.Mask = &DenoiseMask{Mask: half, Gradient: gradient}
		if _, err := Denoise(ctx, g); err != nil {
			t.Fatalf("gradient mask: %v", err)
		}
	}
}

func TestCFGRescaleAndSeparateLengths(t *testing.T) {
	p := loadTinyPipe(t)
	ctx := context.Background()
	base, err := Denoise(ctx, baseParams(t, p, "euler", 4))
	if err != nil {
		t.Fatal(err)
	}
	rescaled := baseParams(t, p, "euler", 4)
	rescaled.CFGRescaleMultiplier = 0.7
	got, err := Denoise(ctx, rescaled)
	if err != nil {
		t.Fatal(err)
	}
	if maxDiff(got.Data, base.Data) == 0 {
		t.Error("cfg_rescale_multiplier changed nothing")
	}
	// A two-window positive prompt with a one-window negative runs the two
	// halves separately.
	long := baseParams(t, p, "euler", 2)
	long.Positive = &Conditioning{Embeds: encode(t, p, strings.Repeat("cat ", 90))}
	if _, err := Denoise(ctx, long); err != nil {
		t.Fatalf("different conditioning lengths: %v", err)
	}
}

// TestSDXLDenoise runs the SDXL-shaped fixture UNet through the loop with
// synthetic conditioning: pooled embeddings and time ids reach the UNet.
func TestSDXLDenoise(t *testing.T) {
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
	shape := []int{1, 4, 8, 8}
	params := DenoiseParams{
		UNet: unet, SchedulerName: "euler", Steps: 3, CFGScale: []float64{5}, DenoisingEnd: 1,
		Positive: cond(1), Negative: cond(3),
		Noise: tensor.FromData(noise.Randn(0, noise.Float32, shape...), shape...),
	}
	out, err := Denoise(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range out.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatal("non-finite latents")
		}
	}
	params.Positive = &Conditioning{Embeds: params.Positive.Embeds}
	if _, err := Denoise(context.Background(), params); err == nil {
		t.Error("SDXL denoise without pooled embeds was accepted")
	}
}

func TestPreviewAndImages(t *testing.T) {
	small := tensor.New(1, 4, 8, 6)
	img, err := PreviewImage(small, SD1LatentRGBFactors)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 6 || b.Dy() != 8 {
		t.Errorf("preview %v, want 6×8", b)
	}
	// Zero latents are mid-grey: (0+1)/2·255 truncated.
	if img.Pix[0] != 127 {
		t.Errorf("zero latent previews as %d, want 127", img.Pix[0])
	}
	big, err := PreviewImage(tensor.New(1, 4, 300, 600), SDXLLatentRGBFactors)
	if err != nil {
		t.Fatal(err)
	}
	if b := big.Bounds(); max(b.Dx(), b.Dy()) > 256 {
		t.Errorf("preview %v exceeds 256", b)
	}
	url, err := JPEGDataURL(img)
	if err != nil || !strings.HasPrefix(url, "data:image/jpeg;base64,") {
		t.Errorf("data URL %.30q, %v", url, err)
	}

	// Rounding is half to even after the float32 product.
	x := tensor.New(1, 3, 1, 2)
	x.Data[0], x.Data[1] = 0.5/255, 1.5/255
	rgb, err := ToImage(x)
	if err != nil {
		t.Fatal(err)
	}
	if rgb.Pix[0] != 0 || rgb.Pix[4] != 2 {
		t.Errorf("half-way values round to %d and %d, want 0 and 2", rgb.Pix[0], rgb.Pix[4])
	}
	back := FromImage(rgb)
	if back.Data[0] != -1 {
		t.Errorf("FromImage(0) = %v, want -1", back.Data[0])
	}
}

func TestResize(t *testing.T) {
	x := tensor.New(1, 1, 2, 2)
	copy(x.Data, []float32{0, 1, 2, 3})
	for _, mode := range []string{"nearest", "nearest-exact", "bilinear", "bicubic", "area"} {
		y, err := Resize(x, 4, 4, mode)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if y.Shape[2] != 4 || y.Shape[3] != 4 {
			t.Fatalf("%s: shape %v", mode, y.Shape)
		}
	}
	near, _ := Resize(x, 4, 4, "nearest")
	if near.Data[0] != 0 || near.Data[3] != 1 || near.Data[15] != 3 {
		t.Errorf("nearest 2×: %v", near.Data)
	}
	// torch: interpolate([[0,1],[2,3]], size=4, mode="bilinear") first row.
	bil, _ := Resize(x, 4, 4, "bilinear")
	want := []float32{0, 0.25, 0.75, 1}
	for i, w := range want {
		if math.Abs(float64(bil.Data[i]-w)) > 1e-6 {
			t.Errorf("bilinear row 0: %v, want %v", bil.Data[:4], want)
			break
		}
	}
	area, _ := Resize(near, 2, 2, "area")
	if maxDiff(area.Data, x.Data) != 0 {
		t.Errorf("area 2× down of nearest 2× up: %v", area.Data)
	}
	if _, err := Resize(x, 4, 4, "lanczos"); err == nil {
		t.Error("unknown mode accepted")
	}
}

// TestMaskedEncoderMatchesUnmasked checks the masked attention path of
// sd.CLIPTextModel.ForwardWith against the fused kernel: a mask that keeps
// every token must give Forward's result, and masking the padding after the
// first EOS must leave the states before it unchanged (causality).
func TestMaskedEncoderMatchesUnmasked(t *testing.T) {
	p := loadTinyPipe(t)
	ctx := context.Background()
	ids := p.tok.Encode77("a watercolor painting of a lighthouse")
	ref, err := p.pipe.TextEncoder.Forward(ctx, [][]int{ids})
	if err != nil {
		t.Fatal(err)
	}
	all := make([]bool, 77)
	for i := range all {
		all[i] = true
	}
	got, err := p.pipe.TextEncoder.ForwardWith(ctx, [][]int{ids}, sd.ForwardOptions{KeyMask: [][]bool{all}})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(got.LastHiddenState.Data, ref.LastHiddenState.Data); d > 2e-5 {
		t.Errorf("all-true mask differs from Forward by %g", d)
	}
	tail := append([]bool(nil), all...)
	for i := 10; i < 77; i++ {
		tail[i] = false
	}
	got, err = p.pipe.TextEncoder.ForwardWith(ctx, [][]int{ids}, sd.ForwardOptions{KeyMask: [][]bool{tail}})
	if err != nil {
		t.Fatal(err)
	}
	dim := ref.LastHiddenState.Shape[2]
	if d := maxDiff(got.LastHiddenState.Data[:10*dim], ref.LastHiddenState.Data[:10*dim]); d > 2e-5 {
		t.Errorf("masking later tokens changed earlier states by %g", d)
	}
}

// TestSDXLPromptAssembly checks sdxl_compel_prompt's assembly with an empty
// prompt (zeros, without running the encoders) and that the second encoder
// must have a projection for the pooled embedding.
func TestSDXLPromptAssembly(t *testing.T) {
	p := loadTinyPipe(t)
	enc := p.encoder()
	c, err := EncodeSDXLPrompt(context.Background(), enc, enc, SDXLPrompt{
		OriginalWidth: 1024, OriginalHeight: 768, CropTop: 8, CropLeft: 16, TargetWidth: 512, TargetHeight: 640,
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Embeds.Shape; s[0] != 1 || s[1] != 77 || s[2] != 64 {
		t.Errorf("embeds shape %v, want [1 77 64]", s)
	}
	for _, v := range append(c.Embeds.Data, c.PooledEmbeds.Data...) {
		if v != 0 {
			t.Fatal("an empty SDXL prompt is not zeros")
		}
	}
	want := []float32{768, 1024, 8, 16, 640, 512}
	for i, v := range want {
		if c.AddTimeIDs[i] != v {
			t.Fatalf("time ids %v, want %v", c.AddTimeIDs, want)
		}
	}
	if _, err := EncodeSDXLPrompt(context.Background(), enc, enc, SDXLPrompt{Prompt: "a cat"}); err == nil ||
		!strings.Contains(err.Error(), "projection") {
		t.Errorf("encoder 2 without projection: %v", err)
	}
}
