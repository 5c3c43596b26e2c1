package tensor

import (
	"fmt"

	"github.com/invokego/invokego/internal/engine/gemm"
)

// Linear is a fully connected layer y = x·Wᵀ + b with W stored as
// [Out, In] (the PyTorch layout).
type Linear struct {
	In, Out int
	Weight  []float32 // [Out, In]
	Bias    []float32 // [Out] or nil
	packed  *gemm.PackedB
}

// NewLinear validates the weight sizes and wraps them.
func NewLinear(in, out int, weight, bias []float32) (*Linear, error) {
	if len(weight) != in*out {
		return nil, fmt.Errorf("linear %d->%d: weight has %d elements", in, out, len(weight))
	}
	if bias != nil && len(bias) != out {
		return nil, fmt.Errorf("linear %d->%d: bias has %d elements", in, out, len(bias))
	}
	return &Linear{In: in, Out: out, Weight: weight, Bias: bias}, nil
}

// Pack pre-packs the weight into gemm's panel layout once, at load time,
// so products skip the per-call packing. The unpacked weight is released
// (Weight becomes nil) to avoid holding the parameters twice.
func (l *Linear) Pack() {
	if l.packed == nil {
		l.packed = gemm.PackB(true, l.In, l.Out, l.Weight, l.In)
		l.Weight = nil
	}
}

// ForwardInto computes rows×Out outputs from rows×In inputs into dst.
func (l *Linear) ForwardInto(dst, x []float32, rows int) {
	if l.packed != nil {
		gemm.SgemmPacked(rows, x, l.In, l.packed, dst, l.Out, false)
	} else {
		gemm.Sgemm(false, true, rows, l.Out, l.In, 1, x, l.In, l.Weight, l.In, 0, dst, l.Out)
	}
	if l.Bias != nil {
		addRowBias(dst[:rows*l.Out], l.Bias)
	}
}

// Forward applies the layer to the last dimension of x.
func (l *Linear) Forward(x *Tensor) *Tensor {
	if x.Dim(-1) != l.In {
		panic(fmt.Sprintf("linear: input %v, want last dim %d", x.Shape, l.In))
	}
	rows := len(x.Data) / l.In
	shape := append([]int(nil), x.Shape...)
	shape[len(shape)-1] = l.Out
	out := Empty(shape...)
	l.ForwardInto(out.Data, x.Data, rows)
	return out
}

// addRowBias adds bias to every row of a row-major matrix.
func addRowBias(m, bias []float32) {
	n := len(bias)
	parallelFor(len(m)/n, n, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := m[r*n : (r+1)*n]
			for i, b := range bias {
				row[i] += b
			}
		}
	})
}
