package torchmath

import "math"

// This file reproduces glibc's single-precision logf, sinf and cosf (the
// Arm optimized-routines algorithms glibc has shipped since 2.28), which
// torch's scalar randn kernel calls through std::log/cos/sin. They are not
// correctly rounded (up to 0.82 ULP for logf, 0.56 for sinf/cosf), so
// matching torch's default kernel bit for bit needs the same algorithms.
// On x86-64 with FMA, glibc selects builds of these functions compiled with
// FMA contraction; every a + b*c below is therefore one fused operation.

// glibcLogfTable holds {1/c, log(c)} for 16 subintervals of [0x3f330000,
// 2*0x3f330000] (glibc's __logf_data.tab).
var glibcLogfTable = [16][2]float64{
	{0x1.661ec79f8f3bep+0, -0x1.57bf7808caadep-2},
	{0x1.571ed4aaf883dp+0, -0x1.2bef0a7c06ddbp-2},
	{0x1.49539f0f010bp+0, -0x1.01eae7f513a67p-2},
	{0x1.3c995b0b80385p+0, -0x1.b31d8a68224e9p-3},
	{0x1.30d190c8864a5p+0, -0x1.6574f0ac07758p-3},
	{0x1.25e227b0b8eap+0, -0x1.1aa2bc79c81p-3},
	{0x1.1bb4a4a1a343fp+0, -0x1.a4e76ce8c0e5ep-4},
	{0x1.12358f08ae5bap+0, -0x1.1973c5a611cccp-4},
	{0x1.0953f419900a7p+0, -0x1.252f438e10c1ep-5},
	{0x1p+0, 0x0p+0},
	{0x1.e608cfd9a47acp-1, 0x1.aa5aa5df25984p-5},
	{0x1.ca4b31f026aap-1, 0x1.c5e53aa362eb4p-4},
	{0x1.b2036576afce6p-1, 0x1.526e57720db08p-3},
	{0x1.9c2d163a1aa2dp-1, 0x1.bc2860d22477p-3},
	{0x1.886e6037841edp-1, 0x1.1058bc8a07ee1p-2},
	{0x1.767dcf5534862p-1, 0x1.4043057b6ee09p-2},
}

const (
	glibcLn2   = 0x1.62e42fefa39efp-1
	glibcLogA0 = -0x1.00ea348b88334p-2
	glibcLogA1 = 0x1.5575b0be00b6ap-2
	glibcLogA2 = -0x1.ffffef20a4123p-2
)

// GlibcLogf is logf for positive finite x (the only inputs randn makes).
func GlibcLogf(x float32) float32 {
	ix := math.Float32bits(x)
	if ix == 0x3f800000 {
		return 0
	}
	if ix-0x00800000 >= 0x7f800000-0x00800000 {
		switch {
		case ix*2 == 0:
			return float32(math.Inf(-1))
		case ix == 0x7f800000:
			return x
		case ix&0x80000000 != 0 || ix*2 >= 0xff000000:
			return float32(math.NaN())
		}
		// Subnormal: normalise.
		ix = math.Float32bits(x * 0x1p23)
		ix -= 23 << 23
	}
	// x = 2^k z with z in [0x3f330000, 2*0x3f330000]; c near z's
	// subinterval centre.
	const off = 0x3f330000
	tmp := ix - off
	i := (tmp >> (23 - 4)) % 16
	k := int32(tmp) >> 23
	iz := ix - (tmp & (0x1ff << 23))
	invc, logc := glibcLogfTable[i][0], glibcLogfTable[i][1]
	z := float64(math.Float32frombits(iz))

	// log(x) = log1p(z/c - 1) + log(c) + k*Ln2
	r := math.FMA(z, invc, -1)
	y0 := math.FMA(float64(k), glibcLn2, logc)
	r2 := r * r
	y := math.FMA(glibcLogA1, r, glibcLogA2)
	y = math.FMA(glibcLogA0, r2, y)
	y = math.FMA(y, r2, y0+r)
	return float32(y)
}

// glibcSinCosPoly holds one entry of glibc's __sincosf_table (x86-64
// layout: hpi_inv pre-scaled by 2^24). The second entry negates the
// cosine polynomial.
type glibcSinCosPoly struct {
	sign               [4]float64
	hpiInv, hpi        float64
	c0, c1, c2, c3, c4 float64
	s1, s2, s3         float64
}

var glibcSinCosTable = [2]glibcSinCosPoly{
	{
		sign:   [4]float64{1, -1, -1, 1},
		hpiInv: 0x1.45F306DC9C883p+23, hpi: 0x1.921FB54442D18p0,
		c0: 0x1p0, c1: -0x1.ffffffd0c621cp-2, c2: 0x1.55553e1068f19p-5,
		c3: -0x1.6c087e89a359dp-10, c4: 0x1.99343027bf8c3p-16,
		s1: -0x1.555545995a603p-3, s2: 0x1.1107605230bc4p-7, s3: -0x1.994eb3774cf24p-13,
	},
	{
		sign:   [4]float64{1, -1, -1, 1},
		hpiInv: 0x1.45F306DC9C883p+23, hpi: 0x1.921FB54442D18p0,
		c0: -0x1p0, c1: 0x1.ffffffd0c621cp-2, c2: -0x1.55553e1068f19p-5,
		c3: 0x1.6c087e89a359dp-10, c4: -0x1.99343027bf8c3p-16,
		s1: -0x1.555545995a603p-3, s2: 0x1.1107605230bc4p-7, s3: -0x1.994eb3774cf24p-13,
	},
}

func abstop12(x float32) uint32 { return (math.Float32bits(x) >> 20) & 0x7ff }

// sinfPoly evaluates the sine (n even) or cosine (n odd) polynomial.
func sinfPoly(x, x2 float64, p *glibcSinCosPoly, n int) float32 {
	if n&1 == 0 {
		x3 := x * x2
		s1 := math.FMA(x2, p.s3, p.s2)
		x7 := x3 * x2
		s := math.FMA(x3, p.s1, x)
		return float32(math.FMA(x7, s1, s))
	}
	x4 := x2 * x2
	c2 := math.FMA(x2, p.c4, p.c3)
	c1 := math.FMA(x2, p.c1, p.c0)
	x6 := x4 * x2
	c := math.FMA(x4, p.c2, c1)
	return float32(math.FMA(x6, c2, c))
}

// GlibcSinCos computes sinf (cos=false) or cosf (cos=true) for |y| < 120,
// the range randn's angles (< 2*pi) fall in; larger inputs fall back to
// float64 math.
func GlibcSinCos(y float32, cos bool) float32 {
	x := float64(y)
	p := &glibcSinCosTable[0]
	quadrantShift := 0
	if cos {
		quadrantShift = 1
	}
	switch {
	case abstop12(y) < abstop12(float32(math.Pi/4)):
		if abstop12(y) < abstop12(0x1p-12) {
			if cos {
				return 1
			}
			return y
		}
		return sinfPoly(x, x*x, p, quadrantShift)
	case abstop12(y) < abstop12(120):
		// reduce_fast: n = round(x * 2/pi) via a 2^24-scaled conversion.
		r := x * p.hpiInv
		n := int((int32(r) + 0x800000) >> 24)
		x = math.FMA(-float64(n), p.hpi, x)
		s := p.sign[n&3]
		if n&2 != 0 {
			p = &glibcSinCosTable[1]
		}
		return sinfPoly(x*s, x*x, p, n^quadrantShift)
	default:
		if cos {
			return float32(math.Cos(x))
		}
		return float32(math.Sin(x))
	}
}
