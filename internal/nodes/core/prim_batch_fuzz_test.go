package core_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/nodes/core"
)

// FuzzGenerators feeds arbitrary generator settings to the four generator nodes: no panic, a node error or a
// result of at most core.MaxGenerated values.
func FuzzGenerators(f *testing.F) {
	for _, s := range []string{
		`{"type":"float_generator_arithmetic_sequence","start":1,"step":0.5,"count":4}`,
		`{"type":"float_generator_random_distribution_uniform","min":-1,"max":1,"count":5,"seed":3}`,
		`{"type":"integer_generator_linear_distribution","start":0,"end":10,"count":5}`,
		`{"type":"integer_generator_parse_string","input":"1, 2,x,-3e5","splitOn":","}`,
		`{"type":"string_generator_parse_string","input":"a\nb","splitOn":"\\n"}`,
		`{"type":"string_generator_dynamic_prompts_combinatorial","input":"{a|b} {c|d}","maxPrompts":3}`,
		`{"type":"float_generator_parse_string","input":"Infinity, -1.5e999, .5, 5.","splitOn":""}`,
		`{"values":[1,2,3]}`, `{"type":"image_generator_images_from_board","values":[{"image_name":"a"}]}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	reg, ctx := primRegistry()
	f.Fuzz(func(t *testing.T, spec []byte) {
		if !json.Valid(spec) {
			return
		}
		for _, c := range []struct{ typ, out string }{
			{"float_generator", "floats"}, {"integer_generator", "integers"}, {"string_generator", "strings"}, {"image_generator", "images"},
		} {
			nt, _ := reg.Lookup(c.typ)
			inv, err := nt.Decode(map[string]json.RawMessage{"generator": spec}, nil)
			if err != nil {
				continue
			}
			out, err := inv.Invoke(ctx)
			if err != nil {
				var ne *nodes.NodeError
				if !errors.As(err, &ne) {
					t.Fatalf("%s: %v is not a node error", c.typ, err)
				}
				continue
			}
			enc, err := nodes.EncodeOutput(out)
			if err != nil {
				t.Fatalf("%s: %v", c.typ, err)
			}
			var vals []json.RawMessage
			if err := json.Unmarshal(enc[c.out], &vals); err != nil {
				t.Fatalf("%s output %s: %v", c.typ, enc[c.out], err)
			}
			if len(vals) > core.MaxGenerated {
				t.Fatalf("%s made %d values", c.typ, len(vals))
			}
		}
	})
}
