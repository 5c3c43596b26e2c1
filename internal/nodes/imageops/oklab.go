package imageops

import "math"

// Single-precision colour conversions of InvokeAI's composition nodes (invokeai_img_blend and
// invokeai_img_hue_adjust_plus): sRGB transfer, HSL, Oklab and Björn Ottosson's Okhsv / Okhsl with their
// sRGB gamut geometry (cusp, gamut intersection by Halley steps, adaptive gamut clipping). InvokeAI computes
// these on float32 tensors; here each pixel is computed alone with the same operations in the same order
// and float32 rounding after each, so results agree with it to within rounding of transcendental functions
// and of the order of sums (docs/compatibility.md).

type f32 = float32

// maxFloat32 is torch.finfo(float32).max, InvokeAI's stand-in for NaN and "no limit".
const maxFloat32 = f32(math.MaxFloat32)

// pow32 is torch.pow(x, e) on a float32 tensor: squares and cubes are products, anything else powf.
func pow32(x, e f32) f32 {
	switch e {
	case 2:
		return x * x
	case 3:
		return x * x * x
	case 0.5:
		return sqrt32(x)
	}
	return f32(math.Pow(float64(x), float64(e)))
}

func sqrt32(x f32) f32      { return f32(math.Sqrt(float64(x))) }
func sin32(x f32) f32       { return f32(math.Sin(float64(x))) }
func cos32(x f32) f32       { return f32(math.Cos(float64(x))) }
func atan2_32(y, x f32) f32 { return f32(math.Atan2(float64(y), float64(x))) }
func isNaN32(x f32) bool    { return x != x }
func clamp01(x f32) f32     { return clampf(x, 0, 1) }
func clampf(x, lo, hi f32) f32 {
	// torch.clamp keeps NaN.
	if x < lo {
		return lo
	}
	if x > hi {
		return hi
	}
	return x
}

// remainder32 is torch.remainder: the result has the sign of the divisor.
func remainder32(a, b f32) f32 {
	r := f32(math.Mod(float64(a), float64(b)))
	if r != 0 && (r < 0) != (b < 0) {
		r += b
	}
	return r
}

// The threshold between sRGB's linear segment and its power curve, as InvokeAI writes it.
const srgbKnee = 0.0404482362771082

func linearFromSRGB(v f32) f32 {
	if v <= f32(srgbKnee) {
		return v / 12.92
	}
	return pow32((v+0.055)/1.055, 2.4)
}

// linearOfByte is linearFromSRGB of each byte value's f32(v)/255, the nodes' input.
var linearOfByte = func() (t [256]f32) {
	for v := range t {
		t[v] = linearFromSRGB(f32(v) / 255)
	}
	return t
}()

// linearOf is a pixel's RGB bytes in linear sRGB.
func linearOf(px []uint8) [3]f32 {
	return [3]f32{linearOfByte[px[0]], linearOfByte[px[1]], linearOfByte[px[2]]}
}

// srgbFromLinearPx is srgb_from_linear_srgb for one pixel: gamut-clipped first when alpha > 0.
func srgbFromLinearPx(rgb [3]f32, alpha f32, steps int) [3]f32 {
	if alpha > 0 {
		rgb = gamutClip(rgb, alpha, steps, 1)
	}
	for i, v := range rgb {
		v = clamp01(v)
		if v < f32(srgbKnee/12.92) {
			rgb[i] = v * 12.92
		} else {
			rgb[i] = pow32(v, f32(1/2.4))*1.055 - 0.055
		}
	}
	return rgb
}

var (
	okM1 = [3][3]f32{{0.4122214708, 0.5363325363, 0.0514459929}, {0.2119034982, 0.6806995451, 0.1073969566},
		{0.0883024619, 0.2817188376, 0.6299787005}}
	okM2 = [3][3]f32{{0.2104542553, 0.7936177850, -0.0040720468}, {1.9779984951, -2.4285922050, 0.4505937099},
		{0.0259040371, 0.7827717662, -0.8086757660}}
	okLMS = [3][3]f32{{1, 0.3963377774, 0.2158037573}, {1, -0.1055613458, -0.0638541728},
		{1, -0.0894841775, -1.2914855480}}
	okRGB = [3][3]f32{{4.0767416621, -3.3077115913, 0.2309699292}, {-1.2684380046, 2.6097574011, -0.3413193965},
		{-0.0041960863, -0.7034186147, 1.7076147010}}
	// okKLMS is okLMS without its first column: d(lms')/d(a, b).
	okKLMS = [3][2]f32{{0.3963377774, 0.2158037573}, {-0.1055613458, -0.0638541728}, {-0.0894841775, -1.2914855480}}
)

// fdot is a short dot product as PyTorch's einsum computes it on the CPU: the first product rounded, each
// further term added by a fused multiply-add, rounded to float32 at each step. The order matters: for grey
// pixels it decides whether Oklab's a and b come out exactly 0 (then Okhsv's hue and value are 0/0 and the
// pixel turns black) or a rounding error away from it.
func fdot(c []f32, v ...f32) f32 {
	acc := c[0] * v[0]
	for i := 1; i < len(c); i++ {
		acc = f32(math.FMA(float64(c[i]), float64(v[i]), float64(acc)))
	}
	return acc
}

func mat3x3(m [3][3]f32, v [3]f32) [3]f32 {
	var o [3]f32
	for k := range 3 {
		o[k] = fdot(m[k][:], v[0], v[1], v[2])
	}
	return o
}

func oklabFromLinear(rgb [3]f32) [3]f32 {
	lms := mat3x3(okM1, rgb)
	for i, v := range lms {
		if v < 0 {
			lms[i] = -pow32(-v, f32(1.0/3.0))
		} else {
			lms[i] = pow32(v, f32(1.0/3.0))
		}
	}
	return mat3x3(okM2, lms)
}

func linearFromOklab(lab [3]f32) [3]f32 {
	lms := mat3x3(okLMS, lab)
	for i, v := range lms {
		lms[i] = v * v * v
	}
	return mat3x3(okRGB, lms)
}

// maxSaturation is the largest Oklab saturation (C/L) in sRGB's gamut along the unit hue (a, b): a
// polynomial guess for the component that clips first, refined by Halley steps.
func maxSaturation(a, b f32, steps int) f32 {
	k := [3][5]f32{{1.19086277, 1.76576728, 0.59662641, 0.75515197, 0.56771245},
		{0.73956515, -0.45954494, 0.08285427, 0.12541070, 0.14503204},
		{1.35733652, -0.00915799, -1.15130210, -0.50559606, 0.00692167}}
	row := 2
	switch {
	case -1.88170328*a+-0.80936493*b > 1:
		row = 0
	case 1.81444104*a+-1.19445276*b > 1:
		row = 1
	}
	s := fdot(k[row][:], 1, a, b, a*a, a*b)
	kl := klms(a, b)
	w := okRGB[row][:]
	for range steps {
		var lms, d1, d2 [3]f32
		for i := range 3 {
			root := kl[i]*s + 1
			lms[i] = root * root * root
			d1[i] = kl[i] * (root * root) * 3
			d2[i] = (kl[i] * kl[i]) * root * 6
		}
		f, f1, f2 := fdot(w, lms[:]...), fdot(w, d1[:]...), fdot(w, d2[:]...)
		s -= (f * f1) / (f1*f1 - f*f2*0.5)
	}
	return s
}

// klms is d(lms')/d(a, b) along the unit hue (a, b).
func klms(a, b f32) [3]f32 {
	var kl [3]f32
	for i := range 3 {
		kl[i] = fdot(okKLMS[i][:], a, b)
	}
	return kl
}

// findCusp is the lightness and chroma of the most saturated in-gamut colour of the hue.
func findCusp(a, b f32, steps int) (f32, f32) {
	s := maxSaturation(a, b, steps)
	rgb := linearFromOklab([3]f32{1, s * a, s * b})
	m := max(rgb[0], rgb[1], rgb[2])
	l := pow32(1/m, f32(1.0/3.0))
	return l, l * s
}

// gamutIntersection is the t at which the line from (L0, 0) to (L1, C1) in the hue's plane leaves sRGB's
// gamut: exact on the lower side of the cusp's triangle, refined by Halley steps above it.
func gamutIntersection(a, b, l1, c1, l0 f32, steps, stepsOuter int, cuspL, cuspC f32) f32 {
	cond := (l1-l0)*cuspC - (cuspL-l0)*c1
	var t f32
	if cond <= 0 {
		t = (cuspC * l0) / (c1*cuspL + cuspC*(l0-l1))
	} else {
		t = (cuspC * (l0 - 1)) / (c1*(cuspL-1) + cuspC*(l0-l1))
	}
	for range stepsOuter {
		dl, dc := l1-l0, c1
		kl := klms(a, b)
		var ldt [3]f32
		for i := range 3 {
			ldt[i] = kl[i]*dc + dl
		}
		for range steps {
			l := l0*(t*-1+1) + t*l1
			c := t * c1
			var lms, lms1, lms2 [3]f32
			for i := range 3 {
				root := kl[i]*c + l
				lms[i] = root * root * root
				lms1[i] = (root * root) * ldt[i] * 3
				lms2[i] = (ldt[i] * ldt[i]) * root * 6
			}
			best := maxFloat32
			for q := range 3 {
				w := okRGB[q][:]
				r := fdot(w, lms[:]...) - 1
				r1 := fdot(w, lms1[:]...)
				r2 := fdot(w, lms2[:]...)
				u := r1 / (r1*r1 - r*r2*0.5)
				tr := r * -1 * u
				if u < 0 {
					tr = maxFloat32
				}
				if !(tr >= best) { // torch.min propagates NaN
					best = tr
				}
			}
			if cond > 0 {
				t += best
			}
		}
	}
	return t
}

func sign32(x f32) f32 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return x
}

// gamutClip is gamut_clip_tensor for one pixel: an out-of-gamut linear sRGB colour moved towards a lightness
// that depends on alpha until it meets the gamut's surface; colours inside are kept.
func gamutClip(rgb [3]f32, alpha f32, steps, stepsOuter int) [3]f32 {
	// InvokeAI computes the clipped colour for every pixel and keeps it only for those outside [0, 1];
	// deciding first gives the same result without the work (NaN compares false there as here).
	if mx, mn := max(rgb[0], rgb[1], rgb[2]), min(rgb[0], rgb[1], rgb[2]); !(mx > 1 || mn < 0) {
		return rgb
	}
	lab := oklabFromLinear(rgb)
	const eps = f32(0.00001)
	c := sqrt32(lab[1]*lab[1] + lab[2]*lab[2])
	if c < eps {
		c = eps
	}
	ua, ub := lab[1]/c, lab[2]/c
	ld := lab[0] - 0.5
	e1 := (abs32f(ld) + c*alpha) + 0.5
	l0 := (sign32(ld)*(e1-sqrt32(e1*e1-abs32f(ld)*2)) + 1) * 0.5
	cl, cc := findCusp(ua, ub, steps)
	t := gamutIntersection(ua, ub, lab[0], c, l0, steps, stepsOuter, cl, cc)
	lc := l0*(t*-1+1) + t*lab[0]
	cc2 := t * c
	return linearFromOklab([3]f32{lc, cc2 * ua, cc2 * ub})
}

func abs32f(x f32) f32 { return f32(math.Abs(float64(x))) }

// toeL is Ottosson's lightness estimate L_r (ok_l_r_from_l), toeLInv its inverse.
func toeL(x f32) f32 {
	const k1, k2 = f32(0.206), f32(0.03)
	k3 := f32((1.0 + 0.206) / (1.0 + 0.03))
	d := x*k3 - k1
	return (d + sqrt32(d*d+x*k3*k2*4)) * 0.5
}

func toeLInv(x f32) f32 {
	const k1, k2 = f32(0.206), f32(0.03)
	k3 := f32((1.0 + 0.206) / (1.0 + 0.03))
	return (x*x + x*k1) / ((x + k2) * k3)
}

func nanTo0Clamp(v [3]f32) [3]f32 {
	for i, x := range v {
		if isNaN32(x) {
			x = 0
		}
		v[i] = clamp01(x)
	}
	return v
}

// okHue is the Okhsv/Okhsl hue in [0, 1] of Oklab (a, b).
func okHue(a, b f32) f32 {
	return (atan2_32(b*-1, a*-1)*0.5)/f32(math.Pi) + 0.5
}

// okhsvFromLinear is okhsv_from_srgb for one pixel, given in linear sRGB.
func okhsvFromLinear(lin [3]f32, steps int) [3]f32 {
	lab := oklabFromLinear(lin)
	c := sqrt32(lab[1]*lab[1] + lab[2]*lab[2])
	ua, ub := lab[1]/c, lab[2]/c
	h := okHue(lab[1], lab[2])
	cl, cc := findCusp(ua, ub, steps)
	sMax, tMax := cc/cl, cc/(cl*-1+1)
	const s0 = f32(0.5)
	k := (s0/sMax)*-1 + 1
	t := tMax / (c + lab[0]*tMax)
	lv, cv := t*lab[0], t*c
	lvt := toeLInv(lv)
	cvt := cv * (lvt / lv)
	rs := linearFromOklab([3]f32{lvt, ua * cvt, ub * cvt})
	scale := pow32(1/max(max(rs[0], rs[1], rs[2]), 0), f32(1.0/3.0))
	l := lab[0] / scale
	l = toeL(l)
	v := l / lv
	s := ((s0 + tMax) * cv) / (tMax*s0 + tMax*(k*cv))
	return nanTo0Clamp([3]f32{h, s, v})
}

// srgbFromOkhsv is srgb_from_okhsv for one pixel.
func srgbFromOkhsv(hsv [3]f32, alpha f32, steps int) [3]f32 {
	for i := range hsv {
		hsv[i] = clamp01(hsv[i])
	}
	ua, ub := cos32(hsv[0]*f32(2*math.Pi)), sin32(hsv[0]*f32(2*math.Pi))
	cl, cc := findCusp(ua, ub, steps)
	sMax, tMax := cc/cl, cc/(cl*-1+1)
	const s0 = f32(0.5)
	k := (s0/sMax)*-1 + 1
	base := s0 + (tMax - tMax*(k*hsv[1]))
	lv := ((hsv[1]*s0)*-1)/base + 1
	cv := (hsv[1] * tMax * s0) / base
	l, c := hsv[2]*lv, hsv[2]*cv
	lvt := toeLInv(lv)
	cvt := cv * (lvt / lv)
	lNew := toeLInv(l)
	c = c * (lNew / l)
	l = lNew
	rs := linearFromOklab([3]f32{lvt, ua * cvt, ub * cvt})
	scale := pow32(1/max(max(rs[0], rs[1], rs[2]), 0), f32(1.0/3.0))
	l, c = l*scale, c*scale
	rgb := linearFromOklab([3]f32{l, ua * c, ub * c})
	return nanTo0Clamp(srgbFromLinearPx(rgb, alpha, steps))
}

// okChromas is get_cs_tensor: the chroma at saturation 0 (C_0), the midpoint (C_mid) and the gamut's
// edge (C_max) for lightness l along the unit hue (a, b).
func okChromas(l, a, b f32, steps, stepsOuter int) (c0, cMid, cMax f32) {
	cl, cc := findCusp(a, b, steps)
	cMax = gamutIntersection(a, b, l, 1, l, steps, stepsOuter, cl, cc)
	sMax, tMax := cc/cl, cc/(cl*-1+1)
	k := cMax / min(l*sMax, (l*-1+1)*tMax)
	// get_st_mid_tensor: a rational approximation of the cusp.
	sMid := 1/(b*4.15901240+a*((b*1.75198401+a*((b*-10.02301043+a*((b*5.38770819+a*4.69891013)+-4.24894561))+-2.13704948))+-2.19557347)+7.44778970) + 0.11516993
	tMid := 1/(b*-0.68124379+a*((b*0.90148123+a*((b*0.61223990+a*((b*-0.45399568+a*-0.14661872)+0.00299215))+-0.27087943))+0.40370612)+1.61320320) + 0.11239642
	ca, cb := l*sMid, (l*-1+1)*tMid
	cMid = (k * sqrt32(sqrt32(1/(1/pow32(ca, 4)+1/pow32(cb, 4))))) * 0.9
	ca, cb = l*0.4, (l*-1+1)*0.8
	c0 = sqrt32(1 / (1/(ca*ca) + 1/(cb*cb)))
	return c0, cMid, cMax
}

const (
	okMid    = f32(0.8)
	okMidInv = f32(1.25)
)

// okhslFromLinear is okhsl_from_srgb for one pixel, given in linear sRGB; InvokeAI computes the chromas
// with one step whatever precision it was asked for.
func okhslFromLinear(lin [3]f32) [3]f32 {
	lab := oklabFromLinear(lin)
	c := sqrt32(lab[1]*lab[1] + lab[2]*lab[2])
	ua, ub := lab[1]/c, lab[2]/c
	h := okHue(lab[1], lab[2])
	c0, cMid, cMax := okChromas(lab[0], ua, ub, 1, 1)
	var s f32
	if c < cMid {
		k1 := c0 * okMid
		k2 := (k1/cMid)*-1 + 1
		t := c / (k1 + k2*c)
		s = t * okMid
	} else {
		k1 := ((cMid * cMid) * f32(1.25*1.25) * f32(1.0-0.8)) / c0
		k2 := (k1/(cMax-cMid))*-1 + 1
		t := (c - cMid) / (k1 + k2*(c-cMid))
		s = t*f32(1.0-0.8) + okMid
	}
	return nanTo0Clamp([3]f32{h, s, toeL(lab[0])})
}

// srgbFromOkhsl is srgb_from_okhsl for one pixel.
func srgbFromOkhsl(hsl [3]f32, alpha f32, steps, stepsOuter int) [3]f32 {
	for i := range hsl {
		hsl[i] = clamp01(hsl[i])
	}
	var rgb [3]f32
	switch hsl[2] {
	case 1:
		rgb = [3]f32{1, 1, 1}
	case 0:
		rgb = [3]f32{}
	default:
		ua, ub := cos32(hsl[0]*f32(2*math.Pi)), sin32(hsl[0]*f32(2*math.Pi))
		l := toeLInv(hsl[2])
		c0, cMid, cMax := okChromas(l, ua, ub, steps, stepsOuter)
		s := hsl[1]
		var c f32
		if s < okMid {
			t := s * okMidInv
			k1 := c0 * okMid
			k2 := (k1/cMid)*-1 + 1
			c = (t * k1) / ((k2*t)*-1 + 1)
		} else {
			t := (s - okMid) / f32(1.0-0.8)
			k1 := ((cMid * cMid) * f32(1.25*1.25) * f32(1.0-0.8)) / c0
			k2 := (k1/(cMax-cMid))*-1 + 1
			c = cMid + (t*k1)/((k2*t)*-1+1)
		}
		rgb = linearFromOklab([3]f32{l, c * ua, c * ub})
	}
	return nanTo0Clamp(srgbFromLinearPx(rgb, alpha, steps))
}

// hslFromSRGB is hsl_from_srgb (colorsys's HLS arithmetic, as hue, saturation, lightness).
func hslFromSRGB(rgb [3]f32) [3]f32 {
	mx, mn := max(rgb[0], rgb[1], rgb[2]), min(rgb[0], rgb[1], rgb[2])
	sum, rng := mx+mn, mx-mn
	l := sum / 2
	if mx == mn {
		return [3]f32{0, 0, l}
	}
	var s f32
	if l < 0.5 {
		s = rng / sum
	} else {
		s = rng / (sum*-1 + 2)
	}
	rc, gc, bc := (mx-rgb[0])/rng, (mx-rgb[1])/rng, (mx-rgb[2])/rng
	var h f32
	switch mx {
	case rgb[0]:
		h = bc - gc
	case rgb[1]:
		h = (rc - bc) + 2
	default:
		h = (gc - rc) + 4
	}
	return [3]f32{remainder32(h/6, 1), s, l}
}

// srgbFromHSL is srgb_from_hsl.
func srgbFromHSL(hsl [3]f32) [3]f32 {
	h, s, l := clamp01(hsl[0]), clamp01(hsl[1]), clamp01(hsl[2])
	var m2 f32
	if l <= 0.5 {
		m2 = l * (s + 1)
	} else {
		m2 = (l + s) - l*s
	}
	m1 := l*2 - m2
	v := func(h f32) f32 {
		h = remainder32(h, 1)
		switch {
		case h < f32(1.0/6.0):
			return m1 + (m2-m1)*(h*6)
		case h < 0.5:
			return m2
		case h < f32(2.0/3.0):
			return m1 + (m2-m1)*((h*-1+f32(2.0/3.0))*6)
		}
		return m1
	}
	// InvokeAI's torch.where chain applies to grey pixels too, so s == 0 gives the same values.
	return [3]f32{v(h + f32(1.0/3.0)), v(h), v(h - f32(1.0/3.0))}
}
