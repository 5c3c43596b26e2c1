package flux

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/invokego/invokego/internal/engine/quant"
	"github.com/invokego/invokego/internal/engine/safetensors"
)

// Linear is a fully connected layer whatever the storage of its weight:
// float32, float16 and bfloat16 weights and ggml block quantizations are all
// multiplied where they lie (package quant decodes them panel by panel as
// the product packs them), so a memory-mapped file is never copied.
type Linear = quant.Layer

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

// toFloat32 converts float tensor bytes (biases, norm scales) to float32,
// aliasing them when they already are aligned float32 values.
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

// newLinear builds a layer from rows [r0, r1) of a stored [Out, In] weight;
// bias (nil or r1−r0 values) is used as given.
func newLinear(w StoredTensor, r0, r1 int, bias []float32, b quant.Builder) (Linear, error) {
	if len(w.Shape) != 2 {
		return nil, fmt.Errorf("weight of shape %v is not a matrix", w.Shape)
	}
	out, in := w.Shape[0], w.Shape[1]
	if r0 < 0 || r1 > out || r0 >= r1 {
		return nil, fmt.Errorf("rows [%d, %d) outside a weight of %d rows", r0, r1, out)
	}
	rb, ok := b.RowBytes(w.Type, in)
	if !ok {
		return nil, fmt.Errorf("weights of type %s with rows of %d are not supported", w.Type, in)
	}
	if int64(rb)*int64(out) != int64(len(w.Data)) {
		return nil, fmt.Errorf("weight %v of type %s has %d bytes, want %d", w.Shape, w.Type, len(w.Data), int64(rb)*int64(out))
	}
	if bias != nil && len(bias) != r1-r0 {
		return nil, fmt.Errorf("bias of %d values for %d outputs", len(bias), r1-r0)
	}
	return b.NewLinear(w.Type, w.Data[r0*rb:r1*rb], in, r1-r0, bias)
}
