package schema

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/invokego/invokego/internal/apperr"
)

// Validator is implemented by field types that check themselves beyond their rules (a union of shapes such as
// a model's default_settings). ValidateField reports problems located under loc.
type Validator interface {
	ValidateField(loc []any) []apperr.ValidationItem
}

var validatorType = reflect.TypeOf((*Validator)(nil)).Elem()

// JSONName returns a struct field's JSON name and whether it is omitempty/omitzero; "-" for skipped fields.
func JSONName(f reflect.StructField) (string, bool) {
	name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		name = f.Name
	}
	return name, strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
}

// Required reports whether a body field must be present: required:"true", or not a pointer, not omitempty and
// no default.
func Required(f reflect.StructField) bool {
	if f.Tag.Get("required") == "true" {
		return true
	}
	_, omitempty := JSONName(f)
	if omitempty || f.Type.Kind() == reflect.Pointer {
		return false
	}
	if _, ok := f.Tag.Lookup("default"); ok {
		return false
	}
	return f.Tag.Get("required") != "false"
}

// Fields lists the JSON fields of a struct type in declaration order, with the fields of embedded structs in
// place (as encoding/json flattens them). Index is the path for FieldByIndex.
func Fields(t reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			f.Index = append(append([]int{}, index...), i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct && f.Tag.Get("json") == "" {
				walk(f.Type, f.Index)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name, _ := JSONName(f); name == "-" {
				continue
			}
			out = append(out, f)
		}
	}
	walk(t, nil)
	return out
}

// rulesAt returns the rules of a field found by Fields (its Index is a path from root). A malformed tag is a
// programming error that tests catch (every API input and node type is walked at start-up or in a test), so
// it panics here rather than letting a request pass unchecked.
func rulesAt(root reflect.Type, f reflect.StructField) *Rules {
	parent := root
	for _, i := range f.Index[:len(f.Index)-1] {
		parent = parent.Field(i).Type
	}
	r, err := Of(parent, f.Index[len(f.Index)-1])
	if err != nil {
		panic(fmt.Sprintf("schema: %s: %v", root, err))
	}
	return r
}

// Check walks a value decoded from JSON beside the JSON document it came from (raw, as encoding/json decodes
// into any) and reports what the decoder cannot: required fields that are absent, null where the type does not
// allow it, and every field's rules, through nested, embedded and listed structs.
func Check(v reflect.Value, raw any, loc []any) []apperr.ValidationItem {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	var items []apperr.ValidationItem
	if v.CanAddr() && v.Addr().Type().Implements(validatorType) {
		items = append(items, v.Addr().Interface().(Validator).ValidateField(loc)...)
	} else if v.Type().Implements(validatorType) {
		items = append(items, v.Interface().(Validator).ValidateField(loc)...)
	}
	switch v.Kind() {
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok {
			return items
		}
		for _, f := range Fields(v.Type()) {
			name, _ := JSONName(f)
			fieldLoc := appendLoc(loc, name)
			rv, present := obj[name]
			if !present {
				if Required(f) {
					items = append(items, apperr.ValidationItem{Type: "missing", Loc: fieldLoc, Msg: "Field required", Input: raw})
				}
				continue
			}
			k := f.Type.Kind()
			if rv == nil && k != reflect.Pointer && k != reflect.Interface && k != reflect.Map && k != reflect.Slice {
				typ, msg := TypeError(f.Type)
				items = append(items, apperr.ValidationItem{Type: typ, Loc: fieldLoc, Msg: msg, Input: nil})
				continue
			}
			fv := v.FieldByIndex(f.Index)
			items = append(items, rulesAt(v.Type(), f).Check(fv, fieldLoc)...)
			items = append(items, Check(fv, rv, fieldLoc)...)
		}
	case reflect.Slice:
		arr, ok := raw.([]any)
		if !ok {
			return items
		}
		for i := 0; i < v.Len() && i < len(arr); i++ {
			items = append(items, Check(v.Index(i), arr[i], appendLoc(loc, i))...)
		}
	}
	return items
}

// TypeError names a type mismatch as pydantic does (error type and message).
func TypeError(t reflect.Type) (string, string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if vals, name := Values(t); len(vals) > 0 {
		if name != "" {
			return "enum", "Input should be " + apperr.Choices(vals)
		}
		return "literal_error", "Input should be " + apperr.Choices(vals)
	}
	switch t.Kind() {
	case reflect.Bool:
		return "bool_type", "Input should be a valid boolean"
	case reflect.String:
		return "string_type", "Input should be a valid string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "int_type", "Input should be a valid integer"
	case reflect.Float32, reflect.Float64:
		return "float_type", "Input should be a valid number"
	case reflect.Slice, reflect.Array:
		return "list_type", "Input should be a valid list"
	case reflect.Map:
		return "dict_type", "Input should be a valid dictionary"
	case reflect.Struct:
		return "model_attributes_type", "Input should be a valid dictionary or object to extract fields from"
	}
	return "value_error", "Input should be a valid " + t.String()
}

// CheckSet applies the rules of every set field of the struct s points to (nil pointers and empty values are
// unset), in field order, letting Validator fields check themselves; problems are located under loc.
func CheckSet(s any, loc []any) []apperr.ValidationItem {
	v := reflect.ValueOf(s).Elem()
	var items []apperr.ValidationItem
	for _, f := range Fields(v.Type()) {
		fv := v.FieldByIndex(f.Index)
		if fv.IsZero() {
			continue
		}
		name, _ := JSONName(f)
		fieldLoc := appendLoc(loc, name)
		if val, ok := fv.Interface().(Validator); ok {
			items = append(items, val.ValidateField(fieldLoc)...)
		}
		items = append(items, rulesAt(v.Type(), f).Check(fv, fieldLoc)...)
	}
	return items
}
