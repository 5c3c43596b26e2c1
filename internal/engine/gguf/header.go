// Package gguf reads GGUF model files (the llama.cpp / ggml format that
// quantized FLUX and T5 checkpoints are published in): a header of typed
// metadata key–value pairs and tensor descriptions, then the tensor bytes,
// each tensor aligned within the data section.
//
// The header is untrusted input. Every count, length, dimension, type and
// offset is checked against the bytes actually present and against fixed
// limits before anything is allocated, so a hostile file yields an error,
// never a panic or a huge allocation (docs/security.md).
package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sort"

	"github.com/invokego/invokego/internal/engine/quant"
)

// Limits on the header. Published models stay far below them: LLM files
// carry tokenizer vocabularies of a few hundred thousand strings (well under
// 64 MiB of header), FLUX files a few hundred tensors.
const (
	// MaxHeaderBytes bounds the metadata and tensor descriptions together.
	MaxHeaderBytes = 64 << 20
	// MaxTensors bounds the tensor count.
	MaxTensors = 1 << 20
	// MaxStringBytes bounds one key or string value.
	MaxStringBytes = 1 << 20
	// MaxDims is ggml's dimension limit.
	MaxDims = 4
	// maxArrayDepth bounds nested metadata arrays.
	maxArrayDepth = 4
	// maxAlignment bounds general.alignment.
	maxAlignment = 1 << 16
)

// magic is "GGUF" read as a little-endian uint32.
const magic = 0x46554747

// DefaultAlignment is the data alignment when general.alignment is absent.
const DefaultAlignment = 32

// ValueType is the type tag of a metadata value.
type ValueType uint32

// Metadata value types.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

// scalarSize returns a fixed-size value type's byte size (0 for strings and arrays).
func (t ValueType) scalarSize() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

func (t ValueType) valid() bool { return t <= TypeFloat64 }

// Value is one metadata value. Scalars are held as uint64, int64, float64,
// bool or string according to their type; arrays as []Value.
type Value struct {
	Type ValueType
	// Elem is the element type of an array.
	Elem ValueType
	v    any
}

// Uint returns an unsigned or non-negative signed integer value.
func (v Value) Uint() (uint64, bool) {
	switch x := v.v.(type) {
	case uint64:
		return x, true
	case int64:
		if x >= 0 {
			return uint64(x), true
		}
	}
	return 0, false
}

// Int returns a signed or unsigned integer value that fits an int64.
func (v Value) Int() (int64, bool) {
	switch x := v.v.(type) {
	case int64:
		return x, true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

// Float returns a floating-point value.
func (v Value) Float() (float64, bool) {
	x, ok := v.v.(float64)
	return x, ok
}

// Bool returns a boolean value.
func (v Value) Bool() (bool, bool) {
	x, ok := v.v.(bool)
	return x, ok
}

// Str returns a string value.
func (v Value) Str() (string, bool) {
	x, ok := v.v.(string)
	return x, ok
}

// Array returns the elements of an array value.
func (v Value) Array() ([]Value, bool) {
	x, ok := v.v.([]Value)
	return x, ok
}

// String formats the value for messages and logs.
func (v Value) String() string {
	if a, ok := v.v.([]Value); ok {
		return fmt.Sprintf("[%d values]", len(a))
	}
	return fmt.Sprint(v.v)
}

// TensorInfo describes one tensor.
type TensorInfo struct {
	Name string
	Type quant.Type
	// Dims are ggml's ne, innermost (fastest-varying) first: a PyTorch
	// weight of shape [out, in] has Dims [in, out]. Shape returns the
	// PyTorch order.
	Dims []int
	// Offset is relative to the data section; Size is the byte count.
	Offset, Size int64
}

// Shape returns the dimensions outermost first (PyTorch's order).
func (t TensorInfo) Shape() []int {
	s := make([]int, len(t.Dims))
	for i, d := range t.Dims {
		s[len(s)-1-i] = d
	}
	return s
}

// Elements returns the element count.
func (t TensorInfo) Elements() int {
	n := 1
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Header is a parsed GGUF header.
type Header struct {
	Version   uint32
	Metadata  map[string]Value
	Tensors   []TensorInfo // in file order
	Alignment int
	// DataOffset is where the data section starts in the file; DataSize
	// is the bytes from there to the end of the file.
	DataOffset, DataSize int64

	byName map[string]int
}

// Tensor returns the description of the named tensor.
func (h *Header) Tensor(name string) (TensorInfo, bool) {
	i, ok := h.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	return h.Tensors[i], true
}

// String returns a string metadata value ("" when absent or not a string).
func (h *Header) String(key string) string {
	s, _ := h.Metadata[key].Str()
	return s
}

// reader walks the header bytes with bounds checks; the first error sticks.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("gguf: offset %d: %s", r.off, fmt.Sprintf(format, args...))
	}
}

func (r *reader) remaining() int { return len(r.b) - r.off }

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > r.remaining() {
		r.fail("need %d bytes, %d left in the header", n, r.remaining())
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// count reads a u64 element count and checks that count elements of at
// least minBytes each can still be present, which bounds any allocation by
// the header size.
func (r *reader) count(what string, minBytes int) int {
	n := r.u64()
	if r.err != nil {
		return 0
	}
	if n > uint64(r.remaining()/minBytes) {
		r.fail("%s count %d exceeds what the %d remaining header bytes can hold", what, n, r.remaining())
		return 0
	}
	return int(n)
}

func (r *reader) str() string {
	n := r.u64()
	if r.err != nil {
		return ""
	}
	if n > MaxStringBytes {
		r.fail("string of %d bytes exceeds the %d-byte limit", n, MaxStringBytes)
		return ""
	}
	return string(r.take(int(n)))
}

// value reads one value of type t; depth counts enclosing arrays.
func (r *reader) value(t ValueType, depth int) Value {
	v := Value{Type: t}
	switch t {
	case TypeUint8:
		if b := r.take(1); b != nil {
			v.v = uint64(b[0])
		}
	case TypeInt8:
		if b := r.take(1); b != nil {
			v.v = int64(int8(b[0]))
		}
	case TypeBool:
		if b := r.take(1); b != nil {
			if b[0] > 1 {
				r.fail("bool value %d", b[0])
			}
			v.v = b[0] == 1
		}
	case TypeUint16:
		if b := r.take(2); b != nil {
			v.v = uint64(binary.LittleEndian.Uint16(b))
		}
	case TypeInt16:
		if b := r.take(2); b != nil {
			v.v = int64(int16(binary.LittleEndian.Uint16(b)))
		}
	case TypeUint32:
		v.v = uint64(r.u32())
	case TypeInt32:
		v.v = int64(int32(r.u32()))
	case TypeFloat32:
		v.v = float64(math.Float32frombits(r.u32()))
	case TypeUint64:
		v.v = r.u64()
	case TypeInt64:
		v.v = int64(r.u64())
	case TypeFloat64:
		v.v = math.Float64frombits(r.u64())
	case TypeString:
		v.v = r.str()
	case TypeArray:
		if depth >= maxArrayDepth {
			r.fail("metadata arrays nested deeper than %d", maxArrayDepth)
			return v
		}
		v.Elem = ValueType(r.u32())
		if r.err == nil && !v.Elem.valid() {
			r.fail("unknown array element type %d", v.Elem)
			return v
		}
		// Strings and arrays take at least their 8-byte length prefix.
		minBytes := v.Elem.scalarSize()
		if minBytes == 0 {
			minBytes = 8
		}
		n := r.count("array element", minBytes)
		elems := make([]Value, 0, n)
		for range n {
			if r.err != nil {
				break
			}
			elems = append(elems, r.value(v.Elem, depth+1))
		}
		v.v = elems
	default:
		r.fail("unknown value type %d", t)
	}
	return v
}

// ParseHeader parses and validates the header at the start of b (the whole
// file, or at least its header); fileSize is the size of the whole file,
// against which tensor extents are checked.
func ParseHeader(b []byte, fileSize int64) (*Header, error) {
	if int64(len(b)) > fileSize {
		return nil, errors.New("gguf: header buffer longer than the file")
	}
	if len(b) > MaxHeaderBytes+24 {
		b = b[:MaxHeaderBytes+24]
	}
	r := &reader{b: b}
	if m := r.u32(); r.err == nil && m != magic {
		if bits.ReverseBytes32(m) == magic {
			return nil, errors.New("gguf: big-endian files are not supported")
		}
		return nil, fmt.Errorf("gguf: not a GGUF file (magic %#08x)", m)
	}
	h := &Header{Version: r.u32(), Alignment: DefaultAlignment}
	if r.err == nil && h.Version != 2 && h.Version != 3 {
		if h.Version&0xffff == 0 && h.Version != 0 {
			return nil, errors.New("gguf: big-endian files are not supported")
		}
		return nil, fmt.Errorf("gguf: unsupported version %d (2 and 3 are supported)", h.Version)
	}
	// A tensor description takes at least 8 (name length) + 4 (dims) + 4 (type) + 8 (offset) bytes.
	nTensors := r.u64()
	nKV := r.u64()
	if r.err != nil {
		return nil, r.err
	}
	if nTensors > MaxTensors {
		return nil, fmt.Errorf("gguf: %d tensors exceed the limit of %d", nTensors, MaxTensors)
	}
	if nKV > uint64(r.remaining()/13) {
		return nil, fmt.Errorf("gguf: %d metadata entries cannot fit in the header", nKV)
	}
	if nTensors > uint64(r.remaining()/24) {
		return nil, fmt.Errorf("gguf: %d tensor descriptions cannot fit in the header", nTensors)
	}
	h.Metadata = make(map[string]Value, nKV)
	for range nKV {
		key := r.str()
		t := ValueType(r.u32())
		if r.err != nil {
			break
		}
		if !t.valid() {
			r.fail("metadata %q has unknown type %d", key, t)
			break
		}
		if _, dup := h.Metadata[key]; dup {
			r.fail("duplicate metadata key %q", key)
			break
		}
		h.Metadata[key] = r.value(t, 0)
	}
	if r.err != nil {
		return nil, r.err
	}
	if v, ok := h.Metadata["general.alignment"]; ok {
		a, isInt := v.Uint()
		if !isInt || v.Type != TypeUint32 || a == 0 || a > maxAlignment || a&(a-1) != 0 {
			return nil, fmt.Errorf("gguf: general.alignment %v is not a power of two up to %d", v, maxAlignment)
		}
		h.Alignment = int(a)
	}

	h.Tensors = make([]TensorInfo, 0, nTensors)
	h.byName = make(map[string]int, nTensors)
	for i := range int(nTensors) {
		t := r.tensorInfo()
		if r.err != nil {
			return nil, r.err
		}
		if _, dup := h.byName[t.Name]; dup {
			return nil, fmt.Errorf("gguf: duplicate tensor %q", t.Name)
		}
		if t.Offset%int64(h.Alignment) != 0 {
			return nil, fmt.Errorf("gguf: tensor %q offset %d is not a multiple of the alignment %d", t.Name, t.Offset, h.Alignment)
		}
		h.byName[t.Name] = i
		h.Tensors = append(h.Tensors, t)
	}
	h.DataOffset = roundUp(int64(r.off), int64(h.Alignment))
	if h.DataOffset > fileSize {
		if len(h.Tensors) > 0 || int64(r.off) > fileSize {
			return nil, fmt.Errorf("gguf: data section starts at %d, past the end of the %d-byte file", h.DataOffset, fileSize)
		}
		h.DataOffset = fileSize // a file of metadata only may end unpadded
	}
	h.DataSize = fileSize - h.DataOffset
	if err := h.checkExtents(); err != nil {
		return nil, err
	}
	return h, nil
}

// tensorInfo reads and validates one tensor description (except its
// offset's alignment and extent, which need the whole header).
func (r *reader) tensorInfo() TensorInfo {
	t := TensorInfo{Name: r.str()}
	nDims := r.u32()
	if r.err != nil {
		return t
	}
	if nDims > MaxDims {
		r.fail("tensor %q has %d dimensions (at most %d)", t.Name, nDims, MaxDims)
		return t
	}
	t.Dims = make([]int, nDims)
	elems := uint64(1)
	for i := range t.Dims {
		d := r.u64()
		if r.err != nil {
			return t
		}
		if d > math.MaxInt64 {
			r.fail("tensor %q dimension %d is %d", t.Name, i, d)
			return t
		}
		hi, lo := bits.Mul64(elems, d)
		if hi != 0 || lo > math.MaxInt64 {
			r.fail("tensor %q element count overflows", t.Name)
			return t
		}
		elems = lo
		t.Dims[i] = int(d)
	}
	t.Type = quant.Type(r.u32())
	off := r.u64()
	if r.err != nil {
		return t
	}
	if !t.Type.Known() {
		r.fail("tensor %q has unknown ggml type %d", t.Name, uint32(t.Type))
		return t
	}
	if off > math.MaxInt64 {
		r.fail("tensor %q offset %d out of range", t.Name, off)
		return t
	}
	t.Offset = int64(off)
	inner := 1
	if len(t.Dims) > 0 {
		inner = t.Dims[0]
	}
	rowBytes, err := quant.RowBytes(t.Type, inner)
	if err != nil {
		r.fail("tensor %q: %v", t.Name, err)
		return t
	}
	rows := uint64(1)
	if inner != 0 {
		rows = elems / uint64(inner)
	} else if len(t.Dims) > 1 {
		rows = 0
	}
	hi, size := bits.Mul64(rows, uint64(rowBytes))
	if hi != 0 || size > math.MaxInt64 {
		r.fail("tensor %q byte size overflows", t.Name)
		return t
	}
	t.Size = int64(size)
	return t
}

// checkExtents verifies that every tensor lies inside the data section and
// that no two overlap.
func (h *Header) checkExtents() error {
	order := make([]int, len(h.Tensors))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return h.Tensors[order[a]].Offset < h.Tensors[order[b]].Offset })
	end := int64(0)
	prev := ""
	for _, i := range order {
		t := h.Tensors[i]
		if t.Offset > h.DataSize || t.Size > h.DataSize-t.Offset {
			return fmt.Errorf("gguf: tensor %q (%d bytes at %d) extends past the %d-byte data section", t.Name, t.Size, t.Offset, h.DataSize)
		}
		if t.Size > 0 && t.Offset < end {
			return fmt.Errorf("gguf: tensors %q and %q overlap", prev, t.Name)
		}
		if t.Size > 0 {
			end, prev = t.Offset+t.Size, t.Name
		}
	}
	return nil
}

func roundUp(x, to int64) int64 { return (x + to - 1) / to * to }
