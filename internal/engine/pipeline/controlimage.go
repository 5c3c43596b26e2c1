package pipeline

import (
	"fmt"
	"image"
	"math"
	"sort"

	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// Control-image resize modes (InvokeAI's CONTROLNET_RESIZE_VALUES).
const (
	ResizeJustSimple = "just_resize_simple"
	ResizeJust       = "just_resize"
	ResizeCrop       = "crop_resize"
	ResizeFill       = "fill_resize"
)

// maxControlSide bounds the control images this accepts and produces.
const maxControlSide = 1 << 13

// PrepareControlImage is InvokeAI's prepare_control_image: the image brought to width×height by the resize
// mode, as [1, channels, height, width] with values x/255, keeping the first channels of RGB (a one-channel
// T2I-Adapter gets the red channel, as in InvokeAI).
//
//   - just_resize_simple: Pillow's Lanczos resize of the RGB image (alpha dropped).
//   - just_resize: the image stretched to the size.
//   - crop_resize: scaled to cover the size, then center-cropped.
//   - fill_resize: scaled to fit inside, centered on a background of the median border colour.
//
// The last three composite transparency over white first, and resample as InvokeAI's heuristic does: nearest
// neighbour for images of few colours (segmentation maps), a thresholded resize for black-and-white ones
// (edge maps), area averaging to shrink and cubic interpolation to enlarge. Where the image already has the
// size no resampling happens, which is the common case (a processed image of the generation's size). The
// nearest and cubic resizes are OpenCV's exactly; area averaging is Pillow's box filter, and InvokeAI's
// edge-thinning of resized one-pixel edge maps is replaced by a threshold (docs/compatibility.md).
func PrepareControlImage(img image.Image, width, height int, mode string, channels int) (*tensor.Tensor, error) {
	if width < 1 || height < 1 || width > maxControlSide || height > maxControlSide {
		return nil, fmt.Errorf("control image: target size %dx%d", width, height)
	}
	if channels < 1 || channels > 3 {
		return nil, fmt.Errorf("control image: cannot make %d channels", channels)
	}
	b := img.Bounds()
	if b.Dx() < 1 || b.Dy() < 1 || b.Dx() > maxControlSide || b.Dy() > maxControlSide {
		return nil, fmt.Errorf("control image: a %dx%d image", b.Dx(), b.Dy())
	}
	var pix []uint8
	var err error
	switch mode {
	case ResizeJustSimple, "":
		var w, h int
		pix, w, h = imaging.RGB8(img)
		if w != width || h != height {
			if pix, err = imaging.Resize(pix, w, h, 3, width, height, imaging.Lanczos); err != nil {
				return nil, err
			}
		}
	case ResizeJust, ResizeCrop, ResizeFill:
		if pix, err = lvminResize(img, width, height, mode); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("control image: unsupported resize mode %q", mode)
	}
	full := imaging.ToTensor(pix, width, height, 3)
	if channels == 3 {
		return full, nil
	}
	return tensor.FromData(full.Data[:channels*width*height], 1, channels, height, width), nil
}

// whiteComposite returns RGB pixels with transparency composited over white, as InvokeAI's
// normalize_image_channel_count does (then truncated to 8 bits).
func whiteComposite(img image.Image) ([]uint8, int, int) {
	rgba, w, h := imaging.NRGBA8(img)
	pix := make([]uint8, w*h*3)
	for i := 0; i < w*h; i++ {
		a := float32(rgba[i*4+3]) / 255
		for k := 0; k < 3; k++ {
			v := float32(float32(rgba[i*4+k])*a) + float32(255*(1-a))
			pix[i*3+k] = uint8(min(max(v, 0), 255))
		}
	}
	return pix, w, h
}

// lvminResize is InvokeAI's np_img_resize for the three "lvmin" modes.
func lvminResize(img image.Image, width, height int, mode string) ([]uint8, error) {
	pix, w, h := whiteComposite(img)
	if mode == ResizeJust {
		return heuristicResize(pix, w, h, width, height)
	}
	k0, k1 := float64(height)/float64(h), float64(width)/float64(w)
	round := func(x float64) int { return int(math.RoundToEven(x)) }
	if mode == ResizeFill {
		k := min(k0, k1)
		border := medianBorder(pix, w, h)
		nw, nh := max(round(float64(w)*k), 1), max(round(float64(h)*k), 1)
		scaled, err := heuristicResize(pix, w, h, nw, nh)
		if err != nil {
			return nil, err
		}
		out := make([]uint8, width*height*3)
		for i := 0; i < width*height; i++ {
			copy(out[i*3:i*3+3], border[:])
		}
		padH, padW := max(0, (height-nh)/2), max(0, (width-nw)/2)
		for y := 0; y < nh && padH+y < height; y++ {
			for x := 0; x < nw && padW+x < width; x++ {
				copy(out[((padH+y)*width+padW+x)*3:][:3], scaled[(y*nw+x)*3:])
			}
		}
		return out, nil
	}
	k := max(k0, k1)
	nw, nh := max(round(float64(w)*k), width), max(round(float64(h)*k), height)
	scaled, err := heuristicResize(pix, w, h, nw, nh)
	if err != nil {
		return nil, err
	}
	padH, padW := (nh-height)/2, (nw-width)/2
	out := make([]uint8, width*height*3)
	for y := 0; y < height; y++ {
		copy(out[y*width*3:(y+1)*width*3], scaled[((padH+y)*nw+padW)*3:])
	}
	return out, nil
}

// medianBorder is the per-channel median of the image's four edges (numpy's median: the mean of the two
// middle values for an even count, truncated to 8 bits).
func medianBorder(pix []uint8, w, h int) [3]uint8 {
	var out [3]uint8
	for c := 0; c < 3; c++ {
		var vals []int
		for x := 0; x < w; x++ {
			vals = append(vals, int(pix[x*3+c]), int(pix[((h-1)*w+x)*3+c]))
		}
		for y := 0; y < h; y++ {
			vals = append(vals, int(pix[(y*w)*3+c]), int(pix[(y*w+w-1)*3+c]))
		}
		sort.Ints(vals)
		n := len(vals)
		if n%2 == 1 {
			out[c] = uint8(vals[n/2])
		} else {
			out[c] = uint8((vals[n/2-1] + vals[n/2]) / 2)
		}
	}
	return out
}

// heuristicResize picks the resampling by what the image looks like (see PrepareControlImage).
func heuristicResize(pix []uint8, w, h, nw, nh int) ([]uint8, error) {
	if w == nw && h == nh {
		return pix, nil
	}
	colors := map[[3]uint8]struct{}{}
	lo, hi := uint8(255), uint8(0)
	for i := 0; i < w*h && len(colors) < 256; i++ {
		colors[[3]uint8{pix[i*3], pix[i*3+1], pix[i*3+2]}] = struct{}{}
	}
	for _, v := range pix {
		lo, hi = min(lo, v), max(hi, v)
	}
	switch n := len(colors); {
	case n == 2 && lo < 16 && hi > 240:
		// Black and white: resample smoothly, then threshold back to two levels.
		out, err := imaging.Resize(pix, w, h, 3, nw, nh, imaging.Bilinear)
		if err != nil {
			return nil, err
		}
		for i := 0; i < len(out); i += 3 {
			v := uint8(0)
			if (int(out[i])+int(out[i+1])+int(out[i+2]))/3 > 127 {
				v = 255
			}
			out[i], out[i+1], out[i+2] = v, v, v
		}
		return out, nil
	case n > 2 && n < 200:
		return imaging.ResizeNearestCV(pix, w, h, 3, nw, nh), nil
	case nw*nh < w*h:
		return imaging.Resize(pix, w, h, 3, nw, nh, imaging.Box) // Pillow's box filter stands in for INTER_AREA
	}
	return imaging.ResizeCubicCV(pix, w, h, 3, nw, nh)
}
