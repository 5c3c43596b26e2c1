package imaging

import (
	"fmt"
	"math"
)

// CIELAB. Pillow converts between "RGB"/"RGBA" and "LAB" through LittleCMS (ImageCms): its built-in sRGB
// profile to a Lab profile with a D50 white point, perceptual intent, 8-bit Lab encoded as L*·255/100 and
// a*, b* offset by 128. LittleCMS precomputes such 8-bit transforms into interpolated lookup tables; this
// computes the same colour science directly in double precision, so that results may differ from Pillow's
// by a unit or two in a channel (docs/compatibility.md; the tests hold the difference to that).

// WhitePoint is a reference white as CIE xy chromaticity.
type WhitePoint struct{ X, Y float64 }

// D50 is the ICC profile connection space white, LittleCMS's default for Lab profiles.
var D50 = WhitePoint{0.3457, 0.3585}

// sRGB's primaries and white (IEC 61966-2-1).
var (
	srgbRed   = WhitePoint{0.64, 0.33}
	srgbGreen = WhitePoint{0.30, 0.60}
	srgbBlue  = WhitePoint{0.15, 0.06}
	d65       = WhitePoint{0.3127, 0.3290}
)

// WhiteFromTemperature is LittleCMS's cmsWhitePointFromTemp: the CIE daylight locus at a correlated colour
// temperature in kelvin (4000–25000).
func WhiteFromTemperature(k float64) WhitePoint {
	t, t2, t3 := k, k*k, k*k*k
	var x float64
	if k <= 7000 {
		x = -4.6070*(1e9/t3) + 2.9678*(1e6/t2) + 0.09911*(1e3/t) + 0.244063
	} else {
		x = -2.0064*(1e9/t3) + 1.9018*(1e6/t2) + 0.24748*(1e3/t) + 0.237040
	}
	y := -3.000*x*x + 2.870*x - 0.275
	return WhitePoint{x, y}
}

func (w WhitePoint) xyz() [3]float64 { return [3]float64{w.X / w.Y, 1, (1 - w.X - w.Y) / w.Y} }

type mat3 [3][3]float64

func (m mat3) mul(o mat3) mat3 {
	var r mat3
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 3; k++ {
				r[i][j] += m[i][k] * o[k][j]
			}
		}
	}
	return r
}

func (m mat3) apply(v [3]float64) [3]float64 {
	return [3]float64{
		m[0][0]*v[0] + m[0][1]*v[1] + m[0][2]*v[2],
		m[1][0]*v[0] + m[1][1]*v[1] + m[1][2]*v[2],
		m[2][0]*v[0] + m[2][1]*v[1] + m[2][2]*v[2],
	}
}

func (m mat3) inverse() mat3 {
	det := m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) - m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) + m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
	var r mat3
	r[0][0] = (m[1][1]*m[2][2] - m[1][2]*m[2][1]) / det
	r[0][1] = (m[0][2]*m[2][1] - m[0][1]*m[2][2]) / det
	r[0][2] = (m[0][1]*m[1][2] - m[0][2]*m[1][1]) / det
	r[1][0] = (m[1][2]*m[2][0] - m[1][0]*m[2][2]) / det
	r[1][1] = (m[0][0]*m[2][2] - m[0][2]*m[2][0]) / det
	r[1][2] = (m[0][2]*m[1][0] - m[0][0]*m[1][2]) / det
	r[2][0] = (m[1][0]*m[2][1] - m[1][1]*m[2][0]) / det
	r[2][1] = (m[0][1]*m[2][0] - m[0][0]*m[2][1]) / det
	r[2][2] = (m[0][0]*m[1][1] - m[0][1]*m[1][0]) / det
	return r
}

// bradford adapts XYZ colours from one white to another (the chromatic adaptation ICC profiles use).
func bradford(from, to [3]float64) mat3 {
	b := mat3{{0.8951, 0.2664, -0.1614}, {-0.7502, 1.7135, 0.0367}, {0.0389, -0.0685, 1.0296}}
	s, d := b.apply(from), b.apply(to)
	scale := mat3{{d[0] / s[0], 0, 0}, {0, d[1] / s[1], 0}, {0, 0, d[2] / s[2]}}
	return b.inverse().mul(scale).mul(b)
}

// srgbToXYZD50 is the sRGB profile's colorant matrix: linear RGB to XYZ adapted to D50.
var srgbToXYZD50 = func() mat3 {
	prim := mat3{}
	for c, p := range []WhitePoint{srgbRed, srgbGreen, srgbBlue} {
		v := p.xyz()
		for r := 0; r < 3; r++ {
			prim[r][c] = v[r]
		}
	}
	s := prim.inverse().apply(d65.xyz())
	for r := 0; r < 3; r++ {
		for c := 0; c < 3; c++ {
			prim[r][c] *= s[c]
		}
	}
	return bradford(d65.xyz(), D50.xyz()).mul(prim)
}()

// SRGBToLinear is the sRGB transfer function's inverse, on [0, 1].
func SRGBToLinear(v float64) float64 {
	if v <= 0.04045 {
		return v / 12.92
	}
	return math.Pow((v+0.055)/1.055, 2.4)
}

// LinearToSRGB is the sRGB transfer function, on [0, 1].
func LinearToSRGB(v float64) float64 {
	if v <= 0.0031308 {
		return v * 12.92
	}
	return 1.055*math.Pow(v, 1/2.4) - 0.055
}

func labF(t float64) float64 {
	if t > 216.0/24389.0 {
		return math.Cbrt(t)
	}
	return (24389.0/27.0*t + 16) / 116
}

func labFInv(t float64) float64 {
	if t3 := t * t * t; t3 > 216.0/24389.0 {
		return t3
	}
	return (116*t - 16) * 27.0 / 24389.0
}

// LabConverter converts sRGB to CIELAB relative to a white point (D50 for Pillow's convert("LAB")).
type LabConverter struct {
	white   [3]float64
	toLab   mat3 // linear sRGB → XYZ at the Lab white
	fromLab mat3
}

// NewLabConverter returns a converter for Lab relative to the white point.
func NewLabConverter(white WhitePoint) *LabConverter {
	w := white.xyz()
	// The profile connection space is D50; a Lab profile with another white adapts from it.
	adapt := bradford(D50.xyz(), w)
	m := adapt.mul(srgbToXYZD50)
	return &LabConverter{white: w, toLab: m, fromLab: m.inverse()}
}

// ToLab converts sRGB values in [0, 1] to L* (0..100), a*, b*.
func (c *LabConverter) ToLab(r, g, b float64) (l, a, bb float64) {
	xyz := c.toLab.apply([3]float64{SRGBToLinear(r), SRGBToLinear(g), SRGBToLinear(b)})
	fx, fy, fz := labF(xyz[0]/c.white[0]), labF(xyz[1]/c.white[1]), labF(xyz[2]/c.white[2])
	return 116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)
}

// FromLab converts L*, a*, b* to sRGB values, clipped to [0, 1].
func (c *LabConverter) FromLab(l, a, b float64) (r, g, bl float64) {
	fy := (l + 16) / 116
	fx, fz := fy+a/500, fy-b/200
	xyz := [3]float64{labFInv(fx) * c.white[0], labFInv(fy) * c.white[1], labFInv(fz) * c.white[2]}
	rgb := c.fromLab.apply(xyz)
	for i := range rgb {
		rgb[i] = LinearToSRGB(min(max(rgb[i], 0), 1))
	}
	return rgb[0], rgb[1], rgb[2]
}

var pillowLab = NewLabConverter(D50)

func round8(v float64) uint8 { return uint8(min(max(math.Floor(v+0.5), 0), 255)) }

// convertLAB is Pillow's conversion to and from "LAB" (RGB, RGBA and their base modes on one side).
func (p *Picture) convertLAB(mode Mode) (*Picture, error) {
	n := p.W * p.H
	if mode == ModeLAB {
		src := p
		if p.Mode != ModeRGB && p.Mode != ModeRGBA {
			var err error
			if src, err = p.Convert(ModeRGB); err != nil {
				return nil, err
			}
		}
		sc := src.Channels()
		out := &Picture{W: p.W, H: p.H, Mode: ModeLAB, Pix: make([]uint8, n*3)}
		for i := 0; i < n; i++ {
			s := src.Pix[i*sc:]
			l, a, b := pillowLab.ToLab(float64(s[0])/255, float64(s[1])/255, float64(s[2])/255)
			out.Pix[i*3], out.Pix[i*3+1], out.Pix[i*3+2] = round8(l*255/100), round8(a+128), round8(b+128)
		}
		return out, nil
	}
	if p.Mode != ModeLAB || (mode != ModeRGB && mode != ModeRGBA) {
		return nil, fmt.Errorf("conversion from %s to %s not supported", p.Mode, mode)
	}
	dc := mode.Channels()
	out := &Picture{W: p.W, H: p.H, Mode: mode, Pix: make([]uint8, n*dc)}
	for i := 0; i < n; i++ {
		s := p.Pix[i*3:]
		r, g, b := pillowLab.FromLab(float64(s[0])*100/255, float64(s[1])-128, float64(s[2])-128)
		d := out.Pix[i*dc:]
		d[0], d[1], d[2] = round8(r*255), round8(g*255), round8(b*255)
		if dc == 4 {
			d[3] = 255
		}
	}
	return out, nil
}
