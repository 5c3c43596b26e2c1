// Package textinv reads textual-inversion embeddings: the learned token
// vectors that a prompt word stands for.
//
// Layouts understood (the ones InvokeAI reads):
//   - safetensors with one tensor "emb_params" [n, dim] (A1111 / InvokeAI);
//   - safetensors with one tensor named after its token, {"<token>": [n, dim]}
//     (diffusers' learned_embeds.safetensors), also inside a folder;
//   - safetensors with "clip_l" [n, 768] and "clip_g" [n, 1280]: an SDXL
//     embedding, one set of vectors per text encoder;
//   - PyTorch files (.pt, .bin): A1111's {"string_to_param": {"*": [n, dim]}, …},
//     {"emb_params": …}, {"clip_l", "clip_g"} or diffusers' {"<token>": [dim]},
//     read through the restricted unpickler (see package pickle).
//
// A vector shaped [dim] is one vector. Counts and widths are bounded before
// anything is allocated.
package textinv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/invokego/invokego/internal/engine/safetensors"
)

// Vectors are n embedding vectors of width Dim, row-major.
type Vectors struct {
	N, Dim int
	Data   []float32
}

// Row returns vector i.
func (v *Vectors) Row(i int) []float32 { return v.Data[i*v.Dim : (i+1)*v.Dim] }

// Embedding is a loaded textual-inversion embedding.
type Embedding struct {
	// First holds the vectors for the first (or only) text encoder: CLIP-L
	// for SD-1 and SDXL, OpenCLIP-H for SD-2.
	First *Vectors
	// Second holds SDXL's vectors for the second text encoder (OpenCLIP-G),
	// nil for a single-encoder embedding.
	Second *Vectors
}

// SDXL reports whether the embedding has vectors for both SDXL encoders.
func (e *Embedding) SDXL() bool { return e.Second != nil }

// For returns the vectors for text encoder i (0 or 1), or nil.
func (e *Embedding) For(i int) *Vectors {
	if i == 0 {
		return e.First
	}
	if i == 1 {
		return e.Second
	}
	return nil
}

// Limits bound what one embedding file may contain.
type Limits struct {
	MaxVectors int // vectors per encoder
	MaxDim     int // width of a vector
}

// DefaultLimits are far beyond real embeddings (at most a few dozen vectors
// of width 768, 1024 or 1280).
var DefaultLimits = Limits{MaxVectors: 256, MaxDim: 8192}

// ErrInvalid means the file is not an embedding this package can read.
var ErrInvalid = errors.New("textinv: invalid embedding")

// Load reads an embedding file (.safetensors, .pt, .bin, .ckpt) or a
// diffusers folder holding learned_embeds.safetensors or learned_embeds.bin.
func Load(path string) (*Embedding, error) { return LoadWithLimits(path, DefaultLimits) }

// LoadWithLimits is Load under explicit limits.
func LoadWithLimits(path string, lim Limits) (*Embedding, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("textinv: %w", err)
	}
	if st.IsDir() {
		for _, name := range []string{"learned_embeds.safetensors", "learned_embeds.bin"} {
			p := filepath.Join(path, name)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				return LoadWithLimits(p, lim)
			}
		}
		return nil, fmt.Errorf("%w: %s holds no learned_embeds.safetensors or learned_embeds.bin", ErrInvalid, path)
	}
	var e *Embedding
	switch strings.ToLower(filepath.Ext(path)) {
	case ".safetensors", ".sft":
		e, err = loadSafetensors(path, lim)
	case ".pt", ".bin", ".ckpt", ".pth":
		e, err = loadTorch(path, lim)
	default:
		err = fmt.Errorf("%w: unsupported file type %q", ErrInvalid, filepath.Ext(path))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return e, nil
}

// tensorSource is a file's tensors by name.
type tensorSource interface {
	names() []string
	shape(name string) ([]int, bool)
	float32s(name string) ([]float32, error)
}

// fromSource picks the embedding out of a file's top-level tensors.
func fromSource(src tensorSource, lim Limits) (*Embedding, error) {
	names := src.names()
	has := func(n string) bool { _, ok := src.shape(n); return ok }
	vectors := func(name string) (*Vectors, error) {
		shape, _ := src.shape(name)
		v, err := checkShape(name, shape, lim)
		if err != nil {
			return nil, err
		}
		data, err := src.float32s(name)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if len(data) != v.N*v.Dim {
			return nil, fmt.Errorf("%w: tensor %q holds %d values for shape %v", ErrInvalid, name, len(data), shape)
		}
		v.Data = data
		return v, nil
	}
	switch {
	case has("clip_l") && has("clip_g"):
		l, err := vectors("clip_l")
		if err != nil {
			return nil, err
		}
		g, err := vectors("clip_g")
		if err != nil {
			return nil, err
		}
		if l.N != g.N {
			return nil, fmt.Errorf("%w: clip_l has %d vectors and clip_g %d", ErrInvalid, l.N, g.N)
		}
		return &Embedding{First: l, Second: g}, nil
	case has("emb_params"):
		v, err := vectors("emb_params")
		if err != nil {
			return nil, err
		}
		return &Embedding{First: v}, nil
	case len(names) == 1:
		v, err := vectors(names[0])
		if err != nil {
			return nil, err
		}
		return &Embedding{First: v}, nil
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: the file holds no tensors", ErrInvalid)
	}
	return nil, fmt.Errorf("%w: %d tensors and none of emb_params, string_to_param or clip_l/clip_g", ErrInvalid, len(names))
}

// checkShape accepts [dim] (one vector) or [n, dim] within the limits.
func checkShape(name string, shape []int, lim Limits) (*Vectors, error) {
	var n, dim int
	switch len(shape) {
	case 1:
		n, dim = 1, shape[0]
	case 2:
		n, dim = shape[0], shape[1]
	default:
		return nil, fmt.Errorf("%w: tensor %q has shape %v (want [vectors, width])", ErrInvalid, name, shape)
	}
	if n < 1 || n > lim.MaxVectors {
		return nil, fmt.Errorf("%w: tensor %q has %d vectors (1..%d allowed)", ErrInvalid, name, n, lim.MaxVectors)
	}
	if dim < 1 || dim > lim.MaxDim {
		return nil, fmt.Errorf("%w: tensor %q has width %d (1..%d allowed)", ErrInvalid, name, dim, lim.MaxDim)
	}
	return &Vectors{N: n, Dim: dim}, nil
}

type safetensorsSource struct{ f *safetensors.File }

func (s safetensorsSource) names() []string { return s.f.Names() }
func (s safetensorsSource) shape(name string) ([]int, bool) {
	info, ok := s.f.Info(name)
	return info.Shape, ok
}
func (s safetensorsSource) float32s(name string) ([]float32, error) {
	info, _ := s.f.Info(name)
	switch info.DType {
	case safetensors.F32, safetensors.F16, safetensors.BF16, safetensors.F64:
	default:
		return nil, fmt.Errorf("tensor %q has dtype %s (want a float type)", name, info.DType)
	}
	data, _, err := s.f.Float32(name)
	return data, err
}

func loadSafetensors(path string, lim Limits) (*Embedding, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	defer f.Close()
	src := safetensorsSource{f}
	// Some converters flatten A1111's string_to_param dict into names.
	if _, ok := src.shape("string_to_param.*"); ok {
		v, err := checkShape("string_to_param.*", mustShape(src, "string_to_param.*"), lim)
		if err != nil {
			return nil, err
		}
		if v.Data, err = src.float32s("string_to_param.*"); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return &Embedding{First: v}, nil
	}
	return fromSource(src, lim)
}

func mustShape(src tensorSource, name string) []int {
	s, _ := src.shape(name)
	return s
}

// Tokens returns the tokens InvokeAI adds to the tokenizer for an embedding
// named name with n vectors: "<name>" for the first vector and
// "<name-!pad-i>" for vector i ≥ 1. A prompt names only the first; it
// stands for all n.
func Tokens(name string, n int) []string {
	out := make([]string, n)
	for i := range out {
		if i == 0 {
			out[i] = "<" + name + ">"
		} else {
			out[i] = "<" + name + "-!pad-" + strconv.Itoa(i) + ">"
		}
	}
	return out
}
