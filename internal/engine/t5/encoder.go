package t5

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/invokego/invokego/internal/engine/gemm"
	"github.com/invokego/invokego/internal/engine/quant"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// Encoder is a loaded T5 encoder. It is immutable and safe for concurrent
// use; Close releases the memory-mapped weights.
type Encoder struct {
	cfg       Config
	embedding quant.Matrix // [vocab, d_model]
	relBias   []float32    // [buckets, heads]
	layers    []*layer
	finalNorm []float32
	closers   []func() error
}

type layer struct {
	attnNorm, ffNorm []float32
	q, k, v, o       quant.Layer
	wi0, wi1, wo     quant.Layer // wi1 is nil for the ungated (relu) variant
}

// Config returns the model's configuration.
func (e *Encoder) Config() Config { return e.cfg }

// Close releases the weights' files. The encoder must not be used afterwards.
func (e *Encoder) Close() error {
	var first error
	for _, c := range e.closers {
		if err := c(); err != nil && first == nil {
			first = err
		}
	}
	e.closers = nil
	return first
}

// Output holds an encoding of one sequence.
type Output struct {
	// LastHiddenState is the final layer-normed output [1, L, d_model]:
	// FLUX's prompt_embeds.
	LastHiddenState *tensor.Tensor
	// HiddenStates, when requested, are transformers' hidden_states: the
	// embeddings, each layer's output but the last, then LastHiddenState.
	HiddenStates []*tensor.Tensor
}

// Forward encodes one sequence of token ids without an attention mask
// (every position, padding included, attends to every other, as FLUX
// pipelines call T5). With hidden it also returns the per-layer states.
func (e *Encoder) Forward(ctx context.Context, ids []int, hidden bool) (*Output, error) {
	return e.ForwardWith(ctx, ids, hidden, nil)
}

// Adapter gives, for one call, the layer to use in place of a linear layer of the encoder, named as
// transformers names the module (encoder.block.N.layer.0.SelfAttention.q, …); it returns base for a layer
// it leaves alone. LoRAs apply this way, per call, so the loaded encoder stays immutable.
type Adapter func(name string, base quant.Layer) quant.Layer

// LayerShapes lists the encoder's linear layers by module name with their weight shapes [out, in].
func (e *Encoder) LayerShapes() map[string][]int {
	out := map[string][]int{}
	for i, l := range e.layers {
		for _, m := range l.modules(i) {
			if *m.layer != nil {
				out[m.name] = []int{(*m.layer).OutFeatures(), (*m.layer).InFeatures()}
			}
		}
	}
	return out
}

type namedLayer struct {
	name  string
	layer *quant.Layer
}

// modules names the linear layers of block i.
func (l *layer) modules(i int) []namedLayer {
	p := "encoder.block." + strconv.Itoa(i) + ".layer."
	wi0 := "1.DenseReluDense.wi"
	if l.wi1 != nil {
		wi0 += "_0"
	}
	return []namedLayer{{p + "0.SelfAttention.q", &l.q}, {p + "0.SelfAttention.k", &l.k}, {p + "0.SelfAttention.v", &l.v},
		{p + "0.SelfAttention.o", &l.o}, {p + wi0, &l.wi0}, {p + "1.DenseReluDense.wi_1", &l.wi1},
		{p + "1.DenseReluDense.wo", &l.wo}}
}

// ForwardWith is Forward with the layers adapt gives (nil: the loaded ones).
func (e *Encoder) ForwardWith(ctx context.Context, ids []int, hidden bool, adapt Adapter) (*Output, error) {
	c := e.cfg
	n, d := len(ids), c.DModel
	if n < 1 || n > MaxSequence {
		return nil, fmt.Errorf("t5: sequence of %d tokens (1 to %d)", n, MaxSequence)
	}
	x := tensor.New(1, n, d)
	for i, id := range ids {
		if id < 0 || id >= e.embedding.Rows {
			return nil, fmt.Errorf("t5: token id %d outside the vocabulary of %d", id, e.embedding.Rows)
		}
		e.embedding.DecodeRows(x.Data[i*d:(i+1)*d], id, 1, 0, d)
	}
	out := &Output{}
	if hidden {
		out.HiddenStates = append(out.HiddenStates, x.Clone())
	}
	bias := e.positionBias(n)
	for li, l := range e.layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if adapt != nil {
			run := *l
			for _, m := range run.modules(li) {
				if *m.layer != nil {
					*m.layer = adapt(m.name, *m.layer)
				}
			}
			l = &run
		}
		l.forward(x.Data, n, bias, c)
		if hidden && li < len(e.layers)-1 {
			out.HiddenStates = append(out.HiddenStates, x.Clone())
		}
	}
	rmsNorm(x.Data, x.Data, d, e.finalNorm, float32(c.LayerNormEpsilon))
	out.LastHiddenState = x
	if hidden {
		out.HiddenStates = append(out.HiddenStates, x)
	}
	return out, nil
}

// bucket maps a relative position (key − query) to its bucket as
// transformers' bidirectional _relative_position_bucket does: half the
// buckets for each sign, exact below maxExact, logarithmic above up to
// maxDistance. The logarithm is taken in float32, as torch does, so the
// truncation lands in the same bucket.
func bucket(rel, numBuckets, maxDistance int) int {
	numBuckets /= 2
	b := 0
	if rel > 0 {
		b = numBuckets
	}
	if rel < 0 {
		rel = -rel
	}
	maxExact := numBuckets / 2
	if rel < maxExact {
		return b + rel
	}
	logRatio := float32(math.Log(float64(float32(rel) / float32(maxExact))))
	scale := float32(math.Log(float64(maxDistance) / float64(maxExact)))
	large := maxExact + int(logRatio/scale*float32(numBuckets-maxExact))
	return b + min(large, numBuckets-1)
}

// positionBias returns, per head, the bias of every relative offset:
// bias[h][off+n−1] for off = key − query in (−n, n).
func (e *Encoder) positionBias(n int) [][]float32 {
	heads := e.cfg.NumHeads
	out := make([][]float32, heads)
	for h := range out {
		out[h] = make([]float32, 2*n-1)
	}
	for off := -(n - 1); off < n; off++ {
		b := bucket(off, e.cfg.RelativeAttentionNumBuckets, e.cfg.RelativeAttentionMaxDistance)
		for h := range heads {
			out[h][off+n-1] = e.relBias[b*heads+h]
		}
	}
	return out
}

// forward applies one block to x [n, d] in place.
func (l *layer) forward(x []float32, n int, bias [][]float32, c Config) {
	d := c.DModel
	inner := c.NumHeads * c.DKV
	eps := float32(c.LayerNormEpsilon)

	h := tensor.Empty(n, d)
	rmsNorm(h.Data, x, d, l.attnNorm, eps)
	q, k, v := tensor.Empty(n, inner), tensor.Empty(n, inner), tensor.Empty(n, inner)
	l.q.ForwardInto(q.Data, h.Data, n)
	l.k.ForwardInto(k.Data, h.Data, n)
	l.v.ForwardInto(v.Data, h.Data, n)
	att := tensor.Empty(n, inner)
	attention(att.Data, q.Data, k.Data, v.Data, n, c.NumHeads, c.DKV, bias)
	q.Release()
	k.Release()
	v.Release()
	l.o.ForwardInto(h.Data, att.Data, n)
	att.Release()
	addInto(x, h.Data)

	rmsNorm(h.Data, x, d, l.ffNorm, eps)
	g := tensor.Empty(n, c.DFF)
	l.wi0.ForwardInto(g.Data, h.Data, n)
	if l.wi1 != nil {
		u := tensor.Empty(n, c.DFF)
		l.wi1.ForwardInto(u.Data, h.Data, n)
		geluTanhMul(g.Data, u.Data)
		u.Release()
	} else {
		for i, val := range g.Data {
			g.Data[i] = max(val, 0)
		}
	}
	l.wo.ForwardInto(h.Data, g.Data, n)
	g.Release()
	addInto(x, h.Data)
	h.Release()
}

// rmsNorm is T5's layer norm: x·rsqrt(mean(x²) + eps)·weight per row of
// width d, without centring or bias.
func rmsNorm(dst, x []float32, d int, weight []float32, eps float32) {
	for r := 0; r+d <= len(x); r += d {
		row := x[r : r+d]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		variance := float32(ss / float64(d))
		inv := float32(1 / math.Sqrt(float64(variance+eps)))
		out := dst[r : r+d]
		for i, v := range row {
			out[i] = weight[i] * (v * inv)
		}
	}
}

func addInto(x, y []float32) {
	for i, v := range y {
		x[i] += v
	}
}

// geluTanhMul sets g = gelu_new(g)·u, with gelu_new(x) =
// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), written as x·sigmoid(2·…).
func geluTanhMul(g, u []float32) {
	const k = 2 * 0.7978845608028654
	parallelRows(len(g), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := float64(g[i])
			gel := x / (1 + math.Exp(-k*(x+0.044715*x*x*x)))
			g[i] = float32(gel) * u[i]
		}
	})
}

// parallelRows splits [0, n) over the cores when n is large.
func parallelRows(n int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if n < 1<<16 || workers == 1 {
		fn(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := chunk; lo < n; lo += chunk {
		wg.Go(func() { fn(lo, min(lo+chunk, n)) })
	}
	fn(0, min(chunk, n))
	wg.Wait()
}

// attention computes, per head, softmax(Q·Kᵀ + bias)·V (T5 does not scale
// the scores) into out; q, k, v and out are [n, heads·dkv].
func attention(out, q, k, v []float32, n, heads, dkv int, bias [][]float32) {
	width := heads * dkv
	var next atomic.Int64
	work := func() {
		scores := make([]float32, n*n)
		for {
			h := int(next.Add(1) - 1)
			if h >= heads {
				return
			}
			gemm.SgemmSerial(false, true, n, n, dkv, 1, q[h*dkv:], width, k[h*dkv:], width, 0, scores, n)
			bh := bias[h]
			for i := range n {
				row := scores[i*n : (i+1)*n]
				addInto(row, bh[n-1-i:2*n-1-i])
				softmax(row)
			}
			gemm.SgemmSerial(false, false, n, dkv, n, 1, scores, n, v[h*dkv:], width, 0, out[h*dkv:], width)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), heads)
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// softmax normalizes row in place (float32 values, float64 sum).
func softmax(row []float32) {
	m := row[0]
	for _, v := range row {
		m = max(m, v)
	}
	var sum float64
	for i, v := range row {
		e := math.Exp(float64(v - m))
		row[i] = float32(e)
		sum += e
	}
	inv := float32(1 / sum)
	for i := range row {
		row[i] *= inv
	}
}
