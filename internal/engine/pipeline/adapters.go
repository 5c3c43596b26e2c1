package pipeline

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/invokego/invokego/internal/engine/controlnet"
	"github.com/invokego/invokego/internal/engine/ipadapter"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// Control is one ControlNet of a run, InvokeAI's ControlNetData.
type Control struct {
	Model *controlnet.ControlNet
	// Image is the prepared control image [1, C, H, W] with values in [0, 1] (PrepareControlImage), eight
	// times the latents' size.
	Image *tensor.Tensor
	// Weight is the conditioning scale: one value for every step, or one per model call.
	Weight                           []float64
	BeginStepPercent, EndStepPercent float64
	// Mode is InvokeAI's control mode: "balanced" (or ""), "more_prompt", "more_control" or "unbalanced".
	Mode string
}

// Adapter is one T2I-Adapter of a run: its features for the prepared image (batch 1) and when and how much
// they count.
type Adapter struct {
	Features                         []*tensor.Tensor
	Weight                           []float64
	BeginStepPercent, EndStepPercent float64
}

// IPAdapter is one IP-Adapter of a run: its image tokens for the positive and negative sides ([1, T, D],
// ipadapter.Adapter.ImageTokens) and when and how much they count.
type IPAdapter struct {
	Model                            *ipadapter.Adapter
	Cond, Uncond                     *tensor.Tensor
	Weight                           []float64
	BeginStepPercent, EndStepPercent float64
	// TargetBlocks, when set, limits the adapter to the cross-attentions whose processor names contain one
	// of these strings (InvokeAI's method "style" or "composition"); empty means every layer.
	TargetBlocks []string
	// Mask, when set ([1, H, W] or [H, W], set above 0.5), limits the adapter to a region (a regional
	// reference image): as InvokeAI does, it is resized to the latents (nearest) and max-pooled for each
	// smaller level of the UNet like a regional prompt's mask, and each cross-attention's scaled image
	// attention is multiplied by it at the query's position.
	Mask *tensor.Tensor
}

// stepActive is InvokeAI's begin/end rule for ControlNets, T2I-Adapters and IP-Adapters: model call i of n
// counts when floor(begin·n) ≤ i ≤ ceil(end·n). (diffusers instead requires i/n ≥ begin and (i+1)/n ≤
// end, which ends one step earlier where end·n is a whole number.)
func stepActive(i, n int, begin, end float64) bool {
	return i >= int(math.Floor(begin*float64(n))) && i <= int(math.Ceil(end*float64(n)))
}

// weightAt is the weight of model call i: a per-call list or one value.
func weightAt(w []float64, i int) float64 {
	switch {
	case len(w) == 0:
		return 1
	case len(w) == 1:
		return w[0]
	}
	return w[min(i, len(w)-1)]
}

// validModes are InvokeAI's CONTROLNET_MODE_VALUES.
var validModes = map[string]bool{"": true, "balanced": true, "more_prompt": true, "more_control": true, "unbalanced": true}

// checkAdapters validates a run's adapters against its UNet before any step.
func checkAdapters(p DenoiseParams, steps int) error {
	ranges := func(what string, i int, w []float64, b, e float64) error {
		if len(w) > 1 && len(w) != steps {
			return fmt.Errorf("%s %d: %d weights for %d steps", what, i, len(w), steps)
		}
		if b < 0 || b > 1 || e < 0 || e > 1 {
			return fmt.Errorf("%s %d: begin/end %v/%v outside [0, 1]", what, i, b, e)
		}
		return nil
	}
	for i, c := range p.Controls {
		if c.Model == nil || c.Image == nil {
			return fmt.Errorf("control %d: no model or image", i)
		}
		if !validModes[c.Mode] {
			return fmt.Errorf("control %d: unknown control mode %q", i, c.Mode)
		}
		if c.Model.Config.CrossAttentionDim != p.UNet.Config.CrossAttentionDim || (c.Model.Config.AdditionEmbedType == "text_time") != (p.UNet.Config.AdditionEmbedType == "text_time") {
			return fmt.Errorf("control %d: the ControlNet was made for another base model than the UNet", i)
		}
		if err := ranges("control", i, c.Weight, c.BeginStepPercent, c.EndStepPercent); err != nil {
			return err
		}
	}
	for i, a := range p.Adapters {
		if err := ranges("t2i adapter", i, a.Weight, a.BeginStepPercent, a.EndStepPercent); err != nil {
			return err
		}
	}
	for i, ip := range p.IPAdapters {
		if ip.Model == nil || ip.Cond == nil || ip.Uncond == nil {
			return fmt.Errorf("ip adapter %d: no model or image tokens", i)
		}
		if err := ip.Model.Fits(p.UNet); err != nil {
			return fmt.Errorf("ip adapter %d: %w", i, err)
		}
		if err := ranges("ip adapter", i, ip.Weight, ip.BeginStepPercent, ip.EndStepPercent); err != nil {
			return err
		}
	}
	return nil
}

// side says which half of classifier-free guidance a UNet call computes.
type side int

const (
	sideBoth side = iota // one call on the batch [negative, positive]
	sideNeg
	sidePos
)

// runAdapters holds what a run computes once for its adapters.
type runAdapters struct {
	controls   []Control
	embeddings []*tensor.Tensor // each control's conditioning embedding
	adapters   []Adapter
	ips        []IPAdapter
	// Image keys and values per IP-Adapter and layer, for each side.
	ipKV [][3]map[int][2]*tensor.Tensor
	// ipMasks holds, per IP-Adapter, its mask at each UNet level by query length (nil without a mask).
	ipMasks []map[int][]float32
	mu      sync.Mutex
	err     error // the first failure inside a model call
}

func newRunAdapters(p DenoiseParams) (*runAdapters, error) {
	r := &runAdapters{controls: p.Controls, adapters: p.Adapters, ips: p.IPAdapters}
	for i, c := range p.Controls {
		e, err := c.Model.Embed(c.Image)
		if err != nil {
			return nil, fmt.Errorf("control %d: %w", i, err)
		}
		r.embeddings = append(r.embeddings, e)
	}
	for _, ip := range p.IPAdapters {
		both := stackRows(ip.Uncond, ip.Cond)
		r.ipKV = append(r.ipKV, [3]map[int][2]*tensor.Tensor{
			sideBoth: ip.Model.KV(both), sideNeg: ip.Model.KV(ip.Uncond), sidePos: ip.Model.KV(ip.Cond)})
	}
	return r, nil
}

// prepareMasks resizes the regional IP-Adapters' masks to the latents (h×w) and each smaller UNet level.
func (r *runAdapters) prepareMasks(h, w int) error {
	r.ipMasks = make([]map[int][]float32, len(r.ips))
	for i, ip := range r.ips {
		if ip.Mask == nil {
			continue
		}
		m, err := regionMask(ip.Mask, h, w)
		if err != nil {
			return fmt.Errorf("ip adapter %d: %w", i, err)
		}
		levels := map[int][]float32{}
		for l, lm := range maskLevels([]*tensor.Tensor{m}, h, w) {
			levels[l] = lm[0].Data
		}
		r.ipMasks[i] = levels
	}
	return nil
}

// ipMask is the UNet's Mask option of IP-Adapter i, nil without a mask.
func (r *runAdapters) ipMask(i int) func(lq int) []float32 {
	if i >= len(r.ipMasks) || r.ipMasks[i] == nil {
		if r.ips[i].Mask != nil {
			return func(int) []float32 { return r.fail(fmt.Errorf("ip adapter %d: its mask was not prepared", i)) }
		}
		return nil
	}
	levels := r.ipMasks[i]
	return func(lq int) []float32 {
		m, ok := levels[lq]
		if !ok {
			return r.fail(fmt.Errorf("ip adapter %d: no mask level for %d query positions", i, lq))
		}
		return m
	}
}

func (r *runAdapters) fail(err error) []float32 {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	return nil
}

// failure reports a failure recorded during a model call.
func (r *runAdapters) failure() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *runAdapters) empty() bool {
	return r == nil || (len(r.controls) == 0 && len(r.adapters) == 0 && len(r.ips) == 0)
}

// callOptions returns the UNet options of one model call: the run's own, plus every adapter's part at
// this step. input is the scaled model input [1, 4, h, w].
func (g *guidance) callOptions(ctx context.Context, s side, input *tensor.Tensor, t float32, step, total int) (sd.UNetOptions, error) {
	opts := g.opts
	opts.TextAttentionBias = g.regions.textBias(s)
	r := g.adapters
	if r.empty() {
		return opts, nil
	}
	var err error
	if opts.DownResiduals, opts.MidResidual, err = g.controlResiduals(ctx, s, input, t, step, total); err != nil {
		return opts, err
	}
	// T2I-Adapters: every adapter's features times its weight (0 outside its steps), summed; the same
	// features for both halves of the batch.
	for i, a := range r.adapters {
		w := float32(0)
		if stepActive(step, total, a.BeginStepPercent, a.EndStepPercent) {
			w = float32(weightAt(a.Weight, step))
		}
		for j, f := range a.Features {
			if i == 0 {
				scaled := f.Clone()
				for k := range scaled.Data {
					scaled.Data[k] *= w
				}
				opts.AdapterResiduals = append(opts.AdapterResiduals, scaled)
				continue
			}
			if j < len(opts.AdapterResiduals) && len(f.Data) == len(opts.AdapterResiduals[j].Data) {
				acc := opts.AdapterResiduals[j].Data
				for k, v := range f.Data {
					acc[k] += float32(v * w) // rounded before the sum, as torch does
				}
			}
		}
	}
	for i, ip := range r.ips {
		scale := float32(0)
		if stepActive(step, total, ip.BeginStepPercent, ip.EndStepPercent) {
			scale = float32(weightAt(ip.Weight, step))
		}
		kv, targets := r.ipKV[i][s], ip.TargetBlocks
		opts.ImageAttention = append(opts.ImageAttention, sd.ImageAttention{Scale: scale, Mask: r.ipMask(i),
			KV: func(id int, name string, _ int) (*tensor.Tensor, *tensor.Tensor) {
				if len(targets) > 0 && !containsAny(name, targets) {
					return nil, nil
				}
				l, ok := kv[id]
				if !ok {
					return nil, nil
				}
				return l[0], l[1]
			}})
	}
	return opts, nil
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// controlResiduals runs every ControlNet active at this step and sums their residuals, as InvokeAI's
// do_controlnet_step does. The run's UNet options (seamless tiling, the UNet's layer patches) are not the
// ControlNet's: InvokeAI patches only the UNet and the VAE. "balanced" and "more_prompt" run the ControlNet on both halves with their own
// text; "more_control" and "unbalanced" (cfg injection) run it on the positive half only and leave the
// negative half without residuals. "more_prompt" and "more_control" use guess mode's graded scales.
func (g *guidance) controlResiduals(ctx context.Context, s side, input *tensor.Tensor, t float32, step, total int) ([]*tensor.Tensor, *tensor.Tensor, error) {
	r := g.adapters
	var down []*tensor.Tensor
	var mid *tensor.Tensor
	for i, c := range r.controls {
		if !stepActive(step, total, c.BeginStepPercent, c.EndStepPercent) {
			continue
		}
		cfgInjection := c.Mode == "more_control" || c.Mode == "unbalanced"
		if cfgInjection && s == sideNeg {
			continue
		}
		in := controlnet.Input{Sample: input, Timesteps: []float32{t}, Embedding: r.embeddings[i],
			Scale: float32(weightAt(c.Weight, step)), GuessMode: c.Mode == "more_prompt" || c.Mode == "more_control"}
		switch {
		case s == sidePos || (s == sideBoth && cfgInjection):
			in.Context, in.Added = g.posContext(), g.posAdded
		case s == sideNeg:
			in.Context, in.Added = g.negContext(), g.negAdded
		default:
			in.Sample = stackRows(input, input)
			in.Context, in.Added = g.context, g.added
		}
		d, m, err := c.Model.Forward(ctx, in)
		if err != nil {
			return nil, nil, fmt.Errorf("control %d: %w", i, err)
		}
		if s == sideBoth && cfgInjection {
			// The negative half gets zeros.
			for j := range d {
				d[j] = stackRows(tensor.New(d[j].Shape...), d[j])
			}
			m = stackRows(tensor.New(m.Shape...), m)
		}
		if down == nil {
			down, mid = d, m
			continue
		}
		for j := range down {
			tensor.AddInto(down[j].Data, down[j].Data, d[j].Data)
		}
		tensor.AddInto(mid.Data, mid.Data, m.Data)
	}
	return down, mid, nil
}

func (g *guidance) posContext() *tensor.Tensor {
	if g.batched {
		return batchItem(g.context, 1)
	}
	return g.pos
}

func (g *guidance) negContext() *tensor.Tensor {
	if g.batched {
		return batchItem(g.context, 0)
	}
	return g.neg
}

// batchItem returns sample b of a batch as its own [1, …] tensor (sharing the data).
func batchItem(x *tensor.Tensor, b int) *tensor.Tensor {
	per := len(x.Data) / x.Shape[0]
	return tensor.FromData(x.Data[b*per:(b+1)*per], append([]int{1}, x.Shape[1:]...)...)
}
