package schema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// Components collects the component schemas of an OpenAPI document while it is generated: named structs and
// Enum types become components referenced with $ref, as FastAPI names them.
type Components struct {
	schemas map[string]map[string]any
	names   map[reflect.Type]string
	byName  map[string]reflect.Type
	// Conflicts lists component names that two different Go types claimed (a test keeps it empty).
	Conflicts []string
}

// NewComponents starts an empty set.
func NewComponents() *Components {
	return &Components{schemas: map[string]map[string]any{}, names: map[reflect.Type]string{}, byName: map[string]reflect.Type{}}
}

// Provider lets a type write its own schema (node invocations with InvokeAI's UI extensions).
type Provider interface {
	OpenAPISchema(c *Components) map[string]any
}

// Add registers a named component schema.
func (c *Components) Add(name string, schema map[string]any) { c.schemas[name] = schema }

// Has reports whether a component exists.
func (c *Components) Has(name string) bool { _, ok := c.schemas[name]; return ok }

// Get returns a component.
func (c *Components) Get(name string) map[string]any { return c.schemas[name] }

// All returns every component by name.
func (c *Components) All() map[string]map[string]any { return c.schemas }

// Ref is a reference to a component.
func Ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

var genericArgs = regexp.MustCompile(`[\w./-]+\.`)

// TypeName gives a component name like FastAPI's: OffsetPaginatedResults[BoardDTO] -> OffsetPaginatedResults_BoardDTO_.
func TypeName(t reflect.Type) string {
	n := genericArgs.ReplaceAllString(t.Name(), "")
	r := strings.NewReplacer("[", "_", "]", "_", ",", "_", " ", "", "*", "")
	return r.Replace(n)
}

var (
	timeType     = reflect.TypeOf(time.Time{})
	rawType      = reflect.TypeOf(json.RawMessage{})
	providerType = reflect.TypeOf((*Provider)(nil)).Elem()
)

// claim records that a Go type owns a component name; a second type with the same name is a conflict.
func (c *Components) claim(t reflect.Type, name string) bool {
	if _, ok := c.names[t]; ok {
		return false
	}
	if other, ok := c.byName[name]; ok && other != t {
		c.Conflicts = append(c.Conflicts, fmt.Sprintf("%s: %s and %s", name, other, t))
	}
	c.names[t] = name
	c.byName[name] = t
	return true
}

// Of returns the schema of a Go type, registering named structs and Enum types as components.
func (c *Components) Of(t reflect.Type) map[string]any {
	if t == nil {
		return map[string]any{}
	}
	if t.Kind() != reflect.Pointer && t.Implements(providerType) {
		return reflect.New(t).Elem().Interface().(Provider).OpenAPISchema(c)
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{}
	}
	if ints := Ints(t); len(ints) > 0 {
		return map[string]any{"type": "integer", "enum": ints}
	}
	if vals, name := Values(t); len(vals) > 0 {
		if name == "" {
			return map[string]any{"type": "string", "enum": vals}
		}
		if c.claim(t, name) {
			c.schemas[name] = map[string]any{"type": "string", "enum": vals, "title": name}
		}
		return Ref(name)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return map[string]any{"anyOf": []any{c.Of(t.Elem()), map[string]any{"type": "null"}}}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": c.Of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": c.Of(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		if t.Name() == "" {
			return c.StructSchema(t)
		}
		name := TypeName(t)
		if c.claim(t, name) {
			c.schemas[name] = map[string]any{} // placeholder breaks recursion
			c.schemas[name] = c.StructSchema(t)
		}
		return Ref(name)
	}
	return map[string]any{}
}

// StructSchema is the object schema of a struct: its JSON fields (embedded structs flattened) with their rules.
func (c *Components) StructSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range Fields(t) {
		name, _ := JSONName(f)
		props[name] = c.FieldSchema(t, f)
		if Required(f) {
			required = append(required, name)
		}
	}
	out := map[string]any{"type": "object", "properties": props, "title": t.Name()}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

// FieldSchema is the schema of one struct field (found by Fields on root) with its rules applied.
func (c *Components) FieldSchema(root reflect.Type, f reflect.StructField) map[string]any {
	s := c.Of(f.Type)
	out := make(map[string]any, len(s)+4)
	for k, v := range s {
		out[k] = v
	}
	rulesAt(root, f).Apply(out, f.Type.Kind() == reflect.Slice)
	return out
}
