package canvas_test

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens/goldtest"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/nodes/canvas"
)

// memCtx keeps images in memory.
type memCtx struct {
	context.Context
	images map[string]image.Image
	saved  map[string]nodes.SaveImageOptions
}

func newCtx() *memCtx {
	return &memCtx{Context: context.Background(), images: map[string]image.Image{}, saved: map[string]nodes.SaveImageOptions{}}
}

func (c *memCtx) Item() nodes.Item { return nodes.Item{UserID: "u"} }
func (c *memCtx) SaveImage(img image.Image, o nodes.SaveImageOptions) (nodes.ImageOutput, error) {
	name := fmt.Sprintf("out%d.png", len(c.images))
	c.images[name] = img
	c.saved[name] = o
	return nodes.ImageOutput{Image: nodes.ImageField{ImageName: name}, Width: img.Bounds().Dx(), Height: img.Bounds().Dy()}, nil
}
func (c *memCtx) LoadImage(name string) (image.Image, error) {
	img, ok := c.images[name]
	if !ok {
		return nil, nodes.Errorf("FileNotFoundError", "no %s", name)
	}
	return img, nil
}
func (c *memCtx) ReportProgress(nodes.Progress) {}

// goldenSet loads a safetensors file of testdata/nodes/canvas.
func goldenSet(t *testing.T, file string) map[string]goldens.Tensor {
	t.Helper()
	path, err := goldens.Path("nodes", "canvas", file)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := goldens.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func run(t *testing.T, ctx *memCtx, typ string, fields map[string]any) nodes.ImageOutput {
	t.Helper()
	reg := nodes.NewRegistry()
	canvas.Register(reg)
	nt, ok := reg.Lookup(typ)
	if !ok {
		t.Fatalf("no type %s", typ)
	}
	vals := map[string]json.RawMessage{}
	for k, v := range fields {
		b, _ := json.Marshal(v)
		vals[k] = b
	}
	inv, err := nt.Decode(vals, nil)
	if err != nil {
		t.Fatalf("%s: decode: %v", typ, err)
	}
	out, err := inv.Invoke(ctx)
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	return out.(nodes.ImageOutput)
}

func field(name string) map[string]string { return map[string]string{"image_name": name} }

func compare(t *testing.T, name string, got, want []uint8) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d bytes, want %d", name, len(got), len(want))
	}
	bad := 0
	for i := range got {
		if got[i] != want[i] {
			if bad < 3 {
				t.Errorf("%s: byte %d is %d, want %d", name, i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d bytes differ", name, bad, len(got))
	}
}

// Every node against testdata/nodes/canvas/nodes.safetensors (gen_nodes.py: Pillow 9.4.0, OpenCV 4.6.0 and
// NumPy 1.24.2 doing what InvokeAI's nodes do), byte for byte.
func TestCanvasNodesMatchReference(t *testing.T) {
	ts := goldenSet(t, "nodes.safetensors")
	ctx := newCtx()
	for _, name := range goldens.Names(ts) {
		if strings.HasPrefix(name, "in.") {
			ctx.images[strings.TrimPrefix(name, "in.")] = goldtest.Image(ts[name])
		}
	}
	type tc struct {
		golden, typ string
		fields      map[string]any
	}
	cases := []tc{
		{"apply_mask.rgb.mask", "apply_mask_to_image", map[string]any{"image": field("rgb"), "mask": field("mask")}},
		{"apply_mask.rgb.mask.inv", "apply_mask_to_image", map[string]any{"image": field("rgb"), "mask": field("mask"), "invert_mask": true}},
		{"apply_mask.rgba.mask_rgba", "apply_mask_to_image", map[string]any{"image": field("rgba"), "mask": field("mask_rgba")}},
		{"paste_back.rgb.0", "canvas_paste_back", map[string]any{"source_image": field("rgb"), "target_image": field("rgb2"), "mask": field("mask")}},
		{"paste_back.rgb.2", "canvas_paste_back", map[string]any{"source_image": field("rgb"), "target_image": field("rgb2"), "mask": field("mask"), "mask_blur": 2}},
		{"paste_back.rgb.5", "canvas_paste_back", map[string]any{"source_image": field("rgb"), "target_image": field("rgb2"), "mask": field("mask"), "mask_blur": 5}},
		{"paste_back.rgba.3", "canvas_paste_back", map[string]any{"source_image": field("rgba"), "target_image": field("rgb"), "mask": field("mask_rgba"), "mask_blur": 3}},
		{"paste_back.rgb.2", "canvas_v2_mask_and_crop", map[string]any{"source_image": field("rgb"), "generated_image": field("rgb2"), "mask": field("mask"), "mask_blur": 2}},
		{"mask_and_crop.0", "canvas_v2_mask_and_crop", map[string]any{"generated_image": field("rgb2"), "mask": field("mask")}},
		{"mask_and_crop.4", "canvas_v2_mask_and_crop", map[string]any{"generated_image": field("rgb2"), "mask": field("mask"), "mask_blur": 4}},
		{"infill_rgba.default", "infill_rgba", map[string]any{"image": field("rgba")}},
		{"infill_rgba.half", "infill_rgba", map[string]any{"image": field("rgba"), "color": map[string]int{"r": 10, "g": 200, "b": 30, "a": 128}}},
		{"infill_tile.4.0", "infill_tile", map[string]any{"image": field("rgba"), "tile_size": 4}},
		{"infill_tile.7.123", "infill_tile", map[string]any{"image": field("rgba"), "tile_size": 7, "seed": 123}},
		{"infill_tile.3.4294967295", "infill_tile", map[string]any{"image": field("rgba"), "tile_size": 3, "seed": 4294967295}},
		{"infill_cv2", "infill_cv2", map[string]any{"image": field("rgba")}},
		{"cv_inpaint", "cv_inpaint", map[string]any{"image": field("rgb"), "mask": field("mask")}},
	}
	for _, thr := range []int{0, 100} {
		for _, fade := range []int{0, 1, 3, 8, 32} {
			cases = append(cases, tc{fmt.Sprintf("fade.%d.%d", thr, fade), "expand_mask_with_fade",
				map[string]any{"mask": field("mask"), "threshold": thr, "fade_size_px": fade}})
		}
	}
	for _, c := range cases {
		out := run(t, ctx, c.typ, c.fields)
		want := ts[c.golden]
		ch := 1
		if len(want.Shape) == 3 {
			ch = want.Shape[2]
		}
		if out.Width != want.Shape[1] || out.Height != want.Shape[0] {
			t.Errorf("%s: %dx%d", c.golden, out.Width, out.Height)
		}
		wantPix := make([]uint8, len(want.Ints))
		for i, v := range want.Ints {
			wantPix[i] = uint8(v)
		}
		compare(t, c.typ+" "+c.golden, goldtest.Pixels(t, ctx.images[out.Image.ImageName], ch), wantPix)
		if c.typ == "expand_mask_with_fade" && ctx.saved[out.Image.ImageName].Category != "mask" {
			t.Errorf("%s: saved as %q, not a mask", c.golden, ctx.saved[out.Image.ImageName].Category)
		}
	}
}

// infill_patchmatch against pypatchmatch followed by InvokeAI's paste-back (gen_patchmatch.py).
func TestInfillPatchMatchMatchesReference(t *testing.T) {
	ts := goldenSet(t, "patchmatch.safetensors")
	ctx := newCtx()
	ctx.images["rgba"] = goldtest.Image(ts["in.rgba"])
	for _, f := range []map[string]any{{"image": field("rgba")}, {"image": field("rgba"), "downscale": 3.5, "resample_mode": "nearest"}} {
		out := run(t, ctx, "infill_patchmatch", f)
		want := make([]uint8, len(ts["node.rgba"].Ints))
		for i, v := range ts["node.rgba"].Ints {
			want[i] = uint8(v)
		}
		compare(t, "infill_patchmatch", goldtest.Pixels(t, ctx.images[out.Image.ImageName], 3), want)
	}
}

// An image without alpha passes through the infill nodes unchanged and unsaved, as in InvokeAI.
func TestInfillPassesOpaqueImagesThrough(t *testing.T) {
	ctx := newCtx()
	opaque := image.NewRGBA(image.Rect(0, 0, 8, 6)) // what an RGB PNG decodes to
	for i := 3; i < len(opaque.Pix); i += 4 {
		opaque.Pix[i] = 255
	}
	ctx.images["rgb.png"] = opaque
	for _, typ := range []string{"infill_rgba", "infill_tile", "infill_patchmatch", "infill_cv2"} {
		out := run(t, ctx, typ, map[string]any{"image": field("rgb.png")})
		if out.Image.ImageName != "rgb.png" || out.Width != 8 || out.Height != 6 {
			t.Errorf("%s: %+v", typ, out)
		}
	}
	if len(ctx.saved) != 0 {
		t.Errorf("%d images saved", len(ctx.saved))
	}
}

// Bad input fails with InvokeAI's error types, never a panic.
func TestCanvasNodesRefuseBadInput(t *testing.T) {
	ctx := newCtx()
	ctx.images["a"] = image.NewNRGBA(image.Rect(0, 0, 8, 8)) // fully transparent
	ctx.images["b"] = image.NewGray(image.Rect(0, 0, 5, 5))  // another size
	ctx.images["c"] = image.NewNRGBA(image.Rect(0, 0, 2, 2)) // too small for any 4-pixel tile
	reg := nodes.NewRegistry()
	canvas.Register(reg)
	for _, c := range []struct {
		typ    string
		fields string
		want   string
	}{
		{"apply_mask_to_image", `{"image":{"image_name":"a"},"mask":{"image_name":"b"}}`, "ValueError"},
		{"canvas_paste_back", `{"source_image":{"image_name":"a"},"target_image":{"image_name":"a"},"mask":{"image_name":"b"}}`, "ValueError"},
		{"cv_inpaint", `{"image":{"image_name":"a"},"mask":{"image_name":"b"}}`, "ValueError"},
		{"infill_tile", `{"image":{"image_name":"c"},"tile_size":4}`, "ValueError"},
		{"infill_tile", `{"image":{"image_name":"a"},"tile_size":4}`, "ValueError"},
		{"infill_patchmatch", `{"image":{"image_name":"a"},"downscale":100}`, "ValueError"},
		{"canvas_paste_back", `{"source_image":{"image_name":"a"},"target_image":{"image_name":"a"},"mask":{"image_name":"a"},"mask_blur":100000}`, "ValueError"},
		{"expand_mask_with_fade", `{"mask":{"image_name":"missing"}}`, "FileNotFoundError"},
	} {
		nt, _ := reg.Lookup(c.typ)
		var vals map[string]json.RawMessage
		if err := json.Unmarshal([]byte(c.fields), &vals); err != nil {
			t.Fatal(err)
		}
		inv, err := nt.Decode(vals, nil)
		if err != nil {
			t.Fatalf("%s: decode: %v", c.typ, err)
		}
		_, err = inv.Invoke(ctx)
		ne, ok := err.(*nodes.NodeError)
		if !ok || ne.Type != c.want {
			t.Errorf("%s %s: error %v, want a %s", c.typ, c.fields, err, c.want)
		}
	}
}
