package esrgan

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
)

func fixture(t testing.TB, elem ...string) string {
	t.Helper()
	p, err := goldens.Path(append([]string{"sd-ext", "esrgan"}, elem...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func loadModel(t testing.TB, name string, opts Options) *Model {
	t.Helper()
	m, err := Load(fixture(t, "models", name+".safetensors"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func loadGolden(t testing.TB, name string) map[string]goldens.Tensor {
	t.Helper()
	g, err := goldens.Load(fixture(t, "goldens", name+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func loadPNG(t testing.TB, name string) image.Image {
	t.Helper()
	f, err := os.Open(fixture(t, "inputs", name))
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

// checkClose asserts max|got−want| ≤ 1e-4·max|want|.
func checkClose(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var maxRef, maxErr float64
	for i, w := range want {
		maxRef = max(maxRef, math.Abs(w))
		maxErr = max(maxErr, math.Abs(float64(got[i])-w))
	}
	if maxErr > 1e-4*maxRef {
		t.Errorf("%s: max|err| %.3g > 1e-4·max|ref| (%.3g)", what, maxErr, maxRef)
	}
	t.Logf("%s: max|err| %.3g, max|ref| %.3g", what, maxErr, maxRef)
}

// checkUint8 asserts every 8-bit channel of img is within tol of want (HWC).
func checkUint8(t *testing.T, what string, img *image.NRGBA, want []int64, tol int) {
	t.Helper()
	b := img.Bounds()
	if len(want) != b.Dx()*b.Dy()*3 {
		t.Fatalf("%s: image %v, golden has %d values", what, b, len(want))
	}
	worst, bad := 0, 0
	for y := range b.Dy() {
		for x := range b.Dx() {
			for c := range 3 {
				d := int(img.Pix[y*img.Stride+x*4+c]) - int(want[(y*b.Dx()+x)*3+c])
				d = max(d, -d)
				worst = max(worst, d)
				if d > tol {
					bad++
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d channels differ by more than %d (worst %d)", what, bad, tol, worst)
	}
	t.Logf("%s: worst 8-bit difference %d", what, worst)
}

func TestGoldenUntiled(t *testing.T) {
	cases := []struct{ model, golden, input string }{
		{"rrdb-x4", "rrdb-x4_esr_in24", "esr_in24.png"},
		{"rrdb-x2-unshuffle", "rrdb-x2-unshuffle_esr_in24", "esr_in24.png"},
		{"rrdb-x2-unshuffle", "rrdb-x2-unshuffle_esr_in17x23", "esr_in17x23.png"},
	}
	for _, tc := range cases {
		for _, layout := range []string{"new", "old"} {
			t.Run(tc.golden+"/"+layout, func(t *testing.T) {
				m := loadModel(t, tc.model+"-"+layout, Options{})
				if m.Spec.Layout != layout {
					t.Errorf("layout %q, want %q", m.Spec.Layout, layout)
				}
				g := loadGolden(t, tc.golden)
				in := g["input"]
				h, w := in.Shape[2], in.Shape[3]
				raw, err := m.runRaw(context.Background(), in.Float32(), h, w)
				if err != nil {
					t.Fatal(err)
				}
				checkClose(t, "output_raw", raw, g["output_raw"].Floats)
				clamped, err := m.Run(context.Background(), in.Float32(), h, w)
				if err != nil {
					t.Fatal(err)
				}
				checkClose(t, "output", clamped, g["output"].Floats)
				img, err := m.Upscale(context.Background(), loadPNG(t, tc.input), UpscaleOptions{})
				if err != nil {
					t.Fatal(err)
				}
				checkUint8(t, "uint8_trunc", img, g["uint8_trunc"].Ints, 1)
			})
		}
	}
}

func TestGoldenTiled(t *testing.T) {
	for _, model := range []string{"rrdb-x4", "rrdb-x2-unshuffle"} {
		m := loadModel(t, model+"-new", Options{})
		for _, tc := range []struct {
			name             string
			tile, minOverlap int
		}{{"tile16_ov4", 16, 4}, {"tile32_ov20", 32, 20}} {
			t.Run(model+"/"+tc.name, func(t *testing.T) {
				g := loadGolden(t, model+"_esr_in40_"+tc.name)
				var calls []int
				img, err := m.Upscale(context.Background(), loadPNG(t, "esr_in40.png"), UpscaleOptions{
					TileSize: tc.tile, MinOverlap: tc.minOverlap, Progress: func(done, total int) { calls = append(calls, done, total) }})
				if err != nil {
					t.Fatal(err)
				}
				checkUint8(t, "tiled", img, g["uint8"].Ints, 1)
				tiles, _ := Tiles(40, 40, tc.tile, tc.minOverlap)
				if len(calls) != 2*len(tiles) || calls[len(calls)-2] != len(tiles) {
					t.Errorf("progress calls %v for %d tiles", calls, len(tiles))
				}
				whole, err := m.Upscale(context.Background(), loadPNG(t, "esr_in40.png"), UpscaleOptions{})
				if err != nil {
					t.Fatal(err)
				}
				checkUint8(t, "untiled", whole, g["uint8_untiled"].Ints, 1)
			})
		}
	}
}

// The tile grid of the goldens' manifest: tile 16 / overlap 4 on 40 pixels gives starts 0, 12, 24
// with overlaps of 4; tile 32 / overlap 20 gives starts 0 and 8 with an overlap of 24.
func TestTilesGrid(t *testing.T) {
	tiles, err := Tiles(40, 40, 16, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(tiles) != 9 {
		t.Fatalf("%d tiles", len(tiles))
	}
	mk := func(top, bottom, left, right, ot, ob, ol, or int) Tile {
		return Tile{Top: top, Bottom: bottom, Left: left, Right: right, OverlapTop: ot, OverlapBottom: ob, OverlapLeft: ol, OverlapRight: or}
	}
	want := []Tile{
		mk(0, 16, 0, 16, 0, 4, 0, 4), mk(0, 16, 12, 28, 0, 4, 4, 4), mk(0, 16, 24, 40, 0, 4, 4, 0),
		mk(12, 28, 0, 16, 4, 4, 0, 4), mk(12, 28, 12, 28, 4, 4, 4, 4), mk(12, 28, 24, 40, 4, 4, 4, 0),
		mk(24, 40, 0, 16, 4, 0, 0, 4), mk(24, 40, 12, 28, 4, 0, 4, 4), mk(24, 40, 24, 40, 4, 0, 4, 0),
	}
	for i := range want {
		if tiles[i] != want[i] {
			t.Errorf("tile %d = %+v, want %+v", i, tiles[i], want[i])
		}
	}
	tiles, _ = Tiles(40, 40, 32, 20)
	if len(tiles) != 4 || tiles[1].Left != 8 || tiles[1].OverlapLeft != 24 || tiles[2].Top != 8 || tiles[2].OverlapTop != 24 {
		t.Errorf("tile 32 / 20: %+v", tiles)
	}
	// A tile larger than the image is clamped to it: one tile.
	tiles, _ = Tiles(30, 50, 512, 20)
	if len(tiles) != 1 || tiles[0] != (Tile{Bottom: 30, Right: 50}) {
		t.Errorf("clamped tile: %+v", tiles)
	}
	if _, err := Tiles(100, 100, 16, 20); err == nil {
		t.Error("an overlap beyond the tile size was accepted")
	}
}

func TestPadSource(t *testing.T) {
	// w = 3 padded to 8: reflect 2 (indices 1, 0), then replicate the last reflected (0).
	var got []int
	for i := range 8 {
		got = append(got, padSource(i, 3, 8))
	}
	want := []int{0, 1, 2, 1, 0, 0, 0, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("padSource = %v, want %v", got, want)
		}
	}
	if padSource(1, 1, 4) != 0 || padSource(3, 1, 4) != 0 {
		t.Error("a 1-pixel axis must replicate")
	}
}

// A torch.save checkpoint nesting the weights under params_ema (as basicsr writes them) loads and
// reproduces the goldens.
func TestTorchCheckpoint(t *testing.T) {
	m, err := Load(upscaleFixture(t, "rrdb-x4-params_ema.pth"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Spec.Scale != 4 || m.Spec.Features != 8 || m.Spec.Layout != "new" {
		t.Errorf("spec %+v", m.Spec)
	}
	g := loadGolden(t, "rrdb-x4_esr_in24")
	raw, err := m.runRaw(context.Background(), g["input"].Float32(), 24, 24)
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "output_raw", raw, g["output_raw"].Floats)
}

// RealESRGAN's tiling (InvokeAI's legacy esrgan node) against testdata/upscale/make_realesrgan.py, whole
// and in tiles, for the ×4 and the pixel-unshuffled ×2 model (rounded 8-bit output, ±1).
func TestRealESRGANTiling(t *testing.T) {
	g, err := goldens.Load(upscaleFixture(t, "realesrgan.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		model, input string
		tiles        []int
	}{{"rrdb-x4", "esr_in40", []int{0, 16}}, {"rrdb-x2-unshuffle", "esr_in17x23", []int{0, 8}}} {
		m := loadModel(t, tc.model+"-new", Options{})
		for _, tile := range tc.tiles {
			name := fmt.Sprintf("%s_%s_tile%d", tc.model, tc.input, tile)
			calls := 0
			img, err := m.UpscaleRealESRGAN(context.Background(), loadPNG(t, tc.input+".png"), tile, func(done, total int) { calls++ })
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if calls == 0 {
				t.Errorf("%s: no progress", name)
			}
			t.Run(name, func(t *testing.T) { checkUint8(t, name, img, g[name].Ints, 1) })
		}
	}
	m := loadModel(t, "rrdb-x2-unshuffle-new", Options{})
	if _, err := m.UpscaleRealESRGAN(context.Background(), loadPNG(t, "esr_in40.png"), 7, nil); err == nil {
		t.Error("an odd tile for a pixel-unshuffled model was accepted")
	}
}
