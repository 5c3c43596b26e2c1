// Package pipeline turns prompts into conditioning and runs the denoising
// loop, the VAE decode and encode, the way InvokeAI's nodes do (InvokeAI
// builds on compel and diffusers; the comments name the functions matched).
// It depends only on the other engine packages: the node layer supplies
// models, tensors and callbacks.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/invokego/invokego/internal/engine/prompt"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/engine/tokenizer"
)

// Conditioning is what one prompt contributes to the UNet: the token
// embeddings and, for SDXL, the pooled embedding and the size/crop time ids.
type Conditioning struct {
	Embeds       *tensor.Tensor // [1, tokens, dim]; tokens is a multiple of 77
	PooledEmbeds *tensor.Tensor // [1, projection_dim] (SDXL) or nil
	AddTimeIDs   []float32      // SDXL: orig_h, orig_w, crop_top, crop_left, target_h, target_w
}

// EmbeddingsType selects which text-encoder state becomes the conditioning
// (compel's ReturnedEmbeddingsType).
type EmbeddingsType int

const (
	// LastHiddenNormalized is SD-1/2: the last layer after the final layer
	// norm.
	LastHiddenNormalized EmbeddingsType = iota
	// PenultimateNonNormalized is SDXL: the penultimate layer's output,
	// without the final layer norm.
	PenultimateNonNormalized
)

// TextEncoder is a tokenizer with its CLIP model and InvokeAI's CLIP skip
// (layers removed from the end of the encoder).
type TextEncoder struct {
	Tokenizer  *tokenizer.Tokenizer
	Model      *sd.CLIPTextModel
	SkipLayers int
	// Layers, when set, patches the encoder's layers for this run (LoRA).
	Layers sd.LayerPatcher
	// Embeddings are textual-inversion tokens added for this run only.
	Embeddings []TextEmbedding
}

// TextEmbedding is a textual-inversion embedding as one encoder uses it:
// the prompt text it replaces ("<name>", InvokeAI's trigger) and its
// vectors, each of the encoder's hidden width. Like InvokeAI's
// ModelPatcher.apply_ti with its TextualInversionManager, every occurrence
// of the trigger becomes len(Vectors) consecutive tokens, added after the
// encoder's vocabulary for this call only.
type TextEmbedding struct {
	Trigger string
	Vectors [][]float32
}

// options are the encoder's per-call options for this run.
func (e TextEncoder) options() sd.ForwardOptions {
	o := sd.ForwardOptions{SkipLayers: e.SkipLayers, Layers: e.Layers}
	for _, emb := range e.Embeddings {
		o.ExtraTokens = append(o.ExtraTokens, emb.Vectors...)
	}
	return o
}

// ids tokenizes text without BOS and EOS, as the tokenizer does, except
// that every embedding trigger (the added tokens are matched first, the
// longest at a position) stands for its vectors' ids, numbered from the
// encoder's vocabulary size on in the order of options().ExtraTokens.
func (e TextEncoder) ids(text string) []int {
	if len(e.Embeddings) == 0 {
		return e.Tokenizer.IDs(text)
	}
	first := make([]int, len(e.Embeddings))
	next := e.Model.Config.VocabSize
	for i, emb := range e.Embeddings {
		first[i] = next
		next += len(emb.Vectors)
	}
	var out []int
	for text != "" {
		at, which := -1, -1
		for i, emb := range e.Embeddings {
			if emb.Trigger == "" {
				continue
			}
			j := strings.Index(text, emb.Trigger)
			if j >= 0 && (at < 0 || j < at || (j == at && len(emb.Trigger) > len(e.Embeddings[which].Trigger))) {
				at, which = j, i
			}
		}
		if at < 0 {
			out = append(out, e.Tokenizer.IDs(text)...)
			break
		}
		out = append(out, e.Tokenizer.IDs(text[:at])...)
		for k := range e.Embeddings[which].Vectors {
			out = append(out, first[which]+k)
		}
		text = text[at+len(e.Embeddings[which].Trigger):]
	}
	return out
}

// compelChunk is the encoder window: 75 prompt tokens between BOS and EOS.
const compelChunk = tokenizer.MaxLength

// compel reproduces compel 2.x's EmbeddingsProvider with the options
// InvokeAI uses: no truncation (long prompts become several 77-token
// windows), padding mask value 1 and DownweightMode.MASK.
type compel struct {
	enc    TextEncoder
	kind   EmbeddingsType
	emptyZ *tensor.Tensor // the encoding of [BOS, EOS, pad…], cached
}

func newCompel(enc TextEncoder, kind EmbeddingsType) (*compel, error) {
	if enc.Tokenizer == nil || enc.Model == nil {
		return nil, errors.New("conditioning: text encoder or tokenizer missing")
	}
	layers := enc.Model.Config.NumHiddenLayers
	minLayers := 1
	if kind == PenultimateNonNormalized {
		minLayers = 2
	}
	if enc.SkipLayers < 0 || layers-enc.SkipLayers < minLayers {
		return nil, fmt.Errorf("conditioning: clip skip %d too large for a %d-layer text encoder", enc.SkipLayers, layers)
	}
	return &compel{enc: enc, kind: kind}, nil
}

// EncodePrompt turns an InvokeAI prompt (compel syntax) into conditioning
// embeddings like InvokeAI's `compel` node (kind LastHiddenNormalized) or
// one encoder of `sdxl_compel_prompt` (PenultimateNonNormalized). The result
// is [1, 77·k, hidden].
func EncodePrompt(ctx context.Context, enc TextEncoder, text string, kind EmbeddingsType) (*tensor.Tensor, error) {
	c, err := newCompel(enc, kind)
	if err != nil {
		return nil, err
	}
	// InvokeAI keeps going with prompts compel cannot parse; so does this.
	conj, _ := prompt.ParseOrPlain(text)
	return c.conjunction(ctx, conj)
}

// PooledEmbeds is compel's get_pooled_embeddings for SDXL's second encoder:
// the projected EOS state of the whole prompt text (syntax included, as
// compel passes the raw string), padded to 77 tokens. compel's id handling
// leaves EOS in the last position, which a causal encoder ignores before
// the first EOS; it is reproduced anyway.
func PooledEmbeds(ctx context.Context, enc TextEncoder, text string) (*tensor.Tensor, error) {
	if enc.Tokenizer == nil || enc.Model == nil {
		return nil, errors.New("pooled embeds: text encoder or tokenizer missing")
	}
	// EncodePadded (truncation to 77, then padding) with the run's added tokens.
	content := enc.ids(text)
	if len(content) > compelChunk-2 {
		content = content[:compelChunk-2]
	}
	ids := make([]int, 0, compelChunk)
	ids = append(append(append(ids, enc.Tokenizer.BOSID()), content...), enc.Tokenizer.EOSID())
	for len(ids) < compelChunk {
		ids = append(ids, enc.Tokenizer.PadID)
	}
	ids[len(ids)-1] = enc.Tokenizer.EOSID()
	out, err := enc.Model.ForwardWith(ctx, [][]int{ids}, enc.options())
	if err != nil {
		return nil, fmt.Errorf("pooled embeds: %w", err)
	}
	if out.TextEmbeds == nil {
		return nil, errors.New("pooled embeds: the text encoder has no projection (not a CLIPTextModelWithProjection)")
	}
	return out.TextEmbeds, nil
}

// SDXLPrompt holds the inputs of InvokeAI's sdxl_compel_prompt node.
type SDXLPrompt struct {
	Prompt, Style                 string
	OriginalWidth, OriginalHeight int
	CropTop, CropLeft             int
	TargetWidth, TargetHeight     int
}

// EncodeSDXLPrompt is InvokeAI's sdxl_compel_prompt: penultimate states of
// both encoders (zeros for an empty prompt), zero-padded to equal length
// and concatenated on the feature axis, the pooled embedding of encoder 2
// (for the style text when one is given) and the time ids.
func EncodeSDXLPrompt(ctx context.Context, enc1, enc2 TextEncoder, p SDXLPrompt) (*Conditioning, error) {
	c1, _, err := sdxlEncoder(ctx, enc1, p.Prompt, false)
	if err != nil {
		return nil, fmt.Errorf("sdxl prompt, encoder 1: %w", err)
	}
	text2 := p.Prompt
	if trimmed := trimSpace(p.Style); trimmed != "" {
		text2 = p.Style
	}
	c2, pooled, err := sdxlEncoder(ctx, enc2, text2, true)
	if err != nil {
		return nil, fmt.Errorf("sdxl prompt, encoder 2: %w", err)
	}
	n := max(c1.Shape[1], c2.Shape[1])
	c1, c2 = padTokensWithZeros(c1, n), padTokensWithZeros(c2, n)
	d1, d2 := c1.Shape[2], c2.Shape[2]
	embeds := tensor.New(1, n, d1+d2)
	for t := 0; t < n; t++ {
		copy(embeds.Data[t*(d1+d2):], c1.Data[t*d1:(t+1)*d1])
		copy(embeds.Data[t*(d1+d2)+d1:], c2.Data[t*d2:(t+1)*d2])
	}
	return &Conditioning{
		Embeds:       embeds,
		PooledEmbeds: pooled,
		AddTimeIDs: []float32{
			float32(p.OriginalHeight), float32(p.OriginalWidth),
			float32(p.CropTop), float32(p.CropLeft),
			float32(p.TargetHeight), float32(p.TargetWidth),
		},
	}, nil
}

// sdxlEncoder is InvokeAI's run_clip_compel with zero_on_empty: an empty
// prompt (exactly "") gives zeros of [1, 77, hidden] and a zero pooled
// vector of the hidden size.
func sdxlEncoder(ctx context.Context, enc TextEncoder, text string, withPooled bool) (*tensor.Tensor, *tensor.Tensor, error) {
	if enc.Model == nil {
		return nil, nil, errors.New("text encoder missing")
	}
	if text == "" {
		cfg := enc.Model.Config
		var pooled *tensor.Tensor
		if withPooled {
			pooled = tensor.New(1, cfg.HiddenSize)
		}
		return tensor.New(1, cfg.MaxPositionEmbeddings, cfg.HiddenSize), pooled, nil
	}
	c, err := EncodePrompt(ctx, enc, text, PenultimateNonNormalized)
	if err != nil {
		return nil, nil, err
	}
	if !withPooled {
		return c, nil, nil
	}
	pooled, err := PooledEmbeds(ctx, enc, text)
	if err != nil {
		return nil, nil, err
	}
	return c, pooled, nil
}

func trimSpace(s string) string {
	start, end := 0, len(s)
	for start < end && isSpace(s[start]) {
		start++
	}
	for end > start && isSpace(s[end-1]) {
		end--
	}
	return s[start:end]
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}

// padTokensWithZeros extends [1, L, D] to [1, n, D] with zero rows.
func padTokensWithZeros(t *tensor.Tensor, n int) *tensor.Tensor {
	if t.Shape[1] >= n {
		return t
	}
	out := tensor.New(1, n, t.Shape[2])
	copy(out.Data, t.Data)
	return out
}

// conjunction is compel's build_conditioning_tensor_for_conjunction: each
// part is encoded, weighted towards the empty prompt when its .and() weight
// is not 1, and the parts are concatenated along the token axis.
func (c *compel) conjunction(ctx context.Context, conj prompt.Conjunction) (*tensor.Tensor, error) {
	if len(conj.Parts) == 0 {
		return c.flattened(ctx, nil)
	}
	var parts []*tensor.Tensor
	for i, part := range conj.Parts {
		var z *tensor.Tensor
		var err error
		if part.Blend != nil {
			z, err = c.blend(ctx, part.Blend)
		} else {
			z, err = c.flattened(ctx, part.Fragments)
		}
		if err != nil {
			return nil, err
		}
		if w := conj.Weights[i]; w != 1 {
			empty, err := c.emptyEmbedding(ctx)
			if err != nil {
				return nil, err
			}
			lerpTowards(z.Data, padWithEmpty(empty, empty, z.Shape[1]).Data, float32(w))
		}
		parts = append(parts, z)
	}
	return concatTokens(parts), nil
}

// blend is compel's _get_conditioning_for_blend (BlendMode.LERP): the
// prompts' embeddings, padded with empty-prompt windows to one length, are
// summed with their (optionally normalised) weights.
func (c *compel) blend(ctx context.Context, b *prompt.Blend) (*tensor.Tensor, error) {
	if len(b.Prompts) == 0 || len(b.Prompts) != len(b.Weights) {
		return nil, fmt.Errorf("conditioning: blend of %d prompts with %d weights", len(b.Prompts), len(b.Weights))
	}
	zs := make([]*tensor.Tensor, len(b.Prompts))
	longest := 0
	for i, frags := range b.Prompts {
		z, err := c.flattened(ctx, frags)
		if err != nil {
			return nil, err
		}
		zs[i] = z
		longest = max(longest, z.Shape[1])
	}
	empty, err := c.emptyEmbedding(ctx)
	if err != nil {
		return nil, err
	}
	for i := range zs {
		zs[i] = padWithEmpty(zs[i], empty, longest)
	}
	weights := make([]float32, len(b.Weights))
	for i, w := range b.Weights {
		weights[i] = float32(w)
	}
	return weightedSum(zs, weights, b.Normalize), nil
}

// padWithEmpty appends empty-prompt windows until z has n tokens
// (compel's pad_conditioning_tensors_to_same_length).
func padWithEmpty(z, empty *tensor.Tensor, n int) *tensor.Tensor {
	if z.Shape[1] >= n {
		return z
	}
	parts := []*tensor.Tensor{z}
	for l := z.Shape[1]; l < n; l += empty.Shape[1] {
		parts = append(parts, empty)
	}
	return concatTokens(parts)
}

// flattened is compel's get_embeddings_for_weighted_prompt_fragments for
// one prompt: a base embedding with per-token weights ≥ 1 applied as
// empty + (z − empty)·w, then, for every fragment weighted below 1, an
// embedding with that fragment masked out of attention, lerped in with
// weight tan((1−w)·π/2) and the weights normalised.
func (c *compel) flattened(ctx context.Context, frags []prompt.Fragment) (*tensor.Tensor, error) {
	texts := make([]string, 0, len(frags))
	weights := make([]float64, 0, len(frags))
	for _, f := range frags {
		texts = append(texts, f.Text)
		weights = append(weights, f.Weight)
	}
	if len(texts) == 0 {
		texts, weights = []string{""}, []float64{1}
	}
	fragIDs := make([][]int, len(texts))
	var ids []int
	var tokenWeights []float32
	for i, t := range texts {
		fragIDs[i] = c.enc.ids(t)
		ids = append(ids, fragIDs[i]...)
		for range fragIDs[i] {
			tokenWeights = append(tokenWeights, float32(weights[i]))
		}
	}
	tokens, perToken := c.chunkAndPad(ids, tokenWeights)
	base, err := c.weightedEmbedding(ctx, tokens, perToken, nil)
	if err != nil {
		return nil, err
	}
	embeddings := []*tensor.Tensor{base}
	lerpWeights := []float32{1}
	var ranges [][2]int
	for i, w := range weights {
		if w >= 1 {
			continue
		}
		if ranges == nil {
			if ranges, err = c.fragmentRanges(tokens, fragIDs); err != nil {
				return nil, err
			}
		}
		if ranges[i][0] < 0 {
			continue // an empty fragment has no tokens to hide
		}
		keep := make([]bool, len(tokens))
		for p := range keep {
			keep[p] = p < ranges[i][0] || p > ranges[i][1] ||
				p%compelChunk == 0 || p%compelChunk == compelChunk-1
		}
		without, err := c.weightedEmbedding(ctx, tokens, perToken, keep)
		if err != nil {
			return nil, err
		}
		embeddings = append(embeddings, without)
		lerpWeights = append(lerpWeights, float32(math.Tan((1-math.Max(1e-5, w))*math.Pi/2)))
	}
	if len(embeddings) == 1 {
		return base, nil
	}
	return weightedSum(embeddings, lerpWeights, true), nil
}

// chunkAndPad is compel's _chunk_and_pad_token_ids without truncation:
// 75-token windows, each as [BOS, tokens…, EOS, pad…] of 77, weight 1 on
// the markers and the padding.
func (c *compel) chunkAndPad(ids []int, weights []float32) ([]int, []float32) {
	tok := c.enc.Tokenizer
	const content = compelChunk - 2
	var outIDs []int
	var outW []float32
	for {
		n := min(content, len(ids))
		outIDs = append(outIDs, tok.BOSID())
		outW = append(outW, 1)
		outIDs = append(outIDs, ids[:n]...)
		outW = append(outW, weights[:n]...)
		outIDs = append(outIDs, tok.EOSID())
		outW = append(outW, 1)
		for len(outIDs)%compelChunk != 0 {
			outIDs = append(outIDs, tok.PadID)
			outW = append(outW, 1)
		}
		ids, weights = ids[n:], weights[n:]
		if len(ids) == 0 {
			return outIDs, outW
		}
	}
}

// fragmentRanges is compel's _get_token_ranges_for_fragments (truncation
// off): each fragment's token span [start, end] in the chunked sequence,
// found by matching its ids and stepping over window markers. Empty
// fragments get {-1, -1}.
func (c *compel) fragmentRanges(all []int, fragIDs [][]int) ([][2]int, error) {
	bos, eos := c.enc.Tokenizer.BOSID(), c.enc.Tokenizer.EOSID()
	ranges := make([][2]int, len(fragIDs))
	start := 0
	for f, ids := range fragIDs {
		if len(ids) == 0 {
			ranges[f] = [2]int{-1, -1}
			continue
		}
		for {
			if start >= len(all)-1 {
				return nil, fmt.Errorf("conditioning: cannot find the start of prompt fragment %d", f)
			}
			if all[start] == ids[0] {
				break
			}
			start++
		}
		end, rel := start, 0
		for {
			if end >= len(all)-1 {
				return nil, fmt.Errorf("conditioning: cannot find the end of prompt fragment %d", f)
			}
			switch {
			case all[end] == eos || all[end] == bos:
				end++
			case all[end] == ids[rel]:
				rel++
				if rel == len(ids) {
					goto found
				}
				end++
			default:
				return nil, fmt.Errorf("conditioning: token mismatch in prompt fragment %d", f)
			}
		}
	found:
		ranges[f] = [2]int{start, end}
		start = end + 1
	}
	return ranges, nil
}

// weightedEmbedding is compel's build_weighted_embedding_tensor: every
// 77-token window is encoded (with its part of keep as the attention mask)
// and each token becomes empty + (z − empty)·weight.
func (c *compel) weightedEmbedding(ctx context.Context, tokens []int, weights []float32, keep []bool) (*tensor.Tensor, error) {
	empty, err := c.emptyEmbedding(ctx)
	if err != nil {
		return nil, err
	}
	var windows []*tensor.Tensor
	for s := 0; s < len(tokens); s += compelChunk {
		var mask [][]bool
		if keep != nil {
			mask = [][]bool{keep[s : s+compelChunk]}
		}
		z, err := c.encode(ctx, tokens[s:s+compelChunk], mask)
		if err != nil {
			return nil, err
		}
		dim := z.Shape[2]
		out := tensor.New(1, compelChunk, dim)
		for t := 0; t < compelChunk; t++ {
			w := weights[s+t]
			zr, er, or := z.Data[t*dim:(t+1)*dim], empty.Data[t*dim:(t+1)*dim], out.Data[t*dim:(t+1)*dim]
			for i := range or {
				delta := zr[i] - er[i]
				scaled := float32(delta * w) // explicit rounding: no fused multiply-add, as torch
				or[i] = er[i] + scaled
			}
		}
		windows = append(windows, out)
	}
	return concatTokens(windows), nil
}

// emptyEmbedding is the encoding of one window of [BOS, EOS, pad…], which
// is also build_conditioning_tensor(""); it is computed once per prompt.
func (c *compel) emptyEmbedding(ctx context.Context) (*tensor.Tensor, error) {
	if c.emptyZ != nil {
		return c.emptyZ, nil
	}
	tok := c.enc.Tokenizer
	ids := make([]int, compelChunk)
	ids[0], ids[1] = tok.BOSID(), tok.EOSID()
	for i := 2; i < compelChunk; i++ {
		ids[i] = tok.PadID
	}
	z, err := c.encode(ctx, ids, nil)
	if err != nil {
		return nil, err
	}
	c.emptyZ = z
	return z, nil
}

// encode runs the text encoder on one window and picks the state compel
// returns for c.kind.
func (c *compel) encode(ctx context.Context, ids []int, mask [][]bool) (*tensor.Tensor, error) {
	opts := c.enc.options()
	opts.KeyMask = mask
	out, err := c.enc.Model.ForwardWith(ctx, [][]int{ids}, opts)
	if err != nil {
		return nil, fmt.Errorf("conditioning: %w", err)
	}
	if c.kind == PenultimateNonNormalized {
		return out.HiddenState(-2), nil
	}
	return out.LastHiddenState, nil
}

// lerpTowards sets z = base + (z − base)·w in place.
func lerpTowards(z, base []float32, w float32) {
	for i := range z {
		delta := z[i] - base[i]
		scaled := float32(delta * w)
		z[i] = base[i] + scaled
	}
}

// weightedSum is compel's apply_embedding_weights: Σ wᵢ·zᵢ, with the
// weights first divided by their float32 sum when normalize is set.
func weightedSum(zs []*tensor.Tensor, weights []float32, normalize bool) *tensor.Tensor {
	if normalize {
		var sum float32
		for _, w := range weights {
			sum += w
		}
		for i := range weights {
			weights[i] /= sum
		}
	}
	out := tensor.New(zs[0].Shape...)
	for i := range out.Data {
		var acc float32
		for k, z := range zs {
			acc += float32(z.Data[i] * weights[k])
		}
		out.Data[i] = acc
	}
	return out
}

// concatTokens joins [1, Lᵢ, D] tensors along the token axis.
func concatTokens(parts []*tensor.Tensor) *tensor.Tensor {
	if len(parts) == 1 {
		return parts[0]
	}
	n := 0
	for _, p := range parts {
		n += p.Shape[1]
	}
	out := tensor.New(1, n, parts[0].Shape[2])
	off := 0
	for _, p := range parts {
		off += copy(out.Data[off:], p.Data)
	}
	return out
}
