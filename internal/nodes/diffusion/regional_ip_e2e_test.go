package diffusion_test

import (
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
)

// TestE2ERegionalIPAdapter runs an IP-Adapter limited to a mask (InvokeAI's ip_adapter mask input, the canvas's
// regional reference image) through the API on the tiny SD model and IP-Adapter, 64×64, 6 Euler steps:
//   - an all-ones mask gives exactly the unmasked adapter's image;
//   - an all-zeros mask gives exactly the image without the adapter;
//   - a mask over the left half gives an image unlike both, and the adapter's effect (mean absolute pixel
//     difference from the image without it) is larger in the masked half than in the other, which self-attention
//     and the convolutions still reach, so it is not zero there.
func TestE2ERegionalIPAdapter(t *testing.T) {
	env := apitest.New(t)
	model := installTinyModel(t, env)
	ip := installSource(t, env, sdExtPath(t, "ip_adapter", "models", "ip-adapter_sd15-tiny.safetensors"), map[string]any{})
	installSource(t, env, sdExtPath(t, "ip_adapter", "models", "image_encoder"), map[string]any{"name": "ip_adapter_sd_image_encoder"})
	ipImg := uploadPNG(t, env, sdExtPath(t, "ip_adapter", "inputs", "ip_in224.png"))

	const size = 64
	// run returns the RGBA pixels of a run: withIP false has no adapter; rect, when set, is the mask's
	// rectangle {x_left, width} over the full height.
	run := func(withIP bool, rect []int) []byte {
		t.Helper()
		g := txt2imgGraph(model, "a photo of a cat", "", "euler", 6, 0, size)
		if withIP {
			addNode(g, map[string]any{"id": "ipa", "type": "ip_adapter", "image": map[string]any{"image_name": ipImg},
				"ip_adapter_model": ip, "weight": 1.0}, link("ipa", "ip_adapter", "denoise", "ip_adapter"))
			if rect != nil {
				addNode(g, map[string]any{"id": "mask", "type": "rectangle_mask", "width": size, "height": size,
					"x_left": rect[0], "y_top": 0, "rectangle_width": rect[1], "rectangle_height": size},
					link("mask", "mask", "ipa", "mask"))
			}
		}
		it := waitItem(t, env, enqueue(t, env, g), 2*time.Minute)
		if it.Status != "completed" {
			t.Fatalf("%s: %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
		return decodePix(t, servedImage(t, env, it))
	}
	plain := run(false, nil)
	unmasked := run(true, nil)
	ones := run(true, []int{0, size})
	zeros := run(true, []int{0, 0})
	left := run(true, []int{0, size / 2})

	if string(plain) == string(unmasked) {
		t.Fatal("the IP-Adapter does not change the image: the test cannot tell masks apart")
	}
	if string(ones) != string(unmasked) {
		t.Error("an all-ones mask differs from the unmasked IP-Adapter")
	}
	if string(zeros) != string(plain) {
		t.Error("an all-zeros mask differs from the run without the IP-Adapter")
	}
	if string(left) == string(plain) || string(left) == string(unmasked) {
		t.Error("a half mask gives the plain or the unmasked image")
	}
	// Mean absolute difference from the plain image per half (RGB).
	var diff [2]float64
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			for c := 0; c < 3; c++ {
				i := (y*size+x)*4 + c
				d := float64(left[i]) - float64(plain[i])
				if d < 0 {
					d = -d
				}
				diff[x*2/size] += d
			}
		}
	}
	n := float64(size * size / 2 * 3)
	t.Logf("half mask: mean |Δ| from the plain image %.2f inside, %.2f outside", diff[0]/n, diff[1]/n)
	if diff[0] <= diff[1] {
		t.Errorf("the half mask's effect inside (%.2f) is not larger than outside (%.2f)", diff[0]/n, diff[1]/n)
	}
}
