package core_test

import (
	"context"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"strconv"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/nodes/core"
)

// The canny node reproduces the fixture's map of InvokeAI's canny_edge_detection (OpenCV 4.6 on the BGR
// image) exactly, as an RGB image; color_map reproduces OpenCV's cubic-then-nearest mosaic exactly
// (testdata/imaging/cvresize.safetensors).
func TestProcessorNodesMatchOpenCV(t *testing.T) {
	reg := nodes.NewRegistry()
	core.Register(reg)
	ctx := &memCtx{Context: context.Background(), images: map[string]image.Image{}}
	readPNG := func(elem ...string) image.Image {
		p, err := goldens.Path(elem...)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	ctx.images["in.png"] = readPNG("sd-ext", "controlnet", "inputs", "shapes64.png")
	for _, c := range []struct {
		low, high int
		want      string
	}{{100, 200, "shapes64_canny_100_200.png"}, {50, 150, "shapes64_canny_50_150.png"}} {
		out := run(t, reg, ctx, "canny_edge_detection", `{"image":{"image_name":"in.png"},"low_threshold":`+itoa(c.low)+`,"high_threshold":`+itoa(c.high)+`}`)
		got := ctx.images[imageNameOf(t, out)].(*image.NRGBA)
		want := readPNG("sd-ext", "controlnet", "canny", c.want)
		diff := 0
		for y := 0; y < 64; y++ {
			for x := 0; x < 64; x++ {
				r, g, b, _ := want.At(x, y).RGBA()
				p := got.NRGBAAt(x, y)
				if uint32(p.R) != r>>8 || uint32(p.G) != g>>8 || uint32(p.B) != b>>8 {
					diff++
				}
			}
		}
		if diff != 0 {
			t.Errorf("canny %d/%d: %d pixels differ", c.low, c.high, diff)
		}
	}
	p, err := goldens.Path("imaging", "cvresize.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := goldens.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	src := ts["rgb"]
	h, w := src.Shape[0], src.Shape[1]
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		img.Pix[i*4], img.Pix[i*4+1], img.Pix[i*4+2], img.Pix[i*4+3] = uint8(src.Ints[i*3]), uint8(src.Ints[i*3+1]), uint8(src.Ints[i*3+2]), 255
	}
	ctx.images["rgb.png"] = img
	out := run(t, reg, ctx, "color_map", `{"image":{"image_name":"rgb.png"},"tile_size":16}`)
	got := ctx.images[imageNameOf(t, out)].(*image.NRGBA)
	want := ts["color_map.16"].Ints
	for i := 0; i < w*h; i++ {
		for c := 0; c < 3; c++ {
			if int64(got.Pix[i*4+c]) != want[i*3+c] {
				t.Fatalf("color_map pixel %d channel %d: %d, want %d", i, c, got.Pix[i*4+c], want[i*3+c])
			}
		}
	}
	// content_shuffle keeps the size and moves content around.
	out = run(t, reg, ctx, "content_shuffle", `{"image":{"image_name":"rgb.png"},"scale_factor":8}`)
	shuffled := ctx.images[imageNameOf(t, out)].(*image.NRGBA)
	if shuffled.Rect.Dx() != w || shuffled.Rect.Dy() != h {
		t.Fatalf("content_shuffle made %v", shuffled.Rect)
	}
}

func itoa(v int) string { return strconv.Itoa(v) }

// imageNameOf reads the image name of an image_output.
func imageNameOf(t *testing.T, out map[string]json.RawMessage) string {
	t.Helper()
	var f nodes.ImageField
	if err := json.Unmarshal(out["image"], &f); err != nil {
		t.Fatal(err)
	}
	return f.ImageName
}
