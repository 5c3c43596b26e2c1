package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

type dynResp struct {
	Prompts []string `json:"prompts"`
	Error   *string  `json:"error"`
}

const dynURL = "/api/v1/utilities/dynamicprompts"

// TestDynamicPromptsRoute sends what InvokeAI's UI sends ({prompt, max_prompts} as JSON; combinatorial by
// default) and checks InvokeAI's answers, error reporting and limits.
func TestDynamicPromptsRoute(t *testing.T) {
	env := apitest.New(t)
	var r dynResp
	env.Do("POST", dynURL, apitest.JSON(map[string]any{"prompt": "a {red|blue} fox", "max_prompts": 100})).Expect(http.StatusOK).Decode(&r)
	if !slices.Equal(r.Prompts, []string{"a red fox", "a blue fox"}) || r.Error != nil {
		t.Fatalf("the issue's case: %+v", r)
	}
	// The body's null error is present, as InvokeAI's model serialises it.
	if body := string(env.Do("POST", dynURL, apitest.JSON(map[string]any{"prompt": "x"})).Expect(http.StatusOK).Body); !strings.Contains(body, `"error":null`) {
		t.Fatalf("body %s", body)
	}
	// Random with a seed draws what InvokeAI draws (testdata/dynamicprompts/goldens.json, seed 42).
	env.Do("POST", dynURL, apitest.JSON(map[string]any{"prompt": "{a|b|c}", "max_prompts": 8, "combinatorial": false, "seed": 42})).Expect(http.StatusOK).Decode(&r)
	if !slices.Equal(r.Prompts, []string{"a", "a", "c", "b", "a", "a", "b", "a"}) {
		t.Fatalf("seeded random: %q", r.Prompts)
	}
	// max_prompts caps the combinatorial list.
	env.Do("POST", dynURL, apitest.JSON(map[string]any{"prompt": "{a|b|c|d}", "max_prompts": 3})).Expect(http.StatusOK).Decode(&r)
	if len(r.Prompts) != 3 {
		t.Fatalf("max_prompts 3: %q", r.Prompts)
	}
	// An empty prompt gives one empty prompt.
	env.Do("POST", dynURL, apitest.JSON(map[string]any{"prompt": ""})).Expect(http.StatusOK).Decode(&r)
	if !slices.Equal(r.Prompts, []string{""}) || r.Error != nil {
		t.Fatalf("empty: %+v", r)
	}
	// Errors are reported in the answer, with the prompt itself as the only prompt.
	for _, c := range []struct{ prompt, msg string }{
		{"a {red|blue fox", "never closed"},
		{"a __colors__ {x|y}", "wildcards are not supported"},
		{"${undefined} {x|y}", "not defined"},
	} {
		env.Do("POST", dynURL, apitest.JSON(map[string]any{"prompt": c.prompt})).Expect(http.StatusOK).Decode(&r)
		if !slices.Equal(r.Prompts, []string{c.prompt}) || r.Error == nil || !strings.Contains(*r.Error, c.msg) {
			t.Errorf("%q: %+v", c.prompt, r)
		}
	}
	// The attack from the issue: 2^60 combinations, answered at once with the first max_prompts.
	env.Do("POST", dynURL, apitest.JSON(map[string]any{"prompt": strings.Repeat("{a|b}", 60), "max_prompts": 10000})).Expect(http.StatusOK).Decode(&r)
	if len(r.Prompts) != 10000 || r.Error != nil {
		t.Fatalf("60 variants: %d prompts, error %v", len(r.Prompts), r.Error)
	}
	// Validation: InvokeAI's bounds on max_prompts, prompt required.
	for _, body := range []map[string]any{{"prompt": "x", "max_prompts": 0}, {"prompt": "x", "max_prompts": 10001}, {"max_prompts": 5}, {"prompt": 5}} {
		if res := env.Do("POST", dynURL, apitest.JSON(body)); res.Status != http.StatusUnprocessableEntity {
			t.Errorf("%v: %d %s", body, res.Status, res.Body)
		}
	}

	// Multi-user: a login is needed (docs/security.md D1); any user may expand.
	multi := apitest.New(t, apitest.Multiuser())
	cast := multi.Cast()
	multi.Do("POST", dynURL, apitest.JSON(map[string]any{"prompt": "{a|b}"})).Expect(http.StatusUnauthorized)
	multi.Do("POST", dynURL, apitest.Token(cast.Other.Token), apitest.JSON(map[string]any{"prompt": "{a|b}"})).Expect(http.StatusOK).Decode(&r)
	if !slices.Equal(r.Prompts, []string{"a", "b"}) {
		t.Fatalf("multi-user: %q", r.Prompts)
	}
}
