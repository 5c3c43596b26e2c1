package prompt

import (
	"math"
	"reflect"
	"testing"
)

func frags(pairs ...any) []Fragment {
	var out []Fragment
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, Fragment{Text: pairs[i].(string), Weight: pairs[i+1].(float64)})
	}
	return out
}

func approxEqual(a, b []Fragment) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Text != b[i].Text || math.Abs(a[i].Weight-b[i].Weight) > 1e-12 {
			return false
		}
	}
	return true
}

func TestParseFragments(t *testing.T) {
	cases := []struct {
		in   string
		want []Fragment
	}{
		{"a photo of a cat", frags("a photo of a cat", 1.0)},
		{"  a   photo\tof\na cat  ", frags("a photo of a cat", 1.0)},
		{"", nil},
		{"a cat+", frags("a", 1.0, "cat", 1.1)},
		{"a cat++ on a mat", frags("a", 1.0, "cat", 1.1*1.1, "on a mat", 1.0)},
		{"a cat-", frags("a", 1.0, "cat", 0.9)},
		{"a cat---", frags("a", 1.0, "cat", 0.9*0.9*0.9)},
		{"a (red cat)1.3 in a box", frags("a", 1.0, "red cat", 1.3, "in a box", 1.0)},
		{"(red cat)+", frags("red cat", 1.1)},
		{"(red cat)--", frags("red cat", 0.81)},
		{"(a (b)0.5)2", frags("a", 2.0, "b", 1.0)},
		{"((nested)+)0.5", frags("nested", 0.55)},
		{"(cat)1.3 dog", frags("cat", 1.3, "dog", 1.0)},
		{"(cat)0 dog", frags("cat", 0.0, "dog", 1.0)},
		{"(cat).5", frags("cat", 0.5)},
		{`"a quoted cat"1.2 sits`, frags("a quoted cat", 1.2, "sits", 1.0)},
		{`"quoted"++`, frags("quoted", 1.21)},
		{`\(not weighted\)`, frags("(not weighted)", 1.0)},
		{`a \"quote\" and \+ plus`, frags(`a "quote" and + plus`, 1.0)},
		{"e-mail a+b ISO-100", frags("e-mail a+b ISO-100", 1.0)},
		{"masterpiece, best quality, 1girl", frags("masterpiece, best quality, 1girl", 1.0)},
		{"f/1.8, 35mm, 3.14159", frags("f/1.8, 35mm, 3.14159", 1.0)},
		{"a cat.", frags("a cat.", 1.0)},
		{"a + b", frags("a + b", 1.0)},
		{"cat+, dog-", frags("cat", 1.1, ",", 1.0, "dog", 0.9)},
		{"(a cat).swap(dog) on a mat", frags("a cat on a mat", 1.0)},
		{"(masterpiece:1.2)", frags("masterpiece:1.2", 1.0)},
		{"café crème+", frags("café", 1.0, "crème", 1.1)},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if len(got.Parts) != 1 || got.Parts[0].Blend != nil {
			t.Errorf("Parse(%q): parts %+v", c.in, got.Parts)
			continue
		}
		if !approxEqual(got.Parts[0].Fragments, c.want) {
			t.Errorf("Parse(%q) =\n %+v\nwant\n %+v", c.in, got.Parts[0].Fragments, c.want)
		}
	}
}

func TestParseAnd(t *testing.T) {
	got, err := Parse(`("a cat", "a dog++").and()`)
	if err != nil {
		t.Fatal(err)
	}
	want := Conjunction{
		Parts:   []Part{{Fragments: frags("a cat", 1.0)}, {Fragments: frags("a", 1.0, "dog", 1.21)}},
		Weights: []float64{1, 1},
	}
	if len(got.Parts) != 2 || !approxEqual(got.Parts[0].Fragments, want.Parts[0].Fragments) ||
		!approxEqual(got.Parts[1].Fragments, want.Parts[1].Fragments) || !reflect.DeepEqual(got.Weights, want.Weights) {
		t.Errorf("got %+v want %+v", got, want)
	}
	got, err = Parse(`("a cat", "a dog").and(1, 0.5)`)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Weights, []float64{1, 0.5}) {
		t.Errorf("weights %v", got.Weights)
	}
}

func TestParseBlend(t *testing.T) {
	got, err := Parse(` ("a photo of a cat", "a (watercolor)1.2 painting").blend(0.7, 0.3) `)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Parts) != 1 || got.Parts[0].Blend == nil {
		t.Fatalf("got %+v", got)
	}
	b := got.Parts[0].Blend
	if !reflect.DeepEqual(b.Weights, []float64{0.7, 0.3}) || !b.Normalize {
		t.Errorf("blend weights %v normalize %v", b.Weights, b.Normalize)
	}
	if !approxEqual(b.Prompts[1], frags("a", 1.0, "watercolor", 1.2, "painting", 1.0)) {
		t.Errorf("blend prompt 2 = %+v", b.Prompts[1])
	}
	got, err = Parse(`("a", "b").blend(1, 1, no_normalize)`)
	if err != nil {
		t.Fatal(err)
	}
	if got.Parts[0].Blend.Normalize {
		t.Error("no_normalize ignored")
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"(unclosed",
		"closed)",
		`"unterminated`,
		`("a", "b").blend(0.5)`,
		`("a", "b").and(x, y)`,
	} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) succeeded, want error", in)
		}
		c, err := ParseOrPlain(in)
		if err == nil {
			t.Errorf("ParseOrPlain(%q) returned no error", in)
		}
		if len(c.Parts) != 1 || len(c.Parts[0].Fragments) != 1 || c.Parts[0].Fragments[0].Weight != 1 {
			t.Errorf("ParseOrPlain(%q) = %+v, want one plain fragment", in, c)
		}
	}
}

func TestDeepNesting(t *testing.T) {
	in := ""
	for range 1000 {
		in += "("
	}
	if _, err := Parse(in + "x"); err == nil {
		t.Error("deep nesting accepted")
	}
}

func TestText(t *testing.T) {
	c, err := Parse("a (red cat)1.3 in a box")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Text(); got != "a red cat in a box" {
		t.Errorf("Text() = %q", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"a cat+", "(a (b)0.5)2", `("a", "b").blend(0.7, 0.3)`, `\(x\)`, "((((", "cat.swap(", `"`, "1.2.3", "(x)1e5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseOrPlain(s)
		if err == nil && len(c.Parts) == 0 {
			t.Fatalf("no parts for %q", s)
		}
		for _, p := range c.Parts {
			for _, fr := range p.Fragments {
				if math.IsNaN(fr.Weight) || math.IsInf(fr.Weight, 0) {
					t.Fatalf("bad weight in %q: %+v", s, fr)
				}
			}
		}
	})
}

func TestWeightOverflow(t *testing.T) {
	big := "(((x)199999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999)" +
		"99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999)" +
		"99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
	if _, err := Parse(big); err == nil {
		t.Error("overflowing weight accepted")
	}
}
