package dynamic

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

type goldenResult struct {
	Prompts []string `json:"prompts"`
	Error   string   `json:"error"`
}

type goldenCase struct {
	Prompt        string                  `json:"prompt"`
	Combinatorial goldenResult            `json:"combinatorial"`
	Random        map[string]goldenResult `json:"random"`
}

// loadGoldens reads testdata/dynamicprompts/goldens.json: expansions by the dynamicprompts library itself
// (testdata/README.md says how they were made).
func loadGoldens(t *testing.T) (cases []goldenCase, maxComb, randomCount int) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "dynamicprompts", "goldens.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		MaxCombinatorial int          `json:"max_combinatorial"`
		RandomCount      int          `json:"random_count"`
		Cases            []goldenCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) < 50 {
		t.Fatalf("only %d golden cases", len(g.Cases))
	}
	return g.Cases, g.MaxCombinatorial, g.RandomCount
}

func check(t *testing.T, what string, got []string, err error, want goldenResult) {
	t.Helper()
	if want.Error != "" {
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: got %q (err %v), want an error like the library's %s", what, got, err, want.Error)
			return
		}
		if want.Error == "ParseException" && !e.Syntax {
			t.Errorf("%s: error %q is not a syntax error, the library's is", what, e.Msg)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: error %v, want %q", what, err, want.Prompts)
		return
	}
	if !slices.Equal(got, want.Prompts) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want.Prompts)
	}
}

// TestCombinatorialMatchesTheLibrary compares every combinatorial expansion with the library's, in order.
func TestCombinatorialMatchesTheLibrary(t *testing.T) {
	cases, maxComb, _ := loadGoldens(t)
	for _, c := range cases {
		if strings.Contains(c.Prompt, "~") {
			continue // random draws inside a combinatorial expansion come from an unseeded source in the library
		}
		got, err := Expand(c.Prompt, Options{MaxPrompts: maxComb, Combinatorial: true})
		check(t, "combinatorial "+strconvQuote(c.Prompt), got, err, c.Combinatorial)
	}
}

// TestSeededRandomMatchesTheLibrary: a seeded random expansion draws what the library draws for that seed.
func TestSeededRandomMatchesTheLibrary(t *testing.T) {
	cases, _, count := loadGoldens(t)
	for _, c := range cases {
		for seedText, want := range c.Random {
			var seed int64
			if err := json.Unmarshal([]byte(seedText), &seed); err != nil {
				t.Fatal(err)
			}
			got, err := Expand(c.Prompt, Options{MaxPrompts: count, Seed: &seed})
			check(t, "random seed "+seedText+" "+strconvQuote(c.Prompt), got, err, want)
		}
	}
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }
