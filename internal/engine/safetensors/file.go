package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"

	"github.com/invokego/invokego/internal/engine/torchmath"
)

// File is an open safetensors file whose bytes are memory-mapped when the
// platform allows it and read into memory otherwise.
type File struct {
	Header *Header
	data   []byte // the whole file
	unmap  func() error
	mapped bool // data is a file mapping (Evict can drop its pages)
	path   string
}

// Open opens and validates a safetensors file.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	size := st.Size()
	h, err := ParseHeader(f, size)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	data, unmap, mapped, err := mapFile(f, size)
	if err != nil {
		return nil, fmt.Errorf("safetensors: map %s: %w", path, err)
	}
	return &File{Header: h, data: data, unmap: unmap, mapped: mapped, path: path}, nil
}

// Evict tells the kernel the named tensor's bytes will not be read again,
// so the pages a conversion touched stop counting towards the process's
// resident memory (they stay in the page cache, and reading them again
// faults them back in). Loaders that convert a model tensor by tensor call
// it to keep their peak at what they built, not what they built plus the
// file. A no-op when the file was read rather than mapped.
func (f *File) Evict(name string) {
	if !f.mapped || f.data == nil {
		return
	}
	info, ok := f.Header.Info(name)
	if !ok {
		return
	}
	off := f.Header.DataOffset
	evictRange(f.data, off+info.Begin, off+info.End)
}

// Close releases the mapping. Slices returned by Bytes become invalid.
func (f *File) Close() error {
	if f.unmap == nil {
		return nil
	}
	err := f.unmap()
	f.unmap = nil
	f.data = nil
	return err
}

// Names returns the tensor names sorted alphabetically.
func (f *File) Names() []string { return f.Header.Names() }

// Metadata returns the "__metadata__" map (nil if absent).
func (f *File) Metadata() map[string]string { return f.Header.Metadata }

// Info describes the named tensor.
func (f *File) Info(name string) (TensorInfo, bool) { return f.Header.Info(name) }

// Bytes returns the raw little-endian bytes of a tensor. The slice aliases
// the mapping and is valid until Close.
func (f *File) Bytes(name string) ([]byte, TensorInfo, error) {
	info, ok := f.Header.Info(name)
	if !ok {
		return nil, TensorInfo{}, fmt.Errorf("safetensors: tensor %q not found in %s", name, f.path)
	}
	if f.data == nil {
		return nil, TensorInfo{}, fmt.Errorf("safetensors: %s is closed", f.path)
	}
	off := f.Header.DataOffset
	return f.data[off+info.Begin : off+info.End], info, nil
}

// Float32 returns a copy of the named tensor converted to float32, with its
// shape. Float and integer types convert; FP8 and unsigned 64-bit types do not.
func (f *File) Float32(name string) ([]float32, []int, error) {
	b, info, err := f.Bytes(name)
	if err != nil {
		return nil, nil, err
	}
	out, err := ToFloat32(info.DType, b)
	if err != nil {
		return nil, nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
	}
	return out, info.Shape, nil
}

// Int64 returns a copy of the named integer tensor widened to int64.
func (f *File) Int64(name string) ([]int64, []int, error) {
	b, info, err := f.Bytes(name)
	if err != nil {
		return nil, nil, err
	}
	n := info.NumElements()
	out := make([]int64, n)
	switch info.DType {
	case I64:
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case I32:
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
	case I16:
		for i := range out {
			out[i] = int64(int16(binary.LittleEndian.Uint16(b[2*i:])))
		}
	case I8:
		for i := range out {
			out[i] = int64(int8(b[i]))
		}
	case U8, BOOL:
		for i := range out {
			out[i] = int64(b[i])
		}
	default:
		return nil, nil, fmt.Errorf("safetensors: tensor %q: %s is not an integer type", name, info.DType)
	}
	return out, info.Shape, nil
}

// ToFloat32 converts little-endian raw bytes of the given type to float32.
func ToFloat32(dt DType, b []byte) ([]float32, error) {
	es := dt.Size()
	if es == 0 || len(b)%es != 0 {
		return nil, fmt.Errorf("cannot convert %d bytes of %q", len(b), dt)
	}
	n := len(b) / es
	out := make([]float32, n)
	switch dt {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case F16:
		for i := range out {
			out[i] = torchmath.Float16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
	case F64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	case I64:
		for i := range out {
			out[i] = float32(int64(binary.LittleEndian.Uint64(b[8*i:])))
		}
	case I32:
		for i := range out {
			out[i] = float32(int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
	case I16:
		for i := range out {
			out[i] = float32(int16(binary.LittleEndian.Uint16(b[2*i:])))
		}
	case I8:
		for i := range out {
			out[i] = float32(int8(b[i]))
		}
	case U8, BOOL:
		for i := range out {
			out[i] = float32(b[i])
		}
	default:
		return nil, fmt.Errorf("conversion from %s to float32 is not supported", dt)
	}
	return out, nil
}
