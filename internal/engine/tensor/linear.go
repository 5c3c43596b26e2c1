package tensor

import (
	"fmt"

	"github.com/invokego/invokego/internal/engine/gemm"
)

// Linear is a fully connected layer y = x·Wᵀ + b with W stored as
// [Out, In] (the PyTorch layout).
type Linear struct {
	In, Out    int
	Weight     []float32 // [Out, In]
	Bias       []float32 // [Out] or nil
	packed     *gemm.PackedB
	packedBF16 *gemm.PackedBBF16

	// Deltas are a run's additions to the output (see Delta); only ever
	// set on a run's shallow copy of the layer.
	Deltas []Delta
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
	if l.packed == nil && l.packedBF16 == nil {
		l.packed = gemm.PackB(true, l.In, l.Out, l.Weight, l.In)
		l.Weight = nil
	}
}

// PackBF16 is Pack with the weight rounded to bfloat16 (half the memory;
// about twice the speed where the CPU has AVX512_BF16). See gemm's accuracy note.
func (l *Linear) PackBF16() {
	if l.packed == nil && l.packedBF16 == nil {
		l.packedBF16 = gemm.PackBBF16(true, l.In, l.Out, l.Weight, l.In)
		l.Weight = nil
	}
}

// ForwardInto computes rows×Out outputs from rows×In inputs into dst.
func (l *Linear) ForwardInto(dst, x []float32, rows int) {
	if l.packed != nil {
		gemm.SgemmPacked(rows, x, l.In, l.packed, dst, l.Out, false)
	} else if l.packedBF16 != nil {
		gemm.SgemmPackedBF16(rows, x, l.In, l.packedBF16, dst, l.Out, false)
	} else {
		gemm.Sgemm(false, true, rows, l.Out, l.In, 1, x, l.In, l.Weight, l.In, 0, dst, l.Out)
	}
	if l.Bias != nil {
		addRowBias(dst[:rows*l.Out], l.Bias)
	}
	if len(l.Deltas) > 0 {
		addLinearDeltas(l.Deltas, dst, x, rows, l.Out)
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

// ForwardNCHW applies the layer to the channels of x [N, In, H, W] and
// returns tokens [N, H·W, Out]: NCHWToTokens followed by Forward, with the
// transpose folded into the packing of the product when the weight is packed.
func (l *Linear) ForwardNCHW(x *Tensor) *Tensor {
	if len(x.Shape) != 4 || x.Shape[1] != l.In {
		panic(fmt.Sprintf("linear: NCHW input %v, want [N,%d,H,W]", x.Shape, l.In))
	}
	n, h, w := x.Shape[0], x.Shape[2], x.Shape[3]
	if (l.packed == nil && l.packedBF16 == nil) || len(l.Deltas) > 0 {
		t := NCHWToTokens(x)
		out := l.Forward(t)
		t.Release()
		return out
	}
	in := gemm.ConvInput{X: x.Data, N: n, C: l.In, H: h, W: w, KH: 1, KW: 1, Stride: 1, OutH: h, OutW: w}
	out := Empty(n, h*w, l.Out)
	if l.packed != nil {
		gemm.SgemmConvPacked(&in, l.packed, out.Data, l.Out, false)
	} else {
		gemm.SgemmConvPackedBF16(&in, l.packedBF16, out.Data, l.Out, false)
	}
	if l.Bias != nil {
		addRowBias(out.Data, l.Bias)
	}
	return out
}

// ForwardToNCHW applies the layer to tokens [N, h·w, In] and returns NCHW
// [N, Out, h, w], plus residual (same shape) when it is not nil: Forward,
// TokensToNCHW and an addition with a single pass over the output.
func (l *Linear) ForwardToNCHW(tokens *Tensor, h, w int, residual *Tensor) *Tensor {
	if len(tokens.Shape) != 3 || tokens.Shape[1] != h*w || tokens.Shape[2] != l.In {
		panic(fmt.Sprintf("linear: tokens %v for %dx%d, want last dim %d", tokens.Shape, h, w, l.In))
	}
	n := tokens.Shape[0]
	tmp := getBuffer(n * h * w * l.Out)
	l.ForwardInto(tmp, tokens.Data, n*h*w)
	out := Empty(n, l.Out, h, w)
	var res []float32
	if residual != nil {
		res = residual.Data[:len(out.Data)]
	}
	pixelsToChannels(out.Data, tmp, 0, n*h*w, h*w, l.Out, nil, res) // bias already added
	putBuffer(tmp)
	return out
}
