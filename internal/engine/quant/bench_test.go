package quant

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/invokego/invokego/internal/engine/gemm"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// BenchmarkQuantGEMM compares the dequantizing products with the prepacked
// bfloat16 GEMM at FLUX.1's linear-layer shapes (hidden 3072, MLP 12288)
// for 4096+512 tokens (1024² images) and 1024+512 tokens (512²). Each
// product is large (up to 350 GFLOP), so run it once:
//
//	go test -run X -bench QuantGEMM -benchtime 1x ./internal/engine/quant
//
// INVOKEGO_QBENCH_M overrides the row counts (comma-separated) for quicker runs.
// Compare GFLOP/s within one run: "bf16-prepacked" is the reference rate
// for the quantized products (which use the same bfloat16 kernel);
// "f32-prepacked" and "Q4_K-f32" show the float32 kernel for comparison.
func BenchmarkQuantGEMM(b *testing.B) {
	ms := []int{4096 + 512, 1024 + 512}
	if s := os.Getenv("INVOKEGO_QBENCH_M"); s != "" {
		ms = nil
		for _, f := range splitComma(s) {
			m, err := strconv.Atoi(f)
			if err != nil || m < 1 {
				b.Fatalf("INVOKEGO_QBENCH_M: %q", s)
			}
			ms = append(ms, m)
		}
	}
	shapes := [][2]int{{3072, 3072}, {3072, 12288}} // in, out
	rng := rand.New(rand.NewPCG(9, 9))
	for _, sh := range shapes {
		in, out := sh[0], sh[1]
		weights := map[Type]Matrix{}
		for _, t := range []Type{BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K} {
			weights[t] = randomMatrix(rng, t, out, in)
		}
		for _, m := range ms {
			x := make([]float32, m*in)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			y := make([]float32, m*out)
			flops := 2 * float64(m) * float64(in) * float64(out)
			prefix := fmt.Sprintf("M%d_K%d_N%d", m, in, out)
			b.Run(prefix+"/bf16-prepacked", func(b *testing.B) {
				dense, _ := weights[BF16].Float32()
				tl, _ := tensor.NewLinear(in, out, dense, nil)
				tl.PackBF16()
				dense = nil
				runGEMM(b, flops, func() { tl.ForwardInto(y, x, m) })
			})
			b.Run(prefix+"/f32-prepacked", func(b *testing.B) {
				dense, _ := weights[BF16].Float32()
				tl, _ := tensor.NewLinear(in, out, dense, nil)
				tl.Pack()
				dense = nil
				runGEMM(b, flops, func() { tl.ForwardInto(y, x, m) })
			})
			for _, t := range []Type{BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K} {
				b.Run(prefix+"/"+t.String(), func(b *testing.B) {
					l, err := NewLinear(weights[t], nil, Options{Compute: ComputeBF16})
					if err != nil {
						b.Fatal(err)
					}
					runGEMM(b, flops, func() { l.ForwardInto(y, x, m) })
				})
			}
			b.Run(prefix+"/Q4_K-f32", func(b *testing.B) {
				l, err := NewLinear(weights[Q4_K], nil, Options{Compute: ComputeF32})
				if err != nil {
					b.Fatal(err)
				}
				runGEMM(b, flops, func() { l.ForwardInto(y, x, m) })
			})
		}
	}
	b.Logf("gemm backend %s, bf16 backend %s", gemm.Backend(), gemm.BF16Backend())
}

// runGEMM reports wall-clock GFLOP/s and GFLOP per CPU-second; the latter
// stays comparable when other processes share the machine.
func runGEMM(b *testing.B, flops float64, op func()) {
	op() // warm the scratch pools and page in the inputs
	b.ResetTimer()
	cpu0, haveCPU := processCPUTime()
	for b.Loop() {
		op()
	}
	total := flops * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu1, ok := processCPUTime(); ok && haveCPU && cpu1 > cpu0 {
		b.ReportMetric(total/(cpu1-cpu0).Seconds()/1e9, "GFLOP/cpu-s")
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// BenchmarkDecode measures the block decoders alone (ns per element).
func BenchmarkDecode(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, t := range decodableTypes() {
		m := randomMatrix(rng, t, 32, 3072)
		dst := make([]float32, 32*3072)
		b.Run(t.String(), func(b *testing.B) {
			for b.Loop() {
				m.DecodeRows(dst, 0, 32, 0, 3072)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(dst)), "ns/elem")
		})
	}
}

// BenchmarkDecodePack measures decoding plus packing for the GEMM (a
// one-row product, whose multiplication is negligible), in ns per weight.
func BenchmarkDecodePack(b *testing.B) {
	rng := rand.New(rand.NewPCG(4, 4))
	const in, out = 3072, 3072
	x := make([]float32, in)
	y := make([]float32, out)
	for _, t := range []Type{BF16, F16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K} {
		m := randomMatrix(rng, t, out, in)
		for _, c := range []Compute{ComputeF32, ComputeBF16} {
			l, _ := NewLinear(m, nil, Options{Compute: c})
			b.Run(fmt.Sprintf("%s/bf16=%v", t, c == ComputeBF16), func(b *testing.B) {
				cpu0, _ := processCPUTime()
				for b.Loop() {
					l.ForwardInto(y, x, 1)
				}
				cpu1, _ := processCPUTime()
				b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N)/float64(in*out), "cpu-ns/weight")
			})
		}
	}
}
