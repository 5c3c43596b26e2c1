package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"unicode/utf8"

	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/schema"
)

// Bounds on what one workflow may contain. InvokeAI's own library workflows have tens of nodes; these leave
// room for generated graphs while keeping a single request from tying up the server.
const (
	MaxNodes         = 10_000
	MaxEdges         = 50_000
	MaxExposedFields = 10_000
	// MaxDepth bounds JSON nesting. SQLite refuses documents nested deeper than 1000 levels, so anything
	// accepted here must stay well below that or the insert would fail as a server error.
	MaxDepth = 100
)

// semverPattern is semver.org's grammar, which python-semver's Version.parse implements.
var semverPattern = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)` +
	`(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// Parsed is a workflow that passed validation: the fields the server uses, and the document itself with its
// top-level keys in the order received and every value byte-for-byte (compacted), so that unknown keys and
// frontend-only data survive a round trip.
type Parsed struct {
	ID       string // only for Workflow (with id); empty for WorkflowWithoutID
	Name     string
	Tags     string
	Category string
	doc      *object
}

// Document returns the JSON to store, with id set to the given value: an existing "id" key keeps its place,
// otherwise it is added last (where InvokeAI's serialiser puts it).
func (p *Parsed) Document(id string) []byte {
	doc := p.doc.clone()
	doc.set("id", marshalString(id))
	return doc.encode()
}

// WithTags returns a copy whose tags string is replaced.
func (p *Parsed) WithTags(tags string) *Parsed {
	out := *p
	out.doc = p.doc.clone()
	out.doc.set("tags", marshalString(tags))
	out.Tags = tags
	return &out
}

// ValidateWithoutID checks a WorkflowWithoutID (create): any "id" in it is ignored, as InvokeAI ignores it.
// loc is where the workflow sits in the request, e.g. ["body", "workflow"], for 422 items.
func ValidateWithoutID(raw []byte, loc ...any) (*Parsed, error) { return validate(raw, false, loc) }

// ValidateWithID checks a Workflow (update), which must carry its id.
func ValidateWithID(raw []byte, loc ...any) (*Parsed, error) { return validate(raw, true, loc) }

// problems collects 422 items in pydantic's wording.
type problems struct {
	items []apperr.ValidationItem
}

func (ps *problems) add(typ, msg string, input any, loc []any) {
	ps.items = append(ps.items, apperr.ValidationItem{Type: typ, Loc: loc, Msg: msg, Input: input})
}

func at(loc []any, more ...any) []any { return append(append([]any{}, loc...), more...) }

// echo returns a raw value for a 422 item's input, leaving out large ones (pydantic echoes the whole input,
// which for a workflow can be megabytes).
func echo(raw json.RawMessage) any {
	if len(raw) > 4096 {
		return nil
	}
	return raw
}

func validate(raw []byte, requireID bool, loc []any) (*Parsed, error) {
	var ps problems
	if !utf8.Valid(raw) {
		ps.add("json_invalid", "Input is not valid UTF-8", nil, loc)
		return nil, apperr.Invalid(ps.items...)
	}
	if d := nestingDepth(raw); d > MaxDepth {
		ps.add("value_error", fmt.Sprintf("Value error, the workflow is nested %d levels deep; at most %d are allowed", d, MaxDepth), nil, loc)
		return nil, apperr.Invalid(ps.items...)
	}
	model := "WorkflowWithoutID"
	if requireID {
		model = "Workflow"
	}
	doc, err := parseObject(raw)
	if err != nil {
		ps.add("model_type", "Input should be a valid dictionary or instance of "+model, echo(raw), loc)
		return nil, apperr.Invalid(ps.items...)
	}
	out := &Parsed{doc: doc}
	for _, f := range []struct {
		key  string
		dest *string
	}{{"name", &out.Name}, {"author", nil}, {"description", nil}, {"version", nil}, {"contact", nil}, {"tags", &out.Tags}, {"notes", nil}} {
		s, ok := ps.requireString(doc, f.key, raw, loc)
		if ok && f.dest != nil {
			*f.dest = s
		}
	}
	ps.checkExposedFields(doc, raw, loc)
	meta, category := ps.checkMeta(doc, raw, loc)
	out.Category = category
	ps.checkObjectList(doc, "nodes", MaxNodes, raw, loc)
	ps.checkObjectList(doc, "edges", MaxEdges, raw, loc)
	if form, ok := doc.get("form"); ok && !schema.IsNull(form) {
		if _, err := parseObject(form); err != nil {
			ps.add("dict_type", "Input should be a valid dictionary", echo(form), at(loc, "form"))
		}
	}
	if requireID {
		out.ID, _ = ps.requireString(doc, "id", raw, loc)
	}
	if len(ps.items) > 0 {
		return nil, apperr.Invalid(ps.items...)
	}
	canonicalizeExtracted(doc, meta)
	return out, nil
}

// canonicalizeExtracted rewrites the members SQLite reads into generated columns (name, description, tags,
// meta.category) in one canonical spelling, so that the database and this package can never disagree about
// them, whatever escapes or duplicate keys the client sent. Their values do not change.
func canonicalizeExtracted(doc, meta *object) {
	for _, key := range []string{"name", "description", "tags"} {
		if v, ok := doc.get(key); ok {
			var s string
			_ = json.Unmarshal(v, &s)
			doc.set(key, marshalString(s))
		}
	}
	var category string
	c, _ := meta.get("category")
	_ = json.Unmarshal(c, &category)
	meta.set("category", marshalString(category))
	doc.set("meta", meta.encode())
}

// marshalString encodes s as a JSON string without HTML escaping.
func marshalString(s string) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// requireString reads a required string member of obj.
func (ps *problems) requireString(obj *object, key string, parent json.RawMessage, loc []any) (string, bool) {
	v, ok := obj.get(key)
	if !ok {
		ps.add("missing", "Field required", echo(parent), at(loc, key))
		return "", false
	}
	var s string
	if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
		ps.add("string_type", "Input should be a valid string", echo(v), at(loc, key))
		return "", false
	}
	return s, true
}

// requireList reads a required JSON array member as its raw elements.
func (ps *problems) requireList(obj *object, key string, limit int, parent json.RawMessage, loc []any) ([]json.RawMessage, bool) {
	v, ok := obj.get(key)
	if !ok {
		ps.add("missing", "Field required", echo(parent), at(loc, key))
		return nil, false
	}
	var items []json.RawMessage
	if len(v) == 0 || v[0] != '[' || json.Unmarshal(v, &items) != nil {
		ps.add("list_type", "Input should be a valid list", echo(v), at(loc, key))
		return nil, false
	}
	if len(items) > limit {
		ps.add("too_long", fmt.Sprintf("List should have at most %d items after validation, not %d", limit, len(items)), nil, at(loc, key))
		return nil, false
	}
	return items, true
}

// checkObjectList: nodes and edges are lists of objects whose content only the frontend interprets.
func (ps *problems) checkObjectList(doc *object, key string, limit int, parent json.RawMessage, loc []any) {
	items, ok := ps.requireList(doc, key, limit, parent, loc)
	if !ok {
		return
	}
	for i, item := range items {
		if len(item) == 0 || item[0] != '{' {
			ps.add("dict_type", "Input should be a valid dictionary", echo(item), at(loc, key, i))
		}
	}
}

// checkExposedFields: a list of {nodeId, fieldName} (extra keys allowed).
func (ps *problems) checkExposedFields(doc *object, parent json.RawMessage, loc []any) {
	items, ok := ps.requireList(doc, "exposedFields", MaxExposedFields, parent, loc)
	if !ok {
		return
	}
	for i, item := range items {
		field, err := parseObject(item)
		if err != nil {
			ps.add("model_type", "Input should be a valid dictionary or instance of ExposedField", echo(item), at(loc, "exposedFields", i))
			continue
		}
		ps.requireString(field, "nodeId", item, at(loc, "exposedFields", i))
		ps.requireString(field, "fieldName", item, at(loc, "exposedFields", i))
	}
}

// checkMeta: {version: semver string, category: "user" | "default"}; returns meta and its category when valid.
func (ps *problems) checkMeta(doc *object, parent json.RawMessage, loc []any) (*object, string) {
	raw, ok := doc.get("meta")
	if !ok {
		ps.add("missing", "Field required", echo(parent), at(loc, "meta"))
		return nil, ""
	}
	meta, err := parseObject(raw)
	if err != nil {
		ps.add("model_type", "Input should be a valid dictionary or instance of WorkflowMeta", echo(raw), at(loc, "meta"))
		return nil, ""
	}
	metaLoc := at(loc, "meta")
	if version, ok := ps.requireString(meta, "version", raw, metaLoc); ok && !semverPattern.MatchString(version) {
		ps.add("value_error", "Value error, Invalid workflow meta version: "+version, version, at(metaLoc, "version"))
	}
	category, ok := meta.get("category")
	if !ok {
		ps.add("missing", "Field required", echo(raw), at(metaLoc, "category"))
		return nil, ""
	}
	var s string
	if json.Unmarshal(category, &s) != nil || (s != CategoryUser && s != CategoryDefault) {
		ps.add("enum", "Input should be 'user' or 'default'", echo(category), at(metaLoc, "category"))
		return nil, ""
	}
	return meta, s
}

// nestingDepth is the deepest nesting of arrays and objects in raw, counted without decoding.
func nestingDepth(raw []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range raw {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > deepest {
				deepest = depth
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}
