package imageops_test

import (
	"bytes"
	"image"
	"image/png"
	"net/http"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/engine/goldens/goldtest"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/engine/goldens"
)

func runGraph(t *testing.T, env *apitest.Env, nodes map[string]any, edges []any) apitest.QueueItem {
	t.Helper()
	return env.RunGraph(apitest.Graph(nodes, edges), time.Minute)
}

func edge(from, field, to, toField string) map[string]any {
	return map[string]any{"source": map[string]any{"node_id": from, "field": field},
		"destination": map[string]any{"node_id": to, "field": toField}}
}

// output fetches the image a node made and its gallery category.
func output(t *testing.T, env *apitest.Env, it apitest.QueueItem, node string) (image.Image, string) {
	t.Helper()
	if it.Status != "completed" {
		t.Fatalf("item %s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
	}
	ids := it.Session.Mapping[node]
	if len(ids) != 1 {
		t.Fatalf("%s ran %d times", node, len(ids))
	}
	img, ok := it.Session.Results[ids[0]]["image"].(map[string]any)
	if !ok {
		t.Fatalf("no image from %s: %v", node, it.Session.Results[ids[0]])
	}
	name := img["image_name"].(string)
	var dto struct {
		ImageCategory string `json:"image_category"`
	}
	env.Do("GET", "/api/v1/images/i/"+name).Expect(http.StatusOK).Decode(&dto)
	decoded, err := png.Decode(bytes.NewReader(env.Do("GET", "/api/v1/images/i/"+name+"/full").Expect(http.StatusOK).Body))
	if err != nil {
		t.Fatal(err)
	}
	return decoded, dto.ImageCategory
}

// Through the API: uploaded PNGs, a graph wiring get_image_mask_bounding_box into crop_image_to_bounding_box,
// color_correct with a mask and tomask give the reference bytes after the gallery's PNG round trip, and the
// mask lands in the mask category.
func TestNodesThroughTheQueue(t *testing.T) {
	env := apitest.New(t)
	path, err := goldens.Path("nodes", "imageops", "imageops.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := goldens.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, in := range []string{"rgba", "ref", "mask", "sparse"} {
		names[in] = env.UploadPNG(goldtest.Image(ts["in."+in]))
	}
	img := func(n string) map[string]any { return map[string]any{"image_name": names[n]} }
	it := runGraph(t, env, map[string]any{
		"box":  map[string]any{"type": "get_image_mask_bounding_box", "mask": img("sparse"), "margin": 3},
		"crop": map[string]any{"type": "crop_image_to_bounding_box", "image": img("sparse")},
		"cc": map[string]any{"type": "color_correct", "base_image": img("rgba"), "color_reference": img("ref"),
			"mask": img("mask"), "colorspace": "YCbCr"},
		"mask": map[string]any{"type": "tomask", "image": img("rgba"), "invert": true},
	}, []any{edge("box", "bounding_box", "crop", "bounding_box")})

	box := ts["mask_bbox.sparse.255_255_255_255.3"].Ints
	cropped, _ := output(t, env, it, "crop")
	if b := cropped.Bounds(); int64(b.Dx()) != box[2]-box[0] || int64(b.Dy()) != box[3]-box[1] {
		t.Errorf("cropped to %v, want the box %v", b, box)
	}
	for _, c := range []struct{ node, golden, category string }{
		{"cc", "color_correct.rgba.YCbCr.1", "general"}, {"mask", "tomask.rgba.1", "mask"}} {
		got, category := output(t, env, it, c.node)
		want := ts[c.golden]
		ch := 1
		if len(want.Shape) == 3 {
			ch = want.Shape[2]
		}
		px := goldtest.Pixels(t, got, ch)
		w := make([]uint8, len(want.Ints))
		for i, v := range want.Ints {
			w[i] = uint8(v)
		}
		if worst, bad := maxDiff(px, w); bad > 0 {
			t.Errorf("%s: %d bytes differ, by up to %d", c.node, bad, worst)
		}
		if category != c.category {
			t.Errorf("%s: saved as %q, want %q", c.node, category, c.category)
		}
	}
}
