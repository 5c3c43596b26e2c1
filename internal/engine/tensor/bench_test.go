package tensor

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkAttentionSD15Level0 is SD-1.5's largest self-attention: batch 2,
// 4096 tokens, 8 heads of 40.
func BenchmarkAttentionSD15Level0(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	n, l, heads, hd := 2, 4096, 8, 40
	q, k, v := randSlice(r, n*l*heads*hd), randSlice(r, n*l*heads*hd), randSlice(r, n*l*heads*hd)
	out := make([]float32, len(q))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Attention(q, k, v, n, l, l, heads, hd, false, out)
	}
	b.ReportMetric(4*float64(n*heads*l*l*hd)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkConv3x3SD15Level0 is a 320→320 3×3 convolution on 64×64, batch 2.
func BenchmarkConv3x3SD15Level0(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	c, _ := NewConv2D(320, 320, 3, 3, 1, 1, randSlice(r, 320*320*9), randSlice(r, 320))
	x := FromData(randSlice(r, 2*320*64*64), 2, 320, 64, 64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Forward(x)
	}
	b.ReportMetric(2*float64(2*320*320*9*64*64)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
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
