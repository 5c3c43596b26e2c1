package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/stylepresets"
)

const spAPI = "/api/v1/style_presets"

type preset struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Type       string  `json:"type"`
	Image      *string `json:"image"`
	UserID     string  `json:"user_id"`
	IsPublic   bool    `json:"is_public"`
	PresetData struct {
		PositivePrompt string `json:"positive_prompt"`
		NegativePrompt string `json:"negative_prompt"`
	} `json:"preset_data"`
}

// presetForm builds the multipart body InvokeAI's UI sends: the image first when there is one (a Blob, which
// the browser names "blob" unless the UI made a File), then data = JSON.stringify({...}).
func presetForm(t *testing.T, data any, img []byte) apitest.ReqOpt {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if img != nil {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="image"; filename="style_preset.png"`)
		h.Set("Content-Type", "image/png")
		part, _ := mw.CreatePart(h)
		_, _ = part.Write(img)
	}
	var s string
	if str, ok := data.(string); ok {
		s = str
	} else {
		b, err := json.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		s = string(b)
	}
	_ = mw.WriteField("data", s)
	_ = mw.Close()
	return apitest.RawBody(mw.FormDataContentType(), buf.Bytes())
}

func importForm(filename, contentType string, data []byte) apitest.ReqOpt {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filename))
	h.Set("Content-Type", contentType)
	part, _ := mw.CreatePart(h)
	_, _ = part.Write(data)
	_ = mw.Close()
	return apitest.RawBody(mw.FormDataContentType(), buf.Bytes())
}

func uiData(name, pos, neg string) map[string]any {
	return map[string]any{"name": name, "positive_prompt": pos, "negative_prompt": neg, "type": "user"}
}

// TestStylePresetsAsTheUIUsesThem walks InvokeAI's preset flows in single-user mode: the list with the built-in
// presets, create with an image, get, the image, edit (the UI re-sends the image), edit without an image,
// export, import of CSV and JSON, delete — and the errors.
func TestStylePresetsAsTheUIUsesThem(t *testing.T) {
	env := apitest.New(t)
	var list []preset
	env.Do("GET", spAPI+"/").Expect(http.StatusOK).Decode(&list)
	defaults, err := stylepresets.DefaultPresets()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(defaults) || len(list) < 5 {
		t.Fatalf("a fresh server lists %d presets, want the %d built-in ones", len(list), len(defaults))
	}
	for i, p := range list {
		if p.Type != "default" || !strings.HasPrefix(p.ID, "default_") || !strings.Contains(p.PresetData.PositivePrompt, "{prompt}") || p.Image != nil {
			t.Fatalf("built-in preset %+v", p)
		}
		if i > 0 && strings.ToLower(list[i-1].Name) > strings.ToLower(p.Name) {
			t.Fatalf("not sorted by name: %q before %q", list[i-1].Name, p.Name)
		}
	}

	// Create with an image, as the form sends it.
	var created preset
	env.Do("POST", spAPI+"/", presetForm(t, uiData("Moody", "{prompt}, moody light", "bright"), pngBytes(t, 600, 300))).Expect(http.StatusOK).Decode(&created)
	if created.Name != "Moody" || created.Type != "user" || created.PresetData.PositivePrompt != "{prompt}, moody light" ||
		created.PresetData.NegativePrompt != "bright" || created.Image == nil || created.UserID != "system" || created.IsPublic {
		t.Fatalf("created %+v", created)
	}
	if *created.Image != "api/v1/style_presets/i/"+created.ID+"/image" {
		t.Fatalf("image url %q", *created.Image)
	}
	res := env.Do("GET", "/"+*created.Image).Expect(http.StatusOK)
	img, err := png.Decode(bytes.NewReader(res.Body))
	if err != nil || res.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("image: %v %s", err, res.Header.Get("Content-Type"))
	}
	if b := img.Bounds(); b.Dx() != 256 || b.Dy() != 128 {
		t.Fatalf("the preview is %v, want 256x128", b)
	}
	var got preset
	env.Do("GET", spAPI+"/i/"+created.ID).Expect(http.StatusOK).Decode(&got)
	if got.ID != created.ID || got.Name != "Moody" || got.Image == nil {
		t.Fatalf("get %+v", got)
	}

	// Edit: the UI sends the image back; then an edit without one removes it, as in InvokeAI.
	env.Do("PATCH", spAPI+"/i/"+created.ID, presetForm(t, uiData("Moodier", "{prompt}, very moody", ""), res.Body)).Expect(http.StatusOK).Decode(&got)
	if got.Name != "Moodier" || got.PresetData.PositivePrompt != "{prompt}, very moody" || got.Image == nil {
		t.Fatalf("edit with image %+v", got)
	}
	env.Do("PATCH", spAPI+"/i/"+created.ID, presetForm(t, uiData("Moodier", "{prompt}, very moody", ""), nil)).Expect(http.StatusOK).Decode(&got)
	if got.Image != nil {
		t.Fatalf("an edit without an image kept it: %+v", got)
	}
	env.Do("GET", spAPI+"/i/"+created.ID+"/image").Expect(http.StatusNotFound)

	// Export: the user presets as CSV.
	res = env.Do("GET", spAPI+"/export").Expect(http.StatusOK)
	if ct, cd := res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"); !strings.HasPrefix(ct, "text/csv") || cd != "attachment; filename=prompt_templates.csv" {
		t.Fatalf("export headers %q %q", ct, cd)
	}
	if string(res.Body) != "name,prompt,negative_prompt\r\nMoodier,\"{prompt}, very moody\",\r\n" {
		t.Fatalf("export %q", res.Body)
	}

	// Import the export back, and a JSON file; both create user presets.
	env.Do("POST", spAPI+"/import", importForm("prompt_templates.csv", "text/csv", res.Body)).Expect(http.StatusOK)
	jsonFile := `[{"name":"  Neon ","prompt":"{prompt}, neon","negative_prompt":"dull"},{"name":"Soft","positive_prompt":"soft {prompt}"}]`
	env.Do("POST", spAPI+"/import", importForm("presets.json", "application/json", []byte(jsonFile))).Expect(http.StatusOK)
	// Browsers label CSV files in several ways; the extension decides then.
	env.Do("POST", spAPI+"/import", importForm("more.csv", "application/vnd.ms-excel", []byte("name,prompt\nExcel,{prompt} x\n"))).Expect(http.StatusOK)
	env.Do("GET", spAPI+"/").Expect(http.StatusOK).Decode(&list)
	var users []string
	for _, p := range list {
		if p.Type == "user" {
			users = append(users, p.Name+"|"+p.PresetData.PositivePrompt+"|"+p.PresetData.NegativePrompt)
		}
	}
	want := []string{"Excel|{prompt} x|", "Moodier|{prompt}, very moody|", "Moodier|{prompt}, very moody|", "Neon|{prompt}, neon|dull", "Soft|soft {prompt}|"}
	sort.Strings(users)
	if !slices.Equal(users, want) {
		t.Fatalf("after imports: %q, want %q", users, want)
	}

	// Errors.
	for _, c := range []struct {
		name   string
		method string
		path   string
		opt    apitest.ReqOpt
		status int
		detail string
	}{
		{"data not JSON", "POST", "/", presetForm(t, "{not json", nil), 400, "Invalid preset data"},
		{"name missing", "POST", "/", presetForm(t, map[string]any{"positive_prompt": "", "negative_prompt": "", "type": "user"}, nil), 400, "Invalid preset data"},
		{"bad type", "POST", "/", presetForm(t, map[string]any{"name": "x", "positive_prompt": "", "negative_prompt": "", "type": "mine"}, nil), 400, "Invalid preset data"},
		{"number for a prompt", "POST", "/", presetForm(t, map[string]any{"name": "x", "positive_prompt": 5, "negative_prompt": "", "type": "user"}, nil), 400, "Invalid preset data"},
		{"name too long", "POST", "/", presetForm(t, uiData(strings.Repeat("n", stylepresets.MaxNameBytes+1), "", ""), nil), 400, "longer than"},
		{"default type", "POST", "/", presetForm(t, map[string]any{"name": "x", "positive_prompt": "", "negative_prompt": "", "type": "default"}, nil), 403, "Default style presets cannot be created"},
		{"no data field", "POST", "/", apitest.RawBody("application/json", []byte(`{}`)), 422, ""},
		{"an image that is not one", "POST", "/", presetForm(t, uiData("x", "", ""), []byte("GIF89a but no")), 415, "Failed to read image"},
		{"unknown id", "PATCH", "/i/nope", presetForm(t, uiData("x", "", ""), nil), 404, "Style preset not found"},
		{"unknown id", "DELETE", "/i/nope", nil, 404, "Style preset not found"},
		{"unknown id", "GET", "/i/nope", nil, 404, "Style preset not found"},
		{"unknown id", "GET", "/i/nope/image", nil, 404, ""},
		{"built-in", "PATCH", "/i/" + defaults[0].ID, presetForm(t, uiData("x", "", ""), nil), 403, "Default style presets cannot be modified"},
		{"built-in", "DELETE", "/i/" + defaults[0].ID, nil, 403, "Default style presets cannot be modified"},
		{"import type", "POST", "/import", importForm("a.txt", "text/plain", []byte("name\nx\n")), 415, "Unsupported file type"},
		{"import extra column", "POST", "/import", importForm("a.csv", "text/csv", []byte("name,prompt,style\nx,y,z\n")), 400, "Invalid CSV format"},
		{"import blank name", "POST", "/import", importForm("a.csv", "text/csv", []byte("name,prompt\n  ,y\n")), 400, "Invalid CSV format"},
		{"import short row", "POST", "/import", importForm("a.csv", "text/csv", []byte("name,prompt,negative_prompt\nx,y\n")), 400, "Invalid CSV format"},
		{"import not a list", "POST", "/import", importForm("a.json", "application/json", []byte(`{"name":"x"}`)), 400, "Invalid JSON format"},
		{"import extra key", "POST", "/import", importForm("a.json", "application/json", []byte(`[{"name":"x","style":"y"}]`)), 400, "Invalid JSON format"},
		{"import not UTF-8", "POST", "/import", importForm("a.csv", "text/csv", []byte("name\n\xff\xfe\n")), 400, "not UTF-8"},
		{"import too many", "POST", "/import", importForm("a.csv", "text/csv", []byte("name\n"+strings.Repeat("x\n", stylepresets.MaxImportRows+1))), 400, "more than"},
		{"import no file", "POST", "/import", presetForm(t, uiData("x", "", ""), nil), 422, ""},
	} {
		var opts []apitest.ReqOpt
		if c.opt != nil {
			opts = append(opts, c.opt)
		}
		res := env.Do(c.method, spAPI+c.path, opts...)
		if res.Status != c.status || (c.detail != "" && !strings.Contains(string(res.Body), c.detail)) || !strings.Contains(string(res.Body), "detail") {
			t.Errorf("%s (%s %s): %d %.200s, want %d %q", c.name, c.method, c.path, res.Status, res.Body, c.status, c.detail)
		}
	}
	// Nothing of the refused imports or creates was stored.
	var after []preset
	env.Do("GET", spAPI+"/").Expect(http.StatusOK).Decode(&after)
	if len(after) != len(list) {
		t.Fatalf("refused requests changed the list: %d presets, had %d", len(after), len(list))
	}

	env.Do("DELETE", spAPI+"/i/"+created.ID).Expect(http.StatusOK)
	env.Do("GET", spAPI+"/i/"+created.ID).Expect(http.StatusNotFound)
}

// TestStylePresetAccess is the role × visibility × operation table of multi-user mode: presets are private to
// their owner unless shared; built-in ones are read by all and changed by none; admins read and change all.
func TestStylePresetAccess(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	defaults, _ := stylepresets.DefaultPresets()
	builtin := defaults[0].ID
	img := pngBytes(t, 8, 8)

	mk := func(shared bool) string {
		t.Helper()
		d := uiData(fmt.Sprintf("owned shared=%v", shared), "{prompt} p", "n")
		if shared {
			d["is_public"] = true
		}
		var p preset
		env.Do("POST", spAPI+"/", apitest.Token(cast.Owner.Token), presetForm(t, d, img)).Expect(http.StatusOK).Decode(&p)
		if p.UserID != cast.Owner.ID || p.IsPublic != shared {
			t.Fatalf("created %+v", p)
		}
		return p.ID
	}
	visibilities := []string{"private", "shared", "builtin"}
	// want[visibility][operation][role] is the status.
	want := map[string]map[string]map[string]int{
		"private": {
			"get": {"owner": 200, "other": 403, "admin": 200, "anon": 401}, "image": {"owner": 200, "other": 403, "admin": 200, "anon": 401},
			"update": {"owner": 200, "other": 403, "admin": 200, "anon": 401}, "delete": {"owner": 200, "other": 403, "admin": 200, "anon": 401},
		},
		"shared": {
			"get": {"owner": 200, "other": 200, "admin": 200, "anon": 401}, "image": {"owner": 200, "other": 200, "admin": 200, "anon": 401},
			"update": {"owner": 200, "other": 403, "admin": 200, "anon": 401}, "delete": {"owner": 200, "other": 403, "admin": 200, "anon": 401},
		},
		"builtin": {
			"get": {"owner": 200, "other": 200, "admin": 200, "anon": 401}, "image": {"owner": 404, "other": 404, "admin": 404, "anon": 401},
			"update": {"owner": 403, "other": 403, "admin": 403, "anon": 401}, "delete": {"owner": 403, "other": 403, "admin": 403, "anon": 401},
		},
	}
	for _, vis := range visibilities {
		for _, op := range []string{"get", "image", "update", "delete"} {
			for _, r := range []apitest.Role{apitest.Owner, apitest.Other, apitest.Admin, apitest.Anon} {
				id := builtin
				if vis != "builtin" {
					id = mk(vis == "shared")
				}
				var res *apitest.Resp
				tok := cast.As(r)
				switch op {
				case "get":
					res = env.Do("GET", spAPI+"/i/"+id, tok)
				case "image":
					res = env.Do("GET", spAPI+"/i/"+id+"/image", tok)
				case "update":
					res = env.Do("PATCH", spAPI+"/i/"+id, tok, presetForm(t, uiData("renamed", "x", "y"), nil))
				case "delete":
					res = env.Do("DELETE", spAPI+"/i/"+id, tok)
				}
				if w := want[vis][op][string(r)]; res.Status != w {
					t.Errorf("%s preset, %s by %s: %d %s, want %d", vis, op, r, res.Status, res.Body, w)
				}
				// A refused change changed nothing.
				if res.Status == 403 && vis != "builtin" {
					var p preset
					env.Do("GET", spAPI+"/i/"+id, apitest.Token(cast.Owner.Token)).Expect(http.StatusOK).Decode(&p)
					if p.Name == "renamed" || p.Image == nil {
						t.Errorf("%s preset, refused %s by %s changed it: %+v", vis, op, r, p)
					}
				}
			}
		}
	}

	// Listings and exports: who sees which presets.
	private, shared := mk(false), mk(true)
	var other preset
	env.Do("POST", spAPI+"/", apitest.Token(cast.Other.Token), presetForm(t, uiData("other's", "o", ""), nil)).Expect(http.StatusOK).Decode(&other)
	ids := func(tok string) []string {
		var list []preset
		env.Do("GET", spAPI+"/", apitest.Token(tok)).Expect(http.StatusOK).Decode(&list)
		var out []string
		for _, p := range list {
			out = append(out, p.ID)
		}
		return out
	}
	for _, c := range []struct {
		who         string
		tok         string
		sees, hides []string
	}{
		{"owner", cast.Owner.Token, []string{private, shared, builtin}, []string{other.ID}},
		{"other", cast.Other.Token, []string{shared, builtin, other.ID}, []string{private}},
		{"admin", cast.Admin.Token, []string{private, shared, builtin, other.ID}, nil},
	} {
		got := ids(c.tok)
		for _, id := range c.sees {
			if !slices.Contains(got, id) {
				t.Errorf("%s's list lacks %s", c.who, id)
			}
		}
		for _, id := range c.hides {
			if slices.Contains(got, id) {
				t.Errorf("%s's list shows %s", c.who, id)
			}
		}
	}
	env.Do("GET", spAPI+"/").Expect(http.StatusUnauthorized)
	export := func(tok string) string {
		return string(env.Do("GET", spAPI+"/export", apitest.Token(tok)).Expect(http.StatusOK).Body)
	}
	if e := export(cast.Other.Token); strings.Contains(e, "owned shared") || !strings.Contains(e, "other's") {
		t.Errorf("other's export: %q", e)
	}
	if e := export(cast.Owner.Token); !strings.Contains(e, "owned shared=false") || !strings.Contains(e, "owned shared=true") || strings.Contains(e, "other's") {
		t.Errorf("owner's export: %q", e)
	}
	if e := export(cast.Admin.Token); !strings.Contains(e, "owned shared=false") || !strings.Contains(e, "other's") || strings.Contains(e, defaults[0].Name) {
		t.Errorf("admin's export: %q", e)
	}
	// Imports are the importer's, private.
	env.Do("POST", spAPI+"/import", apitest.Token(cast.Other.Token), importForm("a.csv", "text/csv", []byte("name,prompt\nimported,z\n"))).Expect(http.StatusOK)
	var otherList []preset
	env.Do("GET", spAPI+"/", apitest.Token(cast.Owner.Token)).Expect(http.StatusOK).Decode(&otherList)
	for _, p := range otherList {
		if p.Name == "imported" {
			t.Error("another user's import is visible to the owner")
		}
	}

	// Sharing: an update that does not mention is_public keeps it; one that does changes it.
	var p preset
	env.Do("PATCH", spAPI+"/i/"+shared, apitest.Token(cast.Owner.Token), presetForm(t, uiData("still shared", "a", "b"), nil)).Expect(http.StatusOK).Decode(&p)
	if !p.IsPublic {
		t.Fatal("an update without is_public unshared the preset")
	}
	d := uiData("private now", "a", "b")
	d["is_public"] = false
	env.Do("PATCH", spAPI+"/i/"+shared, apitest.Token(cast.Owner.Token), presetForm(t, d, nil)).Expect(http.StatusOK).Decode(&p)
	env.Do("GET", spAPI+"/i/"+shared, apitest.Token(cast.Other.Token)).Expect(http.StatusForbidden)

	// Nodes read presets with the rights of the queue item's owner.
	ctx := context.Background()
	if pos, neg, err := env.App.StylePresets.PresetPrompts(ctx, cast.Owner.ID, private); err != nil || pos != "{prompt} p" || neg != "n" {
		t.Fatalf("owner's node reads own preset: %q %q %v", pos, neg, err)
	}
	if _, _, err := env.App.StylePresets.PresetPrompts(ctx, cast.Other.ID, private); err == nil {
		t.Fatal("another user's node read a private preset")
	}
	if _, _, err := env.App.StylePresets.PresetPrompts(ctx, cast.Other.ID, builtin); err != nil {
		t.Fatalf("a node reads a built-in preset: %v", err)
	}

	// Deleting the owner with their content removes their presets and images; otherwise they go to the admin.
	cfg := env.App.Config()
	imgDir := filepath.Join(cfg.OutputsPath(), "style_preset_images")
	if _, err := os.Stat(filepath.Join(imgDir, private+".png")); err != nil {
		t.Fatalf("the image file is missing: %v", err)
	}
	env.Do("DELETE", "/api/v1/auth/users/"+cast.Owner.ID+"?delete_content=true", apitest.Token(cast.Admin.Token)).Expect(http.StatusOK)
	env.Do("GET", spAPI+"/i/"+private, apitest.Token(cast.Admin.Token)).Expect(http.StatusNotFound)
	if _, err := os.Stat(filepath.Join(imgDir, private+".png")); !os.IsNotExist(err) {
		t.Fatalf("the deleted user's preset image is still there: %v", err)
	}
	env.Do("DELETE", "/api/v1/auth/users/"+cast.Other.ID, apitest.Token(cast.Admin.Token)).Expect(http.StatusOK)
	var kept preset
	env.Do("GET", spAPI+"/i/"+other.ID, apitest.Token(cast.Admin.Token)).Expect(http.StatusOK).Decode(&kept)
	if kept.UserID != cast.Admin.ID {
		t.Fatalf("a kept preset belongs to %s, want the admin", kept.UserID)
	}
}

// TestBuiltinPresetsKeepTheirIDs: restarting keeps the built-in presets' ids and puts back an edited one.
func TestBuiltinPresetsKeepTheirIDs(t *testing.T) {
	env := apitest.New(t)
	cfg := env.App.Config()
	defaults, _ := stylepresets.DefaultPresets()
	if _, err := env.App.DB.SQL().Exec(`UPDATE style_presets SET name = 'tampered' WHERE id = ?`, defaults[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := env.App.DB.SQL().Exec(`INSERT INTO style_presets (id, name, preset_data, type) VALUES ('default_withdrawn', 'Old', '{"positive_prompt":"","negative_prompt":""}', 'default')`); err != nil {
		t.Fatal(err)
	}
	env.Close()
	env = apitest.Start(t, cfg)
	var list []preset
	env.Do("GET", spAPI+"/").Expect(http.StatusOK).Decode(&list)
	var got []string
	for _, p := range list {
		got = append(got, p.ID+"="+p.Name)
	}
	var want []string
	for _, d := range defaults {
		want = append(want, d.ID+"="+d.Name)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("after a restart: %q, want %q", got, want)
	}
}
