package main

// Analytic FLOP counts (2 per multiply-add) of every matrix product:
// convolutions, linear layers (time-embedding ones included) and the two
// attention products QKᵀ and P·V. Norms, activations and softmax are not
// counted. bench/torch_bench.py counts the same things by hooking every
// nn.Conv2d / nn.Linear call and every attention product, and both sides
// print their figure so a mismatch shows.

type flops struct {
	batch int
	total float64
}

func (f *flops) conv(in, out, k, h, w int) {
	f.total += 2 * float64(f.batch) * float64(out) * float64(in) * float64(k*k) * float64(h*w)
}

func (f *flops) linear(in, out, rows int) { f.total += 2 * float64(rows) * float64(in) * float64(out) }

// attn counts QKᵀ and P·V for batch·lq queries over lk keys of total width c.
func (f *flops) attn(lq, lk, c int) {
	f.total += 4 * float64(f.batch) * float64(lq) * float64(lk) * float64(c)
}

func (f *flops) resnet(in, out, temb, h, w int) {
	f.conv(in, out, 3, h, w)
	if temb > 0 {
		f.linear(temb, out, f.batch)
	}
	f.conv(out, out, 3, h, w)
	if in != out {
		f.conv(in, out, 1, h, w)
	}
}

func (f *flops) transformer(c, ctxDim, ctxLen, h, w int) {
	t := h * w
	rows := f.batch * t
	f.conv(c, c, 1, h, w) // proj_in
	f.linear(c, c, rows)  // attn1 q, k, v, out
	f.linear(c, c, rows)
	f.linear(c, c, rows)
	f.linear(c, c, rows)
	f.attn(t, t, c)
	f.linear(c, c, rows) // attn2 q
	f.linear(ctxDim, c, f.batch*ctxLen)
	f.linear(ctxDim, c, f.batch*ctxLen)
	f.linear(c, c, rows)
	f.attn(t, ctxLen, c)
	f.linear(c, 8*c, rows) // GEGLU
	f.linear(4*c, c, rows)
	f.conv(c, c, 1, h, w) // proj_out
}

// unetFLOPs is one UNet forward at batch × h × w latents.
func unetFLOPs(u unetShape, batch, h, w, ctxLen int) float64 {
	f := &flops{batch: batch}
	ch := u.blocks
	n := len(ch)
	temb := 4 * ch[0]
	f.conv(u.inC, ch[0], 3, h, w)
	f.linear(ch[0], temb, batch)
	f.linear(temb, temb, batch)
	type hw struct{ h, w int }
	var sizes []hw
	prev := ch[0]
	for i := 0; i < n; i++ {
		for j := 0; j < u.layersPerBlock; j++ {
			in := ch[i]
			if j == 0 {
				in = prev
			}
			f.resnet(in, ch[i], temb, h, w)
			if u.downTypes[i] == "CrossAttnDownBlock2D" {
				f.transformer(ch[i], u.crossDim, ctxLen, h, w)
			}
		}
		if i < n-1 {
			sizes = append(sizes, hw{h, w})
			h, w = (h+1)/2, (w+1)/2 // 3×3, stride 2, padding 1
			f.conv(ch[i], ch[i], 3, h, w)
		}
		prev = ch[i]
	}
	top := ch[n-1]
	f.resnet(top, top, temb, h, w)
	f.transformer(top, u.crossDim, ctxLen, h, w)
	f.resnet(top, top, temb, h, w)
	prevOut := top
	for i := 0; i < n; i++ {
		out := ch[n-1-i]
		skipIn := ch[max(n-2-i, 0)]
		for j := 0; j <= u.layersPerBlock; j++ {
			skip := out
			if j == u.layersPerBlock {
				skip = skipIn
			}
			in := out
			if j == 0 {
				in = prevOut
			}
			f.resnet(in+skip, out, temb, h, w)
			if u.upTypes[i] == "CrossAttnUpBlock2D" {
				f.transformer(out, u.crossDim, ctxLen, h, w)
			}
		}
		if i < n-1 {
			s := sizes[len(sizes)-1]
			sizes = sizes[:len(sizes)-1]
			h, w = s.h, s.w
			f.conv(out, out, 3, h, w)
		}
		prevOut = out
	}
	f.conv(ch[0], u.outC, 3, h, w)
	return f.total
}

// clipFLOPs is one text-encoder forward over batch sequences of seq tokens.
func clipFLOPs(d, inner, layers, batch, seq int) float64 {
	f := &flops{batch: batch}
	rows := batch * seq
	for i := 0; i < layers; i++ {
		for j := 0; j < 4; j++ {
			f.linear(d, d, rows)
		}
		f.attn(seq, seq, d)
		f.linear(d, inner, rows)
		f.linear(inner, d, rows)
	}
	return f.total
}

// vaeDecodeFLOPs is post_quant_conv + decoder for a batch of h × w latents.
func vaeDecodeFLOPs(ch []int, layersPerBlock, latent, outC, batch, h, w int) float64 {
	f := &flops{batch: batch}
	n := len(ch)
	top := ch[n-1]
	f.conv(latent, latent, 1, h, w)
	f.conv(latent, top, 3, h, w)
	f.resnet(top, top, 0, h, w)
	rows := batch * h * w
	for j := 0; j < 4; j++ {
		f.linear(top, top, rows)
	}
	f.attn(h*w, h*w, top)
	f.resnet(top, top, 0, h, w)
	prev := top
	for i := 0; i < n; i++ {
		out := ch[n-1-i]
		for j := 0; j <= layersPerBlock; j++ {
			in := out
			if j == 0 {
				in = prev
			}
			f.resnet(in, out, 0, h, w)
		}
		if i < n-1 {
			h, w = 2*h, 2*w
			f.conv(out, out, 3, h, w)
		}
		prev = out
	}
	f.conv(ch[0], outC, 3, h, w)
	return f.total
}
