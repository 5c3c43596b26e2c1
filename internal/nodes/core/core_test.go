package core_test

import (
	"context"
	"encoding/json"
	"image"
	"image/color"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/nodes/core"
)

// memCtx keeps saved images in memory.
type memCtx struct {
	context.Context
	images map[string]image.Image
	saved  []nodes.SaveImageOptions
}

func (c *memCtx) Item() nodes.Item { return nodes.Item{UserID: "u"} }
func (c *memCtx) SaveImage(img image.Image, o nodes.SaveImageOptions) (nodes.ImageOutput, error) {
	name := string(rune('a'+len(c.images))) + ".png"
	c.images[name] = img
	c.saved = append(c.saved, o)
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

func run(t *testing.T, reg *nodes.Registry, ctx *memCtx, typ, fields string) map[string]json.RawMessage {
	t.Helper()
	nt, ok := reg.Lookup(typ)
	if !ok {
		t.Fatalf("no type %s", typ)
	}
	var vals map[string]json.RawMessage
	if err := json.Unmarshal([]byte(fields), &vals); err != nil {
		t.Fatal(err)
	}
	inv, err := nt.Decode(vals, nil)
	if err != nil {
		t.Fatalf("%s: decode: %v", typ, err)
	}
	out, err := inv.Invoke(ctx)
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	if out.OutputType() != reflectOutputType(nt) {
		t.Fatalf("%s: output type %s", typ, out.OutputType())
	}
	enc, err := nodes.EncodeOutput(out)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func reflectOutputType(nt *nodes.NodeType) string { return nt.Output.OutputType() }

func TestImageNodes(t *testing.T) {
	reg := nodes.NewRegistry()
	core.Register(reg)
	ctx := &memCtx{Context: context.Background(), images: map[string]image.Image{}}
	src := image.NewNRGBA(image.Rect(0, 0, 20, 10))
	for x := 0; x < 20; x++ {
		for y := 0; y < 10; y++ {
			if x > 10 {
				src.Set(x, y, color.NRGBA{255, 255, 255, 255})
			} else {
				src.Set(x, y, color.NRGBA{0, 0, 0, 128})
			}
		}
	}
	ctx.images["src.png"] = src
	img := `{"image_name":"src.png"}`
	cases := []struct {
		typ, fields string
		w, h        int
	}{
		{"blank_image", `{"width":7,"height":5,"board":{"board_id":"b1"}}`, 7, 5},
		{"img_resize", `{"image":` + img + `,"width":40,"height":20,"resample_mode":"nearest"}`, 40, 20},
		{"img_scale", `{"image":` + img + `,"scale_factor":0.5}`, 10, 5},
		{"img_crop", `{"image":` + img + `,"x":-5,"y":2,"width":8,"height":8}`, 8, 8},
		{"img_paste", `{"base_image":` + img + `,"image":` + img + `,"x":15,"y":0}`, 35, 10},
		{"img_paste", `{"base_image":` + img + `,"image":` + img + `,"x":15,"y":0,"crop":true,"mask":` + img + `}`, 20, 10},
		{"img_blur", `{"image":` + img + `,"radius":2}`, 20, 10},
		{"img_blur", `{"image":` + img + `,"radius":1,"blur_type":"box"}`, 20, 10},
		{"img_conv", `{"image":` + img + `}`, 20, 10},
		{"img_conv", `{"image":` + img + `,"mode":"RGBA"}`, 20, 10},
		{"img_chan", `{"image":` + img + `,"channel":"R"}`, 20, 10},
		{"img_mul", `{"image1":` + img + `,"image2":` + img + `}`, 20, 10},
		{"img_lerp", `{"image":` + img + `,"min":10,"max":20}`, 20, 10},
		{"canny_edge_detection", `{"image":` + img + `}`, 20, 10},
		{"save_image", `{"image":` + img + `,"metadata":{"a":1}}`, 20, 10},
		{"image", `{"image":` + img + `}`, 20, 10},
	}
	var cannyName string
	for _, c := range cases {
		out := run(t, reg, ctx, c.typ, c.fields)
		var got nodes.ImageOutput
		b, _ := json.Marshal(out)
		_ = json.Unmarshal(b, &got)
		if got.Width != c.w || got.Height != c.h {
			t.Fatalf("%s %s: %dx%d, want %dx%d", c.typ, c.fields, got.Width, got.Height, c.w, c.h)
		}
		if c.typ == "canny_edge_detection" {
			cannyName = got.Image.ImageName
		}
	}
	if ctx.saved[0].Board == nil || ctx.saved[0].Board.BoardID != "b1" {
		t.Fatalf("board not passed to SaveImage: %+v", ctx.saved[0])
	}
	// The canny map (an RGB image, as InvokeAI saves it) marks the vertical edge between the two halves.
	canny := ctx.images[cannyName].(*image.NRGBA)
	if canny.NRGBAAt(10, 5).R != 255 && canny.NRGBAAt(11, 5).R != 255 {
		t.Fatal("canny found no edge")
	}
}

func TestPrimitiveNodes(t *testing.T) {
	reg := nodes.NewRegistry()
	core.Register(reg)
	ctx := &memCtx{Context: context.Background(), images: map[string]image.Image{}}
	if out := run(t, reg, ctx, "range", `{"start":10,"stop":0,"step":-3}`); string(out["collection"]) != "[10,7,4,1]" {
		t.Fatalf("range %s", out["collection"])
	}
	if out := run(t, reg, ctx, "integer", `{}`); string(out["value"]) != "0" || string(out["type"]) != `"integer_output"` {
		t.Fatalf("integer %v", out)
	}
	for _, c := range []struct{ typ, in, want string }{
		{"add", `{"a":2,"b":3}`, "5"}, {"sub", `{"a":2,"b":3}`, "-1"}, {"mul", `{"a":-4,"b":3}`, "-12"},
		{"div", `{"a":7,"b":2}`, "3"}, {"div", `{"a":-7,"b":2}`, "-3"}, {"add", `{}`, "0"},
	} {
		if out := run(t, reg, ctx, c.typ, c.in); string(out["value"]) != c.want || string(out["type"]) != `"integer_output"` {
			t.Errorf("%s %s = %s, want %s", c.typ, c.in, out["value"], c.want)
		}
	}
	divType, _ := reg.Lookup("div")
	inv, err := divType.Decode(map[string]json.RawMessage{"a": json.RawMessage("1"), "b": json.RawMessage("0")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Invoke(ctx); err == nil || !strings.Contains(err.Error(), "division by zero") {
		t.Errorf("div by zero: %v", err)
	}
	out := run(t, reg, ctx, "rand_int", `{"low":3,"high":4}`)
	if string(out["value"]) != "3" {
		t.Fatalf("rand_int %s", out["value"])
	}
	md := run(t, reg, ctx, "core_metadata", `{"positive_prompt":"cat","seed":5,"app_version":"6.0.0"}`)
	if string(md["metadata"]) != `{"app_version":"6.0.0","positive_prompt":"cat","seed":5}` {
		t.Fatalf("metadata %s", md["metadata"])
	}
	nt, _ := reg.Lookup("img_resize")
	if _, err := nt.Decode(map[string]json.RawMessage{"image": json.RawMessage(`{"image_name":"x"}`), "resample_mode": json.RawMessage(`"bogus"`)}, nil); err == nil {
		t.Fatal("enum not enforced")
	}
	if _, err := nt.Decode(map[string]json.RawMessage{"image": json.RawMessage(`{"image_name":"x"}`), "width": json.RawMessage(`0`)}, nil); err == nil {
		t.Fatal("gt bound not enforced")
	}
}
