package t5

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/invokego/invokego/internal/engine/gguf"
	"github.com/invokego/invokego/internal/engine/quant"
	"github.com/invokego/invokego/internal/engine/safetensors"
)

// source serves stored tensors by their transformers name.
type source interface {
	matrix(name string) (quant.Matrix, []int, bool)
	close() error
}

// LoadFolder loads a diffusers text_encoder_2 folder (or any transformers
// T5 encoder folder): config.json and model.safetensors, or the shards
// listed in model.safetensors.index.json.
func LoadFolder(dir string, opts quant.Options) (*Encoder, error) {
	cfg, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	files, err := weightFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("t5: %w", err)
	}
	src, err := openSafetensors(files)
	if err != nil {
		return nil, fmt.Errorf("t5: %w", err)
	}
	e, err := build(cfg, src, opts)
	if err != nil {
		src.close()
		return nil, fmt.Errorf("t5: %s: %w", dir, err)
	}
	return e, nil
}

// LoadGGUF loads a T5 encoder stored as GGUF with llama.cpp's tensor names
// (token_embd, enc.blk.N.attn_q … ffn_down, enc.output_norm), as the T5
// GGUF files used with FLUX are. The sizes come from the tensor shapes;
// the layer-norm epsilon from the metadata when recorded, and the relative
// attention's maximum distance is T5's 128.
func LoadGGUF(path string, opts quant.Options) (*Encoder, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	src := &ggufSource{f: f}
	cfg, err := ggufConfig(src)
	if err == nil {
		var e *Encoder
		if e, err = build(cfg, src, opts); err == nil {
			return e, nil
		}
	}
	f.Close()
	return nil, fmt.Errorf("t5: %s: %w", path, err)
}

// build assembles an encoder from a source's tensors, checking every shape.
func build(cfg Config, src source, opts quant.Options) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, inner, heads := cfg.DModel, cfg.NumHeads*cfg.DKV, cfg.NumHeads
	get := func(name string, rows, cols int) (quant.Matrix, error) {
		m, shape, ok := src.matrix(name)
		if !ok {
			return quant.Matrix{}, fmt.Errorf("tensor %s missing", name)
		}
		if m.Rows != rows || m.Cols != cols {
			return quant.Matrix{}, fmt.Errorf("tensor %s has shape %v, want [%d %d]", name, shape, rows, cols)
		}
		if !m.Type.Decodable() {
			return quant.Matrix{}, fmt.Errorf("tensor %s has unsupported type %s", name, m.Type)
		}
		return m, nil
	}
	vector := func(name string, n int) ([]float32, error) {
		m, err := get(name, 1, n)
		if err != nil {
			return nil, err
		}
		return m.Float32()
	}
	linear := func(name string, out, in int) (quant.Layer, error) {
		m, err := get(name, out, in)
		if err != nil {
			return nil, err
		}
		return quant.NewLinear(m, nil, opts)
	}
	e := &Encoder{cfg: cfg, closers: []func() error{src.close}}
	var err error
	if e.embedding, err = embeddingMatrix(src, cfg); err != nil {
		return nil, err
	}
	rb, err := get("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", cfg.RelativeAttentionNumBuckets, heads)
	if err != nil {
		return nil, err
	}
	if e.relBias, err = rb.Float32(); err != nil {
		return nil, err
	}
	for i := range cfg.NumLayers {
		p := "encoder.block." + strconv.Itoa(i) + ".layer."
		l := &layer{}
		steps := []struct {
			dst     *quant.Layer
			name    string
			out, in int
		}{
			{&l.q, p + "0.SelfAttention.q.weight", inner, d},
			{&l.k, p + "0.SelfAttention.k.weight", inner, d},
			{&l.v, p + "0.SelfAttention.v.weight", inner, d},
			{&l.o, p + "0.SelfAttention.o.weight", d, inner},
			{&l.wo, p + "1.DenseReluDense.wo.weight", d, cfg.DFF},
		}
		if cfg.Gated() {
			steps = append(steps,
				struct {
					dst     *quant.Layer
					name    string
					out, in int
				}{&l.wi0, p + "1.DenseReluDense.wi_0.weight", cfg.DFF, d},
				struct {
					dst     *quant.Layer
					name    string
					out, in int
				}{&l.wi1, p + "1.DenseReluDense.wi_1.weight", cfg.DFF, d})
		} else {
			steps = append(steps, struct {
				dst     *quant.Layer
				name    string
				out, in int
			}{&l.wi0, p + "1.DenseReluDense.wi.weight", cfg.DFF, d})
		}
		for _, s := range steps {
			if *s.dst, err = linear(s.name, s.out, s.in); err != nil {
				return nil, err
			}
		}
		if l.attnNorm, err = vector(p+"0.layer_norm.weight", d); err != nil {
			return nil, err
		}
		if l.ffNorm, err = vector(p+"1.layer_norm.weight", d); err != nil {
			return nil, err
		}
		e.layers = append(e.layers, l)
	}
	if e.finalNorm, err = vector("encoder.final_layer_norm.weight", d); err != nil {
		return nil, err
	}
	// A model cache forgets encoders without closing them: unmap the weights once the encoder is garbage.
	runtime.AddCleanup(e, func(closeFn func() error) { _ = closeFn() }, src.close)
	return e, nil
}

// embeddingMatrix finds the token embedding: shared.weight, or the
// encoder's own copy when the file stores it under that name.
func embeddingMatrix(src source, cfg Config) (quant.Matrix, error) {
	for _, name := range []string{"shared.weight", "encoder.embed_tokens.weight"} {
		m, shape, ok := src.matrix(name)
		if !ok {
			continue
		}
		if m.Cols != cfg.DModel || m.Rows < 1 || len(shape) != 2 {
			return quant.Matrix{}, fmt.Errorf("tensor %s has shape %v, want [vocab %d]", name, shape, cfg.DModel)
		}
		if !m.Type.Decodable() {
			return quant.Matrix{}, fmt.Errorf("tensor %s has unsupported type %s", name, m.Type)
		}
		return m, nil
	}
	return quant.Matrix{}, fmt.Errorf("no token embedding (shared.weight)")
}

// safetensorsSource serves the tensors of one or more safetensors files.
type safetensorsSource struct {
	files  []*safetensors.File
	byName map[string]*safetensors.File
}

func openSafetensors(paths []string) (*safetensorsSource, error) {
	s := &safetensorsSource{byName: map[string]*safetensors.File{}}
	for _, p := range paths {
		f, err := safetensors.Open(p)
		if err != nil {
			s.close()
			return nil, err
		}
		s.files = append(s.files, f)
		for _, n := range f.Names() {
			if _, dup := s.byName[n]; dup {
				s.close()
				return nil, fmt.Errorf("tensor %q appears in more than one file", n)
			}
			s.byName[n] = f
		}
	}
	return s, nil
}

func (s *safetensorsSource) matrix(name string) (quant.Matrix, []int, bool) {
	f, ok := s.byName[name]
	if !ok {
		return quant.Matrix{}, nil, false
	}
	b, info, err := f.Bytes(name)
	if err != nil {
		return quant.Matrix{}, nil, false
	}
	t, ok := quant.ParseType(string(info.DType)) // F32, F16, BF16, F64 share ggml's names
	if !ok {
		return quant.Matrix{}, info.Shape, false
	}
	rows, cols := 1, 1
	if len(info.Shape) > 0 {
		cols = info.Shape[len(info.Shape)-1]
		for _, dim := range info.Shape[:len(info.Shape)-1] {
			rows *= dim
		}
	}
	m, err := quant.NewMatrix(t, rows, cols, b)
	if err != nil {
		return quant.Matrix{}, info.Shape, false
	}
	return m, info.Shape, true
}

func (s *safetensorsSource) close() error {
	var first error
	for _, f := range s.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.files = nil
	return first
}

// maxShards bounds an index file's shard list.
const maxShards = 256

// weightFiles lists a folder's safetensors weights: model.safetensors, or
// the shards model.safetensors.index.json names (plain file names only).
func weightFiles(dir string) ([]string, error) {
	single := filepath.Join(dir, "model.safetensors")
	if _, err := os.Stat(single); err == nil {
		return []string{single}, nil
	}
	index := filepath.Join(dir, "model.safetensors.index.json")
	f, err := os.Open(index)
	if err != nil {
		return nil, fmt.Errorf("no model.safetensors or index in %s", dir)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 16<<20))
	if err != nil {
		return nil, err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("parse %s: %w", index, err)
	}
	seen := map[string]bool{}
	var files []string
	for _, name := range idx.WeightMap {
		if seen[name] {
			continue
		}
		if name != filepath.Base(name) || !strings.HasSuffix(name, ".safetensors") {
			return nil, fmt.Errorf("%s names an invalid shard %q", index, name)
		}
		seen[name] = true
		files = append(files, filepath.Join(dir, name))
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

// ggufSource serves a GGUF file's tensors under transformers' names.
type ggufSource struct{ f *gguf.File }

// ggufName maps a transformers T5 encoder tensor name to llama.cpp's.
func ggufName(name string) string {
	switch name {
	case "shared.weight":
		return "token_embd.weight"
	case "encoder.final_layer_norm.weight":
		return "enc.output_norm.weight"
	}
	rest, ok := strings.CutPrefix(name, "encoder.block.")
	if !ok {
		return name
	}
	i := strings.IndexByte(rest, '.')
	if i < 0 {
		return name
	}
	block, tail := rest[:i], rest[i+1:]
	parts := map[string]string{
		"layer.0.SelfAttention.q.weight":                       "attn_q.weight",
		"layer.0.SelfAttention.k.weight":                       "attn_k.weight",
		"layer.0.SelfAttention.v.weight":                       "attn_v.weight",
		"layer.0.SelfAttention.o.weight":                       "attn_o.weight",
		"layer.0.SelfAttention.relative_attention_bias.weight": "attn_rel_b.weight",
		"layer.0.layer_norm.weight":                            "attn_norm.weight",
		"layer.1.layer_norm.weight":                            "ffn_norm.weight",
		"layer.1.DenseReluDense.wi_0.weight":                   "ffn_gate.weight",
		"layer.1.DenseReluDense.wi_1.weight":                   "ffn_up.weight",
		"layer.1.DenseReluDense.wi.weight":                     "ffn_up.weight",
		"layer.1.DenseReluDense.wo.weight":                     "ffn_down.weight",
	}
	if g, ok := parts[tail]; ok {
		return "enc.blk." + block + "." + g
	}
	return name
}

func (s *ggufSource) matrix(name string) (quant.Matrix, []int, bool) {
	g := ggufName(name)
	t, ok := s.f.Header.Tensor(g)
	if !ok {
		return quant.Matrix{}, nil, false
	}
	m, err := s.f.Matrix(g)
	if err != nil {
		return quant.Matrix{}, t.Shape(), false
	}
	return m, t.Shape(), true
}

func (s *ggufSource) close() error { return s.f.Close() }

// ggufConfig derives the configuration from the tensor shapes.
func ggufConfig(s *ggufSource) (Config, error) {
	cfg := DefaultConfig()
	h := s.f.Header
	dims := func(name string) (rows, cols int, ok bool) {
		m, _, ok := s.matrix(name)
		return m.Rows, m.Cols, ok
	}
	var ok bool
	if cfg.VocabSize, cfg.DModel, ok = dims("shared.weight"); !ok {
		return cfg, fmt.Errorf("no token_embd.weight")
	}
	if cfg.RelativeAttentionNumBuckets, cfg.NumHeads, ok = dims("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"); !ok {
		return cfg, fmt.Errorf("no enc.blk.0.attn_rel_b.weight")
	}
	inner, _, ok := dims("encoder.block.0.layer.0.SelfAttention.q.weight")
	if !ok || cfg.NumHeads < 1 || inner%cfg.NumHeads != 0 {
		return cfg, fmt.Errorf("enc.blk.0.attn_q.weight missing or not divisible into %d heads", cfg.NumHeads)
	}
	cfg.DKV = inner / cfg.NumHeads
	if cfg.DFF, _, ok = dims("encoder.block.0.layer.1.DenseReluDense.wi_1.weight"); !ok {
		return cfg, fmt.Errorf("no enc.blk.0.ffn_up.weight")
	}
	if _, _, gated := dims("encoder.block.0.layer.1.DenseReluDense.wi_0.weight"); !gated {
		cfg.FeedForwardProj, cfg.DenseActFn = "relu", "relu"
	}
	for cfg.NumLayers < maxLayers {
		if _, ok := h.Tensor("enc.blk." + strconv.Itoa(cfg.NumLayers) + ".attn_q.weight"); !ok {
			break
		}
		cfg.NumLayers++
	}
	for key, v := range h.Metadata {
		if strings.HasSuffix(key, ".attention.layer_norm_rms_epsilon") || strings.HasSuffix(key, ".attention.layer_norm_epsilon") {
			if eps, ok := v.Float(); ok {
				if v.Type == gguf.TypeFloat32 {
					// The float32 nearest 1e-6 is read as the decimal it
					// was written from, as transformers' configs hold it.
					eps, _ = strconv.ParseFloat(strconv.FormatFloat(eps, 'g', -1, 32), 64)
				}
				cfg.LayerNormEpsilon = eps
			}
		}
	}
	return cfg, cfg.Validate()
}
