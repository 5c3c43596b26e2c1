package tensor

import (
	"fmt"

	"github.com/invokego/invokego/internal/engine/gemm"
)

// Delta is an additive change to what a linear or convolution layer
// computes, owned by one run (LoRA and its relatives): the layer's output
// gains Up · Down(x). Down has the layer's input and, for a convolution, its
// kernel, stride and padding, with Rank outputs; Up [Out, Rank] is a 1×1
// mixing of those outputs, or nil when Down already yields the layer's
// outputs (a full weight change, Rank = Out). A layer carrying deltas is a
// run's shallow copy of a cached layer, so the cached weights are never
// touched and a low-rank delta costs (In + Out)·Rank values.
type Delta struct {
	Linear *Linear   // Down of a linear layer: [Rank, In]
	Conv   *Conv2D   // Down of a convolution: Rank output channels
	Up     []float32 // [Out, Rank], or nil
	Rank   int
}

// addLinearDeltas adds the deltas of a linear layer for rows×In inputs x
// into dst (rows×out).
func addLinearDeltas(deltas []Delta, dst, x []float32, rows, out int) {
	for _, d := range deltas {
		if d.Up == nil {
			tmp := getBuffer(rows * out)
			d.Linear.ForwardInto(tmp, x, rows)
			AddInto(dst[:rows*out], dst[:rows*out], tmp)
			putBuffer(tmp)
			continue
		}
		tmp := getBuffer(rows * d.Rank)
		d.Linear.ForwardInto(tmp, x, rows)
		gemm.Sgemm(false, true, rows, out, d.Rank, 1, tmp, d.Rank, d.Up, d.Rank, 1, dst, out)
		putBuffer(tmp)
	}
}

// addConvDeltas adds the deltas of a convolution applied to x (NCHW) into
// its NCHW output y.
func addConvDeltas(deltas []Delta, y, x *Tensor) {
	n, outC := y.Shape[0], y.Shape[1]
	hw := y.Shape[2] * y.Shape[3]
	for _, d := range deltas {
		z := d.Conv.Forward(x)
		if d.Up == nil {
			AddInto(y.Data, y.Data, z.Data)
		} else {
			for b := 0; b < n; b++ {
				gemm.Sgemm(false, false, outC, hw, d.Rank, 1, d.Up, d.Rank, z.Data[b*d.Rank*hw:], hw, 1, y.Data[b*outC*hw:], hw)
			}
		}
		z.Release()
	}
}

// unpaddedDeltas returns the deltas of a convolution for its unpadded copy
// (see Conv2D.padded): the Down convolutions lose their padding too.
func unpaddedDeltas(deltas []Delta) []Delta {
	if len(deltas) == 0 {
		return nil
	}
	out := make([]Delta, len(deltas))
	for i, d := range deltas {
		c := *d.Conv
		c.PadTop, c.PadBottom, c.PadLeft, c.PadRight = 0, 0, 0, 0
		c.WrapX, c.WrapY = false, false
		d.Conv = &c
		out[i] = d
	}
	return out
}

// Merged returns a run's copy of the layer computing with the weight W + delta (delta [Out, In],
// row-major): the copy owns its weight (packed like the receiver's, exactly W + delta for float32 weights,
// rounded to bfloat16 for bfloat16 ones); the receiver is unchanged. This is how a run applies a LoRA at
// no cost per step, for the memory of the layers it changes.
func (l *Linear) Merged(delta []float32) (*Linear, error) {
	if len(delta) != l.In*l.Out {
		return nil, fmt.Errorf("linear %d->%d: weight change of %d values", l.In, l.Out, len(delta))
	}
	m := *l
	switch {
	case l.packed != nil:
		p, err := l.packed.Plus(gemm.PackB(true, l.In, l.Out, delta, l.In))
		if err != nil {
			return nil, err
		}
		m.packed = p
	case l.packedBF16 != nil:
		p, err := l.packedBF16.Plus(gemm.PackBBF16(true, l.In, l.Out, delta, l.In))
		if err != nil {
			return nil, err
		}
		m.packedBF16 = p
	default:
		m.Weight = make([]float32, len(delta))
		for i, d := range delta {
			m.Weight[i] = l.Weight[i] + d
		}
	}
	return &m, nil
}

// Merged is Linear.Merged for a convolution: delta is [OutC, InC, KH, KW].
func (c *Conv2D) Merged(delta []float32) (*Conv2D, error) {
	k := c.InC * c.KH * c.KW
	if len(delta) != k*c.OutC {
		return nil, fmt.Errorf("conv %dx%dx%d->%d: weight change of %d values", c.InC, c.KH, c.KW, c.OutC, len(delta))
	}
	m := *c
	switch {
	case c.packed != nil:
		p, err := c.packed.Plus(gemm.PackB(true, k, c.OutC, delta, k))
		if err != nil {
			return nil, err
		}
		m.packed = p
	case c.packedBF16 != nil:
		p, err := c.packedBF16.Plus(gemm.PackBBF16(true, k, c.OutC, delta, k))
		if err != nil {
			return nil, err
		}
		m.packedBF16 = p
	default:
		m.Weight = make([]float32, len(delta))
		for i, d := range delta {
			m.Weight[i] = c.Weight[i] + d
		}
	}
	return &m, nil
}
