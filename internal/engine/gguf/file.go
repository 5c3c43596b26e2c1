package gguf

import (
	"fmt"
	"os"

	"github.com/invokego/invokego/internal/engine/quant"
)

// File is an open GGUF file. Its bytes are memory-mapped where the platform
// allows, so tensor data lives in the page cache rather than on the heap;
// Matrix and Bytes hand out views of the mapping.
type File struct {
	Header *Header
	data   []byte // the whole file
	unmap  func() error
	path   string
}

// Open maps and validates a GGUF file.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	size := st.Size()
	if int64(int(size)) != size {
		return nil, fmt.Errorf("gguf: %s is too large for this platform", path)
	}
	data, unmap, err := mapFile(f, size)
	if err != nil {
		return nil, fmt.Errorf("gguf: map %s: %w", path, err)
	}
	h, err := ParseHeader(data, size)
	if err != nil {
		_ = unmap()
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return &File{Header: h, data: data, unmap: unmap, path: path}, nil
}

// Close releases the mapping; views handed out before become invalid.
func (f *File) Close() error {
	if f.unmap == nil {
		return nil
	}
	err := f.unmap()
	f.unmap, f.data = nil, nil
	return err
}

// Path returns the file's path.
func (f *File) Path() string { return f.path }

// Bytes returns the raw bytes of the named tensor (a view of the mapping).
func (f *File) Bytes(name string) ([]byte, TensorInfo, error) {
	t, ok := f.Header.Tensor(name)
	if !ok {
		return nil, TensorInfo{}, fmt.Errorf("gguf: tensor %q not found in %s", name, f.path)
	}
	if f.data == nil {
		return nil, TensorInfo{}, fmt.Errorf("gguf: %s is closed", f.path)
	}
	start := f.Header.DataOffset + t.Offset
	return f.data[start : start+t.Size : start+t.Size], t, nil
}

// Matrix returns the named tensor as a matrix view: a 2-D tensor of Dims
// [in, out] becomes Rows = out, Cols = in (PyTorch's [out, in] weight);
// higher dimensions fold into the rows and a 1-D tensor is one row.
func (f *File) Matrix(name string) (quant.Matrix, error) {
	b, t, err := f.Bytes(name)
	if err != nil {
		return quant.Matrix{}, err
	}
	cols, rows := 1, 1
	if len(t.Dims) > 0 {
		cols = t.Dims[0]
		for _, d := range t.Dims[1:] {
			rows *= d
		}
	}
	m, err := quant.NewMatrix(t.Type, rows, cols, b)
	if err != nil {
		return quant.Matrix{}, fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	return m, nil
}

// Float32 decodes the named tensor into a new float32 slice and returns it
// with its shape in PyTorch order.
func (f *File) Float32(name string) ([]float32, []int, error) {
	m, err := f.Matrix(name)
	if err != nil {
		return nil, nil, err
	}
	out, err := m.Float32()
	if err != nil {
		return nil, nil, fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	t, _ := f.Header.Tensor(name)
	return out, t.Shape(), nil
}
