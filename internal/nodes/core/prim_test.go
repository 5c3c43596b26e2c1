package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/nodes/core"
)

func primRegistry() (*nodes.Registry, *memCtx) {
	reg := nodes.NewRegistry()
	core.Register(reg)
	return reg, &memCtx{Context: context.Background(), images: map[string]image.Image{}}
}

// invoke decodes and runs one node, returning its output JSON or its error.
func invoke(t *testing.T, reg *nodes.Registry, ctx nodes.Context, typ, fields string) (map[string]json.RawMessage, error) {
	t.Helper()
	nt, ok := reg.Lookup(typ)
	if !ok {
		t.Fatalf("no type %s", typ)
	}
	var vals map[string]json.RawMessage
	if err := json.Unmarshal([]byte(fields), &vals); err != nil {
		t.Fatal(err)
	}
	inv, err := nt.Decode(vals, nil)
	if err != nil {
		return nil, err
	}
	out, err := inv.Invoke(ctx)
	if err != nil {
		return nil, err
	}
	return nodes.EncodeOutput(out)
}

// field reads one output field into v.
func field(t *testing.T, out map[string]json.RawMessage, name string, v any) {
	t.Helper()
	if err := json.Unmarshal(out[name], v); err != nil {
		t.Fatalf("output %s = %s: %v", name, out[name], err)
	}
}

func TestIntegerMath(t *testing.T) {
	reg, ctx := primRegistry()
	cases := []struct {
		op   string
		a, b int64
		want int64
	}{
		{"ADD", 2, 3, 5}, {"SUB", 2, 3, -1}, {"MUL", -4, 3, -12},
		{"DIV", 7, 2, 3}, {"DIV", -7, 2, -3}, {"DIV", 7, -2, -3},
		// int(a / b) goes through a double: 2^53+1 is not one.
		{"DIV", 1<<53 + 1, 1, 1 << 53},
		{"EXP", 3, 4, 81}, {"EXP", -2, 63, math.MinInt64}, {"EXP", 5, 0, 1}, {"EXP", -1, 1 << 62, 1},
		// Python's modulus has the sign of the divisor.
		{"MOD", 7, 3, 1}, {"MOD", -7, 3, 2}, {"MOD", 7, -3, -2}, {"MOD", -7, -3, -1}, {"MOD", math.MinInt64, -1, 0},
		{"ABS", -9, 0, 9}, {"MIN", 4, -4, -4}, {"MAX", 4, -4, 4},
		{"MUL", math.MinInt64, 1, math.MinInt64}, {"MUL", -(1 << 62), 2, math.MinInt64},
	}
	for _, c := range cases {
		out, err := invoke(t, reg, ctx, "integer_math", jsonOf(map[string]any{"operation": c.op, "a": c.a, "b": c.b}))
		if err != nil {
			t.Fatalf("%s(%d, %d): %v", c.op, c.a, c.b, err)
		}
		var got int64
		field(t, out, "value", &got)
		if got != c.want {
			t.Errorf("%s(%d, %d) = %d, want %d", c.op, c.a, c.b, got, c.want)
		}
	}
	refused := []struct {
		op   string
		a, b int64
		typ  string
	}{
		{"DIV", 1, 0, "ValueError"}, {"MOD", 1, 0, "ValueError"}, {"EXP", 2, -1, "ValueError"},
		{"EXP", 2, 63, "OverflowError"}, {"EXP", 3, math.MaxInt64, "OverflowError"}, {"ADD", math.MaxInt64, 1, "OverflowError"},
		{"SUB", math.MinInt64, 1, "OverflowError"}, {"MUL", 1 << 32, 1 << 31, "OverflowError"},
		{"MUL", math.MinInt64, -1, "OverflowError"}, {"ABS", math.MinInt64, 0, "OverflowError"},
		{"DIV", math.MinInt64, -1, "OverflowError"},
	}
	for _, c := range refused {
		_, err := invoke(t, reg, ctx, "integer_math", jsonOf(map[string]any{"operation": c.op, "a": c.a, "b": c.b}))
		var ne *nodes.NodeError
		if !errors.As(err, &ne) || ne.Type != c.typ {
			t.Errorf("%s(%d, %d): error %v, want %s", c.op, c.a, c.b, err, c.typ)
		}
	}
	if _, err := invoke(t, reg, ctx, "integer_math", `{"operation":"POW"}`); err == nil {
		t.Error("an unknown operation was accepted")
	}
}

func TestFloatMath(t *testing.T) {
	reg, ctx := primRegistry()
	cases := []struct {
		op         string
		a, b, want float64
	}{
		{"ADD", 0.1, 0.2, 0.30000000000000004}, {"SUB", 1, 0.25, 0.75}, {"MUL", 1.5, -2, -3}, {"DIV", 1, 8, 0.125},
		{"EXP", 2, 0.5, math.Sqrt2}, {"EXP", -2, 3, -8}, {"EXP", 0, 0, 1}, {"ABS", -3.5, 0, 3.5}, {"SQRT", 2, 0, math.Sqrt2},
		{"MIN", 1, -1, -1}, {"MAX", 1, -1, 1}, {"MIN", 0, math.Copysign(0, -1), 0},
	}
	for _, c := range cases {
		out, err := invoke(t, reg, ctx, "float_math", jsonOf(map[string]any{"operation": c.op, "a": c.a, "b": c.b}))
		if err != nil {
			t.Fatalf("%s(%v, %v): %v", c.op, c.a, c.b, err)
		}
		var got float64
		field(t, out, "value", &got)
		if got != c.want || math.Signbit(got) != math.Signbit(c.want) {
			t.Errorf("%s(%v, %v) = %v, want %v", c.op, c.a, c.b, got, c.want)
		}
	}
	for _, c := range []struct {
		op   string
		a, b float64
	}{{"DIV", 1, 0}, {"EXP", 0, -1}, {"EXP", -8, 1.0 / 3}, {"EXP", 10, 400}, {"SQRT", -1, 0}, {"MUL", 1e200, 1e200}} {
		if _, err := invoke(t, reg, ctx, "float_math", jsonOf(map[string]any{"operation": c.op, "a": c.a, "b": c.b})); err == nil {
			t.Errorf("%s(%v, %v) was accepted", c.op, c.a, c.b)
		}
	}
}

// TestRoundFloat: expected values from CPython 3.11's round(x, n).
func TestRoundFloat(t *testing.T) {
	reg, ctx := primRegistry()
	cases := []struct {
		x    float64
		n    int
		want float64
	}{
		{2.675, 2, 2.67}, {0.5, 0, 0.0}, {1.5, 0, 2.0}, {-2.5, 0, -2.0}, {1234.5678, -2, 1200.0}, {1250.0, -2, 1200.0},
		{1350.0, -2, 1400.0}, {0.285, 2, 0.28}, {1.005, 2, 1.0}, {-0.0001, 2, math.Copysign(0, -1)}, {123.456, 400, 123.456},
		{1e+300, -300, 1e+300}, {1.5e+300, -300, 2e+300}, {5e-324, 323, 0.0}, {5e-324, 324, 5e-324}, {2.5e-323, 323, 2e-323},
		{1e-05, 5, 1e-05}, {0.125, 2, 0.12}, {0.375, 2, 0.38}, {1.0000000000000002e+16, -1, 1e+16}, {7.0, -400, 0.0},
		{2500000000000000.5, 0, 2500000000000000.0},
	}
	for _, c := range cases {
		out, err := invoke(t, reg, ctx, "round_float", jsonOf(map[string]any{"value": c.x, "decimals": c.n}))
		if err != nil {
			t.Fatal(err)
		}
		var got float64
		field(t, out, "value", &got)
		if got != c.want || math.Signbit(got) != math.Signbit(c.want) {
			t.Errorf("round(%v, %d) = %v, want %v", c.x, c.n, got, c.want)
		}
	}
}

func TestFloatToInt(t *testing.T) {
	reg, ctx := primRegistry()
	cases := []struct {
		v        float64
		multiple int64
		method   string
		want     int64
	}{
		{2.5, 1, "Nearest", 2}, {3.5, 1, "Nearest", 4}, {-2.7, 1, "Nearest", -3}, {10, 4, "Nearest", 8}, {14, 4, "Nearest", 16},
		{-2.5, 1, "Floor", -3}, {2.1, 1, "Ceiling", 3}, {-2.9, 1, "Truncate", -2}, {37, 8, "Floor", 32}, {33, 8, "Ceiling", 40},
		{-37, 8, "Truncate", -32},
		// Floor multiplies NumPy floats: 33333333333333332·3 rounds to 1e17 as a double.
		{1e17, 3, "Floor", 100000000000000000}, {1e17, 3, "Truncate", 99999999999999996},
	}
	for _, c := range cases {
		out, err := invoke(t, reg, ctx, "float_to_int", jsonOf(map[string]any{"value": c.v, "multiple": c.multiple, "method": c.method}))
		if err != nil {
			t.Fatal(err)
		}
		var got int64
		field(t, out, "value", &got)
		if got != c.want {
			t.Errorf("%s(%v / %d) = %d, want %d", c.method, c.v, c.multiple, got, c.want)
		}
	}
	if _, err := invoke(t, reg, ctx, "float_to_int", `{"value":1e300}`); err == nil {
		t.Error("1e300 became an integer")
	}
	if _, err := invoke(t, reg, ctx, "float_to_int", `{"value":1,"multiple":0}`); err == nil {
		t.Error("multiple 0 was accepted")
	}
}

func TestRandFloat(t *testing.T) {
	reg, ctx := primRegistry()
	for i := 0; i < 50; i++ {
		out, err := invoke(t, reg, ctx, "rand_float", `{"low":2,"high":3,"decimals":1}`)
		if err != nil {
			t.Fatal(err)
		}
		var got float64
		field(t, out, "value", &got)
		if got < 2 || got > 3 || math.Abs(got*10-math.Round(got*10)) > 1e-9 {
			t.Fatalf("rand_float gave %v", got)
		}
	}
	nt, _ := reg.Lookup("rand_float")
	if !nt.NoCache {
		t.Error("rand_float may be cached")
	}
}

// TestFloatRange: expected values from NumPy 1.24's linspace.
func TestFloatRange(t *testing.T) {
	reg, ctx := primRegistry()
	cases := []struct {
		start, stop float64
		steps       int
		want        []float64
	}{
		{0.1, 0.7, 7, []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7}},
		{5, 10, 30, []float64{5.0, 5.172413793103448, 5.344827586206897, 5.517241379310345, 5.689655172413794, 5.862068965517241,
			6.0344827586206895, 6.206896551724138, 6.379310344827586, 6.551724137931035, 6.724137931034483, 6.896551724137931,
			7.068965517241379, 7.241379310344827, 7.413793103448276, 7.586206896551724, 7.758620689655173, 7.931034482758621,
			8.10344827586207, 8.275862068965518, 8.448275862068966, 8.620689655172415, 8.793103448275861, 8.96551724137931,
			9.137931034482758, 9.310344827586206, 9.482758620689655, 9.655172413793103, 9.827586206896552, 10.0}},
		{1, 1, 3, []float64{1, 1, 1}},
		{3, 9, 1, []float64{3}},
		{-1e-300, 1e-300, 4, []float64{-1e-300, -3.3333333333333334e-301, 3.3333333333333334e-301, 1e-300}},
		{0, 1, 0, []float64{}},
	}
	for _, c := range cases {
		out, err := invoke(t, reg, ctx, "float_range", jsonOf(map[string]any{"start": c.start, "stop": c.stop, "steps": c.steps}))
		if err != nil {
			t.Fatal(err)
		}
		var got []float64
		field(t, out, "collection", &got)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("linspace(%v, %v, %d) = %v, want %v", c.start, c.stop, c.steps, got, c.want)
		}
	}
	if _, err := invoke(t, reg, ctx, "float_range", `{"steps":-1}`); err == nil {
		t.Error("negative steps accepted")
	}
	if _, err := invoke(t, reg, ctx, "float_range", `{"steps":1048577}`); err == nil {
		t.Error("steps beyond the bound accepted")
	}
}

func TestRangeOfSize(t *testing.T) {
	reg, ctx := primRegistry()
	for _, c := range []struct {
		fields string
		want   []int64
	}{
		{`{}`, []int64{0}}, {`{"start":3,"size":4,"step":2}`, []int64{3, 5, 7, 9}}, {`{"start":0,"size":3,"step":-5}`, []int64{0, -5, -10}},
	} {
		out, err := invoke(t, reg, ctx, "range_of_size", c.fields)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		field(t, out, "collection", &got)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.fields, got, c.want)
		}
	}
	for _, bad := range []string{`{"step":0}`, `{"size":0}`, `{"size":1048577}`, `{"start":9223372036854775806,"size":3}`} {
		if _, err := invoke(t, reg, ctx, "range_of_size", bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestStringNodes(t *testing.T) {
	reg, ctx := primRegistry()
	str := func(typ, fields, out string) string {
		t.Helper()
		o, err := invoke(t, reg, ctx, typ, fields)
		if err != nil {
			t.Fatalf("%s %s: %v", typ, fields, err)
		}
		var s string
		field(t, o, out, &s)
		return s
	}
	if got := str("string_join", `{"string_left":"a ","string_right":"b"}`, "value"); got != "a b" {
		t.Errorf("string_join: %q", got)
	}
	if got := str("string_join_three", `{"string_left":"a","string_middle":"-","string_right":"c"}`, "value"); got != "a-c" {
		t.Errorf("string_join_three: %q", got)
	}
	for _, c := range []struct{ s, delim, one, two string }{
		{"a,b,c", ",", "a", "b,c"}, {"abc", ",", "abc", ""}, {"a::b", "::", "a", "b"},
		// An empty delimiter splits as Python's str.split(None, 1).
		{"  hello \t big\nworld ", "", "hello", "big\nworld "}, {"one", "", "one", ""}, {"   ", "", "", ""},
		{"a\x1cb", "", "a", "b"},
	} {
		f := jsonOf(map[string]any{"string": c.s, "delimiter": c.delim})
		if one, two := str("string_split", f, "string_1"), str("string_split", f, "string_2"); one != c.one || two != c.two {
			t.Errorf("split(%q, %q) = %q, %q; want %q, %q", c.s, c.delim, one, two, c.one, c.two)
		}
	}
	// As InvokeAI's loop computes them: "[" adds a space to the negative text, "]" is dropped, an escaped bracket
	// is text (its backslash kept), and a stray "]" leaves the depth at -1, so "[in]" after it stays positive.
	for _, c := range []struct{ s, pos, neg string }{
		{"a cat [ugly, blurry] on a mat", "a cat  on a mat", " ugly, blurry"},
		{`a \[b\] [c]`, `a \[b\] `, " c"},
		{"x [[deep] y] z", "x  z", "  deep y"},
		{"] after [in]", " after in", " "},
	} {
		f := jsonOf(map[string]any{"string": c.s})
		if pos, neg := str("string_split_neg", f, "positive_string"), str("string_split_neg", f, "negative_string"); pos != c.pos || neg != c.neg {
			t.Errorf("split_neg(%q) = %q, %q; want %q, %q", c.s, pos, neg, c.pos, c.neg)
		}
	}
	for _, c := range []struct {
		s, search, repl string
		regex           bool
		want            string
	}{
		{"A cat and a CAT", "cat", "dog", false, "A dog and a dog"},
		{"1+1=2", "1+1", "two", false, "two=2"},
		{"a.b.c", ".", `\n`, false, "a\nb\nc"},
		{"John Smith", `(\w+) (\w+)`, `\2, \1`, true, "Smith, John"},
		{"John Smith", `(?P<first>\w+) (?P<last>\w+)`, `\g<last> \g<first>! \g<0>`, true, "Smith John! John Smith"},
		{"abc", "b", `[\.]`, false, `a[\.]c`},
		{"abc", "b", `\101`, false, "aAc"},
		{"x", "", "y", true, "x"},
		{"aaa", "a", `\0`, false, "\x00\x00\x00"},
		{"ab", "(a)|(b)", `[\2]`, true, "[][b]"},
	} {
		f := jsonOf(map[string]any{"string": c.s, "search_string": c.search, "replace_string": c.repl, "use_regex": c.regex})
		if got := str("string_replace", f, "value"); got != c.want {
			t.Errorf("replace(%q, %q, %q, %v) = %q, want %q", c.s, c.search, c.repl, c.regex, got, c.want)
		}
	}
	for _, c := range []struct {
		search, repl string
		regex        bool
	}{{"a", `\q`, false}, {"a", `\1`, false}, {"(a", "", true}, {"a", `\g<x>`, false}, {"a", `x\`, false}, {`(?=a)`, "", true}} {
		f := jsonOf(map[string]any{"string": "abc", "search_string": c.search, "replace_string": c.repl, "use_regex": c.regex})
		if _, err := invoke(t, reg, ctx, "string_replace", f); err == nil || !strings.Contains(err.Error(), "ValueError") {
			t.Errorf("replace(%q, %q) error %v, want a ValueError", c.search, c.repl, err)
		}
	}
}

func TestPrimitiveValues(t *testing.T) {
	reg, ctx := primRegistry()
	out, err := invoke(t, reg, ctx, "color", `{}`)
	if err != nil || string(out["color"]) != `{"r":0,"g":0,"b":0,"a":255}` {
		t.Fatalf("color default: %s %v", out["color"], err)
	}
	out, err = invoke(t, reg, ctx, "bounding_box", `{"x_min":1,"y_min":2,"x_max":30,"y_max":40}`)
	if err != nil || string(out["bounding_box"]) != `{"x_min":1,"x_max":30,"y_min":2,"y_max":40,"score":null}` {
		t.Fatalf("bounding_box: %s %v", out["bounding_box"], err)
	}
	out, err = invoke(t, reg, ctx, "image_collection", `{"collection":[{"image_name":"a.png"},{"image_name":"b.png"}]}`)
	if err != nil || string(out["collection"]) != `[{"image_name":"a.png"},{"image_name":"b.png"}]` {
		t.Fatalf("image_collection: %s %v", out["collection"], err)
	}
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
