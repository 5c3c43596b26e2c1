package quant

import (
	"fmt"

	"github.com/invokego/invokego/internal/engine/gemm"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// Layer is what model code needs from a fully connected layer y = x·Wᵀ + b
// whose weight may be stored as float32, float16, bfloat16 or a ggml block
// quantization: model code programs against Layer and the loader decides
// the storage (a model package may declare `type Linear = quant.Layer`).
// *Linear implements it for every storage, Builder makes one from raw
// bytes and a ggml type name, and Dense adapts an existing *tensor.Linear.
//
// ForwardInto reads rows×InFeatures inputs from x and writes
// rows×OutFeatures outputs to dst (both row-major, not overlapping), bias
// included. Implementations are immutable and safe for concurrent use.
type Layer interface {
	InFeatures() int
	OutFeatures() int
	ForwardInto(dst, x []float32, rows int)
}

// Forward applies l to the last dimension of x and returns a tensor from
// the activation pool.
func Forward(l Layer, x *tensor.Tensor) *tensor.Tensor {
	in, out := l.InFeatures(), l.OutFeatures()
	if x.Dim(-1) != in {
		panic(fmt.Sprintf("quant: linear input %v, want last dim %d", x.Shape, in))
	}
	shape := append([]int(nil), x.Shape...)
	shape[len(shape)-1] = out
	y := tensor.Empty(shape...)
	l.ForwardInto(y.Data, x.Data, len(x.Data)/max(in, 1))
	return y
}

// Compute selects the arithmetic of a product.
type Compute int

const (
	// ComputeF32 multiplies the exactly decoded weights with float32
	// activations in float32 (the goldens' arithmetic).
	ComputeF32 Compute = iota
	// ComputeBF16 uses the bfloat16 GEMM kernel where the CPU has one:
	// weights and activations are rounded to bfloat16, products summed in
	// float32 (see package gemm's accuracy note). Elsewhere it is ComputeF32.
	ComputeBF16
)

// Options configure NewLinear.
type Options struct {
	Compute Compute
	// Prepack expands the weight once, at construction, into the GEMM's
	// packed layout on the heap (4 bytes a weight for ComputeF32, 2 for
	// ComputeBF16) instead of decoding it at every call: faster for small
	// batches, but the memory saving of a compact weight is gone.
	Prepack bool
}

// Linear is a fully connected layer over a Matrix weight ([out, in]).
type Linear struct {
	in, out int
	weight  Matrix
	bias    []float32
	compute Compute
	packed  *tensor.Linear // set with Options.Prepack
}

// NewLinear builds y = x·Wᵀ + b. bias may be nil or hold w.Rows values.
// The weight must be decodable; it is referenced, not copied, unless
// opts.Prepack.
func NewLinear(w Matrix, bias []float32, opts Options) (*Linear, error) {
	if !w.Type.Decodable() {
		return nil, fmt.Errorf("quant: linear weight of type %s cannot be decoded", w.Type)
	}
	if bias != nil && len(bias) != w.Rows {
		return nil, fmt.Errorf("quant: linear %d->%d: bias has %d values", w.Cols, w.Rows, len(bias))
	}
	if _, err := NewMatrix(w.Type, w.Rows, w.Cols, w.Data); err != nil {
		return nil, err
	}
	l := &Linear{in: w.Cols, out: w.Rows, weight: w, bias: bias, compute: opts.Compute}
	if opts.Prepack {
		dense, err := w.Float32()
		if err != nil {
			return nil, err
		}
		tl, err := tensor.NewLinear(w.Cols, w.Rows, dense, bias)
		if err != nil {
			return nil, err
		}
		if opts.Compute == ComputeBF16 {
			tl.PackBF16()
		} else {
			tl.Pack()
		}
		l.packed, l.weight = tl, Matrix{Type: w.Type, Rows: w.Rows, Cols: w.Cols}
	}
	return l, nil
}

// InFeatures implements Layer.
func (l *Linear) InFeatures() int { return l.in }

// OutFeatures implements Layer.
func (l *Linear) OutFeatures() int { return l.out }

// Weight returns the weight matrix (without bytes after Prepack).
func (l *Linear) Weight() Matrix { return l.weight }

// ForwardInto implements Layer.
func (l *Linear) ForwardInto(dst, x []float32, rows int) {
	if l.packed != nil {
		l.packed.ForwardInto(dst, x, rows)
		return
	}
	gemm.SgemmSource(rows, x, l.in, l.weight, dst, l.out, false, l.compute == ComputeBF16)
	if l.bias != nil {
		addBias(dst[:rows*l.out], l.bias)
	}
}

func addBias(m, bias []float32) {
	n := len(bias)
	for r := 0; r+n <= len(m); r += n {
		row := m[r : r+n]
		for i, b := range bias {
			row[i] += b
		}
	}
}

// Dense adapts a *tensor.Linear (float32 or prepacked weights) to Layer.
type Dense struct{ *tensor.Linear }

// InFeatures implements Layer.
func (d Dense) InFeatures() int { return d.In }

// OutFeatures implements Layer.
func (d Dense) OutFeatures() int { return d.Out }

// Builder makes layers from raw weight bytes of a type named as ggml and
// GGUF name it ("F32", "F16", "BF16", "Q8_0", "Q4_K", ...), for loaders
// that hold tensors as (type name, bytes): a GGUF file, or a safetensors
// file whose dtype names coincide for the float types.
type Builder struct {
	Options
}

// RowBytes returns the bytes of one weight row of in elements of type
// typ, or false when the type is unknown, cannot be decoded, or in is not
// a whole number of its blocks.
func (b Builder) RowBytes(typ string, in int) (int, bool) {
	t, ok := ParseType(typ)
	if !ok || !t.Decodable() {
		return 0, false
	}
	n, err := RowBytes(t, in)
	return n, err == nil
}

// NewLinear builds a layer over out rows of in elements stored in data
// (referenced, not copied, unless Prepack), plus bias (nil or out values).
func (b Builder) NewLinear(typ string, data []byte, in, out int, bias []float32) (Layer, error) {
	t, ok := ParseType(typ)
	if !ok {
		return nil, fmt.Errorf("quant: unknown weight type %q", typ)
	}
	w, err := NewMatrix(t, out, in, data)
	if err != nil {
		return nil, err
	}
	l, err := NewLinear(w, bias, b.Options)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return l, nil
}
