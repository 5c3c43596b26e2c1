package flux

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/safetensors"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// fluxTiny returns a path inside testdata/flux-tiny (or $INVOKEGO_FIXTURES).
func fluxTiny(t testing.TB, parts ...string) string {
	t.Helper()
	dir, err := goldens.FixturesDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(append([]string{dir, "flux-tiny"}, parts...)...)
}

// golden is an open goldens file.
type golden struct {
	t testing.TB
	f *safetensors.File
}

func openGolden(t testing.TB, parts ...string) *golden {
	t.Helper()
	f, err := safetensors.Open(fluxTiny(t, parts...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &golden{t: t, f: f}
}

func (g *golden) has(name string) bool {
	_, ok := g.f.Info(name)
	return ok
}

func (g *golden) tensor(name string) *tensor.Tensor {
	g.t.Helper()
	data, shape, err := g.f.Float32(name)
	if err != nil {
		g.t.Fatal(err)
	}
	return &tensor.Tensor{Shape: shape, Data: data}
}

func (g *golden) floats(name string) []float32 { return g.tensor(name).Data }

// layerTolerance is the allowed max abs error relative to the reference's
// largest magnitude for layer outputs (testdata/README.md).
const layerTolerance = 1e-4

// compareRel checks got against want within tol·max|want| and logs the error.
func compareRel(t testing.TB, name string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", name, len(got), len(want))
		return
	}
	var maxDiff, maxRef float64
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		maxDiff = max(maxDiff, d)
		maxRef = max(maxRef, math.Abs(float64(want[i])))
	}
	t.Logf("%-50s max abs diff %.3g, max |ref| %.3g, ratio %.3g", name, maxDiff, maxRef, maxDiff/maxRef)
	if !(maxDiff <= tol*maxRef) {
		t.Errorf("%s: max abs diff %.3g exceeds %.0e × %.3g", name, maxDiff, tol, maxRef)
	}
}

// compareAbs checks got against want within an absolute tolerance.
func compareAbs(t testing.TB, name string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", name, len(got), len(want))
		return
	}
	var maxDiff float64
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		maxDiff = max(maxDiff, d)
	}
	t.Logf("%-50s max abs diff %.3g", name, maxDiff)
	if !(maxDiff <= tol) {
		t.Errorf("%s: max abs diff %.3g exceeds %.0e", name, maxDiff, tol)
	}
}
