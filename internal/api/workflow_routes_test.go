package api_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"maps"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/workflows"
)

const wfAPI = "/api/v1/workflows"

// fixtureBytes is a workflow file as InvokeAI exports it (with unknown keys, unicode, a notes node and a form).
func fixtureBytes(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "workflows", "testdata", "sd15_txt2img_export.json"))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func fixture(t *testing.T) map[string]any {
	t.Helper()
	raw := fixtureBytes(t)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// minimalWorkflow is the smallest valid workflow.
func minimalWorkflow(name, tags string) map[string]any {
	return map[string]any{
		"name": name, "author": "tester", "description": "desc of " + name, "version": "1.0.0", "contact": "",
		"tags": tags, "notes": "", "exposedFields": []any{}, "meta": map[string]any{"version": "3.0.0", "category": "user"},
		"nodes": []any{}, "edges": []any{},
	}
}

type record struct {
	WorkflowID   string         `json:"workflow_id"`
	Name         string         `json:"name"`
	CreatedAt    string         `json:"created_at"`
	UpdatedAt    string         `json:"updated_at"`
	OpenedAt     *string        `json:"opened_at"`
	UserID       string         `json:"user_id"`
	IsPublic     bool           `json:"is_public"`
	Workflow     map[string]any `json:"workflow"`
	ThumbnailURL *string        `json:"thumbnail_url"`
}

type listItem struct {
	WorkflowID   string  `json:"workflow_id"`
	Name         string  `json:"name"`
	UserID       string  `json:"user_id"`
	IsPublic     bool    `json:"is_public"`
	Category     string  `json:"category"`
	Tags         string  `json:"tags"`
	Description  string  `json:"description"`
	OpenedAt     *string `json:"opened_at"`
	ThumbnailURL *string `json:"thumbnail_url"`
}

type page struct {
	Page    int        `json:"page"`
	Pages   int        `json:"pages"`
	PerPage int        `json:"per_page"`
	Total   int        `json:"total"`
	Items   []listItem `json:"items"`
}

func (p page) ids() []string {
	out := []string{}
	for _, it := range p.Items {
		out = append(out, it.WorkflowID)
	}
	return out
}

func createWorkflow(e *apitest.Env, tok string, wf map[string]any) record {
	e.T.Helper()
	var r record
	e.Do("POST", wfAPI+"/", apitest.Token(tok), apitest.JSON(map[string]any{"workflow": wf})).Expect(200).Decode(&r)
	return r
}

func listWorkflows(e *apitest.Env, tok, query string) page {
	e.T.Helper()
	var p page
	e.Do("GET", wfAPI+"/?"+query, apitest.Token(tok)).Expect(200).Decode(&p)
	return p
}

// withoutID drops the id a stored workflow carries, to compare it with what was sent.
func withoutID(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if k != "id" {
			out[k] = v
		}
	}
	return out
}

func pngBytes(t testing.TB, w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(x), G: uint8(y), B: 200, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// multipartImage builds a form with one file field.
func multipartImage(field, contentType string, data []byte) apitest.ReqOpt {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename="thumb.png"`, field))
	h.Set("Content-Type", contentType)
	part, _ := mw.CreatePart(h)
	_, _ = part.Write(data)
	_ = mw.Close()
	return apitest.RawBody(mw.FormDataContentType(), buf.Bytes())
}

func TestWorkflowImportRoundTrip(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts []apitest.Option
	}{{"single-user", nil}, {"multi-user", []apitest.Option{apitest.Multiuser()}}} {
		t.Run(mode.name, func(t *testing.T) {
			e := apitest.New(t, mode.opts...)
			tok := ""
			if len(mode.opts) > 0 {
				tok = e.Cast().Owner.Token
			}
			sent := fixture(t)
			// The file goes up as it is, so that the order of its keys is the exporter's.
			body := append(append([]byte(`{"workflow": `), fixtureBytes(t)...), '}')
			var created record
			e.Do("POST", wfAPI+"/", apitest.Token(tok), apitest.RawBody("application/json", body)).Expect(200).Decode(&created)
			if created.Workflow["id"] != created.WorkflowID || created.WorkflowID == sent["id"] {
				t.Fatalf("the stored id must be the new workflow_id: workflow.id=%v workflow_id=%s", created.Workflow["id"], created.WorkflowID)
			}
			if !reflect.DeepEqual(withoutID(created.Workflow), withoutID(sent)) {
				t.Fatalf("create changed the workflow:\n got %v\nwant %v", withoutID(created.Workflow), withoutID(sent))
			}
			var got record
			e.Do("GET", wfAPI+"/i/"+created.WorkflowID, apitest.Token(tok)).Expect(200).Decode(&got)
			if !reflect.DeepEqual(withoutID(got.Workflow), withoutID(sent)) {
				t.Fatal("reading back changed the workflow")
			}
			if got.Name != sent["name"] || got.ThumbnailURL != nil || got.OpenedAt != nil {
				t.Fatalf("record fields: %+v", got)
			}
			// Key order survives, including the unknown key; the client's id is replaced in place.
			resp := e.Do("GET", wfAPI+"/i/"+created.WorkflowID, apitest.Token(tok)).Expect(200)
			var raw struct {
				Workflow json.RawMessage `json:"workflow"`
			}
			resp.Decode(&raw)
			keys := topLevelKeys(t, raw.Workflow)
			if keys[0] != "name" || keys[1] != "author" || keys[len(keys)-1] != "id" || keys[len(keys)-2] != "x_invokego_unknown" {
				t.Fatalf("key order not kept: %v", keys)
			}

			// An update stores the new document verbatim too.
			edited := got.Workflow
			edited["name"] = "Renamed"
			edited["notes"] = "now with notes"
			var updated record
			e.Do("PATCH", wfAPI+"/i/"+created.WorkflowID, apitest.Token(tok), apitest.JSON(map[string]any{"workflow": edited})).Expect(200).Decode(&updated)
			if !reflect.DeepEqual(updated.Workflow, edited) || updated.Name != "Renamed" {
				t.Fatalf("update: %+v", updated.Workflow)
			}
			e.Do("GET", wfAPI+"/i/"+created.WorkflowID, apitest.Token(tok)).Expect(200).Decode(&got)
			if !reflect.DeepEqual(got.Workflow, edited) {
				t.Fatal("reading back the update changed it")
			}
		})
	}
}

func topLevelKeys(t *testing.T, raw []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		tok, _ := dec.Token()
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		_ = dec.Decode(&skip)
	}
	return keys
}

// accessWorld is one multi-user server with the cast of docs/security.md §5.4.
type accessWorld struct {
	e     *apitest.Env
	users apitest.Users
}

type target string

const (
	private  target = "private" // the owner's, not shared
	shared   target = "shared"  // the owner's, shared
	builtin  target = "default" // a built-in default workflow
	legacy   target = "legacy"  // a user-category row owned by system, not shared
	thumbPNG        = "image/png"
)

func (w *accessWorld) token(r apitest.Role) string { return w.users.Token(r) }

// make creates a fresh target (with a thumbnail for the user ones) and returns its id.
func (w *accessWorld) make(t *testing.T, tg target) string {
	t.Helper()
	switch tg {
	case builtin:
		return "default_text_to_image_sd15"
	case legacy:
		wf, err := workflows.ValidateWithoutID(mustJSON(minimalWorkflow("legacy", "")))
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("legacy-%d", time.Now().UnixNano())
		if err := w.e.App.DB.InsertWorkflow(context.Background(), id, string(wf.Document(id)), "system", false); err != nil {
			t.Fatal(err)
		}
		w.e.Do("PUT", wfAPI+"/i/"+id+"/thumbnail", apitest.Token(w.users.Admin.Token), multipartImage("image", thumbPNG, pngBytes(t, 8, 8))).Expect(200)
		return id
	}
	r := createWorkflow(w.e, w.users.Owner.Token, minimalWorkflow(string(tg), "a"))
	if tg == shared {
		w.e.Do("PATCH", wfAPI+"/i/"+r.WorkflowID+"/is_public", apitest.Token(w.users.Owner.Token), apitest.JSON(map[string]any{"is_public": true})).Expect(200)
	}
	w.e.Do("PUT", wfAPI+"/i/"+r.WorkflowID+"/thumbnail", apitest.Token(w.users.Owner.Token), multipartImage("image", thumbPNG, pngBytes(t, 8, 8))).Expect(200)
	return r.WorkflowID
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// isOwn reports whether the role owns the target (only the owner's own workflows).
func isOwn(r apitest.Role, tg target) bool {
	return r == apitest.Owner && (tg == private || tg == shared)
}

// canRead is docs/security.md §5.4's GET /i/{id} column.
func canRead(r apitest.Role, tg target) bool {
	return r == apitest.Admin || isOwn(r, tg) || tg == shared || tg == builtin
}

func TestWorkflowAccessMatrix(t *testing.T) {
	e := apitest.New(t, apitest.Multiuser())
	w := &accessWorld{e: e, users: e.Cast()}
	roles := apitest.Roles
	targets := []target{private, shared, builtin, legacy}

	type op struct {
		name string
		// expect gives the status for a role and a target (anonymous callers always get 401).
		expect func(r apitest.Role, tg target) int
		do     func(id, tok string) *apitest.Resp
	}
	// change is the rule for update, delete, sharing and thumbnails: admins and the owner, never a default.
	change := func(r apitest.Role, tg target) int {
		switch {
		case tg == builtin:
			return 403
		case r == apitest.Admin || isOwn(r, tg):
			return 200
		}
		return 403
	}
	read := func(r apitest.Role, tg target) int {
		if canRead(r, tg) {
			return 200
		}
		return 403
	}
	ops := []op{
		{"get", read, func(id, tok string) *apitest.Resp { return e.Do("GET", wfAPI+"/i/"+id, apitest.Token(tok)) }},
		{"update", change, func(id, tok string) *apitest.Resp {
			wf := minimalWorkflow("changed", "")
			wf["id"] = id
			return e.Do("PATCH", wfAPI+"/i/"+id, apitest.Token(tok), apitest.JSON(map[string]any{"workflow": wf}))
		}},
		{"delete", change, func(id, tok string) *apitest.Resp { return e.Do("DELETE", wfAPI+"/i/"+id, apitest.Token(tok)) }},
		{"is_public", change, func(id, tok string) *apitest.Resp {
			return e.Do("PATCH", wfAPI+"/i/"+id+"/is_public", apitest.Token(tok), apitest.JSON(map[string]any{"is_public": true}))
		}},
		{"opened_at", func(r apitest.Role, tg target) int {
			if r == apitest.Admin || isOwn(r, tg) {
				return 200
			}
			return 403
		}, func(id, tok string) *apitest.Resp {
			return e.Do("PUT", wfAPI+"/i/"+id+"/opened_at", apitest.Token(tok))
		}},
		{"thumbnail put", change, func(id, tok string) *apitest.Resp {
			return e.Do("PUT", wfAPI+"/i/"+id+"/thumbnail", apitest.Token(tok), multipartImage("image", thumbPNG, pngBytes(t, 4, 4)))
		}},
		{"thumbnail delete", change, func(id, tok string) *apitest.Resp {
			return e.Do("DELETE", wfAPI+"/i/"+id+"/thumbnail", apitest.Token(tok))
		}},
		{"thumbnail get", func(r apitest.Role, tg target) int {
			if !canRead(r, tg) {
				return 403
			}
			if tg == builtin {
				return 404 // readable, but the defaults ship without thumbnails
			}
			return 200
		}, func(id, tok string) *apitest.Resp {
			return e.Do("GET", wfAPI+"/i/"+id+"/thumbnail", apitest.Token(tok))
		}},
	}
	for _, o := range ops {
		for _, tg := range targets {
			for _, r := range roles {
				t.Run(fmt.Sprintf("%s/%s/%s", o.name, tg, r), func(t *testing.T) {
					id := w.make(t, tg)
					want := 401
					if r != apitest.Anon {
						want = o.expect(r, tg)
					}
					res := o.do(id, w.token(r))
					if res.Status != want {
						t.Fatalf("status %d, want %d; body %s", res.Status, want, res.Body)
					}
					if want == 200 && (o.name == "delete" || o.name == "opened_at" || strings.HasPrefix(o.name, "thumbnail p") || o.name == "thumbnail delete") {
						if strings.TrimSpace(string(res.Body)) != "null" {
							t.Fatalf("body %s, want null", res.Body)
						}
					}
				})
			}
		}
	}

	// Listing columns of docs/security.md §5.4 (HEAD: admins list all workflows).
	ids := map[target]string{}
	for _, tg := range targets {
		ids[tg] = w.make(t, tg)
	}
	for _, r := range []apitest.Role{apitest.Owner, apitest.Other, apitest.Admin} {
		all := listWorkflows(e, w.token(r), "")
		sharedOnly := listWorkflows(e, w.token(r), "is_public=true")
		for _, tg := range targets {
			inAll := slices.Contains(all.ids(), ids[tg])
			wantAll := r == apitest.Admin || isOwn(r, tg) || tg == builtin
			if inAll != wantAll {
				t.Errorf("GET / as %s: %s listed=%v, want %v", r, tg, inAll, wantAll)
			}
			if inShared, want := slices.Contains(sharedOnly.ids(), ids[tg]), tg == shared; inShared != want {
				t.Errorf("GET /?is_public=true as %s: %s listed=%v, want %v", r, tg, inShared, want)
			}
		}
		if all.Total != len(all.Items) || sharedOnly.Total != len(sharedOnly.Items) {
			t.Errorf("totals must count the matches: %d/%d, %d/%d", all.Total, len(all.Items), sharedOnly.Total, len(sharedOnly.Items))
		}
	}
	for _, path := range []string{"/", "/tags", "/counts_by_tag?tags=a", "/counts_by_category?categories=user"} {
		e.Do("GET", wfAPI+path).Expect(401)
	}
}

func TestWorkflowMessages(t *testing.T) {
	e := apitest.New(t, apitest.Multiuser())
	u := e.Cast()
	mine := createWorkflow(e, u.Owner.Token, minimalWorkflow("mine", ""))
	cases := []struct {
		method, path, tok string
		body              any
		status            int
		detail            string
	}{
		{"GET", "/i/" + mine.WorkflowID, u.Other.Token, nil, 403, "Not authorized to access this workflow"},
		{"DELETE", "/i/" + mine.WorkflowID, u.Other.Token, nil, 403, "Not authorized to delete this workflow"},
		{"PATCH", "/i/" + mine.WorkflowID + "/is_public", u.Other.Token, map[string]any{"is_public": true}, 403, "Not authorized to update this workflow"},
		{"GET", "/i/nope", u.Admin.Token, nil, 404, "Workflow not found"},
		{"DELETE", "/i/nope", u.Admin.Token, nil, 404, "Workflow not found"},
		{"PUT", "/i/nope/opened_at", u.Owner.Token, nil, 404, "Workflow not found"},
		{"DELETE", "/i/default_text_to_image_sdxl", u.Admin.Token, nil, 403, "Default workflows cannot be modified"},
		{"DELETE", "/i/default_text_to_image_sdxl", u.Other.Token, nil, 403, "Not authorized to delete this workflow"},
		{"POST", "/", u.Owner.Token, map[string]any{"workflow": func() map[string]any {
			wf := minimalWorkflow("sneaky", "")
			wf["meta"] = map[string]any{"version": "3.0.0", "category": "default"}
			return wf
		}()}, 403, "Default workflows cannot be created"},
		{"PATCH", "/i/" + mine.WorkflowID, u.Owner.Token, map[string]any{"workflow": func() map[string]any {
			wf := minimalWorkflow("promote", "")
			wf["id"] = mine.WorkflowID
			wf["meta"] = map[string]any{"version": "3.0.0", "category": "default"}
			return wf
		}()}, 403, "Default workflows cannot be modified"},
		{"PATCH", "/i/whatever", u.Owner.Token, map[string]any{"workflow": func() map[string]any {
			wf := minimalWorkflow("ghost", "")
			wf["id"] = "ghost"
			return wf
		}()}, 404, "Workflow not found"},
	}
	for _, c := range cases {
		opts := []apitest.ReqOpt{apitest.Token(c.tok)}
		if c.body != nil {
			opts = append(opts, apitest.JSON(c.body))
		}
		res := e.Do(c.method, wfAPI+c.path, opts...)
		if res.Status != c.status || res.Detail() != c.detail {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, res.Status, res.Detail(), c.status, c.detail)
		}
	}
}

func TestDefaultWorkflowsVisibleToAll(t *testing.T) {
	e := apitest.New(t, apitest.Multiuser())
	u := e.Cast()
	createWorkflow(e, u.Owner.Token, minimalWorkflow("own", "x"))
	defaults, err := workflows.DefaultWorkflows()
	if err != nil {
		t.Fatal(err)
	}
	if len(defaults) < 4 {
		t.Fatalf("%d default workflows, want at least 4", len(defaults))
	}
	for _, tok := range []string{u.Owner.Token, u.Other.Token, u.Admin.Token} {
		for _, q := range []string{"", "categories=default", "categories=user&categories=default", "categories=default&order_by=opened_at&direction=DESC"} {
			p := listWorkflows(e, tok, q)
			n := 0
			for _, it := range p.Items {
				if it.Category == "default" {
					n++
					if it.UserID != "system" || it.IsPublic || !strings.HasPrefix(it.WorkflowID, "default_") {
						t.Errorf("default workflow row: %+v", it)
					}
				}
			}
			if n != len(defaults) {
				t.Errorf("GET /?%s lists %d defaults, want %d", q, n, len(defaults))
			}
		}
		var counts map[string]int
		e.Do("GET", wfAPI+"/counts_by_category?categories=default&categories=user", apitest.Token(tok)).Expect(200).Decode(&counts)
		if counts["default"] != len(defaults) || counts["user"] != map[bool]int{true: 1, false: 0}[tok != u.Other.Token] {
			t.Errorf("counts_by_category: %v", counts)
		}
		var tags []string
		e.Do("GET", wfAPI+"/tags?categories=default", apitest.Token(tok)).Expect(200).Decode(&tags)
		if !slices.Contains(tags, "text2image") || !slices.IsSorted(tags) {
			t.Errorf("tags: %v", tags)
		}
		for _, d := range defaults {
			var r record
			e.Do("GET", wfAPI+"/i/"+d.ID, apitest.Token(tok)).Expect(200).Decode(&r)
			if r.Workflow["meta"].(map[string]any)["category"] != "default" {
				t.Errorf("%s: %v", d.ID, r.Workflow["meta"])
			}
		}
	}
}

func TestWorkflowLibrarySections(t *testing.T) {
	e := apitest.New(t, apitest.Multiuser())
	u := e.Cast()
	ownPrivate := createWorkflow(e, u.Owner.Token, minimalWorkflow("b own private", "portrait"))
	ownShared := createWorkflow(e, u.Owner.Token, minimalWorkflow("a own shared", "landscape, shared"))
	e.Do("PATCH", wfAPI+"/i/"+ownShared.WorkflowID+"/is_public", apitest.Token(u.Owner.Token), apitest.JSON(map[string]any{"is_public": true})).Expect(200)
	otherPrivate := createWorkflow(e, u.Other.Token, minimalWorkflow("d other private", "portrait"))
	otherShared := createWorkflow(e, u.Other.Token, minimalWorkflow("c other shared", "portrait"))
	var sharedRec record
	e.Do("PATCH", wfAPI+"/i/"+otherShared.WorkflowID+"/is_public", apitest.Token(u.Other.Token), apitest.JSON(map[string]any{"is_public": true})).Expect(200).Decode(&sharedRec)
	if !sharedRec.IsPublic || sharedRec.Workflow["tags"] != "portrait, shared" {
		t.Fatalf("sharing adds the shared tag: %+v", sharedRec.Workflow["tags"])
	}

	// "Your workflows": categories=user.
	yours := listWorkflows(e, u.Owner.Token, "categories=user")
	if !reflect.DeepEqual(yours.ids(), []string{ownShared.WorkflowID, ownPrivate.WorkflowID}) || yours.Total != 2 {
		t.Fatalf("yours: %v (total %d)", yours.ids(), yours.Total)
	}
	// "Shared workflows": categories=user&is_public=true, everyone's.
	sharedList := listWorkflows(e, u.Owner.Token, "categories=user&is_public=true")
	if !reflect.DeepEqual(sharedList.ids(), []string{ownShared.WorkflowID, otherShared.WorkflowID}) {
		t.Fatalf("shared: %v", sharedList.ids())
	}
	// Admins list everything (HEAD).
	adminYours := listWorkflows(e, u.Admin.Token, "categories=user&order_by=name&direction=DESC")
	if !reflect.DeepEqual(adminYours.ids(), []string{otherPrivate.WorkflowID, otherShared.WorkflowID, ownPrivate.WorkflowID, ownShared.WorkflowID}) {
		t.Fatalf("admin: %v", adminYours.ids())
	}
	// Paging: true totals, pages rounded up, no overlap.
	p0 := listWorkflows(e, u.Admin.Token, "categories=user&per_page=3&page=0")
	p1 := listWorkflows(e, u.Admin.Token, "categories=user&per_page=3&page=1")
	if p0.Total != 4 || p0.Pages != 2 || p0.PerPage != 3 || len(p0.Items) != 3 || len(p1.Items) != 1 || p1.Page != 1 {
		t.Fatalf("paging: %+v %+v", p0, p1)
	}
	all := listWorkflows(e, u.Admin.Token, "categories=user")
	if all.PerPage != 4 || all.Pages != 1 {
		t.Fatalf("without per_page: %+v", all)
	}
	// Filters.
	if got := listWorkflows(e, u.Owner.Token, "categories=user&tags=portrait").ids(); !reflect.DeepEqual(got, []string{ownPrivate.WorkflowID}) {
		t.Errorf("tags filter: %v", got)
	}
	if got := listWorkflows(e, u.Owner.Token, "categories=user&query=OWN%20SHARED").ids(); !reflect.DeepEqual(got, []string{ownShared.WorkflowID}) {
		t.Errorf("query filter: %v", got)
	}
	e.Do("PUT", wfAPI+"/i/"+ownPrivate.WorkflowID+"/opened_at", apitest.Token(u.Owner.Token)).Expect(200)
	if got := listWorkflows(e, u.Owner.Token, "has_been_opened=true").ids(); !reflect.DeepEqual(got, []string{ownPrivate.WorkflowID}) {
		t.Errorf("has_been_opened filter: %v", got)
	}
	if got := listWorkflows(e, u.Owner.Token, "categories=user&is_public=false").ids(); !reflect.DeepEqual(got, []string{ownPrivate.WorkflowID}) {
		t.Errorf("is_public=false: %v", got)
	}
	if got := listWorkflows(e, u.Owner.Token, "categories=user&order_by=is_public&direction=DESC").ids(); got[0] != ownShared.WorkflowID {
		t.Errorf("order by is_public: %v", got)
	}
	var byTag map[string]int
	e.Do("GET", wfAPI+"/counts_by_tag?tags=portrait&tags=landscape&categories=user", apitest.Token(u.Owner.Token)).Expect(200).Decode(&byTag)
	if !reflect.DeepEqual(byTag, map[string]int{"portrait": 1, "landscape": 1}) {
		t.Errorf("counts_by_tag: %v", byTag)
	}
	byTag = nil
	e.Do("GET", wfAPI+"/counts_by_tag?tags=portrait&categories=user&is_public=true", apitest.Token(u.Owner.Token)).Expect(200).Decode(&byTag)
	if !reflect.DeepEqual(byTag, map[string]int{"portrait": 1}) {
		t.Errorf("counts_by_tag shared: %v", byTag)
	}
	var tags []string
	e.Do("GET", wfAPI+"/tags?categories=user", apitest.Token(u.Owner.Token)).Expect(200).Decode(&tags)
	if !reflect.DeepEqual(tags, []string{"landscape", "portrait", "shared"}) {
		t.Errorf("tags: %v", tags)
	}
	// Unsharing removes the tag and re-joins the rest.
	var unshared record
	e.Do("PATCH", wfAPI+"/i/"+ownShared.WorkflowID+"/is_public", apitest.Token(u.Owner.Token), apitest.JSON(map[string]any{"is_public": false})).Expect(200).Decode(&unshared)
	if unshared.IsPublic || unshared.Workflow["tags"] != "landscape" {
		t.Errorf("unshare: %v %v", unshared.IsPublic, unshared.Workflow["tags"])
	}
	// Search text is literal: % and _ are not wildcards.
	pct := createWorkflow(e, u.Owner.Token, minimalWorkflow("100% cats", ""))
	createWorkflow(e, u.Owner.Token, minimalWorkflow("1000 cats", ""))
	if got := listWorkflows(e, u.Owner.Token, "categories=user&query=100%25").ids(); !reflect.DeepEqual(got, []string{pct.WorkflowID}) {
		t.Errorf("literal query: %v", got)
	}
	if got := listWorkflows(e, u.Owner.Token, "categories=user&query=1_0").ids(); len(got) != 0 {
		t.Errorf("underscore matched as a wildcard: %v", got)
	}
	// Huge pages neither overflow nor wrap around.
	if p := listWorkflows(e, u.Owner.Token, "per_page=9223372036854775807&page=9223372036854775807"); len(p.Items) != 0 || p.Pages != 1 {
		t.Errorf("huge page: %+v", p)
	}
	// Bad query values are 422, not 500.
	for _, q := range []string{"order_by=bogus", "direction=up", "categories=project", "page=-1", "per_page=x", "is_public=maybe"} {
		e.Do("GET", wfAPI+"/?"+q, apitest.Token(u.Owner.Token)).Expect(422)
	}
	e.Do("GET", wfAPI+"/counts_by_tag", apitest.Token(u.Owner.Token)).Expect(422)
	e.Do("GET", wfAPI+"/counts_by_category", apitest.Token(u.Owner.Token)).Expect(422)
}

func TestWorkflowThumbnails(t *testing.T) {
	e := apitest.New(t, apitest.Multiuser())
	u := e.Cast()
	wf := createWorkflow(e, u.Owner.Token, minimalWorkflow("with thumb", ""))
	thumb := wfAPI + "/i/" + wf.WorkflowID + "/thumbnail"

	e.Do("PUT", thumb, apitest.Token(u.Owner.Token), multipartImage("image", "image/png", pngBytes(t, 600, 300))).Expect(200)
	res := e.Do("GET", thumb, apitest.Token(u.Owner.Token)).Expect(200)
	if ct := res.Header.Get("Content-Type"); ct != "image/png" {
		t.Fatalf("content type %q", ct)
	}
	if cd := res.Header.Get("Content-Disposition"); !strings.Contains(cd, wf.WorkflowID+".png") {
		t.Fatalf("content disposition %q", cd)
	}
	img, err := png.Decode(bytes.NewReader(res.Body))
	if err != nil || img.Bounds().Dx() != 256 || img.Bounds().Dy() != 128 {
		t.Fatalf("thumbnail: %v %v", err, img.Bounds())
	}
	var rec record
	e.Do("GET", wfAPI+"/i/"+wf.WorkflowID, apitest.Token(u.Owner.Token)).Expect(200).Decode(&rec)
	if rec.ThumbnailURL == nil || *rec.ThumbnailURL != "api/v1/workflows/i/"+wf.WorkflowID+"/thumbnail" {
		t.Fatalf("thumbnail_url %v", rec.ThumbnailURL)
	}
	if it := listWorkflows(e, u.Owner.Token, "categories=user").Items[0]; it.ThumbnailURL == nil {
		t.Fatal("list item without thumbnail_url")
	}

	// The private workflow's thumbnail: others are refused, anonymous callers too; the owner's browser gets it
	// with the media cookie set at login.
	e.Do("GET", thumb, apitest.Token(u.Other.Token)).Expect(403)
	e.Do("GET", thumb).Expect(401)
	login := e.Do("POST", "/api/v1/auth/login", apitest.JSON(map[string]any{"email": u.Owner.Email, "password": u.Owner.Password})).Expect(200)
	var cookie string
	for _, c := range (&http.Response{Header: login.Header}).Cookies() {
		if c.Name == "invokeai_media_token" {
			cookie = c.Value
		}
	}
	if cookie == "" {
		t.Fatal("login set no media cookie")
	}
	e.Do("GET", thumb, apitest.Header("Cookie", "invokeai_media_token="+cookie)).Expect(200)
	otherLogin := e.Login(u.Other.Email, u.Other.Password)
	e.Do("GET", thumb, apitest.Header("Cookie", "invokeai_media_token="+otherLogin)).Expect(403)
	// The cookie does not authorise writes.
	e.Do("DELETE", thumb, apitest.Header("Cookie", "invokeai_media_token="+cookie)).Expect(401)

	// Bad uploads.
	if r := e.Do("PUT", thumb, apitest.Token(u.Owner.Token), multipartImage("image", "text/plain", []byte("hello"))).Expect(415); r.Detail() != "Not an image" {
		t.Errorf("detail %q", r.Detail())
	}
	if r := e.Do("PUT", thumb, apitest.Token(u.Owner.Token), multipartImage("image", "image/png", []byte("not a png"))).Expect(415); r.Detail() != "Failed to read image" {
		t.Errorf("detail %q", r.Detail())
	}
	e.Do("PUT", thumb, apitest.Token(u.Owner.Token), multipartImage("image", "image/png", bombPNG(t))).Expect(415)
	e.Do("PUT", thumb, apitest.Token(u.Owner.Token), multipartImage("file", "image/png", pngBytes(t, 4, 4))).Expect(422)
	e.Do("PUT", thumb, apitest.Token(u.Owner.Token), apitest.JSON(map[string]any{"image": "x"})).Expect(422)
	e.Do("PUT", thumb, apitest.Token(u.Owner.Token), multipartImage("image", "image/png", make([]byte, workflows.MaxThumbnailUpload+2<<20))).Expect(413)

	// Delete the thumbnail, then the workflow with a new one: the file goes with it.
	e.Do("DELETE", thumb, apitest.Token(u.Owner.Token)).Expect(200)
	e.Do("GET", thumb, apitest.Token(u.Owner.Token)).Expect(404)
	e.Do("DELETE", thumb, apitest.Token(u.Owner.Token)).Expect(200)
	e.Do("PUT", thumb, apitest.Token(u.Owner.Token), multipartImage("image", "image/png", pngBytes(t, 16, 16))).Expect(200)
	cfg := e.App.Config()
	file := filepath.Join(cfg.OutputsPath(), "workflow_thumbnails", wf.WorkflowID+".png")
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}
	e.Do("DELETE", wfAPI+"/i/"+wf.WorkflowID, apitest.Token(u.Owner.Token)).Expect(200)
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("thumbnail file left behind: %v", err)
	}
	e.Do("GET", thumb, apitest.Token(u.Owner.Token)).Expect(404)
}

// bombPNG is a well-formed PNG claiming 60000x60000 pixels (a few hundred bytes that would decode to
// gigabytes); it must be refused from its header.
func bombPNG(t *testing.T) []byte {
	raw := pngBytes(t, 1, 1)
	b := append([]byte(nil), raw...)
	// The IHDR chunk: length at 8, type at 12, width at 16, height at 20, CRC (over type+data) at 29.
	binary.BigEndian.PutUint32(b[16:], 60000)
	binary.BigEndian.PutUint32(b[20:], 60000)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	if _, err := png.DecodeConfig(bytes.NewReader(b)); err != nil {
		t.Fatalf("bomb header is malformed: %v", err)
	}
	return b
}

func TestWorkflowValidationErrors(t *testing.T) {
	e := apitest.New(t)
	type item struct {
		Type string `json:"type"`
		Loc  []any  `json:"loc"`
	}
	cases := []struct {
		name   string
		edit   func(wf map[string]any)
		body   func(wf map[string]any) any
		typ    string
		loc    string
		status int
	}{
		{"missing name", func(wf map[string]any) { delete(wf, "name") }, nil, "missing", "body.workflow.name", 422},
		{"tags not a string", func(wf map[string]any) { wf["tags"] = []any{"a"} }, nil, "string_type", "body.workflow.tags", 422},
		{"bad meta version", func(wf map[string]any) { wf["meta"] = map[string]any{"version": "3.0", "category": "user"} }, nil, "value_error", "body.workflow.meta.version", 422},
		{"meta version not semver", func(wf map[string]any) { wf["meta"] = map[string]any{"version": "v3.0.0", "category": "user"} }, nil, "value_error", "body.workflow.meta.version", 422},
		{"unknown category", func(wf map[string]any) { wf["meta"] = map[string]any{"version": "3.0.0", "category": "project"} }, nil, "enum", "body.workflow.meta.category", 422},
		{"missing category", func(wf map[string]any) { wf["meta"] = map[string]any{"version": "3.0.0"} }, nil, "missing", "body.workflow.meta.category", 422},
		{"meta not an object", func(wf map[string]any) { wf["meta"] = "3.0.0" }, nil, "model_type", "body.workflow.meta", 422},
		{"nodes not a list", func(wf map[string]any) { wf["nodes"] = map[string]any{} }, nil, "list_type", "body.workflow.nodes", 422},
		{"node not an object", func(wf map[string]any) { wf["nodes"] = []any{map[string]any{}, 3} }, nil, "dict_type", "body.workflow.nodes.1", 422},
		{"edge not an object", func(wf map[string]any) { wf["edges"] = []any{"e"} }, nil, "dict_type", "body.workflow.edges.0", 422},
		{"exposed field incomplete", func(wf map[string]any) { wf["exposedFields"] = []any{map[string]any{"nodeId": "n"}} }, nil, "missing", "body.workflow.exposedFields.0.fieldName", 422},
		{"form not an object", func(wf map[string]any) { wf["form"] = []any{} }, nil, "dict_type", "body.workflow.form", 422},
		{"workflow missing", nil, func(map[string]any) any { return map[string]any{} }, "missing", "body.workflow", 422},
		{"workflow not an object", nil, func(map[string]any) any { return map[string]any{"workflow": []any{}} }, "model_type", "body.workflow", 422},
		{"too deep", func(wf map[string]any) {
			var v any = "leaf"
			for i := 0; i < 150; i++ {
				v = []any{v}
			}
			wf["nodes"] = []any{map[string]any{"data": v}}
		}, nil, "value_error", "body.workflow", 422},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wf := minimalWorkflow("v", "")
			if c.edit != nil {
				c.edit(wf)
			}
			var body any = map[string]any{"workflow": wf}
			if c.body != nil {
				body = c.body(wf)
			}
			var res struct {
				Detail []item `json:"detail"`
			}
			e.Do("POST", wfAPI+"/", apitest.JSON(body)).Expect(c.status).Decode(&res)
			for _, it := range res.Detail {
				var parts []string
				for _, l := range it.Loc {
					parts = append(parts, fmt.Sprint(l))
				}
				if it.Type == c.typ && strings.Join(parts, ".") == c.loc {
					return
				}
			}
			t.Fatalf("no %s at %s in %+v", c.typ, c.loc, res.Detail)
		})
	}
	// Several problems are reported together.
	wf := minimalWorkflow("v", "")
	delete(wf, "author")
	wf["edges"] = 1
	var res struct {
		Detail []item `json:"detail"`
	}
	e.Do("POST", wfAPI+"/", apitest.JSON(map[string]any{"workflow": wf})).Expect(422).Decode(&res)
	if len(res.Detail) != 2 {
		t.Errorf("want two problems: %+v", res.Detail)
	}
	// An update needs the id.
	e.Do("PATCH", wfAPI+"/i/x", apitest.JSON(map[string]any{"workflow": minimalWorkflow("v", "")})).Expect(422)
	// Invalid JSON and oversized bodies.
	e.Do("POST", wfAPI+"/", apitest.RawBody("application/json", []byte(`{"workflow": {`))).Expect(422)
	big := minimalWorkflow("big", "")
	big["notes"] = strings.Repeat("x", 11<<20)
	e.Do("POST", wfAPI+"/", apitest.JSON(map[string]any{"workflow": big})).Expect(413)
}

func TestWorkflowsSingleUser(t *testing.T) {
	e := apitest.New(t)
	created := createWorkflow(e, "", minimalWorkflow("solo", "mine"))
	// As at the seed: owned by system and private (is_public=false) until shared.
	if created.UserID != "system" || created.IsPublic {
		t.Fatalf("single-user create: %+v", created)
	}
	p := listWorkflows(e, "", "categories=user")
	if !reflect.DeepEqual(p.ids(), []string{created.WorkflowID}) {
		t.Fatalf("list: %v", p.ids())
	}
	e.Do("PUT", wfAPI+"/i/"+created.WorkflowID+"/opened_at").Expect(200)
	e.Do("PUT", wfAPI+"/i/default_text_to_image_sd15/opened_at").Expect(200)
	if got := listWorkflows(e, "", "has_been_opened=true&categories=user&categories=default").Total; got != 2 {
		t.Fatalf("recent: %d", got)
	}
	e.Do("PUT", wfAPI+"/i/"+created.WorkflowID+"/thumbnail", multipartImage("image", "image/png", pngBytes(t, 10, 10))).Expect(200)
	e.Do("GET", wfAPI+"/i/"+created.WorkflowID+"/thumbnail").Expect(200)
	e.Do("PATCH", wfAPI+"/i/"+created.WorkflowID+"/is_public", apitest.JSON(map[string]any{"is_public": false})).Expect(200)
	e.Do("DELETE", wfAPI+"/i/default_text_to_image_sd15").Expect(403)
	e.Do("DELETE", wfAPI+"/i/unknown").Expect(404)
	e.Do("DELETE", wfAPI+"/i/"+created.WorkflowID).Expect(200)
	e.Do("GET", wfAPI+"/i/"+created.WorkflowID).Expect(404)
}

func TestWorkflowEvents(t *testing.T) {
	e := apitest.New(t, apitest.Multiuser())
	u := e.Cast()
	ch, stop := e.App.Events.Subscribe(64)
	defer stop()
	wf := createWorkflow(e, u.Owner.Token, minimalWorkflow("evented", ""))
	e.Do("PATCH", wfAPI+"/i/"+wf.WorkflowID+"/is_public", apitest.Token(u.Owner.Token), apitest.JSON(map[string]any{"is_public": true})).Expect(200)
	e.Do("PATCH", wfAPI+"/i/"+wf.WorkflowID+"/is_public", apitest.Token(u.Owner.Token), apitest.JSON(map[string]any{"is_public": false})).Expect(200)
	e.Do("DELETE", wfAPI+"/i/"+wf.WorkflowID, apitest.Token(u.Owner.Token)).Expect(200)
	want := []struct {
		name     string
		audience events.Audience
		payload  map[string]any
	}{
		{"workflow_created", events.OwnerAdminsAndShared, map[string]any{"is_public": false}},
		{"workflow_updated", events.OwnerAdminsAndShared, map[string]any{"old_is_public": false, "new_is_public": true, "is_public": true}},
		{"workflow_updated", events.OwnerAdminsAndShared, map[string]any{"old_is_public": true, "new_is_public": false, "is_public": false}},
		{"workflow_access_revoked", events.Everyone, map[string]any{}},
		{"workflow_deleted", events.OwnerAdminsAndShared, map[string]any{"is_public": false}},
	}
	for _, w := range want {
		var ev events.Event
		for {
			select {
			case ev = <-ch:
			case <-time.After(5 * time.Second):
				t.Fatalf("no %s event", w.name)
			}
			if strings.HasPrefix(ev.Name, "workflow_") {
				break
			}
		}
		if ev.Name != w.name || ev.Audience != w.audience || ev.UserID != u.Owner.ID || ev.Payload["workflow_id"] != wf.WorkflowID || ev.Payload["user_id"] != u.Owner.ID {
			t.Fatalf("event %+v, want %s", ev, w.name)
		}
		for k, v := range w.payload {
			if ev.Payload[k] != v {
				t.Errorf("%s: %s=%v, want %v", w.name, k, ev.Payload[k], v)
			}
		}
		// The payload has exactly these keys, and nothing else (the timestamp is the bus's).
		keys := slices.Sorted(maps.Keys(ev.Payload))
		want := slices.Sorted(maps.Keys(w.payload))
		want = append(want, "timestamp", "user_id", "workflow_id")
		slices.Sort(want)
		if !slices.Equal(keys, want) {
			t.Errorf("%s: keys %v, want %v", w.name, keys, want)
		}
	}
}

func TestDefaultWorkflowsSyncedAtStartup(t *testing.T) {
	e := apitest.New(t)
	ctx := context.Background()
	db := e.App.DB.SQL()
	if _, err := db.ExecContext(ctx, `UPDATE workflow_library SET workflow = json_set(workflow, '$.name', 'tampered') WHERE workflow_id = 'default_text_to_image_sdxl'`); err != nil {
		t.Fatal(err)
	}
	obsolete := strings.Replace(mustJSONString(minimalWorkflow("withdrawn", "")), `"category":"user"`, `"category":"default"`, 1)
	if _, err := db.ExecContext(ctx, `INSERT INTO workflow_library (workflow_id, workflow) VALUES ('default_withdrawn', ?)`, obsolete); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM workflow_library WHERE workflow_id = 'default_upscale_and_resize'`); err != nil {
		t.Fatal(err)
	}
	user := createWorkflow(e, "", minimalWorkflow("kept", ""))
	e.Do("PUT", wfAPI+"/i/"+user.WorkflowID+"/thumbnail", multipartImage("image", "image/png", pngBytes(t, 4, 4))).Expect(200)
	cfg := e.App.Config()
	thumbs := filepath.Join(cfg.OutputsPath(), "workflow_thumbnails")
	orphan := filepath.Join(thumbs, "0b0e7c1e-dead-4bee-8f00-000000000000.png")
	if err := os.WriteFile(orphan, pngBytes(t, 2, 2), 0o644); err != nil {
		t.Fatal(err)
	}
	e.Close()

	e2 := apitest.Start(t, cfg)
	p := listWorkflows(e2, "", "categories=default")
	defaults, _ := workflows.DefaultWorkflows()
	if p.Total != len(defaults) || slices.Contains(p.ids(), "default_withdrawn") || !slices.Contains(p.ids(), "default_upscale_and_resize") {
		t.Fatalf("after restart: %v", p.ids())
	}
	var r record
	e2.Do("GET", wfAPI+"/i/default_text_to_image_sdxl").Expect(200).Decode(&r)
	if r.Name != "Text to Image - SDXL" {
		t.Fatalf("changed default not restored: %q", r.Name)
	}
	e2.Do("GET", wfAPI+"/i/"+user.WorkflowID).Expect(200)
	e2.Do("GET", wfAPI+"/i/"+user.WorkflowID+"/thumbnail").Expect(200)
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("the thumbnail of a workflow that no longer exists was kept: %v", err)
	}
}

func TestWorkflowRoutesDocumented(t *testing.T) {
	e := apitest.New(t)
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID  string `json:"operationId"`
			AccessPolicy string `json:"x-access-policy"`
		} `json:"paths"`
	}
	e.Do("GET", "/openapi.json").Expect(200).Decode(&doc)
	want := map[string]string{
		"post /api/v1/workflows/": "create_workflow", "get /api/v1/workflows/": "list_workflows",
		"get /api/v1/workflows/i/{workflow_id}": "get_workflow", "patch /api/v1/workflows/i/{workflow_id}": "update_workflow",
		"delete /api/v1/workflows/i/{workflow_id}":           "delete_workflow",
		"patch /api/v1/workflows/i/{workflow_id}/is_public":  "update_workflow_is_public",
		"put /api/v1/workflows/i/{workflow_id}/opened_at":    "update_opened_at",
		"put /api/v1/workflows/i/{workflow_id}/thumbnail":    "set_workflow_thumbnail",
		"delete /api/v1/workflows/i/{workflow_id}/thumbnail": "delete_workflow_thumbnail",
		"get /api/v1/workflows/i/{workflow_id}/thumbnail":    "get_workflow_thumbnail",
		"get /api/v1/workflows/tags":                         "get_all_tags",
		"get /api/v1/workflows/counts_by_tag":                "get_counts_by_tag",
		"get /api/v1/workflows/counts_by_category":           "counts_by_category",
	}
	for key, id := range want {
		method, path, _ := strings.Cut(key, " ")
		op, ok := doc.Paths[path][method]
		if !ok || op.OperationID != id {
			t.Errorf("%s: %+v, want operationId %s", key, op, id)
		}
		wantPolicy := "user"
		if id == "get_workflow_thumbnail" {
			wantPolicy = "media"
		}
		if op.AccessPolicy != wantPolicy {
			t.Errorf("%s: policy %q, want %q", key, op.AccessPolicy, wantPolicy)
		}
	}
}

func mustJSONString(v any) string { return string(mustJSON(v)) }

// Deleting an account with its content removes its workflows' thumbnail files at once, not at the next start.
func TestDeleteUserContentRemovesWorkflowThumbnails(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	var wf struct {
		WorkflowID string `json:"workflow_id"`
	}
	env.Do("POST", "/api/v1/workflows/", apitest.Token(cast.Owner.Token), apitest.JSON(map[string]any{"workflow": map[string]any{
		"name": "mine", "author": "", "description": "", "version": "1.0.0", "contact": "", "tags": "", "notes": "",
		"exposedFields": []any{}, "meta": map[string]any{"version": "3.0.0", "category": "user"}, "nodes": []any{}, "edges": []any{},
	}})).Expect(200).Decode(&wf)
	thumb := filepath.Join(env.Root, "outputs", "workflow_thumbnails", wf.WorkflowID+".png")
	if err := os.MkdirAll(filepath.Dir(thumb), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(thumb, []byte("png"), 0o644); err != nil {
		t.Fatal(err)
	}
	env.Do("DELETE", "/api/v1/auth/users/"+cast.Owner.ID+"?delete_content=true", apitest.Token(cast.Admin.Token)).Expect(200)
	if _, err := os.Stat(thumb); !os.IsNotExist(err) {
		t.Fatalf("thumbnail still there: %v", err)
	}
}
