package flux

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// timeEmbedDim is the width of the sinusoidal timestep and guidance
// embeddings.
const timeEmbedDim = 256

// normEps is the epsilon of every LayerNorm and q/k RMSNorm in the model.
const normEps = 1e-6

// Transformer is FLUX.1's rectified-flow transformer (diffusers'
// FluxTransformer2DModel, BFL's Flux). It is immutable after loading.
type Transformer struct {
	Config Config
	// Layout is the naming of the weights it was built from (LayoutBFL or
	// LayoutDiffusers).
	Layout string

	imgIn, txtIn     Linear
	timeIn, vectorIn mlpEmbedder
	guidanceIn       *mlpEmbedder // nil for schnell
	double           []doubleBlock
	single           []singleBlock
	finalShift       Linear
	finalScale       Linear
	finalLinear      Linear
}

// mlpEmbedder is Linear → SiLU → Linear.
type mlpEmbedder struct{ in, out Linear }

func (m mlpEmbedder) forward(lr *LoRA, x []float32, rows int) *tensor.Tensor {
	a := lr.fwd(m.in, x, rows)
	tensor.SiLU(a.Data)
	out := lr.fwd(m.out, a.Data, rows)
	a.Release()
	return out
}

// stream holds one modality's weights in a double-stream block.
type stream struct {
	mod          Linear // 6·hidden: shift, scale, gate (attention); shift, scale, gate (MLP)
	q, k, v      Linear
	qNorm, kNorm []float32
	proj         Linear
	mlp0, mlp2   Linear
}

type doubleBlock struct{ img, txt stream }

type singleBlock struct {
	mod          Linear // 3·hidden: shift, scale, gate
	q, k, v, mlp Linear
	qNorm, kNorm []float32
	out          Linear // on [attention | GELU(mlp)]
}

// Inputs are one model call's tensors, as FluxTransformer2DModel takes them.
type Inputs struct {
	// Img is the packed latent sequence [B, N, InChannels].
	Img *tensor.Tensor
	// Txt is the T5 sequence [B, L, JointAttentionDim].
	Txt *tensor.Tensor
	// Pooled is the pooled CLIP embedding [B, PooledProjectionDim].
	Pooled *tensor.Tensor
	// ImgIDs [N, 3] and TxtIDs [L, 3] are the position ids (shared by the batch).
	ImgIDs, TxtIDs []float32
	// Timestep holds σ in [0, 1] per sample; Guidance the guidance scale per
	// sample (required exactly when the model has a guidance embedding).
	Timestep, Guidance []float32
}

// CallOptions are per-call settings; the zero value is a plain forward pass.
type CallOptions struct {
	// LoRA adds low-rank adapters to the layers they were resolved onto (Transformer.NewLoRA); nil for none.
	LoRA *LoRA
	// Trace, when set, receives intermediate tensors under diffusers' module
	// names (for tests); it must not keep or modify them.
	Trace func(name string, t *tensor.Tensor)
}

func (in *Inputs) validate(c Config) (b, n, l int, err error) {
	if in.Img == nil || in.Txt == nil || in.Pooled == nil {
		return 0, 0, 0, errors.New("flux: img, txt and pooled inputs are required")
	}
	if len(in.Img.Shape) != 3 || in.Img.Shape[2] != c.InChannels {
		return 0, 0, 0, fmt.Errorf("flux: img of shape %v, want [B, N, %d]", in.Img.Shape, c.InChannels)
	}
	b, n = in.Img.Shape[0], in.Img.Shape[1]
	if len(in.Txt.Shape) != 3 || in.Txt.Shape[0] != b || in.Txt.Shape[2] != c.JointAttentionDim {
		return 0, 0, 0, fmt.Errorf("flux: txt of shape %v, want [%d, L, %d]", in.Txt.Shape, b, c.JointAttentionDim)
	}
	l = in.Txt.Shape[1]
	if len(in.Pooled.Shape) != 2 || in.Pooled.Shape[0] != b || in.Pooled.Shape[1] != c.PooledProjectionDim {
		return 0, 0, 0, fmt.Errorf("flux: pooled of shape %v, want [%d, %d]", in.Pooled.Shape, b, c.PooledProjectionDim)
	}
	if len(in.ImgIDs) != 3*n || len(in.TxtIDs) != 3*l {
		return 0, 0, 0, fmt.Errorf("flux: %d image and %d text position ids for %d and %d tokens", len(in.ImgIDs)/3, len(in.TxtIDs)/3, n, l)
	}
	if len(in.Timestep) != b {
		return 0, 0, 0, fmt.Errorf("flux: %d timesteps for a batch of %d", len(in.Timestep), b)
	}
	if c.GuidanceEmbeds && len(in.Guidance) != b {
		return 0, 0, 0, fmt.Errorf("flux: this model needs a guidance value per sample (got %d for %d)", len(in.Guidance), b)
	}
	if b < 1 || n < 1 {
		return 0, 0, 0, fmt.Errorf("flux: empty input %v", in.Img.Shape)
	}
	return b, n, l, nil
}

// Forward predicts the flow velocity [B, N, InChannels] for the packed
// latents. ctx is checked between blocks.
func (t *Transformer) Forward(ctx context.Context, in Inputs, opts CallOptions) (*tensor.Tensor, error) {
	c := t.Config
	b, n, l, err := in.validate(c)
	if err != nil {
		return nil, err
	}
	h := c.Hidden()
	trace := opts.Trace
	if trace == nil {
		trace = func(string, *tensor.Tensor) {}
	}
	s := l + n

	// Conditioning vector: time + guidance + pooled text.
	vec := t.conditioning(in, b, opts.LoRA, trace)
	defer vec.Release()
	siluVec := vec.Clone()
	tensor.SiLU(siluVec.Data)

	lr := opts.LoRA
	img := lr.fwd(t.imgIn, in.Img.Data, b*n)
	img.Shape = []int{b, n, h}
	trace("x_embedder", img)
	txt := lr.fwd(t.txtIn, in.Txt.Data, b*l)
	txt.Shape = []int{b, l, h}
	trace("context_embedder", txt)

	rope := newRope(c.AxesDimsRope, in.TxtIDs, in.ImgIDs)
	for i := range t.double {
		if err := ctx.Err(); err != nil {
			img.Release()
			txt.Release()
			return nil, err
		}
		t.double[i].forward(lr, img, txt, siluVec.Data, rope, c)
		trace(fmt.Sprintf("transformer_blocks.%d.0", i), txt)
		trace(fmt.Sprintf("transformer_blocks.%d.1", i), img)
	}
	// Single blocks run on the joint sequence, text first.
	x := tensor.Empty(b, s, h)
	for bi := range b {
		copy(x.Data[bi*s*h:], txt.Data[bi*l*h:(bi+1)*l*h])
		copy(x.Data[(bi*s+l)*h:], img.Data[bi*n*h:(bi+1)*n*h])
	}
	img.Release()
	txt.Release()
	for i := range t.single {
		if err := ctx.Err(); err != nil {
			x.Release()
			return nil, err
		}
		t.single[i].forward(lr, x, siluVec.Data, rope, c)
		trace(fmt.Sprintf("single_transformer_blocks.%d", i), x)
	}

	// Final adaptive norm on the image part, then the projection.
	shift := lr.fwd(t.finalShift, siluVec.Data, b)
	scale := lr.fwd(t.finalScale, siluVec.Data, b)
	siluVec.Release()
	normed := tensor.Empty(b, n, h)
	for bi := range b {
		src := x.Data[(bi*s+l)*h : (bi+1)*s*h]
		dst := normed.Data[bi*n*h : (bi+1)*n*h]
		tensor.LayerNormInto(dst, src, h, nil, nil, normEps)
		modulate(dst, h, scale.Data[bi*h:(bi+1)*h], shift.Data[bi*h:(bi+1)*h])
	}
	x.Release()
	shift.Release()
	scale.Release()
	trace("norm_out", normed)
	out := lr.fwd(t.finalLinear, normed.Data, b*n)
	normed.Release()
	out.Shape = []int{b, n, c.InChannels}
	return out, nil
}

// conditioning computes the [B, hidden] vector every block is modulated by.
func (t *Transformer) conditioning(in Inputs, b int, lr *LoRA, trace func(string, *tensor.Tensor)) *tensor.Tensor {
	scaled := make([]float32, b)
	for i, v := range in.Timestep {
		scaled[i] = v * 1000
	}
	tp := tensor.TimestepEmbedding(scaled, timeEmbedDim, true, 0)
	trace("time_text_embed.time_proj", tp)
	vec := t.timeIn.forward(lr, tp.Data, b)
	trace("time_text_embed.timestep_embedder", vec)
	if t.guidanceIn != nil {
		for i, v := range in.Guidance {
			scaled[i] = v * 1000
		}
		gp := tensor.TimestepEmbedding(scaled, timeEmbedDim, true, 0)
		trace("time_text_embed.time_proj@call2", gp)
		g := t.guidanceIn.forward(lr, gp.Data, b)
		trace("time_text_embed.guidance_embedder", g)
		tensor.AddInto(vec.Data, vec.Data, g.Data)
		g.Release()
	}
	p := t.vectorIn.forward(lr, in.Pooled.Data, b)
	trace("time_text_embed.text_embedder", p)
	tensor.AddInto(vec.Data, vec.Data, p.Data)
	p.Release()
	vec.Shape = []int{b, t.Config.Hidden()}
	trace("time_text_embed", vec)
	return vec
}

// modulate applies x·(1 + scale) + shift to every row of width h.
func modulate(x []float32, h int, scale, shift []float32) {
	parallelRows(len(x)/h, h, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			row := x[r*h : (r+1)*h]
			for i, v := range row {
				row[i] = float32(v*(1+scale[i])) + shift[i]
			}
		}
	})
}

// addGated adds gate·y to every row of x (rows of width h).
func addGated(x, y []float32, h int, gate []float32) {
	parallelRows(len(x)/h, h, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			xr, yr := x[r*h:(r+1)*h], y[r*h:(r+1)*h]
			for i, g := range gate {
				xr[i] += g * yr[i]
			}
		}
	})
}

// parallelRows splits rows [0, n) of about cost operations each over the cores; small jobs run inline.
func parallelRows(n, cost int, fn func(r0, r1 int)) {
	workers := runtime.GOMAXPROCS(0)
	if n*cost < 1<<16 || workers == 1 || n < 2 {
		fn(0, n)
		return
	}
	workers = min(workers, n)
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for r0 := chunk; r0 < n; r0 += chunk {
		wg.Add(1)
		go func(r0, r1 int) {
			defer wg.Done()
			fn(r0, r1)
		}(r0, min(r0+chunk, n))
	}
	fn(0, min(chunk, n))
	wg.Wait()
}

// normModulate writes LayerNorm(x)·(1 + scale) + shift for the rows of one
// sample into dst.
func normModulate(dst, x []float32, h int, scale, shift []float32) {
	tensor.LayerNormInto(dst, x, h, nil, nil, normEps)
	modulate(dst, h, scale, shift)
}

// forward updates img [B, N, h] and txt [B, L, h] in place.
func (d *doubleBlock) forward(lr *LoRA, img, txt *tensor.Tensor, siluVec []float32, rope *rope, c Config) {
	b, n, l := img.Shape[0], img.Shape[1], txt.Shape[1]
	h := c.Hidden()
	s := l + n
	imgMod := lr.fwd(d.img.mod, siluVec, b) // [B, 6h]
	txtMod := lr.fwd(d.txt.mod, siluVec, b)
	chunk := func(m *tensor.Tensor, bi, j int) []float32 { return m.Data[(bi*6+j)*h : (bi*6+j+1)*h] }

	q, k, v := tensor.Empty(b, s, h), tensor.Empty(b, s, h), tensor.Empty(b, s, h)
	imgN := tensor.Empty(n, h)
	txtN := tensor.Empty(l, h)
	for bi := range b {
		normModulate(txtN.Data, txt.Data[bi*l*h:(bi+1)*l*h], h, chunk(txtMod, bi, 1), chunk(txtMod, bi, 0))
		normModulate(imgN.Data, img.Data[bi*n*h:(bi+1)*n*h], h, chunk(imgMod, bi, 1), chunk(imgMod, bi, 0))
		base := bi * s * h
		lr.into(d.txt.q, q.Data[base:], txtN.Data, l)
		lr.into(d.txt.k, k.Data[base:], txtN.Data, l)
		lr.into(d.txt.v, v.Data[base:], txtN.Data, l)
		lr.into(d.img.q, q.Data[base+l*h:], imgN.Data, n)
		lr.into(d.img.k, k.Data[base+l*h:], imgN.Data, n)
		lr.into(d.img.v, v.Data[base+l*h:], imgN.Data, n)
		qs, ks := q.Data[base:base+s*h], k.Data[base:base+s*h]
		rmsNormRows(qs[:l*h], d.txt.qNorm, c.NumAttentionHeads)
		rmsNormRows(ks[:l*h], d.txt.kNorm, c.NumAttentionHeads)
		rmsNormRows(qs[l*h:], d.img.qNorm, c.NumAttentionHeads)
		rmsNormRows(ks[l*h:], d.img.kNorm, c.NumAttentionHeads)
		rope.apply(qs, c.NumAttentionHeads)
		rope.apply(ks, c.NumAttentionHeads)
	}
	att := tensor.Empty(b, s, h)
	tensor.Attention(q.Data, k.Data, v.Data, b, s, s, c.NumAttentionHeads, c.AttentionHeadDim, false, att.Data)
	q.Release()
	k.Release()
	v.Release()

	for bi := range b {
		base := bi * s * h
		for si, st := range []*stream{&d.txt, &d.img} {
			mod := txtMod
			x, rows, off := txt.Data[bi*l*h:(bi+1)*l*h], l, base
			normBuf := txtN
			if si == 1 {
				mod = imgMod
				x, rows, off = img.Data[bi*n*h:(bi+1)*n*h], n, base+l*h
				normBuf = imgN
			}
			proj := lr.fwd(st.proj, att.Data[off:off+rows*h], rows)
			addGated(x, proj.Data, h, chunk(mod, bi, 2))
			proj.Release()
			normModulate(normBuf.Data[:rows*h], x, h, chunk(mod, bi, 4), chunk(mod, bi, 3))
			hid := lr.fwd(st.mlp0, normBuf.Data[:rows*h], rows)
			tensor.GELUTanh(hid.Data)
			ff := lr.fwd(st.mlp2, hid.Data, rows)
			hid.Release()
			addGated(x, ff.Data, h, chunk(mod, bi, 5))
			ff.Release()
		}
	}
	att.Release()
	imgN.Release()
	txtN.Release()
	imgMod.Release()
	txtMod.Release()
}

// forward updates the joint sequence x [B, S, h] in place.
func (sb *singleBlock) forward(lr *LoRA, x *tensor.Tensor, siluVec []float32, rope *rope, c Config) {
	b, s := x.Shape[0], x.Shape[1]
	h := c.Hidden()
	mlpW := sb.mlp.OutFeatures()
	mod := lr.fwd(sb.mod, siluVec, b) // [B, 3h]
	chunk := func(bi, j int) []float32 { return mod.Data[(bi*3+j)*h : (bi*3+j+1)*h] }

	q, k, v := tensor.Empty(b, s, h), tensor.Empty(b, s, h), tensor.Empty(b, s, h)
	normed := tensor.Empty(s, h)
	cat := tensor.Empty(b, s, h+mlpW)
	mlp := tensor.Empty(s, mlpW)
	for bi := range b {
		base := bi * s * h
		normModulate(normed.Data, x.Data[base:base+s*h], h, chunk(bi, 1), chunk(bi, 0))
		lr.into(sb.q, q.Data[base:], normed.Data, s)
		lr.into(sb.k, k.Data[base:], normed.Data, s)
		lr.into(sb.v, v.Data[base:], normed.Data, s)
		lr.into(sb.mlp, mlp.Data, normed.Data, s)
		tensor.GELUTanh(mlp.Data)
		cb := cat.Data[bi*s*(h+mlpW):]
		for r := range s {
			copy(cb[r*(h+mlpW)+h:(r+1)*(h+mlpW)], mlp.Data[r*mlpW:(r+1)*mlpW])
		}
		rmsNormRows(q.Data[base:base+s*h], sb.qNorm, c.NumAttentionHeads)
		rmsNormRows(k.Data[base:base+s*h], sb.kNorm, c.NumAttentionHeads)
		rope.apply(q.Data[base:base+s*h], c.NumAttentionHeads)
		rope.apply(k.Data[base:base+s*h], c.NumAttentionHeads)
	}
	normed.Release()
	mlp.Release()
	att := tensor.Empty(b, s, h)
	tensor.Attention(q.Data, k.Data, v.Data, b, s, s, c.NumAttentionHeads, c.AttentionHeadDim, false, att.Data)
	q.Release()
	k.Release()
	v.Release()
	for r := range b * s {
		copy(cat.Data[r*(h+mlpW):r*(h+mlpW)+h], att.Data[r*h:(r+1)*h])
	}
	att.Release()
	y := lr.fwd(sb.out, cat.Data, b*s)
	cat.Release()
	for bi := range b {
		addGated(x.Data[bi*s*h:(bi+1)*s*h], y.Data[bi*s*h:(bi+1)*s*h], h, chunk(bi, 2))
	}
	y.Release()
	mod.Release()
}

// rmsNormRows applies the per-head RMSNorm (learned scale over the head
// width) to rows of heads·len(scale) values.
func rmsNormRows(x, scale []float32, heads int) {
	hd := len(scale)
	parallelRows(len(x)/hd, hd, func(r0, r1 int) {
		for off := r0 * hd; off < r1*hd; off += hd {
			seg := x[off : off+hd]
			var ss float64
			for _, v := range seg {
				ss += float64(v) * float64(v)
			}
			inv := float32(1 / math.Sqrt(ss/float64(hd)+normEps))
			for i, v := range seg {
				seg[i] = (v * inv) * scale[i]
			}
		}
	})
}
