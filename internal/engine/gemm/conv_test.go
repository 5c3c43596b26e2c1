package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

type convCase struct {
	n, c, h, w, kh, kw, stride, padT, padB, padL, padR, cout int
}

func (cc convCase) input(x []float32) *ConvInput {
	return &ConvInput{X: x, N: cc.n, C: cc.c, H: cc.h, W: cc.w, KH: cc.kh, KW: cc.kw, Stride: cc.stride,
		PadTop: cc.padT, PadLeft: cc.padL,
		OutH: (cc.h+cc.padT+cc.padB-cc.kh)/cc.stride + 1, OutW: (cc.w+cc.padL+cc.padR-cc.kw)/cc.stride + 1}
}

// naiveConvRows computes the pixel-major product [N·OutH·OutW × Cout] in float64.
func naiveConvRows(in *ConvInput, wt []float32, cout int) []float64 {
	out := make([]float64, in.Rows()*cout)
	for b := range in.N {
		for oy := range in.OutH {
			for ox := range in.OutW {
				r := (b*in.OutH+oy)*in.OutW + ox
				for co := range cout {
					s := 0.0
					for ci := range in.C {
						for ky := range in.KH {
							for kx := range in.KW {
								iy, ix := oy*in.Stride+ky-in.PadTop, ox*in.Stride+kx-in.PadLeft
								if iy < 0 || iy >= in.H || ix < 0 || ix >= in.W {
									continue
								}
								s += float64(in.X[((b*in.C+ci)*in.H+iy)*in.W+ix]) * float64(wt[((co*in.C+ci)*in.KH+ky)*in.KW+kx])
							}
						}
					}
					out[r*cout+co] = s
				}
			}
		}
	}
	return out
}

var convCases = []convCase{
	{1, 3, 5, 7, 3, 3, 1, 1, 1, 1, 1, 5},
	{2, 4, 9, 13, 3, 3, 1, 1, 1, 1, 1, 33},
	{2, 5, 8, 8, 3, 3, 2, 0, 1, 0, 1, 17}, // VAE-style asymmetric stride 2
	{1, 6, 11, 10, 3, 3, 2, 1, 1, 1, 1, 40},
	{2, 7, 6, 6, 1, 1, 1, 0, 0, 0, 0, 35},     // pointwise
	{1, 3, 2, 1, 3, 3, 1, 1, 1, 1, 1, 4},      // output rows of one pixel: many segments
	{1, 130, 12, 20, 3, 3, 1, 1, 1, 1, 1, 70}, // k > kc: several k blocks
	{2, 64, 16, 16, 3, 3, 1, 1, 1, 1, 1, 64},
	{2, 9, 7, 40, 3, 3, 1, 1, 1, 1, 1, 20},   // wide rows: interior panels take the gather fast path
	{1, 140, 5, 30, 3, 3, 1, 1, 1, 1, 1, 33}, // ... with several k blocks
	// Unpadded (pre-padded) inputs: every window is inside, so panels
	// crossing output rows and images take the masked-segment path.
	{2, 5, 6, 6, 3, 3, 1, 0, 0, 0, 0, 9},     // 4-pixel output rows: up to 4 segments, crossing images
	{1, 8, 10, 16, 3, 3, 1, 0, 0, 0, 0, 24},  // 14-pixel rows
	{2, 130, 9, 18, 3, 3, 1, 0, 0, 0, 0, 40}, // ... with several k blocks
	{3, 4, 3, 3, 3, 3, 1, 0, 0, 0, 0, 7},     // one output pixel per image: 3 images in a panel
}

func TestSgemmConvPacked(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	for ci, cc := range convCases {
		x := randomMatrix(rng, 1, cc.n*cc.c*cc.h*cc.w)
		in := cc.input(x)
		wt := randomMatrix(rng, 1, cc.cout*in.K())
		want := naiveConvRows(in, wt, cc.cout)
		for _, accumulate := range []bool{false, true} {
			ldc := cc.cout + 3
			got := make([]float32, in.Rows()*ldc)
			for i := range got {
				got[i] = float32(math.NaN())
				if accumulate {
					got[i] = 0.5
				}
			}
			for _, kern := range kernels() {
				for i := range got {
					got[i] = float32(math.NaN())
					if accumulate {
						got[i] = 0.5
					}
				}
				pb := &PackedB{panels: packWhole(kern, true, in.K(), cc.cout, wt, in.K())}
				SgemmConvPacked(in, pb, got, ldc, accumulate)
				checkConv(t, kern.name, ci, in, cc.cout, got, ldc, want, accumulate, 1e-5)
			}
			for _, kern := range bf16Kernels() {
				for i := range got {
					got[i] = float32(math.NaN())
					if accumulate {
						got[i] = 0.5
					}
				}
				pbf := &PackedBBF16{panels: packWhole(kern, true, in.K(), cc.cout, wt, in.K())}
				SgemmConvPackedBF16(in, pbf, got, ldc, accumulate)
				checkConv(t, kern.name, ci, in, cc.cout, got, ldc, want, accumulate, 2e-2)
			}
		}
	}
}

func checkConv(t *testing.T, name string, ci int, in *ConvInput, cout int, got []float32, ldc int, want []float64, accumulate bool, tol float64) {
	t.Helper()
	scale := 0.0
	for _, v := range want {
		scale = max(scale, math.Abs(v))
	}
	for r := range in.Rows() {
		for co := range cout {
			w := want[r*cout+co]
			if accumulate {
				w += 0.5
			}
			if g := float64(got[r*ldc+co]); !(math.Abs(g-w) <= tol*(scale+1)) {
				t.Fatalf("%s case %d accumulate=%v: row %d col %d = %g, want %g", name, ci, accumulate, r, co, g, w)
			}
		}
	}
}

// Bands of rows must reproduce the whole product.
func TestSgemmConvPackedRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 9))
	cc := convCase{2, 9, 7, 40, 3, 3, 1, 1, 1, 1, 1, 20}
	in := cc.input(randomMatrix(rng, 1, cc.n*cc.c*cc.h*cc.w))
	wt := randomMatrix(rng, 1, cc.cout*in.K())
	pb := PackB(true, in.K(), cc.cout, wt, in.K())
	want := make([]float32, in.Rows()*cc.cout)
	SgemmConvPacked(in, pb, want, cc.cout, false)
	for _, kern := range bf16Kernels() {
		pbf := &PackedBBF16{panels: packWhole(kern, true, in.K(), cc.cout, wt, in.K())}
		wantBF := make([]float32, in.Rows()*cc.cout)
		SgemmConvPackedBF16(in, pbf, wantBF, cc.cout, false)
		for _, band := range []int{1, 13, 100, 333} {
			got := make([]float32, in.Rows()*cc.cout)
			gotBF := make([]float32, in.Rows()*cc.cout)
			for r0 := 0; r0 < in.Rows(); r0 += band {
				rows := min(band, in.Rows()-r0)
				SgemmConvPackedRows(in, r0, rows, pb, got[r0*cc.cout:], cc.cout, false)
				SgemmConvPackedRowsBF16(in, r0, rows, pbf, gotBF[r0*cc.cout:], cc.cout, false)
			}
			for i := range want {
				if got[i] != want[i] || gotBF[i] != wantBF[i] {
					t.Fatalf("%s band %d: element %d = %g / %g, want %g / %g", kern.name, band, i, got[i], gotBF[i], want[i], wantBF[i])
				}
			}
		}
	}
}

// TestTranspose: Transpose against a plain loop for shapes around the
// transposer's 8×8 and 4×8 blocks, with wider strides on both sides, bit
// for bit (a signalling NaN included), and leaves the padding between dst's
// rows untouched.
func TestTranspose(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	for _, rows := range []int{1, 3, 4, 5, 8, 11, 12, 13, 32} {
		for _, cols := range []int{1, 7, 8, 9, 16, 20, 320} {
			ld, stride := cols+rng.IntN(3), rows+rng.IntN(5)
			src := randomMatrix(rng, rows, ld)
			src[rng.IntN(len(src))] = math.Float32frombits(0x7f800001) // a signalling NaN stays one
			dst := make([]float32, cols*stride)
			for i := range dst {
				dst[i] = -1
			}
			Transpose(dst, stride, src, ld, rows, cols)
			for j := range cols {
				for i := range stride {
					want := float32(-1)
					if i < rows {
						want = src[i*ld+j]
					}
					if got := dst[j*stride+i]; math.Float32bits(got) != math.Float32bits(want) {
						t.Fatalf("%d×%d (ld %d, stride %d): dst[%d][%d] = %v, want %v", rows, cols, ld, stride, j, i, got, want)
					}
				}
			}
		}
	}
}
