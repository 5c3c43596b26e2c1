package tensor

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkAttentionSD15Level0 is SD-1.5's largest self-attention: batch 2,
// 4096 tokens, 8 heads of 40.
func BenchmarkAttentionSD15Level0(b *testing.B) { benchAttention(b, Attention) }

// BenchmarkAttentionSD15Level0BF16 is the same with bf16 products (AttentionBF16).
func BenchmarkAttentionSD15Level0BF16(b *testing.B) {
	benchAttention(b, func(q, k, v []float32, n, lq, lk, heads, hd int, _ bool, out []float32) {
		AttentionBF16(q, k, v, n, lq, lk, heads, hd, out)
	})
}

func benchAttention(b *testing.B, Attention func(q, k, v []float32, n, lq, lk, heads, hd int, causal bool, out []float32)) {
	r := rand.New(rand.NewPCG(1, 1))
	n, l, heads, hd := 2, 4096, 8, 40
	q, k, v := randSlice(r, n*l*heads*hd), randSlice(r, n*l*heads*hd), randSlice(r, n*l*heads*hd)
	out := make([]float32, len(q))
	Attention(q, k, v, n, l, l, heads, hd, false, out)
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		Attention(q, k, v, n, l, l, heads, hd, false, out)
	}
	b.ReportMetric(4*float64(n*heads*l*l*hd)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	b.ReportMetric(4*float64(n*heads*l*l*hd)*float64(b.N)/(cpuTime()-cpu0)/1e9, "GFLOP/cpu-s")
}

// BenchmarkConv3x3SD15Level0 is a 320→320 3×3 convolution on 64×64, batch 2.
func BenchmarkConv3x3SD15Level0(b *testing.B) { benchConv(b, "", 320, 320, 3, 64) }

// The same with the weight pre-packed (im2col folded into packing), in fp32 and bf16.
func BenchmarkConv3x3SD15Level0Packed(b *testing.B) { benchConv(b, "fp32", 320, 320, 3, 64) }
func BenchmarkConv3x3SD15Level0BF16(b *testing.B)   { benchConv(b, "bf16", 320, 320, 3, 64) }

// Deepest level (8×8, 1280 channels) and a 1×1 shortcut.
func BenchmarkConv3x3SD15Level3Packed(b *testing.B) { benchConv(b, "fp32", 1280, 1280, 3, 8) }
func BenchmarkConv1x1SD15Packed(b *testing.B)       { benchConv(b, "fp32", 640, 320, 1, 64) }

func benchConv(b *testing.B, pack string, inC, outC, k, hw int) {
	r := rand.New(rand.NewPCG(1, 1))
	c, _ := NewConv2D(inC, outC, k, k, 1, k/2, randSlice(r, outC*inC*k*k), randSlice(r, outC))
	switch pack {
	case "fp32":
		c.Pack()
	case "bf16":
		c.PackBF16()
	}
	x := FromData(randSlice(r, 2*inC*hw*hw), 2, inC, hw, hw)
	c.Forward(x).Release()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		c.Forward(x).Release()
	}
	flops := 2 * float64(2*outC*inC*k*k*hw*hw) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	b.ReportMetric(flops/(cpuTime()-cpu0)/1e9, "GFLOP/cpu-s")
}

func BenchmarkGroupNormSiLU(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := FromData(randSlice(r, 2*320*64*64), 2, 320, 64, 64)
	w, bias := randSlice(r, 320), randSlice(r, 320)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		GroupNorm(x, 32, w, bias, 1e-5, true)
	}
	b.SetBytes(int64(8 * len(x.Data)))
}

func BenchmarkGEGLU(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	rows, d := 8192, 1280
	x := randSlice(r, rows*2*d)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		GEGLU(FromData(x, rows, 2*d)).Release()
	}
	b.ReportMetric(float64(rows*d)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
}

func BenchmarkLayerNorm(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := FromData(randSlice(r, 8192*320), 8192, 320)
	w, bias := randSlice(r, 320), randSlice(r, 320)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		LayerNorm(x, w, bias, 1e-5)
	}
	b.ReportMetric(float64(len(x.Data))*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
}

// BenchmarkPixelsToChannels is a 64×64 convolution's result (batch 2, 320
// channels, pixel-major) moved into NCHW planes with bias and residual.
func BenchmarkPixelsToChannels(b *testing.B) {
	r := rand.New(rand.NewPCG(4, 4))
	const hw, ch = 64 * 64, 320
	src, bias, res := randSlice(r, 2*hw*ch), randSlice(r, ch), randSlice(r, 2*hw*ch)
	dst := make([]float32, len(src))
	for b.Loop() {
		pixelsToChannels(dst, src, 0, 2*hw, hw, ch, bias, res)
	}
	b.ReportMetric(float64(len(src))*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
}
