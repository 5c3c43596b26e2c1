package api

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
)

func TestRouteWithoutPolicyCannotBeRegistered(t *testing.T) {
	rt := NewRouter(nil, false, slog.New(slog.NewTextHandler(io.Discard, nil)), CORS{})
	defer func() {
		if recover() == nil {
			t.Fatal("registering a route without a policy did not panic")
		}
	}()
	rt.Add(JSON(Op{Method: "GET", Path: "/x"}, func(*Call, *NoInput) (int, error) { return 1, nil }))
}

func TestPanicInHandlerIsRecovered(t *testing.T) {
	rt := NewRouter(nil, false, slog.New(slog.NewTextHandler(io.Discard, nil)), CORS{})
	rt.Add(JSON(Op{Method: "GET", Path: "/boom", Policy: access.LoggedIn}, func(*Call, *NoInput) (int, error) { panic("kaboom") }))
	rt.Add(JSON(Op{Method: "GET", Path: "/ok", Policy: access.LoggedIn}, func(*Call, *NoInput) (int, error) { return 7, nil }))
	srv := httptest.NewServer(rt)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/boom")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	_ = json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != 500 || body["detail"] != "Internal Server Error" || body["request_id"] == "" || body["request_id"] != res.Header.Get("X-Request-ID") {
		t.Fatalf("panic answer %d %v %v", res.StatusCode, body, res.Header)
	}
	if strings.Contains(body["detail"].(string), "kaboom") {
		t.Fatal("panic text leaked")
	}
	// The server keeps serving.
	res, err = http.Get(srv.URL + "/ok")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("after panic: %v %v", res, err)
	}
}

type testOrder string

func (testOrder) LiteralValues() []string { return []string{"asc", "desc"} }

func TestBindQueryAndConstraints(t *testing.T) {
	type in struct {
		Offset int       `query:"offset" default:"0" ge:"0"`
		Limit  int       `query:"limit" required:"true" le:"100"`
		Order  testOrder `query:"order" default:"asc"`
		Cats   []string  `query:"categories"`
		Flag   *bool     `query:"flag"`
	}
	cases := []struct {
		query string
		ok    bool
	}{
		{"limit=5", true},
		{"limit=5&categories=a&categories=b&flag=true", true},
		{"", false},
		{"limit=x", false},
		{"limit=500", false},
		{"limit=5&offset=-1", false},
		{"limit=5&order=sideways", false},
		{"limit=5&flag=maybe", false},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", "/?"+tc.query, nil)
		var v in
		err := Bind(r, &v)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err=%v, want ok=%v", tc.query, err, tc.ok)
		}
		if tc.query == "limit=5&categories=a&categories=b&flag=true" && (len(v.Cats) != 2 || v.Flag == nil || !*v.Flag || v.Order != "asc") {
			t.Errorf("bound %+v", v)
		}
	}
}

func TestBindBodyForbidExtra(t *testing.T) {
	type body struct {
		Name string `json:"name" max_length:"5"`
		N    *int   `json:"n,omitempty"`
	}
	type in struct {
		Body body `body:"json,forbid"`
	}
	for raw, ok := range map[string]bool{
		`{"name":"abc"}`:            true,
		`{"name":"abc","n":2}`:      true,
		`{"name":"abc","extra":1}`:  false,
		`{"name":"toolongname"}`:    false,
		`{"n":2}`:                   false,
		`{"name":null}`:             false,
		`{"name":"a"} {"name":"b"}`: false,
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(raw))
		var v in
		if err := Bind(r, &v); (err == nil) != ok {
			t.Errorf("%s: err=%v, want ok=%v", raw, err, ok)
		}
	}
}

// Type mismatches are reported as pydantic reports them: its error type, and the offending input itself.
func TestBindTypeErrorsLikePydantic(t *testing.T) {
	type inner struct {
		On bool `json:"on"`
	}
	type body struct {
		Names []string `json:"names"`
		Flag  bool     `json:"flag"`
		Count int      `json:"count"`
		Inner inner    `json:"inner"`
	}
	type in struct {
		Body body `body:"json,forbid"`
	}
	for _, c := range []struct {
		raw   string
		typ   string
		loc   []any
		input any
	}{
		{`{"names":"abc"}`, "list_type", []any{"body", "names"}, "abc"},
		{`{"flag":"yes"}`, "bool_type", []any{"body", "flag"}, "yes"},
		{`{"count":1.5}`, "int_type", []any{"body", "count"}, 1.5},
		{`{"inner":[]}`, "model_attributes_type", []any{"body", "inner"}, []any{}},
		{`{"inner":{"on":3}}`, "bool_type", []any{"body", "inner", "on"}, float64(3)},
		{`{"foo":1}`, "extra_forbidden", []any{"body", "foo"}, float64(1)},
		{`{"flag":null}`, "bool_type", []any{"body", "flag"}, nil},
	} {
		var v in
		err := Bind(httptest.NewRequest("POST", "/", strings.NewReader(c.raw)), &v)
		var ae *apperr.Error
		if !errors.As(err, &ae) || ae.Status != 422 {
			t.Fatalf("%s: %v", c.raw, err)
		}
		// Other fields are missing too; find the item at the loc in question.
		var got *apperr.ValidationItem
		for i, item := range ae.Detail.([]apperr.ValidationItem) {
			if reflect.DeepEqual(item.Loc, c.loc) {
				got = &ae.Detail.([]apperr.ValidationItem)[i]
			}
		}
		if got == nil || got.Type != c.typ || !reflect.DeepEqual(got.Input, c.input) {
			t.Errorf("%s: got %+v, want type %s at %v with input %#v", c.raw, ae.Detail, c.typ, c.loc, c.input)
		}
	}
}
