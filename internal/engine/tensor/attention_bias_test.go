package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// naiveBiasAttention is softmax(q·kᵀ/√d + bias)·v in float64, bias [batch, lq, lk] shared by the heads.
func naiveBiasAttention(q, k, v, bias []float32, batch, lq, lk, heads, hd int) []float32 {
	w := heads * hd
	out := make([]float32, batch*lq*w)
	scores := make([]float64, lk)
	for b := 0; b < batch; b++ {
		for h := 0; h < heads; h++ {
			for i := 0; i < lq; i++ {
				m := math.Inf(-1)
				for j := 0; j < lk; j++ {
					var s float64
					for d := 0; d < hd; d++ {
						s += float64(q[(b*lq+i)*w+h*hd+d]) * float64(k[(b*lk+j)*w+h*hd+d])
					}
					scores[j] = s/math.Sqrt(float64(hd)) + float64(bias[(b*lq+i)*lk+j])
					m = max(m, scores[j])
				}
				var sum float64
				for j := range scores[:lk] {
					scores[j] = math.Exp(scores[j] - m)
					sum += scores[j]
				}
				for d := 0; d < hd; d++ {
					var acc float64
					for j := 0; j < lk; j++ {
						acc += scores[j] * float64(v[(b*lk+j)*w+h*hd+d])
					}
					out[(b*lq+i)*w+h*hd+d] = float32(acc / sum)
				}
			}
		}
	}
	return out
}

// AttentionBias adds the bias to the scores of every head, across query and key blocks; a bias of -10000
// on some keys (a regional prompt's mask) is the same as leaving those keys out.
func TestAttentionBias(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct{ batch, lq, lk, heads, hd int }{
		{2, 64, 154, 4, 8},
		{1, attnQueryBlock + 30, attnKeyBlock + 77, 2, 4},
	} {
		w := c.heads * c.hd
		q, k, v := randSlice(r, c.batch*c.lq*w), randSlice(r, c.batch*c.lk*w), randSlice(r, c.batch*c.lk*w)
		bias := make([]float32, c.batch*c.lq*c.lk)
		for i := range bias {
			switch r.IntN(3) {
			case 0:
				bias[i] = -10000
			case 1:
				bias[i] = float32(r.NormFloat64())
			}
		}
		out := make([]float32, len(q))
		AttentionBias(q, k, v, bias, c.batch, c.lq, c.lk, c.heads, c.hd, out)
		assertClose(t, "attention with bias", out, naiveBiasAttention(q, k, v, bias, c.batch, c.lq, c.lk, c.heads, c.hd), 1e-5)
	}
	// Keys masked with -10000 for every query: the same as attending to the other keys only.
	const lq, lk, keep, hd = 10, 12, 5, 8
	q, k, v := randSlice(r, lq*hd), randSlice(r, lk*hd), randSlice(r, lk*hd)
	bias := make([]float32, lq*lk)
	for i := 0; i < lq; i++ {
		for j := keep; j < lk; j++ {
			bias[i*lk+j] = -10000
		}
	}
	got, want := make([]float32, lq*hd), make([]float32, lq*hd)
	AttentionBias(q, k, v, bias, 1, lq, lk, 1, hd, got)
	Attention(q, k[:keep*hd], v[:keep*hd], 1, lq, keep, 1, hd, false, want)
	assertClose(t, "masked keys", got, want, 1e-6)
}
