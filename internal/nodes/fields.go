package nodes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Field struct tags on node input and output structs:
//
//	json:"name"              the field name (InvokeAI's)
//	default:"json"           default value as a JSON literal (strings may be bare); absent: required
//	ge / le / gt / lt        numeric bounds
//	enum:"a,b"               allowed strings (a Literal in InvokeAI)
//	input:"connection|direct|any"   how the field may be set (default any)
//	kind:"internal"          field_kind other than "input"
//	poly:"true"              a slice field that also accepts a single value (Union[T, list[T]])
//	title, description       documentation
//	ui_type, ui_hidden:"true", ui_order:"n", ui_component   UI hints passed through to the schema

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
	Enum        []string
	Bounds      map[string]float64 // ge, le, gt, lt
	UIType      string
	UIHidden    bool
	UIOrder     *int
	UIComponent string
	goType      reflect.Type
	index       []int
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
	var walk func(t reflect.Type, index []int) error
	walk = func(t reflect.Type, index []int) error {
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			idx := append(append([]int{}, index...), i)
			if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
				if err := walk(sf.Type, idx); err != nil {
					return err
				}
				continue
			}
			if !sf.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			ft, err := fieldTypeOf(sf.Type)
			if err != nil {
				return fmt.Errorf("field %s: %w", name, err)
			}
			f := Field{Name: name, Type: ft, goType: sf.Type, index: idx, Title: sf.Tag.Get("title"),
				Description: sf.Tag.Get("description"), UIType: sf.Tag.Get("ui_type"), UIComponent: sf.Tag.Get("ui_component"),
				UIHidden: sf.Tag.Get("ui_hidden") == "true", Optional: sf.Type.Kind() == reflect.Pointer}
			if f.Title == "" {
				f.Title = titleCase(name)
			}
			if sf.Tag.Get("poly") == "true" {
				f.Type.Poly = true
			}
			if o := sf.Tag.Get("ui_order"); o != "" {
				n, _ := strconv.Atoi(o)
				f.UIOrder = &n
			}
			if e := sf.Tag.Get("enum"); e != "" {
				f.Enum = strings.Split(e, ",")
			}
			for _, b := range []string{"ge", "le", "gt", "lt"} {
				if v := sf.Tag.Get(b); v != "" {
					x, err := strconv.ParseFloat(v, 64)
					if err != nil {
						return fmt.Errorf("field %s: bad %s bound: %w", name, b, err)
					}
					if f.Bounds == nil {
						f.Bounds = map[string]float64{}
					}
					f.Bounds[b] = x
				}
			}
			if inputs {
				f.Kind = "input"
				if k := sf.Tag.Get("kind"); k != "" {
					f.Kind = k
				}
				f.Input = "any"
				if in := sf.Tag.Get("input"); in != "" {
					f.Input = in
				}
				if d, ok := sf.Tag.Lookup("default"); ok {
					f.Default = defaultJSON(d)
				} else if f.Optional {
					f.Default = json.RawMessage("null")
				} else {
					f.Required = true
				}
			} else {
				f.Kind = "output"
			}
			out = append(out, f)
		}
		return nil
	}
	return out, walk(t, nil)
}

// defaultJSON accepts a JSON literal or, for convenience, a bare string.
func defaultJSON(s string) json.RawMessage {
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}

func titleCase(name string) string {
	parts := strings.Split(name, "_")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, " ")
}

// FieldError is a problem with one field of one node.
type FieldError struct {
	Field string
	Msg   string
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
				return nil, &FieldError{Field: name, Msg: "Extra inputs are not permitted"}
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
				return nil, &FieldError{Field: f.Name, Msg: "Field required"}
			}
			raw = f.Default
		}
		raw = bytes.TrimSpace(raw)
		if f.Type.Poly && len(raw) > 0 && raw[0] != '[' && string(raw) != "null" {
			raw = append(append([]byte{'['}, raw...), ']')
		}
		target := inv.Elem().FieldByIndex(f.index)
		if string(raw) == "null" && !f.Optional && f.Type.Name != AnyType {
			return nil, &FieldError{Field: f.Name, Msg: "Input should be a valid " + f.Type.String()}
		}
		if err := json.Unmarshal(raw, target.Addr().Interface()); err != nil {
			return nil, &FieldError{Field: f.Name, Msg: "Input should be a valid " + f.Type.String()}
		}
		if err := f.check(target); err != nil {
			return nil, err
		}
	}
	return inv.Interface().(Invocation), nil
}

// check applies enum and bounds to a decoded value.
func (f *Field) check(v reflect.Value) error {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if len(f.Enum) > 0 && v.Kind() == reflect.String {
		for _, e := range f.Enum {
			if e == v.String() {
				return nil
			}
		}
		return &FieldError{Field: f.Name, Msg: "Input should be " + strings.Join(quoted(f.Enum), " or ")}
	}
	var x float64
	switch v.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		x = float64(v.Int())
	case reflect.Float64, reflect.Float32:
		x = v.Float()
	default:
		return nil
	}
	for b, lim := range f.Bounds {
		bad := (b == "ge" && x < lim) || (b == "le" && x > lim) || (b == "gt" && x <= lim) || (b == "lt" && x >= lim)
		if bad {
			words := map[string]string{"ge": "greater than or equal to", "le": "less than or equal to", "gt": "greater than", "lt": "less than"}
			return &FieldError{Field: f.Name, Msg: fmt.Sprintf("Input should be %s %s", words[b], strconv.FormatFloat(lim, 'f', -1, 64))}
		}
	}
	return nil
}

func quoted(vals []string) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = "'" + v + "'"
	}
	return out
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
