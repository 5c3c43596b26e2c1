package sd

import "github.com/invokego/invokego/internal/engine/tensor"

// FLOPs estimates the floating-point operations of one UNet forward pass
// (matrix products only: convolutions, linear layers and attention), for a
// batch of h×w latents and a context of ctxLen tokens. It is used to report
// throughput and to estimate progress.
func (u *UNet) FLOPs(batch, h, w, ctxLen int) float64 {
	var total float64
	conv := func(c *tensor.Conv2D, h, w int) (int, int) {
		ho, wo := c.OutputSize(h, w)
		total += 2 * float64(batch*c.OutC*c.InC*c.KH*c.KW*ho*wo)
		return ho, wo
	}
	resnet := func(r *resnetBlock, h, w int) {
		conv(r.conv1, h, w)
		conv(r.conv2, h, w)
		if r.shortcut != nil {
			conv(r.shortcut, h, w)
		}
	}
	transformer := func(t *transformer2D, h, w int) {
		tokens := float64(batch * h * w)
		var c float64
		if t.projInConv != nil {
			c = float64(t.projInConv.OutC)
			total += 2 * tokens * float64(t.projInConv.InC) * c * 2
		} else {
			c = float64(t.projInLin.Out)
			total += 2 * tokens * float64(t.projInLin.In) * c * 2
		}
		for _, b := range t.blocks {
			ctx := float64(batch * ctxLen)
			lin := func(in, out int, rows float64) { total += 2 * rows * float64(in) * float64(out) }
			lin(b.attn1.toQ.In, b.attn1.toQ.Out, tokens)
			lin(b.attn1.toK.In, b.attn1.toK.Out, tokens)
			lin(b.attn1.toV.In, b.attn1.toV.Out, tokens)
			lin(b.attn1.toOut.In, b.attn1.toOut.Out, tokens)
			total += 4 * tokens * float64(h*w) * float64(b.attn1.toQ.Out) // QKᵀ and PV
			lin(b.attn2.toQ.In, b.attn2.toQ.Out, tokens)
			lin(b.attn2.toK.In, b.attn2.toK.Out, ctx)
			lin(b.attn2.toV.In, b.attn2.toV.Out, ctx)
			lin(b.attn2.toOut.In, b.attn2.toOut.Out, tokens)
			total += 4 * tokens * float64(ctxLen) * float64(b.attn2.toQ.Out)
			lin(b.ffIn.In, b.ffIn.Out, tokens)
			lin(b.ffOut.In, b.ffOut.Out, tokens)
		}
	}
	conv(u.enc.convIn, h, w)
	sizes := [][2]int{{h, w}}
	for _, b := range u.enc.down {
		for j, r := range b.resnets {
			resnet(r, h, w)
			if len(b.attns) > 0 {
				transformer(b.attns[j], h, w)
			}
			sizes = append(sizes, [2]int{h, w})
		}
		if b.downsample != nil {
			h, w = conv(b.downsample, h, w)
			sizes = append(sizes, [2]int{h, w})
		}
	}
	resnet(u.enc.mid.resnet0, h, w)
	transformer(u.enc.mid.attn, h, w)
	resnet(u.enc.mid.resnet1, h, w)
	for _, b := range u.up {
		for j, r := range b.resnets {
			sizes = sizes[:len(sizes)-1]
			resnet(r, h, w)
			if len(b.attns) > 0 {
				transformer(b.attns[j], h, w)
			}
		}
		if b.upsample != nil {
			next := sizes[len(sizes)-1]
			h, w = next[0], next[1]
			conv(b.upsample, h, w)
		}
	}
	conv(u.convOut, h, w)
	return total
}
