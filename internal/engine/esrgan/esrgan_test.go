package esrgan

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/safetensors"
)

func upscaleFixture(t testing.TB, name string) string {
	t.Helper()
	p, err := goldens.Path("upscale", name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSpecFromShapes(t *testing.T) {
	for _, tc := range []struct {
		file                                      string
		layout                                    string
		scale, feat, blocks, growth, shuffle, ups int
		tags                                      []string
	}{
		{"rrdb-x4-new", "new", 4, 8, 1, 32, 1, 2, []string{"8nf", "1nb"}},
		{"rrdb-x4-old", "old", 4, 8, 1, 32, 1, 2, []string{"8nf", "1nb"}},
		{"rrdb-x2-unshuffle-new", "new", 2, 8, 1, 32, 2, 2, []string{"8nf", "1nb", "unshuffle"}},
		{"rrdb-x2-unshuffle-old", "old", 2, 8, 1, 32, 2, 2, []string{"8nf", "1nb", "unshuffle"}},
	} {
		m := loadModel(t, tc.file, Options{})
		s := m.Spec
		if s.Arch != ArchESRGAN || s.Layout != tc.layout || s.Scale != tc.scale || s.Features != tc.feat || s.Blocks != tc.blocks ||
			s.Growth != tc.growth || s.Shuffle != tc.shuffle || s.UpConvs != tc.ups || s.InChannels != 3 || s.OutChannels != 3 {
			t.Errorf("%s: spec %+v", tc.file, s)
		}
		if !slices.Equal(s.Tags(), tc.tags) {
			t.Errorf("%s: tags %v, want %v", tc.file, s.Tags(), tc.tags)
		}
	}
	for _, tc := range []struct {
		file               string
		scale, feat, nconv int
	}{{"compact-x4.safetensors", 4, 8, 2}, {"compact-x2.safetensors", 2, 8, 1}} {
		m, err := Load(upscaleFixture(t, tc.file), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if s := m.Spec; s.Arch != ArchCompact || s.Scale != tc.scale || s.Features != tc.feat || s.Blocks != tc.nconv {
			t.Errorf("%s: spec %+v", tc.file, s)
		}
	}
}

func TestCompactGoldens(t *testing.T) {
	for _, model := range []string{"compact-x4", "compact-x2"} {
		m, err := Load(upscaleFixture(t, model+".safetensors"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range []string{"esr_in17x23", "esr_in24"} {
			t.Run(model+"/"+in, func(t *testing.T) {
				g, err := goldens.Load(upscaleFixture(t, model+"_"+in+".safetensors"))
				if err != nil {
					t.Fatal(err)
				}
				x := g["input"]
				raw, err := m.runRaw(context.Background(), x.Float32(), x.Shape[2], x.Shape[3])
				if err != nil {
					t.Fatal(err)
				}
				checkClose(t, "output_raw", raw, g["output_raw"].Floats)
				img, err := m.Upscale(context.Background(), loadPNG(t, in+".png"), UpscaleOptions{})
				if err != nil {
					t.Fatal(err)
				}
				checkUint8(t, "uint8_trunc", img, g["uint8_trunc"].Ints, 1)
			})
		}
	}
}

// bf16 weights stay within a few 1e-3 of fp32 relative to the output's magnitude.
func TestBF16CloseToFP32(t *testing.T) {
	g := loadGolden(t, "rrdb-x4_esr_in24")
	x := g["input"]
	for _, name := range []string{"rrdb-x4-new", "rrdb-x2-unshuffle-new"} {
		m := loadModel(t, name, Options{Precision: "bf16"})
		got, err := m.runRaw(context.Background(), x.Float32(), 24, 24)
		if err != nil {
			t.Fatal(err)
		}
		ref := loadModel(t, name, Options{})
		want, _ := ref.runRaw(context.Background(), x.Float32(), 24, 24)
		var maxErr, maxRef float64
		for i := range want {
			maxRef = max(maxRef, math.Abs(float64(want[i])))
			maxErr = max(maxErr, math.Abs(float64(got[i]-want[i])))
		}
		t.Logf("%s bf16: max|err| %.3g, max|ref| %.3g", name, maxErr, maxRef)
		if maxErr > 2e-2*maxRef || maxErr == 0 {
			t.Errorf("%s bf16: max|err| %.3g against max|ref| %.3g", name, maxErr, maxRef)
		}
	}
	if _, err := Load(fixture(t, "models", "rrdb-x4-new.safetensors"), Options{Precision: "fp8"}); err == nil {
		t.Error("an unknown precision was accepted")
	}
}

// The upsampling tail computed in bands of rows, each with its halo, equals the tail computed at
// once.
func TestTailBands(t *testing.T) {
	m := loadModel(t, "rrdb-x4-new", Options{})
	f, h, w := m.Spec.Features, 13, 9
	fea := make([]float32, f*h*w)
	for i := range fea {
		fea[i] = float32(math.Sin(float64(i) * 0.37))
	}
	whole, err := m.tail(context.Background(), fea, h, w, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, rows := range []int{1, 2, 3, 5} {
		got, err := m.tail(context.Background(), fea, h, w, rows)
		if err != nil {
			t.Fatal(err)
		}
		var maxErr float64
		for i := range whole {
			maxErr = max(maxErr, math.Abs(float64(got[i]-whole[i])))
		}
		if maxErr > 1e-5 {
			t.Errorf("bands of %d rows: max|err| %g", rows, maxErr)
		}
	}
}

// testImage is a smooth picture with edges: gradients, a disc and stripes.
func testImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			r := uint8(255 * x / w)
			g := uint8(255 * y / h)
			b := uint8(128 + 100*math.Sin(float64(x+y)/9))
			if dx, dy := x-w/3, y-h/2; dx*dx+dy*dy < (h/4)*(h/4) {
				r, g = 240, 30
			}
			if (x/7)%5 == 0 && y > 2*h/3 {
				b = 10
			}
			img.Set(x, y, color.NRGBA{r, g, b, 255})
		}
	}
	return img
}

// Tiled and untiled upscales agree within ±2 levels away from the seams, and the seams do not
// show: the step across a seam is no larger than the steps beside it. The image is 132×100 so
// that every tile of the x2 model starts on an even pixel: a pixel-unshuffled network sees an
// odd-aligned tile through a different 2×2 grouping, which for these random weights changes the
// whole tile (for trained weights, only slightly); InvokeAI's tiling does not align tiles either.
func TestTiledSeams(t *testing.T) {
	img := testImage(132, 100)
	for _, name := range []string{"rrdb-x4-new", "rrdb-x2-unshuffle-new"} {
		t.Run(name, func(t *testing.T) {
			m := loadModel(t, name, Options{})
			s := m.Spec.Scale
			whole, err := m.Upscale(context.Background(), img, UpscaleOptions{})
			if err != nil {
				t.Fatal(err)
			}
			const tile = 48
			tiled, err := m.Upscale(context.Background(), img, UpscaleOptions{TileSize: tile})
			if err != nil {
				t.Fatal(err)
			}
			tiles, _ := Tiles(100, 132, tile, DefaultMinOverlap)
			for _, tl := range tiles {
				if tl.Left%2 != 0 || tl.Top%2 != 0 {
					t.Fatalf("tile %+v is odd-aligned", tl)
				}
			}
			if len(tiles) < 6 {
				t.Fatalf("only %d tiles", len(tiles))
			}
			seamX, seamY := map[int]bool{}, map[int]bool{}
			for _, tl := range tiles {
				if tl.OverlapLeft > 0 {
					seamX[tl.Left*s+tl.OverlapLeft*s/2] = true
				}
				if tl.OverlapTop > 0 {
					seamY[tl.Top*s+tl.OverlapTop*s/2] = true
				}
			}
			near := func(v int, seams map[int]bool) bool {
				for c := range seams {
					if v >= c-2*s && v < c+2*s {
						return true
					}
				}
				return false
			}
			b := whole.Bounds()
			worst, worstAny := 0, 0
			for y := range b.Dy() {
				for x := range b.Dx() {
					for c := range 3 {
						d := int(tiled.Pix[y*tiled.Stride+x*4+c]) - int(whole.Pix[y*whole.Stride+x*4+c])
						d = max(d, -d)
						worstAny = max(worstAny, d)
						if !near(x, seamX) && !near(y, seamY) {
							worst = max(worst, d)
						}
					}
				}
			}
			t.Logf("tiled vs untiled: worst %d away from seams, %d anywhere", worst, worstAny)
			if worst > 2 {
				t.Errorf("tiled and untiled differ by %d levels away from the seams", worst)
			}
			// Mean absolute step between neighbouring columns (rows) at the seams and elsewhere.
			step := func(img *image.NRGBA, x, y int, horizontal bool) float64 {
				x0, y0 := x-1, y
				if !horizontal {
					x0, y0 = x, y-1
				}
				sum := 0
				for c := range 3 {
					d := int(img.Pix[y*img.Stride+x*4+c]) - int(img.Pix[y0*img.Stride+x0*4+c])
					sum += max(d, -d)
				}
				return float64(sum)
			}
			for _, horizontal := range []bool{true, false} {
				// Seams are lines x = c (horizontal steps) or y = c (vertical steps); along
				// runs over the line's length.
				seams, across, along := seamX, b.Dx(), b.Dy()
				if !horizontal {
					seams, across, along = seamY, b.Dy(), b.Dx()
				}
				at := func(c, o int) (int, int) {
					if horizontal {
						return c, o
					}
					return o, c
				}
				var atSeam, elsewhere, cnt float64
				for c := range seams {
					for o := range along {
						x, y := at(c, o)
						atSeam += step(tiled, x, y, horizontal)
					}
				}
				atSeam /= float64(len(seams) * along)
				for c := 1; c < across; c++ {
					if seams[c] {
						continue
					}
					for o := range along {
						x, y := at(c, o)
						elsewhere += step(tiled, x, y, horizontal)
						cnt++
					}
				}
				elsewhere /= cnt
				t.Logf("horizontal=%v: mean step %.2f at %d seams, %.2f elsewhere", horizontal, atSeam, len(seams), elsewhere)
				if atSeam > 1.25*elsewhere+1 {
					t.Errorf("horizontal=%v: seams visible: mean step %.2f against %.2f elsewhere", horizontal, atSeam, elsewhere)
				}
			}
		})
	}
}

func TestCancel(t *testing.T) {
	m := loadModel(t, "rrdb-x4-new", Options{})
	img := testImage(80, 60)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Upscale(ctx, img, UpscaleOptions{TileSize: 32}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	var calls int
	_, err := m.Upscale(ctx, img, UpscaleOptions{TileSize: 32, Progress: func(done, total int) {
		calls++
		if done == 1 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("cancelled after the first tile: err %v after %d tiles", err, calls)
	}
}

// shapesOf returns a fixture's tensor shapes.
func shapesOf(t testing.TB, path string) map[string][]int {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return safetensorsWeights{f}.Shapes()
}

func cloneShapes(s map[string][]int) map[string][]int {
	out := map[string][]int{}
	for k, v := range s {
		out[k] = slices.Clone(v)
	}
	return out
}

func TestInspectRefuses(t *testing.T) {
	newX4 := shapesOf(t, fixture(t, "models", "rrdb-x4-new.safetensors"))
	oldX4 := shapesOf(t, fixture(t, "models", "rrdb-x4-old.safetensors"))
	compact := shapesOf(t, upscaleFixture(t, "compact-x4.safetensors"))
	edit := func(base map[string][]int, f func(map[string][]int)) map[string][]int {
		s := cloneShapes(base)
		f(s)
		return s
	}
	cases := map[string]map[string][]int{
		"empty":         {},
		"unrelated":     {"encoder.conv_in.weight": {8, 3, 3, 3}},
		"missing conv":  edit(newX4, func(s map[string][]int) { delete(s, "body.0.rdb2.conv3.weight") }),
		"missing bias":  edit(newX4, func(s map[string][]int) { delete(s, "conv_hr.bias") }),
		"wrong shape":   edit(newX4, func(s map[string][]int) { s["body.0.rdb1.conv2.weight"] = []int{32, 41, 3, 3} }),
		"5x5 kernel":    edit(newX4, func(s map[string][]int) { s["conv_first.weight"] = []int{8, 3, 5, 5} }),
		"extra tensor":  edit(newX4, func(s map[string][]int) { s["body.0.rdb1.conv1x1.weight"] = []int{32, 8, 1, 1} }),
		"block gap":     edit(newX4, func(s map[string][]int) { renameBlock(s, "body.0.", "body.1.") }),
		"huge features": edit(newX4, func(s map[string][]int) { s["conv_first.weight"] = []int{100000, 3, 3, 3} }),
		"grayscale": edit(newX4, func(s map[string][]int) {
			s["conv_first.weight"] = []int{8, 1, 3, 3}
			s["conv_last.weight"], s["conv_last.bias"] = []int{1, 8, 3, 3}, []int{1}
		}),
		"old: trunk missing": edit(oldX4, func(s map[string][]int) { delete(s, "model.1.sub.1.weight") }),
		"old: hole in top":   edit(oldX4, func(s map[string][]int) { s["model.9.weight"], s["model.9.bias"] = []int{8, 8, 3, 3}, []int{8} }),
		"old: ESRGAN+":       edit(oldX4, func(s map[string][]int) { s["model.1.sub.0.RDB1.conv1x1.weight"] = []int{32, 8, 1, 1} }),
		"compact: odd last":  edit(compact, func(s map[string][]int) { s["body.7.weight"] = []int{8} }),
		"compact: scale":     edit(compact, func(s map[string][]int) { s["body.6.weight"], s["body.6.bias"] = []int{45, 8, 3, 3}, []int{45} }),
		"compact: no prelu":  edit(compact, func(s map[string][]int) { delete(s, "body.3.weight") }),
		"absurd index":       edit(newX4, func(s map[string][]int) { s["body.99999999999.rdb1.conv1.weight"] = []int{32, 8, 3, 3} }),
	}
	for name, shapes := range cases {
		if spec, err := Inspect(shapes); err == nil || !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: accepted (%v, %v)", name, spec, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	// A params_ema wrapper is accepted.
	wrapped := map[string][]int{}
	for k, v := range newX4 {
		wrapped["params_ema."+k] = v
	}
	if _, err := Inspect(wrapped); err != nil {
		t.Errorf("params_ema wrapper: %v", err)
	}
}

func renameBlock(s map[string][]int, from, to string) {
	for k, v := range s {
		if strings.HasPrefix(k, from) {
			delete(s, k)
			s[to+strings.TrimPrefix(k, from)] = v
		}
	}
}

// FuzzInspect feeds arbitrary name→shape maps (JSON) to Inspect: it must answer with a spec or an
// error, never panic, and never accept a network beyond its limits.
func FuzzInspect(f *testing.F) {
	for _, p := range []string{"rrdb-x4-new", "rrdb-x4-old", "rrdb-x2-unshuffle-new"} {
		b, _ := json.Marshal(shapesOf(f, fixture(f, "models", p+".safetensors")))
		f.Add(b)
	}
	b, _ := json.Marshal(shapesOf(f, upscaleFixture(f, "compact-x4.safetensors")))
	f.Add(b)
	f.Add([]byte(`{"body.0.weight":[1,3,3,3],"body.1.weight":[1],"body.2.weight":[3,1,3,3],"body.2.bias":[3],"body.0.bias":[1]}`))
	f.Add([]byte(`{"model.0.weight":[8,3,3,3],"model.1.sub.0.RDB1.conv1.0.weight":[-1,8,3,3]}`))
	f.Add([]byte(`{"conv_first.weight":[9223372036854775807,3,3,3],"body.0.rdb1.conv1.weight":[32,8,3,3]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var shapes map[string][]int
		if json.Unmarshal(data, &shapes) != nil {
			return
		}
		spec, err := Inspect(shapes)
		if err != nil {
			return
		}
		if spec.Features > maxFeatures || spec.Blocks > maxCompact || spec.Parameters > maxParameters || spec.Scale < 1 || spec.Scale > 16 {
			t.Fatalf("accepted an out-of-bounds network: %+v", spec)
		}
	})
}

// FuzzLoad feeds arbitrary bytes to Load as a .pth and as a .safetensors file: it must answer with
// a model or an error, never panic or allocate beyond the limits.
func FuzzLoad(f *testing.F) {
	for _, p := range []string{upscaleFixture(f, "rrdb-x4-params_ema.pth"), upscaleFixture(f, "compact-x2.safetensors")} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		bad := slices.Clone(b)
		for i := 40; i < len(bad) && i < 4000; i += 97 {
			bad[i] ^= 0x5a
		}
		f.Add(bad)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, ext := range []string{".pth", ".safetensors"} {
			p := filepath.Join(dir, "m"+ext)
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if m, err := Load(p, Options{}); err == nil && m.Spec.Parameters > maxParameters {
				t.Fatalf("loaded an oversized model %+v", m.Spec)
			}
		}
	})
}
