package lora

import (
	"fmt"

	"github.com/invokego/invokego/internal/engine/gemm"
)

// Delta returns the layer's scaled weight change s·ΔW for a module of the
// given weight shape, as a new row-major slice of that shape. The shape is
// checked first, so the allocation is the module's own size.
func (l *Layer) Delta(shape []int) ([]float32, error) {
	if err := l.fits(shape); err != nil {
		return nil, fmt.Errorf("lora: %s: %w", l.Key, err)
	}
	rows, cols := l.productSize()
	out := make([]float32, rows*cols)
	switch l.Kind {
	case KindLoRA:
		up, down := l.params["up"], l.params["down"]
		matmul(out, up.data, down.data, rows, down.rows(), cols)
	case KindLoHa:
		w1a, w1b := l.params["hada_w1_a"], l.params["hada_w1_b"]
		w2a, w2b := l.params["hada_w2_a"], l.params["hada_w2_b"]
		matmul(out, w1a.data, w1b.data, rows, w1b.rows(), cols)
		p2 := make([]float32, rows*cols)
		matmul(p2, w2a.data, w2b.data, rows, w2b.rows(), cols)
		for i := range out {
			out[i] *= p2[i]
		}
	case KindLoKr:
		a, b, w1 := l.factor("lokr_w1")
		c, d, w2 := l.factor("lokr_w2")
		kron(out, w1, a, b, w2, c, d)
	}
	if s := l.Scale(); s != 1 {
		for i := range out {
			out[i] *= s
		}
	}
	return out, nil
}

// factor returns a LoKr factor as a matrix, multiplying it out when stored
// as a product (a 4-D full factor is viewed as [c, d·kh·kw]).
func (l *Layer) factor(side string) (rows, cols int, m []float32) {
	if p, ok := l.params[side]; ok {
		return p.rows(), p.cols(), p.data
	}
	a, b := l.params[side+"_a"], l.params[side+"_b"]
	rows, cols = a.rows(), b.cols()
	m = make([]float32, rows*cols)
	matmul(m, a.data, b.data, rows, b.rows(), cols)
	return rows, cols, m
}

// matmul sets c [m, n] = a [m, k] · b [k, n].
func matmul(c, a, b []float32, m, k, n int) {
	gemm.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
}

// kron sets out [a·c, b·d] to the Kronecker product of x [a, b] and y [c, d]:
// out[i·c+k, j·d+l] = x[i, j]·y[k, l]. For a 4-D y [c, d', kh, kw] viewed as
// [c, d'·kh·kw] this is the same as the 4-D product with x[:, :, None, None]
// reshaped to [a·c, b·d'·kh·kw].
func kron(out, x []float32, a, b int, y []float32, c, d int) {
	cols := b * d
	for i := 0; i < a; i++ {
		for j := 0; j < b; j++ {
			v := x[i*b+j]
			for k := 0; k < c; k++ {
				dst := out[(i*c+k)*cols+j*d:][:d]
				src := y[k*d : (k+1)*d]
				for l, s := range src {
					dst[l] = v * s
				}
			}
		}
	}
}
