package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

// writePNG makes a small test image on disk and returns its path.
func writePNG(t *testing.T, name string, c color.RGBA) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 96, 64))
	for y := 0; y < 64; y++ {
		for x := 0; x < 96; x++ {
			img.Set(x, y, color.RGBA{R: c.R ^ uint8(x*2), G: c.G ^ uint8(y*3), B: c.B, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// uploadAPI uploads a PNG through the API and returns the status and decoded body.
func uploadAPI(t *testing.T, env *apitest.Env, token, boardID, path string) (int, map[string]any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name="file"; filename=%q`, filepath.Base(path))}
	h["Content-Type"] = []string{"image/png"}
	part, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	part.Write(data)
	mw.Close()
	url := "/api/v1/images/upload?image_category=user&is_intermediate=false"
	if boardID != "" {
		url += "&board_id=" + boardID
	}
	r := env.Do("POST", url, apitest.Token(token), apitest.RawBody(mw.FormDataContentType(), body.Bytes()))
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	return r.Status, m
}

// loginUI signs in through the login form.
func loginUI(p *page, u apitest.User, remember bool) {
	p.t.Helper()
	p.open("/")
	p.waitText("Sign in")
	p.fill("Email", u.Email)
	p.fill("Password", u.Password)
	p.check("Remember me", remember)
	p.click("Log in")
	p.waitFor("the main navigation", `document.querySelector('[data-testid="nav-generate"]')`)
}

// boardID finds a board by name through the API (as the given user).
func boardID(t *testing.T, env *apitest.Env, token, name string) string {
	t.Helper()
	var boards []struct {
		BoardID   string `json:"board_id"`
		BoardName string `json:"board_name"`
	}
	env.Do("GET", "/api/v1/boards/?all=true&include_archived=true", apitest.Token(token)).Expect(http.StatusOK).Decode(&boards)
	for _, b := range boards {
		if b.BoardName == name {
			return b.BoardID
		}
	}
	t.Fatalf("board %q not found", name)
	return ""
}

// expectStatus fails unless a request answers with the wanted status.
func expectStatus(t *testing.T, what string, r *apitest.Resp, want int) {
	t.Helper()
	if r.Status != want {
		t.Errorf("%s: status %d, want %d (body %s)", what, r.Status, want, string(r.Body))
	}
}

// integerGraphBatch is a tiny batch that the queue can run without any model.
func integerGraphBatch(n int) map[string]any {
	return map[string]any{
		"prepend": false,
		"batch": map[string]any{
			"graph": map[string]any{
				"id":    "g",
				"nodes": map[string]any{"n": map[string]any{"id": "n", "type": "integer", "value": 1}},
				"edges": []any{},
			},
			"runs": n,
		},
	}
}
