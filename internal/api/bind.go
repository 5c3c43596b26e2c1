package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/invokego/invokego/internal/apperr"
)

// Input structs describe a route's parameters with tags:
//
//	path:"name"            a path segment
//	query:"name"           a query parameter (slices take repeated keys)
//	body:"json"            the JSON body is this field (",forbid" refuses unknown keys)
//	body:"multipart"       a multipart form, read by the handler (documented only)
//	default:"v"            value when absent (also marks a body field optional)
//	required:"true"        query parameter that must be present
//	enum:"a,b"             allowed values
//	min:"n" max:"n"        numeric bounds
//	maxLength:"n"          string length bound
//	doc:"text"             description in the OpenAPI document
//
// Body struct fields are required unless they are pointers, have omitempty, or have a default tag.

// Bind fills in from the request and validates it; failures are 422 in pydantic's shape.
func Bind(r *http.Request, in any) error {
	v := reflect.ValueOf(in).Elem()
	if v.Kind() != reflect.Struct {
		return nil
	}
	t := v.Type()
	var items []apperr.ValidationItem
	query := r.URL.Query()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		fv := v.Field(i)
		switch {
		case f.Tag.Get("path") != "":
			name := f.Tag.Get("path")
			items = append(items, setFromStrings(fv, f, []string{r.PathValue(name)}, "path", name)...)
		case f.Tag.Get("query") != "":
			name := f.Tag.Get("query")
			vals, present := query[name]
			if !present || (len(vals) == 1 && vals[0] == "" && fv.Kind() != reflect.String) {
				if def, ok := f.Tag.Lookup("default"); ok {
					items = append(items, setFromStrings(fv, f, []string{def}, "query", name)...)
				} else if f.Tag.Get("required") == "true" {
					items = append(items, apperr.ValidationItem{Type: "missing", Loc: []any{"query", name}, Msg: "Field required", Input: nil})
				}
				continue
			}
			items = append(items, setFromStrings(fv, f, vals, "query", name)...)
		case f.Tag.Get("body") != "":
			mode, opts, _ := strings.Cut(f.Tag.Get("body"), ",")
			if mode != "json" {
				continue
			}
			if err := decodeBody(r, fv, opts == "forbid"); err != nil {
				return err
			}
			if item := checkConstraints(fv, f, []any{"body"}); item != nil {
				return apperr.Invalid(*item)
			}
		}
	}
	if len(items) > 0 {
		return apperr.Invalid(items...)
	}
	return nil
}

// setFromStrings parses query/path strings into a field of a basic kind, a pointer to one, or a slice.
func setFromStrings(fv reflect.Value, f reflect.StructField, vals []string, where, name string) []apperr.ValidationItem {
	target := fv
	if target.Kind() == reflect.Pointer {
		target.Set(reflect.New(target.Type().Elem()))
		target = target.Elem()
	}
	if target.Kind() == reflect.Slice {
		out := reflect.MakeSlice(target.Type(), 0, len(vals))
		var items []apperr.ValidationItem
		for i, s := range vals {
			ev := reflect.New(target.Type().Elem()).Elem()
			if item := parseScalar(ev, f, s, []any{where, name, i}); item != nil {
				items = append(items, *item)
				continue
			}
			out = reflect.Append(out, ev)
		}
		target.Set(out)
		return items
	}
	if item := parseScalar(target, f, vals[len(vals)-1], []any{where, name}); item != nil {
		return []apperr.ValidationItem{*item}
	}
	return nil
}

func parseScalar(v reflect.Value, f reflect.StructField, s string, loc []any) *apperr.ValidationItem {
	bad := func(typ, msg string) *apperr.ValidationItem {
		return &apperr.ValidationItem{Type: typ, Loc: loc, Msg: msg, Input: s}
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "true", "1", "yes", "on", "t", "y":
			v.SetBool(true)
		case "false", "0", "no", "off", "f", "n":
			v.SetBool(false)
		default:
			return bad("bool_parsing", "Input should be a valid boolean, unable to interpret input")
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return bad("int_parsing", "Input should be a valid integer, unable to parse string as an integer")
		}
		v.SetInt(n)
	case reflect.Float64, reflect.Float32:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return bad("float_parsing", "Input should be a valid number, unable to parse string as a number")
		}
		v.SetFloat(x)
	default:
		return bad("type_error", "unsupported parameter type")
	}
	return checkConstraints(v, f, loc)
}

// checkConstraints applies enum, min, max and maxLength tags to a parsed scalar.
func checkConstraints(v reflect.Value, f reflect.StructField, loc []any) *apperr.ValidationItem {
	if enum := f.Tag.Get("enum"); enum != "" && v.Kind() == reflect.String {
		allowed := strings.Split(enum, ",")
		ok := false
		for _, a := range allowed {
			if a == v.String() {
				ok = true
			}
		}
		if !ok {
			return &apperr.ValidationItem{Type: "enum", Loc: loc, Msg: "Input should be " + apperr.Choices(allowed), Input: v.Interface()}
		}
	}
	num := func() (float64, bool) {
		switch v.Kind() {
		case reflect.Int, reflect.Int64, reflect.Int32:
			return float64(v.Int()), true
		case reflect.Float64, reflect.Float32:
			return v.Float(), true
		}
		return 0, false
	}
	if m := f.Tag.Get("min"); m != "" {
		lim, _ := strconv.ParseFloat(m, 64)
		if x, ok := num(); ok && x < lim {
			return &apperr.ValidationItem{Type: "greater_than_equal", Loc: loc, Msg: "Input should be greater than or equal to " + m, Input: v.Interface()}
		}
	}
	if m := f.Tag.Get("max"); m != "" {
		lim, _ := strconv.ParseFloat(m, 64)
		if x, ok := num(); ok && x > lim {
			return &apperr.ValidationItem{Type: "less_than_equal", Loc: loc, Msg: "Input should be less than or equal to " + m, Input: v.Interface()}
		}
	}
	if m := f.Tag.Get("maxLength"); m != "" && v.Kind() == reflect.String {
		lim, _ := strconv.Atoi(m)
		if utf8.RuneCountInString(v.String()) > lim {
			return &apperr.ValidationItem{Type: "string_too_long", Loc: loc, Msg: fmt.Sprintf("String should have at most %d characters", lim), Input: v.String()}
		}
	}
	return nil
}

// decodeBody reads the JSON body into fv, then checks required fields and constraints.
func decodeBody(r *http.Request, fv reflect.Value, forbidExtra bool) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return apperr.BadRequest("Could not read request body")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return apperr.Invalid(apperr.ValidationItem{Type: "missing", Loc: []any{"body"}, Msg: "Field required", Input: nil})
	}
	return DecodeJSONValue(data, fv.Addr().Interface(), forbidExtra, "body")
}

// DecodeJSONValue decodes data into target (a pointer) with pydantic-like errors located under root.
func DecodeJSONValue(data []byte, target any, forbidExtra bool, root string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if forbidExtra {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(target); err != nil {
		return jsonError(err, data, root)
	}
	if dec.More() {
		return apperr.Invalid(apperr.ValidationItem{Type: "json_invalid", Loc: []any{root}, Msg: "JSON decode error: extra data", Input: nil})
	}
	var raw any
	_ = json.Unmarshal(data, &raw)
	if items := validateValue(reflect.ValueOf(target).Elem(), raw, []any{root}); len(items) > 0 {
		return apperr.Invalid(items...)
	}
	return nil
}

func jsonError(err error, data []byte, root string) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return apperr.Invalid(apperr.ValidationItem{Type: "json_invalid", Loc: []any{root, syn.Offset}, Msg: "JSON decode error", Input: map[string]any{}})
	case errors.As(err, &typ):
		loc := []any{root}
		if typ.Field != "" {
			for _, p := range strings.Split(typ.Field, ".") {
				loc = append(loc, p)
			}
		}
		kind, msg := pydanticType(typ.Type)
		return apperr.Invalid(apperr.ValidationItem{Type: kind, Loc: loc, Msg: msg, Input: inputAt(data, loc[1:])})
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return apperr.Invalid(apperr.ValidationItem{Type: "extra_forbidden", Loc: []any{root, field}, Msg: "Extra inputs are not permitted",
			Input: inputAt(data, []any{field})})
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return apperr.Invalid(apperr.ValidationItem{Type: "json_invalid", Loc: []any{root, len(data)}, Msg: "JSON decode error", Input: map[string]any{}})
	default:
		return apperr.Invalid(apperr.ValidationItem{Type: "value_error", Loc: []any{root}, Msg: err.Error(), Input: nil})
	}
}

// pydanticType names a type mismatch as pydantic does (error type and message).
func pydanticType(t reflect.Type) (string, string) {
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
	return "value_error", "Input should be a valid " + friendlyKind(t)
}

// inputAt returns the part of the JSON document at path (object keys), as pydantic reports the offending input;
// nil when the path does not lead anywhere.
func inputAt(data []byte, path []any) any {
	var v any
	if json.Unmarshal(data, &v) != nil {
		return nil
	}
	for _, p := range path {
		obj, ok := v.(map[string]any)
		key, isKey := p.(string)
		if !ok || !isKey {
			return nil
		}
		if v, ok = obj[key]; !ok {
			return nil
		}
	}
	return v
}

func friendlyKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "list"
	case reflect.Map, reflect.Struct:
		return "dictionary"
	}
	return t.String()
}

// validateValue walks a decoded value alongside the raw JSON to find missing required fields and constraint
// violations.
func validateValue(v reflect.Value, raw any, loc []any) []apperr.ValidationItem {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		obj, isObj := raw.(map[string]any)
		if !isObj {
			if raw == nil {
				return nil
			}
			return nil
		}
		var items []apperr.ValidationItem
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, omitempty := jsonName(f)
			if name == "-" {
				continue
			}
			fieldLoc := append(append([]any{}, loc...), name)
			rv, present := obj[name]
			if !present {
				if fieldRequired(f, omitempty) {
					items = append(items, apperr.ValidationItem{Type: "missing", Loc: fieldLoc, Msg: "Field required", Input: raw})
				}
				continue
			}
			if rv == nil && f.Type.Kind() != reflect.Pointer && f.Type.Kind() != reflect.Interface && f.Type.Kind() != reflect.Map && f.Type.Kind() != reflect.Slice {
				kind, msg := pydanticType(f.Type)
				items = append(items, apperr.ValidationItem{Type: kind, Loc: fieldLoc, Msg: msg, Input: nil})
				continue
			}
			fv := v.Field(i)
			inner := fv
			for inner.Kind() == reflect.Pointer && !inner.IsNil() {
				inner = inner.Elem()
			}
			if inner.Kind() != reflect.Pointer {
				if item := checkConstraints(inner, f, fieldLoc); item != nil {
					items = append(items, *item)
				}
			}
			items = append(items, validateValue(fv, rv, fieldLoc)...)
		}
		return items
	case reflect.Slice:
		arr, ok := raw.([]any)
		if !ok {
			return nil
		}
		var items []apperr.ValidationItem
		for i := 0; i < v.Len() && i < len(arr); i++ {
			items = append(items, validateValue(v.Index(i), arr[i], append(append([]any{}, loc...), i))...)
		}
		return items
	}
	return nil
}

func jsonName(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get("json")
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" {
		name = f.Name
	}
	return name, strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
}

func fieldRequired(f reflect.StructField, omitempty bool) bool {
	if omitempty || f.Type.Kind() == reflect.Pointer {
		return false
	}
	if _, ok := f.Tag.Lookup("default"); ok {
		return false
	}
	if f.Tag.Get("required") == "false" {
		return false
	}
	return true
}
