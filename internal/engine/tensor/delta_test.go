package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

// A layer with deltas computes what the layer with the merged weight
// W + Up·Down (or W + ΔW) computes, in every forward variant, packed or
// not, and with circular padding.
func TestDeltasEqualMergedWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const in, out, rank = 12, 10, 3
	w, b := randSlice(r, out*in), randSlice(r, out)
	down, up, full := randSlice(r, rank*in), randSlice(r, out*rank), randSlice(r, out*in)
	merged := append([]float32(nil), w...)
	for o := 0; o < out; o++ {
		for i := 0; i < in; i++ {
			s := full[o*in+i]
			for k := 0; k < rank; k++ {
				s += up[o*rank+k] * down[k*in+i]
			}
			merged[o*in+i] += s
		}
	}
	for _, pack := range []bool{false, true} {
		base := &Linear{In: in, Out: out, Weight: append([]float32(nil), w...), Bias: b}
		want := &Linear{In: in, Out: out, Weight: append([]float32(nil), merged...), Bias: b}
		dl := &Linear{In: in, Out: rank, Weight: down}
		fl := &Linear{In: in, Out: out, Weight: full}
		if pack {
			base.Pack()
			want.Pack()
		}
		got := *base
		got.Deltas = []Delta{{Linear: dl, Up: up, Rank: rank}, {Linear: fl, Rank: out}}
		x := FromData(randSlice(r, 2*5*in), 2, 5, in)
		if d := maxAbsDiff(got.Forward(x).Data, want.Forward(x).Data); d > 1e-4 {
			t.Errorf("pack %v: Forward differs by %g", pack, d)
		}
		img := FromData(randSlice(r, 2*in*3*4), 2, in, 3, 4)
		if d := maxAbsDiff(got.ForwardNCHW(img).Data, want.ForwardNCHW(img).Data); d > 1e-4 {
			t.Errorf("pack %v: ForwardNCHW differs by %g", pack, d)
		}
		tok := FromData(randSlice(r, 2*12*in), 2, 12, in)
		if d := maxAbsDiff(got.ForwardToNCHW(tok, 3, 4, nil).Data, want.ForwardToNCHW(tok, 3, 4, nil).Data); d > 1e-4 {
			t.Errorf("pack %v: ForwardToNCHW differs by %g", pack, d)
		}
	}

	// A 3×3 convolution with a low-rank delta (3×3 down, 1×1 up) and a full one.
	const inC, outC = 4, 5
	cw, cb := randSlice(r, outC*inC*9), randSlice(r, outC)
	cdown, cup, cfull := randSlice(r, rank*inC*9), randSlice(r, outC*rank), randSlice(r, outC*inC*9)
	cmerged := append([]float32(nil), cw...)
	for o := 0; o < outC; o++ {
		for j := 0; j < inC*9; j++ {
			s := cfull[o*inC*9+j]
			for k := 0; k < rank; k++ {
				s += cup[o*rank+k] * cdown[k*inC*9+j]
			}
			cmerged[o*inC*9+j] += s
		}
	}
	for _, pack := range []bool{false, true} {
		for _, wrap := range []bool{false, true} {
			base, _ := NewConv2D(inC, outC, 3, 3, 1, 1, append([]float32(nil), cw...), cb)
			want, _ := NewConv2D(inC, outC, 3, 3, 1, 1, append([]float32(nil), cmerged...), cb)
			dc, _ := NewConv2D(inC, rank, 3, 3, 1, 1, cdown, nil)
			fc, _ := NewConv2D(inC, outC, 3, 3, 1, 1, cfull, nil)
			if pack {
				base.Pack()
				want.Pack()
				dc.Pack()
			}
			base.WrapX, want.WrapX = wrap, wrap
			got := *base
			got.Deltas = []Delta{{Conv: dc, Up: cup, Rank: rank}, {Conv: fc, Rank: outC}}
			x := FromData(randSlice(r, 2*inC*6*5), 2, inC, 6, 5)
			if d := maxAbsDiff(got.Forward(x).Data, want.Forward(x).Data); d > 1e-4 {
				t.Errorf("pack %v wrap %v: Forward differs by %g", pack, wrap, d)
			}
			res := FromData(randSlice(r, 2*outC*6*5), 2, outC, 6, 5)
			if d := maxAbsDiff(got.ForwardAdd(x, res).Data, want.ForwardAdd(x, res).Data); d > 1e-4 {
				t.Errorf("pack %v wrap %v: ForwardAdd differs by %g", pack, wrap, d)
			}
			if d := maxAbsDiff(got.ForwardTokens(x).Data, want.ForwardTokens(x).Data); d > 1e-4 {
				t.Errorf("pack %v wrap %v: ForwardTokens differs by %g", pack, wrap, d)
			}
		}
	}
	// A pointwise convolution from tokens.
	pw, _ := NewConv2D(in, out, 1, 1, 1, 0, append([]float32(nil), w...), b)
	pwWant, _ := NewConv2D(in, out, 1, 1, 1, 0, append([]float32(nil), merged...), b)
	pdc, _ := NewConv2D(in, rank, 1, 1, 1, 0, down, nil)
	pfc, _ := NewConv2D(in, out, 1, 1, 1, 0, full, nil)
	pw.Pack()
	pwWant.Pack()
	got := *pw
	got.Deltas = []Delta{{Conv: pdc, Up: up, Rank: rank}, {Conv: pfc, Rank: out}}
	tok := FromData(randSlice(r, 2*12*in), 2, 12, in)
	if d := maxAbsDiff(got.ForwardFromTokens(tok, 3, 4, nil).Data, pwWant.ForwardFromTokens(tok, 3, 4, nil).Data); d > 1e-4 {
		t.Errorf("ForwardFromTokens differs by %g", d)
	}
}

// Merged layers compute with W + ΔW: bit for bit the layer packed from the summed weight (packing is
// linear), for linear and convolution layers, packed or not; within bfloat16 rounding for bf16 weights.
func TestMergedEqualsPackedSum(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const in, out = 37, 21
	w, b, delta := randSlice(r, out*in), randSlice(r, out), randSlice(r, out*in)
	sum := make([]float32, len(w))
	for i := range w {
		sum[i] = w[i] + delta[i]
	}
	x := FromData(randSlice(r, 3*in), 3, in)
	for _, mode := range []string{"plain", "fp32", "bf16"} {
		base := &Linear{In: in, Out: out, Weight: append([]float32(nil), w...), Bias: b}
		want := &Linear{In: in, Out: out, Weight: append([]float32(nil), sum...), Bias: b}
		switch mode {
		case "fp32":
			base.Pack()
			want.Pack()
		case "bf16":
			base.PackBF16()
			want.PackBF16()
		}
		m, err := base.Merged(delta)
		if err != nil {
			t.Fatal(err)
		}
		tol := 0.0
		if mode == "bf16" {
			tol = 0.1 // two roundings to bfloat16 against one, over 37 products
		}
		if d := maxAbsDiff(m.Forward(x).Data, want.Forward(x).Data); d > tol {
			t.Errorf("linear %s: merged differs by %g", mode, d)
		}
		// The cached layer is untouched.
		ref := &Linear{In: in, Out: out, Weight: append([]float32(nil), w...), Bias: b}
		if d := maxAbsDiff(base.Forward(x).Data, ref.Forward(x).Data); mode != "bf16" && d > 1e-4 {
			t.Errorf("linear %s: the base layer changed by %g", mode, d)
		}
	}
	const inC, outC = 3, 5
	cw, cb, cd := randSlice(r, outC*inC*9), randSlice(r, outC), randSlice(r, outC*inC*9)
	csum := make([]float32, len(cw))
	for i := range cw {
		csum[i] = cw[i] + cd[i]
	}
	img := FromData(randSlice(r, 2*inC*7*6), 2, inC, 7, 6)
	for _, pack := range []bool{false, true} {
		base, _ := NewConv2D(inC, outC, 3, 3, 1, 1, append([]float32(nil), cw...), cb)
		want, _ := NewConv2D(inC, outC, 3, 3, 1, 1, append([]float32(nil), csum...), cb)
		if pack {
			base.Pack()
			want.Pack()
		}
		m, err := base.Merged(cd)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(m.Forward(img).Data, want.Forward(img).Data); d != 0 {
			t.Errorf("conv pack %v: merged differs by %g", pack, d)
		}
	}
	if _, err := (&Linear{In: 2, Out: 2, Weight: make([]float32, 4)}).Merged(make([]float32, 3)); err == nil {
		t.Error("a weight change of the wrong size was accepted")
	}
}
