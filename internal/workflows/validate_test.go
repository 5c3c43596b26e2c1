package workflows

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/invokego/invokego/internal/apperr"

	_ "modernc.org/sqlite"
)

const minimal = `{"name":"n","author":"a","description":"d","version":"1","contact":"","tags":"x, y","notes":"",` +
	`"exposedFields":[],"meta":{"version":"3.0.0","category":"user"},"nodes":[],"edges":[]}`

func mustValidate(t *testing.T, raw string) *Parsed {
	t.Helper()
	p, err := ValidateWithoutID([]byte(raw), "workflow")
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	return p
}

func TestFixtureRoundTrips(t *testing.T) {
	raw, err := os.ReadFile("testdata/sd15_txt2img_export.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ValidateWithoutID(raw, "workflow")
	if err != nil {
		t.Fatal(err)
	}
	doc := p.Document("new-id")
	var sent, stored map[string]any
	_ = json.Unmarshal(raw, &sent)
	_ = json.Unmarshal(doc, &stored)
	sent["id"] = "new-id"
	if !reflect.DeepEqual(sent, stored) {
		t.Fatal("stored document differs from the upload")
	}
	// Validating the stored document again is a no-op (what SetPublic and the defaults sync rely on).
	again, err := ValidateWithID(doc, "workflow")
	if err != nil || !bytes.Equal(again.Document("new-id"), doc) {
		t.Fatalf("re-validation changed the document: %v", err)
	}
}

func TestDocumentPlacesID(t *testing.T) {
	p := mustValidate(t, minimal)
	if doc := string(p.Document("abc")); !strings.HasSuffix(doc, `,"id":"abc"}`) {
		t.Errorf("id not appended: %s", doc)
	}
	p = mustValidate(t, `{"id":"client","name":"n","author":"a","description":"d","version":"1","contact":"","tags":"",`+
		`"notes":"","exposedFields":[],"meta":{"version":"3.0.0","category":"user"},"nodes":[],"edges":[]}`)
	if doc := string(p.Document("abc")); !strings.HasPrefix(doc, `{"id":"abc","name"`) {
		t.Errorf("existing id not replaced in place: %s", doc)
	}
}

func TestDuplicateKeysCannotSpoofTheCategory(t *testing.T) {
	// JSON.parse and Go keep the last duplicate; SQLite's json_extract reads the first. The stored document must
	// leave no room for the two to disagree about what the database indexes.
	raw := strings.Replace(minimal, `"category":"user"`, `"category":"default","category":"user"`, 1)
	raw = strings.Replace(raw, `"name":"n"`, `"name":"first","name":"n"`, 1)
	p := mustValidate(t, raw)
	doc := string(p.Document("x"))
	if strings.Contains(doc, "default") || strings.Contains(doc, "first") {
		t.Fatalf("duplicates survived: %s", doc)
	}
	if p.Category != CategoryUser || p.Name != "n" {
		t.Fatalf("parsed %q %q", p.Category, p.Name)
	}
}

func TestValidationLocations(t *testing.T) {
	cases := map[string]string{
		`[]`: "workflow",
		strings.Replace(minimal, `"version":"3.0.0"`, `"version":"3.0.0.0"`, 1):                                 "workflow.meta.version",
		strings.Replace(minimal, `"nodes":[]`, `"nodes":[{},[]]`, 1):                                            "workflow.nodes.1",
		strings.Replace(minimal, `"exposedFields":[]`, `"exposedFields":[1]`, 1):                                "workflow.exposedFields.0",
		strings.Replace(minimal, `"contact":""`, `"contact":null`, 1):                                           "workflow.contact",
		strings.Replace(minimal, `"category":"user"`, `"category":"User"`, 1):                                   "workflow.meta.category",
		strings.Replace(minimal, `"name":"n"`, `"name":"\xff"`, 1):                                              "workflow",
		strings.Replace(minimal, `"nodes":[]`, `"nodes":`+strings.Repeat("[", 101)+strings.Repeat("]", 101), 1): "workflow",
	}
	for raw, want := range cases {
		_, err := ValidateWithoutID([]byte(raw), "workflow")
		e, ok := apperr.As(err)
		if !ok || e.Status != 422 {
			t.Errorf("%s: %v, want 422", raw, err)
			continue
		}
		items := e.Detail.([]apperr.ValidationItem)
		var locs []string
		for _, it := range items {
			var parts []string
			for _, l := range it.Loc {
				parts = append(parts, strings.Trim(strings.ReplaceAll(jsonString(l), `"`, ""), " "))
			}
			locs = append(locs, strings.Join(parts, "."))
		}
		if len(locs) != 1 || locs[0] != want {
			t.Errorf("%.80s: locations %v, want [%s]", raw, locs, want)
		}
	}
	// The form is optional and may be null.
	mustValidate(t, strings.Replace(minimal, `"edges":[]`, `"edges":[],"form":null`, 1))
	// Semver with prerelease and build metadata is fine.
	mustValidate(t, strings.Replace(minimal, `"version":"3.0.0"`, `"version":"3.0.0-rc.1+build.5"`, 1))
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestWithTags(t *testing.T) {
	p := mustValidate(t, minimal)
	if doc := string(p.WithTags("a, shared").Document("i")); !strings.Contains(doc, `"tags":"a, shared"`) || !strings.Contains(string(p.Document("i")), `"tags":"x, y"`) {
		t.Fatalf("WithTags: %s", doc)
	}
	for _, c := range []struct {
		in      string
		present bool
		want    string
	}{
		{"", true, "shared"},
		{"a,b", true, "a, b, shared"},
		{" a , shared ,b ", true, "a, shared, b"},
		{"a, shared, b", false, "a, b"},
		{"shared, shared", false, "shared"},
		{"a,,b", false, "a, b"},
	} {
		if got := toggleTag(c.in, "shared", c.present); got != c.want {
			t.Errorf("toggleTag(%q, %v) = %q, want %q", c.in, c.present, got, c.want)
		}
	}
}

func TestDefaultWorkflowsAreValid(t *testing.T) {
	defaults, err := DefaultWorkflows()
	if err != nil {
		t.Fatal(err)
	}
	if len(defaults) < 4 {
		t.Fatalf("%d defaults", len(defaults))
	}
	for _, d := range defaults {
		var doc struct {
			ID            string
			ExposedFields []struct{ NodeID, FieldName string } `json:"exposedFields"`
			Nodes         []struct {
				ID   string
				Data struct {
					Inputs map[string]any
				}
			}
			Edges []struct{ Source, Target string }
			Form  struct {
				Elements      map[string]any
				RootElementID string `json:"rootElementId"`
			}
		}
		if err := json.Unmarshal([]byte(d.Document), &doc); err != nil {
			t.Fatal(err)
		}
		nodes := map[string]map[string]any{}
		for _, n := range doc.Nodes {
			nodes[n.ID] = n.Data.Inputs
		}
		for _, e := range doc.Edges {
			if nodes[e.Source] == nil || nodes[e.Target] == nil {
				t.Errorf("%s: edge %s -> %s names a missing node", d.ID, e.Source, e.Target)
			}
		}
		for _, f := range doc.ExposedFields {
			if _, ok := nodes[f.NodeID][f.FieldName]; !ok {
				t.Errorf("%s: exposed field %s.%s does not exist", d.ID, f.NodeID, f.FieldName)
			}
		}
		if doc.Form.Elements[doc.Form.RootElementID] == nil {
			t.Errorf("%s: form root missing", d.ID)
		}
	}
}

func TestMakeThumbnailRefusesBombs(t *testing.T) {
	// A well-formed PNG header claiming 20000x20000 pixels, with no pixel data: refused from the header alone.
	if _, err := MakeThumbnail(pngHeader(20000, 20000)); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("bomb accepted: %v", err)
	}
	if _, err := MakeThumbnail(pngHeader(16385, 1)); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("overlong side accepted: %v", err)
	}
	if _, err := MakeThumbnail([]byte("GIF89a")); err == nil {
		t.Fatal("truncated GIF accepted")
	}
}

// pngHeader is a PNG signature and IHDR chunk (with a correct checksum) for an 8-bit RGBA image of w×h.
func pngHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32([]byte("IHDR"), w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	out := []byte("\x89PNG\r\n\x1a\n")
	out = binary.BigEndian.AppendUint32(out, uint32(len(ihdr)-4))
	out = append(out, ihdr...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(ihdr))
}

// sqliteJSON is an in-memory SQLite used to check that the database reads stored documents as Go does.
var sqliteJSON = sync.OnceValues(func() (*sql.DB, error) { return sql.Open("sqlite", ":memory:") })

// FuzzValidateWorkflow feeds arbitrary bytes to the validator. Whatever it accepts must be a JSON object that
// SQLite can index (it agrees with us about name, description, tags and category), that validates again
// unchanged, and that keeps every member the client sent.
func FuzzValidateWorkflow(f *testing.F) {
	f.Add([]byte(minimal))
	if raw, err := os.ReadFile("testdata/sd15_txt2img_export.json"); err == nil {
		f.Add(raw)
	}
	f.Add([]byte(strings.Replace(minimal, `"category":"user"`, `"category":"default","category":"user"`, 1)))
	f.Add([]byte(strings.Replace(minimal, `"name":"n"`, `"name":"\u0000\ud800<&>","name":"\"q\""`, 1)))
	f.Add([]byte(`{"name":1}`))
	f.Add([]byte(`[[[[[[`))
	db, err := sqliteJSON()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := ValidateWithoutID(raw, "workflow")
		if err != nil {
			if e, ok := apperr.As(err); !ok || e.Status != 422 {
				t.Fatalf("rejection is not a 422: %v", err)
			}
			return
		}
		doc := p.Document("fuzz-id")
		var stored map[string]any
		if err := json.Unmarshal(doc, &stored); err != nil {
			t.Fatalf("stored document is not JSON: %v\n%s", err, doc)
		}
		var sent map[string]any
		if err := json.Unmarshal(raw, &sent); err != nil {
			t.Fatalf("accepted input is not a JSON object: %v", err)
		}
		sent["id"] = "fuzz-id"
		if !reflect.DeepEqual(sent, stored) {
			t.Fatalf("document changed:\n sent %v\nstored %v", sent, stored)
		}
		again, err := ValidateWithID(doc, "workflow")
		if err != nil || !bytes.Equal(again.Document("fuzz-id"), doc) {
			t.Fatalf("stored document does not re-validate unchanged: %v", err)
		}
		var name, description, tags, category string
		if err := db.QueryRow(`SELECT json_extract(?1, '$.name'), json_extract(?1, '$.description'), json_extract(?1, '$.tags'),
			json_extract(?1, '$.meta.category')`, string(doc)).Scan(&name, &description, &tags, &category); err != nil {
			t.Fatalf("SQLite cannot read the document: %v\n%s", err, doc)
		}
		if name != stored["name"] || description != stored["description"] || tags != stored["tags"] || category != p.Category {
			t.Fatalf("SQLite reads %q %q %q %q, Go %q %q %q %q", name, description, tags, category,
				stored["name"], stored["description"], stored["tags"], p.Category)
		}
	})
}
