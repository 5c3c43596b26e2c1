package flux

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/invokego/invokego/internal/engine/quant"
)

// LoadOptions tune how a transformer is built.
type LoadOptions struct {
	// Config, when set, replaces what the store implies (BFL files and GGUF
	// carry no config; without one the widths come from the weight shapes
	// and the RoPE split from DefaultAxes).
	Config *Config
	// Compute selects the arithmetic of the products: quant.ComputeF32
	// (the default; the goldens' float32 arithmetic) or quant.ComputeBF16
	// (bfloat16 operands with float32 sums where the CPU has AVX512_BF16;
	// relative errors of a few 1e-3 per layer; faster only on CPUs whose bf16
	// dot products outrun their fp32 FMAs).
	Compute quant.Compute
}

// LoadTransformerFolder loads a diffusers transformer/ folder (config.json
// and one or more safetensors shards).
func LoadTransformerFolder(dir string, opts LoadOptions) (*Transformer, error) {
	cfg, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("load flux transformer: %w", err)
	}
	files, err := componentWeights(dir)
	if err != nil {
		return nil, fmt.Errorf("load flux transformer: %w", err)
	}
	st, err := OpenSafetensors(files...)
	if err != nil {
		return nil, fmt.Errorf("load flux transformer: %w", err)
	}
	if opts.Config == nil {
		opts.Config = &cfg
	}
	t, err := NewTransformer(st, opts)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("load flux transformer %s: %w", dir, err)
	}
	return t, nil
}

// LoadTransformerGGUF loads a GGUF file with BFL tensor names, as city96's
// FLUX conversions lay them out; the weights stay quantized in memory.
func LoadTransformerGGUF(path string, opts LoadOptions) (*Transformer, error) {
	st, err := OpenGGUF(path)
	if err != nil {
		return nil, fmt.Errorf("load flux transformer: %w", err)
	}
	t, err := NewTransformer(st, opts)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("load flux transformer %s: %w", path, err)
	}
	return t, nil
}

// LoadTransformerFile loads a single safetensors file: an original Black
// Forest Labs checkpoint (flux1-dev.safetensors) or a diffusers-named one.
func LoadTransformerFile(path string, opts LoadOptions) (*Transformer, error) {
	st, err := OpenSafetensors(path)
	if err != nil {
		return nil, fmt.Errorf("load flux transformer: %w", err)
	}
	t, err := NewTransformer(st, opts)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("load flux transformer %s: %w", path, err)
	}
	return t, nil
}

// Layouts of transformer weight names.
const (
	LayoutBFL       = "bfl"       // double_blocks.N.img_attn.qkv.weight, …
	LayoutDiffusers = "diffusers" // transformer_blocks.N.attn.to_q.weight, …
)

// bflPrefixes are prefixes tools put before BFL names (ComfyUI saves whole
// checkpoints under model.diffusion_model.).
var bflPrefixes = []string{"", "model.diffusion_model.", "diffusion_model."}

// DetectLayout reports which naming a store uses and the prefix before the
// names, or an error when it holds no FLUX transformer.
func DetectLayout(has func(string) bool) (layout, prefix string, err error) {
	for _, p := range bflPrefixes {
		if has(p + "double_blocks.0.img_attn.qkv.weight") {
			return LayoutBFL, p, nil
		}
	}
	if has("transformer_blocks.0.attn.to_q.weight") && has("x_embedder.weight") {
		return LayoutDiffusers, "", nil
	}
	return "", "", fmt.Errorf("no FLUX transformer weights (neither double_blocks.0.img_attn.qkv nor transformer_blocks.0.attn.to_q)")
}

// NewTransformer builds the model from a store in either layout. The store
// becomes the model's: it is closed when the model is garbage collected.
func NewTransformer(st Store, opts LoadOptions) (*Transformer, error) {
	names := st.Names()
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	layout, prefix, err := DetectLayout(func(n string) bool { return set[n] })
	if err != nil {
		return nil, err
	}
	r := &reader{st: st, builder: quant.Builder{Options: quant.Options{Compute: opts.Compute}}, prefix: prefix, used: map[string]bool{}}
	cfg, err := inferConfig(r, layout, set)
	if err != nil {
		return nil, err
	}
	if opts.Config != nil {
		if err := checkConfig(*opts.Config, cfg); err != nil {
			return nil, err
		}
		cfg = *opts.Config
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Transformer{Config: cfg, Layout: layout}
	if layout == LayoutBFL {
		buildBFL(r, t)
	} else {
		buildDiffusers(r, t)
	}
	if r.err != nil {
		return nil, r.err
	}
	var extra []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) && !r.used[n] {
			extra = append(extra, n)
		}
	}
	if len(extra) > 0 {
		if len(extra) > 5 {
			extra = append(extra[:5], fmt.Sprintf("... (%d more)", len(extra)-5))
		}
		return nil, fmt.Errorf("unexpected transformer weights %v", extra)
	}
	runtime.AddCleanup(t, func(s Store) { s.Close() }, st)
	return t, nil
}

// checkConfig verifies that a supplied config agrees with the weights.
func checkConfig(c, fromWeights Config) error {
	if c.Hidden() != fromWeights.Hidden() || c.AttentionHeadDim != fromWeights.AttentionHeadDim ||
		c.NumLayers != fromWeights.NumLayers || c.NumSingleLayers != fromWeights.NumSingleLayers ||
		c.InChannels != fromWeights.InChannels || c.JointAttentionDim != fromWeights.JointAttentionDim ||
		c.PooledProjectionDim != fromWeights.PooledProjectionDim || c.GuidanceEmbeds != fromWeights.GuidanceEmbeds {
		return fmt.Errorf("config %+v does not match the weights (%+v)", c, fromWeights)
	}
	return nil
}

// inferConfig reads the widths and block counts from the weight shapes.
func inferConfig(r *reader, layout string, has map[string]bool) (Config, error) {
	p := r.prefix
	var imgIn, txtIn, vecIn, qNorm string
	var double, single func(i int) string
	var guidance string
	if layout == LayoutBFL {
		imgIn, txtIn, vecIn = "img_in.weight", "txt_in.weight", "vector_in.in_layer.weight"
		qNorm = "double_blocks.0.img_attn.norm.query_norm.scale"
		double = func(i int) string { return "double_blocks." + strconv.Itoa(i) + ".img_attn.qkv.weight" }
		single = func(i int) string { return "single_blocks." + strconv.Itoa(i) + ".linear1.weight" }
		guidance = "guidance_in.in_layer.weight"
	} else {
		imgIn, txtIn, vecIn = "x_embedder.weight", "context_embedder.weight", "time_text_embed.text_embedder.linear_1.weight"
		qNorm = "transformer_blocks.0.attn.norm_q.weight"
		double = func(i int) string { return "transformer_blocks." + strconv.Itoa(i) + ".attn.to_q.weight" }
		single = func(i int) string { return "single_transformer_blocks." + strconv.Itoa(i) + ".attn.to_q.weight" }
		guidance = "time_text_embed.guidance_embedder.linear_1.weight"
	}
	c := Config{PatchSize: 1}
	for c.NumLayers = 0; c.NumLayers <= maxBlocks && has[p+double(c.NumLayers)]; c.NumLayers++ {
	}
	for c.NumSingleLayers = 0; c.NumSingleLayers <= maxBlocks && has[p+single(c.NumSingleLayers)]; c.NumSingleLayers++ {
	}
	shape := func(name string, dims int) []int {
		t, ok := r.st.Tensor(p + name)
		if !ok || len(t.Shape) != dims {
			return nil
		}
		return t.Shape
	}
	in, txt, vec, qn := shape(imgIn, 2), shape(txtIn, 2), shape(vecIn, 2), shape(qNorm, 1)
	if in == nil || txt == nil || vec == nil || qn == nil {
		return c, fmt.Errorf("the input projections or q norm have unexpected shapes")
	}
	hidden := in[0]
	c.InChannels, c.JointAttentionDim, c.PooledProjectionDim = in[1], txt[1], vec[1]
	c.AttentionHeadDim = qn[0]
	if c.AttentionHeadDim < 2 || hidden%c.AttentionHeadDim != 0 || txt[0] != hidden || vec[0] != hidden {
		return c, fmt.Errorf("widths do not fit together: hidden %d, text %v, pooled %v, head %d", hidden, txt, vec, c.AttentionHeadDim)
	}
	c.NumAttentionHeads = hidden / c.AttentionHeadDim
	c.GuidanceEmbeds = has[p+guidance]
	c.AxesDimsRope = DefaultAxes(c.AttentionHeadDim)
	return c, nil
}

// reader hands out a store's tensors by name, checking shapes and
// remembering the first error so that builders stay linear.
type reader struct {
	st      Store
	builder quant.Builder
	prefix  string
	used    map[string]bool
	err     error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *reader) tensor(name string) (StoredTensor, bool) {
	t, ok := r.st.Tensor(r.prefix + name)
	if !ok {
		r.fail("missing weight %q", r.prefix+name)
		return StoredTensor{}, false
	}
	r.used[r.prefix+name] = true
	return t, true
}

// vector reads a 1-D tensor of n values as float32 (a small copy at most).
func (r *reader) vector(name string, n int) []float32 {
	t, ok := r.tensor(name)
	if !ok {
		return make([]float32, n)
	}
	if len(t.Shape) != 1 || t.Shape[0] != n {
		r.fail("weight %q has shape %v, want [%d]", name, t.Shape, n)
		return make([]float32, n)
	}
	f, err := toFloat32(t.Type, t.Data)
	if err != nil {
		r.fail("weight %q: %w", name, err)
		return make([]float32, n)
	}
	return f
}

// linear reads name.weight [out, in] (rows [r0, r1) of it; r1 = 0 means
// all) and name.bias; in is checked when positive.
func (r *reader) linear(name string, in, r0, r1 int) Linear {
	w, ok := r.tensor(name + ".weight")
	if !ok {
		return nil
	}
	if len(w.Shape) != 2 || (in > 0 && w.Shape[1] != in) {
		r.fail("weight %q has shape %v, want [*, %d]", name+".weight", w.Shape, in)
		return nil
	}
	if r1 == 0 {
		r1 = w.Shape[0]
	}
	var bias []float32
	if _, ok := r.st.Tensor(r.prefix + name + ".bias"); ok {
		b := r.vector(name+".bias", w.Shape[0])
		bias = b[r0:min(r1, len(b))]
	}
	l, err := newLinear(w, r0, r1, bias, r.builder)
	if err != nil {
		r.fail("%s: %w", name, err)
		return nil
	}
	return l
}

// rows returns the row count of name.weight.
func (r *reader) rows(name string) int {
	t, ok := r.st.Tensor(r.prefix + name + ".weight")
	if !ok || len(t.Shape) != 2 {
		r.fail("missing or malformed weight %q", r.prefix+name+".weight")
		return 0
	}
	return t.Shape[0]
}

// expectRows fails unless a layer has the given output width.
func (r *reader) expectOut(name string, l Linear, out int) {
	if l != nil && l.OutFeatures() != out {
		r.fail("%s has %d outputs, want %d", name, l.OutFeatures(), out)
	}
}

func buildBFL(r *reader, t *Transformer) {
	c := t.Config
	h := c.Hidden()
	hd := c.AttentionHeadDim
	t.imgIn = r.linear("img_in", c.InChannels, 0, 0)
	t.txtIn = r.linear("txt_in", c.JointAttentionDim, 0, 0)
	t.timeIn = mlpEmbedder{r.linear("time_in.in_layer", timeEmbedDim, 0, 0), r.linear("time_in.out_layer", h, 0, 0)}
	if c.GuidanceEmbeds {
		t.guidanceIn = &mlpEmbedder{r.linear("guidance_in.in_layer", timeEmbedDim, 0, 0), r.linear("guidance_in.out_layer", h, 0, 0)}
	}
	t.vectorIn = mlpEmbedder{r.linear("vector_in.in_layer", c.PooledProjectionDim, 0, 0), r.linear("vector_in.out_layer", h, 0, 0)}
	for i := range c.NumLayers {
		p := "double_blocks." + strconv.Itoa(i) + "."
		var b doubleBlock
		for s, st := range []*stream{&b.img, &b.txt} {
			name := [2]string{"img", "txt"}[s]
			st.mod = r.linear(p+name+"_mod.lin", h, 0, 0)
			r.expectOut(p+name+"_mod.lin", st.mod, 6*h)
			qkv := p + name + "_attn.qkv"
			if r.rows(qkv) != 3*h {
				r.fail("%s has %d rows, want %d", qkv, r.rows(qkv), 3*h)
				return
			}
			st.q, st.k, st.v = r.linear(qkv, h, 0, h), r.linear(qkv, h, h, 2*h), r.linear(qkv, h, 2*h, 3*h)
			st.qNorm = r.vector(p+name+"_attn.norm.query_norm.scale", hd)
			st.kNorm = r.vector(p+name+"_attn.norm.key_norm.scale", hd)
			st.proj = r.linear(p+name+"_attn.proj", h, 0, 0)
			r.expectOut(p+name+"_attn.proj", st.proj, h)
			st.mlp0 = r.linear(p+name+"_mlp.0", h, 0, 0)
			if st.mlp0 != nil {
				st.mlp2 = r.linear(p+name+"_mlp.2", st.mlp0.OutFeatures(), 0, 0)
				r.expectOut(p+name+"_mlp.2", st.mlp2, h)
			}
		}
		t.double = append(t.double, b)
	}
	for i := range c.NumSingleLayers {
		p := "single_blocks." + strconv.Itoa(i) + "."
		var b singleBlock
		b.mod = r.linear(p+"modulation.lin", h, 0, 0)
		r.expectOut(p+"modulation.lin", b.mod, 3*h)
		rows := r.rows(p + "linear1")
		if rows <= 3*h {
			r.fail("%slinear1 has %d rows, want more than %d", p, rows, 3*h)
			return
		}
		b.q, b.k, b.v = r.linear(p+"linear1", h, 0, h), r.linear(p+"linear1", h, h, 2*h), r.linear(p+"linear1", h, 2*h, 3*h)
		b.mlp = r.linear(p+"linear1", h, 3*h, rows)
		b.qNorm = r.vector(p+"norm.query_norm.scale", hd)
		b.kNorm = r.vector(p+"norm.key_norm.scale", hd)
		b.out = r.linear(p+"linear2", h+rows-3*h, 0, 0)
		r.expectOut(p+"linear2", b.out, h)
		t.single = append(t.single, b)
	}
	// BFL's final modulation emits (shift, scale).
	t.finalShift = r.linear("final_layer.adaLN_modulation.1", h, 0, h)
	t.finalScale = r.linear("final_layer.adaLN_modulation.1", h, h, 2*h)
	t.finalLinear = r.linear("final_layer.linear", h, 0, 0)
	r.expectOut("final_layer.linear", t.finalLinear, c.InChannels)
}

func buildDiffusers(r *reader, t *Transformer) {
	c := t.Config
	h := c.Hidden()
	hd := c.AttentionHeadDim
	t.imgIn = r.linear("x_embedder", c.InChannels, 0, 0)
	t.txtIn = r.linear("context_embedder", c.JointAttentionDim, 0, 0)
	t.timeIn = mlpEmbedder{r.linear("time_text_embed.timestep_embedder.linear_1", timeEmbedDim, 0, 0),
		r.linear("time_text_embed.timestep_embedder.linear_2", h, 0, 0)}
	if c.GuidanceEmbeds {
		t.guidanceIn = &mlpEmbedder{r.linear("time_text_embed.guidance_embedder.linear_1", timeEmbedDim, 0, 0),
			r.linear("time_text_embed.guidance_embedder.linear_2", h, 0, 0)}
	}
	t.vectorIn = mlpEmbedder{r.linear("time_text_embed.text_embedder.linear_1", c.PooledProjectionDim, 0, 0),
		r.linear("time_text_embed.text_embedder.linear_2", h, 0, 0)}
	for i := range c.NumLayers {
		p := "transformer_blocks." + strconv.Itoa(i) + "."
		var b doubleBlock
		names := [2]struct{ mod, q, k, v, qn, kn, proj, ff string }{
			{"norm1.linear", "attn.to_q", "attn.to_k", "attn.to_v", "attn.norm_q", "attn.norm_k", "attn.to_out.0", "ff"},
			{"norm1_context.linear", "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj", "attn.norm_added_q", "attn.norm_added_k", "attn.to_add_out", "ff_context"},
		}
		for s, st := range []*stream{&b.img, &b.txt} {
			n := names[s]
			st.mod = r.linear(p+n.mod, h, 0, 0)
			r.expectOut(p+n.mod, st.mod, 6*h)
			st.q, st.k, st.v = r.linear(p+n.q, h, 0, 0), r.linear(p+n.k, h, 0, 0), r.linear(p+n.v, h, 0, 0)
			for _, l := range []Linear{st.q, st.k, st.v} {
				r.expectOut(p+n.q, l, h)
			}
			st.qNorm = r.vector(p+n.qn+".weight", hd)
			st.kNorm = r.vector(p+n.kn+".weight", hd)
			st.proj = r.linear(p+n.proj, h, 0, 0)
			r.expectOut(p+n.proj, st.proj, h)
			st.mlp0 = r.linear(p+n.ff+".net.0.proj", h, 0, 0)
			if st.mlp0 != nil {
				st.mlp2 = r.linear(p+n.ff+".net.2", st.mlp0.OutFeatures(), 0, 0)
				r.expectOut(p+n.ff+".net.2", st.mlp2, h)
			}
		}
		t.double = append(t.double, b)
	}
	for i := range c.NumSingleLayers {
		p := "single_transformer_blocks." + strconv.Itoa(i) + "."
		var b singleBlock
		b.mod = r.linear(p+"norm.linear", h, 0, 0)
		r.expectOut(p+"norm.linear", b.mod, 3*h)
		b.q, b.k, b.v = r.linear(p+"attn.to_q", h, 0, 0), r.linear(p+"attn.to_k", h, 0, 0), r.linear(p+"attn.to_v", h, 0, 0)
		for _, l := range []Linear{b.q, b.k, b.v} {
			r.expectOut(p+"attn.to_q", l, h)
		}
		b.mlp = r.linear(p+"proj_mlp", h, 0, 0)
		b.qNorm = r.vector(p+"attn.norm_q.weight", hd)
		b.kNorm = r.vector(p+"attn.norm_k.weight", hd)
		if b.mlp != nil {
			b.out = r.linear(p+"proj_out", h+b.mlp.OutFeatures(), 0, 0)
			r.expectOut(p+"proj_out", b.out, h)
		}
		t.single = append(t.single, b)
	}
	// diffusers' AdaLayerNormContinuous emits (scale, shift).
	t.finalScale = r.linear("norm_out.linear", h, 0, h)
	t.finalShift = r.linear("norm_out.linear", h, h, 2*h)
	t.finalLinear = r.linear("proj_out", h, 0, 0)
	r.expectOut("proj_out", t.finalLinear, c.InChannels)
}
