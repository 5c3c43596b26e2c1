package textinv

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/invokego/invokego/internal/engine/pickle"
	"github.com/invokego/invokego/internal/engine/safetensors"
	"github.com/invokego/invokego/internal/engine/torchmath"
)

// maxTorchFile bounds a PyTorch embedding file; real ones are a few
// kilobytes to a few hundred.
const maxTorchFile = 64 << 20

// loadTorch reads a torch.save file (zip format) through the restricted
// unpickler: A1111's {"string_to_param": {"*": tensor}, "name": …, "step": …},
// or a dict of tensors as in the safetensors layouts.
func loadTorch(path string, lim Limits) (*Embedding, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > maxTorchFile {
		return nil, fmt.Errorf("%w: %d bytes is too large for an embedding", ErrInvalid, st.Size())
	}
	return parseTorch(f, st.Size(), lim)
}

func parseTorch(r io.ReaderAt, size int64, lim Limits) (*Embedding, error) {
	obj, err := pickle.ReadTorch(r, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	root, ok := obj.(*pickle.Dict)
	if !ok {
		return nil, fmt.Errorf("%w: the file does not hold a dict", ErrInvalid)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("%w: only zip-format torch files (PyTorch 1.6 and later) are supported: %v", ErrInvalid, err)
	}
	src := &torchSource{zip: zr, tensors: map[string]*pickle.Tensor{}, lim: lim}
	if v, ok := root.Get("string_to_param"); ok {
		// A1111: one entry, "*", whatever the trigger word was.
		d, ok := v.(*pickle.Dict)
		if !ok || len(d.Values) == 0 {
			return nil, fmt.Errorf("%w: string_to_param is not a dict of tensors", ErrInvalid)
		}
		t, ok := d.Values[0].(*pickle.Tensor)
		if !ok {
			return nil, fmt.Errorf("%w: string_to_param holds %T, not a tensor", ErrInvalid, d.Values[0])
		}
		src.add("string_to_param", t)
		return fromSource(src, lim)
	}
	for i, k := range root.Keys {
		name, ok := k.(string)
		if !ok {
			continue
		}
		if t, ok := root.Values[i].(*pickle.Tensor); ok {
			src.add(name, t)
		}
	}
	return fromSource(src, lim)
}

// torchSource reads tensor data out of the zip's data/ entries.
type torchSource struct {
	zip     *zip.Reader
	order   []string
	tensors map[string]*pickle.Tensor
	lim     Limits
}

func (s *torchSource) add(name string, t *pickle.Tensor) {
	s.order = append(s.order, name)
	s.tensors[name] = t
}

func (s *torchSource) names() []string { return s.order }

func (s *torchSource) shape(name string) ([]int, bool) {
	t, ok := s.tensors[name]
	if !ok {
		return nil, false
	}
	shape := make([]int, len(t.Shape))
	for i, d := range t.Shape {
		if d < 0 || d > math.MaxInt32 {
			return []int{-1, -1, -1}, true // refused by checkShape
		}
		shape[i] = int(d)
	}
	return shape, true
}

// float32s reads a tensor checked by checkShape (so at most
// MaxVectors·MaxDim values), following its offset and strides within the
// storage's bounds.
func (s *torchSource) float32s(name string) ([]float32, error) {
	t := s.tensors[name]
	if t.Storage == nil {
		return nil, fmt.Errorf("tensor %q has no storage", name)
	}
	dt := safetensors.DType(t.Storage.DType)
	switch dt {
	case safetensors.F32, safetensors.F16, safetensors.BF16, safetensors.F64:
	default:
		return nil, fmt.Errorf("tensor %q has dtype %s (want a float type)", name, t.Storage.DType)
	}
	if len(t.Stride) != len(t.Shape) {
		return nil, fmt.Errorf("tensor %q: %d strides for %d dimensions", name, len(t.Stride), len(t.Shape))
	}
	es := int64(dt.Size())
	numel := t.Storage.Numel
	if numel < 0 || numel > int64(s.lim.MaxVectors)*int64(s.lim.MaxDim)*4 {
		return nil, fmt.Errorf("tensor %q: storage of %d values", name, numel)
	}
	// The last element the view reaches must lie inside the storage.
	last := t.Offset
	n := int64(1)
	for i, d := range t.Shape {
		if t.Stride[i] < 0 || t.Stride[i] > numel {
			return nil, fmt.Errorf("tensor %q: stride %d for a storage of %d values", name, t.Stride[i], numel)
		}
		last += (d - 1) * t.Stride[i]
		n *= d
	}
	if t.Offset < 0 || n == 0 || last >= numel {
		return nil, fmt.Errorf("tensor %q: view outside its storage of %d values", name, numel)
	}
	raw, err := s.readStorage(t.Storage.Key, numel*es)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	out := make([]float32, n)
	idx := make([]int64, len(t.Shape))
	for i := range out {
		pos := t.Offset
		for d := range idx {
			pos += idx[d] * t.Stride[d]
		}
		out[i] = elementAt(dt, raw[pos*es:])
		for d := len(idx) - 1; d >= 0; d-- {
			if idx[d]++; idx[d] < t.Shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out, nil
}

func elementAt(dt safetensors.DType, b []byte) float32 {
	switch dt {
	case safetensors.F16:
		return torchmath.Float16ToFloat32(binary.LittleEndian.Uint16(b))
	case safetensors.BF16:
		return math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16)
	case safetensors.F64:
		return float32(math.Float64frombits(binary.LittleEndian.Uint64(b)))
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(b))
}

// readStorage reads data/<key> from the archive, which must hold exactly
// want bytes.
func (s *torchSource) readStorage(key string, want int64) ([]byte, error) {
	for _, zf := range s.zip.File {
		if zf.Name != "data/"+key && !strings.HasSuffix(zf.Name, "/data/"+key) {
			continue
		}
		if zf.UncompressedSize64 != uint64(want) {
			return nil, fmt.Errorf("storage %s holds %d bytes, want %d", key, zf.UncompressedSize64, want)
		}
		rc, err := zf.Open()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		buf := make([]byte, want)
		if _, err := io.ReadFull(rc, buf); err != nil {
			return nil, fmt.Errorf("storage %s: %w", key, err)
		}
		return buf, nil
	}
	return nil, fmt.Errorf("storage %s is missing from the archive", key)
}
