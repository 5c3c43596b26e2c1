package schema

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/invokego/invokego/internal/apperr"
)

// DecodeLax fills the struct dst points to from a JSON object decoded with UseNumber, as pydantic validates a
// model in lax mode with extra="forbid": strings, numbers and booleans are coerced by pydantic's rules, every
// field is checked against its rules, and keys the struct does not declare are errors (in name order, after the
// fields). A value that is not an object is a model_type error naming the struct's Go type.
func DecodeLax(raw any, dst any, loc []any) []apperr.ValidationItem {
	v := reflect.ValueOf(dst).Elem()
	t := v.Type()
	obj, ok := raw.(map[string]any)
	if !ok {
		return []apperr.ValidationItem{{Type: "model_type", Loc: loc,
			Msg: "Input should be a valid dictionary or instance of " + t.Name(), Input: raw}}
	}
	var items []apperr.ValidationItem
	known := map[string]bool{}
	for _, f := range Fields(t) {
		name, _ := JSONName(f)
		known[name] = true
		fieldLoc := appendLoc(loc, name)
		rv, present := obj[name]
		if !present {
			if Required(f) {
				items = append(items, apperr.ValidationItem{Type: "missing", Loc: fieldLoc, Msg: "Field required", Input: raw})
			}
			continue
		}
		fv := v.FieldByIndex(f.Index)
		if rv == nil {
			if f.Type.Kind() != reflect.Pointer {
				typ, msg := TypeError(f.Type)
				items = append(items, apperr.ValidationItem{Type: typ, Loc: fieldLoc, Msg: msg, Input: nil})
			}
			continue
		}
		target := fv
		if target.Kind() == reflect.Pointer {
			target = reflect.New(f.Type.Elem()).Elem()
		}
		if it := Coerce(rv, target); it != nil {
			it.Loc, it.Input = fieldLoc, rv
			items = append(items, *it)
			continue
		}
		if bad := rulesAt(t, f).Check(target, fieldLoc); len(bad) > 0 {
			for i := range bad {
				bad[i].Input = rv
			}
			items = append(items, bad...)
			continue
		}
		if fv.Kind() == reflect.Pointer {
			fv.Set(target.Addr())
		}
	}
	var extras []string
	for k := range obj {
		if !known[k] {
			extras = append(extras, k)
		}
	}
	sort.Strings(extras)
	for _, k := range extras {
		items = append(items, apperr.ValidationItem{Type: "extra_forbidden", Loc: appendLoc(loc, k),
			Msg: "Extra inputs are not permitted", Input: obj[k]})
	}
	return items
}

// Coerce sets a scalar (string, integer, float or boolean kind) from a JSON value decoded with UseNumber,
// with pydantic's lax rules for JSON input. The returned item has no location or input yet.
func Coerce(raw any, dst reflect.Value) *apperr.ValidationItem {
	bad := func(typ, msg string) *apperr.ValidationItem { return &apperr.ValidationItem{Type: typ, Msg: msg} }
	switch dst.Kind() {
	case reflect.String:
		s, ok := raw.(string)
		if vals, name := Values(dst.Type()); len(vals) > 0 {
			for _, a := range vals {
				if ok && a == s {
					dst.SetString(s)
					return nil
				}
			}
			return EnumError(vals, name != "", raw, nil)
		}
		if !ok {
			return bad("string_type", "Input should be a valid string")
		}
		dst.SetString(s)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		switch x := raw.(type) {
		case json.Number:
			if n, err := x.Int64(); err == nil {
				dst.SetInt(n)
				return nil
			}
			fl, err := x.Float64()
			if err != nil || math.IsInf(fl, 0) {
				return bad("int_type", "Input should be a valid integer")
			}
			if fl != math.Trunc(fl) {
				return bad("int_from_float", "Input should be a valid integer, got a number with a fractional part")
			}
			if math.Abs(fl) >= math.MaxInt64 {
				return bad("int_parsing_size", "Unable to parse input string as an integer, exceeded maximum size")
			}
			dst.SetInt(int64(fl))
		case string:
			n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				return bad("int_parsing", "Input should be a valid integer, unable to parse string as an integer")
			}
			dst.SetInt(n)
		case bool:
			dst.SetInt(map[bool]int64{false: 0, true: 1}[x])
		default:
			return bad("int_type", "Input should be a valid integer")
		}
	case reflect.Float32, reflect.Float64:
		switch x := raw.(type) {
		case json.Number:
			fl, err := x.Float64()
			if err != nil {
				return bad("float_type", "Input should be a valid number")
			}
			dst.SetFloat(fl)
		case string:
			fl, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return bad("float_parsing", "Input should be a valid number, unable to parse string as a number")
			}
			dst.SetFloat(fl)
		case bool:
			dst.SetFloat(map[bool]float64{false: 0, true: 1}[x])
		default:
			return bad("float_type", "Input should be a valid number")
		}
	case reflect.Bool:
		switch x := raw.(type) {
		case bool:
			dst.SetBool(x)
		case json.Number:
			switch x.String() {
			case "0", "0.0":
				dst.SetBool(false)
			case "1", "1.0":
				dst.SetBool(true)
			default:
				return bad("bool_parsing", "Input should be a valid boolean, unable to interpret input")
			}
		case string:
			switch strings.ToLower(x) {
			case "0", "off", "f", "false", "n", "no":
				dst.SetBool(false)
			case "1", "on", "t", "true", "y", "yes":
				dst.SetBool(true)
			default:
				return bad("bool_parsing", "Input should be a valid boolean, unable to interpret input")
			}
		default:
			return bad("bool_type", "Input should be a valid boolean")
		}
	default:
		return bad("value_error", "unsupported field type "+dst.Type().String())
	}
	return nil
}

// IsNull reports whether raw is the JSON literal null (around which JSON allows white space). The queue, the
// workflow validator and the model settings all ask it of raw members.
func IsNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }
