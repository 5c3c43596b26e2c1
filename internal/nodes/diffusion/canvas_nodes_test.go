package diffusion

import (
	"encoding/json"
	"fmt"
	"image"
	"math"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/nodes"
)

func decodeField[T any](t *testing.T, out map[string]json.RawMessage, name string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(out[name], &v); err != nil {
		t.Fatalf("%s: %v (%s)", name, err, out[name])
	}
	return v
}

// maskBits reads a stored mask as a string of 0s and 1s, one line per row.
func maskBits(t *testing.T, h *harness, f TensorField) string {
	t.Helper()
	m, err := h.store.Tensor(f.TensorName)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Shape) != 3 || m.Shape[0] != 1 {
		t.Fatalf("mask of shape %v", m.Shape)
	}
	var b strings.Builder
	for y := 0; y < m.Shape[1]; y++ {
		for x := 0; x < m.Shape[2]; x++ {
			fmt.Fprint(&b, m.Data[y*m.Shape[2]+x])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// The tensor-mask nodes against hand-computed masks: rectangle_mask with Python's slice semantics,
// alpha_mask_to_tensor, image_mask_to_tensor (cutoff, invert), invert_tensor_mask, tensor_mask_to_image and
// apply_tensor_mask_to_image.
func TestTensorMaskNodes(t *testing.T) {
	h := newHarness(t)
	rect := func(fields map[string]any) (MaskOutput, string) {
		out := h.run("rectangle_mask", fields)
		mo := MaskOutput{Mask: decodeField[TensorField](t, out, "mask"), Width: decodeField[int](t, out, "width"), Height: decodeField[int](t, out, "height")}
		return mo, maskBits(t, h, mo.Mask)
	}
	mo, bits := rect(map[string]any{"width": 5, "height": 3, "x_left": 1, "y_top": 1, "rectangle_width": 2, "rectangle_height": 5})
	if mo.Width != 5 || mo.Height != 3 || bits != "00000\n01100\n01100\n" {
		t.Fatalf("rectangle: %+v\n%s", mo, bits)
	}
	// Negative ends count from the end, as in mask[:, -2:-1] (which is mask[:, 3:4]); -2:1 is empty.
	if _, bits = rect(map[string]any{"width": 5, "height": 2, "x_left": -2, "y_top": 0, "rectangle_width": 1, "rectangle_height": 1}); bits != "00010\n00000\n" {
		t.Fatalf("negative start:\n%s", bits)
	}
	if _, bits = rect(map[string]any{"width": 5, "height": 2, "x_left": -2, "y_top": 0, "rectangle_width": 3, "rectangle_height": 1}); bits != "00000\n00000\n" {
		t.Fatalf("negative start:\n%s", bits)
	}
	if _, err := h.try("rectangle_mask", map[string]any{"width": -1, "height": 2, "x_left": 0, "y_top": 0, "rectangle_width": 1, "rectangle_height": 1}); err == nil {
		t.Fatal("a negative width was accepted")
	}

	img := image.NewNRGBA(image.Rect(0, 0, 4, 2))
	for i, px := range [][4]uint8{{0, 0, 0, 0}, {255, 255, 255, 1}, {200, 10, 10, 255}, {0, 0, 0, 255}, {127, 128, 128, 0}, {128, 128, 128, 255}, {255, 0, 0, 128}, {0, 255, 0, 77}} {
		copy(img.Pix[i*4:], px[:])
	}
	h.ctx.images["m.png"] = img
	field := map[string]string{"image_name": "m.png"}
	alpha := decodeField[TensorField](t, h.run("alpha_mask_to_tensor", map[string]any{"image": field}), "mask")
	if bits := maskBits(t, h, alpha); bits != "0111\n0111\n" {
		t.Fatalf("alpha mask:\n%s", bits)
	}
	alphaInv := decodeField[TensorField](t, h.run("alpha_mask_to_tensor", map[string]any{"image": field, "invert": true}), "mask")
	if bits := maskBits(t, h, alphaInv); bits != "1000\n1000\n" {
		t.Fatalf("inverted alpha mask:\n%s", bits)
	}
	// Grey levels (PIL's L): 0, 255, 83, 0 / 128, 128, 76, 150; set below the cutoff.
	grey := decodeField[TensorField](t, h.run("image_mask_to_tensor", map[string]any{"image": field, "cutoff": 128}), "mask")
	if bits := maskBits(t, h, grey); bits != "1011\n0010\n" {
		t.Fatalf("grey mask:\n%s", bits)
	}
	greyInv := decodeField[TensorField](t, h.run("image_mask_to_tensor", map[string]any{"image": field, "cutoff": 128, "invert": true}), "mask")
	if bits := maskBits(t, h, greyInv); bits != "0100\n1101\n" {
		t.Fatalf("inverted grey mask:\n%s", bits)
	}
	inv := decodeField[TensorField](t, h.run("invert_tensor_mask", map[string]any{"mask": alpha}), "mask")
	if bits := maskBits(t, h, inv); bits != "1000\n1000\n" {
		t.Fatalf("inverted mask:\n%s", bits)
	}
	// A stored tensor that is not a mask (latents) is refused.
	lat := h.store.SaveTensor("latents", tensor.FromData([]float32{0.5, 2}, 1, 1, 2))
	if _, err := h.try("invert_tensor_mask", map[string]any{"mask": TensorField{TensorName: lat}}); err == nil {
		t.Fatal("a non-boolean tensor was inverted")
	}

	out := decodeField[nodes.ImageField](t, h.run("tensor_mask_to_image", map[string]any{"mask": alpha}), "image")
	gray, ok := h.ctx.images[out.ImageName].(*image.Gray)
	if !ok || string(gray.Pix) != "\x00\xff\xff\xff\x00\xff\xff\xff" {
		t.Fatalf("mask image %T %v", h.ctx.images[out.ImageName], gray)
	}
	out = decodeField[nodes.ImageField](t, h.run("apply_tensor_mask_to_image", map[string]any{"mask": grey, "image": field}), "image")
	res := h.ctx.images[out.ImageName].(*image.NRGBA)
	var alphas []uint8
	for i := 3; i < len(res.Pix); i += 4 {
		alphas = append(alphas, res.Pix[i])
	}
	// The mask's 255/0 where the image is visible; its transparent pixels stay transparent.
	if fmt.Sprint(alphas) != "[0 0 255 255 0 0 255 0]" || res.Pix[8] != 200 {
		t.Fatalf("applied mask: alpha %v pix %v", alphas, res.Pix)
	}
	out = decodeField[nodes.ImageField](t, h.run("apply_tensor_mask_to_image", map[string]any{"mask": grey, "image": field, "invert": true}), "image")
	res = h.ctx.images[out.ImageName].(*image.NRGBA)
	alphas = alphas[:0]
	for i := 3; i < len(res.Pix); i += 4 {
		alphas = append(alphas, res.Pix[i])
	}
	if fmt.Sprint(alphas) != "[0 255 0 0 0 255 0 255]" {
		t.Fatalf("applied inverted mask: alpha %v", alphas)
	}
}

func latentsOf(t *testing.T, h *harness, out map[string]json.RawMessage) *tensor.Tensor {
	t.Helper()
	f := decodeField[LatentsField](t, out, "latents")
	lat, err := h.store.Tensor(f.LatentsName)
	if err != nil {
		t.Fatal(err)
	}
	return lat
}

// crop_latents cuts the box (in pixels, divided by 8) as a slice would, clipping at the edges.
func TestCropLatents(t *testing.T) {
	h := newHarness(t)
	src := tensor.New(1, 2, 4, 5)
	for i := range src.Data {
		src.Data[i] = float32(i)
	}
	name := h.store.SaveTensor("latents", src)
	out := h.run("crop_latents", map[string]any{"latents": LatentsField{LatentsName: name}, "x": 8, "y": 16, "width": 16, "height": 800})
	got := latentsOf(t, h, out)
	if fmt.Sprint(got.Shape) != "[1 2 2 2]" || fmt.Sprint(got.Data) != "[11 12 16 17 31 32 36 37]" {
		t.Fatalf("crop %v %v", got.Shape, got.Data)
	}
	if decodeField[int](t, out, "width") != 16 || decodeField[int](t, out, "height") != 16 {
		t.Fatalf("size %s %s", out["width"], out["height"])
	}
	if _, err := h.try("crop_latents", map[string]any{"latents": LatentsField{LatentsName: name}, "x": 40, "y": 0, "width": 8, "height": 8}); err == nil {
		t.Fatal("a box outside the latents was accepted")
	}
}

func canvasGoldens(t *testing.T) map[string]goldens.Tensor {
	t.Helper()
	path, err := goldens.Path("nodes", "canvas", "latents.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := goldens.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// lblend's spherical interpolation against NumPy (testdata/nodes/canvas/gen_latents.py): within 2e-6 of
// the values (NumPy sums the norms and the dot product in float32 with its own order); a white mask makes B
// equal A, so the blend returns A; shapes must match.
func TestBlendLatents(t *testing.T) {
	h := newHarness(t)
	ts := canvasGoldens(t)
	a := tensor.FromData(ts["in.latents_a"].Float32(), ts["in.latents_a"].Shape...)
	b := tensor.FromData(ts["in.latents_b"].Float32(), ts["in.latents_b"].Shape...)
	na, nb := h.store.SaveTensor("latents", a), h.store.SaveTensor("latents", b)
	for _, alpha := range []float64{0, 0.3, 0.5, 1, 1.7} {
		got := latentsOf(t, h, h.run("lblend", map[string]any{"latents_a": LatentsField{LatentsName: na}, "latents_b": LatentsField{LatentsName: nb}, "alpha": alpha}))
		want := ts[fmt.Sprintf("slerp.%v", strings.TrimSuffix(fmt.Sprintf("%.1f", alpha), ""))].Float32()
		for i := range want {
			if d := math.Abs(float64(got.Data[i] - want[i])); d > 2e-6 {
				t.Fatalf("alpha %v: value %d is %v, want %v", alpha, i, got.Data[i], want[i])
			}
		}
	}
	near := a.Clone()
	for i := range near.Data {
		near.Data[i] *= 1.0001
	}
	got := latentsOf(t, h, h.run("lblend", map[string]any{"latents_a": LatentsField{LatentsName: na}, "latents_b": LatentsField{LatentsName: h.store.SaveTensor("latents", near)}, "alpha": 0.25}))
	for i, w := range ts["slerp.near.0.25"].Float32() {
		if d := math.Abs(float64(got.Data[i] - w)); d > 2e-6 {
			t.Fatalf("nearly parallel: value %d is %v, want %v", i, got.Data[i], w)
		}
	}
	white := image.NewGray(image.Rect(0, 0, 40, 48))
	for i := range white.Pix {
		white.Pix[i] = 255
	}
	h.ctx.images["white.png"] = white
	got = latentsOf(t, h, h.run("lblend", map[string]any{"latents_a": LatentsField{LatentsName: na}, "latents_b": LatentsField{LatentsName: nb}, "alpha": 0.6, "mask": map[string]string{"image_name": "white.png"}}))
	for i := range a.Data {
		if d := math.Abs(float64(got.Data[i] - a.Data[i])); d > 1e-6 {
			t.Fatalf("white mask: value %d is %v, want A's %v", i, got.Data[i], a.Data[i])
		}
	}
	other := h.store.SaveTensor("latents", tensor.New(1, 4, 6, 6))
	if _, err := h.try("lblend", map[string]any{"latents_a": LatentsField{LatentsName: na}, "latents_b": LatentsField{LatentsName: other}}); err == nil || !strings.Contains(err.Error(), "same size") {
		t.Fatalf("mismatched latents: %v", err)
	}
}

// create_gradient_mask against InvokeAI's computation (gen_latents.py): the mask tensor and the paste-back
// area exactly, for every coherence mode, two edge radii (and none) and two minimum denoise levels, on a mask
// whose sides are not multiples of 8.
func TestCreateGradientMask(t *testing.T) {
	h := newHarness(t)
	ts := canvasGoldens(t)
	in := ts["in.mask"]
	mh, mw := in.Shape[0], in.Shape[1]
	img := image.NewGray(image.Rect(0, 0, mw, mh))
	for i, v := range in.Ints {
		img.Pix[i] = uint8(v)
	}
	h.ctx.images["mask.png"] = img
	cases := 0
	for _, name := range goldens.Names(ts) {
		if !strings.HasPrefix(name, "gradient.") || !strings.HasSuffix(name, ".mask") {
			continue
		}
		parts := strings.Split(strings.TrimSuffix(name, ".mask"), ".")
		var radius int
		fmt.Sscan(parts[1], &radius)
		mode := map[string]string{"Gaussian": "Gaussian Blur", "Box": "Box Blur", "Staged": "Staged"}[parts[2]]
		var md float64
		fmt.Sscan(strings.Join(parts[3:], "."), &md)
		out := h.run("create_gradient_mask", map[string]any{"mask": map[string]string{"image_name": "mask.png"},
			"edge_radius": radius, "coherence_mode": mode, "minimum_denoise": md})
		dm := decodeField[DenoiseMaskField](t, out, "denoise_mask")
		if !dm.Gradient || dm.MaskedLatentsName != nil {
			t.Fatalf("%s: denoise mask %+v", name, dm)
		}
		m, err := h.store.Tensor(dm.MaskName)
		if err != nil {
			t.Fatal(err)
		}
		want := ts[name]
		if fmt.Sprint(m.Shape) != fmt.Sprint([]int{1, 1, want.Shape[0], want.Shape[1]}) {
			t.Fatalf("%s: mask shape %v, want %v", name, m.Shape, want.Shape)
		}
		for i, v := range want.Ints {
			if m.Data[i] != float32(v)/255 {
				t.Fatalf("%s: mask value %d is %v, want %d/255", name, i, m.Data[i], v)
			}
		}
		area := decodeField[nodes.ImageField](t, out, "expanded_mask_area")
		gotArea := h.ctx.images[area.ImageName].(*image.Gray)
		for i, v := range ts[strings.TrimSuffix(name, ".mask")+".area"].Ints {
			if gotArea.Pix[i] != uint8(v) {
				t.Fatalf("%s: area pixel %d is %d, want %d", name, i, gotArea.Pix[i], v)
			}
		}
		cases++
	}
	if cases != 13 {
		t.Fatalf("%d gradient cases", cases)
	}
	// OpenCV's Gaussian kernel for n = 7, σ = 1.2 (cv2.getGaussianKernel(7, 3/2.5)).
	want := []float64{0.014646255580395368, 0.08312087071417154, 0.2355592534440437, 0.33334724052277886, 0.2355592534440437, 0.08312087071417154, 0.014646255580395368}
	for i, v := range gaussianKernel1D(7, 3/2.5) {
		if math.Abs(v-want[i]) > 1e-16 {
			t.Fatalf("gaussian kernel %d: %v, want %v", i, v, want[i])
		}
	}
	tiny := image.NewGray(image.Rect(0, 0, 7, 30))
	h.ctx.images["tiny.png"] = tiny
	if _, err := h.try("create_gradient_mask", map[string]any{"mask": map[string]string{"image_name": "tiny.png"}}); err == nil {
		t.Fatal("a mask smaller than one latent was accepted")
	}
}
