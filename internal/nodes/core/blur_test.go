package core_test

import (
	"context"
	"fmt"
	"image"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/nodes/core"
)

// img_blur reproduces InvokeAI 6.12's node byte for byte (testdata/imaging/blur.safetensors: Pillow 9.4 and
// numpy 1.24 running the node's steps): an RGBA picture with transparent and opaque parts, and an opaque RGB
// one (decoded as the PNG decoder gives it), Gaussian and box blurs from radius 0 to radii wider than the
// picture.
func TestImageBlurMatchesInvokeAI(t *testing.T) {
	p, err := goldens.Path("imaging", "blur.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := goldens.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	reg := nodes.NewRegistry()
	core.Register(reg)
	ctx := &memCtx{Context: context.Background(), images: map[string]image.Image{}}
	rgba, rgb := ts["in.rgba"], ts["in.rgb"]
	h, w := rgba.Shape[0], rgba.Shape[1]
	nrgba := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i, v := range rgba.Ints {
		nrgba.Pix[i] = uint8(v)
	}
	opaque := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range w * h {
		for c := range 3 {
			opaque.Pix[i*4+c] = uint8(rgb.Ints[i*3+c])
		}
		opaque.Pix[i*4+3] = 255
	}
	ctx.images["rgba.png"], ctx.images["rgb.png"] = nrgba, opaque
	n := 0
	for _, name := range goldens.Names(ts) {
		rest, ok := strings.CutPrefix(name, "img_blur.")
		if !ok {
			continue
		}
		parts := strings.SplitN(rest, ".", 3) // picture, blur type, radius
		out := run(t, reg, ctx, "img_blur", fmt.Sprintf(`{"image":{"image_name":%q},"blur_type":%q,"radius":%s}`, parts[0]+".png", parts[1], parts[2]))
		got := ctx.images[imageNameOf(t, out)].(*image.NRGBA)
		off, worst := 0, 0
		for i, v := range ts[name].Ints {
			d := int(got.Pix[i]) - int(v)
			if d != 0 {
				off++
				worst = max(worst, d, -d)
			}
		}
		if off > 0 {
			t.Errorf("%s: %d values differ from InvokeAI's, by up to %d", name, off, worst)
		}
		n++
	}
	if n != 18 {
		t.Errorf("compared %d blurs, want 18", n)
	}
}

// The largest radius the schema allows blurs (to the picture's mean) rather than failing.
func TestImageBlurLargestRadius(t *testing.T) {
	reg := nodes.NewRegistry()
	core.Register(reg)
	ctx := &memCtx{Context: context.Background(), images: map[string]image.Image{}}
	img := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 10)
	}
	ctx.images["in.png"] = img
	for _, kind := range []string{"gaussian", "box"} {
		out := run(t, reg, ctx, "img_blur", `{"image":{"image_name":"in.png"},"blur_type":"`+kind+`","radius":1000000}`)
		if got := ctx.images[imageNameOf(t, out)].Bounds(); got.Dx() != 3 || got.Dy() != 2 {
			t.Errorf("%s: %v", kind, got)
		}
	}
}
