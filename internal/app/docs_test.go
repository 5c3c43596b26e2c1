package app_test

import (
	"flag"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

// updateDocs rewrites the generated parts of docs/ from the code instead of comparing them.
var updateDocs = flag.Bool("update-docs", false, "rewrite the node-type table of docs/compatibility.md from the registry")

const (
	compatibilityDoc = "../../docs/compatibility.md"
	nodeTableBegin   = "<!-- node-types:begin"
	nodeTableEnd     = "<!-- node-types:end -->"
)

// nodeTable renders the registry's node types as docs/compatibility.md lists them.
func nodeTable(t *testing.T) []string {
	env := apitest.New(t)
	var rows []string
	for _, nt := range env.App.NodeRegistry().Types() {
		rows = append(rows, fmt.Sprintf("| `%s` | %s | `%s` | %s |", nt.Type, nt.Version, nt.Output.OutputType(), nt.Category))
	}
	return rows
}

// TestCompatibilityDocListsNodeTypes keeps docs/compatibility.md §8 honest: its table of node types must be
// exactly the server's registry (type, version, output type, category), so the document cannot drift from the
// code. Regenerate it with: go test ./internal/app -run TestCompatibilityDocListsNodeTypes -args -update-docs
func TestCompatibilityDocListsNodeTypes(t *testing.T) {
	raw, err := os.ReadFile(compatibilityDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	begin := strings.Index(doc, nodeTableBegin)
	end := strings.Index(doc, nodeTableEnd)
	if begin < 0 || end < begin {
		t.Fatalf("%s: no %q … %q block", compatibilityDoc, nodeTableBegin, nodeTableEnd)
	}
	block := doc[begin:end]
	lines := strings.Split(strings.TrimRight(block, "\n"), "\n")
	// lines[0] is the begin marker, then the header and the separator of the table.
	if len(lines) < 3 {
		t.Fatalf("%s: the node-type block has no table header", compatibilityDoc)
	}
	got := lines[3:]
	want := nodeTable(t)

	if *updateDocs {
		fresh := strings.Join(append(lines[:3:3], want...), "\n") + "\n"
		if err := os.WriteFile(compatibilityDoc, []byte(doc[:begin]+fresh+doc[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the node-type table of %s (%d types)", compatibilityDoc, len(want))
		return
	}

	documented := map[string]bool{}
	for _, row := range got {
		documented[row] = true
	}
	registered := map[string]bool{}
	for _, row := range want {
		registered[row] = true
		if !documented[row] {
			t.Errorf("registered but not in docs/compatibility.md: %s", row)
		}
	}
	for _, row := range got {
		if !registered[row] {
			t.Errorf("in docs/compatibility.md but not registered (or changed): %s", row)
		}
	}
	if t.Failed() {
		t.Log("regenerate the table: go test ./internal/app -run TestCompatibilityDocListsNodeTypes -args -update-docs")
	} else if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Error("docs/compatibility.md lists the node types out of name order; regenerate the table with -update-docs")
	}
}

// TestEngineImportsNothingElse holds the first rule of docs/architecture.md: the engine packages
// (internal/engine/...) import nothing from the rest of the module, so they know nothing of HTTP, the database
// or the access rules, and could become a module of their own.
func TestEngineImportsNothingElse(t *testing.T) {
	const module = "github.com/invokego/invokego/"
	const engine = module + "internal/engine/"
	checked := 0
	err := filepath.WalkDir("../engine", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			if strings.HasPrefix(p, module) && !strings.HasPrefix(p, engine) {
				t.Errorf("%s imports %s: engine packages may import only other engine packages", path, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("only %d engine files found; is the test looking in the right place?", checked)
	}
}
