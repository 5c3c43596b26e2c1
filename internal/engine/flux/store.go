package flux

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/invokego/invokego/internal/engine/gguf"
	"github.com/invokego/invokego/internal/engine/safetensors"
)

// StoredTensor is one tensor as a store holds it: its shape in PyTorch
// order, its element type ("F32", "F16", "BF16", or a GGUF block type such
// as "Q8_0") and its raw little-endian bytes, which alias the store's
// memory mapping and stay valid until the store is closed.
type StoredTensor struct {
	Shape []int
	Type  string
	Data  []byte
}

// Store is a read-only set of named tensors: one or more safetensors files,
// or a GGUF file.
type Store interface {
	Tensor(name string) (StoredTensor, bool)
	Names() []string
	Close() error
}

// safetensorsStore serves the tensors of one or more safetensors files
// (the shards of a diffusers folder).
type safetensorsStore struct {
	files  []*safetensors.File
	byName map[string]*safetensors.File
}

// OpenSafetensors opens safetensors files as one store; a tensor name may
// appear in only one of them.
func OpenSafetensors(paths ...string) (Store, error) {
	s := &safetensorsStore{byName: map[string]*safetensors.File{}}
	for _, p := range paths {
		f, err := safetensors.Open(p)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.files = append(s.files, f)
		for _, n := range f.Names() {
			if _, dup := s.byName[n]; dup {
				s.Close()
				return nil, fmt.Errorf("tensor %q appears in more than one file", n)
			}
			s.byName[n] = f
		}
	}
	return s, nil
}

func (s *safetensorsStore) Tensor(name string) (StoredTensor, bool) {
	f, ok := s.byName[name]
	if !ok {
		return StoredTensor{}, false
	}
	b, info, err := f.Bytes(name)
	if err != nil {
		return StoredTensor{}, false
	}
	return StoredTensor{Shape: info.Shape, Type: string(info.DType), Data: b}, true
}

func (s *safetensorsStore) Names() []string {
	names := make([]string, 0, len(s.byName))
	for n := range s.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (s *safetensorsStore) Close() error {
	var errs []error
	for _, f := range s.files {
		errs = append(errs, f.Close())
	}
	s.files = nil
	return errors.Join(errs...)
}

// ggufStore serves the tensors of a GGUF file.
type ggufStore struct{ f *gguf.File }

// OpenGGUF opens a GGUF file as a store. Its tensor types are ggml's
// ("F32", "BF16", "Q8_0", "Q4_K", …); shapes are given in PyTorch order.
func OpenGGUF(path string) (Store, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	return &ggufStore{f: f}, nil
}

func (s *ggufStore) Tensor(name string) (StoredTensor, bool) {
	b, info, err := s.f.Bytes(name)
	if err != nil {
		return StoredTensor{}, false
	}
	return StoredTensor{Shape: info.Shape(), Type: info.Type.String(), Data: b}, true
}

func (s *ggufStore) Names() []string {
	names := make([]string, 0, len(s.f.Header.Tensors))
	for _, t := range s.f.Header.Tensors {
		names = append(names, t.Name)
	}
	sort.Strings(names)
	return names
}

func (s *ggufStore) Close() error { return s.f.Close() }

// maxShards bounds the shard list of an index file (FLUX.1's transformer
// has 3; the bound only stops a hostile index from opening thousands).
const maxShards = 256

// componentWeights lists the safetensors files of a diffusers component
// folder: the single weights file, or the shards its index names.
func componentWeights(dir string) ([]string, error) {
	for _, base := range []string{"diffusion_pytorch_model", "model"} {
		single := filepath.Join(dir, base+".safetensors")
		if _, err := os.Stat(single); err == nil {
			return []string{single}, nil
		}
		index := filepath.Join(dir, base+".safetensors.index.json")
		b, err := readConfigFile(index)
		if err != nil {
			continue
		}
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &idx); err != nil {
			return nil, fmt.Errorf("parse %s: %w", index, err)
		}
		seen := map[string]bool{}
		var files []string
		for _, f := range idx.WeightMap {
			if seen[f] {
				continue
			}
			// Shards are plain file names inside the folder.
			if f != filepath.Base(f) || !strings.HasSuffix(f, ".safetensors") {
				return nil, fmt.Errorf("%s names an invalid shard %q", index, f)
			}
			seen[f] = true
			files = append(files, filepath.Join(dir, f))
			if len(files) > maxShards {
				return nil, fmt.Errorf("%s names more than %d shards", index, maxShards)
			}
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s names no shards", index)
		}
		sort.Strings(files)
		return files, nil
	}
	return nil, fmt.Errorf("no safetensors weights in %s", dir)
}
