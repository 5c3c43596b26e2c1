// Package noise reproduces PyTorch's CPU random number generation bit for
// bit: torch.Generator('cpu').manual_seed(seed) followed by torch.randn or
// torch.rand. Seeds are what make an image reproducible, so InvokeAI users
// expect the same seed to give the same starting noise here.
//
// What torch does (CPU, contiguous output; checked against torch 1.13, whose
// float32 kernels torch 2.x still uses):
//   - an mt19937 engine seeded with seed mod 2^32;
//   - randn with at least 16 elements draws all uniforms first, then runs
//     Box-Muller on blocks of 16 (u1 = 1-u[j], u2 = u[j+8]); when the count
//     is not a multiple of 16 the last 16 outputs are redone from 16 fresh
//     uniforms;
//   - float32 uses 24-bit uniforms and, on x86-64 with AVX2, a vectorised
//     kernel whose log/sin/cos are Cephes polynomials (KernelAVX2); other
//     CPUs use libm (KernelDefault);
//   - float16 and bfloat16 draw 11- and 8-bit uniforms and do Box-Muller in
//     that precision: a different sequence, not float32 noise rounded;
//   - fewer than 16 elements take a per-element float64 Box-Muller with
//     53-bit uniforms, caching the second value of each pair.
package noise

import (
	"context"
	"fmt"
	"math"

	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/engine/torchmath"
)

// DType is the tensor element type the noise is generated in. The values
// are always returned as float32 (exact for all three types).
type DType int

const (
	Float32 DType = iota
	Float16
	BFloat16
)

// String returns torch's name for the dtype.
func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float16:
		return "float16"
	case BFloat16:
		return "bfloat16"
	}
	return fmt.Sprintf("DType(%d)", int(d))
}

// ParseDType accepts torch's dtype names ("float32", "float16",
// "bfloat16", and the aliases "float", "half", "fp16", "bf16", "fp32").
func ParseDType(s string) (DType, error) {
	switch s {
	case "float32", "float", "fp32":
		return Float32, nil
	case "float16", "half", "fp16":
		return Float16, nil
	case "bfloat16", "bf16":
		return BFloat16, nil
	}
	return 0, fmt.Errorf("noise: unknown dtype %q (want float32, float16 or bfloat16)", s)
}

// Kernel selects which of torch's float32 randn kernels to reproduce.
type Kernel int

const (
	// KernelAVX2 is the vectorised kernel torch runs on x86-64 CPUs with
	// AVX2, i.e. what InvokeAI on a typical PC or CUDA box produces.
	KernelAVX2 Kernel = iota
	// KernelDefault is torch's scalar kernel (ATEN_CPU_CAPABILITY=default,
	// and aarch64 builds of torch 1.13). It differs from KernelAVX2 in the
	// last bit of about 39% of the float32 values.
	KernelDefault
)

// Option configures a Generator.
type Option func(*Generator)

// WithKernel chooses the float32 randn kernel (default KernelAVX2).
func WithKernel(k Kernel) Option { return func(g *Generator) { g.kernel = k } }

// Generator is a torch.Generator('cpu'): successive draws continue one
// random stream, as the stochastic schedulers rely on. Create it with
// NewGenerator; it is not safe for concurrent use.
type Generator struct {
	mt     mt19937
	kernel Kernel
	// nextNormal caches the second value of a float64 Box-Muller pair, as
	// torch's generator does for normal_distribution<double>.
	nextNormal    float64
	hasNextNormal bool
}

// NewGenerator returns a generator seeded like
// torch.Generator('cpu').manual_seed(seed).
func NewGenerator(seed uint64, opts ...Option) *Generator {
	g := &Generator{}
	for _, o := range opts {
		o(g)
	}
	g.ManualSeed(seed)
	return g
}

// ManualSeed resets the stream; only the low 32 bits of the seed matter.
func (g *Generator) ManualSeed(seed uint64) {
	g.mt.seed(uint32(seed))
	g.hasNextNormal = false
	g.nextNormal = 0
}

// Randn is torch.randn(shape, generator=torch.Generator('cpu').manual_seed(seed), dtype=dtype).
func Randn(seed uint64, dtype DType, shape ...int) []float32 {
	return NewGenerator(seed).Randn(dtype, shape...)
}

// RandnIn is Randn after checking the tensor's size against ctx's memory budget (tensor.Budget).
func RandnIn(ctx context.Context, seed uint64, dtype DType, shape ...int) ([]float32, error) {
	if err := tensor.BudgetOf(ctx).Check("the noise", 4, shape...); err != nil {
		return nil, err
	}
	return Randn(seed, dtype, shape...), nil
}

// Rand is torch.rand(shape, generator=...manual_seed(seed)) in float32.
func Rand(seed uint64, shape ...int) []float32 {
	return NewGenerator(seed).Rand(shape...)
}

// Randn draws a standard-normal tensor of the given shape and dtype. It
// panics on a negative dimension.
func (g *Generator) Randn(dtype DType, shape ...int) []float32 {
	out := make([]float32, numel(shape))
	g.RandnInto(out, dtype)
	return out
}

// Rand draws float32 uniforms in [0, 1).
func (g *Generator) Rand(shape ...int) []float32 {
	out := make([]float32, numel(shape))
	for i := range out {
		out[i] = g.uniformFloat32()
	}
	return out
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("noise: negative dimension in shape %v", shape))
		}
		n *= d
	}
	return n
}

// RandnInto fills dst as torch.randn would fill a contiguous tensor of
// len(dst) elements of the given dtype. It panics on an unknown dtype.
func (g *Generator) RandnInto(dst []float32, dtype DType) {
	n := len(dst)
	if n < 16 {
		g.fillNormalSerial(dst, dtype)
		return
	}
	switch dtype {
	case Float32:
		g.fillNormalFloat32(dst)
	case Float16:
		g.fillNormalReduced(dst, 11, boxMuller16Half)
	case BFloat16:
		g.fillNormalReduced(dst, 8, boxMuller16BFloat16)
	default:
		panic(fmt.Sprintf("noise: unsupported dtype %v", dtype))
	}
}

// uniformFloat32 is at::uniform_real_distribution<float>(0, 1): the low 24
// bits of one 32-bit draw, scaled by 2^-24.
func (g *Generator) uniformFloat32() float32 {
	return float32(g.mt.uint32()&(1<<24-1)) * (1.0 / (1 << 24))
}

// uniformFloat64 is uniform_real_distribution<double>: 53 bits of a 64-bit
// draw made of two 32-bit outputs, the first being the high half.
func (g *Generator) uniformFloat64() float64 {
	hi := uint64(g.mt.uint32())
	lo := uint64(g.mt.uint32())
	return float64((hi<<32|lo)&(1<<53-1)) * (1.0 / (1 << 53))
}

// normalFloat64 is at::normal_distribution<double>(0, 1) with the
// generator's cached second sample.
func (g *Generator) normalFloat64() float64 {
	if g.hasNextNormal {
		g.hasNextNormal = false
		return g.nextNormal
	}
	u1 := g.uniformFloat64()
	u2 := g.uniformFloat64()
	r := math.Sqrt(-2 * math.Log(1-u2))
	theta := 2 * math.Pi * u1
	g.nextNormal, g.hasNextNormal = r*math.Sin(theta), true
	return r * math.Cos(theta)
}

// fillNormalSerial is the element-by-element path torch takes for tensors
// of fewer than 16 elements: float64 normals cast to the dtype.
func (g *Generator) fillNormalSerial(dst []float32, dtype DType) {
	for i := range dst {
		v := float32(g.normalFloat64()) // double -> float (-> half/bf16)
		switch dtype {
		case Float16:
			v = torchmath.RoundFloat16(v)
		case BFloat16:
			v = torchmath.RoundBFloat16(v)
		}
		dst[i] = v
	}
}

// fillNormalFloat32 is normal_fill (and normal_fill_AVX2) for float32.
func (g *Generator) fillNormalFloat32(dst []float32) {
	for i := range dst {
		dst[i] = g.uniformFloat32()
	}
	fill16 := boxMuller16AVX2
	if g.kernel == KernelDefault {
		fill16 = boxMuller16Scalar
	}
	n := len(dst)
	for i := 0; i+16 <= n; i += 16 {
		fill16(dst[i : i+16])
	}
	if n%16 != 0 {
		tail := dst[n-16:]
		for i := range tail {
			tail[i] = g.uniformFloat32()
		}
		fill16(tail)
	}
}

// boxMuller16AVX2 is normal_fill_16_AVX2 with mean 0 and std 1.
func boxMuller16AVX2(d []float32) {
	const twoPi = float32(2 * math.Pi)
	for j := 0; j < 8; j++ {
		u1 := 1 - d[j]
		u2 := d[j+8]
		radius := float32(math.Sqrt(float64(-2 * torchmath.CephesLog(u1))))
		sin, cos := torchmath.CephesSinCos(twoPi * u2)
		// The kernel ends with fmadd(n, std, mean) = n*1 + 0, which turns
		// -0 into +0.
		d[j] = radius*cos + 0
		d[j+8] = radius*sin + 0
	}
}

// boxMuller16Scalar is the scalar normal_fill_16<float>, with glibc's logf,
// cosf and sinf.
func boxMuller16Scalar(d []float32) {
	for j := 0; j < 8; j++ {
		u1 := 1 - d[j]
		u2 := d[j+8]
		radius := float32(math.Sqrt(float64(-2 * torchmath.GlibcLogf(u1))))
		theta := float32(2 * math.Pi * float64(u2))
		d[j] = radius*torchmath.GlibcSinCos(theta, true) + 0 // "* std + mean"
		d[j+8] = radius*torchmath.GlibcSinCos(theta, false) + 0
	}
}

// fillNormalReduced is normal_fill<Half> / normal_fill<BFloat16>: uniforms
// with mantissaBits bits, then Box-Muller on blocks of 16.
func (g *Generator) fillNormalReduced(dst []float32, mantissaBits uint, fill16 func([]float32)) {
	mask := uint32(1)<<mantissaBits - 1
	scale := float32(1) / float32(uint32(1)<<mantissaBits)
	uniform := func() float32 { return float32(g.mt.uint32()&mask) * scale }
	for i := range dst {
		dst[i] = uniform()
	}
	n := len(dst)
	for i := 0; i+16 <= n; i += 16 {
		fill16(dst[i : i+16])
	}
	if n%16 != 0 {
		tail := dst[n-16:]
		for i := range tail {
			tail[i] = uniform()
		}
		fill16(tail)
	}
}

// boxMuller16Half is normal_fill_16<c10::Half>: the intermediates u1,
// radius and theta are stored as half, but c10::Half has no math overloads,
// so log, sqrt, cos, sin and the final products run in float32 (one
// rounding to half at the end, after "+ mean" turns -0 into +0).
func boxMuller16Half(d []float32) {
	for j := 0; j < 8; j++ {
		u1 := torchmath.RoundFloat16(1 - d[j])
		u2 := d[j+8]
		radius := torchmath.RoundFloat16(float32(math.Sqrt(float64(-2 * torchmath.GlibcLogf(u1)))))
		theta := torchmath.RoundFloat16(float32(2 * math.Pi * float64(u2)))
		d[j] = torchmath.RoundFloat16(radius*torchmath.GlibcSinCos(theta, true) + 0)
		d[j+8] = torchmath.RoundFloat16(radius*torchmath.GlibcSinCos(theta, false) + 0)
	}
}

// boxMuller16BFloat16 is normal_fill_16<c10::BFloat16>. Unlike Half,
// BFloat16 has std::log/sqrt/cos/sin overloads (BFloat16-math.h) that
// return BFloat16, and BFloat16*BFloat16 is rounded to BFloat16, so every
// step rounds.
func boxMuller16BFloat16(d []float32) {
	r := torchmath.RoundBFloat16
	for j := 0; j < 8; j++ {
		u1 := r(1 - d[j])
		u2 := d[j+8]
		logU1 := r(torchmath.GlibcLogf(u1))
		radius := r(float32(math.Sqrt(float64(r(-2 * logU1)))))
		theta := r(float32(2 * math.Pi * float64(u2)))
		cos := r(torchmath.GlibcSinCos(theta, true))
		sin := r(torchmath.GlibcSinCos(theta, false))
		d[j] = r(r(radius*cos) + 0)
		d[j+8] = r(r(radius*sin) + 0)
	}
}
