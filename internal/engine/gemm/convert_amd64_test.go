//go:build amd64

package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestConvertAVX checks the in-place pair conversion against bf16Pair for
// row widths around the 16-lane chunks (masked tails) and rounding corners.
func TestConvertAVX(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, mr := range []int{1, 3, 4, 12, 15, 16, 17, 32, 33, 40} {
		for _, pairs := range []int{1, 2, 7} {
			src := make([]float32, 2*pairs*mr)
			for i := range src {
				src[i] = rng.Float32()*4 - 2
				if rng.IntN(4) == 0 {
					src[i] = math.Float32frombits(specialFloats[rng.IntN(len(specialFloats))])
				}
			}
			buf := append([]float32(nil), src...)
			dst := asElements[uint32](buf)
			done := convertAVX(dst, pairs, mr)
			for q := range done {
				for i := range mr {
					if want := bf16Pair(src[2*q*mr+i], src[(2*q+1)*mr+i]); dst[q*mr+i] != want {
						t.Fatalf("mr=%d pairs=%d: (%d,%d) = %#08x, want %#08x", mr, pairs, q, i, dst[q*mr+i], want)
					}
				}
			}
			if done != pairs && mr%4 == 0 {
				t.Errorf("mr=%d: converted %d of %d pairs", mr, done, pairs)
			}
		}
	}
}
