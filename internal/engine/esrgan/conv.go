package esrgan

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/invokego/invokego/internal/engine/gemm"
)

// conv3 is a 3×3, stride-1, zero-padded convolution with pre-packed weights. It reads a prefix of
// the channels of an NCHW plane set and writes its output through an epilogue, so that the dense
// blocks can grow their concatenation in place and the residual scalings cost no extra pass.
type conv3 struct {
	inC, outC int
	bias      []float32
	packed    *gemm.PackedB
	packedBF  *gemm.PackedBBF16
}

func newConv3(inC, outC int, weight, bias []float32, bf16 bool) (*conv3, error) {
	if len(weight) != outC*inC*9 || len(bias) != outC {
		return nil, fmt.Errorf("conv %d->%d: %d weights, %d biases", inC, outC, len(weight), len(bias))
	}
	c := &conv3{inC: inC, outC: outC, bias: bias}
	k := inC * 9
	if bf16 {
		c.packedBF = gemm.PackBBF16(true, k, outC, weight, k)
	} else {
		c.packed = gemm.PackB(true, k, outC, weight, k)
	}
	return c, nil
}

// epilogue says what becomes of v = conv(x) + bias for output element i:
//
//	act(v)·scale + res1[i]·res1Scale + res2[i]
//
// act is the identity, LeakyReLU(0.2) or a per-channel PReLU; res1 and res2 may be nil.
type epilogue struct {
	lrelu     bool
	prelu     []float32
	scale     float32 // 0 means 1
	res1      []float32
	res1Scale float32 // 0 means 1
	res2      []float32
}

// bandFloats bounds the pixel-major product of one band (4 MiB), which stays in cache until it
// is laid out.
const bandFloats = 1 << 20

// forward computes the convolution of x (at least inC planes of h×w) into out (outC planes).
func (c *conv3) forward(x []float32, h, w int, out []float32, ep epilogue) {
	hw := h * w
	if len(x) < c.inC*hw || len(out) < c.outC*hw {
		panic(fmt.Sprintf("esrgan: conv %d->%d on %dx%d: input %d, output %d floats", c.inC, c.outC, h, w, len(x), len(out)))
	}
	in := gemm.ConvInput{X: x[:c.inC*hw], N: 1, C: c.inC, H: h, W: w, KH: 3, KW: 3, Stride: 1, PadTop: 1, PadLeft: 1, OutH: h, OutW: w}
	band := max(1, min(hw, bandFloats/c.outC))
	tmp := getScratch(band * c.outC)
	defer putScratch(tmp)
	for r0 := 0; r0 < hw; r0 += band {
		rows := min(band, hw-r0)
		if c.packed != nil {
			gemm.SgemmConvPackedRows(&in, r0, rows, c.packed, tmp, c.outC, false)
		} else {
			gemm.SgemmConvPackedRowsBF16(&in, r0, rows, c.packedBF, tmp, c.outC, false)
		}
		c.layout(out, tmp, r0, rows, hw, ep)
	}
}

// layout writes pixel-major rows [r0, r0+rows) of the product into the NCHW output, applying
// bias and the epilogue.
func (c *conv3) layout(out, src []float32, r0, rows, hw int, ep epilogue) {
	const tile = 64
	ch := c.outC
	scale, r1s := ep.scale, ep.res1Scale
	if scale == 0 {
		scale = 1
	}
	if r1s == 0 {
		r1s = 1
	}
	parallelFor((rows+tile-1)/tile, tile*ch*4, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			i0, i1 := t*tile, min((t+1)*tile, rows)
			n := i1 - i0
			s := src[i0*ch : i1*ch]
			for co := range ch {
				b := c.bias[co]
				off := co*hw + r0 + i0
				d := out[off : off+n]
				slope := float32(0.2)
				if ep.prelu != nil {
					slope = ep.prelu[co]
				}
				act := ep.lrelu || ep.prelu != nil
				// One pass per element: out may alias a residual (an in-place skip connection).
				var r1, r2 []float32
				if ep.res1 != nil {
					r1 = ep.res1[off : off+n]
				}
				if ep.res2 != nil {
					r2 = ep.res2[off : off+n]
				}
				for j := range d {
					v := s[j*ch+co] + b
					if act && v < 0 {
						v *= slope
					}
					v *= scale
					if r1 != nil {
						v += r1[j] * r1s
					}
					if r2 != nil {
						v += r2[j]
					}
					d[j] = v
				}
			}
		}
	})
}

// flops is the multiply-add count ×2 of one application on h×w.
func (c *conv3) flops(h, w int) float64 { return 2 * float64(h*w) * float64(c.inC*9) * float64(c.outC) }

// Scratch buffers are recycled: a tile runs hundreds of convolutions, each wanting a band buffer.
var scratchPool = sync.Pool{New: func() any { b := make([]float32, bandFloats); return &b }}

func getScratch(n int) []float32 {
	if n > bandFloats {
		return make([]float32, n)
	}
	p := scratchPool.Get().(*[]float32)
	return (*p)[:n]
}

func putScratch(b []float32) {
	if cap(b) == bandFloats {
		b = b[:bandFloats]
		scratchPool.Put(&b)
	}
}

// parallelFor splits [0, n) into contiguous chunks run concurrently; cost is a rough per-item
// operation count below which the work stays on the calling goroutine.
func parallelFor(n, cost int, fn func(lo, hi int)) {
	const minWork = 1 << 15
	workers := runtime.GOMAXPROCS(0)
	if total := n * cost; total < 2*minWork || workers == 1 || n < 2 {
		fn(0, n)
		return
	} else if w := total / minWork; w < workers {
		workers = w
	}
	workers = min(workers, n)
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := chunk; lo < n; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, min(lo+chunk, n))
	}
	fn(0, min(chunk, n))
	wg.Wait()
}
