package imaging

import (
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
)

// TestCannyMatchesOpenCV: InvokeAI's canny_edge_detection is cv2.Canny on the image in BGR order (OpenCV
// 4.6, aperture 3, L1 gradient). The fixture's maps must come out exactly; the variants it stores (RGB
// order, grey input, L2 gradient) differ from them, and this test pins InvokeAI's BGR order: on the
// 50/150 map the RGB order changes 66 pixels.
func TestCannyMatchesOpenCV(t *testing.T) {
	path, err := goldens.Path("sd-ext", "controlnet", "canny", "shapes64.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := goldens.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	in := ts["input_rgb"]
	h, w := in.Shape[0], in.Shape[1]
	bgr := make([]uint8, w*h*3)
	rgb := make([]uint8, w*h*3)
	for i := 0; i < w*h; i++ {
		for c := 0; c < 3; c++ {
			rgb[i*3+c] = uint8(in.Ints[i*3+c])
			bgr[i*3+c] = uint8(in.Ints[i*3+2-c])
		}
	}
	for _, c := range []struct {
		name      string
		low, high float64
	}{{"canny_100_200", 100, 200}, {"canny_50_150", 50, 150}} {
		got, err := Canny(bgr, w, h, 3, c.low, c.high)
		if err != nil {
			t.Fatal(err)
		}
		want := ts[c.name].Ints
		diff := 0
		for i := range want {
			if int64(got[i]) != want[i] {
				diff++
			}
		}
		if diff != 0 {
			t.Errorf("%s: %d pixels differ from OpenCV", c.name, diff)
		}
		// The same image in RGB order gives OpenCV's RGB-order map (ties pick the first channel).
		gotRGB, _ := Canny(rgb, w, h, 3, c.low, c.high)
		wantRGB := ts[c.name+".rgb_channel_order"].Ints
		diffRGB := 0
		for i := range wantRGB {
			if int64(gotRGB[i]) != wantRGB[i] {
				diffRGB++
			}
		}
		if diffRGB != 0 {
			t.Errorf("%s in RGB order: %d pixels differ from OpenCV", c.name, diffRGB)
		}
	}
}

func TestCannyRefusesBadInput(t *testing.T) {
	if _, err := Canny(make([]uint8, 5), 2, 2, 1, 1, 2); err == nil {
		t.Error("short buffer accepted")
	}
}
