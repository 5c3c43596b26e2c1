package imageops

import (
	"math"
	"runtime"
	"strings"
	"sync"

	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/nodes"
)

// BlendMode is one of invokeai_img_blend's blend modes.
type BlendMode string

// LiteralValues implements schema.Literal.
func (BlendMode) LiteralValues() []string {
	return []string{"Normal", "Lighten Only", "Darken Only", "Lighten Only (EAL)", "Darken Only (EAL)", "Hue",
		"Saturation", "Color", "Luminosity", "Linear Dodge (Add)", "Subtract", "Multiply", "Divide", "Screen",
		"Overlay", "Linear Burn", "Difference", "Hard Light", "Soft Light", "Vivid Light", "Linear Light",
		"Color Burn", "Color Dodge"}
}

// BlendColorSpace is the colour space invokeai_img_blend computes a blend in.
type BlendColorSpace string

// LiteralValues implements schema.Literal.
func (BlendColorSpace) LiteralValues() []string {
	return []string{"RGB", "Linear RGB", "HSL (RGB)", "HSV (RGB)", "Okhsl", "Okhsv", "Oklch (Oklab)", "LCh (CIELab)"}
}

// InvokeImageBlend is invokeai_img_blend: the upper layer blended onto the base in one of 23 modes, computed
// in one of eight colour spaces, then laid over the base with the upper layer's alpha, an opacity and an
// optional mask. The arithmetic is InvokeAI's, in single precision, pixel by pixel (oklab.go).
type InvokeImageBlend struct {
	saving
	LayerUpper    nodes.ImageField  `json:"layer_upper" ui_order:"1" description:"The image laid on top"`
	BlendMode     BlendMode         `json:"blend_mode" default:"\"Normal\"" ui_order:"2" description:"How the layers' colours combine"`
	Opacity       float64           `json:"opacity" default:"1.0" ge:"0" ui_order:"3" description:"The upper layer's opacity"`
	Mask          *nodes.ImageField `json:"mask" default:"null" ui_order:"4" description:"Where white, the base is kept unblended"`
	FitToWidth    bool              `json:"fit_to_width" default:"false" ui_order:"5" description:"Scale the upper layer to the base's width"`
	FitToHeight   bool              `json:"fit_to_height" default:"true" ui_order:"6" description:"Scale the upper layer to the base's height"`
	LayerBase     nodes.ImageField  `json:"layer_base" ui_order:"7" description:"The image underneath"`
	ColorSpace    BlendColorSpace   `json:"color_space" default:"\"RGB\"" ui_order:"8" description:"The colour space the blend is computed in"`
	AdaptiveGamut float64           `json:"adaptive_gamut" default:"0.0" ge:"0" ui_order:"9" description:"Adaptive gamut clipping (0: off); higher keeps chroma rather than lightness"`
	HighPrecision bool              `json:"high_precision" default:"true" ui_order:"10" description:"Take more steps when computing the gamut's edge"`
}

// NodeInfo implements nodes.Node.
func (*InvokeImageBlend) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "invokeai_img_blend", Title: "Image Layer Blend", Category: "image", Version: "1.2.0",
		Tags:        []string{"image", "blend", "layer", "alpha", "composite", "dodge", "burn"},
		Description: "Blends an upper image onto a base image with a blend mode, in a chosen colour space, with opacity and an optional mask.",
		Output:      nodes.ImageOutput{},
	}
}

// fitLayer scales a layer to the base as InvokeAI's node does: stretched when both fits are asked, padded
// (ImageOps.pad, black) or cropped (ImageOps.fit) to the base's aspect otherwise, left alone when neither.
func fitLayer(p *imaging.Picture, w, h int, fitW, fitH bool) (*imaging.Picture, error) {
	ab := float64(w) / float64(h)
	au := float64(p.W) / float64(p.H)
	switch {
	case fitW && fitH:
		return p.Resize(w, h, imaging.Bicubic)
	case (fitW && ab < au) || (fitH && au <= ab):
		return padPicture(p, w, h)
	case (fitW && au <= ab) || (fitH && ab < au):
		return fitPicture(p, w, h)
	}
	return p, nil
}

// blendSpace names a colour space by the first word of its option, as InvokeAI does.
type blendSpace string

// channel indices of lightness, saturation (chroma) and hue in each space; -1: the space has none.
func (s blendSpace) indices() (l, sat, hue int) {
	switch s {
	case "HSL", "HSV", "Okhsl", "Okhsv":
		return 2, 1, 0
	case "Oklch", "LCh":
		return 0, 1, 2
	}
	return -1, -1, -1
}

// lab65 converts between sRGB and CIELAB as InvokeAI's ImageCms transforms do. Its LAB profile is made for
// 6500 K, but LittleCMS uses a profile's white only for absolute colorimetric rendering, and the node asks
// for the saturation intent: the Lab is relative to the D50 connection space, as Pillow's "LAB" is.
var lab65 = imaging.NewLabConverter(imaging.D50)

// labBytes is an RGB pixel in Pillow's "LAB" mode as the node's getchannel("L") / ("A") / ("B") hands it on:
// L* scaled to 0..255, a* and b* offset by 128.
func labBytes(r, g, b uint8) [3]uint8 {
	l, a, bb := lab65.ToLab(float64(r)/255, float64(g)/255, float64(b)/255)
	return [3]uint8{round8(l * 255 / 100), round8(a + 128), round8(bb + 128)}
}

// rgbFromLabBytes is Image.merge("LAB", bands) converted back to RGB.
func rgbFromLabBytes(lab [3]uint8) [3]uint8 {
	r, g, b := lab65.FromLab(float64(lab[0])*100/255, float64(lab[1])-128, float64(lab[2])-128)
	return [3]uint8{round8(r * 255), round8(g * 255), round8(b * 255)}
}

func round8(v float64) uint8 { return uint8(min(max(math.Floor(v+0.5), 0), 255)) }

// lchOf is the (L, C, h) tensor InvokeAI makes of 8-bit CIELAB: L in [0, 1], a and b scaled to [-1, 1].
func lchOf(lab [3]uint8) [3]f32 {
	a := (f32(lab[1])/255)*2 - 1
	b := (f32(lab[2])/255)*2 - 1
	return [3]f32{f32(lab[0]) / 255, sqrt32(a*a + b*b), atan2_32(b, a)}
}

// ealOf is equivalent_achromatic_lightness over a whole picture's LCh: InvokeAI adds one image-wide sum to
// every pixel and to the range it normalises by, so what remains is L up to float32 rounding (lightness.go).
func ealOf(lch [][3]f32) []f32 {
	k := [4]f32{0.1644, 0.0603, 0.1307, 0.0060}
	const pi = math.Pi
	var adj float64
	for _, p := range lch {
		h := p[2]
		hm := h - f32(pi/2)
		hm = remainder32(hm+f32(3*pi), f32(2*pi)) - f32(pi)
		fby := k[0]*abs32f(sin32(hm/2)) + k[1]
		var fr f32
		if h >= f32(-1*(pi/2)) && h <= f32(pi/2) {
			fr = k[2]*abs32f(cos32(h)) + k[3]
		}
		adj += float64((fby + fr) * p[1])
	}
	a := f32(adj)
	lo, hi := 0+a, 1+a
	out := make([]f32, len(lch))
	for i, p := range lch {
		out[i] = ((p[0] + a) - lo) / (hi - lo)
	}
	return out
}

// Invoke implements nodes.Invocation.
func (n *InvokeImageBlend) Invoke(ctx nodes.Context) (nodes.Output, error) {
	mode := string(n.BlendMode)
	if mode == "" {
		mode = "Normal"
	}
	if !validLiteral(BlendMode("").LiteralValues(), mode) {
		return nil, valueError("unknown blend mode %q", mode)
	}
	cs := string(n.ColorSpace)
	if cs == "" {
		cs = "RGB"
	}
	if !validLiteral(BlendColorSpace("").LiteralValues(), cs) {
		return nil, valueError("unknown colour space %q", cs)
	}
	if n.Opacity < 0 || n.AdaptiveGamut < 0 || math.IsNaN(n.Opacity) || math.IsNaN(n.AdaptiveGamut) {
		return nil, valueError("opacity and adaptive_gamut must be at least 0")
	}
	upper, err := load(ctx, n.LayerUpper)
	if err != nil {
		return nil, err
	}
	base, err := load(ctx, n.LayerBase)
	if err != nil {
		return nil, err
	}
	if err := checkSize(ctx, base.W, base.H); err != nil {
		return nil, err
	}
	// About 30 float32 values a pixel live at once (two layers in two or three spaces, alphas, mask).
	if err := tensor.BudgetOf(ctx).Check("the blend's working planes", 4*32, base.H, base.W); err != nil {
		return nil, err
	}
	if upper, err = fitLayer(upper, base.W, base.H, n.FitToWidth, n.FitToHeight); err != nil {
		return nil, valueError("%v", err)
	}
	if upper.W != base.W || upper.H != base.H {
		return nil, valueError("the upper layer is %dx%d and the base %dx%d: ask for fit_to_width or fit_to_height",
			upper.W, upper.H, base.W, base.H)
	}
	var maskPix []uint8
	if n.Mask != nil && n.Mask.ImageName != "" {
		m, err := load(ctx, *n.Mask)
		if err != nil {
			return nil, err
		}
		if m, err = fitLayer(m, base.W, base.H, n.FitToWidth, n.FitToHeight); err != nil {
			return nil, valueError("%v", err)
		}
		if m.W != base.W || m.H != base.H {
			return nil, valueError("the mask is %dx%d and the base %dx%d", m.W, m.H, base.W, base.H)
		}
		if m, err = convert(m, imaging.ModeL); err != nil {
			return nil, err
		}
		maskPix = m.Pix
	}
	upRGB, upA, err := rgbAndAlpha(upper)
	if err != nil {
		return nil, err
	}
	loRGB, loA, err := rgbAndAlpha(base)
	if err != nil {
		return nil, err
	}
	b := &blender{mode: mode, space: blendSpace(strings.Fields(cs)[0]), gamut: f32(n.AdaptiveGamut), steps: 1}
	if n.HighPrecision {
		b.steps = 3
	}
	if (b.space == "RGB" || b.space == "Linear") && (mode == "Hue" || mode == "Saturation" || mode == "Color" || mode == "Luminosity") {
		b.space = "HSL"
	}
	np := base.W * base.H
	up, lo := make([][3]f32, np), make([][3]f32, np)
	parallelChunks(np, func(s, e int) {
		b.prepare(up[s:e], upRGB[s*3:e*3])
		b.prepare(lo[s:e], loRGB[s*3:e*3])
	})
	var ealUp, ealLo []f32
	if mode == "Lighten Only (EAL)" || mode == "Darken Only (EAL)" {
		lu, ll := make([][3]f32, np), make([][3]f32, np)
		for i := range np {
			lu[i] = lchOf(labBytes(upRGB[i*3], upRGB[i*3+1], upRGB[i*3+2]))
			ll[i] = lchOf(labBytes(loRGB[i*3], loRGB[i*3+1], loRGB[i*3+2]))
		}
		ealUp, ealLo = ealOf(lu), ealOf(ll)
	}
	out := &imaging.Picture{W: base.W, H: base.H, Mode: imaging.ModeRGBA, Pix: make([]uint8, np*4)}
	layers := &blendLayers{up: up, lo: lo, ealUp: ealUp, ealLo: ealLo, upA: upA, loA: loA, mask: maskPix, loRGB: loRGB,
		opacity: f32(n.Opacity)}
	parallelChunks(np, func(s, e int) {
		for i := s; i < e; i++ {
			if i%4096 == 0 && ctx.Err() != nil {
				return
			}
			b.pixel(layers, i, out.Pix[i*4:i*4+4])
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := out

	if base.Mode != imaging.ModeRGBA {
		if res, err = convert(out, base.Mode); err != nil {
			return nil, err
		}
	}
	return n.save(ctx, res, "")
}

// blendLayers is what a blend's pixels are computed from.
type blendLayers struct {
	up, lo       [][3]f32 // the layers in the blend's colour space
	ealUp, ealLo []f32    // EAL modes: the layers' equivalent achromatic lightness
	upA, loA     []f32    // alphas
	mask, loRGB  []uint8  // the mask (or nil) and the base's RGB bytes
	opacity      f32
}

// pixel computes pixel i of the blend into d (RGBA bytes).
func (b *blender) pixel(l *blendLayers, i int, d []uint8) {
	mode := b.mode
	up, lo, ealUp, ealLo, upA, loA, maskPix, loRGB, opacity := l.up, l.lo, l.ealUp, l.ealLo, l.upA, l.loA, l.mask, l.loRGB, l.opacity
	var swap int // EAL modes: 1 takes the base's colour
	if ealUp != nil {
		lighten := mode == "Lighten Only (EAL)"
		if (lighten && ealUp[i] < ealLo[i]) || (!lighten && ealUp[i] >= ealLo[i]) {
			swap = 1
		}
	}
	lin := b.blend(up[i], lo[i], swap)
	top := srgbFromLinearPx(lin, b.gamut, b.steps)
	au := upA[i] * opacity
	if maskPix != nil {
		au *= (f32(maskPix[i])/255)*-1 + 1
	}
	al := loA[i]
	a := au + al*(au*-1+1)
	for c := range 3 {
		v := top[c]
		if isNaN32(v) {
			v = maxFloat32
		}
		lc := f32(loRGB[i*3+c]) / 255
		d[c] = castUint8(((v*au + (lc*al)*(au*-1+1)) / a) * 255)
	}
	d[3] = castUint8(a * 255)
}

func validLiteral(values []string, v string) bool {
	for _, s := range values {
		if s == v {
			return true
		}
	}
	return false
}

// rgbAndAlpha is the picture as InvokeAI's node prepares it: RGB bytes, and the alpha as float32 in [0, 1]
// for an "RGBA" picture (any other mode is converted to "RGB" and counts as opaque).
func rgbAndAlpha(p *imaging.Picture) ([]uint8, []f32, error) {
	n := p.W * p.H
	alpha := make([]f32, n)
	if p.Mode == imaging.ModeRGBA {
		rgb := make([]uint8, n*3)
		for i := range n {
			copy(rgb[i*3:i*3+3], p.Pix[i*4:i*4+3])
			alpha[i] = f32(p.Pix[i*4+3]) / 255
		}
		return rgb, alpha, nil
	}
	q, err := convert(p, imaging.ModeRGB)
	if err != nil {
		return nil, nil, err
	}
	for i := range alpha {
		alpha[i] = 1
	}
	return q.Pix, alpha, nil
}

// blender holds one blend's settings.
type blender struct {
	mode  string
	space blendSpace
	gamut f32
	steps int
}

// prepare converts RGB bytes to the blend's colour space, a pixel at a time, into out.
func (b *blender) prepare(out [][3]f32, rgb []uint8) {
	for i := range out {
		px := rgb[i*3 : i*3+3]
		s := [3]f32{f32(px[0]) / 255, f32(px[1]) / 255, f32(px[2]) / 255}
		switch b.space {
		case "RGB":
			out[i] = s
		case "Linear":
			out[i] = linearOf(px)
		case "HSL":
			out[i] = hslFromSRGB(s)
		case "HSV":
			h, sv, v := imaging.RGBToHSV(px[0], px[1], px[2])
			out[i] = [3]f32{f32(h) / 255, f32(sv) / 255, f32(v) / 255}
		case "Okhsl":
			out[i] = okhslFromLinear(linearOf(px))
		case "Okhsv":
			out[i] = okhsvFromLinear(linearOf(px), b.steps)
		case "Oklch":
			lab := oklabFromLinear(linearOf(px))
			out[i] = [3]f32{lab[0], sqrt32(lab[1]*lab[1] + lab[2]*lab[2]), atan2_32(lab[2], lab[1])}
		case "LCh":
			out[i] = lchOf(labBytes(px[0], px[1], px[2]))
		}
	}
}

// parallelChunks runs fn over [0, n) in contiguous chunks on the available cores (the pixels of a blend or a
// hue rotation are independent of one another).
func parallelChunks(n int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers == 1 || n < 1<<14 {
		fn(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := chunk; lo < n; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, min(lo+chunk, n))
	}
	fn(0, min(chunk, n))
	wg.Wait()
}

// reassemble turns a pixel in the blend's space back into linear sRGB.
func (b *blender) reassemble(t [3]f32) [3]f32 {
	lin := func(s [3]f32) [3]f32 { return [3]f32{linearFromSRGB(s[0]), linearFromSRGB(s[1]), linearFromSRGB(s[2])} }
	switch b.space {
	case "RGB":
		return lin(t)
	case "Linear":
		return t
	case "HSL":
		return lin(srgbFromHSL(t))
	case "HSV":
		r, g, bb := imaging.HSVToRGB(castUint8(clamp01(t[0])*255), castUint8(clamp01(t[1])*255), castUint8(clamp01(t[2])*255))
		return lin([3]f32{f32(r) / 255, f32(g) / 255, f32(bb) / 255})
	case "Okhsl":
		return lin(srgbFromOkhsl(t, b.gamut, b.steps, 1))
	case "Okhsv":
		return lin(srgbFromOkhsv(t, b.gamut, b.steps))
	case "Oklch":
		return linearFromOklab([3]f32{t[0], t[1] * cos32(t[2]), t[1] * sin32(t[2])})
	}
	// LCh: 8-bit LAB (a and b unclamped, wrapped as a byte cast wraps them) back through the colour profile.
	lab := [3]uint8{castUint8(clamp01(t[0]) * 255), castUint8(((t[1]*cos32(t[2]) + 1) / 2) * 255),
		castUint8(((t[1]*sin32(t[2]) + 1) / 2) * 255)}
	rgb := rgbFromLabBytes(lab)
	return lin([3]f32{f32(rgb[0]) / 255, f32(rgb[1]) / 255, f32(rgb[2]) / 255})
}

// clipped is the node's adaptive_clipped: NaN made the largest float, gamut-clipped when asked, clamped.
func (b *blender) clipped(rgb [3]f32) [3]f32 {
	rgb = noNaN(rgb)
	if b.gamut > 0 {
		rgb = noNaN(gamutClip(rgb, b.gamut, b.steps, 1))
	}
	for i := range rgb {
		rgb[i] = clamp01(rgb[i])
	}
	return rgb
}

func noNaN(v [3]f32) [3]f32 {
	for i, x := range v {
		if isNaN32(x) {
			v[i] = maxFloat32
		}
	}
	return v
}

// blend computes one pixel: up and lo in the blend's space, swap (EAL modes) choosing the base's colour.
// It returns linear sRGB.
func (b *blender) blend(up, lo [3]f32, swap int) [3]f32 {
	li, si, hi := b.space.indices()
	// each applies f to every channel, or to the lightness channel alone where the space has one.
	each := func(dst *[3]f32, f func(u, l f32, c int) f32) {
		if li < 0 {
			for c := range 3 {
				dst[c] = f(up[c], lo[c], c)
			}
			return
		}
		dst[li] = f(up[li], lo[li], li)
	}
	all := func(f func(u, l f32) f32) [3]f32 {
		var o [3]f32
		for c := range 3 {
			o[c] = f(up[c], lo[c])
		}
		return o
	}
	wrapHue := func(t [3]f32) [3]f32 {
		if hi >= 0 {
			t[hi] = remainder32(t[hi], 1)
		}
		return t
	}
	switch b.mode {
	case "Normal":
		return b.reassemble(up)
	case "Multiply":
		return b.reassemble(all(func(u, l f32) f32 { return l * u }))
	case "Screen":
		return b.reassemble(all(func(u, l f32) f32 { return ((u*-1+1)*(l*-1+1))*-1 + 1 }))
	case "Overlay", "Hard Light":
		overlay := b.mode == "Overlay"
		t := up
		each(&t, func(u, l f32, _ int) f32 {
			subj := u
			if overlay {
				subj = l
			}
			if subj < 0.5 {
				return (l * u) * 2
			}
			return (((l*-1+1)*(u*-1+1))*2)*-1 + 1
		})
		return b.clipped(b.reassemble(t))
	case "Soft Light":
		t := lo
		each(&t, func(u, l f32, c int) f32 {
			var g f32
			if l <= 0.25 {
				g = ((l*16-12)*l + 4) * l
			} else {
				g = sqrt32(l)
			}
			if u <= 0.5 {
				return l - ((l*-1+1)*l)*((u*2)*-1+1)
			}
			return l + (u*2-1)*(g-l)
		})
		return b.clipped(b.reassemble(t))
	case "Linear Dodge (Add)":
		return b.clipped(b.reassemble(wrapHue(all(func(u, l f32) f32 { return l + u }))))
	case "Color Dodge":
		return b.clipped(b.reassemble(wrapHue(all(func(u, l f32) f32 { return l / (u*-1 + 1) }))))
	case "Divide":
		return b.clipped(b.reassemble(wrapHue(all(func(u, l f32) f32 { return l / u }))))
	case "Subtract":
		return b.clipped(b.reassemble(wrapHue(all(func(u, l f32) f32 { return l - u }))))
	case "Linear Burn":
		t := lo
		each(&t, func(u, l f32, _ int) f32 { return (l + u) - 1 })
		return b.clipped(b.reassemble(t))
	case "Linear Light":
		t := lo
		each(&t, func(u, l f32, _ int) f32 { return (l + u*2) - 1 })
		return b.clipped(b.reassemble(t))
	case "Color Burn":
		return b.clipped(b.reassemble(all(func(u, l f32) f32 {
			q := (l*-1 + 1) / u
			if !(q <= 1) && !isNaN32(q) {
				q = 1
			}
			return q*-1 + 1
		})))
	case "Vivid Light":
		vivid := func(u, l f32) f32 {
			if u < 0.5 {
				return (((l*-1+1)/u)*-1 + 1) / 2
			}
			return (l / (u*-1 + 1)) / 2
		}
		if li < 0 {
			// InvokeAI reassembles and clips twice here.
			return b.clipped(b.reassemble(b.clipped(b.reassemble(all(vivid)))))
		}
		t := lo
		t[li] = vivid(up[li], lo[li])
		return b.clipped(b.reassemble(t))
	case "Difference":
		return b.clipped(b.reassemble(all(func(u, l f32) f32 { return abs32f(l - u) })))
	case "Darken Only", "Lighten Only":
		darken := b.mode == "Darken Only"
		if li < 0 {
			return b.reassemble(all(func(u, l f32) f32 {
				if darken {
					return min32(u, l)
				}
				return max32(u, l)
			}))
		}
		if (darken && up[li] >= lo[li]) || (!darken && up[li] < lo[li]) {
			return b.reassemble(lo)
		}
		return b.reassemble(up)
	case "Hue", "Saturation", "Color", "Luminosity":
		t := up
		switch b.mode {
		case "Hue":
			t[li], t[si] = lo[li], lo[si]
		case "Saturation":
			t[li], t[hi] = lo[li], lo[hi]
		case "Color":
			t[li] = lo[li]
		case "Luminosity":
			t[si], t[hi] = lo[si], lo[hi]
		}
		return b.reassemble(t)
	case "Lighten Only (EAL)", "Darken Only (EAL)":
		if swap == 1 {
			return b.reassemble(lo)
		}
		return b.reassemble(up)
	}
	return b.reassemble(up)
}

// min32 and max32 are torch.minimum / torch.maximum: NaN wins.
func min32(a, b f32) f32 {
	if isNaN32(a) || isNaN32(b) {
		return f32(math.NaN())
	}
	return min(a, b)
}

func max32(a, b f32) f32 {
	if isNaN32(a) || isNaN32(b) {
		return f32(math.NaN())
	}
	return max(a, b)
}
