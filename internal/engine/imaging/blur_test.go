package imaging

import (
	"strconv"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
)

func loadU8(t *testing.T, ts map[string]goldens.Tensor, name string) []uint8 {
	t.Helper()
	g, ok := ts[name]
	if !ok {
		t.Fatalf("no %s", name)
	}
	out := make([]uint8, len(g.Ints))
	for i, v := range g.Ints {
		out[i] = uint8(v)
	}
	return out
}

// TestBlurMatchesPillow compares with Pillow 9.4's GaussianBlur and BoxBlur of an RGBA picture
// (testdata/imaging/blur.safetensors, made by make_blur.py), byte for byte, and Multiply with ImageChops.multiply
// for every pair of values.
func TestBlurMatchesPillow(t *testing.T) {
	path, err := goldens.Path("imaging", "blur.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := goldens.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	in := loadU8(t, ts, "in.rgba")
	h, w := ts["in.rgba"].Shape[0], ts["in.rgba"].Shape[1]
	n := 0
	for _, name := range goldens.Names(ts) {
		rest, ok := strings.CutPrefix(name, "pil.")
		if !ok {
			continue
		}
		kind, rs, _ := strings.Cut(rest, ".")
		r, err := strconv.ParseFloat(rs, 32)
		if err != nil {
			t.Fatal(err)
		}
		blur := GaussianBlur
		if kind == "box" {
			blur = BoxBlur
		}
		got, err := blur(in, w, h, 4, float32(r))
		if err != nil {
			t.Fatal(err)
		}
		off := 0
		for i, v := range loadU8(t, ts, name) {
			if got[i] != v {
				off++
			}
		}
		if off > 0 {
			t.Errorf("%s: %d values differ from Pillow", name, off)
		}
		n++
	}
	if n != 7 {
		t.Errorf("compared %d blurs, want 7", n)
	}
	mul := loadU8(t, ts, "multiply")
	for y := range 256 {
		for x := range 256 {
			if got := Multiply(uint8(x), uint8(y)); got != mul[y*256+x] {
				t.Fatalf("Multiply(%d, %d) = %d, Pillow %d", x, y, got, mul[y*256+x])
			}
		}
	}
}

// A negative box radius is refused (Pillow 9.4 computes garbage); a Gaussian's radius is squared first, so
// -1 is 1, as in Pillow.
func TestBlurRefusesBadArguments(t *testing.T) {
	pix := make([]uint8, 4*3*2)
	for _, c := range []struct {
		w, h, ch int
		r        float32
	}{{4, 3, 2, -1}, {4, 3, 2, MaxBlurRadius + 1}, {4, 3, 3, 1}, {0, 3, 2, 1}} {
		if _, err := BoxBlur(pix, c.w, c.h, c.ch, c.r); err == nil {
			t.Errorf("%+v: blurred", c)
		}
	}
	// Radii far beyond the image cost no more than small ones; Pillow 9.4 gives these values (for the
	// two-pixel line [0, 255]).
	for _, c := range []struct {
		blur   func([]uint8, int, int, int, float32) ([]uint8, error)
		r      float32
		p0, p1 uint8
	}{{BoxBlur, MaxBlurRadius, 127, 128}, {GaussianBlur, MaxBlurRadius, 127, 128}, {BoxBlur, 3.5, 112, 143}} {
		got, err := c.blur([]uint8{0, 255}, 2, 1, 1, c.r)
		if err != nil || got[0] != c.p0 || got[1] != c.p1 {
			t.Errorf("blur of radius %v: %v %v, Pillow [%d %d]", c.r, got, err, c.p0, c.p1)
		}
	}
}
