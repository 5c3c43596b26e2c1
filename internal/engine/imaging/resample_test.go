package imaging

import (
	"fmt"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
)

// TestResizeMatchesPillow compares every case of testdata/imaging/resize.safetensors (Pillow 9.4.0's
// Image.resize, made by make_resize.py there) byte for byte.
func TestResizeMatchesPillow(t *testing.T) {
	path, err := goldens.Path("imaging", "resize.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := goldens.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	filters := map[string]Filter{"bicubic": Bicubic, "lanczos": Lanczos, "bilinear": Bilinear, "box": Box, "hamming": Hamming}
	bytesOf := func(name string) []uint8 {
		v := ts[name]
		out := make([]uint8, len(v.Ints))
		for i, x := range v.Ints {
			out[i] = uint8(x)
		}
		return out
	}
	cases := 0
	for _, name := range goldens.Names(ts) {
		parts := strings.Split(name, ".")
		if len(parts) != 3 {
			continue
		}
		src := ts[parts[0]]
		ch := 1
		if len(src.Shape) == 3 {
			ch = src.Shape[2]
		}
		var w, h int
		if _, err := fmt.Sscanf(parts[2], "%dx%d", &w, &h); err != nil {
			t.Fatal(err)
		}
		got, err := Resize(bytesOf(parts[0]), src.Shape[1], src.Shape[0], ch, w, h, filters[parts[1]])
		if err != nil {
			t.Fatal(err)
		}
		want := bytesOf(name)
		diffs := 0
		for i := range want {
			if got[i] != want[i] {
				diffs++
			}
		}
		if diffs > 0 {
			t.Errorf("%s: %d of %d bytes differ from Pillow", name, diffs, len(want))
		}
		cases++
	}
	if cases < 10 {
		t.Fatalf("only %d cases", cases)
	}
}

func TestResizeRefusesBadSizes(t *testing.T) {
	if _, err := Resize(make([]uint8, 11), 2, 2, 3, 4, 4, Bicubic); err == nil {
		t.Error("short buffer accepted")
	}
	if _, err := Resize(make([]uint8, 12), 2, 2, 3, 0, 4, Bicubic); err == nil {
		t.Error("zero width accepted")
	}
}
