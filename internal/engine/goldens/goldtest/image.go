package goldtest

import (
	"image"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
)

// Image makes the Go image that a PNG of the golden array's mode decodes to: H×W "L" is Gray, H×W×3 "RGB"
// opaque RGBA, H×W×4 "RGBA" NRGBA (the layout the Pillow/OpenCV goldens under testdata/nodes store).
func Image(g goldens.Tensor) image.Image {
	h, w := g.Shape[0], g.Shape[1]
	r := image.Rect(0, 0, w, h)
	px := func(i int) uint8 { return uint8(g.Ints[i]) }
	switch {
	case len(g.Shape) == 2:
		img := image.NewGray(r)
		for i := range img.Pix {
			img.Pix[i] = px(i)
		}
		return img
	case g.Shape[2] == 3:
		img := image.NewRGBA(r)
		for i := 0; i < w*h; i++ {
			img.Pix[i*4], img.Pix[i*4+1], img.Pix[i*4+2], img.Pix[i*4+3] = px(i*3), px(i*3+1), px(i*3+2), 255
		}
		return img
	}
	img := image.NewNRGBA(r)
	for i := range img.Pix {
		img.Pix[i] = px(i)
	}
	return img
}

// Pixels reads an output image in the layout of a golden array (1, 3 or 4 bytes a pixel), failing the test
// when the image's mode does not match.
func Pixels(t testing.TB, img image.Image, ch int) []uint8 {
	t.Helper()
	b := img.Bounds()
	out := make([]uint8, 0, b.Dx()*b.Dy()*ch)
	switch m := img.(type) {
	case *image.Gray:
		if ch != 1 {
			t.Fatalf("a grey image where %d channels are expected", ch)
		}
		return append(out, m.Pix...)
	case *image.RGBA:
		if ch == 4 {
			t.Fatal("an RGB image where RGBA is expected")
		}
		for i := 0; i < b.Dx()*b.Dy(); i++ {
			out = append(out, m.Pix[i*4:i*4+ch]...)
		}
		return out
	case *image.NRGBA:
		if ch != 4 {
			t.Fatalf("an RGBA image where %d channels are expected", ch)
		}
		return append(out, m.Pix...)
	}
	t.Fatalf("unexpected image type %T", img)
	return nil
}
