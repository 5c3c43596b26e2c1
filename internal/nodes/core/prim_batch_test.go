package core_test

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"reflect"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/nodes"
)

type randomGoldens struct {
	RandomRange []struct {
		Low, High int64
		Size      int
		Seed      int64
		Values    []int64
	} `json:"random_range"`
	MT19937 []struct {
		Seed   int64
		Uint32 []uint32
	} `json:"mt19937"`
}

func loadRandomGoldens(t *testing.T) randomGoldens {
	t.Helper()
	p, err := goldens.Path("nodes", "primitives", "random.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var g randomGoldens
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// random_range draws what numpy.random.default_rng(seed).integers(low, high, size) draws, on both of NumPy's
// paths (32-bit draws for spans below 2^32, 64-bit ones above).
func TestRandomRangeIsNumPys(t *testing.T) {
	reg, ctx := primRegistry()
	g := loadRandomGoldens(t)
	if len(g.RandomRange) == 0 {
		t.Fatal("no goldens")
	}
	for _, c := range g.RandomRange {
		out, err := invoke(t, reg, ctx, "random_range", jsonOf(map[string]any{"low": c.Low, "high": c.High, "size": c.Size, "seed": c.Seed}))
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		field(t, out, "collection", &got)
		if !reflect.DeepEqual(got, c.Values) {
			t.Errorf("random_range(%d, %d, %d, seed %d) = %v, want %v", c.Low, c.High, c.Size, c.Seed, got, c.Values)
		}
	}
	if _, err := invoke(t, reg, ctx, "random_range", `{"low": 3, "high": 3}`); err == nil {
		t.Error("high == low was accepted")
	}
	if _, err := invoke(t, reg, ctx, "random_range", `{"size": 1048577}`); err == nil {
		t.Error("a size past the bound was accepted")
	}
	out, err := invoke(t, reg, ctx, "random_range", `{"size": 0}`)
	if err != nil || string(out["collection"]) != "[]" {
		t.Errorf("size 0 = %s, %v", out["collection"], err)
	}
}

func generate[T any](t *testing.T, typ, outField string, spec any) []T {
	t.Helper()
	reg, ctx := primRegistry()
	out, err := invoke(t, reg, ctx, typ, jsonOf(map[string]any{"generator": spec}))
	if err != nil {
		t.Fatalf("%s %v: %v", typ, spec, err)
	}
	var v []T
	field(t, out, outField, &v)
	return v
}

func TestFloatGeneratorsAsInvokeAIsUI(t *testing.T) {
	near := func(got, want []float64) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-12 {
				return false
			}
		}
		return true
	}
	cases := []struct {
		spec map[string]any
		want []float64
	}{
		{map[string]any{"type": "float_generator_arithmetic_sequence", "start": 1, "step": 0.5, "count": 4}, []float64{1, 1.5, 2, 2.5}},
		// The UI's defaults: 10 values from 0 by 0.1.
		{map[string]any{"type": "float_generator_arithmetic_sequence"}, []float64{0, 0.1, 0.2, 0.30000000000000004, 0.4, 0.5, 0.6000000000000001, 0.7000000000000001, 0.8, 0.9}},
		// A zero step makes one value whatever the count.
		{map[string]any{"type": "float_generator_arithmetic_sequence", "start": 3, "step": 0, "count": 5}, []float64{3}},
		{map[string]any{"type": "float_generator_linear_distribution", "start": 0, "end": 1, "count": 5}, []float64{0, 0.25, 0.5, 0.75, 1}},
		{map[string]any{"type": "float_generator_linear_distribution", "start": 2, "end": 9, "count": 1}, []float64{2}},
		{map[string]any{"type": "float_generator_parse_string", "input": " 1.5, x, 2e1 ,, -3abc", "splitOn": ","}, []float64{1.5, 20, -3}},
		{map[string]any{"type": "float_generator_parse_string", "input": "1\n2\n3", "splitOn": `\n`}, []float64{1, 2, 3}},
		// Values the UI resolved win.
		{map[string]any{"type": "float_generator_arithmetic_sequence", "values": []float64{7, 8}}, []float64{7, 8}},
	}
	for _, c := range cases {
		if got := generate[float64](t, "float_generator", "floats", c.spec); !near(got, c.want) {
			t.Errorf("%v = %v, want %v", c.spec, got, c.want)
		}
	}
	// Seeded uniform values: the UI's MT19937 draw divided by 2^32, scaled into [min, max).
	g := loadRandomGoldens(t)
	mt := g.MT19937[0]
	got := generate[float64](t, "float_generator", "floats", map[string]any{"type": "float_generator_random_distribution_uniform", "min": -1, "max": 3, "count": 5, "seed": mt.Seed})
	for i, u := range mt.Uint32 {
		if want := float64(u)/4294967296*4 - 1; got[i] != want {
			t.Errorf("uniform[%d] = %v, want %v", i, got[i], want)
		}
	}
	reg, ctx := primRegistry()
	for _, bad := range []string{
		`{"generator": {"type": "float_generator_arithmetic_sequence", "count": 1048577}}`,
		`{"generator": {"type": "float_generator_arithmetic_sequence", "count": -1}}`,
		`{"generator": {"type": "nope"}}`,
		`{"generator": {"type": "float_generator_parse_string", "input": "1, Infinity"}}`,
		`{"generator": {"type": "float_generator_arithmetic_sequence", "start": 1e308, "step": 1e308, "count": 3}}`,
	} {
		var ne *nodes.NodeError
		if _, err := invoke(t, reg, ctx, "float_generator", bad); !errors.As(err, &ne) {
			t.Errorf("%s: %v, want a node error", bad, err)
		}
	}
}

func TestIntegerGeneratorsAsInvokeAIsUI(t *testing.T) {
	cases := []struct {
		spec map[string]any
		want []int64
	}{
		{map[string]any{"type": "integer_generator_arithmetic_sequence", "start": 5, "step": -2, "count": 4}, []int64{5, 3, 1, -1}},
		{map[string]any{"type": "integer_generator_arithmetic_sequence"}, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		// Math.round: 0, 2.5 → 3, 5, 7.5 → 8, 10.
		{map[string]any{"type": "integer_generator_linear_distribution", "start": 0, "end": 10, "count": 5}, []int64{0, 3, 5, 8, 10}},
		// Halves round up, also below zero: -2.5 → -2.
		{map[string]any{"type": "integer_generator_linear_distribution", "start": 0, "end": -5, "count": 3}, []int64{0, -2, -5}},
		{map[string]any{"type": "integer_generator_parse_string", "input": "1, 2.9, -3x, y, 4"}, []int64{1, 2, -3, 4}},
	}
	for _, c := range cases {
		if got := generate[int64](t, "integer_generator", "integers", c.spec); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v = %v, want %v", c.spec, got, c.want)
		}
	}
	reg, ctx := primRegistry()
	if _, err := invoke(t, reg, ctx, "integer_generator", `{"generator": {"type": "integer_generator_arithmetic_sequence", "start": 9007199254740000, "step": 1000, "count": 3}}`); err == nil {
		t.Error("a sequence past 2^53 was accepted")
	}
	// min 0, max 2^32-1 turns each seeded draw into the MT19937 output itself.
	for _, mt := range loadRandomGoldens(t).MT19937 {
		got := generate[int64](t, "integer_generator", "integers", map[string]any{"type": "integer_generator_random_distribution_uniform", "min": 0, "max": math.MaxUint32, "count": len(mt.Uint32), "seed": mt.Seed})
		for i, u := range mt.Uint32 {
			if got[i] != int64(u) {
				t.Errorf("seed %d: draw %d = %d, want %d", mt.Seed, i, got[i], u)
			}
		}
	}
}

func TestStringAndImageGenerators(t *testing.T) {
	got := generate[string](t, "string_generator", "strings", map[string]any{"type": "string_generator_parse_string", "input": "a, b,,c", "splitOn": ","})
	if want := []string{"a", " b", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("parse_string = %q, want %q", got, want)
	}
	got = generate[string](t, "string_generator", "strings", map[string]any{"type": "string_generator_dynamic_prompts_combinatorial", "input": "a {red|blue} {fox|cat}", "maxPrompts": 3})
	if want := []string{"a red fox", "a red cat", "a blue fox"}; !reflect.DeepEqual(got, want) {
		t.Errorf("combinatorial = %q, want %q", got, want)
	}
	imgs := generate[nodes.ImageField](t, "image_generator", "images", map[string]any{"type": "image_generator_images_from_board", "values": []map[string]string{{"image_name": "x.png"}}})
	if len(imgs) != 1 || imgs[0].ImageName != "x.png" {
		t.Errorf("image generator = %v", imgs)
	}
	reg, ctx := primRegistry()
	if _, err := invoke(t, reg, ctx, "image_generator", `{"generator": {"type": "image_generator_images_from_board", "board_id": "b"}}`); err == nil {
		t.Error("an unresolved image generator ran")
	}
}

// Batch nodes are resolved before a graph runs; one that reaches the runner fails as InvokeAI's does.
func TestBatchNodesAreNotExecutable(t *testing.T) {
	reg, ctx := primRegistry()
	for typ, fields := range map[string]string{
		"float_batch": `{"floats": [1]}`, "integer_batch": `{"integers": [1]}`,
		"string_batch": `{"strings": ["a"]}`, "image_batch": `{"images": [{"image_name": "a.png"}]}`,
	} {
		_, err := invoke(t, reg, ctx, typ, fields)
		var ne *nodes.NodeError
		if !errors.As(err, &ne) || ne.Type != "NotExecutableNodeError" {
			t.Errorf("%s: %v", typ, err)
		}
	}
	if _, err := invoke(t, reg, ctx, "float_batch", `{"floats": [], "batch_group_id": "Group 1"}`); err == nil {
		t.Error("an empty batch was accepted")
	}
	if _, err := invoke(t, reg, ctx, "float_batch", `{"floats": [1], "batch_group_id": "Group 9"}`); err == nil {
		t.Error("an unknown group was accepted")
	}
}
