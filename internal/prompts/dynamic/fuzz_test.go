package dynamic

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzExpand: whatever the template, an expansion ends with at most MaxPrompts prompts or an *Error, never a
// panic, a hang or unbounded output.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{
		"a {red|blue} fox", "{2$$ and $$a|b|c}", "{1-3$$a|b|{c|d}}", "{0.5::a|2::b}", "${c={x|y}} ${c} ${c:z}",
		"%{a ... b$${x|y}}", "{@a|b}{~c|d}", "{!a|{b|c}}", "x #c {a|b}\n{d|e}", "{a|b} /* c */ // d",
		`\{a\|b\} {c|d}`, "__wild__", "${a=${a}} ${a}", "{-2$$", "{2-$$x|y}", "{{{{{{{{{{", "}}}}|||", "$$$%%%{",
		strings.Repeat("{a|b}", 60), "{12$$" + strings.Repeat("{a|b}|", 30) + "c}", "{9$$ $$a|b|c|d|e|f|g|h|i}",
		"%{…$$%{…$${a|b}}}", "${x?=!{a|b}}${x}", "{3::a|-1.5::b|+.5::c}", "{0::a|0::b}", "\x00{\xff|\xfe}",
		"${a=xy}${b=${a}${a}}${c=${b}${b}}${d=${c}${c}}${e=${d}${d}}${e}${e}", "${a=${b}}${b=${a}}${a}",
	} {
		f.Add(s, uint16(10), true, int64(1))
		f.Add(s, uint16(10), false, int64(-3))
	}
	f.Fuzz(func(t *testing.T, template string, n uint16, combinatorial bool, seed int64) {
		max := int(n) % 200
		got, err := Expand(template, Options{MaxPrompts: max, Combinatorial: combinatorial, Seed: &seed})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Msg == "" {
				t.Fatalf("%q: error %v is not an *Error with a message", template, err)
			}
			return
		}
		if len(got) > max {
			t.Fatalf("%q: %d prompts, asked for at most %d", template, len(got), max)
		}
		total := 0
		for _, p := range got {
			total += len(p)
			if !utf8.ValidString(p) {
				t.Fatalf("%q: prompt %q is not UTF-8", template, p)
			}
		}
		if total > MaxOutputBytes {
			t.Fatalf("%q: %d bytes of prompts", template, total)
		}
		// Expansion is deterministic for a seed.
		again, err := Expand(template, Options{MaxPrompts: max, Combinatorial: combinatorial, Seed: &seed})
		if err != nil || strings.Join(again, "\x00") != strings.Join(got, "\x00") {
			t.Fatalf("%q: a second expansion with the same seed differs", template)
		}
		if Check(template) != nil {
			t.Fatalf("%q: expands but Check refuses it", template)
		}
	})
}
