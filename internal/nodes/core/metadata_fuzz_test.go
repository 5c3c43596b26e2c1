package core_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/invokego/invokego/internal/nodes"
)

// FuzzMetadataToValues reads arbitrary metadata through every metadata_to_* node of this package: no panic, and
// a failure is a node error.
func FuzzMetadataToValues(f *testing.F) {
	for _, s := range []string{`{"x": 1.5}`, `{"x": "7"}`, `{"x": [1, "a", null, {"b": [true]}]}`, `{"x": {"k": 1e300}}`,
		`{"x": null}`, `{"x": "inf"}`, `{"x": -9.3e18}`, `{"x": "'quoted' \"too\""}`} {
		f.Add([]byte(s))
	}
	reg, ctx := primRegistry()
	types := []string{"metadata_to_string", "metadata_to_integer", "metadata_to_float", "metadata_to_bool",
		"metadata_to_string_collection", "metadata_to_integer_collection", "metadata_to_float_collection", "metadata_to_bool_collection"}
	defaults := map[string]string{"metadata_to_string": `"d"`, "metadata_to_integer": `0`, "metadata_to_float": `0`, "metadata_to_bool": `false`}
	f.Fuzz(func(t *testing.T, md []byte) {
		var m map[string]any
		if json.Unmarshal(md, &m) != nil {
			return
		}
		for _, typ := range types {
			def, ok := defaults[typ]
			if !ok {
				def = `[]`
			}
			nt, _ := reg.Lookup(typ)
			inv, err := nt.Decode(map[string]json.RawMessage{"metadata": md, "label": json.RawMessage(`"* CUSTOM LABEL *"`),
				"custom_label": json.RawMessage(`"x"`), "default_value": json.RawMessage(def)}, nil)
			if err != nil {
				continue
			}
			out, err := inv.Invoke(ctx)
			if err != nil {
				var ne *nodes.NodeError
				if !errors.As(err, &ne) {
					t.Fatalf("%s: %v is not a node error", typ, err)
				}
				continue
			}
			if _, err := nodes.EncodeOutput(out); err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
		}
	})
}
