package imaging

import (
	"fmt"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
)

// TestResizeMatchesOpenCV compares with testdata/imaging/cvresize.safetensors (OpenCV 4.6, made by
// make_cvresize.py), byte for byte.
func TestResizeMatchesOpenCV(t *testing.T) {
	path, err := goldens.Path("imaging", "cvresize.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := goldens.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	src := ts["rgb"]
	h, w := src.Shape[0], src.Shape[1]
	pix := make([]uint8, len(src.Ints))
	for i, v := range src.Ints {
		pix[i] = uint8(v)
	}
	for _, name := range goldens.Names(ts) {
		kind, size, ok := strings.Cut(name, ".")
		if !ok || (kind != "cubic" && kind != "nearest") {
			continue // the input, and color_map.16 (TestProcessorNodesMatchOpenCV)
		}
		var nw, nh int
		if _, err := fmt.Sscanf(size, "%dx%d", &nw, &nh); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []uint8
		if kind == "cubic" {
			got, err = ResizeCubicCV(pix, w, h, 3, nw, nh)
			if err != nil {
				t.Fatal(err)
			}
		} else {
			got = ResizeNearestCV(pix, w, h, 3, nw, nh)
		}
		worst, off := 0, 0
		for i, v := range ts[name].Ints {
			d := int(got[i]) - int(v)
			if d != 0 {
				off++
			}
			worst = max(worst, d, -d)
		}
		t.Logf("%s: %d values off, max %d", name, off, worst)
		if off > 0 {
			t.Errorf("%s: %d values differ from OpenCV, by up to %d", name, off, worst)
		}
	}
}
