// Package goldtest holds the golden-file helpers that the adapter packages' tests share: open a goldens
// file from testdata, read its tensors, compare within the documented tolerances (testdata/README.md).
package goldtest

import (
	"math"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// LayerTolerance is the allowed max |ours − ref| relative to max |ref| for layer outputs.
const LayerTolerance = 1e-4

// LatentTolerance is the allowed max |ours − ref| for 10-step pipeline latents.
const LatentTolerance = 1e-3

// Path is the fixture path below testdata (or $INVOKEGO_FIXTURES).
func Path(t testing.TB, elem ...string) string {
	t.Helper()
	p, err := goldens.Path(elem...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// File is an open goldens file.
type File struct {
	t  testing.TB
	ts map[string]goldens.Tensor
}

// Open reads a goldens file below testdata.
func Open(t testing.TB, elem ...string) *File {
	t.Helper()
	ts, err := goldens.Load(Path(t, elem...))
	if err != nil {
		t.Fatal(err)
	}
	return &File{t: t, ts: ts}
}

// Has reports whether the file holds a tensor.
func (f *File) Has(name string) bool { _, ok := f.ts[name]; return ok }

// Tensor returns a floating-point tensor as float32.
func (f *File) Tensor(name string) *tensor.Tensor {
	f.t.Helper()
	v, ok := f.ts[name]
	if !ok {
		f.t.Fatalf("golden %q missing", name)
	}
	if v.Floats == nil {
		// Integer tensors (timesteps) widen too.
		out := make([]float32, len(v.Ints))
		for i, x := range v.Ints {
			out[i] = float32(x)
		}
		return tensor.FromData(out, v.Shape...)
	}
	return tensor.FromData(v.Float32(), v.Shape...)
}

// Ints returns an integer tensor's values.
func (f *File) Ints(name string) []int64 {
	f.t.Helper()
	v, ok := f.ts[name]
	if !ok {
		f.t.Fatalf("golden %q missing", name)
	}
	return v.Ints
}

// MaxDiff returns max |got − want| and max |want| (NaN counts as infinitely far).
func MaxDiff(got, want []float32) (diff, ref float64) {
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		diff = max(diff, d)
		ref = max(ref, math.Abs(float64(want[i])))
	}
	return diff, ref
}

// Close checks got against want within rel·max|want| and logs the measured error.
func Close(t testing.TB, name string, got, want *tensor.Tensor, rel float64) {
	t.Helper()
	if len(got.Data) != len(want.Data) {
		t.Errorf("%s: shape %v, want %v", name, got.Shape, want.Shape)
		return
	}
	d, r := MaxDiff(got.Data, want.Data)
	t.Logf("%-40s max abs diff %.3g, max |ref| %.3g, ratio %.3g", name, d, r, d/r)
	if !(d <= rel*r) {
		t.Errorf("%s: max abs diff %.3g exceeds %.0e × %.3g", name, d, rel, r)
	}
}

// Within checks got against want within an absolute tolerance.
func Within(t testing.TB, name string, got, want *tensor.Tensor, atol float64) {
	t.Helper()
	if len(got.Data) != len(want.Data) {
		t.Errorf("%s: shape %v, want %v", name, got.Shape, want.Shape)
		return
	}
	d, r := MaxDiff(got.Data, want.Data)
	t.Logf("%-40s max abs diff %.3g (max |ref| %.3g)", name, d, r)
	if !(d <= atol) {
		t.Errorf("%s: max abs diff %.3g exceeds %g", name, d, atol)
	}
}

// Exact checks that two tensors are bit for bit equal.
func Exact(t testing.TB, name string, got, want *tensor.Tensor) {
	t.Helper()
	if len(got.Data) != len(want.Data) {
		t.Fatalf("%s: shape %v, want %v", name, got.Shape, want.Shape)
	}
	for i := range want.Data {
		if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
			t.Fatalf("%s: element %d differs: %v vs %v", name, i, got.Data[i], want.Data[i])
		}
	}
}
