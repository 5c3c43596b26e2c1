package ipadapter

import (
	"fmt"
	"strconv"

	"github.com/invokego/invokego/internal/engine/tensor"
)

// resampler is the IP-Adapter Plus image projection, a Perceiver resampler: learned query latents attend,
// layer by layer, to the projected image features and to themselves, then are projected and normalised.
type resampler struct {
	latents         *tensor.Tensor // [1, queries, dim]
	queries, outDim int
	heads, headDim  int
	projIn, projOut *tensor.Linear
	normOut         *layerNorm
	layers          []resamplerLayer
}

type resamplerLayer struct {
	norm1, norm2 *layerNorm // of the image features and of the latents
	toQ, toKV    *tensor.Linear
	toOut        *tensor.Linear
	ffNorm       *layerNorm
	ff1, ff2     *tensor.Linear
}

// resamplerHeadDim is the head width every released Plus adapter uses; the head count follows from the
// query projection (12 heads for SD-1, 20 for SDXL).
const resamplerHeadDim = 64

// maxResamplerDepth bounds the layers a file may declare (released adapters have 4).
const maxResamplerDepth = 64

func (r *reader) resampler(p string) *resampler {
	lat := r.get(p+".latents", 3)
	s := &resampler{latents: lat, queries: lat.Shape[1], projIn: r.linear(p + ".proj_in"), projOut: r.linear(p + ".proj_out"),
		normOut: r.norm(p + ".norm_out")}
	s.outDim = len(s.normOut.weight)
	dim := lat.Shape[2]
	for i := 0; r.has(p + ".layers." + strconv.Itoa(i) + ".0.to_q.weight"); i++ {
		if i >= maxResamplerDepth {
			r.fail(fmt.Errorf("resampler deeper than %d layers", maxResamplerDepth))
			break
		}
		q := p + ".layers." + strconv.Itoa(i)
		l := resamplerLayer{
			norm1: r.norm(q + ".0.norm1"), norm2: r.norm(q + ".0.norm2"),
			toQ: r.linearNoBias(q + ".0.to_q"), toKV: r.linearNoBias(q + ".0.to_kv"), toOut: r.linearNoBias(q + ".0.to_out"),
			ffNorm: r.norm(q + ".1.0"), ff1: r.linearNoBias(q + ".1.1"), ff2: r.linearNoBias(q + ".1.3"),
		}
		if l.toQ.In != dim || l.toKV.Out != 2*l.toQ.Out || l.toOut.In != l.toQ.Out || l.toQ.Out%resamplerHeadDim != 0 {
			r.fail(fmt.Errorf("resampler layer %d: projections %d→%d, kv %d, out %d", i, l.toQ.In, l.toQ.Out, l.toKV.Out, l.toOut.In))
		}
		s.heads = l.toQ.Out / resamplerHeadDim
		s.layers = append(s.layers, l)
	}
	s.headDim = resamplerHeadDim
	if len(s.layers) == 0 || s.projIn.Out != dim || s.projOut.In != dim || s.projOut.Out != s.outDim {
		r.fail(fmt.Errorf("resampler of %d layers does not fit latents of width %d", len(s.layers), dim))
	}
	if r.err != nil {
		return nil
	}
	return s
}

// forward maps image features [N, L, D] to tokens [N, queries, outDim].
func (s *resampler) forward(x *tensor.Tensor) *tensor.Tensor {
	n, dim := x.Shape[0], s.latents.Shape[2]
	lat := tensor.New(n, s.queries, dim)
	for b := 0; b < n; b++ {
		copy(lat.Data[b*s.queries*dim:], s.latents.Data)
	}
	feats := s.projIn.Forward(x)
	lx := feats.Shape[1]
	inner := s.heads * s.headDim
	for _, l := range s.layers {
		xn := l.norm1.forward(feats)
		ln := l.norm2.forward(lat)
		q := l.toQ.Forward(ln)
		// Keys and values come from the image features and the latents together.
		kvIn := tensor.New(n, lx+s.queries, dim)
		for b := 0; b < n; b++ {
			copy(kvIn.Data[b*(lx+s.queries)*dim:], xn.Data[b*lx*dim:(b+1)*lx*dim])
			copy(kvIn.Data[(b*(lx+s.queries)+lx)*dim:], ln.Data[b*s.queries*dim:(b+1)*s.queries*dim])
		}
		kv := l.toKV.Forward(kvIn)
		lk := lx + s.queries
		k, v := tensor.New(n, lk, inner), tensor.New(n, lk, inner)
		for row := 0; row < n*lk; row++ {
			copy(k.Data[row*inner:(row+1)*inner], kv.Data[row*2*inner:])
			copy(v.Data[row*inner:(row+1)*inner], kv.Data[row*2*inner+inner:])
		}
		att := tensor.New(n, s.queries, inner)
		tensor.Attention(q.Data, k.Data, v.Data, n, s.queries, lk, s.heads, s.headDim, false, att.Data)
		out := l.toOut.Forward(att)
		tensor.AddInto(lat.Data, out.Data, lat.Data)
		h := l.ffNorm.forward(lat)
		h = l.ff1.Forward(h)
		tensor.GELU(h.Data)
		h = l.ff2.Forward(h)
		tensor.AddInto(lat.Data, h.Data, lat.Data)
	}
	return s.normOut.forward(s.projOut.Forward(lat))
}
