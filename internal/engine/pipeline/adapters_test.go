package pipeline

import (
	"context"
	"image"
	"image/color"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/goldens/goldtest"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

func TestPrepareControlImageModes(t *testing.T) {
	// 128×64, left half red, right half blue, a green column at x = 32.
	src := image.NewNRGBA(image.Rect(0, 0, 128, 64))
	for y := 0; y < 64; y++ {
		for x := 0; x < 128; x++ {
			c := color.NRGBA{255, 0, 0, 255}
			if x >= 64 {
				c = color.NRGBA{0, 0, 255, 255}
			}
			if x == 32 {
				c = color.NRGBA{0, 255, 0, 255}
			}
			src.SetNRGBA(x, y, c)
		}
	}
	at := func(t *tensor.Tensor, c, x, y int) float32 { return t.Data[(c*t.Shape[2]+y)*t.Shape[3]+x] }
	// Same size: every mode is the image /255.
	for _, mode := range []string{ResizeJustSimple, ResizeJust, ResizeCrop, ResizeFill} {
		out, err := PrepareControlImage(src, 128, 64, mode, 3)
		if err != nil {
			t.Fatal(err)
		}
		if at(out, 0, 0, 0) != 1 || at(out, 2, 100, 10) != 1 || at(out, 1, 32, 5) != 1 || at(out, 1, 33, 5) != 0 {
			t.Errorf("%s changed a same-size image", mode)
		}
	}
	// crop_resize to 64×64 keeps the middle: source columns 32..95.
	crop, err := PrepareControlImage(src, 64, 64, ResizeCrop, 3)
	if err != nil {
		t.Fatal(err)
	}
	if at(crop, 1, 0, 0) != 1 || at(crop, 0, 31, 0) != 1 || at(crop, 2, 32, 0) != 1 {
		t.Errorf("crop_resize did not take the centre")
	}
	// fill_resize to 64×64 scales to 64×32 and centres it on the median border colour.
	fill, err := PrepareControlImage(src, 64, 64, ResizeFill, 3)
	if err != nil {
		t.Fatal(err)
	}
	if fill.Shape[2] != 64 || at(fill, 1, 16, 32) != 1 || at(fill, 0, 2, 30) != 1 || at(fill, 2, 60, 40) != 1 {
		t.Errorf("fill_resize misplaced the image")
	}
	// One channel is the red one.
	red, err := PrepareControlImage(src, 128, 64, ResizeJustSimple, 1)
	if err != nil {
		t.Fatal(err)
	}
	if red.Shape[1] != 1 || at(red, 0, 0, 0) != 1 || at(red, 0, 100, 0) != 0 {
		t.Errorf("one channel: %v", red.Shape)
	}
	for _, bad := range []struct {
		w, h, ch int
		mode     string
	}{{0, 64, 3, ResizeJust}, {64, 64, 4, ResizeJust}, {64, 64, 3, "stretch"}, {1 << 20, 64, 3, ResizeJust}} {
		if _, err := PrepareControlImage(src, bad.w, bad.h, bad.mode, bad.ch); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// just_resize_simple is Pillow's Lanczos resize (testdata/imaging/resize.safetensors).
func TestPrepareControlImageLanczos(t *testing.T) {
	path, err := goldens.Path("imaging", "resize.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := goldens.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	in := ts["rgb"]
	img := image.NewNRGBA(image.Rect(0, 0, in.Shape[1], in.Shape[0]))
	for i := 0; i < in.Shape[0]*in.Shape[1]; i++ {
		img.Pix[i*4], img.Pix[i*4+1], img.Pix[i*4+2], img.Pix[i*4+3] = uint8(in.Ints[i*3]), uint8(in.Ints[i*3+1]), uint8(in.Ints[i*3+2]), 255
	}
	out, err := PrepareControlImage(img, 50, 71, ResizeJustSimple, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := ts["rgb.lanczos.50x71"].Ints
	plane := 50 * 71
	for i := 0; i < plane; i++ {
		for c := 0; c < 3; c++ {
			if got := out.Data[c*plane+i]; got != float32(want[i*3+c])/255 {
				t.Fatalf("pixel %d channel %d: %v, want %v/255", i, c, got, want[i*3+c])
			}
		}
	}
}

// The control modes decide which half of the CFG batch gets residuals: balanced and more_prompt run the
// ControlNet on both halves with their own text, more_control and unbalanced only on the positive half.
func TestControlModes(t *testing.T) {
	tp := loadTinyPipe(t)
	cn := loadControlNet(t)
	image := pngTensor(t, goldtest.Path(t, "sd-ext", "controlnet", "inputs", "control_shapes64.png"))
	in := goldtest.Open(t, "sd-ext", "controlnet", "goldens", "layer_inputs.safetensors")
	states := in.Tensor("encoder_hidden_states")
	neg := tensor.New(states.Shape...)
	p := DenoiseParams{UNet: tp.pipe.UNet, Positive: &Conditioning{Embeds: states}, Negative: &Conditioning{Embeds: neg}}
	sample := in.Tensor("sample")
	ctx := context.Background()
	for _, mode := range []string{"balanced", "more_prompt", "more_control", "unbalanced"} {
		p.Controls = []Control{{Model: cn, Image: image, Weight: []float64{1}, EndStepPercent: 1, Mode: mode}}
		g := newGuidance(p, false)
		var err error
		if g.adapters, err = newRunAdapters(p); err != nil {
			t.Fatal(err)
		}
		both, err := g.callOptions(ctx, sideBoth, sample, 500, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		pos, err := g.callOptions(ctx, sidePos, sample, 500, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		negOpts, err := g.callOptions(ctx, sideNeg, sample, 500, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		injected := mode == "more_control" || mode == "unbalanced"
		half := len(both.MidResidual.Data) / 2
		var negMax float32
		for _, v := range both.MidResidual.Data[:half] {
			negMax = max(negMax, v, -v)
		}
		if injected != (negMax == 0) || injected != (negOpts.MidResidual == nil) {
			t.Errorf("%s: negative half max %v, separate negative residual %v", mode, negMax, negOpts.MidResidual != nil)
		}
		d, _ := goldtest.MaxDiff(both.MidResidual.Data[half:], pos.MidResidual.Data)
		if d > 1e-5 {
			t.Errorf("%s: batched positive half differs from the positive call by %g", mode, d)
		}
		// Outside its steps a ControlNet does not run.
		p.Controls[0].BeginStepPercent = 0.5
		g.adapters, _ = newRunAdapters(p)
		if early, _ := g.callOptions(ctx, sideBoth, sample, 500, 0, 10); early.DownResiduals != nil {
			t.Errorf("%s: residuals before the begin step", mode)
		}
	}
	// A ControlNet for another base is refused before the first step.
	sdxl, err := sd.LoadUNetFolder(goldtest.Path(t, "sd-tiny", "models", "sdxl-tiny", "unet"))
	if err != nil {
		t.Fatal(err)
	}
	p.UNet = sdxl
	p.Controls = []Control{{Model: cn, Image: image, Weight: []float64{1}, EndStepPercent: 1}}
	if err := checkAdapters(p, 10); err == nil {
		t.Error("an SD-1 ControlNet was accepted for an SDXL UNet")
	}
}
