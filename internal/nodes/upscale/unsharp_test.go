package upscale

import (
	"fmt"
	"image/color"
	"image/png"
	"os"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
)

// unsharp reproduces InvokeAI's unsharp_mask on Pillow 9.4 exactly (the goldens of
// testdata/upscale/make_unsharp.py), blur radii below one pixel, beyond the image and in between.
func TestUnsharpGoldens(t *testing.T) {
	p, err := goldens.Path("upscale", "unsharp_in.png")
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
	g, err := goldens.Load(p[:len(p)-len("unsharp_in.png")] + "unsharp.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	for _, radius := range []float64{2, 0.5, 7.3, 40} {
		for _, strength := range []float64{50, 150, 0} {
			name := fmt.Sprintf("r%g_s%g", radius, strength)
			want, ok := g[name]
			if !ok {
				t.Fatalf("no golden %s", name)
			}
			out, err := unsharp(img, radius, strength)
			if err != nil {
				t.Fatal(err)
			}
			b := out.Bounds()
			bad := 0
			for y := range b.Dy() {
				for x := range b.Dx() {
					for c := range 3 {
						if int64(out.Pix[y*out.Stride+x*4+c]) != want.Ints[(y*b.Dx()+x)*3+c] {
							bad++
						}
					}
					if a := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA).A; out.Pix[y*out.Stride+x*4+3] != a {
						t.Fatalf("%s: alpha at %d,%d is %d, want %d", name, x, y, out.Pix[y*out.Stride+x*4+3], a)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%s: %d channels differ from Pillow", name, bad)
			}
		}
	}
}
