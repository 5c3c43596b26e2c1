package noise

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
)

func loadGolden(t *testing.T, name string) map[string]goldens.Tensor {
	t.Helper()
	p, err := goldens.Path("sd-tiny", "goldens", name)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := goldens.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// goldenCase decodes names like "seed_42.float32", "small_seed_0.float32_1x4x2x2"
// and "rand_seed_42.float32_32".
type goldenCase struct {
	rand  bool
	seed  uint64
	dtype DType
}

func parseName(t *testing.T, name string) goldenCase {
	t.Helper()
	var c goldenCase
	s := name
	if strings.HasPrefix(s, "rand_") {
		c.rand = true
		s = strings.TrimPrefix(s, "rand_")
	}
	s = strings.TrimPrefix(s, "small_")
	s = strings.TrimPrefix(s, "seed_")
	seedStr, rest, ok := strings.Cut(s, ".")
	if !ok {
		t.Fatalf("unexpected golden name %q", name)
	}
	seed, err := strconv.ParseUint(seedStr, 10, 64)
	if err != nil {
		t.Fatalf("golden %q: %v", name, err)
	}
	c.seed = seed
	dt, _, _ := strings.Cut(rest, "_")
	c.dtype, err = ParseDType(dt)
	if err != nil {
		t.Fatalf("golden %q: %v", name, err)
	}
	return c
}

func compareBits(t *testing.T, name string, got []float32, want goldens.Tensor) {
	t.Helper()
	if len(got) != len(want.Floats) {
		t.Errorf("%s: got %d values, want %d", name, len(got), len(want.Floats))
		return
	}
	bad, maxDiff, first := 0, 0.0, -1
	for i, w := range want.Floats {
		if math.Float32bits(got[i]) != math.Float32bits(float32(w)) {
			if first < 0 {
				first = i
			}
			bad++
			maxDiff = math.Max(maxDiff, math.Abs(float64(got[i])-w))
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values differ (max abs diff %g; first at %d: got %v want %v)",
			name, bad, len(got), maxDiff, first, got[first], float32(want.Floats[first]))
	}
}

func checkFile(t *testing.T, file string, opts ...Option) {
	ts := loadGolden(t, file)
	for _, name := range goldens.Names(ts) {
		want := ts[name]
		c := parseName(t, name)
		g := NewGenerator(c.seed, opts...)
		var got []float32
		if c.rand {
			got = g.Rand(want.Shape...)
		} else {
			got = g.Randn(c.dtype, want.Shape...)
		}
		compareBits(t, name, got, want)
	}
}

func TestRandnGoldensAVX2(t *testing.T) { checkFile(t, "noise.safetensors") }

func TestRandnGoldensDefaultKernel(t *testing.T) {
	checkFile(t, "noise_default_kernel.safetensors", WithKernel(KernelDefault))
}

func TestSeedIsTakenModulo2To32(t *testing.T) {
	a := Randn(42, Float32, 64)
	b := Randn(42+1<<32, Float32, 64)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("seed 42 and 42+2^32 differ at %d", i)
		}
	}
}

// TestGeneratorContinues checks that successive draws continue one stream:
// with sizes that are multiples of 16, two draws equal one double draw.
func TestGeneratorContinues(t *testing.T) {
	for _, dt := range []DType{Float32, Float16, BFloat16} {
		g := NewGenerator(7)
		first := g.Randn(dt, 32)
		second := g.Randn(dt, 48)
		whole := Randn(7, dt, 80)
		got := append(first, second...)
		for i := range whole {
			if got[i] != whole[i] {
				t.Fatalf("%v: value %d differs: %v vs %v", dt, i, got[i], whole[i])
			}
		}
	}
}

func TestSmallDrawsShareTheCachedNormal(t *testing.T) {
	// Below 16 elements torch draws float64 normals in pairs and caches
	// the second, so two 1-element draws equal one 2-element draw.
	g := NewGenerator(5)
	a := g.Randn(Float32, 1)
	b := g.Randn(Float32, 1)
	whole := Randn(5, Float32, 2)
	if a[0] != whole[0] || b[0] != whole[1] {
		t.Errorf("got %v %v, want %v", a[0], b[0], whole)
	}
	g.ManualSeed(5)
	if c := g.Randn(Float32, 1); c[0] != a[0] {
		t.Errorf("ManualSeed did not reset the stream (or the cache)")
	}
}

func TestRandRange(t *testing.T) {
	for _, v := range Rand(9, 1000) {
		if v < 0 || v >= 1 {
			t.Fatalf("rand value %v outside [0,1)", v)
		}
	}
}

func TestParseDType(t *testing.T) {
	for s, want := range map[string]DType{"float32": Float32, "fp16": Float16, "bfloat16": BFloat16, "half": Float16} {
		got, err := ParseDType(s)
		if err != nil || got != want {
			t.Errorf("ParseDType(%q) = %v, %v", s, got, err)
		}
		if _, err := ParseDType(got.String()); err != nil {
			t.Errorf("String() %q does not parse back", got.String())
		}
	}
	if _, err := ParseDType("int8"); err == nil {
		t.Error("int8 accepted")
	}
}

func BenchmarkRandn512(b *testing.B) {
	for b.Loop() {
		Randn(42, Float32, 1, 4, 64, 64)
	}
}
