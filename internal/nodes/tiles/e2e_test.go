package tiles_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/engine/goldens"
)

func loadGoldens(t *testing.T) map[string]goldens.Tensor {
	t.Helper()
	p, err := goldens.Path("nodes", "tiles", "tiles.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	g, err := goldens.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func tileJSON(r []int64) map[string]any {
	return map[string]any{"coords": map[string]any{"top": r[0], "bottom": r[1], "left": r[2], "right": r[3]},
		"overlap": map[string]any{"top": r[4], "bottom": r[5], "left": r[6], "right": r[7]}}
}

func rgbImage(pix []byte, w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range w * h {
		copy(img.Pix[i*4:], pix[i*3:i*3+3])
		img.Pix[i*4+3] = 255
	}
	return img
}

func runGraph(t *testing.T, env *apitest.Env, nodes map[string]any, edges []any) apitest.QueueItem {
	t.Helper()
	return env.RunGraph(apitest.Graph(nodes, edges), time.Minute)
}

// result is the output of a node that ran once.
func result(it apitest.QueueItem, node string) map[string]any {
	ids := it.Session.Mapping[node]
	if len(ids) != 1 {
		return nil
	}
	return it.Session.Results[ids[0]]
}

func edge(from, field, to, toField string) map[string]any {
	return map[string]any{"source": map[string]any{"node_id": from, "field": field},
		"destination": map[string]any{"node_id": to, "field": toField}}
}

func outputImage(t *testing.T, env *apitest.Env, it apitest.QueueItem, node string) image.Image {
	t.Helper()
	if it.Status != "completed" {
		t.Fatalf("item %s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
	}
	var name string
	for _, id := range it.Session.Mapping[node] {
		if img, ok := it.Session.Results[id]["image"].(map[string]any); ok {
			name = img["image_name"].(string)
		}
	}
	if name == "" {
		t.Fatalf("no image from %s in %v", node, it.Session.Results)
	}
	img, err := png.Decode(bytes.NewReader(env.Do("GET", "/api/v1/images/i/"+name+"/full").Expect(http.StatusOK).Body))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// The grid nodes through the queue give the goldens' tiles, as JSON Tiles; tile_to_properties splits one.
func TestE2EGrids(t *testing.T) {
	env := apitest.New(t)
	g := loadGoldens(t)
	cases := []struct {
		golden string
		node   map[string]any
	}{
		{"grid.with_overlap.301_257_128_96_33", map[string]any{"type": "calculate_image_tiles", "image_height": 301,
			"image_width": 257, "tile_height": 128, "tile_width": 96, "overlap": 33}},
		{"grid.even_split.640_480_5_3_16", map[string]any{"type": "calculate_image_tiles_even_split", "image_height": 640,
			"image_width": 480, "num_tiles_x": 5, "num_tiles_y": 3, "overlap": 16}},
		{"grid.min_overlap.513_1025_128_200_50", map[string]any{"type": "calculate_image_tiles_min_overlap", "image_height": 513,
			"image_width": 1025, "tile_height": 128, "tile_width": 200, "min_overlap": 50}},
	}
	for _, c := range cases {
		it := runGraph(t, env, map[string]any{"calc": c.node}, []any{})
		if it.Status != "completed" {
			t.Fatalf("%s: %s: %s", c.golden, it.Status, it.ErrorMessage)
		}
		want := g[c.golden]
		var wantJSON []any
		for i := range want.Shape[0] {
			wantJSON = append(wantJSON, tileJSON(want.Ints[i*8:][:8]))
		}
		if got, w := fmt.Sprint(result(it, "calc")["tiles"]), fmt.Sprint(wantJSON); got != w {
			t.Errorf("%s:\n got %s\nwant %s", c.golden, got, w)
		}
	}
	it := runGraph(t, env, map[string]any{"p": map[string]any{"type": "tile_to_properties",
		"tile": tileJSON([]int64{10, 70, 5, 45, 0, 8, 3, 4})}}, []any{})
	got := result(it, "p")
	for k, v := range map[string]float64{"coords_top": 10, "coords_bottom": 70, "coords_left": 5, "coords_right": 45,
		"width": 40, "height": 60, "overlap_top": 0, "overlap_bottom": 8, "overlap_left": 3, "overlap_right": 4} {
		if got[k] != v {
			t.Errorf("tile_to_properties %s = %v, want %v", k, got[k], v)
		}
	}
	// An overlap as large as the tile is InvokeAI's assertion: the run fails, with a message.
	it = runGraph(t, env, map[string]any{"calc": map[string]any{"type": "calculate_image_tiles", "tile_width": 128, "overlap": 128}}, []any{})
	if it.Status != "failed" || it.ErrorMessage == "" {
		t.Errorf("overlap = tile: %s %q", it.Status, it.ErrorMessage)
	}
}

// merge_tiles_to_image through the queue: the golden tile images uploaded, each paired with its tile by
// pair_tile_image, collected and merged, give NumPy/OpenCV's merge byte for byte in both blend modes.
func TestE2EMergeGoldens(t *testing.T) {
	env := apitest.New(t)
	g := loadGoldens(t)
	const name = "minov3x3"
	tiles := g["merge."+name+".tiles"]
	var names []string
	for i := range tiles.Shape[0] {
		v := g[fmt.Sprintf("merge.%s.tile%d", name, i)]
		names = append(names, env.UploadPNG(rgbImage(v.Raw, v.Shape[1], v.Shape[0])))
	}
	for _, mode := range []struct {
		blend string
		mode  string
	}{{"4", "Seam"}, {"11", "Linear"}, {"0", "Seam"}} {
		want := g["merge."+name+"."+mode.mode+"."+mode.blend]
		blend, _ := strconv.Atoi(mode.blend)
		nodes := map[string]any{"collect": map[string]any{"type": "collect"},
			"merge": map[string]any{"type": "merge_tiles_to_image", "blend_mode": mode.mode, "blend_amount": blend}}
		edges := []any{edge("collect", "collection", "merge", "tiles_with_images")}
		// Paired in reverse order: the merge sorts the tiles itself.
		for i := len(names) - 1; i >= 0; i-- {
			id := fmt.Sprintf("pair%d", i)
			nodes[id] = map[string]any{"type": "pair_tile_image", "image": map[string]any{"image_name": names[i]},
				"tile": tileJSON(tiles.Ints[i*8:][:8])}
			edges = append(edges, edge(id, "tile_with_image", "collect", "item"))
		}
		img := outputImage(t, env, runGraph(t, env, nodes, edges), "merge")
		b := img.Bounds()
		if b.Dx() != want.Shape[1] || b.Dy() != want.Shape[0] {
			t.Fatalf("%s: merged image %v, want %v", mode.mode, b, want.Shape)
		}
		off := 0
		for y := range b.Dy() {
			for x := range b.Dx() {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				for i, v := range []uint8{c.R, c.G, c.B} {
					if v != want.Raw[(y*b.Dx()+x)*3+i] {
						off++
					}
				}
			}
		}
		if off > 0 {
			t.Errorf("%s %s: %d values differ from NumPy's merge", mode.mode, mode.blend, off)
		}
	}
}

// InvokeAI's tiled-image workflow shape: a grid, iterated; each tile cropped out of the image with its
// properties, paired with its tile, collected and merged. Merging crops of one image gives the image back
// (within the one level that float blending of equal values can truncate away).
func TestE2EIterateCropMerge(t *testing.T) {
	env := apitest.New(t)
	const w, h = 96, 80
	src := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			src.Set(x, y, color.NRGBA{uint8(x * 2), uint8(y * 3), uint8((x * y) % 251), 255})
		}
	}
	name := env.UploadPNG(src)
	nodes := map[string]any{
		"calc":  map[string]any{"type": "calculate_image_tiles_even_split", "image_width": w, "image_height": h, "overlap": 32},
		"iter":  map[string]any{"type": "iterate"},
		"props": map[string]any{"type": "tile_to_properties"},
		"crop":  map[string]any{"type": "img_crop", "image": map[string]any{"image_name": name}},
		"pair":  map[string]any{"type": "pair_tile_image"},
		"coll":  map[string]any{"type": "collect"},
		"merge": map[string]any{"type": "merge_tiles_to_image", "blend_mode": "Linear", "blend_amount": 16},
	}
	edges := []any{edge("calc", "tiles", "iter", "collection"), edge("iter", "item", "props", "tile"),
		edge("iter", "item", "pair", "tile"), edge("props", "coords_left", "crop", "x"), edge("props", "coords_top", "crop", "y"),
		edge("props", "width", "crop", "width"), edge("props", "height", "crop", "height"), edge("crop", "image", "pair", "image"),
		edge("pair", "tile_with_image", "coll", "item"), edge("coll", "collection", "merge", "tiles_with_images")}
	img := outputImage(t, env, runGraph(t, env, nodes, edges), "merge")
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("merged image %v", b)
	}
	worst := 0
	for y := range h {
		for x := range w {
			a := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			b := src.NRGBAAt(x, y)
			for _, d := range []int{int(a.R) - int(b.R), int(a.G) - int(b.G), int(a.B) - int(b.B)} {
				worst = max(worst, d, -d)
			}
		}
	}
	if worst > 1 {
		t.Errorf("the merged crops differ from the image by up to %d levels", worst)
	}
}
