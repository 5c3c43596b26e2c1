package esrgan

import (
	"context"
)

// tailHalo is how many low-resolution rows a band of the upsampling tail reads beyond its own on
// each side. Every convolution after an interior cut spoils one more row next to it and every ×2
// upsampling doubles the spoiled rows; for up to four stages (conv_up·, then conv_hr and
// conv_last) that stays within two low-resolution rows, which the band then discards.
const tailHalo = 2

// tailBandFloats bounds the activations of one band of the upsampling tail (32 MiB per buffer),
// so that the high-resolution part never holds a whole tile's worth of 64-channel planes.
const tailBandFloats = 8 << 20

func (m *Model) forwardRRDB(ctx context.Context, x []float32, h, w int) ([]float32, error) {
	s := m.Spec
	if s.Shuffle > 1 {
		x = pixelUnshuffle(x, s.InChannels, h, w, s.Shuffle)
		h, w = h/s.Shuffle, w/s.Shuffle
	}
	f, g := s.Features, s.Growth
	hw := h * w
	dense := (f + 4*g) * hw
	// Two dense buffers take turns: an RDB reads the concatenation [x, x1..x4] of one (its
	// convolutions each append growth channels in place) and writes its output into the first
	// f channels of the other, which is the next RDB's input.
	a := make([]float32, dense)
	b := make([]float32, dense)
	fea := make([]float32, f*hw)  // conv_first's output, for the long skip
	save := make([]float32, f*hw) // the current RRDB's input, for its skip
	m.first.forward(x, h, w, fea, epilogue{})
	copy(a, fea)
	for _, blk := range m.blocks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		copy(save, a[:f*hw])
		rdb(blk[0], a, b, h, w, f, g, epilogue{scale: 0.2, res1: a[:f*hw]})
		rdb(blk[1], b, a, h, w, f, g, epilogue{scale: 0.2, res1: b[:f*hw]})
		// RRDB(x) = RDB3(·)·0.2 + x, with RDB3(y) = conv5·0.2 + y: both skips in one epilogue.
		rdb(blk[2], a, b, h, w, f, g, epilogue{scale: 0.04, res1: a[:f*hw], res1Scale: 0.2, res2: save})
		a, b = b, a
	}
	// fea += conv_body(trunk), in place: the epilogue reads each element before writing it.
	m.body.forward(a, h, w, fea, epilogue{res1: fea})
	a, b, save = nil, nil, nil
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.tail(ctx, fea, h, w, max(1, tailBandFloats/max(1, f*(1<<(2*s.UpConvs))*w)))
}

// rdb runs one residual dense block on in (whose first f planes are its input) and writes
// conv5's result through ep into the first f planes of out.
func rdb(c [5]*conv3, in, out []float32, h, w, f, g int, ep epilogue) {
	hw := h * w
	for k := range 4 {
		dst := in[(f+k*g)*hw : (f+(k+1)*g)*hw]
		c[k].forward(in, h, w, dst, epilogue{lrelu: true})
	}
	c[4].forward(in, h, w, out[:f*hw], ep)
}

// tail runs the upsampling convolutions, conv_hr and conv_last on fea [f, h, w] in bands of
// rows (rows low-resolution rows each), each with tailHalo rows of context on either side, and
// returns [out, h·2^U, w·2^U].
func (m *Model) tail(ctx context.Context, fea []float32, h, w, rows int) ([]float32, error) {
	s := m.Spec
	f, up := s.Features, 1<<s.UpConvs
	oh, ow := h*up, w*up
	outC := s.OutChannels
	out := make([]float32, outC*oh*ow)
	rows = max(1, min(h, rows))
	// Buffers sized for the largest band at the final resolution, reused by every band and stage.
	maxBH := min(h, rows+2*tailHalo)
	bufA := make([]float32, f*maxBH*up*w*up)
	bufB := make([]float32, f*maxBH*up*w*up)
	res := make([]float32, outC*maxBH*up*w*up)
	for r0 := 0; r0 < h; r0 += rows {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r1 := min(h, r0+rows)
		lo, hi := max(0, r0-tailHalo), min(h, r1+tailHalo)
		bh := hi - lo
		cur := bufA[:f*bh*w]
		for c := range f {
			copy(cur[c*bh*w:(c+1)*bh*w], fea[(c*h+lo)*w:(c*h+hi)*w])
		}
		ch, cw := bh, w
		for _, u := range m.ups {
			upd := upsampleNearestInto(bufB, cur, f, ch, cw, 2)
			ch, cw = ch*2, cw*2
			cur = bufA[:f*ch*cw]
			u.forward(upd, ch, cw, cur, epilogue{lrelu: true})
		}
		hrOut := bufB[:f*ch*cw]
		m.hr.forward(cur, ch, cw, hrOut, epilogue{lrelu: true})
		m.last.forward(hrOut, ch, cw, res[:outC*ch*cw], epilogue{})
		// Keep the band's own rows.
		skip := (r0 - lo) * up
		keep := (r1 - r0) * up
		for c := range outC {
			copy(out[(c*oh+r0*up)*ow:(c*oh+r0*up+keep)*ow], res[(c*ch+skip)*cw:(c*ch+skip+keep)*cw])
		}
	}
	return out, nil
}

func (m *Model) forwardCompact(ctx context.Context, x []float32, h, w int) ([]float32, error) {
	s := m.Spec
	f := s.Features
	hw := h * w
	a := make([]float32, f*hw)
	b := make([]float32, f*hw)
	m.compactConvs[0].forward(x, h, w, a, epilogue{prelu: m.prelus[0]})
	for i := 1; i <= s.Blocks; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m.compactConvs[i].forward(a, h, w, b, epilogue{prelu: m.prelus[i]})
		a, b = b, a
	}
	sc := s.Scale
	last := make([]float32, s.OutChannels*sc*sc*hw)
	m.compactConvs[s.Blocks+1].forward(a, h, w, last, epilogue{})
	// Pixel shuffle, plus the nearest-upsampled input: the network predicts a residual.
	oh, ow := h*sc, w*sc
	out := make([]float32, s.OutChannels*oh*ow)
	parallelFor(s.OutChannels*oh, ow*2, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			c, oy := r/oh, r%oh
			y, i := oy/sc, oy%sc
			row := out[r*ow : (r+1)*ow]
			xin := x[(c*h+y)*w : (c*h+y+1)*w]
			for ox := range row {
				xx, j := ox/sc, ox%sc
				row[ox] = last[((c*sc*sc+i*sc+j)*h+y)*w+xx] + xin[xx]
			}
		}
	})
	return out, nil
}

// pixelUnshuffle turns [c, h, w] into [c·s², h/s, w/s]: channel c·s² + i·s + j holds the pixels at
// row offset i and column offset j of each s×s cell (torch's pixel_unshuffle order).
func pixelUnshuffle(x []float32, c, h, w, s int) []float32 {
	oh, ow := h/s, w/s
	out := make([]float32, c*s*s*oh*ow)
	for ci := range c {
		for i := range s {
			for j := range s {
				plane := out[((ci*s+i)*s+j)*oh*ow:][:oh*ow]
				for y := range oh {
					src := x[(ci*h+y*s+i)*w:]
					dst := plane[y*ow : (y+1)*ow]
					for xx := range dst {
						dst[xx] = src[xx*s+j]
					}
				}
			}
		}
	}
	return out
}

// upsampleNearestInto repeats every pixel of [c, h, w] s×s times into buf and returns that part
// of buf.
func upsampleNearestInto(buf, x []float32, c, h, w, s int) []float32 {
	oh, ow := h*s, w*s
	out := buf[:c*oh*ow]
	parallelFor(c*h, ow*s, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			ci, y := r/h, r%h
			src := x[(ci*h+y)*w : (ci*h+y+1)*w]
			first := out[(ci*oh+y*s)*ow : (ci*oh+y*s+1)*ow]
			for xx, v := range src {
				for j := range s {
					first[xx*s+j] = v
				}
			}
			for i := 1; i < s; i++ {
				copy(out[(ci*oh+y*s+i)*ow:(ci*oh+y*s+i+1)*ow], first)
			}
		}
	})
	return out
}
