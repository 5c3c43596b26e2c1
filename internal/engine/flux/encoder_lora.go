package flux

import (
	"fmt"

	"github.com/invokego/invokego/internal/engine/lora"
	"github.com/invokego/invokego/internal/engine/quant"
)

// T5LoRA is the part of FLUX LoRA files that adapts the T5 encoder (kohya lora_te2_…, PEFT text_encoder_2.…),
// resolved onto its modules (t5.Encoder.LayerShapes). Its Adapt is a t5.Adapter: like the transformer's
// adapters they run beside the weights (which may be quantized or memory-mapped), so the cached encoder is
// never written. It is immutable and may be shared by concurrent calls.
type T5LoRA struct {
	adds map[string][]lowRank
}

// NewT5LoRA resolves the files' T5 layers; it returns nil when none of them adapts the T5 encoder. A module
// the encoder lacks, or factors of the wrong size, mean the LoRA was made for another model.
func NewT5LoRA(shapes map[string][]int, adapters []WeightedLoRA) (*T5LoRA, error) {
	out := &T5LoRA{adds: map[string][]lowRank{}}
	for ai, a := range adapters {
		patches, err := a.File.Resolve(lora.TextEncoder2, shapes)
		if err != nil {
			return nil, fmt.Errorf("flux T5 lora %d: %w", ai+1, err)
		}
		for _, p := range patches {
			up, down, rank, scale, ok := p.Layer.LowRank()
			if !ok {
				return nil, fmt.Errorf("flux T5 lora %d: module %s is a %s adapter; only LoRA (up·down) adapters are supported for FLUX", ai+1, p.Module, p.Layer.Kind)
			}
			out.adds[p.Module] = append(out.adds[p.Module], lowRank{down: down, up: up, rank: rank, mult: a.Weight * scale})
		}
	}
	if len(out.adds) == 0 {
		return nil, nil
	}
	return out, nil
}

// Layers reports how many layers the set adapts.
func (l *T5LoRA) Layers() int {
	if l == nil {
		return 0
	}
	return len(l.adds)
}

// Adapt returns base with the adapters of module name beside it, or base itself.
func (l *T5LoRA) Adapt(name string, base quant.Layer) quant.Layer {
	if l == nil || len(l.adds[name]) == 0 {
		return base
	}
	return &adaptedLayer{base: base, adds: l.adds[name]}
}

// adaptedLayer is a layer plus low-rank adapters, made for one call.
type adaptedLayer struct {
	base quant.Layer
	adds []lowRank
}

func (a *adaptedLayer) InFeatures() int  { return a.base.InFeatures() }
func (a *adaptedLayer) OutFeatures() int { return a.base.OutFeatures() }

func (a *adaptedLayer) ForwardInto(dst, x []float32, rows int) {
	a.base.ForwardInto(dst, x, rows)
	addLowRank(a.adds, dst, x, rows, a.base.InFeatures(), a.base.OutFeatures())
}
