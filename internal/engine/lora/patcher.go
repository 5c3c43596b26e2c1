package lora

import (
	"fmt"
	"sync"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// Applying LoRAs for one run (docs/architecture.md, "A model": cached
// engine models are immutable). The Patcher is handed to a forward call as
// its layer patcher and gives, for an adapted layer, a run-owned copy of the
// cached layer; the cached layer is never written. The copy is built once
// per run, on first use, in one of two ways:
//
//   - merged: its packed weight is the cached packed weight plus the packing
//     of Σ w·s·ΔW (packing is linear, so this is exactly W + ΔW packed). A
//     step then costs what it costs without the LoRA; the run holds a copy
//     of the layers it changes.
//   - beside: for LoRA / LoCon layers once the merged copies reach half of
//     the network's weights (a LoRA that adapts nearly everything), the copy
//     shares the cached weight and adds w·s·up·(down·x) (tensor.Delta):
//     (in + out)·rank values of memory, 2·rank·(in + out) multiply-adds per
//     output position. LoHa and LoKr have no thin factors and are always
//     merged.
//
// So a run never holds more than about one and a half times the network.

// Weighted is a LoRA file with the weight a run applies it at.
type Weighted struct {
	File   *File
	Weight float32
}

// Patcher applies LoRAs to one network for one run. It satisfies the engine
// networks' LayerPatcher (package sd) and is safe for concurrent use.
type Patcher struct {
	patches map[string][]weightedPatch // by module name
	budget  int64                      // bytes of merged copies allowed
	merged  int64                      // bytes of merged copies made

	mu   sync.Mutex
	lin  map[*tensor.Linear]*tensor.Linear
	conv map[*tensor.Conv2D]*tensor.Conv2D
	err  error
}

type weightedPatch struct {
	Patch
	weight float32
}

// NewPatcher resolves the LoRAs' layers for network comp onto its modules
// (name → weight shape, as the network lists them). A layer that does not
// fit the network is an error: the LoRA was made for another model. It
// returns nil when no LoRA adapts this network.
func NewPatcher(comp Component, mods Modules, loras []Weighted) (*Patcher, error) {
	p := &Patcher{patches: map[string][]weightedPatch{},
		lin: map[*tensor.Linear]*tensor.Linear{}, conv: map[*tensor.Conv2D]*tensor.Conv2D{}}
	for _, w := range loras {
		if w.File == nil {
			return nil, fmt.Errorf("lora: no file")
		}
		patches, err := w.File.Resolve(comp, mods)
		if err != nil {
			return nil, err
		}
		for _, pt := range patches {
			p.patches[pt.Module] = append(p.patches[pt.Module], weightedPatch{pt, w.Weight})
		}
	}
	if len(p.patches) == 0 {
		return nil, nil
	}
	for _, shape := range mods {
		n := int64(4)
		for _, d := range shape {
			n *= int64(d)
		}
		p.budget += n / 2
	}
	return p, nil
}

// SetMergeBudget sets how many bytes of merged copies the patcher may make
// (by default half the network's float32 weights); call it before use. 0
// keeps every LoRA / LoCon layer beside the weights.
func (p *Patcher) SetMergeBudget(bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.budget = bytes
}

// MergedBytes is the float32 size of the merged layer copies made so far.
func (p *Patcher) MergedBytes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.merged
}

// mergeable reports whether a layer of n weights gets a merged copy: within
// the budget, or always when a patch has no low-rank form.
func (p *Patcher) mergeable(wps []weightedPatch, n int) bool {
	if p.merged+int64(n)*4 <= p.budget {
		return true
	}
	for _, wp := range wps {
		if wp.Layer.Kind != KindLoRA {
			return true
		}
	}
	return false
}

// sumDelta is Σ w·s·ΔW of the patches for a weight of the given shape.
func sumDelta(wps []weightedPatch, shape []int) ([]float32, error) {
	var total []float32
	for _, wp := range wps {
		d, err := wp.Layer.Delta(shape)
		if err != nil {
			return nil, err
		}
		if total == nil {
			for i := range d {
				d[i] *= wp.weight
			}
			total = d
			continue
		}
		for i, v := range d {
			total[i] += wp.weight * v
		}
	}
	return total, nil
}

// Modules is the number of adapted modules.
func (p *Patcher) Modules() int { return len(p.patches) }

// Err reports a layer whose patch could not be built (its shape differed
// from what the patcher was resolved against); that layer ran unpatched.
func (p *Patcher) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Linear implements sd.LayerPatcher.
func (p *Patcher) Linear(name string, base *tensor.Linear) *tensor.Linear {
	wps, ok := p.patches[name]
	if !ok {
		return base
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if l, ok := p.lin[base]; ok {
		return l
	}
	if p.mergeable(wps, base.In*base.Out) {
		m, err := mergeLinear(wps, base)
		if err != nil {
			p.fail(name, err)
			p.lin[base] = base
			return base
		}
		p.merged += int64(base.In*base.Out) * 4
		p.lin[base] = m
		return m
	}
	deltas := make([]tensor.Delta, 0, len(wps))
	for _, wp := range wps {
		d, err := linearDelta(wp, base)
		if err != nil {
			p.fail(name, err)
			p.lin[base] = base
			return base
		}
		deltas = append(deltas, d)
	}
	l := *base
	l.Deltas = append(append([]tensor.Delta(nil), base.Deltas...), deltas...)
	p.lin[base] = &l
	return &l
}

// Conv implements sd.LayerPatcher.
func (p *Patcher) Conv(name string, base *tensor.Conv2D) *tensor.Conv2D {
	wps, ok := p.patches[name]
	if !ok {
		return base
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conv[base]; ok {
		return c
	}
	if n := base.OutC * base.InC * base.KH * base.KW; p.mergeable(wps, n) {
		m, err := mergeConv(wps, base)
		if err != nil {
			p.fail(name, err)
			p.conv[base] = base
			return base
		}
		p.merged += int64(n) * 4
		p.conv[base] = m
		return m
	}
	deltas := make([]tensor.Delta, 0, len(wps))
	for _, wp := range wps {
		d, err := convDelta(wp, base)
		if err != nil {
			p.fail(name, err)
			p.conv[base] = base
			return base
		}
		deltas = append(deltas, d)
	}
	c := *base
	c.Deltas = append(append([]tensor.Delta(nil), base.Deltas...), deltas...)
	p.conv[base] = &c
	return &c
}

func (p *Patcher) fail(name string, err error) {
	if p.err == nil {
		p.err = fmt.Errorf("lora: %s: %w", name, err)
	}
}

// scaled returns a copy of v times s.
func scaled(v []float32, s float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = x * s
	}
	return out
}

func linearDelta(wp weightedPatch, base *tensor.Linear) (tensor.Delta, error) {
	shape := []int{base.Out, base.In}
	if up, down, rank, s, ok := wp.Layer.LowRank(); ok {
		if err := wp.Layer.fits(shape); err != nil {
			return tensor.Delta{}, err
		}
		d := &tensor.Linear{In: base.In, Out: rank, Weight: down}
		d.Pack()
		return tensor.Delta{Linear: d, Up: scaled(up, wp.weight*s), Rank: rank}, nil
	}
	full, err := wp.Layer.Delta(shape)
	if err != nil {
		return tensor.Delta{}, err
	}
	for i := range full {
		full[i] *= wp.weight
	}
	d := &tensor.Linear{In: base.In, Out: base.Out, Weight: full}
	d.Pack()
	return tensor.Delta{Linear: d, Rank: base.Out}, nil
}

func convDelta(wp weightedPatch, base *tensor.Conv2D) (tensor.Delta, error) {
	shape := []int{base.OutC, base.InC, base.KH, base.KW}
	geometry := func(out int, w []float32) *tensor.Conv2D {
		c := &tensor.Conv2D{InC: base.InC, OutC: out, KH: base.KH, KW: base.KW, Stride: base.Stride,
			PadTop: base.PadTop, PadBottom: base.PadBottom, PadLeft: base.PadLeft, PadRight: base.PadRight, Weight: w}
		c.Pack()
		return c
	}
	if up, down, rank, s, ok := wp.Layer.LowRank(); ok {
		if err := wp.Layer.fits(shape); err != nil {
			return tensor.Delta{}, err
		}
		return tensor.Delta{Conv: geometry(rank, down), Up: scaled(up, wp.weight*s), Rank: rank}, nil
	}
	full, err := wp.Layer.Delta(shape)
	if err != nil {
		return tensor.Delta{}, err
	}
	for i := range full {
		full[i] *= wp.weight
	}
	return tensor.Delta{Conv: geometry(base.OutC, full), Rank: base.OutC}, nil
}

func mergeLinear(wps []weightedPatch, base *tensor.Linear) (*tensor.Linear, error) {
	d, err := sumDelta(wps, []int{base.Out, base.In})
	if err != nil {
		return nil, err
	}
	return base.Merged(d)
}

func mergeConv(wps []weightedPatch, base *tensor.Conv2D) (*tensor.Conv2D, error) {
	d, err := sumDelta(wps, []int{base.OutC, base.InC, base.KH, base.KW})
	if err != nil {
		return nil, err
	}
	return base.Merged(d)
}
