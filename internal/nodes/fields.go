package nodes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode"

	"github.com/invokego/invokego/internal/schema"
)

// Field struct tags on node input and output structs: the field rules of package schema (description, title,
// default, ge/le/gt/lt, multiple_of, min_length, max_length; allowed strings from a schema.Literal type), and
// these node extras that InvokeAI's UI reads:
//
//	json:"name"              the field name (InvokeAI's)
//	default:"json"           absent: the field is required
//	input:"connection|direct|any"   how the field may be set (default any)
//	field_kind:"internal"    field_kind other than "input"
//	poly:"true"              a slice field that also accepts a single value (Union[T, list[T]])
//	ui_type, ui_hidden:"true", ui_order:"n", ui_component   UI hints passed through to the schema
//	ui_model_base, ui_model_type, ui_model_format:"a,b"     which models a model picker offers
//	ui_choice_labels:"{json}"  labels of a field's choices
//	required:"true"          a pointer field that must still be set or connected (InvokeAI's required field
//	                         that the node checks for null itself)

// TypeNamer names a struct field type in InvokeAI's terms (ImageField, LatentsField...).
type TypeNamer interface{ FieldTypeName() string }

// AnyType is the type name of fields that accept anything (iterate.item, collect.item).
const AnyType = "Any"

// FieldType is what edge compatibility is decided on.
type FieldType struct {
	Name       string // integer, float, string, boolean, ImageField, ..., Any
	Collection bool
	// Poly: the input takes a single value or a collection.
	Poly bool
}

func (t FieldType) String() string {
	switch {
	case t.Poly:
		return "Union[" + t.Name + ", list[" + t.Name + "]]"
	case t.Collection:
		return "list[" + t.Name + "]"
	}
	return t.Name
}

// Compatible reports whether an output of type from may feed an input of type to.
func Compatible(from, to FieldType) bool {
	if to.Name == AnyType && !to.Collection {
		return true
	}
	if from.Name == AnyType {
		return from.Collection == to.Collection || to.Poly || !from.Collection
	}
	if to.Name == AnyType { // list[Any]
		return from.Collection
	}
	nameOK := from.Name == to.Name || (from.Name == "integer" && to.Name == "float")
	if !nameOK {
		return false
	}
	return from.Collection == to.Collection || to.Poly
}

// Field is one input or output field.
type Field struct {
	Name        string
	Type        FieldType
	Required    bool
	Optional    bool // a pointer: null is allowed
	Default     json.RawMessage
	Input       string // connection, direct, any
	Kind        string // input, internal, output
	Title       string
	Description string
	// Rules are the field's rules (bounds, lengths, allowed values).
	Rules       *schema.Rules
	UIType      string
	UIHidden    bool
	UIOrder     *int
	UIComponent string
	// UIModelBase, UIModelType and UIModelFormat filter the models a model picker offers.
	UIModelBase, UIModelType, UIModelFormat []string
	// UIChoiceLabels labels a field's choices (a JSON object).
	UIChoiceLabels json.RawMessage
	// titleSet: the title was given, not derived from the name (the schema shows only given titles for
	// fields of component types, as pydantic does).
	titleSet bool
	goType   reflect.Type
	index    []int
}

var typeNamer = reflect.TypeOf((*TypeNamer)(nil)).Elem()

// fieldTypeOf maps a Go type to a FieldType.
func fieldTypeOf(t reflect.Type) (FieldType, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(typeNamer) {
		return FieldType{Name: reflect.Zero(t).Interface().(TypeNamer).FieldTypeName()}, nil
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return FieldType{Name: "integer"}, nil
	case reflect.Float64, reflect.Float32:
		return FieldType{Name: "float"}, nil
	case reflect.String:
		return FieldType{Name: "string"}, nil
	case reflect.Bool:
		return FieldType{Name: "boolean"}, nil
	case reflect.Interface:
		return FieldType{Name: AnyType}, nil
	case reflect.Slice:
		inner, err := fieldTypeOf(t.Elem())
		if err != nil {
			return FieldType{}, err
		}
		if inner.Collection {
			return FieldType{}, fmt.Errorf("nested collections are not supported")
		}
		inner.Collection = true
		return inner, nil
	case reflect.Struct:
		return FieldType{Name: t.Name()}, nil
	}
	return FieldType{}, fmt.Errorf("unsupported field type %s", t)
}

// fieldsOf reads the tagged fields of a struct, descending into embedded structs (WithMetadata, WithBoard).
func fieldsOf(t reflect.Type, inputs bool) ([]Field, error) {
	var out []Field
	for _, sf := range schema.Fields(t) {
		name, _ := schema.JSONName(sf)
		if sf.Tag.Get("json") == "" {
			continue
		}
		ft, err := fieldTypeOf(sf.Type)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", name, err)
		}
		rules, err := schema.Field(t, sf)
		if err != nil {
			return nil, err
		}
		f := Field{Name: name, Type: ft, goType: sf.Type, index: sf.Index, Title: rules.Title, Rules: rules, titleSet: rules.Title != "",
			Description: rules.Description, UIType: sf.Tag.Get("ui_type"), UIComponent: sf.Tag.Get("ui_component"),
			UIHidden: sf.Tag.Get("ui_hidden") == "true", Optional: sf.Type.Kind() == reflect.Pointer,
			UIModelBase: list(sf.Tag.Get("ui_model_base")), UIModelType: list(sf.Tag.Get("ui_model_type")),
			UIModelFormat: list(sf.Tag.Get("ui_model_format"))}
		if f.Title == "" {
			f.Title = titleCase(name)
		}
		if l := sf.Tag.Get("ui_choice_labels"); l != "" {
			var labels map[string]string
			if err := json.Unmarshal([]byte(l), &labels); err != nil {
				return nil, fmt.Errorf("field %s: ui_choice_labels: %w", name, err)
			}
			f.UIChoiceLabels = json.RawMessage(l)
		}
		if sf.Tag.Get("poly") == "true" {
			f.Type.Poly = true
		}
		if o := sf.Tag.Get("ui_order"); o != "" {
			n, err := strconv.Atoi(o)
			if err != nil {
				return nil, fmt.Errorf("field %s: ui_order %q", name, o)
			}
			f.UIOrder = &n
		}
		if inputs {
			f.Kind = "input"
			if k := sf.Tag.Get("field_kind"); k != "" {
				f.Kind = k
			}
			f.Input = "any"
			if in := sf.Tag.Get("input"); in != "" {
				f.Input = in
			}
			switch {
			case sf.Tag.Get("required") == "true":
				f.Required = true
			case rules.Default != nil:
				f.Default = rules.Default
				// A null default makes the field Optional, whatever its Go type.
				f.Optional = f.Optional || string(rules.Default) == "null"
			case f.Optional:
				f.Default = json.RawMessage("null")
			default:
				f.Required = true
			}
		} else {
			f.Kind = "output"
		}
		out = append(out, f)
	}
	return out, nil
}

func list(tag string) []string {
	if tag == "" {
		return nil
	}
	return strings.Split(tag, ",")
}

// titleCase derives a field's title from its name as pydantic does (Python's str.title() with underscores as
// spaces): a letter after a non-letter is upper case, every other letter lower case ("ipAdapters" is
// "Ipadapters", "t2i_adapter" is "T2I Adapter").
func titleCase(name string) string {
	out := []rune(strings.ReplaceAll(name, "_", " "))
	prevLetter := false
	for i, r := range out {
		letter := unicode.IsLetter(r)
		if letter && !prevLetter {
			out[i] = unicode.ToUpper(r)
		} else if letter {
			out[i] = unicode.ToLower(r)
		}
		prevLetter = letter
	}
	return string(out)
}

// FieldError is a problem with one field of one node, in pydantic's terms (Type such as "missing",
// "greater_than_equal"; Input the offending value; Ctx the rule).
type FieldError struct {
	Field string
	Msg   string
	Type  string
	Input any
	Ctx   map[string]any
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// ExtraReceiver is implemented by inputs of AllowExtra types to receive their undeclared fields.
type ExtraReceiver interface {
	SetExtra(fields map[string]json.RawMessage)
}

// baseFields are accepted on every node and handled by the graph, not by the input struct.
var baseFields = map[string]bool{"id": true, "type": true, "is_intermediate": true, "use_cache": true}

// IsBaseField reports whether a node JSON key belongs to the node base.
func IsBaseField(name string) bool { return baseFields[name] }

// Decode builds the input struct of a node from its field values (node JSON without the base fields, plus
// values delivered by edges). Absent fields take their defaults; a required field that is absent is an
// error unless allowMissing names it (validation at enqueue, where connected fields are filled in later).
func (t *NodeType) Decode(values map[string]json.RawMessage, allowMissing func(string) bool) (Invocation, error) {
	// Start from New so that a type may carry unexported state (services, test hooks) into each run.
	inv := reflect.ValueOf(t.New())
	var extra map[string]json.RawMessage
	for name, raw := range values {
		if baseFields[name] {
			continue
		}
		if _, ok := t.byName[name]; !ok {
			if !t.AllowExtra {
				return nil, &FieldError{Field: name, Type: "extra_forbidden", Msg: "Extra inputs are not permitted", Input: rawValue(raw)}
			}
			if extra == nil {
				extra = map[string]json.RawMessage{}
			}
			extra[name] = raw
		}
	}
	if er, ok := inv.Interface().(ExtraReceiver); ok && extra != nil {
		er.SetExtra(extra)
	}
	for i := range t.Inputs {
		f := &t.Inputs[i]
		raw, present := values[f.Name]
		if !present {
			if f.Required {
				if allowMissing != nil && allowMissing(f.Name) {
					continue
				}
				return nil, &FieldError{Field: f.Name, Type: "missing", Msg: "Field required"}
			}
			raw = f.Default
		}
		raw = bytes.TrimSpace(raw)
		if f.Type.Poly && len(raw) > 0 && raw[0] != '[' && string(raw) != "null" {
			raw = append(append([]byte{'['}, raw...), ']')
		}
		target := inv.Elem().FieldByIndex(f.index)
		if (string(raw) == "null" && !f.Optional && f.Type.Name != AnyType) || json.Unmarshal(raw, target.Addr().Interface()) != nil {
			typ, msg := schema.TypeError(f.goType)
			return nil, &FieldError{Field: f.Name, Type: typ, Msg: msg, Input: rawValue(raw)}
		}
		if bad := f.Rules.Check(target, nil); len(bad) > 0 {
			return nil, &FieldError{Field: f.Name, Type: bad[0].Type, Msg: bad[0].Msg, Input: bad[0].Input, Ctx: bad[0].Ctx}
		}
	}
	return inv.Interface().(Invocation), nil
}

// rawValue is a field's JSON as the input a 422 item reports.
func rawValue(raw json.RawMessage) any {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	return v
}

// EncodeOutput turns an output into the JSON object InvokeAI sends: its fields plus the type discriminator.
func EncodeOutput(o Output) (map[string]json.RawMessage, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", o.OutputType(), err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("encode %s: %w", o.OutputType(), err)
	}
	t, _ := json.Marshal(o.OutputType())
	m["type"] = t
	return m, nil
}
