package core_test

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/imaging"
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
		saved := ctx.images[imageNameOf(t, out)]
		// The result keeps the picture's mode: RGBA stays NRGBA, an opaque RGB picture stays opaque RGB.
		if _, isRGB := saved.(*image.RGBA); isRGB != (parts[0] == "rgb") {
			t.Fatalf("%s: saved a %T", name, saved)
		}
		pix, _, _ := imaging.NRGBA8(saved)
		got := &image.NRGBA{Pix: pix}
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

// A grey picture stays grey ("L") through img_resize, as Pillow keeps the mode (testdata/imaging/picture.safetensors,
// made by make_picture.py).
func TestImageResizeKeepsGrey(t *testing.T) {
	p, err := goldens.Path("imaging", "picture.safetensors")
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
	src := ts["src.L"]
	gray := image.NewGray(image.Rect(0, 0, src.Shape[1], src.Shape[0]))
	for i, v := range src.Ints {
		gray.Pix[i] = uint8(v)
	}
	ctx.images["l.png"] = gray
	for _, c := range []struct{ mode, golden string }{{"nearest", "resize.L.nearest.41x29"}, {"lanczos", "resize.L.lanczos.41x29"}, {"bicubic", "resize.L.bicubic.64x1"}, {"hamming", "resize.L.hamming.3x13"}} {
		want := ts[c.golden]
		out := run(t, reg, ctx, "img_resize", fmt.Sprintf(`{"image":{"image_name":"l.png"},"width":%d,"height":%d,"resample_mode":%q}`, want.Shape[1], want.Shape[0], c.mode))
		got, ok := ctx.images[imageNameOf(t, out)].(*image.Gray)
		if !ok {
			t.Fatalf("%s: saved a %T, want a grey picture", c.golden, ctx.images[imageNameOf(t, out)])
		}
		for i, v := range want.Ints {
			if int64(got.Pix[i]) != v {
				t.Fatalf("%s: byte %d is %d, Pillow has %d", c.golden, i, got.Pix[i], v)
			}
		}
	}
}
