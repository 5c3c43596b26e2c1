// Package safetensors reads and writes the safetensors tensor file format:
// an 8-byte little-endian header length, a JSON header describing every
// tensor, then the raw little-endian tensor bytes.
//
// Every header field is validated before use, because model files come from
// users and the network; a malformed header must produce an error, never a
// panic or an out-of-bounds slice.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
)

// MaxHeaderSize bounds the JSON header. Real checkpoints have headers of a
// few hundred kilobytes; the limit keeps a hostile length from forcing a huge
// allocation.
const MaxHeaderSize = 100 << 20

// DType is a safetensors element type name as it appears in the header.
type DType string

// Element types listed by the safetensors specification.
const (
	F64    DType = "F64"
	F32    DType = "F32"
	F16    DType = "F16"
	BF16   DType = "BF16"
	I64    DType = "I64"
	I32    DType = "I32"
	I16    DType = "I16"
	I8     DType = "I8"
	U8     DType = "U8"
	BOOL   DType = "BOOL"
	F8E4M3 DType = "F8_E4M3"
	F8E5M2 DType = "F8_E5M2"
	U16    DType = "U16"
	U32    DType = "U32"
	U64    DType = "U64"
)

// Size returns the element size in bytes, or 0 for an unknown type.
func (d DType) Size() int {
	switch d {
	case F64, I64, U64:
		return 8
	case F32, I32, U32:
		return 4
	case F16, BF16, I16, U16:
		return 2
	case I8, U8, BOOL, F8E4M3, F8E5M2:
		return 1
	}
	return 0
}

// TensorInfo describes one tensor in a file.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int
	// Begin and End are byte offsets relative to the start of the data
	// section (the byte after the JSON header).
	Begin, End int64
}

// NumElements returns the product of the shape (1 for a scalar).
func (t *TensorInfo) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Header is a parsed and validated safetensors header.
type Header struct {
	// DataOffset is the absolute file offset of the data section.
	DataOffset int64
	// DataSize is the length of the data section in bytes.
	DataSize int64
	// Metadata holds the optional "__metadata__" string map.
	Metadata map[string]string
	// Tensors lists tensors in data-offset order.
	Tensors []TensorInfo
	byName  map[string]int
}

// Info returns the description of the named tensor.
func (h *Header) Info(name string) (TensorInfo, bool) {
	i, ok := h.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	return h.Tensors[i], true
}

// Names returns the tensor names sorted alphabetically.
func (h *Header) Names() []string {
	names := make([]string, 0, len(h.Tensors))
	for _, t := range h.Tensors {
		names = append(names, t.Name)
	}
	sort.Strings(names)
	return names
}

type rawTensor struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// ParseHeader reads and validates the header of a safetensors file of the
// given total size.
func ParseHeader(r io.ReaderAt, size int64) (*Header, error) {
	if size < 8 {
		return nil, fmt.Errorf("safetensors: file too small (%d bytes)", size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: read header length: %w", err)
	}
	hlen := binary.LittleEndian.Uint64(lenBuf[:])
	if hlen > MaxHeaderSize {
		return nil, fmt.Errorf("safetensors: header length %d exceeds limit %d", hlen, MaxHeaderSize)
	}
	if hlen > uint64(size-8) {
		return nil, fmt.Errorf("safetensors: header length %d exceeds file size %d", hlen, size)
	}
	buf := make([]byte, hlen)
	if _, err := r.ReadAt(buf, 8); err != nil {
		return nil, fmt.Errorf("safetensors: read header: %w", err)
	}
	h, err := parseHeaderJSON(buf, size-8-int64(hlen))
	if err != nil {
		return nil, err
	}
	h.DataOffset = 8 + int64(hlen)
	return h, nil
}

func parseHeaderJSON(buf []byte, dataSize int64) (*Header, error) {
	// Writers pad the header with trailing spaces to align the data.
	buf = bytes.TrimRight(buf, " ")
	var entries map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(buf))
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("safetensors: header JSON: %w", err)
	}
	if entries == nil {
		return nil, errors.New("safetensors: header is not a JSON object")
	}
	if dec.More() {
		return nil, errors.New("safetensors: trailing data after header JSON")
	}
	h := &Header{DataSize: dataSize, byName: make(map[string]int, len(entries))}
	for name, raw := range entries {
		if name == "__metadata__" {
			if err := json.Unmarshal(raw, &h.Metadata); err != nil {
				return nil, fmt.Errorf("safetensors: __metadata__ must be a string map: %w", err)
			}
			continue
		}
		info, err := parseTensorEntry(name, raw)
		if err != nil {
			return nil, err
		}
		h.Tensors = append(h.Tensors, info)
	}
	sort.Slice(h.Tensors, func(i, j int) bool {
		a, b := &h.Tensors[i], &h.Tensors[j]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		if a.End != b.End {
			return a.End < b.End
		}
		return a.Name < b.Name
	})
	// The specification requires the tensors to tile the data section
	// exactly: no holes and no overlaps.
	var next int64
	for i := range h.Tensors {
		t := &h.Tensors[i]
		if t.Begin != next {
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d,%d) leave a gap or overlap (expected start %d)", t.Name, t.Begin, t.End, next)
		}
		if t.End > dataSize {
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets end %d beyond data section of %d bytes", t.Name, t.End, dataSize)
		}
		next = t.End
		h.byName[t.Name] = i
	}
	return h, nil
}

func parseTensorEntry(name string, raw json.RawMessage) (TensorInfo, error) {
	var rt rawTensor
	if err := json.Unmarshal(raw, &rt); err != nil {
		return TensorInfo{}, fmt.Errorf("safetensors: tensor %q: %w", name, err)
	}
	if rt.DType == nil || rt.Shape == nil || rt.DataOffsets == nil {
		return TensorInfo{}, fmt.Errorf("safetensors: tensor %q: missing dtype, shape or data_offsets", name)
	}
	dt := DType(*rt.DType)
	esize := dt.Size()
	if esize == 0 {
		return TensorInfo{}, fmt.Errorf("safetensors: tensor %q: unknown dtype %q", name, *rt.DType)
	}
	shape := make([]int, len(*rt.Shape))
	numel := int64(1)
	for i, d := range *rt.Shape {
		if d < 0 {
			return TensorInfo{}, fmt.Errorf("safetensors: tensor %q: negative dimension %d", name, d)
		}
		if d > 0 && numel > math.MaxInt64/int64(esize)/d {
			return TensorInfo{}, fmt.Errorf("safetensors: tensor %q: shape %v overflows", name, *rt.Shape)
		}
		numel *= d
		shape[i] = int(d)
	}
	offs := *rt.DataOffsets
	if len(offs) != 2 {
		return TensorInfo{}, fmt.Errorf("safetensors: tensor %q: data_offsets must have 2 entries, got %d", name, len(offs))
	}
	begin, end := offs[0], offs[1]
	if begin < 0 || end < begin {
		return TensorInfo{}, fmt.Errorf("safetensors: tensor %q: invalid data_offsets [%d,%d]", name, begin, end)
	}
	if end-begin != numel*int64(esize) {
		return TensorInfo{}, fmt.Errorf("safetensors: tensor %q: %d bytes for %d elements of %s", name, end-begin, numel, dt)
	}
	return TensorInfo{Name: name, DType: dt, Shape: shape, Begin: begin, End: end}, nil
}
