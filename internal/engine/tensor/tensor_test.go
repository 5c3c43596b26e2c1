package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

func assertClose(t *testing.T, name string, got, want []float32, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", name, len(got), len(want))
	}
	var maxDiff, maxRef float64
	for i := range got {
		maxDiff = max(maxDiff, math.Abs(float64(got[i])-float64(want[i])))
		maxRef = max(maxRef, math.Abs(float64(want[i])))
	}
	if maxDiff > rtol*max(maxRef, 1e-6) || math.IsNaN(maxDiff) {
		t.Errorf("%s: max abs diff %.3g (max ref %.3g)", name, maxDiff, maxRef)
	}
}

func naiveConv(c *Conv2D, x []float32, n, h, w int) []float32 {
	ho, wo := c.OutputSize(h, w)
	out := make([]float32, n*c.OutC*ho*wo)
	for b := 0; b < n; b++ {
		for oc := 0; oc < c.OutC; oc++ {
			for oy := 0; oy < ho; oy++ {
				for ox := 0; ox < wo; ox++ {
					var s float64
					if c.Bias != nil {
						s = float64(c.Bias[oc])
					}
					for ic := 0; ic < c.InC; ic++ {
						for ky := 0; ky < c.KH; ky++ {
							for kx := 0; kx < c.KW; kx++ {
								iy, ix := oy*c.Stride+ky-c.PadTop, ox*c.Stride+kx-c.PadLeft
								if iy < 0 || iy >= h || ix < 0 || ix >= w {
									continue
								}
								s += float64(x[((b*c.InC+ic)*h+iy)*w+ix]) * float64(c.Weight[((oc*c.InC+ic)*c.KH+ky)*c.KW+kx])
							}
						}
					}
					out[((b*c.OutC+oc)*ho+oy)*wo+ox] = float32(s)
				}
			}
		}
	}
	return out
}

func TestConv2D(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct{ inC, outC, k, stride, pad, h, w int }{
		{3, 5, 3, 1, 1, 7, 9},
		{4, 6, 3, 2, 1, 8, 8},
		{4, 6, 3, 2, 1, 9, 7},
		{8, 3, 1, 1, 0, 5, 6},
		{2, 4, 3, 1, 0, 6, 6},
	}
	for _, tc := range cases {
		c, err := NewConv2D(tc.inC, tc.outC, tc.k, tc.k, tc.stride, tc.pad, randSlice(r, tc.outC*tc.inC*tc.k*tc.k), randSlice(r, tc.outC))
		if err != nil {
			t.Fatal(err)
		}
		x := FromData(randSlice(r, 2*tc.inC*tc.h*tc.w), 2, tc.inC, tc.h, tc.w)
		got := c.Forward(x)
		want := naiveConv(c, x.Data, 2, tc.h, tc.w)
		assertClose(t, "conv", got.Data, want, 1e-5)
		packed, bf := *c, *c
		packed.Pack()
		assertClose(t, "conv packed", packed.Forward(x).Data, want, 1e-5)
		bf.PackBF16()
		assertClose(t, "conv bf16", bf.Forward(x).Data, want, 3e-2)
	}
	// Asymmetric padding as in the VAE encoder downsampler.
	c, _ := NewConv2D(3, 4, 3, 3, 2, 0, randSlice(r, 4*3*9), randSlice(r, 4))
	c.PadBottom, c.PadRight = 1, 1
	x := FromData(randSlice(r, 3*8*8), 1, 3, 8, 8)
	got := c.Forward(x)
	if got.Shape[2] != 4 || got.Shape[3] != 4 {
		t.Fatalf("shape %v", got.Shape)
	}
	want := naiveConv(c, x.Data, 1, 8, 8)
	assertClose(t, "conv asym", got.Data, want, 1e-5)
	c.Pack()
	assertClose(t, "conv asym packed", c.Forward(x).Data, want, 1e-5)
}

// Banding must not change results: force several bands on a wide input.
func TestConv2DBands(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	inC, h, w := 5, 13, 11
	c, _ := NewConv2D(inC, 3, 3, 3, 1, 1, randSlice(r, 3*inC*9), randSlice(r, 3))
	x := FromData(randSlice(r, 2*inC*h*w), 2, inC, h, w)
	out := make([]float32, 2*3*h*w)
	// A column buffer for 3 output rows forces 5 bands, the last partial.
	conv2DIm2col(c, x.Data, 2, h, w, out, h, w, inC*9*w*3)
	assertClose(t, "conv bands", out, naiveConv(c, x.Data, 2, h, w), 1e-5)
}

func TestLinear(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	in, out, rows := 7, 5, 11
	l, err := NewLinear(in, out, randSlice(r, in*out), randSlice(r, out))
	if err != nil {
		t.Fatal(err)
	}
	x := FromData(randSlice(r, rows*in), rows, in)
	want := make([]float32, rows*out)
	for i := 0; i < rows; i++ {
		for o := 0; o < out; o++ {
			s := float64(l.Bias[o])
			for j := 0; j < in; j++ {
				s += float64(x.Data[i*in+j]) * float64(l.Weight[o*in+j])
			}
			want[i*out+o] = float32(s)
		}
	}
	assertClose(t, "linear", l.Forward(x).Data, want, 1e-5)
	bf := *l
	l.Pack()
	assertClose(t, "linear packed", l.Forward(x).Data, want, 1e-5)
	bf.PackBF16()
	assertClose(t, "linear bf16", bf.Forward(x).Data, want, 3e-2)
}

func naiveAttention(q, k, v []float32, batch, lq, lk, heads, hd int, causal bool) []float32 {
	w := heads * hd
	out := make([]float32, batch*lq*w)
	scores := make([]float64, lk)
	for b := 0; b < batch; b++ {
		for h := 0; h < heads; h++ {
			for i := 0; i < lq; i++ {
				m := math.Inf(-1)
				for j := 0; j < lk; j++ {
					if causal && j > i {
						scores[j] = math.Inf(-1)
						continue
					}
					var s float64
					for d := 0; d < hd; d++ {
						s += float64(q[(b*lq+i)*w+h*hd+d]) * float64(k[(b*lk+j)*w+h*hd+d])
					}
					scores[j] = s / math.Sqrt(float64(hd))
					m = max(m, scores[j])
				}
				var sum float64
				for j := range scores[:lk] {
					scores[j] = math.Exp(scores[j] - m)
					sum += scores[j]
				}
				for d := 0; d < hd; d++ {
					var acc float64
					for j := 0; j < lk; j++ {
						acc += scores[j] * float64(v[(b*lk+j)*w+h*hd+d])
					}
					out[(b*lq+i)*w+h*hd+d] = float32(acc / sum)
				}
			}
		}
	}
	return out
}

func TestAttention(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	cases := []struct {
		batch, lq, lk, heads, hd int
		causal                   bool
	}{
		{2, 77, 77, 4, 8, true},
		{1, 64, 77, 8, 8, false},
		{1, attnQueryBlock + 77, 2*attnKeyBlock + 50, 1, 4, false}, // several query and key blocks
		{1, attnKeyBlock + 200, attnKeyBlock + 200, 1, 4, true},    // causal across key blocks
		{1, 1, 3, 3, 5, false},
	}
	for _, c := range cases {
		w := c.heads * c.hd
		q := randSlice(r, c.batch*c.lq*w)
		k := randSlice(r, c.batch*c.lk*w)
		v := randSlice(r, c.batch*c.lk*w)
		for i := range k {
			k[i] *= 2 // sharpen the softmax so blocks matter
		}
		out := make([]float32, len(q))
		Attention(q, k, v, c.batch, c.lq, c.lk, c.heads, c.hd, c.causal, out)
		assertClose(t, "attention", out, naiveAttention(q, k, v, c.batch, c.lq, c.lk, c.heads, c.hd, c.causal), 1e-5)
	}
}

func TestNorms(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	n, c, h, w, groups := 2, 8, 3, 5, 4
	x := FromData(randSlice(r, n*c*h*w), n, c, h, w)
	for i := range x.Data {
		x.Data[i] = x.Data[i]*3 + 5 // non-zero mean
	}
	weight, bias := randSlice(r, c), randSlice(r, c)
	want := make([]float32, len(x.Data))
	cpg, sp := c/groups, h*w
	for b := 0; b < n; b++ {
		for g := 0; g < groups; g++ {
			var sum, sq float64
			base := (b*c + g*cpg) * sp
			cnt := float64(cpg * sp)
			for i := 0; i < cpg*sp; i++ {
				sum += float64(x.Data[base+i])
			}
			mean := sum / cnt
			for i := 0; i < cpg*sp; i++ {
				d := float64(x.Data[base+i]) - mean
				sq += d * d
			}
			inv := 1 / math.Sqrt(sq/cnt+1e-5)
			for i := 0; i < cpg*sp; i++ {
				ch := g*cpg + i/sp
				want[base+i] = float32((float64(x.Data[base+i])-mean)*inv*float64(weight[ch]) + float64(bias[ch]))
			}
		}
	}
	assertClose(t, "groupnorm", GroupNorm(x, groups, weight, bias, 1e-5, false).Data, want, 1e-5)
	for i := range want {
		want[i] = float32(float64(want[i]) / (1 + math.Exp(-float64(want[i]))))
	}
	assertClose(t, "groupnorm+silu", GroupNorm(x, groups, weight, bias, 1e-5, true).Data, want, 1e-5)

	d := 10
	y := FromData(randSlice(r, 6*d), 6, d)
	lw, lb := randSlice(r, d), randSlice(r, d)
	wantLN := make([]float32, len(y.Data))
	for row := 0; row < 6; row++ {
		s := y.Data[row*d : (row+1)*d]
		var mean, v float64
		for _, e := range s {
			mean += float64(e)
		}
		mean /= float64(d)
		for _, e := range s {
			v += (float64(e) - mean) * (float64(e) - mean)
		}
		v /= float64(d)
		for i, e := range s {
			wantLN[row*d+i] = float32((float64(e)-mean)/math.Sqrt(v+1e-5)*float64(lw[i]) + float64(lb[i]))
		}
	}
	assertClose(t, "layernorm", LayerNorm(y, lw, lb, 1e-5).Data, wantLN, 1e-5)

	sm := []float32{1, 2, 3, 1000, 1000, 1000}
	Softmax(sm, 3)
	e := math.Exp(1)
	den := 1 + e + e*e
	assertClose(t, "softmax", sm, []float32{float32(1 / den), float32(e / den), float32(e * e / den), 1. / 3, 1. / 3, 1. / 3}, 1e-6)
}

func TestActivations(t *testing.T) {
	x := []float32{-3, -1, 0, 0.5, 2}
	g := append([]float32(nil), x...)
	GELU(g)
	q := append([]float32(nil), x...)
	QuickGELU(q)
	s := append([]float32(nil), x...)
	SiLU(s)
	// Errors are judged against the largest output, as for the goldens.
	var wantG, wantQ, wantS []float32
	for _, v := range x {
		f := float64(v)
		wantG = append(wantG, float32(f*0.5*(1+math.Erf(f/math.Sqrt2))))
		wantQ = append(wantQ, float32(f/(1+math.Exp(-1.702*f))))
		wantS = append(wantS, float32(f/(1+math.Exp(-f))))
	}
	assertClose(t, "gelu", g, wantG, 1e-6)
	assertClose(t, "quickgelu", q, wantQ, 1e-6)
	assertClose(t, "silu", s, wantS, 1e-6)
	// Long enough for the vector kernels, with tails; per element, relative to the value.
	r := rand.New(rand.NewPCG(7, 8))
	long := make([]float32, 1003)
	for i := range long {
		long[i] = float32(r.Float64()*24 - 12)
	}
	qs := append([]float32(nil), long...)
	QuickGELU(qs)
	for i, v := range long {
		f := float64(v)
		want := f / (1 + math.Exp(-1.702*f))
		if d := math.Abs(float64(qs[i]) - want); d > 2e-6*math.Max(math.Abs(f), 1e-3) {
			t.Fatalf("quickgelu(%v) = %v, want %v", v, qs[i], want)
		}
	}
	// GEGLU: rows [value | gate].
	in := FromData([]float32{1, 2, 0.5, -1, 3, 4, 1, 1}, 2, 4)
	out := GEGLU(in).Data
	want := []float32{1 * geluf(0.5), 2 * geluf(-1), 3 * geluf(1), 4 * geluf(1)}
	assertClose(t, "geglu", out, want, 1e-6)
}

func TestLayoutOps(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	x := FromData(randSlice(r, 2*3*4*5), 2, 3, 4, 5)
	tok := NCHWToTokens(x)
	if tok.Shape[1] != 20 || tok.Data[(1*20+7)*3+2] != x.Data[((1*3+2)*4+1)*5+2] {
		t.Error("NCHWToTokens wrong")
	}
	back := TokensToNCHW(tok, 4, 5)
	assertClose(t, "roundtrip", back.Data, x.Data, 0)

	up := UpsampleNearest2x(x)
	if up.Data[((1*3+2)*8+5)*10+7] != x.Data[((1*3+2)*4+2)*5+3] {
		t.Error("upsample wrong")
	}
	y := FromData(randSlice(r, 2*2*4*5), 2, 2, 4, 5)
	cat := ConcatChannels(x, y)
	if cat.Shape[1] != 5 || cat.Data[((1*5+3)*4+2)*5+1] != y.Data[((1*2+0)*4+2)*5+1] || cat.Data[((1*5+2)*4)*5] != x.Data[((1*3+2)*4)*5] {
		t.Error("concat wrong")
	}
	AddChannelBias(y, []float32{1, 2, 3, 4})
	emb := TimestepEmbedding([]float32{10, 999}, 8, true, 0)
	// flip: cos first. freq_i = exp(-ln(1e4) i / 4).
	f1 := math.Exp(-math.Log(10000) / 4)
	assertClose(t, "temb", []float32{emb.Data[1], emb.Data[5], emb.Data[8]},
		[]float32{float32(math.Cos(10 * f1)), float32(math.Sin(10 * f1)), float32(math.Cos(999))}, 1e-6)
}

// The token-layout entry points must match the NCHW path composed with
// transposes, packed or not.
func TestTokenLayoutConvAndLinear(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	n, cin, cout, h, w := 2, 6, 9, 5, 7
	x := FromData(randSlice(r, n*cin*h*w), n, cin, h, w)
	res := FromData(randSlice(r, n*cout*h*w), n, cout, h, w)
	for _, pack := range []string{"", "fp32", "bf16"} {
		tol := 1e-5
		if pack == "bf16" {
			tol = 3e-2
		}
		for _, k := range []int{1, 3} {
			c, _ := NewConv2D(cin, cout, k, k, 1, k/2, randSlice(r, cout*cin*k*k), randSlice(r, cout))
			ref := c.Forward(x)
			wantTok := NCHWToTokens(ref)
			switch pack {
			case "fp32":
				c.Pack()
			case "bf16":
				c.PackBF16()
			}
			assertClose(t, "conv tokens "+pack, c.ForwardTokens(x).Data, wantTok.Data, tol)
			assertClose(t, "conv add "+pack, c.ForwardAdd(x, res).Data, Add(ref, res).Data, tol)
			if k == 1 {
				want := Add(ref, res)
				in := NCHWToTokens(x)
				assertClose(t, "conv from tokens "+pack, c.ForwardFromTokens(in, h, w, res).Data, want.Data, tol)
				assertClose(t, "conv from tokens no residual "+pack, c.ForwardFromTokens(in, h, w, nil).Data, ref.Data, tol)
			}
		}
		l, _ := NewLinear(cin, cout, randSlice(r, cout*cin), randSlice(r, cout))
		tok := NCHWToTokens(x)
		wantTok := l.Forward(tok)
		wantImg := Add(TokensToNCHW(wantTok, h, w), res)
		switch pack {
		case "fp32":
			l.Pack()
		case "bf16":
			l.PackBF16()
		}
		assertClose(t, "linear from NCHW "+pack, l.ForwardNCHW(x).Data, wantTok.Data, tol)
		assertClose(t, "linear to NCHW "+pack, l.ForwardToNCHW(tok, h, w, res).Data, wantImg.Data, tol)
	}
}

// Banded packed convolutions (bands crossing image boundaries) must match
// the single-band result exactly.
func TestConv2DPackedBands(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	n, cin, cout, h, w := 3, 5, 7, 9, 11
	c, _ := NewConv2D(cin, cout, 3, 3, 1, 1, randSlice(r, cout*cin*9), randSlice(r, cout))
	c.Pack()
	x := FromData(randSlice(r, n*cin*h*w), n, cin, h, w)
	res := randSlice(r, n*cout*h*w)
	want := make([]float32, n*cout*h*w)
	c.forwardPackedBands(x.Data, n, h, w, want, h, w, res, 1<<30)
	for _, band := range []int{1, 5, 40, 97} {
		got := make([]float32, len(want))
		c.forwardPackedBands(x.Data, n, h, w, got, h, w, res, band*cout)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("band %d: element %d = %g, want %g", band, i, got[i], want[i])
			}
		}
	}
}

// Circular padding (seamless tiling), checked three ways: a box filter whose
// sums can be worked out by hand, translation equivariance of a fully
// wrapped convolution on random data, and agreement of every kernel path.
func TestConv2DWrap(t *testing.T) {
	ones := make([]float32, 9)
	for i := range ones {
		ones[i] = 1
	}
	// x = 1..9 in a 3×3 image; rows sum to 6, 15, 24; columns to 12, 15, 18.
	img := FromData([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 1, 3, 3)
	box := func(wrapX, wrapY bool) []float32 {
		c, _ := NewConv2D(1, 1, 3, 3, 1, 1, append([]float32(nil), ones...), nil)
		c.WrapX, c.WrapY = wrapX, wrapY
		return c.Forward(img).Data
	}
	both := box(true, true)
	for i, v := range both {
		if v != 45 {
			t.Fatalf("wrapped both ways, output %d = %v, want the sum of all, 45", i, v)
		}
	}
	// Wrapping x only: each output sums all columns over its row and the rows beside it (zeros beyond).
	wantX := []float32{21, 21, 21, 45, 45, 45, 39, 39, 39}
	assertClose(t, "wrap x", box(true, false), wantX, 0)
	// Wrapping y only: all rows over the column and its neighbours.
	wantY := []float32{27, 45, 33, 27, 45, 33, 27, 45, 33}
	assertClose(t, "wrap y", box(false, true), wantY, 0)

	r := rand.New(rand.NewPCG(5, 6))
	const inC, outC, h, w, shift = 3, 4, 6, 7, 2
	c, _ := NewConv2D(inC, outC, 3, 3, 1, 1, randSlice(r, outC*inC*9), randSlice(r, outC))
	c.WrapX, c.WrapY = true, true
	x := FromData(randSlice(r, 2*inC*h*w), 2, inC, h, w)
	rolled := Empty(2, inC, h, w)
	for p := 0; p < 2*inC; p++ {
		for i := range h {
			for j := range w {
				rolled.Data[(p*h+i)*w+(j+shift)%w] = x.Data[(p*h+i)*w+j]
			}
		}
	}
	y, yr := c.Forward(x), c.Forward(rolled)
	for p := 0; p < 2*outC; p++ {
		for i := range h {
			for j := range w {
				if d := yr.Data[(p*h+i)*w+(j+shift)%w] - y.Data[(p*h+i)*w+j]; d > 1e-4 || d < -1e-4 {
					t.Fatalf("rolling the input by %d columns did not roll the output (plane %d, %d,%d: off by %g)", shift, p, i, j, d)
				}
			}
		}
	}
	packed := *c
	packed.Pack()
	assertClose(t, "wrap packed", packed.Forward(x).Data, y.Data, 1e-5)
	assertClose(t, "wrap packed tokens", NCHWToTokens(y).Data, packed.ForwardTokens(x).Data, 1e-5)
	res := FromData(randSlice(r, len(y.Data)), y.Shape...)
	sum := make([]float32, len(y.Data))
	AddInto(sum, y.Data, res.Data)
	assertClose(t, "wrap packed add", packed.ForwardAdd(x, res).Data, sum, 1e-5)
	// Without the flags the same weights zero-pad.
	plain := *c
	plain.WrapX, plain.WrapY = false, false
	assertClose(t, "zero pad", plain.Forward(x).Data, naiveConv(&plain, x.Data, 2, h, w), 1e-5)
}
