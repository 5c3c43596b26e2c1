package sd

import (
	"fmt"
	"sort"
	"strings"

	"github.com/invokego/invokego/internal/engine/gemm"
	"github.com/invokego/invokego/internal/engine/safetensors"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// StateDict maps parameter names to float32 tensors, like a PyTorch
// state_dict. Weights stored in float16/bfloat16 are widened on load.
type StateDict map[string]*tensor.Tensor

// LoadStateDict reads every tensor of a safetensors file as float32.
// Names for which skip returns true are not loaded.
func LoadStateDict(path string, skip func(name string) bool) (StateDict, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sd := make(StateDict, len(f.Header.Tensors))
	for _, name := range f.Names() {
		if skip != nil && skip(name) {
			continue
		}
		data, shape, err := f.Float32(name)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", path, err)
		}
		sd[name] = &tensor.Tensor{Shape: shape, Data: data}
	}
	return sd, nil
}

// WithPrefix returns the entries whose names start with prefix, with the
// prefix removed.
func (sd StateDict) WithPrefix(prefix string) StateDict {
	out := StateDict{}
	for k, v := range sd {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			out[rest] = v
		}
	}
	return out
}

// weightReader hands out parameters by name for model construction,
// checking shapes, remembering the first error (so builders stay linear) and
// tracking which entries were used so leftovers can be reported.
type weightReader struct {
	sd StateDict
	// file, when set, is the source instead of sd: each tensor is converted
	// to float32 when the builder asks for it and its file pages evicted,
	// and each layer is packed as soon as it is built, so a bf16 build
	// never holds the model in float32 (see fileReader).
	file    *safetensors.File
	used    map[string]bool
	err     error
	linears []*tensor.Linear // every layer built, for packing
	convs   []*tensor.Conv2D
	noPack  bool // tests that only check structure skip packing
	bf16    bool // pack weights as bfloat16 (Options.Precision "bf16")
	// Layers kept in fp32 even with bf16 (see keepFP32); packed first.
	fp32Linears []*tensor.Linear
	fp32Convs   []*tensor.Conv2D
	names       *layerNames // module name of every layer built, for LayerPatcher
}

// keepFP32 names the layers that stay fp32 under Options.Precision "bf16":
// the UNet's and VAE's first and last convolutions, the time embedding MLP
// and its per-block projections, and the cross-attention key/value
// projections of the 77-token text context: a negligible share of the work
// whose rounding is felt everywhere.
func keepFP32(name string) bool {
	switch {
	case name == "conv_in", name == "conv_out",
		strings.HasSuffix(name, "coder.conv_in"), strings.HasSuffix(name, "coder.conv_out"),
		strings.HasPrefix(name, "time_embedding."), strings.HasPrefix(name, "add_embedding."),
		strings.HasSuffix(name, ".time_emb_proj"), strings.HasSuffix(name, ".attn2.to_k"), strings.HasSuffix(name, ".attn2.to_v"):
		return true
	}
	return false
}

// Options tune how a model is built from its weights.
type Options struct {
	// Precision of the packed weights of linear and convolution layers:
	// "" or "fp32" (the default, matching the reference to float32
	// rounding) or "bf16": weights rounded to bfloat16 and products taken
	// with bfloat16 operands and float32 sums (half the weight memory, about
	// twice the speed on CPUs with AVX512_BF16, relative errors of a few
	// 1e-3 per layer). Norms, attention softmax and activations stay float32.
	Precision string
}

// ResolvePrecision turns the precision setting (invokeai.yaml's
// `precision`, or a request's) into what Options.Precision takes: "fp32" or
// "bf16". It accepts InvokeAI's names (auto, float32, bfloat16, float16) and
// the short ones (fp32, bf16). "auto" (and "") picks bf16 where products run
// on a bf16 kernel (AVX-512-BF16, gemm.HasNativeBF16) and fp32 elsewhere, as
// widening bf16 weights back to fp32 is slower than fp32 itself; the bf16
// images stay within the tolerance measured against the fp32 goldens (see
// docs/performance.md). "float16" has no CPU kernel and means fp32, as
// InvokeAI runs on a CPU.
func ResolvePrecision(setting string) (string, error) {
	switch setting {
	case "", "auto":
		if gemm.HasNativeBF16() {
			return "bf16", nil
		}
		return "fp32", nil
	case "fp32", "float32", "float16":
		return "fp32", nil
	case "bf16", "bfloat16":
		return "bf16", nil
	}
	return "", fmt.Errorf("unknown precision %q (want auto, fp32, bf16, float32, bfloat16 or float16)", setting)
}

func (o Options) reader(sd StateDict) (*weightReader, error) {
	r := newWeightReader(sd)
	switch o.Precision {
	case "", "fp32":
	case "bf16":
		r.bf16 = true
	default:
		return nil, fmt.Errorf("unknown precision %q (want fp32 or bf16)", o.Precision)
	}
	return r, nil
}

// fileReader is Options.reader over a safetensors file read lazily: the
// peak of a build is what it packed so far plus one tensor in float32,
// instead of the whole model in float32 (an SD-1.5 UNet: 3.4 GB) beside
// what it packed. The file must stay open until the build returns.
func (o Options) fileReader(f *safetensors.File) (*weightReader, error) {
	r, err := o.reader(nil)
	if err != nil {
		return nil, err
	}
	r.file = f
	return r, nil
}

func newWeightReader(sd StateDict) *weightReader {
	return &weightReader{sd: sd, used: make(map[string]bool, len(sd)),
		names: &layerNames{linear: map[*tensor.Linear]string{}, conv: map[*tensor.Conv2D]string{}}}
}

func (r *weightReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *weightReader) has(name string) bool {
	if r.file != nil {
		_, ok := r.file.Info(name)
		return ok
	}
	_, ok := r.sd[name]
	return ok
}

// lookup returns the named tensor, converted from the file when reading
// one.
func (r *weightReader) lookup(name string) (*tensor.Tensor, bool) {
	if r.file == nil {
		t, ok := r.sd[name]
		return t, ok
	}
	if _, ok := r.file.Info(name); !ok {
		return nil, false
	}
	data, shape, err := r.file.Float32(name)
	if err != nil {
		r.fail("%v", err)
		return nil, false
	}
	r.file.Evict(name)
	return &tensor.Tensor{Shape: shape, Data: data}, true
}

// get returns the tensor and checks its shape; a -1 in want matches any size.
func (r *weightReader) get(name string, want ...int) *tensor.Tensor {
	t, ok := r.lookup(name)
	if !ok {
		r.fail("missing weight %q", name)
		return &tensor.Tensor{Shape: want, Data: make([]float32, max(0, tensor.NumElements(want)))}
	}
	r.used[name] = true
	if want != nil {
		okShape := len(t.Shape) == len(want)
		for i := 0; okShape && i < len(want); i++ {
			okShape = want[i] < 0 || want[i] == t.Shape[i]
		}
		if !okShape {
			r.fail("weight %q has shape %v, want %v", name, t.Shape, want)
		}
	}
	return t
}

// shape returns the shape of a weight without marking it used, or nil.
func (r *weightReader) shape(name string) []int {
	if r.file != nil {
		if info, ok := r.file.Info(name); ok {
			return info.Shape
		}
	} else if t, ok := r.sd[name]; ok {
		return t.Shape
	}
	r.fail("missing weight %q", name)
	return nil
}

func (r *weightReader) vec(name string, n int) []float32 { return r.get(name, n).Data }

// linear reads name.weight [out,in] and, when present, name.bias.
func (r *weightReader) linear(name string) *tensor.Linear {
	s := r.shape(name + ".weight")
	if len(s) != 2 {
		r.fail("linear %q: weight shape %v", name, s)
		return &tensor.Linear{}
	}
	w := r.get(name+".weight", s...)
	var b []float32
	if r.has(name + ".bias") {
		b = r.vec(name+".bias", s[0])
	}
	l, err := tensor.NewLinear(s[1], s[0], w.Data, b)
	if err != nil {
		r.fail("%s: %w", name, err)
		return &tensor.Linear{}
	}
	r.linears = append(r.linears, l)
	r.names.linear[l] = name
	if keepFP32(name) {
		r.fp32Linears = append(r.fp32Linears, l)
	}
	if r.file != nil && !r.noPack {
		// Its weight is this build's own copy: pack it now (as finish
		// would) so the float32 copy goes at once.
		if r.bf16 && !keepFP32(name) {
			l.PackBF16()
		} else {
			l.Pack()
		}
	}
	return l
}

// conv reads name.weight [out,in,kh,kw] and name.bias.
func (r *weightReader) conv(name string, stride, pad int) *tensor.Conv2D {
	s := r.shape(name + ".weight")
	if len(s) != 4 {
		r.fail("conv %q: weight shape %v", name, s)
		return &tensor.Conv2D{Stride: 1}
	}
	w := r.get(name+".weight", s...)
	var b []float32
	if r.has(name + ".bias") {
		b = r.vec(name+".bias", s[0])
	}
	c, err := tensor.NewConv2D(s[1], s[0], s[2], s[3], stride, pad, w.Data, b)
	if err != nil {
		r.fail("%s: %w", name, err)
		return &tensor.Conv2D{Stride: 1}
	}
	r.convs = append(r.convs, c)
	r.names.conv[c] = name
	if keepFP32(name) {
		r.fp32Convs = append(r.fp32Convs, c)
	}
	if r.file != nil && !r.noPack {
		if r.bf16 && !keepFP32(name) {
			c.PackBF16()
		} else {
			c.Pack()
		}
	}
	return c
}

// unused lists entries never read, which usually means a mapping bug.
func (r *weightReader) unused() []string {
	var out []string
	keys := make([]string, 0, len(r.sd))
	for k := range r.sd {
		keys = append(keys, k)
	}
	if r.file != nil {
		keys = r.file.Names()
	}
	for _, k := range keys {
		if !r.used[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// finish returns the first error, or an error naming unused weights. On
// success it pre-packs every linear and convolution layer for gemm (as
// bfloat16 when r.bf16), releasing their unpacked weights.
func (r *weightReader) finish(what string) error {
	if r.err != nil {
		return fmt.Errorf("build %s: %w", what, r.err)
	}
	if u := r.unused(); len(u) > 0 {
		if len(u) > 5 {
			u = append(u[:5], fmt.Sprintf("... (%d more)", len(u)-5))
		}
		return fmt.Errorf("build %s: unexpected weights %v", what, u)
	}
	if !r.noPack {
		for _, l := range r.fp32Linears {
			l.Pack()
		}
		for _, c := range r.fp32Convs {
			c.Pack()
		}
		for _, l := range r.linears {
			if r.bf16 {
				l.PackBF16()
			} else {
				l.Pack()
			}
		}
		for _, c := range r.convs {
			if r.bf16 {
				c.PackBF16()
			} else {
				c.Pack()
			}
		}
	}
	return nil
}
