// Package schema is invokego's one vocabulary of field rules. The same struct tags describe the fields of API
// bodies and queries, node inputs and model default settings; the same code checks them (answering with
// FastAPI's 422 items, pydantic's error types) and writes them into /openapi.json. See docs/architecture.md
// ("Add a field rule").
//
// Tags, named as pydantic's Field arguments so that the schema speaks them:
//
//	description:"text"     title:"Text"
//	default:"json"         default value as a JSON literal (a bare word is taken as a string)
//	ge gt le lt            numeric bounds (minimum, exclusiveMinimum, maximum, exclusiveMaximum)
//	multiple_of            numeric step (multipleOf)
//	min_length max_length  characters of a string, items of a list (minLength/maxLength, minItems/maxItems)
//
// The values a field may take come from its Go type, never from a tag: a string type that implements Enum
// (a Python Enum in InvokeAI: a schema component, error type "enum") or Literal (a typing.Literal: the values
// inline, error type "literal_error").
package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/invokego/invokego/internal/apperr"
)

// Enum is a string type with a fixed set of values that InvokeAI declares as a Python Enum. Its schema is a
// component named after the Go type.
type Enum interface{ EnumValues() []string }

// Literal is a string type with a fixed set of values that InvokeAI declares as a typing.Literal. Its schema
// lists the values inline.
type Literal interface{ LiteralValues() []string }

// IntLiteral is an integer type with a fixed set of values (a typing.Literal of integers).
type IntLiteral interface{ LiteralInts() []int64 }

var (
	enumType       = reflect.TypeOf((*Enum)(nil)).Elem()
	literalType    = reflect.TypeOf((*Literal)(nil)).Elem()
	intLiteralType = reflect.TypeOf((*IntLiteral)(nil)).Elem()
)

// Number is a bound as its tag spells it: the spelling goes into messages and the schema, as pydantic repeats
// the Python literal (1 and 1.0 differ there).
type Number struct {
	Value float64
	Text  string
}

// JSON is the bound as a JSON number.
func (n Number) JSON() json.Number { return json.Number(n.Text) }

// ctx is the bound as pydantic puts it in an error's ctx: an integer when it is written as one.
func (n Number) ctx() any {
	if i, err := strconv.ParseInt(n.Text, 10, 64); err == nil {
		return i
	}
	return n.Value
}

// Rules are the rules of one field.
type Rules struct {
	Title       string
	Description string
	// Default is the default value as JSON; nil when the tag is absent.
	Default json.RawMessage

	Ge, Gt, Le, Lt, MultipleOf *Number
	MinLength, MaxLength       *int

	// Values are the allowed strings of an Enum or Literal type (of the field, or of a list's items).
	Values []string
	// EnumName names the Enum component; empty for a Literal.
	EnumName string
	// Ints are the allowed values of an IntLiteral type.
	Ints []int64
}

// HasUpperBound reports whether a number is bounded from above.
func (r *Rules) HasUpperBound() bool { return r.Le != nil || r.Lt != nil }

// cache holds parsed rules by struct field; struct tags never change at run time.
var cache sync.Map // map[fieldKey]cached

type fieldKey struct {
	t reflect.Type
	i int
}

type cached struct {
	r   *Rules
	err error
}

// Of returns the rules of field i of struct type t. A malformed tag is an error: callers that build tables at
// start-up (the node registry) panic on it, and a test walks every API input.
func Of(t reflect.Type, i int) (*Rules, error) {
	k := fieldKey{t, i}
	if c, ok := cache.Load(k); ok {
		return c.(cached).r, c.(cached).err
	}
	r, err := parse(t.Field(i))
	cache.Store(k, cached{r, err})
	return r, err
}

// Field returns the rules of a struct field found by reflection (through embedded structs too).
func Field(parent reflect.Type, sf reflect.StructField) (*Rules, error) {
	if len(sf.Index) == 1 {
		return Of(parent, sf.Index[0])
	}
	return parse(sf)
}

func parse(sf reflect.StructField) (*Rules, error) {
	r := &Rules{Title: sf.Tag.Get("title"), Description: sf.Tag.Get("description")}
	if d, ok := sf.Tag.Lookup("default"); ok {
		r.Default = defaultFor(d, sf.Type)
	}
	num := func(tag string) (*Number, error) {
		s, ok := sf.Tag.Lookup(tag)
		if !ok {
			return nil, nil
		}
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("field %s: %s:%q is not a number", sf.Name, tag, s)
		}
		return &Number{Value: x, Text: s}, nil
	}
	var err error
	for _, p := range []struct {
		tag string
		dst **Number
	}{{"ge", &r.Ge}, {"gt", &r.Gt}, {"le", &r.Le}, {"lt", &r.Lt}, {"multiple_of", &r.MultipleOf}} {
		if *p.dst, err = num(p.tag); err != nil {
			return nil, err
		}
	}
	if r.MultipleOf != nil && r.MultipleOf.Value <= 0 {
		return nil, fmt.Errorf("field %s: multiple_of must be positive", sf.Name)
	}
	for _, p := range []struct {
		tag string
		dst **int
	}{{"min_length", &r.MinLength}, {"max_length", &r.MaxLength}} {
		if s, ok := sf.Tag.Lookup(p.tag); ok {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("field %s: %s:%q is not a length", sf.Name, p.tag, s)
			}
			*p.dst = &n
		}
	}
	for _, old := range []string{"min", "max", "maxLength", "doc", "enum"} {
		if _, ok := sf.Tag.Lookup(old); ok {
			return nil, fmt.Errorf("field %s: tag %q is not a field rule (see package schema)", sf.Name, old)
		}
	}
	base := sf.Type
	for base.Kind() == reflect.Pointer || base.Kind() == reflect.Slice {
		base = base.Elem()
	}
	r.Values, r.EnumName = Values(base)
	r.Ints = Ints(base)
	return r, nil
}

// Values returns the allowed strings of an Enum or Literal type, and the component name of an Enum.
func Values(t reflect.Type) (values []string, enumName string) {
	if t.Kind() != reflect.String {
		return nil, ""
	}
	z := reflect.Zero(t).Interface()
	if e, ok := z.(Enum); ok && t.Implements(enumType) {
		return e.EnumValues(), t.Name()
	}
	if l, ok := z.(Literal); ok && t.Implements(literalType) {
		return l.LiteralValues(), ""
	}
	return nil, ""
}

// defaultFor reads a default tag for a field of type t: a string field takes a bare word as itself ("10" is the
// string "10"), other fields a JSON literal.
func defaultFor(tag string, t reflect.Type) json.RawMessage {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.String && tag != "null" && !strings.HasPrefix(tag, `"`) {
		b, _ := json.Marshal(tag)
		return b
	}
	return DefaultJSON(tag)
}

// Ints returns the allowed values of an IntLiteral type.
func Ints(t reflect.Type) []int64 {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
	default:
		return nil
	}
	if l, ok := reflect.Zero(t).Interface().(IntLiteral); ok && t.Implements(intLiteralType) {
		return l.LiteralInts()
	}
	return nil
}

// DefaultJSON accepts a JSON literal or, for convenience, a bare string.
func DefaultJSON(s string) json.RawMessage {
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}

// Check applies the rules to a decoded value (a pointer is followed, nil passes) and returns the problems
// located at loc, in pydantic's order: the list's length, then each item's value; for a number multiple_of,
// le, lt, ge, gt.
func (r *Rules) Check(v reflect.Value, loc []any) []apperr.ValidationItem {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8 {
		if it := r.checkLength(v.Len(), "List", v, loc); it != nil {
			return []apperr.ValidationItem{*it}
		}
		var items []apperr.ValidationItem
		for i := 0; i < v.Len(); i++ {
			if it := r.checkScalar(v.Index(i), appendLoc(loc, i)); it != nil {
				items = append(items, *it)
			}
		}
		return items
	}
	if it := r.checkScalar(v, loc); it != nil {
		return []apperr.ValidationItem{*it}
	}
	return nil
}

func appendLoc(loc []any, more ...any) []any { return append(append([]any{}, loc...), more...) }

func (r *Rules) checkScalar(v reflect.Value, loc []any) *apperr.ValidationItem {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		if len(r.Values) > 0 {
			for _, a := range r.Values {
				if a == s {
					return nil
				}
			}
			return EnumError(r.Values, r.EnumName != "", s, loc)
		}
		return r.checkLength(utf8.RuneCountInString(s), "String", v, loc)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if len(r.Ints) > 0 {
			for _, a := range r.Ints {
				if a == v.Int() {
					return nil
				}
			}
			words := make([]string, len(r.Ints))
			for i, a := range r.Ints {
				words[i] = strconv.FormatInt(a, 10)
			}
			exp := strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
			if len(words) == 1 {
				exp = words[0]
			}
			return &apperr.ValidationItem{Type: "literal_error", Loc: loc, Msg: "Input should be " + exp, Input: v.Int(), Ctx: map[string]any{"expected": exp}}
		}
		return r.checkNumber(float64(v.Int()), v.Int(), true, loc)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return r.checkNumber(float64(v.Uint()), int64(v.Uint()), true, loc)
	case reflect.Float32, reflect.Float64:
		return r.checkNumber(v.Float(), 0, false, loc)
	}
	return nil
}

// EnumError is the 422 item for a string outside its allowed values.
func EnumError(values []string, isEnum bool, input any, loc []any) *apperr.ValidationItem {
	typ := "literal_error"
	if isEnum {
		typ = "enum"
	}
	exp := apperr.Choices(values)
	return &apperr.ValidationItem{Type: typ, Loc: loc, Msg: "Input should be " + exp, Input: input, Ctx: map[string]any{"expected": exp}}
}

func (r *Rules) checkLength(n int, what string, v reflect.Value, loc []any) *apperr.ValidationItem {
	input := v.Interface()
	plural := func(k int) string {
		if k == 1 {
			return ""
		}
		return "s"
	}
	if what == "String" {
		if r.MinLength != nil && n < *r.MinLength {
			return &apperr.ValidationItem{Type: "string_too_short", Loc: loc, Input: input, Ctx: map[string]any{"min_length": *r.MinLength},
				Msg: fmt.Sprintf("String should have at least %d character%s", *r.MinLength, plural(*r.MinLength))}
		}
		if r.MaxLength != nil && n > *r.MaxLength {
			return &apperr.ValidationItem{Type: "string_too_long", Loc: loc, Input: input, Ctx: map[string]any{"max_length": *r.MaxLength},
				Msg: fmt.Sprintf("String should have at most %d character%s", *r.MaxLength, plural(*r.MaxLength))}
		}
		return nil
	}
	if r.MinLength != nil && n < *r.MinLength {
		return &apperr.ValidationItem{Type: "too_short", Loc: loc, Input: input,
			Ctx: map[string]any{"field_type": what, "min_length": *r.MinLength, "actual_length": n},
			Msg: fmt.Sprintf("%s should have at least %d item%s after validation, not %d", what, *r.MinLength, plural(*r.MinLength), n)}
	}
	if r.MaxLength != nil && n > *r.MaxLength {
		return &apperr.ValidationItem{Type: "too_long", Loc: loc, Input: input,
			Ctx: map[string]any{"field_type": what, "max_length": *r.MaxLength, "actual_length": n},
			Msg: fmt.Sprintf("%s should have at most %d item%s after validation, not %d", what, *r.MaxLength, plural(*r.MaxLength), n)}
	}
	return nil
}

func (r *Rules) checkNumber(x float64, i int64, isInt bool, loc []any) *apperr.ValidationItem {
	var input any = x
	if isInt {
		input = i
	}
	bad := func(typ, words string, n *Number, key string) *apperr.ValidationItem {
		return &apperr.ValidationItem{Type: typ, Loc: loc, Msg: "Input should be " + words + " " + n.Text, Input: input,
			Ctx: map[string]any{key: n.ctx()}}
	}
	if m := r.MultipleOf; m != nil {
		off := false
		if isInt && m.Value == math.Trunc(m.Value) {
			off = i%int64(m.Value) != 0
		} else {
			q := x / m.Value
			off = math.Abs(q-math.Round(q)) > 1e-9
		}
		if off {
			return bad("multiple_of", "a multiple of", m, "multiple_of")
		}
	}
	switch {
	case r.Le != nil && !(x <= r.Le.Value):
		return bad("less_than_equal", "less than or equal to", r.Le, "le")
	case r.Lt != nil && !(x < r.Lt.Value):
		return bad("less_than", "less than", r.Lt, "lt")
	case r.Ge != nil && !(x >= r.Ge.Value):
		return bad("greater_than_equal", "greater than or equal to", r.Ge, "ge")
	case r.Gt != nil && !(x > r.Gt.Value):
		return bad("greater_than", "greater than", r.Gt, "gt")
	}
	return nil
}

// Apply writes the rules into a JSON schema as pydantic does (the title only when set, defaults as given).
func (r *Rules) Apply(s map[string]any, isList bool) {
	if r.Title != "" {
		s["title"] = r.Title
	}
	if r.Description != "" {
		s["description"] = r.Description
	}
	if r.Default != nil {
		s["default"] = r.Default
	}
	for key, n := range map[string]*Number{"minimum": r.Ge, "exclusiveMinimum": r.Gt, "maximum": r.Le,
		"exclusiveMaximum": r.Lt, "multipleOf": r.MultipleOf} {
		if n != nil {
			s[key] = n.JSON()
		}
	}
	minKey, maxKey := "minLength", "maxLength"
	if isList {
		minKey, maxKey = "minItems", "maxItems"
	}
	if r.MinLength != nil {
		s[minKey] = *r.MinLength
	}
	if r.MaxLength != nil {
		s[maxKey] = *r.MaxLength
	}
}
