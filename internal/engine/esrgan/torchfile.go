package esrgan

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/invokego/invokego/internal/engine/pickle"
	"github.com/invokego/invokego/internal/engine/safetensors"
)

// Most published ESRGAN-family weights are torch.save files (.pth). torchWeights reads the zip
// format (torch ≥ 1.6) through the restricted unpickler: the pickle names each tensor's storage,
// an archive entry data/<key> holding the raw little-endian values. Every offset, stride and size
// is checked against the entry before a byte is read.
type torchWeights struct {
	zr      *zip.Reader
	entries map[string]*zip.File // storage key → entry
	tensors map[string]*pickle.Tensor
	shapes  map[string][]int
}

// maxTorchTensors bounds how many tensors a checkpoint may name.
const maxTorchTensors = 1 << 16

func openTorch(f *os.File) (*torchWeights, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	obj, err := pickle.ReadTorch(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("torch checkpoint: %w", err)
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("torch checkpoint: only the zip format of torch ≥ 1.6 is readable here (%v); convert older files to safetensors", err)
	}
	w := &torchWeights{zr: zr, entries: map[string]*zip.File{}, tensors: map[string]*pickle.Tensor{}, shapes: map[string][]int{}}
	for _, zf := range zr.File {
		dir, key, ok := strings.Cut(zf.Name, "/data/")
		if ok && !strings.Contains(dir, "/") && !strings.Contains(key, "/") {
			w.entries[key] = zf
		}
	}
	root, ok := obj.(*pickle.Dict)
	if !ok {
		return nil, fmt.Errorf("torch checkpoint: the saved object is not a dict")
	}
	if err := w.walk(root); err != nil {
		return nil, err
	}
	return w, nil
}

// walk flattens nested dicts into dotted names (params_ema.conv_first.weight), within pickle.Walk's budgets:
// a tree of at most 8 levels, no dict reached twice.
func (w *torchWeights) walk(root *pickle.Dict) error {
	lim := pickle.DefaultLimits
	lim.MaxDepth = 8
	return pickle.Walk(root, lim, func(path []any, v any) error {
		t, ok := v.(*pickle.Tensor)
		if !ok {
			return nil
		}
		parts := make([]string, len(path))
		for i, k := range path {
			s, ok := k.(string)
			if !ok {
				return nil // only string keys name tensors
			}
			parts[i] = s
		}
		name := strings.Join(parts, ".")
		if len(w.tensors) >= maxTorchTensors {
			return fmt.Errorf("torch checkpoint: more than %d tensors", maxTorchTensors)
		}
		shape := make([]int, len(t.Shape))
		for j, s := range t.Shape {
			if s < 0 || s > 1<<31 {
				return fmt.Errorf("torch checkpoint: tensor %q has dimension %d", name, s)
			}
			shape[j] = int(s)
		}
		w.tensors[name], w.shapes[name] = t, shape
		return nil
	})
}

func (w *torchWeights) Shapes() map[string][]int { return w.shapes }

// Float32 reads one tensor, which must be contiguous (row-major strides) inside its storage.
func (w *torchWeights) Float32(name string) ([]float32, error) {
	t, ok := w.tensors[name]
	if !ok {
		return nil, fmt.Errorf("no tensor %q", name)
	}
	st := t.Storage
	if st == nil {
		return nil, fmt.Errorf("tensor %q has no storage", name)
	}
	dt := safetensors.DType(st.DType)
	esize := int64(dt.Size())
	if esize == 0 || (dt != safetensors.F32 && dt != safetensors.F16 && dt != safetensors.BF16 && dt != safetensors.F64) {
		return nil, fmt.Errorf("tensor %q: unsupported storage type %s", name, st.DType)
	}
	numel := int64(1)
	for i := len(t.Shape) - 1; i >= 0; i-- {
		if len(t.Stride) != len(t.Shape) || (t.Shape[i] > 1 && t.Stride[i] != numel) {
			return nil, fmt.Errorf("tensor %q is not contiguous (shape %v, stride %v)", name, t.Shape, t.Stride)
		}
		numel *= t.Shape[i]
	}
	if t.Offset < 0 || st.Numel < 0 || t.Offset+numel > st.Numel {
		return nil, fmt.Errorf("tensor %q: %d values at offset %d outside a storage of %d", name, numel, t.Offset, st.Numel)
	}
	zf, ok := w.entries[st.Key]
	if !ok {
		return nil, fmt.Errorf("tensor %q: storage %q is missing from the archive", name, st.Key)
	}
	if zf.UncompressedSize64 < uint64(st.Numel*esize) || st.Numel*esize > maxParameters*8 {
		return nil, fmt.Errorf("tensor %q: storage entry of %d bytes for %d values", name, zf.UncompressedSize64, st.Numel)
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if _, err := io.CopyN(io.Discard, rc, t.Offset*esize); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	buf := make([]byte, numel*esize)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	return safetensors.ToFloat32(dt, buf)
}
