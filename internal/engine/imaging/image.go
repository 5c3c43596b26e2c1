package imaging

import (
	"fmt"
	"image"
	"image/color"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// NRGBA8 returns the image's pixels as interleaved 8-bit R, G, B, A without alpha premultiplication.
func NRGBA8(img image.Image) (pix []uint8, w, h int) {
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	switch m := img.(type) {
	case *image.NRGBA:
		pix = make([]uint8, w*h*4)
		for y := 0; y < h; y++ {
			o := m.PixOffset(b.Min.X, b.Min.Y+y)
			copy(pix[y*w*4:(y+1)*w*4], m.Pix[o:o+w*4])
		}
		return pix, w, h
	case *image.Gray:
		pix = make([]uint8, w*h*4)
		for y := 0; y < h; y++ {
			o := m.PixOffset(b.Min.X, b.Min.Y+y)
			for x, v := range m.Pix[o : o+w] {
				pix[(y*w+x)*4], pix[(y*w+x)*4+1], pix[(y*w+x)*4+2], pix[(y*w+x)*4+3] = v, v, v, 255
			}
		}
		return pix, w, h
	}
	pix = make([]uint8, w*h*4)
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			pix[i], pix[i+1], pix[i+2], pix[i+3] = c.R, c.G, c.B, c.A
			i += 4
		}
	}
	return pix, w, h
}

// RGB8 returns the image's pixels as interleaved 8-bit R, G, B, as Pillow's convert("RGB") gives them: alpha
// is dropped, not composited, and grey levels are repeated.
func RGB8(img image.Image) (pix []uint8, w, h int) {
	rgba, w, h := NRGBA8(img)
	pix = make([]uint8, w*h*3)
	for i := 0; i < w*h; i++ {
		copy(pix[i*3:i*3+3], rgba[i*4:i*4+3])
	}
	return pix, w, h
}

// ToTensor converts interleaved 8-bit pixels to [1, ch, h, w] with values x/255 in float32, as
// torch.from_numpy(np.array(image)).float() / 255 does.
func ToTensor(pix []uint8, w, h, ch int) *tensor.Tensor {
	out := tensor.New(1, ch, h, w)
	plane := w * h
	for p := 0; p < plane; p++ {
		for c := 0; c < ch; c++ {
			out.Data[c*plane+p] = float32(pix[p*ch+c]) / 255
		}
	}
	return out
}

// CLIP's image normalisation (OpenAI's mean and standard deviation per channel).
var (
	CLIPMean = [3]float32{0.48145466, 0.4578275, 0.40821073}
	CLIPStd  = [3]float32{0.26862954, 0.26130258, 0.27577711}
)

// maxSourceSide bounds what CLIPPixels resizes from; larger images are refused rather than resampled.
const maxSourceSide = 1 << 14

// CLIPPixels is transformers' CLIPImageProcessor with its defaults for an image encoder of the given input
// size: convert to RGB, resize the shortest edge to size with Pillow's bicubic filter (the other edge to
// int(size·long/short)), center-crop size×size, rescale by 1/255 (in float64, then float32) and normalise
// with CLIP's mean and deviation. The result is [1, 3, size, size].
func CLIPPixels(img image.Image, size int) (*tensor.Tensor, error) {
	pix, w, h := RGB8(img)
	if w < 1 || h < 1 || w > maxSourceSide || h > maxSourceSide || size < 1 || size > maxSourceSide {
		return nil, fmt.Errorf("clip preprocessing: a %dx%d image to %d", w, h, size)
	}
	nw, nh := size, size
	if w <= h {
		nh = int(float64(size) * float64(h) / float64(w))
	} else {
		nw = int(float64(size) * float64(w) / float64(h))
	}
	if nw != w || nh != h {
		var err error
		if pix, err = Resize(pix, w, h, 3, nw, nh, Bicubic); err != nil {
			return nil, err
		}
		w, h = nw, nh
	}
	top, left := (h-size)/2, (w-size)/2
	out := tensor.New(1, 3, size, size)
	plane := size * size
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			sy, sx := y+top, x+left
			for c := 0; c < 3; c++ {
				var v uint8
				if sy >= 0 && sy < h && sx >= 0 && sx < w { // pads with zeros where the image is smaller
					v = pix[(sy*w+sx)*3+c]
				}
				scaled := float32(float64(v) * (1.0 / 255.0))
				out.Data[c*plane+y*size+x] = (scaled - CLIPMean[c]) / CLIPStd[c]
			}
		}
	}
	return out, nil
}
