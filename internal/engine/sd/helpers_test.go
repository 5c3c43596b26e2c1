package sd

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/safetensors"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// fixturesDir is the repository's testdata folder (goldens.FixturesDir),
// or uses $INVOKEGO_FIXTURES.
func fixturesDir(t testing.TB) string {
	t.Helper()
	dir, err := goldens.FixturesDir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func sdTiny(t testing.TB, parts ...string) string {
	return filepath.Join(append([]string{fixturesDir(t), "sd-tiny"}, parts...)...)
}

// golden is an open goldens file.
type golden struct {
	t testing.TB
	f *safetensors.File
}

func openGolden(t testing.TB, name string) *golden {
	t.Helper()
	f, err := safetensors.Open(sdTiny(t, "goldens", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &golden{t: t, f: f}
}

func (g *golden) tensor(name string) *tensor.Tensor {
	g.t.Helper()
	data, shape, err := g.f.Float32(name)
	if err != nil {
		g.t.Fatal(err)
	}
	return &tensor.Tensor{Shape: shape, Data: data}
}

func (g *golden) ints(name string) []int {
	g.t.Helper()
	v, _, err := g.f.Int64(name)
	if err != nil {
		g.t.Fatal(err)
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// goldenTolerance is the allowed max abs error relative to the reference's
// max magnitude.
const goldenTolerance = 1e-4

// compare checks got against want within goldenTolerance·max|want| and logs
// the measured error.
func compare(t testing.TB, name string, got, want *tensor.Tensor) {
	t.Helper()
	if len(got.Data) != len(want.Data) {
		t.Errorf("%s: shape %v, want %v", name, got.Shape, want.Shape)
		return
	}
	var maxDiff, maxRef float64
	for i := range got.Data {
		d := math.Abs(float64(got.Data[i]) - float64(want.Data[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		maxDiff = max(maxDiff, d)
		maxRef = max(maxRef, math.Abs(float64(want.Data[i])))
	}
	rel := maxDiff / maxRef
	t.Logf("%-45s max abs diff %.3g, max |ref| %.3g, ratio %.3g", name, maxDiff, maxRef, rel)
	if !(maxDiff <= goldenTolerance*maxRef) {
		t.Errorf("%s: max abs diff %.3g exceeds %.0e × %.3g", name, maxDiff, goldenTolerance, maxRef)
	}
}

// batchItem returns sample b of a batched tensor, keeping a leading 1.
func batchItem(x *tensor.Tensor, b int) *tensor.Tensor {
	per := len(x.Data) / x.Shape[0]
	shape := append([]int{1}, x.Shape[1:]...)
	return tensor.FromData(x.Data[b*per:(b+1)*per], shape...)
}
