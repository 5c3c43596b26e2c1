package core_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/nodes/core"
)

func promptFileRegistry(t *testing.T) (*nodes.Registry, string, string) {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "prompts")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// \n, \r\n and a lone \r end lines, as in Python's text files; strip() trims each.
	write(filepath.Join(dir, "p.txt"), "  a red fox \nblue cat\r\n\tgreen owl\rlast line\t")
	write(filepath.Join(dir, "sub", "q.txt"), "one\n\ntwo\n")
	write(filepath.Join(base, "secret.txt"), "password\n")
	if err := os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	reg := nodes.NewRegistry()
	core.RegisterPromptFile(reg, core.PromptFiles{Dir: dir})
	return reg, dir, base
}

func TestPromptsFromFileAsInvokeAI(t *testing.T) {
	reg, dir, _ := promptFileRegistry(t)
	_, ctx := primRegistry()
	cases := []struct {
		fields string
		want   []string
	}{
		{`{"file_path": "p.txt"}`, []string{"a red fox"}},
		{`{"file_path": "p.txt", "max_prompts": 0}`, []string{"a red fox", "blue cat", "green owl", "last line"}},
		{`{"file_path": "p.txt", "start_line": 2, "max_prompts": 2, "pre_prompt": "[", "post_prompt": "]"}`, []string{"[blue cat]", "[green owl]"}},
		{`{"file_path": "p.txt", "start_line": 9, "max_prompts": 0}`, []string{}},
		{`{"file_path": "sub/q.txt", "max_prompts": 5}`, []string{"one", "", "two"}},
		{`{"file_path": "` + filepath.Join(dir, "sub", "q.txt") + `", "start_line": 3}`, []string{"two"}},
	}
	for _, c := range cases {
		out, err := invoke(t, reg, ctx, "prompt_from_file", c.fields)
		if err != nil {
			t.Errorf("%s: %v", c.fields, err)
			continue
		}
		var got []string
		field(t, out, "collection", &got)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %q, want %q", c.fields, got, c.want)
		}
	}
}

// Files outside the prompts folder stay unread, however they are named.
func TestPromptsFromFileStaysInItsFolder(t *testing.T) {
	reg, _, base := promptFileRegistry(t)
	_, ctx := primRegistry()
	for _, name := range []string{"../secret.txt", filepath.Join(base, "secret.txt"), "link.txt", "/etc/passwd", "missing.txt", "sub"} {
		out, err := invoke(t, reg, ctx, "prompt_from_file", jsonOf(map[string]any{"file_path": name, "max_prompts": 0}))
		var ne *nodes.NodeError
		if !errors.As(err, &ne) {
			t.Errorf("%s: read %s (err %v)", name, out["collection"], err)
		}
	}
	if _, err := invoke(t, reg, ctx, "prompt_from_file", `{"file_path": "p.txt", "start_line": 0}`); err == nil {
		t.Error("start_line 0 was accepted")
	}
	none := nodes.NewRegistry()
	core.RegisterPromptFile(none, core.PromptFiles{})
	if _, err := invoke(t, none, ctx, "prompt_from_file", `{"file_path": "p.txt"}`); err == nil {
		t.Error("a server without a prompts folder read a file")
	}
}

type presets map[string][2]string

func (p presets) PresetPrompts(_ context.Context, userID, id string) (string, string, error) {
	v, ok := p[userID+"/"+id]
	if !ok {
		return "", "", errors.New("Style preset not found")
	}
	return v[0], v[1], nil
}

func TestPromptTemplate(t *testing.T) {
	reg := nodes.NewRegistry()
	// memCtx's items belong to user "u": the presets are read with that user's rights.
	core.RegisterPromptTemplate(reg, presets{"u/p1": {"photo of {prompt}, {prompt} again", "blurry"}, "v/p2": {"x", "y"}})
	_, ctx := primRegistry()
	out, err := invoke(t, reg, ctx, "prompt_template", `{"style_preset": {"style_preset_id": "p1"}, "positive_prompt": "a fox", "negative_prompt": "ugly"}`)
	if err != nil {
		t.Fatal(err)
	}
	var pos, neg string
	field(t, out, "positive_prompt", &pos)
	field(t, out, "negative_prompt", &neg)
	if pos != "photo of a fox, a fox again" || neg != "blurry" {
		t.Errorf("template = %q / %q", pos, neg)
	}
	if _, err := invoke(t, reg, ctx, "prompt_template", `{"style_preset": {"style_preset_id": "p2"}}`); err == nil {
		t.Error("another user's preset was read")
	}
}
