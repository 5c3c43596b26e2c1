package inpaint

import (
	"context"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
)

// ops loads testdata/nodes/canvas/ops.safetensors (Pillow 9.4.0 and OpenCV 4.6.0 outputs, made by gen_ops.py
// there).
func ops(t *testing.T) map[string]goldens.Tensor {
	t.Helper()
	path, err := goldens.Path("nodes", "canvas", "ops.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := goldens.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func u8(t *testing.T, ts map[string]goldens.Tensor, name string) (pix []uint8, w, h int) {
	t.Helper()
	v, ok := ts[name]
	if !ok {
		t.Fatalf("no golden %s", name)
	}
	pix = make([]uint8, len(v.Ints))
	for i, x := range v.Ints {
		pix[i] = uint8(x)
	}
	return pix, v.Shape[1], v.Shape[0]
}

// cv2.inpaint(INPAINT_TELEA) byte for byte: holes inside the image, touching its first row and column (which
// OpenCV leaves unfilled), thin lines, a hole in a smooth ramp, an all-unknown image, radii 1, 3 and 6.
func TestTeleaMatchesOpenCV(t *testing.T) {
	ts := ops(t)
	cases := 0
	for _, name := range goldens.Names(ts) {
		parts := strings.Split(name, ".")
		if parts[0] != "telea" {
			continue
		}
		radius := 3.0
		if len(parts) == 4 {
			switch parts[3] {
			case "r1":
				radius = 1
			case "r6":
				radius = 6
			}
		}
		img, w, h := u8(t, ts, "in."+parts[1])
		mask, _, _ := u8(t, ts, "in."+parts[2])
		want, _, _ := u8(t, ts, name)
		got, err := Telea(context.Background(), img, mask, w, h, radius)
		if err != nil {
			t.Fatal(err)
		}
		bad := 0
		for i := range got {
			if got[i] != want[i] {
				if bad < 3 {
					t.Errorf("%s: pixel %d,%d channel %d is %d, want %d", name, i/3%w, i/3/w, i%3, got[i], want[i])
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d bytes differ", name, bad, len(got))
		}
		cases++
	}
	if cases != 12 {
		t.Fatalf("%d telea cases", cases)
	}
}

func TestTeleaRefusesBadInput(t *testing.T) {
	if _, err := Telea(context.Background(), make([]uint8, 11), make([]uint8, 4), 2, 2, 3); err == nil {
		t.Error("wrong image length accepted")
	}
	if _, err := Telea(context.Background(), make([]uint8, 12), make([]uint8, 3), 2, 2, 3); err == nil {
		t.Error("wrong mask length accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	mask := make([]uint8, 64*64)
	mask[64*30+30] = 255
	if _, err := Telea(ctx, make([]uint8, 64*64*3), mask, 64, 64, 3); err == nil {
		t.Error("a cancelled context was ignored")
	}
}

// PatchMatch reproduces pypatchmatch (built from invoke-ai's PyPatchMatch, testdata/nodes/canvas/
// gen_patchmatch.py) byte for byte: a periodic pattern, noise and stripes with a hole in the middle, blobs
// touching the border and a corner hole, patch sizes 2 and 3, and an image smaller than a patch.
func TestPatchMatchMatchesPypatchmatch(t *testing.T) {
	path, err := goldens.Path("nodes", "canvas", "patchmatch.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := goldens.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := 0
	for _, name := range goldens.Names(ts) {
		parts := strings.Split(name, ".")
		if parts[0] != "pm" {
			continue
		}
		img, w, h := u8(t, ts, "in."+parts[1])
		mask, _, _ := u8(t, ts, "mask."+parts[2])
		want, _, _ := u8(t, ts, name)
		patch := int(parts[3][0] - '0')
		got, err := PatchMatch(context.Background(), img, mask, w, h, patch)
		if err != nil {
			t.Fatal(err)
		}
		bad := 0
		for i := range got {
			if got[i] != want[i] {
				if bad < 3 {
					t.Errorf("%s: pixel %d,%d channel %d is %d, want %d", name, i/3%w, i/3/w, i%3, got[i], want[i])
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d bytes differ", name, bad, len(got))
		}
		cases++
	}
	if cases != 11 {
		t.Fatalf("%d patchmatch cases", cases)
	}
}
