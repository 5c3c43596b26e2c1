package gemm

import (
	"fmt"
	"math"
	"runtime"
)

// Packing is linear: every packed element is one element of op(B) (or a zero of the padding), at a place
// that depends only on the shape and the backend. So the packing of B + D is the element-wise sum of the
// packings of B and D. Plus uses that to change a packed weight without its unpacked form (a LoRA merged
// into a run's copy of a layer, whose cached weight exists only packed).

func (pp packedPanels[E]) compatible(o packedPanels[E]) error {
	if pp.kern != o.kern || pp.k != o.k || pp.n != o.n || len(pp.data) != len(o.data) {
		return fmt.Errorf("gemm: packed %dx%d (%s) and %dx%d (%s) differ", pp.k, pp.n, pp.kern.name, o.k, o.n, o.kern.name)
	}
	return nil
}

// Plus returns a new packed matrix holding op(B) + op(D), d being packed from a matrix of the same shape by
// PackB on the same backend. The sums are exact float32 additions; pb and d are unchanged.
func (pb *PackedB) Plus(d *PackedB) (*PackedB, error) {
	defer runtime.KeepAlive(d) // both may be off the heap (offheap_linux.go)
	defer runtime.KeepAlive(pb)
	if err := pb.panels.compatible(d.panels); err != nil {
		return nil, err
	}
	out := packedPanels[float32]{kern: pb.panels.kern, k: pb.panels.k, n: pb.panels.n}
	out.data = alignedFloats(len(pb.panels.data))[:len(pb.panels.data)]
	a, b := pb.panels.data, d.panels.data
	for i := range a {
		out.data[i] = a[i] + b[i]
	}
	return &PackedB{panels: out}, nil
}

// Plus returns a new packed bfloat16 matrix holding op(B) + op(D) (d packed by PackBBF16 on the same
// backend from a matrix of the same shape): each pair of bfloat16 values is widened, added in float32 and
// rounded back to bfloat16.
func (pb *PackedBBF16) Plus(d *PackedBBF16) (*PackedBBF16, error) {
	defer runtime.KeepAlive(d) // both may be off the heap (offheap_linux.go)
	defer runtime.KeepAlive(pb)
	if err := pb.panels.compatible(d.panels); err != nil {
		return nil, err
	}
	out := packedPanels[uint32]{kern: pb.panels.kern, k: pb.panels.k, n: pb.panels.n}
	out.data = asElements[uint32](alignedFloats(len(pb.panels.data)))[:len(pb.panels.data)]
	a, b := pb.panels.data, d.panels.data
	widen := func(bits uint32) float32 { return math.Float32frombits(bits << 16) }
	for i := range a {
		x, y := a[i], b[i]
		out.data[i] = bf16Pair(widen(x&0xffff)+widen(y&0xffff), widen(x>>16)+widen(y>>16))
	}
	return &PackedBBF16{panels: out}, nil
}
