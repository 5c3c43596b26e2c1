package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/invokego/invokego/internal/engine/gemm"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/engine/torchmath"
)

func tensorFrom(x []float32, shape ...int) *tensor.Tensor { return tensor.FromData(x, shape...) }

// halfOffsets lists where each block type keeps its float16 scales; random
// bytes elsewhere are valid quantized data, random scales could be NaN.
var halfOffsets = map[Type][]int{
	Q4_0: {0}, Q4_1: {0, 2}, Q5_0: {0}, Q5_1: {0, 2}, Q8_0: {0},
	Q2_K: {80, 82}, Q3_K: {108}, Q4_K: {0, 2}, Q5_K: {0, 2}, Q6_K: {208},
}

// randomMatrix returns a rows×cols matrix of type t with random contents
// and finite, moderate scales.
func randomMatrix(rng *rand.Rand, t Type, rows, cols int) Matrix {
	rb, err := RowBytes(t, cols)
	if err != nil {
		panic(err)
	}
	data := make([]byte, rows*rb)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	le := binary.LittleEndian
	switch t {
	case F32:
		for i := 0; i < len(data); i += 4 {
			le.PutUint32(data[i:], math.Float32bits(float32(rng.NormFloat64())))
		}
	case F16:
		for i := 0; i < len(data); i += 2 {
			le.PutUint16(data[i:], torchmath.Float32ToFloat16(float32(rng.NormFloat64())))
		}
	case BF16:
		for i := 0; i < len(data); i += 2 {
			le.PutUint16(data[i:], uint16(math.Float32bits(float32(rng.NormFloat64()))>>16))
		}
	case F64:
		for i := 0; i < len(data); i += 8 {
			le.PutUint64(data[i:], math.Float64bits(rng.NormFloat64()))
		}
	default:
		bb := t.BlockBytes()
		for b := 0; b < len(data); b += bb {
			for _, off := range halfOffsets[t] {
				scale := float32(rng.Float64()*0.02 + 0.001)
				if off > 0 && (t == Q4_1 || t == Q5_1) {
					scale = -scale * 8 // the min of a block
				}
				le.PutUint16(data[b+off:], torchmath.Float32ToFloat16(scale))
			}
		}
	}
	m, err := NewMatrix(t, rows, cols, data)
	if err != nil {
		panic(err)
	}
	return m
}

func decodableTypes() []Type {
	return []Type{F32, F16, BF16, F64, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K}
}

func roundBF16(f float32) float32 {
	u := math.Float32bits(f)
	return math.Float32frombits((u + 0x7fff + (u>>16)&1) &^ 0xffff)
}

// reference computes x·Wᵀ + b in float64 from the decoded weights, with
// the activations and/or the weights first rounded to bfloat16, and Σ|x·w|
// per output for the error bound.
func reference(x, w, bias []float32, rows, in, out int, roundX, roundW bool) (ref, mag []float64) {
	ref = make([]float64, rows*out)
	mag = make([]float64, rows*out)
	for r := range rows {
		for o := range out {
			var s, m float64
			for p := range in {
				a, b := x[r*in+p], w[o*in+p]
				if roundX {
					a = roundBF16(a)
				}
				if roundW {
					b = roundBF16(b)
				}
				s += float64(a) * float64(b)
				m += math.Abs(float64(a) * float64(b))
			}
			if bias != nil {
				s += float64(bias[o])
			}
			ref[r*out+o], mag[r*out+o] = s, m
		}
	}
	return ref, mag
}

// TestLinearMatchesDecodedProduct checks the on-the-fly products against
// decode-then-multiply for every decodable type, random shapes (including
// edges smaller than a micro-tile and row counts that are not multiples of
// the kernel's), both compute modes and the prepacked variant.
func TestLinearMatchesDecodedProduct(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, ty := range decodableTypes() {
		bs := ty.BlockSize()
		shapes := [][3]int{ // rows, in, out
			{1, bs, 1},
			{3, 2 * max(bs, 32), 5},
			{13, 4 * max(bs, 64), 33},
			{40, 3 * 256, 70},
			{37, 1024 + 2*max(bs, 32), 40},
		}
		for _, sh := range shapes {
			rows, in, out := sh[0], sh[1], sh[2]
			w := randomMatrix(rng, ty, out, in)
			dense, err := w.Float32()
			if err != nil {
				t.Fatal(err)
			}
			x := make([]float32, rows*in)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			bias := make([]float32, out)
			for i := range bias {
				bias[i] = float32(rng.NormFloat64())
			}
			refs := map[[2]bool][2][]float64{}
			for _, opts := range []Options{{}, {Compute: ComputeBF16}, {Prepack: true}, {Compute: ComputeBF16, Prepack: true}} {
				name := fmt.Sprintf("%s/%dx%dx%d/bf16=%v/prepack=%v", ty, rows, in, out, opts.Compute == ComputeBF16, opts.Prepack)
				l, err := NewLinear(w, bias, opts)
				if err != nil {
					t.Fatal(name, err)
				}
				got := make([]float32, rows*out)
				for i := range got {
					got[i] = float32(math.NaN()) // must be overwritten
				}
				l.ForwardInto(got, x, rows)
				// A bf16 kernel rounds both operands; where the CPU has none,
				// prepacked bf16 weights are rounded and widened, and decoded
				// weights are used exactly.
				bf16 := opts.Compute == ComputeBF16
				native := bf16 && gemm.HasNativeBF16() // AVX-512-BF16 or AMX
				key := [2]bool{native, native || bf16 && opts.Prepack}
				if _, ok := refs[key]; !ok {
					ref, mag := reference(x, dense, bias, rows, in, out, key[0], key[1])
					refs[key] = [2][]float64{ref, mag}
				}
				ref, mag := refs[key][0], refs[key][1]
				for i, g := range got {
					if d := math.Abs(float64(g) - ref[i]); !(d <= 1e-5*mag[i]+1e-6) {
						t.Fatalf("%s: out[%d] = %g, want %g (|x·w| sum %g)", name, i, g, ref[i], mag[i])
					}
				}
			}
		}
	}
}

// TestDecodeRowsRanges checks DecodeRows on interior blocks against a full decode.
func TestDecodeRowsRanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, ty := range decodableTypes() {
		bs := max(ty.BlockSize(), 32)
		w := randomMatrix(rng, ty, 9, 4*bs)
		full, err := w.Float32()
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, 3*2*bs)
		w.DecodeRows(got, 5, 3, bs, 2*bs)
		for r := range 3 {
			for p := range 2 * bs {
				if got[r*2*bs+p] != full[(5+r)*4*bs+bs+p] {
					t.Fatalf("%s: row %d col %d differs", ty, 5+r, bs+p)
				}
			}
		}
		sub, err := w.SliceRows(2, 4)
		if err != nil {
			t.Fatal(err)
		}
		part, _ := sub.Float32()
		for i, v := range part {
			if v != full[2*4*bs+i] {
				t.Fatalf("%s: SliceRows element %d differs", ty, i)
			}
		}
	}
}

func TestMatrixErrors(t *testing.T) {
	if _, err := NewMatrix(Q4_K, 2, 100, make([]byte, 288)); err == nil {
		t.Error("partial K block accepted")
	}
	if _, err := NewMatrix(Q8_0, 2, 64, make([]byte, 100)); err == nil {
		t.Error("short data accepted")
	}
	if _, err := NewMatrix(Q8_0, -1, 64, nil); err == nil {
		t.Error("negative rows accepted")
	}
	if _, err := NewMatrix(Type(5), 1, 1, nil); err == nil {
		t.Error("unknown type accepted")
	}
	if _, err := NewLinear(Matrix{Type: IQ2_XXS, Rows: 1, Cols: 256, Data: make([]byte, 66)}, nil, Options{}); err == nil {
		t.Error("undecodable weight accepted")
	}
	w := randomMatrix(rand.New(rand.NewPCG(1, 1)), Q8_0, 4, 32)
	if _, err := NewLinear(w, make([]float32, 3), Options{}); err == nil {
		t.Error("short bias accepted")
	}
	if _, err := w.SliceRows(3, 5); err == nil {
		t.Error("rows past the end accepted")
	}
	if err := Decode(Q8_0, make([]float32, 32), make([]byte, 33)); err == nil {
		t.Error("short block accepted")
	}
	if ty, ok := ParseType("Q5_K"); !ok || ty != Q5_K || Q5_K.String() != "Q5_K" || Type(99).String() != "ggml_type(99)" {
		t.Error("type names")
	}
}

func TestFromFloat32(t *testing.T) {
	w := []float32{1, 2, 3, 4, 5, 6}
	m, err := FromFloat32(2, 3, w)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLinear(m, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	y := make([]float32, 2)
	l.ForwardInto(y, []float32{1, 0, -1}, 1)
	if y[0] != -2 || y[1] != -2 {
		t.Fatalf("y = %v, want [-2 -2]", y)
	}
	if _, err := FromFloat32(2, 2, w); err == nil {
		t.Fatal("wrong size accepted")
	}
}

func TestBuilder(t *testing.T) {
	var b Builder
	if n, ok := b.RowBytes("Q4_K", 512); !ok || n != 288 {
		t.Fatalf("RowBytes(Q4_K, 512) = %d, %v", n, ok)
	}
	for _, bad := range []struct {
		typ string
		in  int
	}{{"Q4_K", 100}, {"IQ2_XXS", 256}, {"nope", 32}} {
		if _, ok := b.RowBytes(bad.typ, bad.in); ok {
			t.Errorf("RowBytes(%s, %d) accepted", bad.typ, bad.in)
		}
	}
	w := randomMatrix(rand.New(rand.NewPCG(5, 5)), Q8_0, 3, 64)
	l, err := b.NewLinear("Q8_0", w.Data, 64, 3, nil)
	if err != nil || l.InFeatures() != 64 || l.OutFeatures() != 3 {
		t.Fatalf("NewLinear: %v %v", l, err)
	}
	if l, err := b.NewLinear("Q8_0", w.Data[:10], 64, 3, nil); err == nil || l != nil {
		t.Fatalf("short data: %v %v", l, err)
	}
	if l, err := b.NewLinear("Q8_0", w.Data, 64, 3, []float32{1}); err == nil || l != nil {
		t.Fatalf("short bias: %v %v", l, err)
	}
	x := make([]float32, 64)
	x[0] = 1
	y := Forward(l, tensorFrom(x, 1, 64))
	full, _ := w.Float32()
	for o := range 3 {
		if y.Data[o] != full[o*64] {
			t.Fatalf("y[%d] = %g, want %g", o, y.Data[o], full[o*64])
		}
	}
}

// TestArchDecodersMatchPortable compares the assembly decoders (where this
// CPU has them) with the portable ones bit for bit on random blocks,
// including random (possibly infinite or NaN) scales.
func TestArchDecodersMatchPortable(t *testing.T) {
	arch := archDecoders()
	if len(arch) == 0 {
		t.Skip("no assembly decoders on this CPU")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for ty, fast := range arch {
		for _, blocks := range []int{1, 2, 3, 17} {
			n := blocks * max(ty.BlockSize(), 32) // F16/BF16: also a tail past 16
			if ty.BlockSize() == 1 {
				n += 5
			}
			rb, _ := RowBytes(ty, n)
			src := make([]byte, rb)
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			want := make([]float32, n)
			got := make([]float32, n)
			portableDecoders[ty](want, src)
			fast(got, src)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(want[i] != want[i] && got[i] != got[i]) {
					t.Fatalf("%s, %d blocks: element %d = %g (%#x), portable %g (%#x)", ty, blocks, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
				}
			}
		}
	}
}
