package lora

import (
	"fmt"
	"sync"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// Applying LoRAs for one run (docs/architecture.md, "A model": cached
// engine models are immutable). The Patcher is handed to a forward call as
// its layer patcher: for an adapted layer it returns a shallow copy of the
// cached layer carrying tensor.Deltas, so the packed base weights are shared
// and the change is computed beside them. A LoRA / LoCon layer adds
// w·s·up·(down·x): (in + out)·rank values of memory and 2·rank·(in + out)
// multiply-adds per output position. LoHa and LoKr have no thin factors;
// their w·s·ΔW is built once per run as a second weight of the layer's own
// size (only for the layers they adapt).

// Weighted is a LoRA file with the weight a run applies it at.
type Weighted struct {
	File   *File
	Weight float32
}

// Patcher applies LoRAs to one network for one run. It satisfies the engine
// networks' LayerPatcher (package sd) and is safe for concurrent use.
type Patcher struct {
	patches map[string][]weightedPatch // by module name

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
	return p, nil
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
