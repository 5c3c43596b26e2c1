package pipeline

import (
	"errors"
	"fmt"
	"sync"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// Regional prompting, as InvokeAI does it for SD-1/2 and SDXL: several conditionings of one side (positive or
// negative) are concatenated along the token axis, and every cross-attention layer of the UNet lets the
// latent pixels inside a prompt's mask attend to that prompt's tokens only: the other tokens' scores get
// −10000 (InvokeAI's RegionalPromptData). The masks are resized to the latents (nearest) and max-pooled
// (2×2, rounding up) for each smaller level of the UNet.

// TextRegions are the regions of one side's concatenated conditioning: prompt i's tokens are Ranges[i]
// ([start, end)) and apply where Masks[i] ([1, h, w] at the latents' size, 0 or 1) is set.
type TextRegions struct {
	Masks  []*tensor.Tensor
	Ranges [][2]int
}

// regionMaskedScore is InvokeAI's score for a token outside the pixel's region.
const regionMaskedScore = -10000

// RegionalConditioning concatenates the conditionings of one side as InvokeAI's denoise_latents does
// (_concat_regional_text_embeddings). masks[i] is conditioning i's mask ([1, H, W] or [H, W], set above 0.5)
// or nil for one that applies everywhere; when no conditioning has a mask there are no regions (nil) and the
// result is the plain concatenation. For SDXL the pooled embedding and time ids are those of the last
// conditioning without a mask, else of the first. latentH×latentW is the size the masks are resized to.
func RegionalConditioning(conds []*Conditioning, masks []*tensor.Tensor, latentH, latentW int) (*Conditioning, *TextRegions, error) {
	if len(conds) == 0 {
		return nil, nil, errors.New("regional conditioning: no conditioning")
	}
	if len(masks) != len(conds) {
		return nil, nil, fmt.Errorf("regional conditioning: %d masks for %d conditionings", len(masks), len(conds))
	}
	anyMask := false
	for _, m := range masks {
		anyMask = anyMask || m != nil
	}
	width := conds[0].Embeds.Shape[2]
	total := 0
	out := &Conditioning{}
	var regions *TextRegions
	if anyMask {
		regions = &TextRegions{}
	}
	for i, c := range conds {
		if c == nil || c.Embeds == nil || len(c.Embeds.Shape) != 3 || c.Embeds.Shape[0] != 1 || c.Embeds.Shape[2] != width {
			return nil, nil, fmt.Errorf("regional conditioning %d: embeddings must be [1, tokens, %d]", i, width)
		}
		if (c.PooledEmbeds == nil) != (conds[0].PooledEmbeds == nil) {
			return nil, nil, errors.New("regional conditioning: SD and SDXL conditionings mixed")
		}
		if c.PooledEmbeds != nil && (out.PooledEmbeds == nil || masks[i] == nil) {
			out.PooledEmbeds, out.AddTimeIDs = c.PooledEmbeds, c.AddTimeIDs
		}
		n := c.Embeds.Shape[1]
		if regions != nil {
			m, err := regionMask(masks[i], latentH, latentW)
			if err != nil {
				return nil, nil, fmt.Errorf("regional conditioning %d: %w", i, err)
			}
			regions.Masks = append(regions.Masks, m)
			regions.Ranges = append(regions.Ranges, [2]int{total, total + n})
		}
		total += n
	}
	out.Embeds = tensor.New(1, total, width)
	off := 0
	for _, c := range conds {
		off += copy(out.Embeds.Data[off:], c.Embeds.Data)
	}
	return out, regions, nil
}

// regionMask is InvokeAI's _preprocess_regional_prompt_mask: all ones without a mask, otherwise the mask
// thresholded at 0.5 and resized to h×w by nearest neighbour.
func regionMask(m *tensor.Tensor, h, w int) (*tensor.Tensor, error) {
	if m == nil {
		out := tensor.New(1, h, w)
		for i := range out.Data {
			out.Data[i] = 1
		}
		return out, nil
	}
	var mh, mw int
	switch {
	case len(m.Shape) == 2:
		mh, mw = m.Shape[0], m.Shape[1]
	case len(m.Shape) == 3 && m.Shape[0] == 1:
		mh, mw = m.Shape[1], m.Shape[2]
	default:
		return nil, fmt.Errorf("mask of shape %v: want [1, H, W] or [H, W]", m.Shape)
	}
	bin := tensor.New(1, 1, mh, mw)
	for i, v := range m.Data {
		if v > 0.5 {
			bin.Data[i] = 1
		}
	}
	r, err := Resize(bin, h, w, "nearest")
	if err != nil {
		return nil, err
	}
	return tensor.FromData(r.Data, 1, h, w), nil
}

// regionBias computes and keeps, per query length, the attention bias of one side's regions.
type regionBias struct {
	regions *TextRegions
	tokens  int // the side's conditioning length
	h, w    int
	mu      sync.Mutex
	levels  map[int][]*tensor.Tensor // query length → each region's mask at that level, flattened
	bias    map[int][]float32        // query length → [lq, tokens]
}

// newRegionBias prepares a side's biases; regions nil stands for one region over every pixel and token
// (InvokeAI's stand-in for a side without masks), whose bias is zero.
func newRegionBias(regions *TextRegions, tokens, h, w int) *regionBias {
	rb := &regionBias{regions: regions, tokens: tokens, h: h, w: w, levels: map[int][]*tensor.Tensor{}, bias: map[int][]float32{}}
	if regions == nil {
		return rb
	}
	rb.levels = maskLevels(regions.Masks, h, w)
	return rb
}

// maskLevels returns masks (h×w) at the latents' size and at each halving down to 1/8 by query length
// (max pooling, rounding up as the UNet's downsamplers do).
func maskLevels(masks []*tensor.Tensor, h, w int) map[int][]*tensor.Tensor {
	levels := map[int][]*tensor.Tensor{}
	cur := masks
	ch, cw := h, w
	for f := 1; f <= 8; f *= 2 {
		levels[ch*cw] = cur
		if f == 8 {
			break
		}
		nh, nw := (ch+1)/2, (cw+1)/2
		next := make([]*tensor.Tensor, len(cur))
		for i, m := range cur {
			next[i] = maxPool2(m, ch, cw, nh, nw)
		}
		cur, ch, cw = next, nh, nw
	}
	return levels
}

func maxPool2(m *tensor.Tensor, h, w, nh, nw int) *tensor.Tensor {
	out := tensor.New(1, nh, nw)
	for y := 0; y < nh; y++ {
		for x := 0; x < nw; x++ {
			v := float32(0)
			for dy := 0; dy < 2 && 2*y+dy < h; dy++ {
				for dx := 0; dx < 2 && 2*x+dx < w; dx++ {
					v = max(v, m.Data[(2*y+dy)*w+2*x+dx])
				}
			}
			out.Data[y*nw+x] = v
		}
	}
	return out
}

// at returns the bias [lq, lk] for lq query positions: for each region, 0 on its tokens where its mask is set
// and regionMaskedScore where not; tokens beyond the side's own (none here) and a side without regions get 0.
func (rb *regionBias) at(lq, lk int) ([]float32, error) {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if b, ok := rb.bias[lq]; ok && len(b) == lq*lk {
		return b, nil
	}
	b := make([]float32, lq*lk)
	if rb.regions != nil {
		masks, ok := rb.levels[lq]
		if !ok {
			return nil, fmt.Errorf("regional prompt: no mask level for %d query positions (latents %dx%d)", lq, rb.w, rb.h)
		}
		for i, r := range rb.regions.Ranges {
			m := masks[i].Data
			for q := 0; q < lq; q++ {
				if m[q] > 0.5 {
					continue
				}
				row := b[q*lk : (q+1)*lk]
				for k := r[0]; k < min(r[1], lk); k++ {
					row[k] = regionMaskedScore
				}
			}
		}
	}
	rb.bias[lq] = b
	return b, nil
}

// checkRegions validates one side's regions against its conditioning and the latents.
func checkRegions(r *TextRegions, c *Conditioning, h, w int) error {
	if r == nil {
		return nil
	}
	if len(r.Masks) != len(r.Ranges) || len(r.Masks) == 0 {
		return fmt.Errorf("regions: %d masks for %d token ranges", len(r.Masks), len(r.Ranges))
	}
	prev := 0
	for i, m := range r.Masks {
		if m == nil || len(m.Shape) != 3 || m.Shape[0] != 1 || m.Shape[1] != h || m.Shape[2] != w {
			return fmt.Errorf("regions: mask %d must be [1, %d, %d] (the latents' size)", i, h, w)
		}
		if rg := r.Ranges[i]; rg[0] != prev || rg[1] <= rg[0] {
			return fmt.Errorf("regions: token ranges must tile the conditioning, range %d is %v", i, rg)
		}
		prev = r.Ranges[i][1]
	}
	if prev != c.Embeds.Shape[1] {
		return fmt.Errorf("regions: token ranges cover %d tokens of %d", prev, c.Embeds.Shape[1])
	}
	return nil
}

// guidanceRegions holds the regional biases of a run's two sides.
type guidanceRegions struct {
	neg, pos *regionBias
	mu       sync.Mutex
	both     map[int][]float32 // query length → [2, lq, lk], negative then positive
	err      error             // the first failure inside a model call
}

func newGuidanceRegions(p DenoiseParams, h, w int) *guidanceRegions {
	if p.PositiveRegions == nil && p.NegativeRegions == nil {
		return nil
	}
	return &guidanceRegions{neg: newRegionBias(p.NegativeRegions, p.Negative.Embeds.Shape[1], h, w),
		pos: newRegionBias(p.PositiveRegions, p.Positive.Embeds.Shape[1], h, w), both: map[int][]float32{}}
}

func (g *guidanceRegions) fail(err error) []float32 {
	g.mu.Lock()
	if g.err == nil {
		g.err = err
	}
	g.mu.Unlock()
	return nil
}

// textBias is the UNet option for a model call on side s (nil without regions).
func (g *guidanceRegions) textBias(s side) func(batch, lq, lk int) []float32 {
	if g == nil {
		return nil
	}
	one := func(rb *regionBias) func(batch, lq, lk int) []float32 {
		return func(batch, lq, lk int) []float32 {
			b, err := rb.at(lq, lk)
			if err != nil || batch != 1 {
				return g.fail(fmt.Errorf("regional prompt: %v (batch %d)", err, batch))
			}
			return b
		}
	}
	switch s {
	case sideNeg:
		return one(g.neg)
	case sidePos:
		return one(g.pos)
	}
	return func(batch, lq, lk int) []float32 {
		if batch != 2 {
			return g.fail(fmt.Errorf("regional prompt: a batch of %d for both sides", batch))
		}
		nb, err := g.neg.at(lq, lk)
		if err != nil {
			return g.fail(err)
		}
		pb, err := g.pos.at(lq, lk)
		if err != nil {
			return g.fail(err)
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		b, ok := g.both[lq]
		if !ok || len(b) != 2*lq*lk {
			b = append(append(make([]float32, 0, 2*lq*lk), nb...), pb...)
			g.both[lq] = b
		}
		return b
	}
}

// failure reports a failure recorded during a model call.
func (g *guidanceRegions) failure() error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}
