package flux

import "math"

// ropeTheta is the base of FLUX's rotary frequencies.
const ropeTheta = 10000

// rope holds the rotation of every position of the joint sequence (text
// first): cos and sin per token and per rotated pair of the head width.
type rope struct {
	pairs    int       // head width / 2
	cos, sin []float32 // [tokens, pairs]
}

// newRope computes the rotations for the joint sequence [txtIDs; imgIDs]
// (3 ids per token). Axis i covers axes[i] consecutive head elements; its
// pair k turns by pos·10000^(−2k/axes[i]), computed in float64 and rounded
// to float32 as diffusers does.
func newRope(axes []int, txtIDs, imgIDs []float32) *rope {
	headDim := 0
	for _, a := range axes {
		headDim += a
	}
	pairs := headDim / 2
	tokens := (len(txtIDs) + len(imgIDs)) / 3
	r := &rope{pairs: pairs, cos: make([]float32, tokens*pairs), sin: make([]float32, tokens*pairs)}
	// Frequencies per pair, with the id axis each pair reads.
	freqs := make([]float64, 0, pairs)
	axisOf := make([]int, 0, pairs)
	for ax, d := range axes {
		for k := 0; k < d/2; k++ {
			freqs = append(freqs, 1/math.Pow(ropeTheta, float64(2*k)/float64(d)))
			axisOf = append(axisOf, ax)
		}
	}
	for tok := range tokens {
		var id []float32
		if tok*3 < len(txtIDs) {
			id = txtIDs[tok*3 : tok*3+3]
		} else {
			o := tok*3 - len(txtIDs)
			id = imgIDs[o : o+3]
		}
		for p, f := range freqs {
			angle := float64(id[axisOf[p]]) * f
			r.cos[tok*pairs+p] = float32(math.Cos(angle))
			r.sin[tok*pairs+p] = float32(math.Sin(angle))
		}
	}
	return r
}

// apply rotates adjacent pairs (2k, 2k+1) of every head of every token of
// x [tokens, heads·2·pairs] in place.
func (r *rope) apply(x []float32, heads int) {
	hd := 2 * r.pairs
	width := heads * hd
	parallelRows(len(x)/width, width, func(t0, t1 int) {
		for tok := t0; tok < t1; tok++ {
			cs := r.cos[tok*r.pairs : (tok+1)*r.pairs]
			sn := r.sin[tok*r.pairs : (tok+1)*r.pairs]
			for hh := range heads {
				seg := x[tok*width+hh*hd : tok*width+(hh+1)*hd]
				for k, c := range cs {
					s := sn[k]
					a, b := seg[2*k], seg[2*k+1]
					seg[2*k] = float32(a*c) - float32(b*s)
					seg[2*k+1] = float32(b*c) + float32(a*s)
				}
			}
		}
	})
}
