package events

import (
	"fmt"
	"reflect"
	"strings"
)

// Redacted stands in for an id that the receiver of a redacted copy may not learn (docs/security.md D15).
const Redacted = "redacted"

// Each event a service publishes is a named Go type whose json-tagged fields are its payload (see
// internal/queue/events.go). Fields turns it into the map the bus carries; Redact derives the copy for
// receivers who may not see everything from `redact` tags on the same type, so that the two can never drift
// apart:
//
//	redact:"id"      a string field: the copy holds Redacted
//	redact:"zero"    the copy holds the field's zero value (null for pointers, maps and slices)
//	redact:"nested"  a struct field: redacted by its own type's tags
//	redact:"viewer"  the value depends on who receives it: zero here, given per viewer by the publisher
//
// Untagged fields are copied as they are.

// Fields returns the json-tagged fields of a struct (or pointer to one) as a map keyed by their JSON names;
// embedded structs without a name of their own contribute their fields, as with encoding/json. The values
// are the fields themselves, so each encodes exactly as it would inside the struct (nil ones are plain nils).
func Fields(v any) map[string]any {
	rv := reflect.Indirect(reflect.ValueOf(v))
	if rv.Kind() != reflect.Struct {
		panic(fmt.Sprintf("events.Fields: %T is not a struct", v))
	}
	out := map[string]any{}
	addFields(out, rv)
	return out
}

func addFields(out map[string]any, rv reflect.Value) {
	rt := rv.Type()
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" && opts == "" {
			continue
		}
		fv := rv.Field(i)
		if f.Anonymous && name == "" && reflect.Indirect(fv).Kind() == reflect.Struct {
			if fv.Kind() == reflect.Pointer && fv.IsNil() {
				continue
			}
			addFields(out, reflect.Indirect(fv))
			continue
		}
		if name == "" {
			name = f.Name
		}
		if strings.Contains(","+opts+",", ",omitempty,") && fv.IsZero() {
			continue
		}
		out[name] = value(fv)
	}
}

// value is a field's value for the map; a nil pointer, map, slice or interface becomes a plain nil, so that
// readers of the map can test it against nil as they could a hand-written payload (JSON null either way).
func value(fv reflect.Value) any {
	switch fv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		if fv.IsNil() {
			return nil
		}
	}
	return fv.Interface()
}

// Redact returns a copy of v with its `redact`-tagged fields replaced (see Fields). v is a struct or a
// pointer to one; a pointer gives a pointer to a fresh copy.
func Redact[T any](v T) T {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return v
		}
		cp := reflect.New(rv.Elem().Type())
		cp.Elem().Set(rv.Elem())
		redactStruct(cp.Elem())
		return cp.Interface().(T)
	}
	cp := reflect.New(rv.Type()).Elem()
	cp.Set(rv)
	redactStruct(cp)
	return cp.Interface().(T)
}

func redactStruct(rv reflect.Value) {
	if rv.Kind() != reflect.Struct {
		panic(fmt.Sprintf("events.Redact: %s is not a struct", rv.Type()))
	}
	rt := rv.Type()
	for i := range rt.NumField() {
		f := rt.Field(i)
		fv := rv.Field(i)
		switch tag := f.Tag.Get("redact"); tag {
		case "":
			if f.Anonymous && fv.Kind() == reflect.Struct {
				redactStruct(fv)
			}
		case "id":
			if fv.Kind() != reflect.String {
				panic(fmt.Sprintf("events.Redact: %s.%s is tagged redact:\"id\" but is not a string", rt, f.Name))
			}
			fv.SetString(Redacted)
		case "zero", "viewer":
			fv.Set(reflect.Zero(f.Type))
		case "nested":
			switch {
			case fv.Kind() == reflect.Struct:
				redactStruct(fv)
			case fv.Kind() == reflect.Pointer && !fv.IsNil():
				cp := reflect.New(fv.Elem().Type())
				cp.Elem().Set(fv.Elem())
				redactStruct(cp.Elem())
				fv.Set(cp)
			}
		default:
			panic(fmt.Sprintf("events.Redact: %s.%s has the unknown tag redact:%q", rt, f.Name, tag))
		}
	}
}
