package esrgan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/invokego/invokego/internal/engine/safetensors"
)

// Weights is a source of named tensors: every shape up front (so the architecture can be checked
// before anything is read), the data of one tensor on demand, widened to float32.
type Weights interface {
	Shapes() map[string][]int
	Float32(name string) ([]float32, error)
}

// Options tune how a model is built.
type Options struct {
	// Precision of the packed convolution weights: "" or "fp32" (the reference to float32
	// rounding), or "bf16": bfloat16 weights and operands with float32 sums (about twice the speed
	// on CPUs with AVX512_BF16; relative errors of a few 1e-3). The first and last convolutions
	// stay fp32 either way.
	Precision string
}

// Model is a loaded network. It is immutable once built and safe for concurrent use.
type Model struct {
	Spec Spec

	// RRDBNet.
	first        *conv3
	blocks       [][3][5]*conv3 // [block][rdb][conv]
	body         *conv3
	ups          []*conv3
	hr, last     *conv3
	compactConvs []*conv3 // Compact: body convs in order, the last one feeding the pixel shuffle
	prelus       [][]float32
}

// Load reads a model file: .safetensors, or a torch.save checkpoint (.pth, .pt, .ckpt, .bin) in
// the zip format.
func Load(path string, opts Options) (*Model, error) {
	var w Weights
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".safetensors", ".sft":
		f, err := safetensors.Open(path)
		if err != nil {
			return nil, fmt.Errorf("esrgan: %w", err)
		}
		defer f.Close()
		w = safetensorsWeights{f}
	case ".pth", ".pt", ".ckpt", ".bin":
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("esrgan: %w", err)
		}
		defer f.Close()
		tw, err := openTorch(f)
		if err != nil {
			return nil, fmt.Errorf("esrgan: %s: %w", filepath.Base(path), err)
		}
		w = tw
	default:
		return nil, fmt.Errorf("esrgan: %s: unsupported file type %q", filepath.Base(path), ext)
	}
	m, err := New(w, opts)
	if err != nil {
		return nil, fmt.Errorf("esrgan: %s: %w", filepath.Base(path), err)
	}
	return m, nil
}

type safetensorsWeights struct{ f *safetensors.File }

func (s safetensorsWeights) Shapes() map[string][]int {
	out := make(map[string][]int, len(s.f.Header.Tensors))
	for _, t := range s.f.Header.Tensors {
		out[t.Name] = t.Shape
	}
	return out
}

func (s safetensorsWeights) Float32(name string) ([]float32, error) {
	d, _, err := s.f.Float32(name)
	return d, err
}

// New checks the tensors against the architecture they describe and builds the model.
func New(w Weights, opts Options) (*Model, error) {
	var bf16 bool
	switch opts.Precision {
	case "", "fp32":
	case "bf16":
		bf16 = true
	default:
		return nil, fmt.Errorf("unknown precision %q (want fp32 or bf16)", opts.Precision)
	}
	shapes := w.Shapes()
	spec, err := Inspect(shapes)
	if err != nil {
		return nil, err
	}
	// Names in the file may carry a wrapper prefix that Inspect removed.
	prefix := wrapperPrefix(shapes)
	var loadErr error
	conv := func(canonical string, inC, outC int, fp32 bool) *conv3 {
		if loadErr != nil {
			return nil
		}
		wt, err := w.Float32(prefix + spec.fileName(canonical+".weight"))
		if err != nil {
			loadErr = fmt.Errorf("%s: %w", canonical, err)
			return nil
		}
		b, err := w.Float32(prefix + spec.fileName(canonical+".bias"))
		if err != nil {
			loadErr = fmt.Errorf("%s: %w", canonical, err)
			return nil
		}
		c, err := newConv3(inC, outC, wt, b, bf16 && !fp32)
		if err != nil {
			loadErr = fmt.Errorf("%s: %w", canonical, err)
		}
		return c
	}
	m := &Model{Spec: *spec}
	switch spec.Arch {
	case ArchESRGAN:
		f, g := spec.Features, spec.Growth
		m.first = conv("conv_first", spec.InChannels*spec.Shuffle*spec.Shuffle, f, true)
		m.blocks = make([][3][5]*conv3, spec.Blocks)
		for b := range spec.Blocks {
			for r := range 3 {
				for k := range 4 {
					m.blocks[b][r][k] = conv(fmt.Sprintf("body.%d.rdb%d.conv%d", b, r+1, k+1), f+k*g, g, false)
				}
				m.blocks[b][r][4] = conv(fmt.Sprintf("body.%d.rdb%d.conv5", b, r+1), f+4*g, f, false)
			}
		}
		m.body = conv("conv_body", f, f, false)
		for u := 1; u <= spec.UpConvs; u++ {
			m.ups = append(m.ups, conv(fmt.Sprintf("conv_up%d", u), f, f, false))
		}
		m.hr = conv("conv_hr", f, f, false)
		m.last = conv("conv_last", f, spec.OutChannels, true)
	case ArchCompact:
		f := spec.Features
		m.compactConvs = append(m.compactConvs, conv("body.0", spec.InChannels, f, true))
		for i := range spec.Blocks {
			m.compactConvs = append(m.compactConvs, conv(fmt.Sprintf("body.%d", 2+2*i), f, f, false))
		}
		s := spec.Scale
		m.compactConvs = append(m.compactConvs, conv(fmt.Sprintf("body.%d", 2+2*spec.Blocks), f, spec.OutChannels*s*s, true))
		for i := 0; i <= spec.Blocks && loadErr == nil; i++ {
			p, err := w.Float32(prefix + fmt.Sprintf("body.%d.weight", 1+2*i))
			if err != nil {
				loadErr = err
				break
			}
			m.prelus = append(m.prelus, p)
		}
	}
	if loadErr != nil {
		return nil, loadErr
	}
	return m, nil
}

// FLOPs returns the multiply-add count ×2 of one forward pass over an h×w input (already padded
// to the size requirement), for benchmarks.
func (m *Model) FLOPs(h, w int) float64 {
	s := m.Spec
	var total float64
	switch s.Arch {
	case ArchESRGAN:
		lh, lw := h/s.Shuffle, w/s.Shuffle
		total += m.first.flops(lh, lw) + m.body.flops(lh, lw)
		for _, b := range m.blocks {
			for _, r := range b {
				for _, c := range r {
					total += c.flops(lh, lw)
				}
			}
		}
		for i, c := range m.ups {
			total += c.flops(lh<<(i+1), lw<<(i+1))
		}
		th, tw := lh<<s.UpConvs, lw<<s.UpConvs
		total += m.hr.flops(th, tw) + m.last.flops(th, tw)
	case ArchCompact:
		for _, c := range m.compactConvs {
			total += c.flops(h, w)
		}
	}
	return total
}

// forward runs the network on x [InChannels, h, w], which meets the size requirement, and
// returns [OutChannels, h·Scale, w·Scale], unclamped.
func (m *Model) forward(ctx context.Context, x []float32, h, w int) ([]float32, error) {
	if m.Spec.Arch == ArchCompact {
		return m.forwardCompact(ctx, x, h, w)
	}
	return m.forwardRRDB(ctx, x, h, w)
}
