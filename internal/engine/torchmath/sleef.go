package torchmath

import "math"

// This file reproduces the float32 log, exp and expm1 that torch runs on
// CPU tensors: torch's vectorised math (vml) maps them to SLEEF's 1-ULP
// AVX2 routines (Sleef_logf8_u10, Sleef_expf8_u10, Sleef_expm1f8_u10), even
// for 0-d tensors. Those are not correctly rounded, and the schedulers' solvers
// feed their results into every step, so matching them keeps DPM-Solver++
// and UniPC bit-exact with diffusers. SLEEF's AVX2 build uses explicit
// fused multiply-adds (FMA32) and double-float (hi, lo) arithmetic, and is
// compiled without contraction, so every other operation rounds on its own.

// sleefDF is a double-float: an unevaluated sum hi + lo of two float32s.
type sleefDF struct{ x, y float32 }

const (
	sleefL2U   = float32(0.693145751953125)
	sleefL2L   = float32(1.428606765330187045e-06)
	sleefRLn2  = float32(1.442695040888963407359924681001892137426645954152985934135449406931)
	sleefLn2Hi = float32(0.69314718246459960938)
	sleefLn2Lo = float32(-1.904654323148236017e-09)
)

// sleefRint is _mm256_cvtps_epi32: round to nearest, ties to even.
func sleefRint(f float32) int32 { return int32(math.RoundToEven(float64(f))) }

func sleefPow2i(q int32) float32 { return math.Float32frombits(uint32(q+0x7f) << 23) }

// sleefLdexp2 scales by 2^q in two halves so that q up to ±254 works.
func sleefLdexp2(d float32, q int32) float32 {
	return d * sleefPow2i(q>>1) * sleefPow2i(q-q>>1)
}

func dfAdd2FF(x, y float32) sleefDF {
	s := x + y
	v := s - x
	return sleefDF{s, (x - (s - v)) + (y - v)}
}

func dfAdd2DFF(x sleefDF, y float32) sleefDF {
	s := x.x + y
	v := s - x.x
	t := (x.x - (s - v)) + (y - v)
	return sleefDF{s, t + x.y}
}

func dfAdd2DFDF(x, y sleefDF) sleefDF {
	s := x.x + y.x
	v := s - x.x
	t := (x.x - (s - v)) + (y.x - v)
	return sleefDF{s, t + (x.y + y.y)}
}

// dfAddDFDF assumes |x| >= |y|.
func dfAddDFDF(x, y sleefDF) sleefDF {
	s := x.x + y.x
	return sleefDF{s, (((x.x - s) + y.x) + x.y) + y.y}
}

func dfAddDFF(x sleefDF, y float32) sleefDF {
	s := x.x + y
	return sleefDF{s, ((x.x - s) + y) + x.y}
}

func dfAddFDF(x float32, y sleefDF) sleefDF {
	s := x + y.x
	return sleefDF{s, ((x - s) + y.x) + y.y}
}

func dfMulDFF(x sleefDF, y float32) sleefDF {
	s := x.x * y
	return sleefDF{s, FMA32(x.y, y, FMA32(x.x, y, -s))}
}

func dfMulDFDF(x, y sleefDF) sleefDF {
	s := x.x * y.x
	return sleefDF{s, FMA32(x.x, y.y, FMA32(x.y, y.x, FMA32(x.x, y.x, -s)))}
}

func dfSqu(x sleefDF) sleefDF {
	s := x.x * x.x
	return sleefDF{s, FMA32(x.x+x.x, x.y, FMA32(x.x, x.x, -s))}
}

func dfDiv(n, d sleefDF) sleefDF {
	t := 1 / d.x
	s := n.x * t
	u := FMA32(t, n.x, -s)
	v := FMA32(-d.y, t, FMA32(-d.x, t, 1))
	return sleefDF{s, FMA32(s, v, FMA32(n.y, t, u))}
}

// SleefLogf is xlogf_u1 (the AVX2, non-AVX512 variant).
func SleefLogf(d float32) float32 {
	switch {
	case d != d || d < 0:
		return float32(math.NaN())
	case d == 0:
		return float32(math.Inf(-1))
	case math.IsInf(float64(d), 1):
		return d
	}
	tiny := d < math.SmallestNonzeroFloat32*(1<<23) // below FLT_MIN: pre-scale by 2^64
	if tiny {
		d *= float32(1<<32) * float32(1<<32)
	}
	bits := math.Float32bits(d * (1.0 / 0.75))
	e := int32((bits>>23)&0xff) - 0x7f
	m := math.Float32frombits(uint32(int32(math.Float32bits(d)) + (-e << 23)))
	if tiny {
		e -= 64
	}
	s := dfMulDFF(sleefDF{sleefLn2Hi, sleefLn2Lo}, float32(e))
	x := dfDiv(dfAdd2FF(-1, m), dfAdd2FF(1, m))
	x2 := x.x * x.x
	t := FMA32(0.3027294874, x2, 0.3996108174)
	t = FMA32(t, x2, 0.6666694880)
	s = dfAddDFDF(s, sleefDF{x.x * 2, x.y * 2})
	s = dfAddDFF(s, float32(float32(x2*x.x)*t))
	return s.x + s.y
}

// SleefExpf is xexpf.
func SleefExpf(d float32) float32 {
	q := sleefRint(d * sleefRLn2)
	qf := float32(q)
	s := FMA32(qf, -sleefL2U, d)
	s = FMA32(qf, -sleefL2L, s)
	u := FMA32(0.000198527617612853646278381, s, 0.00139304355252534151077271)
	u = FMA32(u, s, 0.00833336077630519866943359)
	u = FMA32(u, s, 0.0416664853692054748535156)
	u = FMA32(u, s, 0.166666671633720397949219)
	u = FMA32(u, s, 0.5)
	u = 1 + FMA32(s*s, u, s)
	u = sleefLdexp2(u, q)
	switch {
	case d < -104:
		return 0
	case d > 100:
		return float32(math.Inf(1))
	}
	return u
}

// sleefExpk2f is expk2f: exp of a double-float, as a double-float.
func sleefExpk2f(d sleefDF) sleefDF {
	q := sleefRint((d.x + d.y) * sleefRLn2)
	qf := float32(q)
	s := dfAdd2DFF(d, float32(qf*-sleefL2U))
	s = dfAdd2DFF(s, float32(qf*-sleefL2L))
	u := FMA32(0.1980960224e-3, s.x, 0.1394256484e-2)
	u = FMA32(u, s.x, 0.8333456703e-2)
	u = FMA32(u, s.x, 0.4166637361e-1)
	t := dfAdd2DFF(dfMulDFF(s, u), 0.166666659414234244790680580464e+0)
	t = dfAdd2DFF(dfMulDFDF(s, t), 0.5)
	t = dfAdd2DFDF(s, dfMulDFDF(dfSqu(s), t))
	t = dfAddFDF(1, t)
	t = sleefDF{sleefLdexp2(t.x, q), sleefLdexp2(t.y, q)}
	if d.x < -104 {
		return sleefDF{}
	}
	return t
}

// SleefExpm1f is xexpm1f.
func SleefExpm1f(a float32) float32 {
	d := dfAdd2DFF(sleefExpk2f(sleefDF{a, 0}), -1)
	x := d.x + d.y
	switch {
	case a > 88.72283172607421875:
		return float32(math.Inf(1))
	case a < -16.635532333438687426013570:
		return -1
	case a == 0 && math.Signbit(float64(a)):
		return a
	}
	return x
}
