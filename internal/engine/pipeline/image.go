package pipeline

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"

	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// DecodeLatents is InvokeAI's l2i: vae.decode(latents / scaling_factor),
// then (x/2 + 0.5) clamped to [0, 1]. The result is [N, 3, H, W] in [0, 1].
// opts are the decoder's per-run options (seamless tiling).
func DecodeLatents(ctx context.Context, vae *sd.VAE, latents *tensor.Tensor, opts sd.VAEOptions) (*tensor.Tensor, error) {
	if vae == nil {
		return nil, errors.New("decode: no vae")
	}
	scale := vae.Config.ScalingFactor
	if scale == 0 {
		return nil, errors.New("decode: the vae has no scaling factor")
	}
	if len(latents.Shape) == 4 {
		if err := checkVAE(ctx, vae, "the decoder's activations", latents.Shape[0], 8*latents.Shape[2], 8*latents.Shape[3]); err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		defer tensor.LimitHeap(vaeHeap(vae, latents.Shape[0], 8*latents.Shape[2], 8*latents.Shape[3]))()
	}
	scaled := tensor.New(latents.Shape...)
	for i, v := range latents.Data {
		scaled.Data[i] = v / scale
	}
	decoded, err := vae.DecodeWith(ctx, scaled, opts)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	for i, v := range decoded.Data {
		x := v/2 + 0.5
		decoded.Data[i] = min(max(x, 0), 1)
	}
	tensor.TrimPooled() // the decoder's 512²-sized buffers, as after Denoise
	return decoded, nil
}

// ToImage converts the first image of [N, 3, H, W] values in [0, 1] to
// 8-bit RGB as diffusers' numpy_to_pil does: round(x·255) in float32,
// halves to even.
func ToImage(img *tensor.Tensor) (*image.NRGBA, error) {
	if len(img.Shape) != 4 || img.Shape[1] != 3 {
		return nil, fmt.Errorf("to image: shape %v, want [N, 3, H, W]", img.Shape)
	}
	h, w := img.Shape[2], img.Shape[3]
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	plane := h * w
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			o := out.PixOffset(x, y)
			for c := 0; c < 3; c++ {
				v := float32(img.Data[c*plane+y*w+x] * 255)
				out.Pix[o+c] = uint8(min(max(math.RoundToEven(float64(v)), 0), 255))
			}
			out.Pix[o+3] = 255
		}
	}
	return out, nil
}

// FromImage converts an image to [1, 3, H, W] in [-1, 1] like torchvision's
// ToTensor (x/255) followed by InvokeAI's ·2 − 1. Alpha is ignored (the
// caller flattens as PIL's convert("RGB") does: by dropping it).
func FromImage(img image.Image) *tensor.Tensor {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := tensor.New(1, 3, h, w)
	plane := h * w
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, bl := rgb8(img, b.Min.X+x, b.Min.Y+y)
			for c, v := range [3]uint8{r, g, bl} {
				f := float32(v) / 255
				out.Data[c*plane+y*w+x] = f*2 - 1
			}
		}
	}
	return out
}

// MaskFromImage converts a grayscale mask to [1, 1, H, W] in [0, 1]
// (ToTensor without normalisation).
func MaskFromImage(img image.Image) *tensor.Tensor {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := tensor.New(1, 1, h, w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, bl := rgb8(img, b.Min.X+x, b.Min.Y+y)
			// PIL's convert("L"): L = R·299/1000 + G·587/1000 + B·114/1000, rounded.
			l := (int(r)*19595 + int(g)*38470 + int(bl)*7471 + 0x8000) >> 16
			out.Data[y*w+x] = float32(l) / 255
		}
	}
	return out
}

// rgb8 reads a pixel's 8-bit colour without alpha premultiplication.
func rgb8(img image.Image, x, y int) (uint8, uint8, uint8) {
	switch m := img.(type) {
	case *image.NRGBA:
		o := m.PixOffset(x, y)
		return m.Pix[o], m.Pix[o+1], m.Pix[o+2]
	case *image.RGBA:
		o := m.PixOffset(x, y)
		return m.Pix[o], m.Pix[o+1], m.Pix[o+2]
	case *image.Gray:
		v := m.Pix[m.PixOffset(x, y)]
		return v, v, v
	}
	r, g, b, a := img.At(x, y).RGBA()
	if a == 0 {
		return 0, 0, 0
	}
	// Undo premultiplication so transparent areas keep their colour.
	return uint8(r * 0xffff / a >> 8), uint8(g * 0xffff / a >> 8), uint8(b * 0xffff / a >> 8)
}

// EncodeImage is InvokeAI's i2l for an AutoencoderKL: the encoder's
// distribution is sampled (mean + std·randn, with a generator seeded with
// seed so the result is reproducible, where InvokeAI uses torch's global
// random state) and multiplied by the scaling factor. image is [1, 3, H, W]
// in [-1, 1] with H and W multiples of 8.
func EncodeImage(ctx context.Context, vae *sd.VAE, img *tensor.Tensor, seed uint64) (*tensor.Tensor, error) {
	if vae == nil {
		return nil, errors.New("encode: no vae")
	}
	if len(img.Shape) == 4 {
		if err := checkVAE(ctx, vae, "the encoder's activations", img.Shape[0], img.Shape[2], img.Shape[3]); err != nil {
			return nil, fmt.Errorf("encode: %w", err)
		}
		defer tensor.LimitHeap(vaeHeap(vae, img.Shape[0], img.Shape[2], img.Shape[3]))()
	}
	mean, logvar, err := vae.Encode(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	tensor.TrimPooled() // as after a decode
	eps := tensor.FromData(noise.Randn(seed, noise.Float32, mean.Shape...), mean.Shape...)
	sample, err := sd.SampleLatent(mean, logvar, eps)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	for i, v := range sample.Data {
		sample.Data[i] = vae.Config.ScalingFactor * v
	}
	return sample, nil
}

// Resize resamples an NCHW tensor to h×w like torch.nn.functional.interpolate
// (align_corners=False, antialias=False) in the modes InvokeAI's lresize and
// lscale offer: nearest, nearest-exact, bilinear, bicubic and area.
func Resize(x *tensor.Tensor, h, w int, mode string) (*tensor.Tensor, error) {
	if len(x.Shape) != 4 {
		return nil, fmt.Errorf("resize: shape %v, want NCHW", x.Shape)
	}
	if h < 1 || w < 1 {
		return nil, fmt.Errorf("resize: target %d×%d", h, w)
	}
	n, c, ih, iw := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	out := tensor.New(n, c, h, w)
	var rows, cols func(o int) []tap
	switch mode {
	case "nearest":
		rows, cols = nearestTaps(ih, h, false), nearestTaps(iw, w, false)
	case "nearest-exact":
		rows, cols = nearestTaps(ih, h, true), nearestTaps(iw, w, true)
	case "bilinear", "linear":
		rows, cols = linearTaps(ih, h), linearTaps(iw, w)
	case "bicubic":
		rows, cols = cubicTaps(ih, h), cubicTaps(iw, w)
	case "area":
		rows, cols = areaTaps(ih, h), areaTaps(iw, w)
	default:
		return nil, fmt.Errorf("resize: unsupported mode %q", mode)
	}
	rowTaps := make([][]tap, h)
	for o := range rowTaps {
		rowTaps[o] = rows(o)
	}
	colTaps := make([][]tap, w)
	for o := range colTaps {
		colTaps[o] = cols(o)
	}
	for p := 0; p < n*c; p++ {
		src := x.Data[p*ih*iw : (p+1)*ih*iw]
		dst := out.Data[p*h*w : (p+1)*h*w]
		for oy, rt := range rowTaps {
			for ox, ct := range colTaps {
				var acc float32
				for _, r := range rt {
					var rowAcc float32
					for _, cc := range ct {
						rowAcc += cc.weight * src[r.index*iw+cc.index]
					}
					acc += r.weight * rowAcc
				}
				dst[oy*w+ox] = acc
			}
		}
	}
	return out, nil
}

// tap is one source sample and its weight.
type tap struct {
	index  int
	weight float32
}

// nearestTaps is torch's nearest source index: floor(o·scale) (or (o+0.5)·scale for nearest-exact) in single
// precision with scale = in/out, as its CPU kernels compute it; an equal size or legacy doubling maps exactly.
func nearestTaps(in, out int, exact bool) func(int) []tap {
	scale := float32(in) / float32(out)
	return func(o int) []tap {
		var src int
		switch {
		case exact:
			src = int(math.Floor(float64(float32(float32(o)+0.5) * scale)))
		case in == out:
			src = o
		case out == 2*in:
			src = o >> 1
		default:
			src = int(math.Floor(float64(float32(o) * scale)))
		}
		return []tap{{min(src, in-1), 1}}
	}
}

func linearTaps(in, out int) func(int) []tap {
	scale := float32(in) / float32(out)
	return func(o int) []tap {
		src := max((float32(o)+0.5)*scale-0.5, 0)
		i0 := int(src)
		i1 := min(i0+1, in-1)
		l1 := src - float32(i0)
		return []tap{{i0, 1 - l1}, {i1, l1}}
	}
}

func cubicTaps(in, out int) func(int) []tap {
	scale := float32(in) / float32(out)
	const a = -0.75
	cubic1 := func(x float32) float32 { return ((a+2)*x-(a+3))*x*x + 1 }
	cubic2 := func(x float32) float32 { return ((a*x-5*a)*x+8*a)*x - 4*a }
	return func(o int) []tap {
		src := (float32(o)+0.5)*scale - 0.5
		i := int(math.Floor(float64(src)))
		t := src - float32(i)
		ws := [4]float32{cubic2(t + 1), cubic1(t), cubic1(1 - t), cubic2(2 - t)}
		taps := make([]tap, 4)
		for k := range taps {
			taps[k] = tap{min(max(i-1+k, 0), in-1), ws[k]}
		}
		return taps
	}
}

func areaTaps(in, out int) func(int) []tap {
	return func(o int) []tap {
		start := o * in / out
		end := ((o+1)*in + out - 1) / out
		taps := make([]tap, 0, end-start)
		for i := start; i < end; i++ {
			taps = append(taps, tap{i, 1 / float32(end-start)})
		}
		return taps
	}
}
