package api

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/schema"
)

// Schemas collects component schemas while the document is generated (package schema writes them).
type Schemas = schema.Components

// SchemaProvider lets a type describe itself (used by node invocations with InvokeAI's UI extensions).
type SchemaProvider = schema.Provider

// Document builds the OpenAPI 3.1 document from the registered routes.
func (rt *Router) Document() map[string]any {
	s := schema.NewComponents()
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
	s.Add("HTTPValidationError", map[string]any{"type": "object", "properties": map[string]any{
		"detail": map[string]any{"type": "array", "items": map[string]any{"type": "object"}}}})
	return map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]any{"title": rt.Info.Title, "version": rt.Info.Version, "description": "InvokeAI-compatible API of invokego"},
		"paths":   paths,
		"components": map[string]any{
			"schemas":         s.All(),
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
		for _, f := range inputFields(r.in) {
			if name := f.Tag.Get("path"); name != "" {
				params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": s.FieldSchema(r.in, f)})
			}
			if name := f.Tag.Get("query"); name != "" {
				_, hasDefault := f.Tag.Lookup("default")
				params = append(params, map[string]any{"name": name, "in": "query", "required": f.Tag.Get("required") == "true" && !hasDefault,
					"schema": s.FieldSchema(r.in, f)})
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
