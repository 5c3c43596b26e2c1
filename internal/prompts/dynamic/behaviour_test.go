package dynamic

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func expand(t *testing.T, prompt string, o Options) []string {
	t.Helper()
	got, err := Expand(prompt, o)
	if err != nil {
		t.Fatalf("%q: %v", prompt, err)
	}
	return got
}

func comb(n int) Options { return Options{MaxPrompts: n, Combinatorial: true} }

func seeded(n int, seed int64) Options { return Options{MaxPrompts: n, Seed: &seed} }

// TestPyRandomMatchesCPython: the draws behind seeded random expansions equal CPython's random.Random (values
// printed by testdata/dynamicprompts/make_goldens.py's companion one-liners: getrandbits(32), random(),
// randint(0, 5) five times then randint(1, 1) and randint(2, 3), choices(range(3), [0.5, 2, 1]) six times).
func TestPyRandomMatchesCPython(t *testing.T) {
	cases := []struct {
		seed    int64
		u32     []uint32
		floats  []float64
		randint []int
		choice  []int
	}{
		{0, []uint32{3626764237, 1654615998, 3255389356}, []float64{0.890243920837131, 0.04048437818077755}, []int{4, 3, 3, 2, 3, 1, 2}, []int{1, 1, 2, 1, 1, 2}},
		{1, []uint32{577090037, 2444712010, 3639700191}, []float64{0.8022650611681835, 0.06310682188770933}, []int{0, 3, 3, 3, 5, 1, 2}, []int{0, 0, 2, 1, 2, 0}},
		{42, []uint32{2746317213, 478163327, 107420369}, []float64{0.7415504997598329, 0.24489185380347622}, []int{1, 5, 0, 5, 5, 1, 3}, []int{0, 0, 1, 1, 1, 2}},
		{-7, []uint32{1390851128, 4071050724, 647892279}, []float64{0.3948234964231735, 0.04828642362681235}, []int{4, 0, 2, 4, 0, 1, 2}, []int{0, 1, 1, 1, 0, 1}},
		{4294967301, []uint32{675479763, 2085189291, 1213270837}, []float64{0.8899258643720599, 0.8353252635488171}, []int{2, 5, 1, 5, 3, 1, 2}, []int{1, 1, 2, 2, 1, 1}},
		{9223372036854775807, []uint32{1359979423, 2819855560, 2711238091}, []float64{0.1326851532128024, 0.4909373406578885}, []int{0, 3, 5, 5, 4, 1, 2}, []int{1, 1, 0, 1, 2, 0}},
		{-9223372036854775808, []uint32{2377109768, 1691753470, 4039908392}, []float64{0.20933427096899082, 0.9692138720399663}, []int{4, 0, 2, 2, 4, 1, 3}, []int{1, 2, 1, 1, 2, 2}},
	}
	for _, c := range cases {
		r := newPyRandom(c.seed)
		for i, want := range c.u32 {
			if got := r.uint32(); got != want {
				t.Fatalf("seed %d: draw %d = %d, want %d", c.seed, i, got, want)
			}
		}
		for _, want := range c.floats {
			if got := r.float64(); got != want {
				t.Fatalf("seed %d: random() = %v, want %v", c.seed, got, want)
			}
		}
		var ints []int
		for range 5 {
			ints = append(ints, r.randint(0, 5))
		}
		ints = append(ints, r.randint(1, 1), r.randint(2, 3))
		if !slices.Equal(ints, c.randint) {
			t.Fatalf("seed %d: randint %v, want %v", c.seed, ints, c.randint)
		}
		var picks []int
		for range 6 {
			i, ok := r.choice([]float64{0.5, 2, 1})
			if !ok {
				t.Fatal("choice refused positive weights")
			}
			picks = append(picks, i)
		}
		if !slices.Equal(picks, c.choice) {
			t.Fatalf("seed %d: choices %v, want %v", c.seed, picks, c.choice)
		}
	}
	if _, ok := newPyRandom(1).choice([]float64{0, 0}); ok {
		t.Fatal("weights adding up to zero were drawn from")
	}
}

// TestWhatTheUISends: the InvokeAI UI's case from the issue, and its random counterpart.
func TestWhatTheUISends(t *testing.T) {
	if got := expand(t, "a {red|blue} fox", comb(100)); !slices.Equal(got, []string{"a red fox", "a blue fox"}) {
		t.Fatalf("got %q", got)
	}
	got := expand(t, "a {red|blue} fox", Options{MaxPrompts: 5})
	if len(got) != 5 {
		t.Fatalf("random gave %d prompts", len(got))
	}
	for _, p := range got {
		if p != "a red fox" && p != "a blue fox" {
			t.Fatalf("random prompt %q", p)
		}
	}
	// Unseeded draws differ between calls (over 64 prompts, the chance of equality is 2^-64).
	a, b := expand(t, "{x|y}", Options{MaxPrompts: 64}), expand(t, "{x|y}", Options{MaxPrompts: 64})
	if slices.Equal(a, b) {
		t.Fatal("two unseeded random expansions drew the same 64 prompts")
	}
	if got := expand(t, "", comb(10)); len(got) != 0 {
		t.Fatalf("empty template: %q", got)
	}
	if got := expand(t, "{a|b}", comb(0)); len(got) != 0 {
		t.Fatalf("max 0: %q", got)
	}
}

func TestEscapesAndLenientText(t *testing.T) {
	cases := []struct{ in, out string }{
		{`a \{literal\} {b|c}`, "a {literal} b"},
		{`{a\|b|c}`, "a|b"},
		{`50% off, $5 {x|y}`, "50% off, $5 x"},
		{`{50% off|$5}`, "50% off"},
		{`\#not a comment {x|y}`, "#not a comment x"},
		{`snake\_\_case__ {x|y}`, "snake__case__ x"},
		{`my__thing {x|y}`, "my__thing x"},
		{`keep \(compel\) weights \) {x|y}`, `keep \(compel\) weights \) x`},
		{`trailing backslash {x|y}\`, `trailing backslash x\`},
	}
	for _, c := range cases {
		got := expand(t, c.in, comb(1))
		if len(got) != 1 || got[0] != c.out {
			t.Errorf("%q: got %q, want %q", c.in, got, c.out)
		}
	}
}

func TestWildcardsAreRefusedClearly(t *testing.T) {
	for _, p := range []string{"a __colors__ fox", "{__animals__|b}", "__~hair_styles__", "x __a/b*__"} {
		_, err := Expand(p, comb(10))
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(e.Msg, "wildcards are not supported") || !strings.Contains(e.Msg, "__") {
			t.Errorf("%q: %v", p, err)
		}
	}
}

func TestSyntaxErrorsSayWhere(t *testing.T) {
	cases := []struct{ in, want string }{
		{"a {b|c", "'{' is never closed (at char 2), (line:1, col:3)"},
		{"x\n{{a|b}", "(line:2"},
		{"{a|b", "never closed"},
		{"${name", "expected '}'"},
		{"{${v=x}|y}", "only be assigned outside"},
		{"%{a$$b", "expected '}'"},
		{"%{ab}", "expected '$$'"},
		{"${ }", "expected a variable name"},
	}
	for _, c := range cases {
		_, err := Expand(c.in, comb(5))
		var e *Error
		if !errors.As(err, &e) || !e.Syntax || !strings.Contains(e.Msg, c.want) {
			t.Errorf("%q: %v, want a syntax error containing %q", c.in, err, c.want)
		}
	}
	for _, p := range []string{"${undefined}", "${a=${a}} ${a}", "{0::a|0::b}"} {
		_, err := Expand(p, seeded(3, 1))
		var e *Error
		if !errors.As(err, &e) || e.Syntax {
			t.Errorf("%q: %v, want a non-syntax *Error", p, err)
		}
	}
}

// TestExpansionIsBoundedBeforeItGrows: the attack from the issue and its relatives finish at once with
// max_prompts results or a clear error, never by enumerating everything.
func TestExpansionIsBoundedBeforeItGrows(t *testing.T) {
	start := time.Now()
	sixty := strings.Repeat("{a|b}", 60)
	got := expand(t, sixty, comb(MaxPrompts))
	if len(got) != MaxPrompts || got[0] != strings.Repeat("a", 60) || got[1] != strings.Repeat("a", 59)+"b" {
		t.Fatalf("2^60 combinations: %d prompts, first %q", len(got), got[:2])
	}
	if got := expand(t, sixty, Options{MaxPrompts: MaxPrompts}); len(got) != MaxPrompts {
		t.Fatalf("random: %d", len(got))
	}
	// Nested ranges whose combinations are nearly all duplicates: a bounded error, not minutes of work.
	// Twenty options that are different templates but all say "a": every choice of six collapses to one value
	// and is skipped, so the library would search its 27 million choices without ever giving a prompt.
	opts := []string{"a"}
	for i := 1; i < 20; i++ {
		opts = append(opts, strings.Repeat("{", i)+"a"+strings.Repeat("}", i))
	}
	many := "{6$$" + strings.Join(opts, "|") + "}"
	if _, err := Expand(many, comb(10)); err == nil || !strings.Contains(err.Error(), "too many combinations") {
		t.Fatalf("a range over duplicate options: %v", err)
	}
	// A long but reasonable prompt: two thousand variants in a row.
	long := strings.Repeat("{a|b} ", 2000)
	if got := expand(t, long, comb(3)); len(got) != 3 || got[2] != strings.Repeat("a ", 1998)+"b a " {
		t.Fatalf("2000 variants: %d prompts", len(got))
	}
	// Cyclical choices are made one at a time.
	var cyc []string
	for i := range 40 {
		cyc = append(cyc, fmt.Sprint("x", i))
	}
	if got := expand(t, "{@8$$"+strings.Join(cyc, "|")+"}", comb(3)); len(got) != 3 || got[0] != "x0,x1,x2,x3,x4,x5,x6,x7" {
		t.Fatalf("cyclical: %q", got)
	}
	// Output size.
	var digits []string
	for i := range 400 {
		digits = append(digits, fmt.Sprint(i))
	}
	big := "{" + strings.Repeat("w", 60000) + "|v}{" + strings.Join(digits, "|") + "}"
	if _, err := Expand(big, comb(MaxPrompts)); err == nil || !strings.Contains(err.Error(), "MiB") {
		t.Fatalf("16 MiB of output: %v", err)
	}
	// Template size, nesting depth, options, max_prompts.
	for _, c := range []struct {
		in   string
		want string
	}{
		{strings.Repeat("x", MaxTemplateBytes+1), "at most"},
		{strings.Repeat("{", MaxDepth+1) + "a" + strings.Repeat("}", MaxDepth+1), "deep"},
		{strings.Repeat("${a:", MaxDepth+1), "deep"},
		{"{" + strings.Repeat("a|", maxOptions) + "b}", "options"},
	} {
		if _, err := Expand(c.in, comb(1)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.20q…: %v, want %q", c.in, err, c.want)
		}
	}
	if _, err := Expand("{a|b}", comb(MaxPrompts+1)); err == nil {
		t.Error("more than MaxPrompts prompts were allowed")
	}
	if d := time.Since(start); d > time.Minute {
		t.Logf("bounded expansions took %v", d) // informative: the bound is on work, not on time
	}
}

func TestDeepButAllowedNesting(t *testing.T) {
	var b strings.Builder
	for i := range MaxDepth {
		fmt.Fprintf(&b, "{a%d|", i)
	}
	p := b.String() + "z" + strings.Repeat("}", MaxDepth)
	got := expand(t, p, comb(100))
	if len(got) != MaxDepth+1 || got[0] != "a0" || got[len(got)-1] != "z" {
		t.Fatalf("%d prompts: %q", len(got), got)
	}
}

func ExampleExpand() {
	seed := int64(42)
	fmt.Println(Expand("a {red|blue} fox", Options{MaxPrompts: 10, Combinatorial: true}))
	fmt.Println(Expand("{2$$ and $$sun|rain|fog}", Options{MaxPrompts: 2, Seed: &seed}))
	// Output:
	// [a red fox a blue fox] <nil>
	// [sun and rain sun and rain] <nil>
}

// TestVariablesCannotDoubleTheirWayPastTheBounds: each variable used twice in the next one's value doubles the
// prompt at every level (2^40 × 8 bytes here); the expansion stops with an error before it builds a string over
// the output bound.
func TestVariablesCannotDoubleTheirWayPastTheBounds(t *testing.T) {
	var b strings.Builder
	b.WriteString("${v0=abcdefgh}")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "${v%d=${v%d}${v%d}}", i, i-1, i-1)
	}
	b.WriteString("${v40}")
	for _, o := range []Options{comb(1), seeded(1, 3)} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Expand(b.String(), o)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), "longer than") && !strings.Contains(err.Error(), "too many") && !strings.Contains(err.Error(), "parts at once") {
			t.Fatalf("doubling variables: %v", err)
		}
		// The work bound caps what an expansion allocates in all (measured: 177 MiB combinatorial, 53 MiB random).
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 400<<20 {
			t.Errorf("the refused expansion allocated %d MiB", grew>>20)
		}
	}
	// Ten levels (8 KiB) are fine.
	var small strings.Builder
	small.WriteString("${v0=abcdefgh}")
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&small, "${v%d=${v%d}${v%d}}", i, i-1, i-1)
	}
	small.WriteString("${v10}")
	got := expand(t, small.String(), comb(1))
	if len(got) != 1 || len(got[0]) != 8<<10 {
		t.Fatalf("ten doublings: %d prompts of %d bytes", len(got), len(got[0]))
	}
}
