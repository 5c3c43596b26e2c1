package imaging

import "fmt"

// Pillow's compositing of 8-bit images, with its integer rounding: Image.paste with an "L" mask,
// Image.alpha_composite, and the RGB→L conversion.

// div255 is Pillow's DIV255: a/255 rounded, for a up to 255·255.
func div255(a uint32) uint8 {
	t := a + 128
	return uint8((t>>8 + t) >> 8)
}

// PasteMaskL is dst.paste(src, (0, 0), mask) for images of the same size and channel count with an "L" mask:
// every channel becomes (dst·(255−m) + src·m)/255, rounded as Pillow rounds. dst is changed in place.
func PasteMaskL(dst, src, mask []uint8, ch int) error {
	if ch < 1 || len(dst) != len(src) || len(dst) != len(mask)*ch {
		return fmt.Errorf("imaging: paste: %d, %d and mask %d bytes with %d channels", len(dst), len(src), len(mask), ch)
	}
	for i, m := range mask {
		a := uint32(m)
		for c := 0; c < ch; c++ {
			p := i*ch + c
			dst[p] = div255(uint32(dst[p])*(255-a) + uint32(src[p])*a)
		}
	}
	return nil
}

// AlphaComposite is Image.alpha_composite(dst, src) for RGBA images of the same size: src over dst, with
// Pillow's 7-bit-extended integer arithmetic. The result is a new slice.
func AlphaComposite(dst, src []uint8) ([]uint8, error) {
	if len(dst) != len(src) || len(dst)%4 != 0 {
		return nil, fmt.Errorf("imaging: alpha composite: %d and %d bytes", len(dst), len(src))
	}
	const precision = 7
	shift := func(a uint32) uint32 { return (a>>8 + a) >> 8 }
	out := make([]uint8, len(dst))
	for i := 0; i < len(dst); i += 4 {
		sa, da := uint32(src[i+3]), uint32(dst[i+3])
		if sa == 0 {
			copy(out[i:i+4], dst[i:i+4])
			continue
		}
		blend := da * (255 - sa)
		outa255 := sa*255 + blend
		coef1 := sa * 255 * 255 * (1 << precision) / outa255
		coef2 := 255*(1<<precision) - coef1
		for c := 0; c < 3; c++ {
			t := uint32(src[i+c])*coef1 + uint32(dst[i+c])*coef2
			out[i+c] = uint8(shift(t+(0x80<<precision)) >> precision)
		}
		out[i+3] = uint8(shift(outa255 + 0x80))
	}
	return out, nil
}

// Luma is Pillow's conversion of one RGB pixel to "L" (ITU-R 601-2 weights in 16-bit fixed point).
func Luma(r, g, b uint8) uint8 {
	return uint8((uint32(r)*19595 + uint32(g)*38470 + uint32(b)*7471 + 0x8000) >> 16)
}
