package imageops

import (
	"math"

	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/nodes"
)

// InvokeEquivalentAchromaticLightness is invokeai_ealightness: InvokeAI's "equivalent achromatic lightness"
// of an image as a grey image.
//
// InvokeAI's node computes a chroma- and hue-dependent adjustment of CIELAB's L*, but sums it over the whole
// image (a tensordot over both axes) into a single number that it adds to every pixel and to the range it
// then normalises by, so the adjustment cancels up to single-precision rounding: the result is L* itself
// within a unit or so. The same arithmetic runs here in single precision; the sum and the trigonometry are
// rounded differently from PyTorch's vectorised code, and LAB comes from invokego's direct conversion
// (docs/compatibility.md).
type InvokeEquivalentAchromaticLightness struct {
	saving
	Image nodes.ImageField `json:"image" description:"The image whose lightness to compute"`
}

// NodeInfo implements nodes.Node.
func (*InvokeEquivalentAchromaticLightness) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "invokeai_ealightness", Title: "Equivalent Achromatic Lightness", Category: "image", Version: "1.2.0",
		Tags:        []string{"image", "channel", "mask", "cielab", "lab"},
		Description: "The equivalent achromatic lightness of an image (CIELAB L* adjusted by chroma and hue), as a grey image.",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *InvokeEquivalentAchromaticLightness) Invoke(ctx nodes.Context) (nodes.Output, error) {
	p, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	if p.Mode == imaging.ModeL {
		if p, err = convert(p, imaging.ModeRGB); err != nil {
			return nil, err
		}
	}
	lab, err := convert(p, imaging.ModeLAB)
	if err != nil {
		return nil, err
	}
	k := [4]float32{0.1644, 0.0603, 0.1307, 0.0060}
	const pi = math.Pi
	f32 := func(v float64) float32 { return float32(v) }
	n3 := lab.W * lab.H
	l := make([]float32, n3)
	var adj float64 // PyTorch sums in single precision in its own order; a double sum rounds once
	for i := 0; i < n3; i++ {
		l[i] = float32(lab.Pix[i*3]) / 255
		a := float32(float32(lab.Pix[i*3+1])/255)*2 - 1
		b := float32(float32(lab.Pix[i*3+2])/255)*2 - 1
		c := f32(math.Sqrt(float64(float32(a*a) + float32(b*b))))
		h := f32(math.Atan2(float64(b), float64(a)))
		hm := h - f32(pi/2)
		hm = f32(math.Mod(float64(hm+f32(3*pi)), float64(f32(2*pi))))
		if hm < 0 {
			hm += f32(2 * pi)
		}
		hm -= f32(pi)
		fby := k[0]*f32(math.Abs(math.Sin(float64(hm/2)))) + k[1]
		var fr float32
		if h >= f32(-1*(pi/2)) && h <= f32(pi/2) {
			fr = k[2]*f32(math.Abs(math.Cos(float64(h)))) + k[3]
		}
		adj += float64((fby + fr) * c)
	}
	a32 := float32(adj)
	lo, hi := 0+a32, 1+a32
	out := &imaging.Picture{W: lab.W, H: lab.H, Mode: imaging.ModeL, Pix: make([]uint8, n3)}
	for i, v := range l {
		t := ((v + a32) - lo) / (hi - lo)
		out.Pix[i] = castUint8(t * 255)
	}
	return n.save(ctx, out, "")
}
