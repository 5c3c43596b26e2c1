package tensor

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/invokego/invokego/internal/engine/gemm"
)

// TestAttentionBF16 compares the bf16 attention with the fp32 one: within
// bf16's rounding where the CPU has a bf16 kernel (and not bit-equal, so the
// bf16 products really ran), identical elsewhere. Shapes cover several
// query and key blocks and a head width that is not a multiple of 16.
func TestAttentionBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, sh := range [][5]int{{2, 1100, 1300, 3, 40}, {1, 77, 77, 2, 64}, {1, 5, 9, 1, 8}} {
		n, lq, lk, heads, hd := sh[0], sh[1], sh[2], sh[3], sh[4]
		q, k, v := randSlice(r, n*lq*heads*hd), randSlice(r, n*lk*heads*hd), randSlice(r, n*lk*heads*hd)
		want := make([]float32, len(q))
		got := make([]float32, len(q))
		Attention(q, k, v, n, lq, lk, heads, hd, false, want)
		AttentionBF16(q, k, v, n, lq, lk, heads, hd, got)
		maxErr := 0.0
		for i := range want {
			maxErr = max(maxErr, math.Abs(float64(got[i]-want[i])))
		}
		t.Logf("%v: max |bf16 - fp32| = %.3g", sh, maxErr)
		if !gemm.HasNativeBF16() {
			if maxErr != 0 {
				t.Errorf("%v: without a bf16 kernel AttentionBF16 must equal Attention, differs by %g", sh, maxErr)
			}
			continue
		}
		// Outputs are averages of unit-variance values; bf16 scores and
		// probabilities move them by well under 2 %.
		if maxErr > 0.02 || maxErr == 0 {
			t.Errorf("%v: max |bf16 - fp32| = %g, want in (0, 0.02]", sh, maxErr)
		}
	}
}
