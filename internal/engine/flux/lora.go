package flux

import (
	"fmt"
	"strconv"

	"github.com/invokego/invokego/internal/engine/gemm"
	"github.com/invokego/invokego/internal/engine/lora"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// LoRA adapters are applied beside the weights, never merged into them: the cached model stays
// immutable (and its weights may be quantized or memory-mapped), and a run adds
// Σ weight·s·up·(down·x) to each adapted layer's output. For a rank-r adapter this costs 2·r·(in+out)
// multiply-adds per token, a few per cent of the layer itself.

// LoRA is a set of low-rank adapters resolved onto one transformer, for CallOptions. It is immutable and
// may be shared by concurrent calls.
type LoRA struct {
	adds map[Linear][]lowRank
}

// lowRank is one adapter on one layer (possibly a row range of a fused module).
type lowRank struct {
	down []float32 // [rank, in]
	up   []float32 // [out, rank] (the rows of this layer)
	rank int
	mult float32 // the run's weight times the file's alpha/rank
}

// loraTarget is one layer a module of a LoRA file covers, from row0 of the module's weight.
type loraTarget struct {
	lin  Linear
	row0 int
}

type loraModule struct {
	shape   []int
	targets []loraTarget
}

// loraModules lists every layer LoRA files may adapt under each name they use for it: BFL names
// (double_blocks.N.img_attn.qkv, single_blocks.N.linear1, …, also behind diffusion_model.) and diffusers
// names (transformer_blocks.N.attn.to_q, …, also behind transformer.), each with the layers and row offsets
// it covers (a fused qkv covers the q, k and v layers).
func (t *Transformer) loraModules() map[string]loraModule {
	h := t.Config.Hidden()
	mods := map[string]loraModule{}
	add := func(bfl, diff string, targets ...loraTarget) {
		rows := 0
		for _, tg := range targets {
			if tg.lin == nil {
				return
			}
			rows = max(rows, tg.row0+tg.lin.OutFeatures())
		}
		m := loraModule{shape: []int{rows, targets[0].lin.InFeatures()}, targets: targets}
		if bfl != "" {
			mods[bfl] = m
			mods["diffusion_model."+bfl] = m
		}
		if diff != "" {
			mods[diff] = m
			mods["transformer."+diff] = m
		}
	}
	one := func(l Linear) loraTarget { return loraTarget{lin: l} }
	add("img_in", "x_embedder", one(t.imgIn))
	add("txt_in", "context_embedder", one(t.txtIn))
	add("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1", one(t.timeIn.in))
	add("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2", one(t.timeIn.out))
	if t.guidanceIn != nil {
		add("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1", one(t.guidanceIn.in))
		add("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2", one(t.guidanceIn.out))
	}
	add("vector_in.in_layer", "time_text_embed.text_embedder.linear_1", one(t.vectorIn.in))
	add("vector_in.out_layer", "time_text_embed.text_embedder.linear_2", one(t.vectorIn.out))
	for i := range t.double {
		b := &t.double[i]
		p, d := "double_blocks."+strconv.Itoa(i)+".", "transformer_blocks."+strconv.Itoa(i)+"."
		names := [2]struct{ s, mod, q, k, v, proj, ff string }{
			{"img", "norm1.linear", "attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0", "ff"},
			{"txt", "norm1_context.linear", "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj", "attn.to_add_out", "ff_context"},
		}
		for si, st := range []*stream{&b.img, &b.txt} {
			n := names[si]
			add(p+n.s+"_mod.lin", d+n.mod, one(st.mod))
			add(p+n.s+"_attn.qkv", "", loraTarget{st.q, 0}, loraTarget{st.k, h}, loraTarget{st.v, 2 * h})
			add("", d+n.q, one(st.q))
			add("", d+n.k, one(st.k))
			add("", d+n.v, one(st.v))
			add(p+n.s+"_attn.proj", d+n.proj, one(st.proj))
			add(p+n.s+"_mlp.0", d+n.ff+".net.0.proj", one(st.mlp0))
			add(p+n.s+"_mlp.2", d+n.ff+".net.2", one(st.mlp2))
		}
	}
	for i := range t.single {
		b := &t.single[i]
		p, d := "single_blocks."+strconv.Itoa(i)+".", "single_transformer_blocks."+strconv.Itoa(i)+"."
		add(p+"modulation.lin", d+"norm.linear", one(b.mod))
		add(p+"linear1", "", loraTarget{b.q, 0}, loraTarget{b.k, h}, loraTarget{b.v, 2 * h}, loraTarget{b.mlp, 3 * h})
		add("", d+"attn.to_q", one(b.q))
		add("", d+"attn.to_k", one(b.k))
		add("", d+"attn.to_v", one(b.v))
		add("", d+"proj_mlp", one(b.mlp))
		add(p+"linear2", d+"proj_out", one(b.out))
	}
	// BFL's final modulation emits (shift, scale), diffusers' (scale, shift).
	add("final_layer.adaLN_modulation.1", "", loraTarget{t.finalShift, 0}, loraTarget{t.finalScale, h})
	add("", "norm_out.linear", loraTarget{t.finalScale, 0}, loraTarget{t.finalShift, h})
	add("final_layer.linear", "proj_out", one(t.finalLinear))
	return mods
}

// WeightedLoRA is a parsed LoRA file and the weight a run applies it at.
type WeightedLoRA struct {
	File   *lora.File
	Weight float32
}

// NewLoRA resolves LoRA files onto this transformer, in the BFL, kohya (lora_unet_double_blocks_…) or
// diffusers / PEFT layouts. A module the transformer lacks, or factors of the wrong size, mean the LoRA was
// made for another model and are an error. Layers for the text encoders are left to them.
func (t *Transformer) NewLoRA(adapters []WeightedLoRA) (*LoRA, error) {
	mods := t.loraModules()
	shapes := make(lora.Modules, len(mods))
	for name, m := range mods {
		shapes[name] = m.shape
	}
	out := &LoRA{adds: map[Linear][]lowRank{}}
	for ai, a := range adapters {
		patches, err := a.File.Resolve(lora.UNet, shapes)
		if err != nil {
			return nil, fmt.Errorf("flux lora %d: %w", ai+1, err)
		}
		for _, p := range patches {
			up, down, rank, scale, ok := p.Layer.LowRank()
			if !ok {
				return nil, fmt.Errorf("flux lora %d: module %s is a %s adapter; only LoRA (up·down) adapters are supported for FLUX", ai+1, p.Module, p.Layer.Kind)
			}
			in := p.Shape[1]
			for _, tg := range mods[p.Module].targets {
				rows := tg.lin.OutFeatures()
				out.adds[tg.lin] = append(out.adds[tg.lin], lowRank{down: down[:rank*in], up: up[tg.row0*rank : (tg.row0+rows)*rank],
					rank: rank, mult: a.Weight * scale})
			}
		}
	}
	return out, nil
}

// Layers reports how many layers the set adapts.
func (l *LoRA) Layers() int {
	if l == nil {
		return 0
	}
	return len(l.adds)
}

// into applies a layer and its adapters (if any) to rows inputs.
func (l *LoRA) into(lin Linear, dst, x []float32, rows int) {
	lin.ForwardInto(dst, x, rows)
	if l == nil {
		return
	}
	adds := l.adds[lin]
	if len(adds) == 0 {
		return
	}
	addLowRank(adds, dst, x, rows, lin.InFeatures(), lin.OutFeatures())
}

// addLowRank adds Σ mult·up·(down·x) of the adapters to dst [rows, out] for x [rows, in].
func addLowRank(adds []lowRank, dst, x []float32, rows, in, out int) {
	for _, a := range adds {
		tmp := tensor.Empty(rows, a.rank)
		gemm.Sgemm(false, true, rows, a.rank, in, 1, x, in, a.down, in, 0, tmp.Data, a.rank)
		gemm.Sgemm(false, true, rows, out, a.rank, a.mult, tmp.Data, a.rank, a.up, a.rank, 1, dst, out)
		tmp.Release()
	}
}

// fwd applies a layer with its adapters and returns a rows×Out tensor from the activation pool.
func (l *LoRA) fwd(lin Linear, x []float32, rows int) *tensor.Tensor {
	out := tensor.Empty(rows, lin.OutFeatures())
	l.into(lin, out.Data, x, rows)
	return out
}
