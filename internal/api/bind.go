package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/schema"
)

// Input structs describe a route's parameters with tags:
//
//	path:"name"            a path segment
//	query:"name"           a query parameter (slices take repeated keys)
//	body:"json"            the JSON body is this field (",forbid" refuses unknown keys); a string field takes a
//	                       body sent with a non-JSON content type as its raw text, as FastAPI does for str bodies
//	body:"multipart"       a multipart form, read by the handler (documented only)
//	required:"true"        query parameter that must be present
//
// and the field rules of package schema (description, default, ge/le/gt/lt, multiple_of, min_length,
// max_length; allowed values from Enum and Literal types). Embedded structs are read as if their fields were
// declared in place. Body struct fields are required unless they are pointers, have omitempty, or have a
// default tag.

// Bind fills in from the request and validates it; failures are 422 in pydantic's shape.
func Bind(r *http.Request, in any) error {
	v := reflect.ValueOf(in).Elem()
	if v.Kind() != reflect.Struct {
		return nil
	}
	t := v.Type()
	var items []apperr.ValidationItem
	query := r.URL.Query()
	for _, f := range inputFields(t) {
		fv := v.FieldByIndex(f.Index)
		rules, err := schema.Field(t, f)
		if err != nil {
			return err
		}
		switch {
		case f.Tag.Get("path") != "":
			name := f.Tag.Get("path")
			items = append(items, setFromStrings(fv, rules, []string{r.PathValue(name)}, "path", name)...)
		case f.Tag.Get("query") != "":
			name := f.Tag.Get("query")
			vals, present := query[name]
			if !present || (len(vals) == 1 && vals[0] == "" && fv.Kind() != reflect.String) {
				if def, ok := f.Tag.Lookup("default"); ok {
					items = append(items, setFromStrings(fv, rules, []string{def}, "query", name)...)
				} else if f.Tag.Get("required") == "true" {
					items = append(items, apperr.ValidationItem{Type: "missing", Loc: []any{"query", name}, Msg: "Field required", Input: nil})
				}
				continue
			}
			items = append(items, setFromStrings(fv, rules, vals, "query", name)...)
		case f.Tag.Get("body") != "":
			mode, opts, _ := strings.Cut(f.Tag.Get("body"), ",")
			if mode != "json" {
				continue
			}
			if err := decodeBody(r, fv, opts == "forbid"); err != nil {
				return err
			}
			if bad := rules.Check(fv, []any{"body"}); len(bad) > 0 {
				return apperr.Invalid(bad[0])
			}
		}
	}
	if len(items) > 0 {
		return apperr.Invalid(items...)
	}
	return nil
}

// inputFields lists a route input's exported fields, with those of embedded structs in place.
func inputFields(t reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			f.Index = append(append([]int{}, index...), i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type, f.Index)
				continue
			}
			if f.IsExported() {
				out = append(out, f)
			}
		}
	}
	walk(t, nil)
	return out
}

// setFromStrings parses query/path strings into a field of a basic kind, a pointer to one, or a slice.
func setFromStrings(fv reflect.Value, rules *schema.Rules, vals []string, where, name string) []apperr.ValidationItem {
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
			if item := parseScalar(ev, rules, s, []any{where, name, i}); item != nil {
				items = append(items, *item)
				continue
			}
			out = reflect.Append(out, ev)
		}
		target.Set(out)
		return items
	}
	if item := parseScalar(target, rules, vals[len(vals)-1], []any{where, name}); item != nil {
		return []apperr.ValidationItem{*item}
	}
	return nil
}

func parseScalar(v reflect.Value, rules *schema.Rules, s string, loc []any) *apperr.ValidationItem {
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
	if items := rules.Check(v, loc); len(items) > 0 {
		return &items[0]
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
	if fv.Kind() == reflect.String && !isJSONContentType(r.Header.Get("Content-Type")) {
		// FastAPI hands a str body the raw bytes unless the content type says JSON: InvokeAI's UI posts
		// already-stringified values as text/plain (client_state).
		if !utf8.Valid(data) {
			return apperr.Invalid(apperr.ValidationItem{Type: "string_unicode", Loc: []any{"body"},
				Msg: "Input should be a valid string, unable to parse raw data as a unicode string", Input: nil})
		}
		fv.SetString(string(data))
		return nil
	}
	return DecodeJSONValue(data, fv.Addr().Interface(), forbidExtra, "body")
}

// isJSONContentType reports whether a body is to be read as JSON: FastAPI does so when the content type is
// absent, application/json or application/*+json.
func isJSONContentType(ct string) bool {
	if strings.TrimSpace(ct) == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
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
	if items := schema.Check(reflect.ValueOf(target).Elem(), raw, []any{root}); len(items) > 0 {
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
		kind, msg := schema.TypeError(typ.Type)
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
