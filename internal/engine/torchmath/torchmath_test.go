package torchmath

import (
	"math"
	"testing"
)

func TestFMA32(t *testing.T) {
	// a*b+c where the float64 sum is a float32 tie but the exact value is not.
	a, b := float32(1+1.0/(1<<12)), float32(1+1.0/(1<<12))
	c := float32(-1)
	// exact: 2^-11 + 2^-24, representable in float32.
	if got, want := FMA32(a, b, c), float32(1.0/(1<<11)+1.0/(1<<24)); got != want {
		t.Errorf("FMA32 = %v, want %v", got, want)
	}
	for _, tc := range [][3]float32{{3, 5, 7}, {0.1, 0.2, 0.3}, {-1e-8, 3e7, 1}} {
		want := float32(math.FMA(float64(tc[0]), float64(tc[1]), float64(tc[2])))
		if got := FMA32(tc[0], tc[1], tc[2]); got != want {
			t.Errorf("FMA32%v = %v, want %v", tc, got, want)
		}
	}
}

func TestHalfConversionExhaustive(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := Float16ToFloat32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if back := Float32ToFloat16(f); back != uint16(h) {
			t.Fatalf("half %#04x -> %v -> %#04x", h, f, back)
		}
	}
	// Rounding: halfway between 1 and the next half (1+2^-10) rounds to even.
	if got := Float32ToFloat16(1 + 1.0/2048); got != 0x3c00 {
		t.Errorf("tie rounding: %#04x", got)
	}
	if got := Float32ToFloat16(1 + 3.0/2048); got != 0x3c02 {
		t.Errorf("tie rounding up to even: %#04x", got)
	}
	cases := map[uint16]float32{0x3c00: 1, 0xc000: -2, 0x0001: 1.0 / (1 << 24), 0x7bff: 65504, 0x3555: 0.33325195}
	for h, want := range cases {
		if got := Float16ToFloat32(h); got != want {
			t.Errorf("Float16ToFloat32(%#04x) = %v, want %v", h, got, want)
		}
	}
}

func TestLerp(t *testing.T) {
	// Both of torch's formulas end exactly at their endpoint.
	if got := Lerp(1, 3, 0); got != 1 {
		t.Errorf("Lerp(1, 3, 0) = %v", got)
	}
	if got := Lerp(1, 3, 1); got != 3 {
		t.Errorf("Lerp(1, 3, 1) = %v", got)
	}
	if got := Lerp(1, 3, 0.25); got != 1.5 {
		t.Errorf("Lerp(1, 3, 0.25) = %v", got)
	}
}
