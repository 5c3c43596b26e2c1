package api

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/invokego/invokego/internal/access"
)

// Schemas collects component schemas while the document is generated.
type Schemas struct {
	components map[string]any
	names      map[reflect.Type]string
}

// SchemaProvider lets a type describe itself (used by node invocations with InvokeAI's UI extensions).
type SchemaProvider interface {
	OpenAPISchema(s *Schemas) map[string]any
}

// Add registers a named component schema.
func (s *Schemas) Add(name string, schema map[string]any) { s.components[name] = schema }

// Has reports whether a component exists.
func (s *Schemas) Has(name string) bool { _, ok := s.components[name]; return ok }

var genericArgs = regexp.MustCompile(`[\w./-]+\.`)

// typeName gives a component name like FastAPI's: OffsetPaginatedResults[BoardDTO] -> OffsetPaginatedResults_BoardDTO_.
func typeName(t reflect.Type) string {
	n := genericArgs.ReplaceAllString(t.Name(), "")
	r := strings.NewReplacer("[", "_", "]", "_", ",", "_", " ", "", "*", "")
	return r.Replace(n)
}

var (
	timeType = reflect.TypeOf(time.Time{})
	rawType  = reflect.TypeOf(json.RawMessage{})
)

// Of returns the schema of a Go type, registering named structs as components.
func (s *Schemas) Of(t reflect.Type) map[string]any {
	if t == nil {
		return map[string]any{}
	}
	if t.Implements(reflect.TypeOf((*SchemaProvider)(nil)).Elem()) {
		return reflect.New(t).Elem().Interface().(SchemaProvider).OpenAPISchema(s)
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		inner := s.Of(t.Elem())
		return map[string]any{"anyOf": []any{inner, map[string]any{"type": "null"}}}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": s.Of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": s.Of(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		if t.Name() == "" {
			return s.structSchema(t)
		}
		name := typeName(t)
		if _, ok := s.names[t]; !ok {
			s.names[t] = name
			s.components[name] = map[string]any{} // placeholder breaks recursion
			s.components[name] = s.structSchema(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

func (s *Schemas) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			inner := s.structSchema(f.Type)
			for k, v := range inner["properties"].(map[string]any) {
				props[k] = v
			}
			if req, ok := inner["required"].([]string); ok {
				required = append(required, req...)
			}
			continue
		}
		name, omitempty := jsonName(f)
		if name == "-" {
			continue
		}
		fs := s.Of(f.Type)
		fs = withFieldTags(fs, f)
		props[name] = fs
		if fieldRequired(f, omitempty) {
			required = append(required, name)
		}
	}
	out := map[string]any{"type": "object", "properties": props, "title": t.Name()}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

// withFieldTags adds description, default, enum and bounds from struct tags.
func withFieldTags(schema map[string]any, f reflect.StructField) map[string]any {
	out := map[string]any{}
	for k, v := range schema {
		out[k] = v
	}
	if d := f.Tag.Get("doc"); d != "" {
		out["description"] = d
	}
	if d, ok := f.Tag.Lookup("default"); ok {
		out["default"] = parseDefault(d, f.Type)
	}
	if e := f.Tag.Get("enum"); e != "" {
		vals := []any{}
		for _, v := range strings.Split(e, ",") {
			vals = append(vals, v)
		}
		out["enum"] = vals
	}
	if m := f.Tag.Get("min"); m != "" {
		out["minimum"], _ = strconv.ParseFloat(m, 64)
	}
	if m := f.Tag.Get("max"); m != "" {
		out["maximum"], _ = strconv.ParseFloat(m, 64)
	}
	if m := f.Tag.Get("maxLength"); m != "" {
		out["maxLength"], _ = strconv.Atoi(m)
	}
	return out
}

func parseDefault(s string, t reflect.Type) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		b, _ := strconv.ParseBool(s)
		return b
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	case reflect.Float64, reflect.Float32:
		x, _ := strconv.ParseFloat(s, 64)
		return x
	}
	return s
}

// Document builds the OpenAPI 3.1 document from the registered routes.
func (rt *Router) Document() map[string]any {
	s := &Schemas{components: map[string]any{}, names: map[reflect.Type]string{}}
	paths := map[string]any{}
	for _, r := range rt.Routes() {
		item, _ := paths[r.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[r.Path] = item
		}
		item[strings.ToLower(r.Method)] = rt.operation(r, s)
	}
	for _, fn := range rt.schemas {
		fn(s)
	}
	s.components["HTTPValidationError"] = map[string]any{"type": "object", "properties": map[string]any{
		"detail": map[string]any{"type": "array", "items": map[string]any{"type": "object"}}}}
	return map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]any{"title": rt.Info.Title, "version": rt.Info.Version, "description": "InvokeAI-compatible API of invokego"},
		"paths":   paths,
		"components": map[string]any{
			"schemas":         s.components,
			"securitySchemes": map[string]any{"HTTPBearer": map[string]any{"type": "http", "scheme": "bearer"}},
		},
	}
}

func (rt *Router) operation(r Route, s *Schemas) map[string]any {
	id := r.ID
	if id == "" {
		id = operationID(r.Summary, r.Method, r.Path)
	}
	op := map[string]any{
		"operationId":     id,
		"summary":         r.Summary,
		"tags":            r.Tags,
		"x-access-policy": r.Policy.Name(),
	}
	if r.Description != "" {
		op["description"] = r.Description
	}
	if r.Policy.NeedsLogin() {
		op["security"] = []any{map[string]any{"HTTPBearer": []any{}}}
	}
	var params []any
	if r.in != nil {
		for i := 0; i < r.in.NumField(); i++ {
			f := r.in.Field(i)
			if name := f.Tag.Get("path"); name != "" {
				params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": withFieldTags(s.Of(f.Type), f)})
			}
			if name := f.Tag.Get("query"); name != "" {
				_, hasDefault := f.Tag.Lookup("default")
				params = append(params, map[string]any{"name": name, "in": "query", "required": f.Tag.Get("required") == "true" && !hasDefault,
					"schema": withFieldTags(s.Of(f.Type), f)})
			}
			if mode, _, _ := strings.Cut(f.Tag.Get("body"), ","); mode != "" {
				ct := "application/json"
				if mode == "multipart" {
					ct = "multipart/form-data"
				}
				op["requestBody"] = map[string]any{"required": true, "content": map[string]any{ct: map[string]any{"schema": s.Of(f.Type)}}}
			}
		}
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	status := r.Status
	if status == 0 {
		status = http.StatusOK
	}
	resp := map[string]any{"description": "Successful Response"}
	switch {
	case r.out != nil:
		resp["content"] = map[string]any{"application/json": map[string]any{"schema": s.Of(r.out)}}
	case r.Produces != "":
		resp["content"] = map[string]any{r.Produces: map[string]any{}}
	}
	op["responses"] = map[string]any{
		strconv.Itoa(status): resp,
		"422": map[string]any{"description": "Validation Error", "content": map[string]any{"application/json": map[string]any{
			"schema": map[string]any{"$ref": "#/components/schemas/HTTPValidationError"}}}},
	}
	return op
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

func operationID(summary, method, path string) string {
	base := summary
	if base == "" {
		base = method + " " + path
	}
	return strings.Trim(nonWord.ReplaceAllString(strings.ToLower(base), "_"), "_")
}

//go:embed docs.html
var docsPage []byte

// DocRoutes serves /openapi.json and an offline /docs page. The document is built once, on first request.
func (rt *Router) DocRoutes() []Route {
	var once sync.Once
	var doc []byte
	return []Route{
		Raw(Op{Method: http.MethodGet, Path: "/openapi.json", Summary: "OpenAPI document", Tags: []string{"docs"}, Policy: access.Public, Produces: "application/json"},
			func(c *Call, _ *NoInput) error {
				once.Do(func() { doc, _ = json.Marshal(rt.Document()) })
				c.W.Header().Set("Content-Type", "application/json")
				_, err := c.W.Write(doc)
				return err
			}),
		Raw(Op{Method: http.MethodGet, Path: "/docs", Summary: "API documentation", Tags: []string{"docs"}, Policy: access.Public, Produces: "text/html"},
			func(c *Call, _ *NoInput) error {
				c.W.Header().Set("Content-Type", "text/html; charset=utf-8")
				_, err := c.W.Write(docsPage)
				return err
			}),
	}
}
