package probe

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/invokego/invokego/internal/engine/pickle"
	"github.com/invokego/invokego/internal/engine/safetensors"
)

// StateDict is what identification needs from a weights file: tensor names and shapes, never the data.
type StateDict struct {
	Shapes map[string][]int64
	// Scalars holds top-level numbers some checkpoints carry (global_step).
	Scalars map[string]int64
}

// Has reports whether a tensor exists.
func (s *StateDict) Has(name string) bool { _, ok := s.Shapes[name]; return ok }

// HasPrefix reports whether any tensor name starts with prefix.
func (s *StateDict) HasPrefix(prefix string) bool {
	for k := range s.Shapes {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// Dim returns dimension i of a tensor (negative counts from the end), or -1.
func (s *StateDict) Dim(name string, i int) int64 {
	sh, ok := s.Shapes[name]
	if !ok {
		return -1
	}
	if i < 0 {
		i += len(sh)
	}
	if i < 0 || i >= len(sh) {
		return -1
	}
	return sh[i]
}

// ReadStateDict reads tensor names and shapes from a .safetensors file or a PyTorch checkpoint (.ckpt, .pt,
// .pth, .bin), through bounds-checked parsers only.
func ReadStateDict(ctx context.Context, path string) (*StateDict, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".safetensors", ".sft":
		return safetensorsStateDict(f, st.Size())
	case ".ckpt", ".pt", ".pth", ".bin":
		return checkpointStateDict(f, st.Size())
	}
	return nil, fmt.Errorf("%w: unsupported file type %q", ErrUnknownModel, filepath.Ext(path))
}

// SafetensorsStateDict parses a safetensors header from r.
func safetensorsStateDict(r io.ReaderAt, size int64) (*StateDict, error) {
	h, err := safetensors.ParseHeader(r, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidModel, err)
	}
	sd := &StateDict{Shapes: make(map[string][]int64, len(h.Tensors))}
	for _, t := range h.Tensors {
		shape := make([]int64, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = int64(d)
		}
		sd.Shapes[t.Name] = shape
	}
	return sd, nil
}

// checkpointStateDict reads a torch.save file through the restricted unpickler.
func checkpointStateDict(r io.ReaderAt, size int64) (*StateDict, error) {
	obj, err := pickle.ReadTorch(r, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidModel, err)
	}
	return stateDictFromPickle(obj, pickle.DefaultLimits.MaxDepth)
}

// stateDictFromPickle flattens nested dicts into dotted names; a top-level "state_dict" entry is the state
// dict itself (Lightning checkpoints).
func stateDictFromPickle(obj any, maxDepth int) (*StateDict, error) {
	root, ok := obj.(*pickle.Dict)
	if !ok {
		return nil, fmt.Errorf("%w: checkpoint is not a dict", ErrInvalidModel)
	}
	sd := &StateDict{Shapes: map[string][]int64{}, Scalars: map[string]int64{}}
	if gs, ok := root.Get("global_step"); ok {
		if n, ok := gs.(int64); ok {
			sd.Scalars["global_step"] = n
		}
	}
	if inner, ok := root.Get("state_dict"); ok {
		if d, ok := inner.(*pickle.Dict); ok {
			root = d
		}
	}
	// pickle.Walk bounds the walk: a tree only (a shared or cyclic dict is refused), maxDepth levels, and the
	// item and time budgets of the unpickler's limits.
	lim := pickle.DefaultLimits
	lim.MaxDepth = maxDepth
	var name strings.Builder
	err := pickle.Walk(root, lim, func(path []any, v any) error {
		t, ok := v.(*pickle.Tensor)
		if !ok {
			return nil
		}
		name.Reset()
		for i, k := range path {
			if i > 0 {
				name.WriteByte('.')
			}
			fmt.Fprint(&name, k)
		}
		sd.Shapes[name.String()] = t.Shape
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidModel, err)
	}
	return sd, nil
}
