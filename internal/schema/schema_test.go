package schema

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apperr"
)

type color string

func (color) EnumValues() []string { return []string{"red", "green"} }

type size string

func (size) LiteralValues() []string { return []string{"s", "m"} }

type sample struct {
	Width  int      `json:"width" gt:"0" le:"16384" multiple_of:"8" default:"512" description:"Width"`
	Scale  float64  `json:"scale" ge:"0.5" lt:"4.0"`
	Name   string   `json:"name" min_length:"1" max_length:"3"`
	Tags   []string `json:"tags" max_length:"2"`
	Color  *color   `json:"color,omitempty"`
	Sizes  []size   `json:"sizes,omitempty"`
	Nested *sample  `json:"nested,omitempty"`
}

// Each rule fails with pydantic's error type, message and ctx.
func TestRulesCheck(t *testing.T) {
	rules := func(name string) *Rules {
		f, _ := reflect.TypeOf(sample{}).FieldByName(name)
		r, err := Of(reflect.TypeOf(sample{}), f.Index[0])
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	red, blue := color("red"), color("blue")
	cases := []struct {
		field string
		value any
		typ   string
		msg   string
		ctx   map[string]any
	}{
		{"Width", 512, "", "", nil},
		{"Width", 0, "greater_than", "Input should be greater than 0", map[string]any{"gt": int64(0)}},
		{"Width", 20000, "less_than_equal", "Input should be less than or equal to 16384", map[string]any{"le": int64(16384)}},
		{"Width", 100, "multiple_of", "Input should be a multiple of 8", map[string]any{"multiple_of": int64(8)}},
		{"Scale", 0.25, "greater_than_equal", "Input should be greater than or equal to 0.5", map[string]any{"ge": 0.5}},
		{"Scale", 4.0, "less_than", "Input should be less than 4.0", map[string]any{"lt": 4.0}},
		{"Name", "", "string_too_short", "String should have at least 1 character", map[string]any{"min_length": 1}},
		{"Name", "abcd", "string_too_long", "String should have at most 3 characters", map[string]any{"max_length": 3}},
		{"Tags", []string{"a", "b", "c"}, "too_long", "List should have at most 2 items after validation, not 3",
			map[string]any{"field_type": "List", "max_length": 2, "actual_length": 3}},
		{"Color", &red, "", "", nil},
		{"Color", (*color)(nil), "", "", nil},
		{"Color", &blue, "enum", "Input should be 'red' or 'green'", map[string]any{"expected": "'red' or 'green'"}},
		{"Sizes", []size{"s", "xl"}, "literal_error", "Input should be 's' or 'm'", map[string]any{"expected": "'s' or 'm'"}},
	}
	for _, c := range cases {
		items := rules(c.field).Check(reflect.ValueOf(c.value), []any{"body", c.field})
		if c.typ == "" {
			if len(items) != 0 {
				t.Errorf("%s=%v: %+v", c.field, c.value, items)
			}
			continue
		}
		if len(items) != 1 || items[0].Type != c.typ || items[0].Msg != c.msg || !reflect.DeepEqual(items[0].Ctx, c.ctx) {
			t.Errorf("%s=%v: %+v, want %s %q %v", c.field, c.value, items, c.typ, c.msg, c.ctx)
		}
	}
}

// A tag outside the vocabulary, or a bound that is not a number, is refused.
func TestRulesRefuseUnknownTags(t *testing.T) {
	type old struct {
		A int    `json:"a" min:"1"`
		B string `json:"b" enum:"x,y"`
		C int    `json:"c" le:"lots"`
	}
	for i := 0; i < 3; i++ {
		if _, err := Of(reflect.TypeOf(old{}), i); err == nil {
			t.Errorf("field %d accepted", i)
		}
	}
}

// Check walks nested values: missing fields, null for a non-pointer, rules at every depth.
func TestCheckWalksNestedValues(t *testing.T) {
	raw := `{"width":512,"scale":1,"name":"ab","tags":[],"nested":{"width":7,"scale":1,"tags":[]}}`
	var v sample
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		t.Fatal(err)
	}
	var tree any
	_ = json.Unmarshal([]byte(raw), &tree)
	items := Check(reflect.ValueOf(&v), tree, []any{"body"})
	var got []string
	for _, it := range items {
		got = append(got, it.Type+"@"+locString(it.Loc))
	}
	want := []string{"multiple_of@body.nested.width", "missing@body.nested.name"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("items %v, want %v", got, want)
	}
}

func locString(loc []any) string {
	b, _ := json.Marshal(loc)
	return strings.NewReplacer(`"`, "", "[", "", "]", "", ",", ".").Replace(string(b))
}

type settings struct {
	Steps *int     `json:"steps" gt:"0"`
	CFG   *float64 `json:"cfg" ge:"1"`
	On    *bool    `json:"on"`
	Size  *size    `json:"size"`
	Need  *string  `json:"need" required:"true"`
}

// DecodeLax coerces as pydantic's lax mode does and refuses extra keys.
func TestDecodeLax(t *testing.T) {
	decode := func(raw string) (settings, []apperr.ValidationItem) {
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		var s settings
		return s, DecodeLax(v, &s, []any{"x"})
	}
	s, items := decode(`{"steps":"30","cfg":7,"on":"yes","size":"m","need":null}`)
	if len(items) != 0 || *s.Steps != 30 || *s.CFG != 7 || !*s.On || *s.Size != "m" || s.Need != nil {
		t.Fatalf("%+v %+v", s, items)
	}
	for raw, want := range map[string]string{
		`{"need":null,"steps":2.5}`:  "int_from_float",
		`{"need":null,"steps":0}`:    "greater_than",
		`{"need":null,"steps":"x"}`:  "int_parsing",
		`{"need":null,"on":"maybe"}`: "bool_parsing",
		`{"need":null,"size":"xl"}`:  "literal_error",
		`{"need":null,"cfg":false}`:  "greater_than_equal",
		`{"need":null,"extra":1}`:    "extra_forbidden",
		`{}`:                         "missing",
		`"text"`:                     "model_type",
	} {
		_, items := decode(raw)
		if len(items) != 1 || items[0].Type != want {
			t.Errorf("%s: %+v, want %s", raw, items, want)
		}
	}
}

// The generator writes rules as JSON-schema keywords, Enum types as components and Literals inline.
func TestComponentsWriteRules(t *testing.T) {
	c := NewComponents()
	ref := c.Of(reflect.TypeOf(sample{}))
	if ref["$ref"] != "#/components/schemas/sample" {
		t.Fatalf("ref %v", ref)
	}
	props := c.Get("sample")["properties"].(map[string]any)
	w := props["width"].(map[string]any)
	if w["exclusiveMinimum"] != json.Number("0") || w["maximum"] != json.Number("16384") || w["multipleOf"] != json.Number("8") ||
		string(w["default"].(json.RawMessage)) != "512" || w["description"] != "Width" {
		t.Fatalf("width %v", w)
	}
	if props["tags"].(map[string]any)["maxItems"] != 2 || props["name"].(map[string]any)["maxLength"] != 3 {
		t.Fatalf("lengths %v %v", props["tags"], props["name"])
	}
	if got := c.Get("color"); !reflect.DeepEqual(got["enum"], []string{"red", "green"}) {
		t.Fatalf("enum component %v", got)
	}
	items := props["sizes"].(map[string]any)["items"].(map[string]any)
	if !reflect.DeepEqual(items["enum"], []string{"s", "m"}) {
		t.Fatalf("literal %v", items)
	}
	if len(c.Conflicts) != 0 {
		t.Fatal(c.Conflicts)
	}
}
