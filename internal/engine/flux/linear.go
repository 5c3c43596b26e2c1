package flux

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/invokego/invokego/internal/engine/safetensors"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// Linear is a fully connected layer y = x·Wᵀ + b whatever the storage of W
// (float32 in place, widened float16/bfloat16, or a quantized format).
// Implementations are immutable and safe for concurrent use.
type Linear interface {
	InFeatures() int
	OutFeatures() int
	// ForwardInto computes rows×OutFeatures outputs from rows×InFeatures
	// inputs (both row-major, packed) into dst.
	ForwardInto(dst, x []float32, rows int)
}

// QuantLinears builds linear layers from weights stored in formats this
// package does not decode itself (GGUF block types). RowBytes reports the
// byte length of one weight row of in elements, or false for an unknown
// type; NewLinear wraps out rows of such data (not copied).
type QuantLinears interface {
	RowBytes(typ string, in int) (int, bool)
	NewLinear(typ string, data []byte, in, out int, bias []float32) (Linear, error)
}

// denseLinear multiplies by a float32 weight [Out, In]: in place when the
// store's bytes could be used directly, else a widened copy.
type denseLinear struct{ l *tensor.Linear }

func (d denseLinear) InFeatures() int                        { return d.l.In }
func (d denseLinear) OutFeatures() int                       { return d.l.Out }
func (d denseLinear) ForwardInto(dst, x []float32, rows int) { d.l.ForwardInto(dst, x, rows) }

// littleEndian reports whether float32 values can be read straight from
// little-endian file bytes.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// floatsInPlace returns b viewed as float32 values when the platform's byte
// order and b's alignment allow it, without copying; ok is false otherwise.
func floatsInPlace(b []byte) ([]float32, bool) {
	if len(b) == 0 || len(b)%4 != 0 || !littleEndian || uintptr(unsafe.Pointer(&b[0]))%4 != 0 {
		return nil, false
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4), true
}

// toFloat32 converts float tensor bytes to float32, aliasing them when
// they already are aligned float32 values.
func toFloat32(typ string, b []byte) ([]float32, error) {
	if typ == "F32" {
		if f, ok := floatsInPlace(b); ok {
			return f, nil
		}
	}
	switch typ {
	case "F32", "F16", "BF16", "F64":
		return safetensors.ToFloat32(safetensors.DType(typ), b)
	}
	return nil, fmt.Errorf("element type %s is not a float type", typ)
}

// floatElemSize returns the byte size of the float element types read here.
func floatElemSize(typ string) int {
	switch typ {
	case "F32":
		return 4
	case "F16", "BF16":
		return 2
	case "F64":
		return 8
	}
	return 0
}

// rowBytes is the byte length of one row of in elements of type typ.
func rowBytes(typ string, in int, q QuantLinears) (int, error) {
	if s := floatElemSize(typ); s > 0 {
		return s * in, nil
	}
	if q != nil {
		if n, ok := q.RowBytes(typ, in); ok {
			return n, nil
		}
	}
	return 0, fmt.Errorf("weights of type %s are not supported", typ)
}

// newLinear builds a layer from rows [r0, r1) of a stored [Out, In] weight;
// bias (nil or r1−r0 values) is used as given.
func newLinear(w StoredTensor, r0, r1 int, bias []float32, q QuantLinears) (Linear, error) {
	if len(w.Shape) != 2 {
		return nil, fmt.Errorf("weight of shape %v is not a matrix", w.Shape)
	}
	out, in := w.Shape[0], w.Shape[1]
	if r0 < 0 || r1 > out || r0 >= r1 {
		return nil, fmt.Errorf("rows [%d, %d) outside a weight of %d rows", r0, r1, out)
	}
	rb, err := rowBytes(w.Type, in, q)
	if err != nil {
		return nil, err
	}
	if int64(rb)*int64(out) != int64(len(w.Data)) {
		return nil, fmt.Errorf("weight %v of type %s has %d bytes, want %d", w.Shape, w.Type, len(w.Data), int64(rb)*int64(out))
	}
	data := w.Data[r0*rb : r1*rb]
	if bias != nil && len(bias) != r1-r0 {
		return nil, fmt.Errorf("bias of %d values for %d outputs", len(bias), r1-r0)
	}
	if floatElemSize(w.Type) == 0 {
		return q.NewLinear(w.Type, data, in, r1-r0, bias)
	}
	f, err := toFloat32(w.Type, data)
	if err != nil {
		return nil, err
	}
	l, err := tensor.NewLinear(in, r1-r0, f, bias)
	if err != nil {
		return nil, err
	}
	return denseLinear{l}, nil
}

// forward applies l to rows×In inputs and returns a rows×Out tensor from
// the activation pool (Release it when done).
func forward(l Linear, x []float32, rows int) *tensor.Tensor {
	out := tensor.Empty(rows, l.OutFeatures())
	l.ForwardInto(out.Data, x, rows)
	return out
}
