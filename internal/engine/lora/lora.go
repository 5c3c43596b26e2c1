// Package lora reads LoRA and LyCORIS adapter files and computes the weight
// change each adapted layer receives.
//
// A file is parsed once into Layers grouped by the network they adapt (UNet,
// first or second text encoder), keyed by the file's own module naming. The
// layouts understood are kohya / A1111 (lora_unet_…, lora_te_…, lora_te1_…,
// lora_te2_…, with SGM block names for SDXL), LyCORIS LoHa (hada_*) and LoKr
// (lokr_*) under kohya names, diffusers / PEFT (lora_A / lora_B), the
// diffusers 0.21–0.25 layout (lora.down / lora.up, lora_linear_layer) and the
// older attention-processor layout (processor.to_q_lora.down). Resolve then
// maps the layers onto a network's modules (diffusers / transformers names)
// and checks every shape against the module's weight before anything is
// computed; Delta gives the module's scaled weight change s·ΔW:
//
//	LoRA / LoCon  ΔW = up.flatten(1) @ down.flatten(1),          s = alpha / rank
//	LoHa          ΔW = (w1a @ w1b) ⊙ (w2a @ w2b),               s = alpha / rank
//	LoKr          ΔW = kron(w1, w2), w = full or a @ b,          s = alpha / rank, 1 when both are full
//
// reshaped to the module's weight shape; without an alpha s is 1. A run adds
// Σ weightᵢ · sᵢ · ΔWᵢ of every LoRA it uses.
//
// Everything read from a file is bounded (tensor and layer counts, ranks,
// total elements) and shapes must fit the target module, so a hostile file
// yields an error, never an allocation it chose.
package lora

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/invokego/invokego/internal/engine/safetensors"
)

// Component names the network a layer adapts.
type Component string

// The networks of a Stable Diffusion pipeline that LoRAs adapt.
const (
	UNet         Component = "unet"
	TextEncoder  Component = "text_encoder"
	TextEncoder2 Component = "text_encoder_2"
)

// Kind is the decomposition a layer stores.
type Kind int

// Layer kinds.
const (
	KindLoRA Kind = iota // up · down (LoRA, LoCon)
	KindLoHa             // LyCORIS Hadamard product
	KindLoKr             // LyCORIS Kronecker product
)

func (k Kind) String() string {
	switch k {
	case KindLoRA:
		return "lora"
	case KindLoHa:
		return "loha"
	case KindLoKr:
		return "lokr"
	}
	return "unknown"
}

// Format is the key layout of a file.
type Format string

// Key layouts.
const (
	FormatKohya        Format = "kohya"         // lora_unet_… / lora_te_… (and LyCORIS)
	FormatPEFT         Format = "peft"          // <component>.<module>.lora_A/lora_B.weight
	FormatDiffusers    Format = "diffusers"     // <component>.<module>.lora.down/up.weight
	FormatDiffusersOld Format = "diffusers_old" // <component>.<…>.processor.to_q_lora.down.weight
)

// Limits bound what one file may make the parser and the merge do.
type Limits struct {
	MaxTensors  int   // tensors in the file
	MaxLayers   int   // adapted modules
	MaxRank     int   // rank of any factorisation
	MaxElements int64 // float32 values held for the whole file
}

// DefaultLimits fit any real LoRA (the largest full-rank LoCon files hold a
// few hundred million values) with a wide margin.
var DefaultLimits = Limits{MaxTensors: 200_000, MaxLayers: 50_000, MaxRank: 8192, MaxElements: 1 << 30}

// ErrInvalid means the file is not a LoRA this package can use.
var ErrInvalid = errors.New("lora: invalid file")

// param is one stored tensor, widened to float32.
type param struct {
	data  []float32
	shape []int
}

// rows and cols view the tensor as the matrix [shape[0], rest] (PyTorch's
// flatten(1)).
func (p param) rows() int { return p.shape[0] }
func (p param) cols() int {
	n := 1
	for _, d := range p.shape[1:] {
		n *= d
	}
	return n
}

// Layer is one module's adapter as stored in the file.
type Layer struct {
	Component Component
	// Key is the module as the file names it: the kohya stem without its
	// lora_unet_ / lora_te_ prefix, or the dotted module path.
	Key  string
	Kind Kind

	params   map[string]param // by suffix: "up", "down", "hada_w1_a", "lokr_w1", …
	alpha    float32
	hasAlpha bool
}

// File is a parsed LoRA file.
type File struct {
	Format Format
	Layers []*Layer // sorted by component, then key
}

// Components lists the networks the file adapts, in a fixed order.
func (f *File) Components() []Component {
	seen := map[Component]bool{}
	for _, l := range f.Layers {
		seen[l.Component] = true
	}
	var out []Component
	for _, c := range []Component{UNet, TextEncoder, TextEncoder2} {
		if seen[c] {
			out = append(out, c)
		}
	}
	return out
}

// Open parses a LoRA .safetensors file under DefaultLimits.
func Open(path string) (*File, error) { return OpenWithLimits(path, DefaultLimits) }

// OpenWithLimits parses a LoRA .safetensors file.
func OpenWithLimits(path string, lim Limits) (*File, error) {
	st, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	defer st.Close()
	f, err := Parse(st, lim)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Source is what Parse reads tensors from (a *safetensors.File).
type Source interface {
	Names() []string
	Info(name string) (safetensors.TensorInfo, bool)
	Float32(name string) ([]float32, []int, error)
}

// Parse groups a file's tensors into layers and validates each layer's
// structure. Shapes against the target network are checked by Resolve.
func Parse(src Source, lim Limits) (*File, error) {
	names := src.Names()
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: the file holds no tensors", ErrInvalid)
	}
	if len(names) > lim.MaxTensors {
		return nil, fmt.Errorf("%w: %d tensors (at most %d)", ErrInvalid, len(names), lim.MaxTensors)
	}
	type layerKey struct {
		comp Component
		key  string
	}
	layers := map[layerKey]*Layer{}
	formats := map[Format]bool{}
	var total int64
	for _, name := range names {
		k, err := classify(name)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		formats[k.format] = true
		info, _ := src.Info(name)
		switch info.DType {
		case safetensors.F32, safetensors.F16, safetensors.BF16, safetensors.F64:
		default:
			return nil, fmt.Errorf("%w: tensor %q has dtype %s (want a float type)", ErrInvalid, name, info.DType)
		}
		if len(info.Shape) > 4 {
			return nil, fmt.Errorf("%w: tensor %q has %d dimensions", ErrInvalid, name, len(info.Shape))
		}
		n := int64(info.NumElements())
		if total += n; total > lim.MaxElements {
			return nil, fmt.Errorf("%w: more than %d values", ErrInvalid, lim.MaxElements)
		}
		lk := layerKey{k.comp, k.module}
		l := layers[lk]
		if l == nil {
			if len(layers) >= lim.MaxLayers {
				return nil, fmt.Errorf("%w: more than %d adapted modules", ErrInvalid, lim.MaxLayers)
			}
			l = &Layer{Component: k.comp, Key: k.module, params: map[string]param{}}
			layers[lk] = l
		}
		if _, dup := l.params[k.suffix]; dup || (k.suffix == "alpha" && l.hasAlpha) {
			return nil, fmt.Errorf("%w: %q is stored twice for module %q", ErrInvalid, k.suffix, k.module)
		}
		data, shape, err := src.Float32(name)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if k.suffix == "alpha" {
			if len(data) != 1 {
				return nil, fmt.Errorf("%w: alpha of %q has shape %v (want a scalar)", ErrInvalid, k.module, shape)
			}
			l.alpha, l.hasAlpha = data[0], true
			continue
		}
		if len(shape) == 0 {
			return nil, fmt.Errorf("%w: tensor %q is a scalar", ErrInvalid, name)
		}
		for _, d := range shape {
			if d == 0 {
				return nil, fmt.Errorf("%w: tensor %q has an empty dimension", ErrInvalid, name)
			}
		}
		l.params[k.suffix] = param{data: data, shape: shape}
	}
	f := &File{}
	for _, l := range layers {
		if err := l.validate(lim); err != nil {
			return nil, fmt.Errorf("%w: module %q: %v", ErrInvalid, l.Key, err)
		}
		f.Layers = append(f.Layers, l)
	}
	if len(f.Layers) == 0 {
		return nil, fmt.Errorf("%w: no LoRA layers", ErrInvalid)
	}
	sort.Slice(f.Layers, func(i, j int) bool {
		a, b := f.Layers[i], f.Layers[j]
		if a.Component != b.Component {
			return a.Component < b.Component
		}
		return a.Key < b.Key
	})
	for _, fm := range []Format{FormatKohya, FormatPEFT, FormatDiffusers, FormatDiffusersOld} {
		if formats[fm] {
			f.Format = fm
			break
		}
	}
	return f, nil
}

// validate works out the layer's kind from its tensors and checks that the
// factors fit together; the target shape is checked later, by Resolve.
func (l *Layer) validate(lim Limits) error {
	has := func(s string) bool { _, ok := l.params[s]; return ok }
	set := make([]string, 0, len(l.params))
	for s := range l.params {
		set = append(set, s)
	}
	sort.Strings(set)
	want := func(allowed ...string) error {
		for _, s := range set {
			if !contains(allowed, s) {
				return fmt.Errorf("unexpected tensor %q beside %s", s, strings.Join(allowed, ", "))
			}
		}
		return nil
	}
	switch {
	case has("up") || has("down"):
		l.Kind = KindLoRA
		if !has("up") || !has("down") {
			return errors.New("needs both the up and the down matrix")
		}
		if err := want("up", "down"); err != nil {
			return err
		}
		up, down := l.params["up"], l.params["down"]
		r := down.rows()
		if up.cols() != r {
			return fmt.Errorf("up %v does not match down %v", up.shape, down.shape)
		}
		return checkRank(r, lim)
	case has("hada_w1_a") || has("hada_w1_b") || has("hada_w2_a") || has("hada_w2_b"):
		l.Kind = KindLoHa
		for _, s := range []string{"hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"} {
			if !has(s) {
				return fmt.Errorf("LoHa needs %s", s)
			}
		}
		if err := want("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"); err != nil {
			return err
		}
		w1a, w1b, w2a, w2b := l.params["hada_w1_a"], l.params["hada_w1_b"], l.params["hada_w2_a"], l.params["hada_w2_b"]
		for _, p := range []param{w1a, w2a} {
			if len(p.shape) != 2 {
				return fmt.Errorf("LoHa factor of shape %v (want a matrix)", p.shape)
			}
		}
		if w1a.shape[1] != w1b.rows() || w2a.shape[1] != w2b.rows() {
			return fmt.Errorf("LoHa factors %v·%v and %v·%v do not chain", w1a.shape, w1b.shape, w2a.shape, w2b.shape)
		}
		if w1a.rows() != w2a.rows() || w1b.cols() != w2b.cols() {
			return fmt.Errorf("LoHa products %dx%d and %dx%d differ", w1a.rows(), w1b.cols(), w2a.rows(), w2b.cols())
		}
		if err := checkRank(w1b.rows(), lim); err != nil {
			return err
		}
		return checkRank(w2b.rows(), lim)
	case has("lokr_w1") || has("lokr_w1_a") || has("lokr_w2") || has("lokr_w2_a"):
		l.Kind = KindLoKr
		if err := want("lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b"); err != nil {
			return err
		}
		for _, side := range []string{"lokr_w1", "lokr_w2"} {
			full, a, b := has(side), has(side+"_a"), has(side+"_b")
			switch {
			case full && !a && !b:
				p := l.params[side]
				if side == "lokr_w1" && len(p.shape) != 2 {
					return fmt.Errorf("lokr_w1 of shape %v (want a matrix)", p.shape)
				}
				if side == "lokr_w2" && len(p.shape) != 2 && len(p.shape) != 4 {
					return fmt.Errorf("lokr_w2 of shape %v", p.shape)
				}
			case !full && a && b:
				pa, pb := l.params[side+"_a"], l.params[side+"_b"]
				if len(pa.shape) != 2 || pa.shape[1] != pb.rows() {
					return fmt.Errorf("%s_a %v and %s_b %v do not chain", side, pa.shape, side, pb.shape)
				}
				if side == "lokr_w1" && len(pb.shape) != 2 {
					return fmt.Errorf("lokr_w1_b of shape %v (want a matrix)", pb.shape)
				}
				if len(pb.shape) > 2 {
					return fmt.Errorf("a Tucker-decomposed %s (shape %v) is not supported", side, pb.shape)
				}
				if err := checkRank(pb.rows(), lim); err != nil {
					return err
				}
			default:
				return fmt.Errorf("LoKr needs %s or both %s_a and %s_b", side, side, side)
			}
		}
		return nil
	}
	if len(set) == 0 {
		return errors.New("only an alpha, no weights")
	}
	return fmt.Errorf("unsupported tensors %v", set)
}

func checkRank(r int, lim Limits) error {
	if r < 1 || r > lim.MaxRank {
		return fmt.Errorf("rank %d outside 1..%d", r, lim.MaxRank)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Rank is the layer's rank, or 0 for a LoKr whose factors are both full
// (which has none).
func (l *Layer) Rank() int {
	switch l.Kind {
	case KindLoRA:
		return l.params["down"].rows()
	case KindLoHa:
		return l.params["hada_w1_b"].rows()
	case KindLoKr:
		if p, ok := l.params["lokr_w1_b"]; ok {
			return p.rows()
		}
		if p, ok := l.params["lokr_w2_b"]; ok {
			return p.rows()
		}
	}
	return 0
}

// Scale is s = alpha / rank: 1 without an alpha, and 1 for a LoKr whose
// factors are both full, whatever alpha it stores (LyCORIS ignores it then).
func (l *Layer) Scale() float32 {
	r := l.Rank()
	if !l.hasAlpha || r == 0 {
		return 1
	}
	return l.alpha / float32(r)
}

// LowRank returns a LoRA layer's factors as matrices up [out, r] and
// down [r, in·kh·kw] (views of the layer's data, not to be modified), with
// the scale s. ok is false for LoHa and LoKr, whose change is not a product
// of two thin matrices.
func (l *Layer) LowRank() (up, down []float32, rank int, scale float32, ok bool) {
	if l.Kind != KindLoRA {
		return nil, nil, 0, 0, false
	}
	u, d := l.params["up"], l.params["down"]
	return u.data, d.data, d.rows(), l.Scale(), true
}

// Bytes is the memory the parsed layers hold (float32 values).
func (f *File) Bytes() int64 {
	var n int64
	for _, l := range f.Layers {
		for _, p := range l.params {
			n += int64(len(p.data)) * 4
		}
	}
	return n
}

// ParseBytes parses an in-memory LoRA .safetensors file.
func ParseBytes(data []byte, lim Limits) (*File, error) {
	h, err := safetensors.ParseHeader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return Parse(&memSource{h: h, data: data}, lim)
}

// memSource reads tensors from a safetensors file held in memory.
type memSource struct {
	h    *safetensors.Header
	data []byte
}

func (m *memSource) Names() []string { return m.h.Names() }

func (m *memSource) Info(name string) (safetensors.TensorInfo, bool) { return m.h.Info(name) }

func (m *memSource) Float32(name string) ([]float32, []int, error) {
	info, ok := m.h.Info(name)
	if !ok {
		return nil, nil, fmt.Errorf("tensor %q not found", name)
	}
	off := m.h.DataOffset
	out, err := safetensors.ToFloat32(info.DType, m.data[off+info.Begin:off+info.End])
	if err != nil {
		return nil, nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	return out, info.Shape, nil
}
