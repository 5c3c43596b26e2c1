package gemm

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"
)

// bf16Of returns the bfloat16 bits of f, which must be exact in bfloat16.
func bf16Of(t *testing.T, f float32) uint32 {
	t.Helper()
	h := math.Float32bits(f) >> 16
	if fromBF16(h) != f {
		t.Fatalf("%g is not a bfloat16", f)
	}
	return h
}

// TestFMABF16 checks the emulated multiply-add on the cases the reference
// pseudo-code singles out (DAZ, FTZ, one rounding to nearest even) and on
// random operands against big.Float arithmetic.
func TestFMABF16(t *testing.T) {
	cases := []struct {
		name       string
		acc, x, y  float32
		want       float32
		rawX, rawY uint32 // used instead of x, y when set
	}{
		{name: "exact", acc: 1, x: 3, y: 0.5, want: 2.5},
		{name: "tie to even stays", acc: 1, x: 0x1p-12, y: 0x1p-12, want: 1},                         // 1 + 2⁻²⁴
		{name: "tie to even rounds up", acc: 1 + 0x1p-23, x: 0x1p-12, y: 0x1p-12, want: 1 + 0x1p-22}, // odd + half ulp
		{name: "above the tie", acc: 1, x: 0x1p-12 + 0x1p-19, y: 0x1p-12, want: 1 + 0x1p-23},
		{name: "far below the ulp", acc: 1, x: 0x1p-40, y: 0x1p-40, want: 1},
		{name: "FTZ of a tiny product", acc: 0, x: 0x1p-100, y: 0x1p-30, want: 0},
		{name: "FTZ keeps the sign", acc: 0, x: -0x1p-100, y: 0x1p-30, want: float32(math.Copysign(0, -1))},
		{name: "DAZ of a denormal bf16", acc: 2, rawX: 0x0001, rawY: 0x7f00, want: 2}, // 2⁻¹³³ · 2¹²⁷
		{name: "DAZ of a denormal accumulator", acc: 0x1p-140, x: 0, y: 0, want: 0},
		{name: "cancellation", acc: -6, x: 2, y: 3, want: 0},
		{name: "overflow", acc: math.MaxFloat32, x: 0x1p127, y: 2, want: float32(math.Inf(1))},
	}
	for _, tc := range cases {
		x, y := tc.rawX, tc.rawY
		if x == 0 && y == 0 {
			x, y = bf16Of(t, tc.x), bf16Of(t, tc.y)
		}
		got := fmaBF16(tc.acc, x, y)
		if math.Float32bits(got) != math.Float32bits(tc.want) {
			t.Errorf("%s: fmaBF16(%g, %#04x, %#04x) = %g, want %g", tc.name, tc.acc, x, y, got, tc.want)
		}
	}
	if got := fmaBF16(float32(math.Inf(1)), bf16Of(t, 1), bf16Of(t, float32(math.Inf(-1)))); !math.IsNaN(float64(got)) {
		t.Errorf("Inf + 1·(−Inf) = %g, want NaN", got)
	}

	// Random operands over a wide exponent range, so that sums with far
	// apart exponents take the big.Float path and the others the float64 one.
	rng := rand.New(rand.NewPCG(5, 5))
	for range 20000 {
		acc := float32(math.Ldexp(rng.NormFloat64(), rng.IntN(120)-60))
		x := roundBF16(float32(math.Ldexp(rng.NormFloat64(), rng.IntN(80)-40)))
		y := roundBF16(float32(math.Ldexp(rng.NormFloat64(), rng.IntN(80)-40)))
		z := new(big.Float).SetPrec(24).SetMode(big.ToNearestEven)
		prod := new(big.Float).SetPrec(0).Mul(new(big.Float).SetFloat64(float64(fromBF16(x))), new(big.Float).SetFloat64(float64(fromBF16(y))))
		z.Add(new(big.Float).SetFloat64(float64(acc)), prod)
		want, _ := z.Float32()
		if got := fmaBF16(acc, x, y); got != want {
			t.Fatalf("fmaBF16(%g, %g, %g) = %g, want %g", acc, fromBF16(x), fromBF16(y), got, want)
		}
	}
}

// TestTileMachine multiplies small tiles by hand and checks the faults the
// emulation raises where the hardware would.
func TestTileMachine(t *testing.T) {
	// Tiles 0 (C, 2×3 fp32), 1 (A, 2 rows × 2 pairs), 2 (B, 2 rows × 3 pairs).
	cfg := make([]byte, 64)
	cfg[0] = 1
	shape := func(tile, rows, colsb int) { cfg[16+2*tile] = byte(colsb); cfg[48+tile] = byte(rows) }
	shape(0, 2, 12)
	shape(1, 2, 8)
	shape(2, 2, 12)
	pair := func(lo, hi float32) uint32 { return bf16Of(t, lo) | bf16Of(t, hi)<<16 }
	a := []uint32{pair(1, 2), pair(3, 4), pair(-1, 0.5), pair(2, -2)}
	b := []uint32{pair(1, 0), pair(0, 1), pair(1, 1), pair(2, 3), pair(-1, 0), pair(0.5, 0.5)}
	c := []float32{10, 20, 30, 40, 50, 60}
	m := &tileMachine{}
	m.allow("cfg", unsafe.Pointer(&cfg[0]), len(cfg), false)
	m.allow("a", unsafe.Pointer(&a[0]), 4*len(a), false)
	m.allow("b", unsafe.Pointer(&b[0]), 4*len(b), false)
	m.allow("c", unsafe.Pointer(&c[0]), 4*len(c), true)
	m.ldtilecfg(cfg)
	m.tileloadd(0, uintptr(unsafe.Pointer(&c[0])), 12)
	m.tileloadd(1, uintptr(unsafe.Pointer(&a[0])), 8)
	m.tileloadd(2, uintptr(unsafe.Pointer(&b[0])), 12)
	m.tdpbf16ps(0, 1, 2)
	m.tilestored(0, uintptr(unsafe.Pointer(&c[0])), 12)
	// A as 2×4 (k = 0..3), B as 4×3 from the pairs (row 2p+h of B is half h of pair row p).
	av := [2][4]float32{{1, 2, 3, 4}, {-1, 0.5, 2, -2}}
	bv := [4][3]float32{{1, 0, 1}, {0, 1, 1}, {2, -1, 0.5}, {3, 0, 0.5}}
	for i := range 2 {
		for j := range 3 {
			want := float32(10 * (3*i + j + 1))
			for p := range 4 {
				want += av[i][p] * bv[p][j]
			}
			if got := c[3*i+j]; got != want {
				t.Errorf("C[%d][%d] = %g, want %g", i, j, got, want)
			}
		}
	}

	faults := []struct {
		name string
		do   func(m *tileMachine)
		want string
	}{
		{"unconfigured", func(m *tileMachine) { m.tilerelease(); m.tilezero(0) }, "#UD"},
		{"mismatched shapes", func(m *tileMachine) { m.tdpbf16ps(0, 2, 1) }, "#UD"},
		{"repeated tile", func(m *tileMachine) { m.tdpbf16ps(0, 1, 1) }, "#UD"},
		{"unconfigured tile", func(m *tileMachine) { m.tilezero(5) }, "#UD"},
		{"read past a", func(m *tileMachine) { m.tileloadd(1, uintptr(unsafe.Pointer(&a[0])), 12) }, "outside"},
		{"store to b", func(m *tileMachine) { m.tilestored(2, uintptr(unsafe.Pointer(&b[0])), 12) }, "read-only"},
		{"bad palette", func(m *tileMachine) { bad := append([]byte(nil), cfg...); bad[0] = 2; m.ldtilecfg(bad) }, "#GP"},
		{"tile 8", func(m *tileMachine) { bad := append([]byte(nil), cfg...); bad[56] = 1; bad[32] = 4; m.ldtilecfg(bad) }, "#GP"},
	}
	for _, f := range faults {
		m.ldtilecfg(cfg)
		msg := func() (msg string) {
			defer func() {
				if r := recover(); r != nil {
					msg, _ = r.(string)
				}
			}()
			f.do(m)
			return ""
		}()
		if !strings.Contains(msg, f.want) {
			t.Errorf("%s: fault %q, want one mentioning %q", f.name, msg, f.want)
		}
	}
}

// TestAMXPackA checks the AMX A layout (full chunks by rows, then the tail
// row-major) against roundBF16 of alpha·A, plain and transposed, for depths
// around the chunk size and full and partial panels (a full plain panel
// with alpha 1 takes the one-pass amxPackRows path), rounding corners
// mixed in.
func TestAMXPackA(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	kern := emulatedAMXKernel()
	for _, kb := range []int{1, 2, 31, 32, 33, 64, 95, 130} {
		for _, trans := range []bool{false, true} {
			for _, rows := range []int{amxMR, 5} {
				for _, alpha := range []float32{1, 0.5} {
					const ld = 160
					src := randomMatrix(rng, 160, ld)
					for i := range src {
						if rng.IntN(5) == 0 {
							src[i] = math.Float32frombits(specialFloats[rng.IntN(len(specialFloats))])
						}
					}
					op := operandA{data: src, ld: ld, trans: trans}
					const i0, p0 = 3, 5
					steps := ceilDiv(kb, 2)
					dst := make([]uint32, steps*amxMR+7)
					for i := range dst {
						dst[i] = 0xdeadbeef
					}
					kern.packA(dst, op, i0, rows, p0, kb, alpha)
					at := func(i, p int) float32 {
						if i >= rows || p >= kb {
							return 0
						}
						if trans {
							return alpha * src[(p0+p)*ld+i0+i]
						}
						return alpha * src[(i0+i)*ld+p0+p]
					}
					full := steps / amxChunkSteps * amxChunkSteps
					rem := steps - full
					for q := range steps {
						for i := range amxMR {
							idx := (q/amxChunkSteps)*amxChunkWords + i*amxChunkSteps + q%amxChunkSteps
							if q >= full {
								idx = full*amxMR + i*rem + q - full
							}
							if got, want := dst[idx], bf16Pair(at(i, 2*q), at(i, 2*q+1)); got != want {
								t.Fatalf("kb=%d trans=%v rows=%d alpha=%g: row %d step %d = %#08x, want %#08x", kb, trans, rows, alpha, i, q, got, want)
							}
						}
					}
					for i := steps * amxMR; i < len(dst); i++ {
						if dst[i] != 0xdeadbeef {
							t.Fatalf("kb=%d: packA wrote past its panel at %d", kb, i)
						}
					}
				}
			}
		}
	}
}

// amxShapes are products around the kernel's blocking: edge tiles (m, n
// not multiples of 16 or 32), k tails (k/2 not a multiple of 16, odd k),
// more than one kc block, and single rows and columns.
var amxShapes = []struct{ m, n, k int }{
	{1, 1, 1}, {32, 32, 32}, {33, 31, 33}, {17, 45, 63}, {70, 64, 2},
	{5, 100, 31}, {64, 33, 1024}, {40, 16, 1056}, {31, 70, 2100}, {96, 48, 97},
}

// TestAMXEmulatedProducts drives the AMX kernel's packing, blocking and
// run function, with the tile instructions emulated, through weight
// products (packed B) and activation products (both operands packed per
// call, transposed, scaled) against a float64 product of the rounded
// operands.
func TestAMXEmulatedProducts(t *testing.T) {
	kern := emulatedAMXKernel()
	rng := rand.New(rand.NewPCG(9, 9))
	for s, sh := range amxShapes {
		if testing.Short() && s%3 != 0 {
			continue
		}
		// Weights: C = A·B (+C), B packed once.
		accumulate := s%2 == 1
		beta := float32(0)
		if accumulate {
			beta = 1
		}
		p := newProblem(rng, false, s%3 == 0, sh.m, sh.n, sh.k, s%2, 1, beta)
		rounded := *p
		rounded.a, rounded.b = roundedCopy(p.a), roundedCopy(p.b)
		want := rounded.reference()
		pb := &PackedBBF16{panels: packWhole(kern, p.transB, sh.k, sh.n, p.b, p.ldb)}
		got := append([]float32(nil), p.c...)
		SgemmPackedBF16(sh.m, p.a, p.lda, pb, got, p.ldc, accumulate)
		p.check(t, "weights", got, want)

		// Activations: alpha, beta and both transpositions.
		alpha, beta2 := float32(0.5), []float32{0, 1, 0.25}[s%3]
		q := newProblem(rng, s%2 == 0, s%4 < 2, sh.m, sh.n, sh.k, 1, alpha, beta2)
		want = scaledBF16Reference(q, alpha)
		got = append([]float32(nil), q.c...)
		sgemmWorkers(kern, 0, q.transA, q.transB, q.m, q.n, q.k, alpha, q.a, q.lda, q.b, q.ldb, beta2, got, q.ldc)
		q.check(t, "activations", got, want)
	}
}

// TestAMXEmulatedConv runs the convolution cases (im2col packed straight
// into the AMX A layout) through the emulated kernel.
func TestAMXEmulatedConv(t *testing.T) {
	kern := emulatedAMXKernel()
	rng := rand.New(rand.NewPCG(3, 10))
	for ci, cc := range convCases {
		x := randomMatrix(rng, 1, cc.n*cc.c*cc.h*cc.w)
		in := cc.input(x)
		wt := randomMatrix(rng, 1, cc.cout*in.K())
		want := naiveConvRows(in, wt, cc.cout)
		accumulate := ci%2 == 1
		ldc := cc.cout + 3
		got := make([]float32, in.Rows()*ldc)
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

// TestAMXSelfCheck runs the start-up self-check on the emulated kernel
// (it must pass) and on kernels broken the ways a wrong layout or encoding
// would break them (it must fail).
func TestAMXSelfCheck(t *testing.T) {
	if err := selfCheckBF16(emulatedAMXKernel()); err != nil {
		t.Fatalf("emulated kernel: %v", err)
	}
	broken := map[string]amxBody{
		"drops the tail": func(cfg *amxTileConfig, steps int, a, b []uint32, c []float32, ldc int, acc bool) {
			emulatedAMXBody(cfg, steps/amxChunkSteps*amxChunkSteps, a, b, c, ldc, acc)
		},
		"ignores C": func(cfg *amxTileConfig, steps int, a, b []uint32, c []float32, ldc int, _ bool) {
			emulatedAMXBody(cfg, steps, a, b, c, ldc, false)
		},
		"swaps A's halves": func(cfg *amxTileConfig, steps int, a, b []uint32, c []float32, ldc int, acc bool) {
			sw := append([]uint32(nil), a...)
			half := amxChunkWords / 2
			for t := range steps / amxChunkSteps {
				ch := a[t*amxChunkWords : (t+1)*amxChunkWords]
				copy(sw[t*amxChunkWords:], ch[half:])
				copy(sw[t*amxChunkWords+half:], ch[:half])
			}
			emulatedAMXBody(cfg, steps, sw, b, c, ldc, acc)
		},
	}
	for name, body := range broken {
		err := selfCheckBF16(newAMXKernel("broken", body, nil, nil, nil))
		if !errors.Is(err, errBF16Mismatch) {
			t.Errorf("kernel that %s: self-check %v, want a mismatch", name, err)
		}
	}
}

// fakeAMX is an amxPlatform with set answers.
type fakeAMX struct {
	support, permission error
	asked               *int
}

func (f fakeAMX) Support() error { return f.support }

func (f fakeAMX) RequestPermission() error {
	*f.asked++
	return f.permission
}

// TestChooseAMX checks the selection: unsupported CPUs and refused
// permissions fall back quietly, a failing self-check falls back with a
// warning, and only a supported, permitted, passing kernel is chosen.
func TestChooseAMX(t *testing.T) {
	good := emulatedAMXKernel()
	bad := newAMXKernel("broken", func(cfg *amxTileConfig, steps int, a, b []uint32, c []float32, ldc int, acc bool) {
		emulatedAMXBody(cfg, steps/amxChunkSteps*amxChunkSteps, a, b, c, ldc, acc) // drops the tail
	}, nil, nil, nil)
	cases := []struct {
		name               string
		support, perm      error
		kern               *microKernel[uint32]
		chosen, warn       bool
		askedForPermission int
	}{
		{"chosen", nil, nil, good, true, false, 1},
		{"no AMX", errors.New("the CPU has no AMX-BF16"), nil, good, false, false, 0},
		{"permission refused", nil, errors.New("EPERM"), good, false, false, 1},
		{"self-check fails", nil, nil, bad, false, true, 1},
	}
	for _, tc := range cases {
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		asked := 0
		k, err := chooseAMX(fakeAMX{tc.support, tc.perm, &asked}, tc.kern, selfCheckBF16, log)
		if (k != nil) != tc.chosen || (err == nil) != tc.chosen {
			t.Errorf("%s: kernel %v, err %v; want chosen %v", tc.name, k != nil, err, tc.chosen)
		}
		if k != nil && k != tc.kern {
			t.Errorf("%s: chose another kernel", tc.name)
		}
		if warned := strings.Contains(logs.String(), "level=WARN"); warned != tc.warn {
			t.Errorf("%s: warning logged %v, want %v (%q)", tc.name, warned, tc.warn, logs.String())
		}
		if asked != tc.askedForPermission {
			t.Errorf("%s: asked for permission %d times, want %d", tc.name, asked, tc.askedForPermission)
		}
	}
}
