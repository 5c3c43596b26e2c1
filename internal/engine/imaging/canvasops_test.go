package imaging

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
)

// canvasOps loads testdata/nodes/canvas/ops.safetensors (Pillow 9.4.0 and OpenCV 4.6.0 outputs, made by
// gen_ops.py there).
func canvasOps(t *testing.T) map[string]goldens.Tensor {
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

func bytesOf(t *testing.T, ts map[string]goldens.Tensor, name string) (pix []uint8, w, h, ch int) {
	t.Helper()
	v, ok := ts[name]
	if !ok {
		t.Fatalf("no golden %s", name)
	}
	pix = make([]uint8, len(v.Ints))
	for i, x := range v.Ints {
		pix[i] = uint8(x)
	}
	h, w, ch = v.Shape[0], v.Shape[1], 1
	if len(v.Shape) == 3 {
		ch = v.Shape[2]
	}
	return pix, w, h, ch
}

func sameBytes(t *testing.T, name string, got, want []uint8) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d bytes, want %d", name, len(got), len(want))
	}
	bad := 0
	for i := range got {
		if got[i] != want[i] {
			if bad < 5 {
				t.Errorf("%s: byte %d is %d, want %d", name, i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d bytes differ", name, bad, len(got))
	}
}

// Pillow's GaussianBlur and BoxBlur, byte for byte, on RGBA and L images, for radii from below one pixel to
// larger than the image.
func TestBlursMatchPillow(t *testing.T) {
	ts := canvasOps(t)
	cases := 0
	for _, name := range goldens.Names(ts) {
		parts := strings.SplitN(name, ".", 3)
		if len(parts) != 3 || (parts[0] != "gauss" && parts[0] != "box") {
			continue
		}
		r, err := strconv.ParseFloat(parts[2], 64)
		if err != nil {
			t.Fatal(err)
		}
		src, w, h, ch := bytesOf(t, ts, "in."+parts[1])
		want, _, _, _ := bytesOf(t, ts, name)
		var got []uint8
		if parts[0] == "gauss" {
			got, err = GaussianBlur(src, w, h, ch, float32(r))
		} else {
			got, err = BoxBlur(src, w, h, ch, float32(r))
		}
		if err != nil {
			t.Fatal(err)
		}
		sameBytes(t, name, got, want)
		cases++
	}
	if cases != 18 {
		t.Fatalf("%d blur cases", cases)
	}
}

// cv2.erode and cv2.dilate with k×k kernels of ones and three iterations.
func TestMorphologyMatchesOpenCV(t *testing.T) {
	ts := canvasOps(t)
	for _, k := range []int{1, 2, 3, 5, 8} {
		for _, c := range []struct {
			op, img string
			fn      func([]uint8, int, int, int, int, int, int) ([]uint8, error)
		}{{"erode", "gray", Erode}, {"erode", "rgba", Erode}, {"dilate", "gray", Dilate}} {
			name := fmt.Sprintf("%s.%s.%d", c.op, c.img, k)
			src, w, h, ch := bytesOf(t, ts, "in."+c.img)
			want, _, _, _ := bytesOf(t, ts, name)
			got, err := c.fn(src, w, h, ch, k, k, 3)
			if err != nil {
				t.Fatal(err)
			}
			sameBytes(t, name, got, want)
		}
	}
}

// cv2.distanceTransform(DIST_L2, 5): every value exactly.
func TestDistanceTransformMatchesOpenCV(t *testing.T) {
	ts := canvasOps(t)
	blobs, w, h, _ := bytesOf(t, ts, "in.blobs")
	bg := make([]uint8, len(blobs))
	inv := make([]uint8, len(blobs))
	for i, v := range blobs {
		if v == 0 {
			bg[i] = 1
		} else {
			inv[i] = 1
		}
	}
	ones := make([]uint8, 35)
	for i := range ones {
		ones[i] = 1
	}
	for _, c := range []struct {
		name string
		src  []uint8
		w, h int
	}{{"dist.blobs", inv, w, h}, {"dist.bg", bg, w, h}, {"dist.ones", ones, 7, 5}} {
		got, err := DistanceL2Mask5(c.src, c.w, c.h)
		if err != nil {
			t.Fatal(err)
		}
		want := ts[c.name].Float32()
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", c.name, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: value %d is %v, want %v", c.name, i, got[i], want[i])
			}
		}
	}
}

func TestCanvasOpsRefuseBadInput(t *testing.T) {
	if _, err := GaussianBlur(make([]uint8, 5), 2, 2, 1, 1); err == nil {
		t.Error("blur: wrong length accepted")
	}
	if _, err := BoxBlur(make([]uint8, 4), 2, 2, 1, -1); err == nil {
		t.Error("blur: negative radius accepted")
	}
	if _, err := Erode(make([]uint8, 4), 2, 2, 1, -3, 3, 1); err == nil {
		t.Error("erode: negative kernel accepted")
	}
	if _, err := DistanceL2Mask5(make([]uint8, 3), 2, 2); err == nil {
		t.Error("distance: wrong length accepted")
	}
}
