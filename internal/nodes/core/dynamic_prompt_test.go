package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"slices"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/nodes/core"
)

func TestDynamicPromptNode(t *testing.T) {
	reg := nodes.NewRegistry()
	core.Register(reg)
	ctx := &memCtx{Context: context.Background(), images: map[string]image.Image{}}
	collection := func(fields string) []string {
		t.Helper()
		var out struct {
			Collection []string `json:"collection"`
		}
		enc := run(t, reg, ctx, "dynamic_prompt", fields)
		if err := json.Unmarshal(enc["collection"], &out.Collection); err != nil {
			t.Fatal(err)
		}
		return out.Collection
	}
	if got := collection(`{"prompt":"a {red|blue} {fox|cat}","max_prompts":10,"combinatorial":true}`); !slices.Equal(got, []string{"a red fox", "a red cat", "a blue fox", "a blue cat"}) {
		t.Fatalf("combinatorial: %q", got)
	}
	if got := collection(`{"prompt":"a {red|blue} fox","max_prompts":3}`); len(got) != 3 {
		t.Fatalf("random: %q", got)
	} else {
		for _, p := range got {
			if p != "a red fox" && p != "a blue fox" {
				t.Fatalf("random prompt %q", p)
			}
		}
	}
	// Defaults: one random prompt.
	if got := collection(`{"prompt":"{x|y}"}`); len(got) != 1 || (got[0] != "x" && got[0] != "y") {
		t.Fatalf("defaults: %q", got)
	}

	nt, _ := reg.Lookup("dynamic_prompt")
	if !nt.NoCache || nt.Version != "1.0.1" || nt.Category != "prompt" {
		t.Fatalf("node info %+v", nt.Info)
	}
	// max_prompts is bounded in the schema, and decoding refuses what is out of bounds.
	for _, bad := range []string{`{"prompt":"x","max_prompts":10001}`, `{"prompt":"x","max_prompts":-1}`} {
		var vals map[string]json.RawMessage
		_ = json.Unmarshal([]byte(bad), &vals)
		if _, err := nt.Decode(vals, nil); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
	// Syntax errors fail the node with the library's error type; wildcards with a clear message.
	for _, c := range []struct{ prompt, typ, msg string }{
		{"{a|b", "ParseException", "never closed"},
		{"__colors__ {a|b}", "ValueError", "wildcards are not supported"},
	} {
		vals := map[string]json.RawMessage{"prompt": json.RawMessage(mustJSON(c.prompt)), "max_prompts": json.RawMessage("5")}
		inv, err := nt.Decode(vals, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = inv.Invoke(ctx)
		var ne *nodes.NodeError
		if !errors.As(err, &ne) || ne.Type != c.typ || !strings.Contains(ne.Message, c.msg) {
			t.Errorf("%q: %v", c.prompt, err)
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
