package imaging

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// ParseColor is Pillow's ImageColor.getrgb: a CSS colour keyword, "#rgb", "#rgba", "#rrggbb", "#rrggbbaa",
// "rgb(r, g, b)", "rgb(r%, g%, b%)", "hsl(h, s%, l%)", "hsv(h, s%, v%)" / "hsb(...)" or "rgba(r, g, b, a)",
// case-insensitive; the result has 3 values, or 4 with alpha. Like Pillow it does not clamp "rgb()" values.
func ParseColor(spec string) ([]int, error) {
	if len(spec) > 100 {
		return nil, fmt.Errorf("color specifier is too long")
	}
	c := strings.ToLower(spec)
	if v, ok := cssColors[c]; ok {
		return []int{int(v >> 16), int(v >> 8 & 255), int(v & 255)}, nil
	}
	hex := func(s string) int { n, _ := strconv.ParseInt(s, 16, 32); return int(n) }
	if colorHex.MatchString(c) {
		d := c[1:]
		var out []int
		switch len(d) {
		case 3, 4:
			for i := range d {
				out = append(out, hex(d[i:i+1]+d[i:i+1]))
			}
		default:
			for i := 0; i < len(d); i += 2 {
				out = append(out, hex(d[i:i+2]))
			}
		}
		return out, nil
	}
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	atof := func(s string) float64 { f, _ := strconv.ParseFloat(s, 64); return f }
	if m := colorRGB.FindStringSubmatch(c); m != nil {
		return []int{atoi(m[1]), atoi(m[2]), atoi(m[3])}, nil
	}
	if m := colorRGBPercent.FindStringSubmatch(c); m != nil {
		pc := func(s string) int { return int(float64(atoi(s)*255)/100.0 + 0.5) }
		return []int{pc(m[1]), pc(m[2]), pc(m[3])}, nil
	}
	scale := func(r, g, b float64) []int {
		return []int{int(r*255 + 0.5), int(g*255 + 0.5), int(b*255 + 0.5)}
	}
	if m := colorHSL.FindStringSubmatch(c); m != nil {
		return scale(hlsToRGB(atof(m[1])/360.0, atof(m[3])/100.0, atof(m[2])/100.0)), nil
	}
	if m := colorHSV.FindStringSubmatch(c); m != nil {
		return scale(hsvToRGBf(atof(m[1])/360.0, atof(m[2])/100.0, atof(m[3])/100.0)), nil
	}
	if m := colorRGBA.FindStringSubmatch(c); m != nil {
		return []int{atoi(m[1]), atoi(m[2]), atoi(m[3]), atoi(m[4])}, nil
	}
	return nil, fmt.Errorf("unknown color specifier: %q", c)
}

var (
	colorHex        = regexp.MustCompile(`^#([a-f0-9]{3}|[a-f0-9]{4}|[a-f0-9]{6}|[a-f0-9]{8})$`)
	colorRGB        = regexp.MustCompile(`^rgb\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)$`)
	colorRGBPercent = regexp.MustCompile(`^rgb\(\s*(\d+)%\s*,\s*(\d+)%\s*,\s*(\d+)%\s*\)$`)
	colorHSL        = regexp.MustCompile(`^hsl\(\s*(\d+\.?\d*)\s*,\s*(\d+\.?\d*)%\s*,\s*(\d+\.?\d*)%\s*\)$`)
	colorHSV        = regexp.MustCompile(`^hs[bv]\(\s*(\d+\.?\d*)\s*,\s*(\d+\.?\d*)%\s*,\s*(\d+\.?\d*)%\s*\)$`)
	colorRGBA       = regexp.MustCompile(`^rgba\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)$`)
)

// hlsToRGB is Python's colorsys.hls_to_rgb.
func hlsToRGB(h, l, s float64) (float64, float64, float64) {
	if s == 0 {
		return l, l, l
	}
	var m2 float64
	if l <= 0.5 {
		m2 = l * (1 + s)
	} else {
		m2 = l + s - l*s
	}
	m1 := 2*l - m2
	return hlsV(m1, m2, h+1.0/3.0), hlsV(m1, m2, h), hlsV(m1, m2, h-1.0/3.0)
}

func hlsV(m1, m2, hue float64) float64 {
	hue = pyMod(hue, 1)
	switch {
	case hue < 1.0/6.0:
		return m1 + (m2-m1)*hue*6
	case hue < 0.5:
		return m2
	case hue < 2.0/3.0:
		return m1 + (m2-m1)*(2.0/3.0-hue)*6
	}
	return m1
}

// hsvToRGBf is Python's colorsys.hsv_to_rgb.
func hsvToRGBf(h, s, v float64) (float64, float64, float64) {
	if s == 0 {
		return v, v, v
	}
	i := math.Floor(h * 6)
	f := h*6 - i
	p, q, t := v*(1-s), v*(1-s*f), v*(1-s*(1-f))
	switch int(pyMod(i, 6)) {
	case 0:
		return v, t, p
	case 1:
		return q, v, p
	case 2:
		return p, v, t
	case 3:
		return p, q, v
	case 4:
		return t, p, v
	}
	return v, p, q
}

// pyMod is Python's float modulo (the result takes the divisor's sign).
func pyMod(a, b float64) float64 {
	m := math.Mod(a, b)
	if m != 0 && (m < 0) != (b < 0) {
		m += b
	}
	return m
}

// cssColors are the CSS colour keywords (CSS Color Module Level 4's named colours) as 0xRRGGBB.
var cssColors = map[string]uint32{
	"aliceblue":            0xf0f8ff,
	"antiquewhite":         0xfaebd7,
	"aqua":                 0x00ffff,
	"aquamarine":           0x7fffd4,
	"azure":                0xf0ffff,
	"beige":                0xf5f5dc,
	"bisque":               0xffe4c4,
	"black":                0x000000,
	"blanchedalmond":       0xffebcd,
	"blue":                 0x0000ff,
	"blueviolet":           0x8a2be2,
	"brown":                0xa52a2a,
	"burlywood":            0xdeb887,
	"cadetblue":            0x5f9ea0,
	"chartreuse":           0x7fff00,
	"chocolate":            0xd2691e,
	"coral":                0xff7f50,
	"cornflowerblue":       0x6495ed,
	"cornsilk":             0xfff8dc,
	"crimson":              0xdc143c,
	"cyan":                 0x00ffff,
	"darkblue":             0x00008b,
	"darkcyan":             0x008b8b,
	"darkgoldenrod":        0xb8860b,
	"darkgray":             0xa9a9a9,
	"darkgreen":            0x006400,
	"darkgrey":             0xa9a9a9,
	"darkkhaki":            0xbdb76b,
	"darkmagenta":          0x8b008b,
	"darkolivegreen":       0x556b2f,
	"darkorange":           0xff8c00,
	"darkorchid":           0x9932cc,
	"darkred":              0x8b0000,
	"darksalmon":           0xe9967a,
	"darkseagreen":         0x8fbc8f,
	"darkslateblue":        0x483d8b,
	"darkslategray":        0x2f4f4f,
	"darkslategrey":        0x2f4f4f,
	"darkturquoise":        0x00ced1,
	"darkviolet":           0x9400d3,
	"deeppink":             0xff1493,
	"deepskyblue":          0x00bfff,
	"dimgray":              0x696969,
	"dimgrey":              0x696969,
	"dodgerblue":           0x1e90ff,
	"firebrick":            0xb22222,
	"floralwhite":          0xfffaf0,
	"forestgreen":          0x228b22,
	"fuchsia":              0xff00ff,
	"gainsboro":            0xdcdcdc,
	"ghostwhite":           0xf8f8ff,
	"gold":                 0xffd700,
	"goldenrod":            0xdaa520,
	"gray":                 0x808080,
	"green":                0x008000,
	"greenyellow":          0xadff2f,
	"grey":                 0x808080,
	"honeydew":             0xf0fff0,
	"hotpink":              0xff69b4,
	"indianred":            0xcd5c5c,
	"indigo":               0x4b0082,
	"ivory":                0xfffff0,
	"khaki":                0xf0e68c,
	"lavender":             0xe6e6fa,
	"lavenderblush":        0xfff0f5,
	"lawngreen":            0x7cfc00,
	"lemonchiffon":         0xfffacd,
	"lightblue":            0xadd8e6,
	"lightcoral":           0xf08080,
	"lightcyan":            0xe0ffff,
	"lightgoldenrodyellow": 0xfafad2,
	"lightgray":            0xd3d3d3,
	"lightgreen":           0x90ee90,
	"lightgrey":            0xd3d3d3,
	"lightpink":            0xffb6c1,
	"lightsalmon":          0xffa07a,
	"lightseagreen":        0x20b2aa,
	"lightskyblue":         0x87cefa,
	"lightslategray":       0x778899,
	"lightslategrey":       0x778899,
	"lightsteelblue":       0xb0c4de,
	"lightyellow":          0xffffe0,
	"lime":                 0x00ff00,
	"limegreen":            0x32cd32,
	"linen":                0xfaf0e6,
	"magenta":              0xff00ff,
	"maroon":               0x800000,
	"mediumaquamarine":     0x66cdaa,
	"mediumblue":           0x0000cd,
	"mediumorchid":         0xba55d3,
	"mediumpurple":         0x9370db,
	"mediumseagreen":       0x3cb371,
	"mediumslateblue":      0x7b68ee,
	"mediumspringgreen":    0x00fa9a,
	"mediumturquoise":      0x48d1cc,
	"mediumvioletred":      0xc71585,
	"midnightblue":         0x191970,
	"mintcream":            0xf5fffa,
	"mistyrose":            0xffe4e1,
	"moccasin":             0xffe4b5,
	"navajowhite":          0xffdead,
	"navy":                 0x000080,
	"oldlace":              0xfdf5e6,
	"olive":                0x808000,
	"olivedrab":            0x6b8e23,
	"orange":               0xffa500,
	"orangered":            0xff4500,
	"orchid":               0xda70d6,
	"palegoldenrod":        0xeee8aa,
	"palegreen":            0x98fb98,
	"paleturquoise":        0xafeeee,
	"palevioletred":        0xdb7093,
	"papayawhip":           0xffefd5,
	"peachpuff":            0xffdab9,
	"peru":                 0xcd853f,
	"pink":                 0xffc0cb,
	"plum":                 0xdda0dd,
	"powderblue":           0xb0e0e6,
	"purple":               0x800080,
	"rebeccapurple":        0x663399,
	"red":                  0xff0000,
	"rosybrown":            0xbc8f8f,
	"royalblue":            0x4169e1,
	"saddlebrown":          0x8b4513,
	"salmon":               0xfa8072,
	"sandybrown":           0xf4a460,
	"seagreen":             0x2e8b57,
	"seashell":             0xfff5ee,
	"sienna":               0xa0522d,
	"silver":               0xc0c0c0,
	"skyblue":              0x87ceeb,
	"slateblue":            0x6a5acd,
	"slategray":            0x708090,
	"slategrey":            0x708090,
	"snow":                 0xfffafa,
	"springgreen":          0x00ff7f,
	"steelblue":            0x4682b4,
	"tan":                  0xd2b48c,
	"teal":                 0x008080,
	"thistle":              0xd8bfd8,
	"tomato":               0xff6347,
	"turquoise":            0x40e0d0,
	"violet":               0xee82ee,
	"wheat":                0xf5deb3,
	"white":                0xffffff,
	"whitesmoke":           0xf5f5f5,
	"yellow":               0xffff00,
	"yellowgreen":          0x9acd32}
