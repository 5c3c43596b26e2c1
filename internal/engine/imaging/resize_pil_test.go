package imaging

import (
	"fmt"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
)

// TestResizeModesMatchPillow compares every resampling mode of InvokeAI's img_resize with Pillow 9.4's
// Image.resize of an RGBA picture (premultiplied alpha) and an RGB one (testdata/imaging/resize_nodes.safetensors,
// made by make_resize_nodes.py), down, up and mixed, byte for byte.
func TestResizeModesMatchPillow(t *testing.T) {
	path, err := goldens.Path("imaging", "resize_nodes.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := goldens.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	filters := map[string]Filter{"box": Box, "bilinear": Bilinear, "hamming": Hamming, "bicubic": Bicubic, "lanczos": Lanczos}
	n := 0
	for _, name := range goldens.Names(ts) {
		rest, ok := strings.CutPrefix(name, "resize.")
		if !ok {
			continue
		}
		parts := strings.Split(rest, ".") // picture, mode, size
		var ow, oh int
		if _, err := fmt.Sscanf(parts[2], "%dx%d", &ow, &oh); err != nil {
			t.Fatal(err)
		}
		in := loadU8(t, ts, "in."+parts[0])
		h, w, ch := ts["in."+parts[0]].Shape[0], ts["in."+parts[0]].Shape[1], ts["in."+parts[0]].Shape[2]
		var got []uint8
		switch {
		case parts[1] == "nearest":
			got, err = ResizeNearest(in, w, h, ch, ow, oh)
		case ch == 4:
			var pic *Picture
			if pic, err = (&Picture{W: w, H: h, Mode: ModeRGBA, Pix: in}).Resize(ow, oh, filters[parts[1]]); err == nil {
				got = pic.Pix
			}
		default:
			got, err = Resize(in, w, h, ch, ow, oh, filters[parts[1]])
		}
		if err != nil {
			t.Fatal(err)
		}
		off, worst := 0, 0
		for i, v := range loadU8(t, ts, name) {
			if d := int(got[i]) - int(v); d != 0 {
				off++
				worst = max(worst, d, -d)
			}
		}
		if off > 0 {
			t.Errorf("%s: %d values differ from Pillow, by up to %d", name, off, worst)
		}
		n++
	}
	if n != 84 {
		t.Errorf("compared %d resizes, want 84", n)
	}
}
