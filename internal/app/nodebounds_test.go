package app_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

// sizingWords mark a numeric input that sizes a tensor, an image or a generated collection: a field whose name
// has one of them as a word (width, tile_size, num_steps, ...) or starts a word with it (tile_width).
var sizingWords = []string{"width", "height", "size", "steps", "count", "length", "tile", "radius", "resolution", "dim"}

// sizingNames are further names that size what a node makes.
var sizingNames = map[string]bool{"scale": true, "scale_factor": true}

// unboundedSizing are the node types and fields that look like sizes but size nothing, with the reason.
var unboundedSizing = map[string]string{
	"core_metadata":                              "records the values of a generation; it allocates nothing",
	"sdxl_compel_prompt.original_width":          sdxlSizeConditioning,
	"sdxl_compel_prompt.original_height":         sdxlSizeConditioning,
	"sdxl_compel_prompt.target_width":            sdxlSizeConditioning,
	"sdxl_compel_prompt.target_height":           sdxlSizeConditioning,
	"sdxl_refiner_compel_prompt.original_width":  sdxlSizeConditioning,
	"sdxl_refiner_compel_prompt.original_height": sdxlSizeConditioning,
	"expand_mask_with_fade.fade_size_px":         "the width of a fade in pixels: it scales distances and allocates nothing",
	"infill_tile.tile_size":                      "tiles are cut from the image, which bounds them; a tile larger than the image is refused",
	"crop_latents.width":                         croppedRegion,
	"crop_latents.height":                        croppedRegion,
	"rectangle_mask.rectangle_width":             croppedRegion,
	"rectangle_mask.rectangle_height":            croppedRegion,
	"image_panel_layout.width":                   "the size of a grid the node only computes coordinates in; it allocates nothing",
	"image_panel_layout.height":                  "the size of a grid the node only computes coordinates in; it allocates nothing",
	"img_channel_multiply.scale":                 "a factor on a channel's values, not on the image's size",
}

const croppedRegion = "a region of what the node is given or makes, clipped to it, so that bounds it"

const sdxlSizeConditioning = "SDXL's size conditioning: numbers the model is told, not sizes of anything allocated"

func isSizing(name string) bool {
	if sizingNames[name] {
		return true
	}
	for _, w := range strings.Split(name, "_") {
		for _, s := range sizingWords {
			if w == s || strings.HasPrefix(w, s) {
				return true
			}
		}
	}
	return false
}

// TestSizingFieldsHaveUpperBounds walks every registered node type: a numeric input whose name says it sizes a
// tensor, an image or a collection must have an upper bound (le or lt), which /openapi.json then shows
// (docs/security.md, "Resource limits"). Node types added later are held to it.
func TestSizingFieldsHaveUpperBounds(t *testing.T) {
	env := apitest.New(t)
	checked := 0
	for _, nt := range env.App.NodeRegistry().Types() {
		if _, ok := unboundedSizing[nt.Type]; ok {
			continue
		}
		for _, f := range nt.Inputs {
			if (f.Type.Name != "integer" && f.Type.Name != "float") || !isSizing(f.Name) {
				continue
			}
			if _, ok := unboundedSizing[nt.Type+"."+f.Name]; ok {
				continue
			}
			checked++
			if !f.Rules.HasUpperBound() {
				t.Errorf("%s.%s sizes what the node makes but has no upper bound (add le or lt)", nt.Type, f.Name)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d sizing fields found; is the name test right?", checked)
	}
	for _, name := range []string{"width", "tile_size", "num_steps", "scale_factor", "tile_width", "radius"} {
		if !isSizing(name) {
			t.Errorf("%s is not taken for a size", name)
		}
	}
	for _, name := range []string{"seed", "cfg_scale", "x", "strength", "denoising_start"} {
		if isSizing(name) {
			t.Errorf("%s is taken for a size", name)
		}
	}
}

// The schema shows the bounds, and enqueueing a value beyond one is a 422 naming the rule, for a value in the
// node, and for one in the batch data; nothing is queued.
func TestOversizedNodeFieldsAre422AtEnqueue(t *testing.T) {
	env := apitest.New(t)
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	env.Do("GET", "/openapi.json").Expect(200).Decode(&doc)
	for _, c := range []struct{ class, field string }{{"NoiseInvocation", "width"}, {"ResizeLatentsInvocation", "height"},
		{"BlankImageInvocation", "width"}, {"DenoiseLatentsInvocation", "steps"}, {"ScaleLatentsInvocation", "scale_factor"}} {
		p := doc.Components.Schemas[c.class].Properties[c.field]
		b, _ := json.Marshal(p)
		if !strings.Contains(string(b), `"maximum"`) {
			t.Errorf("%s.%s shows no maximum: %s", c.class, c.field, b)
		}
	}

	cases := []struct {
		name  string
		node  map[string]any
		data  any
		field string
		typ   string
		ctx   map[string]any
	}{
		{"noise width", map[string]any{"type": "noise", "width": 2097152, "height": 64}, nil, "width", "less_than_equal", map[string]any{"le": float64(16384)}},
		{"noise width 2^34", map[string]any{"type": "noise", "width": int64(1) << 34, "height": 64}, nil, "width", "less_than_equal", map[string]any{"le": float64(16384)}},
		{"noise not a multiple of 8", map[string]any{"type": "noise", "width": 100, "height": 64}, nil, "width", "multiple_of", map[string]any{"multiple_of": float64(8)}},
		{"blank image height", map[string]any{"type": "blank_image", "width": 64, "height": 100000}, nil, "height", "less_than_equal", map[string]any{"le": float64(16384)}},
		{"image scale", map[string]any{"type": "img_scale", "image": map[string]any{"image_name": "x.png"}, "scale_factor": 1000.0}, nil, "scale_factor", "less_than_equal", map[string]any{"le": float64(16)}},
		{"batch data", map[string]any{"type": "blank_image", "width": 64, "height": 64},
			[]any{[]any{map[string]any{"node_path": "n", "field_name": "width", "items": []any{64, 1 << 21}}}}, "", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			node := map[string]any{"id": "n"}
			for k, v := range c.node {
				node[k] = v
			}
			batch := map[string]any{"graph": map[string]any{"nodes": map[string]any{"n": node}, "edges": []any{}}}
			if c.data != nil {
				batch["data"] = c.data
			}
			var body struct{ Detail []map[string]any }
			res := env.Do("POST", "/api/v1/queue/default/enqueue_batch", apitest.JSON(map[string]any{"batch": batch})).Expect(422)
			res.Decode(&body)
			if len(body.Detail) == 0 {
				t.Fatalf("detail %s", res.Body)
			}
			it := body.Detail[0]
			if c.field == "" {
				if !strings.Contains(fmt.Sprint(it["msg"]), "less than or equal to 16384") {
					t.Fatalf("detail %v", it)
				}
				return
			}
			loc := fmt.Sprint(it["loc"])
			if it["type"] != c.typ || !strings.HasSuffix(loc, " n "+c.field+"]") || fmt.Sprint(it["ctx"]) != fmt.Sprint(c.ctx) {
				t.Fatalf("detail %v, want %s at %s with %v", it, c.typ, c.field, c.ctx)
			}
		})
	}
	var status struct {
		Queue struct{ Pending int } `json:"queue"`
	}
	env.Do("GET", "/api/v1/queue/default/status").Expect(200).Decode(&status)
	if status.Queue.Pending != 0 {
		t.Fatalf("%d items queued", status.Queue.Pending)
	}
}
