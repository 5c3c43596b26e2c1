// Package ipadapter is the IP-Adapter (h94/IP-Adapter's layout): an image-projection model that turns the
// CLIP image encoder's output into a few context tokens, and per-layer key/value projections through which
// every UNet cross-attention also attends to those tokens (decoupled cross-attention, added to the text
// attention with the adapter's weight; sd.UNetOptions.ImageAttention). Two projections are supported: the
// base one (a linear layer and a LayerNorm on the projected image embedding) and the "plus" one (a
// Perceiver resampler over the encoder's penultimate hidden states).
package ipadapter

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// Adapter is a built IP-Adapter. It is immutable and safe for concurrent use.
type Adapter struct {
	// Plus is true for the resampler projection, which reads the image encoder's penultimate hidden states
	// instead of its projected embedding.
	Plus bool
	// CrossAttentionDim is the width of the tokens (the UNet's cross-attention width), Tokens their count
	// per image and ImageEmbedDim the width of what the projection reads.
	CrossAttentionDim, Tokens, ImageEmbedDim int

	proj      *tensor.Linear // base: image embedding → Tokens·CrossAttentionDim
	norm      *layerNorm
	resampler *resampler
	layers    map[int]layerKV // processor id → key/value projections
}

type layerKV struct{ k, v *tensor.Linear }

type layerNorm struct {
	weight, bias []float32
}

func (n *layerNorm) forward(x *tensor.Tensor) *tensor.Tensor {
	return tensor.LayerNorm(x, n.weight, n.bias, 1e-5)
}

// maxLayers bounds the processor ids a file may name (SDXL has 140 cross-attention processors).
const maxLayers = 4096

// New builds an adapter from its weights: "image_proj.*" and "ip_adapter.<id>.to_k_ip/to_v_ip.weight".
func New(weights sd.StateDict) (*Adapter, error) {
	r := &reader{weights: weights, used: map[string]bool{}}
	a := &Adapter{layers: map[int]layerKV{}}
	switch {
	case r.has("image_proj.proj.weight"):
		a.proj = r.linear("image_proj.proj")
		a.norm = r.norm("image_proj.norm")
		a.CrossAttentionDim = len(a.norm.weight)
		if a.CrossAttentionDim == 0 || a.proj.Out%a.CrossAttentionDim != 0 {
			r.fail(fmt.Errorf("image projection %d→%d does not make tokens of width %d", a.proj.In, a.proj.Out, a.CrossAttentionDim))
		} else {
			a.Tokens = a.proj.Out / a.CrossAttentionDim
		}
		a.ImageEmbedDim = a.proj.In
	case r.has("image_proj.latents"):
		a.Plus = true
		a.resampler = r.resampler("image_proj")
		if a.resampler != nil {
			a.CrossAttentionDim, a.Tokens, a.ImageEmbedDim = a.resampler.outDim, a.resampler.queries, a.resampler.projIn.In
		}
	case r.has("image_proj.proj.0.weight"):
		return nil, fmt.Errorf("build ip-adapter: the full-face (MLP projection) variant is not supported")
	default:
		return nil, fmt.Errorf("build ip-adapter: no image_proj weights")
	}
	for k := range weights {
		rest, ok := strings.CutPrefix(k, "ip_adapter.")
		if !ok {
			continue
		}
		idx, param, _ := strings.Cut(rest, ".")
		id, err := strconv.Atoi(idx)
		if err != nil || id < 0 || id >= maxLayers || (param != "to_k_ip.weight" && param != "to_v_ip.weight") {
			r.fail(fmt.Errorf("unexpected weight %q", k))
			continue
		}
		if _, done := a.layers[id]; done {
			continue
		}
		p := "ip_adapter." + idx
		kv := layerKV{k: r.linearNoBias(p + ".to_k_ip"), v: r.linearNoBias(p + ".to_v_ip")}
		if kv.k.In != a.CrossAttentionDim || kv.v.In != a.CrossAttentionDim || kv.k.Out != kv.v.Out {
			r.fail(fmt.Errorf("layer %d projects %d→%d/%d, want tokens of width %d", id, kv.k.In, kv.k.Out, kv.v.Out, a.CrossAttentionDim))
		}
		a.layers[id] = kv
	}
	if len(a.layers) == 0 {
		r.fail(fmt.Errorf("no ip_adapter layers"))
	}
	for k := range weights {
		if r.err == nil && !r.used[k] {
			r.fail(fmt.Errorf("unexpected weight %q", k))
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("build ip-adapter: %w", r.err)
	}
	for _, l := range r.linears {
		l.Pack()
	}
	return a, nil
}

// LayerIDs lists the processor ids the adapter has weights for, in order.
func (a *Adapter) LayerIDs() []int {
	ids := make([]int, 0, len(a.layers))
	for id := range a.layers {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// Fits checks that the adapter has weights for every cross-attention of the UNet, of the right widths: an
// adapter made for another base model does not.
func (a *Adapter) Fits(u *sd.UNet) error {
	if a.CrossAttentionDim != u.Config.CrossAttentionDim {
		return fmt.Errorf("ip-adapter tokens are %d wide, the unet's cross-attention takes %d", a.CrossAttentionDim, u.Config.CrossAttentionDim)
	}
	for _, l := range u.CrossAttentions() {
		kv, ok := a.layers[l.ID]
		if !ok {
			return fmt.Errorf("ip-adapter has no weights for the unet's cross-attention %d (%s)", l.ID, l.Name)
		}
		if kv.k.Out != l.Inner {
			return fmt.Errorf("ip-adapter layer %d is %d wide, the unet's %s is %d", l.ID, kv.k.Out, l.Name, l.Inner)
		}
	}
	return nil
}

// ImageTokens returns the context tokens of images [N, 3, S, S] (CLIP-normalised pixels for the encoder)
// and of the negative ("uncond") side: all the images' tokens in a row, [1, N·Tokens, CrossAttentionDim].
// The negative side projects a zero image embedding (base) or encodes zero pixels (plus), as InvokeAI does.
func (a *Adapter) ImageTokens(ctx context.Context, enc *sd.CLIPVisionModel, pixels *tensor.Tensor) (cond, uncond *tensor.Tensor, err error) {
	out, err := enc.Forward(ctx, pixels)
	if err != nil {
		return nil, nil, err
	}
	if !a.Plus {
		embeds := out.ImageEmbeds
		if embeds.Shape[1] != a.ImageEmbedDim {
			return nil, nil, fmt.Errorf("ip-adapter: image embeddings are %d wide, the projection takes %d", embeds.Shape[1], a.ImageEmbedDim)
		}
		return a.Project(embeds), a.Project(tensor.New(embeds.Shape...)), nil
	}
	hidden := out.HiddenStates[len(out.HiddenStates)-2]
	if hidden.Shape[2] != a.ImageEmbedDim {
		return nil, nil, fmt.Errorf("ip-adapter: image hidden states are %d wide, the resampler takes %d", hidden.Shape[2], a.ImageEmbedDim)
	}
	zero, err := enc.Forward(ctx, tensor.New(pixels.Shape...))
	if err != nil {
		return nil, nil, err
	}
	return a.Project(hidden), a.Project(zero.HiddenStates[len(zero.HiddenStates)-2]), nil
}

// Project applies the image projection: image embeddings [N, D] (base) or hidden states [N, L, D] (plus) to
// tokens, which are laid out one image after another in a batch of one, [1, N·Tokens, CrossAttentionDim].
func (a *Adapter) Project(x *tensor.Tensor) *tensor.Tensor {
	var t *tensor.Tensor
	if a.Plus {
		t = a.resampler.forward(x)
	} else {
		p := a.proj.Forward(x)
		t = a.norm.forward(p.Reshape(x.Shape[0], a.Tokens, a.CrossAttentionDim))
	}
	return t.Reshape(1, len(t.Data)/a.CrossAttentionDim, a.CrossAttentionDim)
}

// KV computes every layer's image keys and values for tokens [B, T, CrossAttentionDim]: each is [B, T,
// inner]. They are the same at every step, so a run computes them once.
func (a *Adapter) KV(tokens *tensor.Tensor) map[int][2]*tensor.Tensor {
	out := make(map[int][2]*tensor.Tensor, len(a.layers))
	for id, l := range a.layers {
		out[id] = [2]*tensor.Tensor{l.k.Forward(tokens), l.v.Forward(tokens)}
	}
	return out
}

type reader struct {
	weights sd.StateDict
	used    map[string]bool
	linears []*tensor.Linear
	err     error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) has(name string) bool { _, ok := r.weights[name]; return ok }

func (r *reader) get(name string, dims int) *tensor.Tensor {
	t, ok := r.weights[name]
	if !ok || len(t.Shape) != dims {
		r.fail(fmt.Errorf("missing or malformed weight %q", name))
		return tensor.New(make([]int, dims)...)
	}
	r.used[name] = true
	return t
}

func (r *reader) linear(name string) *tensor.Linear {
	l := r.linearNoBias(name)
	if r.has(name + ".bias") {
		b := r.get(name+".bias", 1)
		if len(b.Data) != l.Out {
			r.fail(fmt.Errorf("%s: bias of %d for %d outputs", name, len(b.Data), l.Out))
		} else {
			l.Bias = b.Data
		}
	}
	return l
}

func (r *reader) linearNoBias(name string) *tensor.Linear {
	w := r.get(name+".weight", 2)
	l, err := tensor.NewLinear(w.Shape[1], w.Shape[0], w.Data, nil)
	if err != nil {
		r.fail(fmt.Errorf("%s: %w", name, err))
		return &tensor.Linear{}
	}
	r.linears = append(r.linears, l)
	return l
}

func (r *reader) norm(name string) *layerNorm {
	w, b := r.get(name+".weight", 1), r.get(name+".bias", 1)
	if len(w.Data) != len(b.Data) {
		r.fail(fmt.Errorf("%s: weight %d and bias %d", name, len(w.Data), len(b.Data)))
	}
	return &layerNorm{weight: w.Data, bias: b.Data}
}
