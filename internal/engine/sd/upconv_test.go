package sd

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/invokego/invokego/internal/engine/tensor"
)

func randFloats(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// The banded upsample+convolution must equal the unbanded one bit for bit,
// for fp32, bf16 and unpacked weights, odd sizes, a k (67·9 = 603) spanning
// several of the GEMM's k blocks, and bands from one output row up to the
// whole image.
func TestUpsampleConvBandsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 23))
	n, cin, cout, h, w := 2, 67, 19, 7, 9
	x := tensor.FromData(randFloats(r, n*cin*h*w), n, cin, h, w)
	weight, bias := randFloats(r, cout*cin*9), randFloats(r, cout)
	rowFloats := n * cin * 2 * w
	for _, pack := range []string{"none", "fp32", "bf16"} {
		c, err := tensor.NewConv2D(cin, cout, 3, 3, 1, 1, append([]float32(nil), weight...), bias)
		if err != nil {
			t.Fatal(err)
		}
		switch pack {
		case "fp32":
			c.Pack()
		case "bf16":
			c.PackBF16()
		}
		up := tensor.UpsampleNearest2x(x)
		want := c.Forward(up)
		for _, bandRows := range []int{1, 2, 3, 5, 13, 1 << 20} {
			got := upsampleConvBands(c, x, (bandRows+2)*rowFloats)
			if len(got.Shape) != 4 || got.Shape[0] != n || got.Shape[1] != cout || got.Shape[2] != 2*h || got.Shape[3] != 2*w {
				t.Fatalf("%s, %d rows: shape %v", pack, bandRows, got.Shape)
			}
			for i := range want.Data {
				if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
					t.Fatalf("%s, bands of %d rows: element %d = %g, want %g", pack, bandRows, i, got.Data[i], want.Data[i])
				}
			}
		}
	}
}

// Convolutions the bands do not handle (circular padding here) take the
// unbanded path and still give its result.
func TestUpsampleConvFallback(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	n, cin, cout, h, w := 1, 3, 4, 5, 3
	x := tensor.FromData(randFloats(r, n*cin*h*w), n, cin, h, w)
	c, err := tensor.NewConv2D(cin, cout, 3, 3, 1, 1, randFloats(r, cout*cin*9), randFloats(r, cout))
	if err != nil {
		t.Fatal(err)
	}
	c.WrapX, c.WrapY = true, true
	want := c.Forward(tensor.UpsampleNearest2x(x))
	got := upsampleConvBands(c, x, 1)
	for i := range want.Data {
		if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
			t.Fatalf("element %d = %g, want %g", i, got.Data[i], want.Data[i])
		}
	}
}
