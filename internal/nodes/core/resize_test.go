package core_test

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/nodes/core"
)

// img_resize is Pillow's Image.resize as InvokeAI calls it, byte for byte, in every mode
// (testdata/imaging/resize_nodes.safetensors, Pillow 9.4): an RGBA picture with transparency (resized with
// premultiplied alpha) and an opaque one decoded as the PNG decoder gives an RGB file. A palette picture is
// resized with the nearest filter whatever the mode, as Pillow does.
func TestImageResizeMatchesPillow(t *testing.T) {
	p, err := goldens.Path("imaging", "resize_nodes.safetensors")
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
		rest, ok := strings.CutPrefix(name, "resize.")
		if !ok {
			continue
		}
		parts := strings.Split(rest, ".")
		var ow, oh int
		if _, err := fmt.Sscanf(parts[2], "%dx%d", &ow, &oh); err != nil {
			t.Fatal(err)
		}
		out := run(t, reg, ctx, "img_resize", fmt.Sprintf(`{"image":{"image_name":%q},"width":%d,"height":%d,"resample_mode":%q}`, parts[0]+".png", ow, oh, parts[1]))
		got := ctx.images[imageNameOf(t, out)].(*image.NRGBA)
		want, ch := ts[name].Ints, ts[name].Shape[2]
		off := 0
		for i := range ow * oh {
			for c := range 4 {
				v := int64(255)
				if c < ch {
					v = want[i*ch+c]
				}
				if int64(got.Pix[i*4+c]) != v {
					off++
				}
			}
		}
		if off > 0 {
			t.Errorf("%s: %d values differ from Pillow", name, off)
		}
		n++
	}
	if n != 84 {
		t.Errorf("compared %d resizes, want 84", n)
	}

	pal := image.NewPaletted(image.Rect(0, 0, 4, 1), color.Palette{color.NRGBA{0, 0, 0, 255}, color.NRGBA{200, 100, 50, 255}})
	pal.Pix = []uint8{0, 1, 1, 0}
	ctx.images["pal.png"] = pal
	out := run(t, reg, ctx, "img_resize", `{"image":{"image_name":"pal.png"},"width":8,"height":1,"resample_mode":"bicubic"}`)
	got := ctx.images[imageNameOf(t, out)].(*image.NRGBA)
	for x, want := range []uint8{0, 0, 200, 200, 200, 200, 0, 0} {
		if got.Pix[x*4] != want {
			t.Fatalf("palette picture resized to %v, want nearest neighbours", got.Pix)
		}
	}
}
