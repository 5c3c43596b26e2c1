package api_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/config"
	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/events"
)

// sdTiny is testdata/sd-tiny/models (or under $INVOKEGO_FIXTURES).
func sdTiny(t testing.TB) string {
	t.Helper()
	p, err := goldens.Path("sd-tiny", "models")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func installPath(source string, query ...string) string {
	q := url.Values{"source": {source}}
	for i := 0; i+1 < len(query); i += 2 {
		q.Set(query[i], query[i+1])
	}
	return "/api/v2/models/install?" + q.Encode()
}

// waitJob polls an install job until it reaches one of the statuses.
func waitJob(t *testing.T, env *apitest.Env, tok string, id float64, statuses ...string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		job := env.Do("GET", fmt.Sprintf("/api/v2/models/install/%d", int64(id)), apitest.Token(tok)).Expect(200).Map()
		for _, s := range statuses {
			if job["status"] == s {
				return job
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %v stuck in %v: %v", id, job["status"], job)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestInstallLocalFixtures(t *testing.T) {
	fx := sdTiny(t)
	env := apitest.New(t)
	cases := []struct {
		source, format, path string
	}{
		{filepath.Join(fx, "sd15-tiny-pipe"), "diffusers", "sd-1/main/sd15-tiny-pipe"},
		{filepath.Join(fx, "sd15-tiny-single.safetensors"), "checkpoint", "sd-1/main/sd15-tiny-single.safetensors"},
	}
	keys := map[string]string{}
	for _, c := range cases {
		job := env.Do("POST", installPath(c.source), apitest.JSON(map[string]any{})).Expect(201).Map()
		if job["status"] != "waiting" || job["source"].(map[string]any)["type"] != "local" {
			t.Fatalf("job %v", job)
		}
		job = waitJob(t, env, "", job["id"].(float64), "completed", "error")
		cfg, _ := job["config_out"].(map[string]any)
		if job["status"] != "completed" || cfg["base"] != "sd-1" || cfg["type"] != "main" || cfg["format"] != c.format {
			t.Fatalf("%s: job %v", c.source, job)
		}
		if cfg["path"] != c.path || !strings.HasPrefix(cfg["hash"].(string), "blake3:") || cfg["source_type"] != "path" ||
			cfg["variant"] != "normal" || cfg["prediction_type"] != "epsilon" {
			t.Fatalf("%s: config %v", c.source, cfg)
		}
		if _, err := os.Stat(filepath.Join(env.Root, "models", filepath.FromSlash(c.path))); err != nil {
			t.Fatalf("installed files: %v", err)
		}
		keys[c.format] = cfg["key"].(string)
	}
	// The single file brought its LDM yaml along.
	single := env.Do("GET", "/api/v2/models/i/"+keys["checkpoint"]).Expect(200).Map()
	if single["config_path"] != "sd-1/main/sd15-tiny-single.yaml" {
		t.Fatalf("config_path %v", single["config_path"])
	}
	pipe := env.Do("GET", "/api/v2/models/i/"+keys["diffusers"]).Expect(200).Map()
	if pipe["repo_variant"] != "" || pipe["default_settings"].(map[string]any)["width"] != float64(512) {
		t.Fatalf("pipeline config %v", pipe)
	}
	// Listing, filters and lookups.
	var list struct{ Models []map[string]any }
	env.Do("GET", "/api/v2/models/?base_models=sd-1&model_type=main").Expect(200).Decode(&list)
	if len(list.Models) != 2 {
		t.Fatalf("list %v", list)
	}
	env.Do("GET", "/api/v2/models/?model_format=checkpoint").Expect(200).Decode(&list)
	if len(list.Models) != 1 || list.Models[0]["key"] != keys["checkpoint"] {
		t.Fatalf("format filter %v", list)
	}
	env.Do("GET", "/api/v2/models/?base_models=sdxl").Expect(200).Decode(&list)
	if len(list.Models) != 0 {
		t.Fatalf("sdxl filter %v", list)
	}
	got := env.Do("GET", "/api/v2/models/get_by_attrs?name=sd15-tiny-pipe&type=main&base=sd-1").Expect(200).Map()
	if got["key"] != keys["diffusers"] {
		t.Fatalf("by attrs %v", got)
	}
	env.Do("GET", "/api/v2/models/get_by_attrs?name=nope&type=main&base=sd-1").Expect(404)
	env.Do("GET", "/api/v2/models/get_by_hash?hash="+url.QueryEscape(pipe["hash"].(string))).Expect(200)
	// A second install of the same model conflicts and changes nothing.
	env.Do("POST", installPath(cases[0].source), apitest.JSON(map[string]any{})).Expect(409)
	// PATCH renames and describes; bad values are refused.
	upd := env.Do("PATCH", "/api/v2/models/i/"+keys["diffusers"], apitest.JSON(map[string]any{"name": "Tiny", "description": "d", "trigger_phrases": []string{"cat"}})).Expect(200).Map()
	if upd["name"] != "Tiny" || upd["description"] != "d" || upd["key"] != keys["diffusers"] {
		t.Fatalf("patched %v", upd)
	}
	env.Do("PATCH", "/api/v2/models/i/"+keys["diffusers"], apitest.JSON(map[string]any{"base": "sd-9"})).Expect(422)
	env.Do("PATCH", "/api/v2/models/i/missing", apitest.JSON(map[string]any{"name": "x"})).Expect(404)
	// Reidentify keeps name and key.
	re := env.Do("POST", "/api/v2/models/i/"+keys["diffusers"]+"/reidentify").Expect(200).Map()
	if re["name"] != "Tiny" || re["base"] != "sd-1" {
		t.Fatalf("reidentified %v", re)
	}
	// Cover image: upload, fetch, delete.
	var img bytes.Buffer
	src := image.NewRGBA(image.Rect(0, 0, 600, 300))
	src.Set(1, 1, color.RGBA{255, 0, 0, 255})
	png.Encode(&img, src)
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("image", "cover.png")
	fw.Write(img.Bytes())
	mw.Close()
	if body := strings.TrimSpace(string(env.Do("PATCH", "/api/v2/models/i/"+keys["diffusers"]+"/image", apitest.RawBody(mw.FormDataContentType(), form.Bytes())).Expect(200).Body)); body != "null" {
		t.Fatalf("PATCH image answered %s, want null (docs/compatibility.md §1.9)", body)
	}
	withCover := env.Do("GET", "/api/v2/models/i/"+keys["diffusers"]).Expect(200).Map()
	if withCover["cover_image"] != "api/v2/models/i/"+keys["diffusers"]+"/image" {
		t.Fatalf("cover %v", withCover["cover_image"])
	}
	res := env.Do("GET", "/api/v2/models/i/"+keys["diffusers"]+"/image").Expect(200)
	if cfg, err := png.DecodeConfig(bytes.NewReader(res.Body)); err != nil || cfg.Width != 256 || cfg.Height != 128 {
		t.Fatalf("cover thumbnail %v %v", cfg, err)
	}
	var bad bytes.Buffer
	mw = multipart.NewWriter(&bad)
	fw, _ = mw.CreateFormFile("image", "x.png")
	fw.Write([]byte("not an image"))
	mw.Close()
	env.Do("PATCH", "/api/v2/models/i/"+keys["diffusers"]+"/image", apitest.RawBody(mw.FormDataContentType(), bad.Bytes())).Expect(415)
	env.Do("DELETE", "/api/v2/models/i/"+keys["diffusers"]+"/image").Expect(204)
	env.Do("GET", "/api/v2/models/i/"+keys["diffusers"]+"/image").Expect(404)
	// Nothing is missing or orphaned; the starter list and stats answer.
	env.Do("GET", "/api/v2/models/missing").Expect(200).Decode(&list)
	if len(list.Models) != 0 {
		t.Fatalf("missing %v", list)
	}
	var orphans []map[string]any
	env.Do("GET", "/api/v2/models/sync/orphaned").Expect(200).Decode(&orphans)
	if len(orphans) != 0 {
		t.Fatalf("orphans %v", orphans)
	}
	// Deleting an installed copy removes its files (and the yaml that came with it).
	env.Do("DELETE", "/api/v2/models/i/"+keys["checkpoint"]).Expect(204)
	for _, p := range []string{"sd15-tiny-single.safetensors", "sd15-tiny-single.yaml"} {
		if _, err := os.Stat(filepath.Join(env.Root, "models", "sd-1", "main", p)); !os.IsNotExist(err) {
			t.Fatalf("%s left behind: %v", p, err)
		}
	}
	env.Do("GET", "/api/v2/models/i/"+keys["checkpoint"]).Expect(404)
	// bulk_delete reports per key.
	var bulk struct {
		Deleted []string
		Failed  []map[string]any
	}
	env.Do("POST", "/api/v2/models/i/bulk_delete", apitest.JSON(map[string]any{"keys": []string{keys["diffusers"], "nope"}})).Expect(200).Decode(&bulk)
	if len(bulk.Deleted) != 1 || len(bulk.Failed) != 1 {
		t.Fatalf("bulk %v", bulk)
	}
	if _, err := os.Stat(filepath.Join(env.Root, "models", "sd-1", "main", "sd15-tiny-pipe")); !os.IsNotExist(err) {
		t.Fatalf("pipeline files left behind: %v", err)
	}
	// The fixtures themselves are untouched.
	if _, err := os.Stat(filepath.Join(fx, "sd15-tiny-pipe", "model_index.json")); err != nil {
		t.Fatal(err)
	}
}

func TestInstallInPlaceKeepsFilesAndOverrides(t *testing.T) {
	fx := sdTiny(t)
	env := apitest.New(t)
	// A copy of the fixture, so that deleting the in-place model can be seen to leave it alone.
	dir := t.TempDir()
	src := filepath.Join(dir, "tiny.safetensors")
	data, err := os.ReadFile(filepath.Join(fx, "sd15-tiny-single.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(src, data, 0o644)
	job := env.Do("POST", installPath(src, "inplace", "true"), apitest.JSON(map[string]any{"name": "My Tiny", "description": "hand-made"})).Expect(201).Map()
	job = waitJob(t, env, "", job["id"].(float64), "completed", "error")
	cfg := job["config_out"].(map[string]any)
	if cfg["path"] != src || cfg["name"] != "My Tiny" || cfg["description"] != "hand-made" || job["inplace"] != true {
		t.Fatalf("in place: %v", job)
	}
	env.Do("DELETE", "/api/v2/models/i/"+cfg["key"].(string)).Expect(204)
	if _, err := os.Stat(src); err != nil {
		t.Fatalf("in-place file removed: %v", err)
	}
	// sdxl-tiny identifies as SDXL by structure.
	job = env.Do("POST", installPath(filepath.Join(fx, "sdxl-tiny"), "inplace", "true"), apitest.JSON(map[string]any{})).Expect(201).Map()
	job = waitJob(t, env, "", job["id"].(float64), "completed", "error")
	if cfg := job["config_out"].(map[string]any); cfg["base"] != "sdxl" || cfg["format"] != "diffusers" {
		t.Fatalf("sdxl: %v", job)
	}
}

func TestInstallRefusesUnknownFiles(t *testing.T) {
	env := apitest.New(t)
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.safetensors")
	os.WriteFile(junk, []byte{0xff, 0xff, 0, 0, 0, 0, 0, 0, '{'}, 0o644)
	notes := filepath.Join(dir, "notes.txt")
	os.WriteFile(notes, []byte("hello"), 0o644)
	empty := filepath.Join(dir, "folder")
	os.MkdirAll(empty, 0o755)
	// A legacy checkpoint whose pickle calls os.system: refused by the restricted unpickler, never run.
	marker := filepath.Join(dir, "pwned")
	var ckpt bytes.Buffer
	zw := zip.NewWriter(&ckpt)
	w, _ := zw.Create("archive/data.pkl")
	cmd := "touch " + marker
	w.Write(append(append([]byte("\x80\x02cos\nsystem\n\x8c"), byte(len(cmd))), append([]byte(cmd), 0x85, 'R', '.')...))
	zw.Close()
	evil := filepath.Join(dir, "evil.ckpt")
	os.WriteFile(evil, ckpt.Bytes(), 0o644)
	for _, p := range []string{junk, notes, empty, evil} {
		if d := env.Do("POST", installPath(p), apitest.JSON(map[string]any{})).Expect(415).Detail(); d == "" {
			t.Fatalf("%s: no detail", p)
		}
	}
	env.Do("POST", installPath("/no/such/file.safetensors"), apitest.JSON(map[string]any{})).Expect(409)
	var list struct{ Models []any }
	env.Do("GET", "/api/v2/models/").Expect(200).Decode(&list)
	var jobs []any
	env.Do("GET", "/api/v2/models/install").Expect(200).Decode(&jobs)
	entries, _ := os.ReadDir(filepath.Join(env.Root, "models"))
	if len(list.Models) != 0 || len(jobs) != 0 || len(entries) != 0 {
		t.Fatalf("left behind: %d records, %d jobs, %d entries", len(list.Models), len(jobs), len(entries))
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatal("the pickle payload ran")
	}
}

func TestModelRoutesNeedAdmin(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	writes := []struct{ method, path string }{
		{"POST", "/api/v2/models/install?source=a/b"}, {"GET", "/api/v2/models/install"}, {"DELETE", "/api/v2/models/install"},
		{"GET", "/api/v2/models/install/1"}, {"DELETE", "/api/v2/models/install/1"}, {"POST", "/api/v2/models/install/1/pause"},
		{"POST", "/api/v2/models/install/1/resume"}, {"POST", "/api/v2/models/install/1/restart_failed"},
		{"POST", "/api/v2/models/install/1/restart_file"}, {"PATCH", "/api/v2/models/i/k"}, {"DELETE", "/api/v2/models/i/k"},
		{"POST", "/api/v2/models/i/k/reidentify"}, {"POST", "/api/v2/models/i/bulk_delete"}, {"POST", "/api/v2/models/i/bulk_reidentify"},
		{"PATCH", "/api/v2/models/i/k/image"}, {"DELETE", "/api/v2/models/i/k/image"}, {"GET", "/api/v2/models/scan_folder?scan_path=/"},
		{"GET", "/api/v2/models/hugging_face?hugging_face_repo=a/b"}, {"GET", "/api/v2/models/starter_models"},
		{"GET", "/api/v2/models/stats"}, {"POST", "/api/v2/models/empty_model_cache"}, {"GET", "/api/v2/models/hf_login"},
		{"POST", "/api/v2/models/hf_login"}, {"DELETE", "/api/v2/models/hf_login"}, {"GET", "/api/v2/models/sync/orphaned"},
		{"DELETE", "/api/v2/models/sync/orphaned"}, {"PUT", "/api/v2/models/convert/k"},
	}
	for _, w := range writes {
		env.Do(w.method, w.path, apitest.JSON(map[string]any{})).Expect(401)
		env.Do(w.method, w.path, apitest.Token(cast.Owner.Token), apitest.JSON(map[string]any{})).Expect(403)
	}
	for _, p := range []string{"/api/v2/models/", "/api/v2/models/missing", "/api/v2/models/i/k", "/api/v2/models/i/k/image",
		"/api/v2/models/get_by_hash?hash=x", "/api/v2/models/get_by_attrs?name=a&type=main&base=sd-1"} {
		env.Do("GET", p).Expect(401)
		if res := env.Do("GET", p, apitest.Token(cast.Owner.Token)); res.Status == 401 || res.Status == 403 {
			t.Fatalf("%s as a user: %d", p, res.Status)
		}
	}
	env.Do("GET", "/api/v2/models/", apitest.Token(cast.Owner.Token)).Expect(200)
	env.Do("GET", "/api/v2/models/starter_models", apitest.Token(cast.Admin.Token)).Expect(200)
}

// fakeHub answers like the Hugging Face hub for one repository built from a folder: model info with blob
// sizes and LFS hashes, and /resolve/main/ downloads with Range support.
type fakeHub struct {
	*httptest.Server
	repo     string
	files    map[string][]byte
	mu       sync.Mutex
	ranges   []string
	auth     []string
	dropOnce map[string]bool // paths whose first full download is cut in the middle
	badSize  map[string]bool // paths whose listed size is wrong
	badHash  map[string]bool
	hold     chan struct{} // when set, downloads stall until it is closed
	requests atomic.Int64
	validTok string
}

func newFakeHub(t *testing.T, repo, dir string) *fakeHub {
	h := &fakeHub{repo: repo, files: map[string][]byte{}, dropOnce: map[string]bool{}, badSize: map[string]bool{}, badHash: map[string]bool{}}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			b, _ := os.ReadFile(p)
			h.files[filepath.ToSlash(rel)] = b
		}
		return nil
	})
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.Close)
	return h
}

func (h *fakeHub) serve(w http.ResponseWriter, r *http.Request) {
	h.requests.Add(1)
	h.mu.Lock()
	h.auth = append(h.auth, r.Header.Get("Authorization"))
	hold := h.hold
	h.mu.Unlock()
	switch {
	case r.URL.Path == "/api/whoami-v2":
		if r.Header.Get("Authorization") == "Bearer "+h.validTok && h.validTok != "" {
			w.Write([]byte(`{"name":"tester"}`))
			return
		}
		w.WriteHeader(401)
	case r.URL.Path == "/api/models/"+h.repo:
		var sib []map[string]any
		for name, b := range h.files {
			sum := sha256.Sum256(b)
			size := len(b)
			if h.badSize[name] {
				size += 7
			}
			hash := hex.EncodeToString(sum[:])
			if h.badHash[name] {
				hash = strings.Repeat("0", 64)
			}
			sib = append(sib, map[string]any{"rfilename": name, "size": size, "lfs": map[string]any{"sha256": hash, "size": size}})
		}
		json.NewEncoder(w).Encode(map[string]any{"id": h.repo, "siblings": sib})
	case strings.HasPrefix(r.URL.Path, "/"+h.repo+"/resolve/main/"):
		name := strings.TrimPrefix(r.URL.Path, "/"+h.repo+"/resolve/main/")
		b, ok := h.files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h.mu.Lock()
		if rg := r.Header.Get("Range"); rg != "" {
			h.ranges = append(h.ranges, name+" "+rg)
		}
		drop := h.dropOnce[name] && r.Header.Get("Range") == ""
		if drop {
			delete(h.dropOnce, name)
		}
		h.mu.Unlock()
		if hold != nil {
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.Write(b[:len(b)/3])
			w.(http.Flusher).Flush()
			select {
			case <-hold:
			case <-r.Context().Done():
			}
			panic(http.ErrAbortHandler)
		}
		if drop {
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.Write(b[:len(b)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection drops mid-file
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
	default:
		http.NotFound(w, r)
	}
}

func collect(bus *events.Bus) (func() []events.Event, func()) {
	ch, stop := bus.Subscribe(10000)
	var mu sync.Mutex
	var got []events.Event
	done := make(chan struct{})
	go func() {
		for e := range ch {
			mu.Lock()
			got = append(got, e)
			mu.Unlock()
		}
		close(done)
	}()
	return func() []events.Event {
			mu.Lock()
			defer mu.Unlock()
			return append([]events.Event(nil), got...)
		}, func() {
			stop()
			<-done
		}
}

// awaitEvent waits until the collector has seen the named event: a job's status can be read before the
// bus has handed its last event to the collector, and a fixed sleep is too short on a loaded machine.
func awaitEvent(t *testing.T, got func() []events.Event, name string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for eventNames(got())[name] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no %s event; got %v", name, eventNames(got()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func eventNames(evs []events.Event) map[string]int {
	out := map[string]int{}
	for _, e := range evs {
		out[e.Name]++
	}
	return out
}

func TestInstallFromHubResumesAndReports(t *testing.T) {
	fx := sdTiny(t)
	hub := newFakeHub(t, "tester/sd15-tiny-pipe", filepath.Join(fx, "sd15-tiny-pipe"))
	hub.dropOnce["unet/diffusion_pytorch_model.safetensors"] = true
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.HFEndpoint = hub.URL }))
	got, stop := collect(env.App.Events)
	defer stop()
	job := env.Do("POST", installPath("tester/sd15-tiny-pipe"), apitest.JSON(map[string]any{})).Expect(201).Map()
	if src := job["source"].(map[string]any); src["type"] != "hf" || src["repo_id"] != "tester/sd15-tiny-pipe" {
		t.Fatalf("source %v", src)
	}
	job = waitJob(t, env, "", job["id"].(float64), "completed", "error")
	if job["status"] != "completed" {
		t.Fatalf("job %v", job)
	}
	cfg := job["config_out"].(map[string]any)
	if cfg["base"] != "sd-1" || cfg["format"] != "diffusers" || cfg["source"] != "tester/sd15-tiny-pipe" ||
		cfg["source_type"] != "hf_repo_id" || cfg["name"] != "sd15-tiny-pipe" || cfg["source_api_response"] == nil {
		t.Fatalf("config %v", cfg)
	}
	// The dropped transfer resumed with a Range request from where it stopped.
	hub.mu.Lock()
	ranges := append([]string(nil), hub.ranges...)
	hub.mu.Unlock()
	if len(ranges) != 1 || !strings.HasPrefix(ranges[0], "unet/diffusion_pytorch_model.safetensors bytes=") {
		t.Fatalf("range requests %v", ranges)
	}
	// Same content as the source, so the same hash as a local install of the folder.
	local := env.Do("GET", "/api/v2/models/get_by_hash?hash="+url.QueryEscape(cfg["hash"].(string))).Expect(200).Map()
	if local["key"] != cfg["key"] {
		t.Fatalf("hash lookup %v", local)
	}
	if total := job["total_bytes"].(float64); total <= 0 || job["bytes"].(float64) != total {
		t.Fatalf("bytes %v of %v", job["bytes"], total)
	}
	awaitEvent(t, got, "model_install_complete")
	n := eventNames(got())
	for _, name := range []string{"model_install_started", "model_install_download_progress", "model_install_downloads_complete",
		"model_install_complete", "download_started", "download_progress", "download_complete"} {
		if n[name] == 0 {
			t.Errorf("no %s event (got %v)", name, n)
		}
	}
	for _, e := range got() {
		if e.Audience != events.Admins {
			t.Fatalf("%s not sent to admins only", e.Name)
		}
		if e.Name == "model_install_download_progress" {
			// parts is a list of objects, each with InvokeAI's four fields, as the client receives it.
			b, _ := json.Marshal(e.Payload["parts"])
			var parts []map[string]any
			if err := json.Unmarshal(b, &parts); err != nil || len(parts) == 0 {
				t.Fatalf("progress payload %v", e.Payload)
			}
			for _, part := range parts {
				if len(part) != 4 || part["url"] == nil || part["local_path"] == nil || part["bytes"] == nil || part["total_bytes"] == nil {
					t.Fatalf("progress part %v", part)
				}
			}
		}
	}
	// The download folder is gone.
	if entries, _ := os.ReadDir(filepath.Join(env.Root, "models", ".download_cache")); len(entries) != 0 {
		t.Fatalf("download cache left %d entries", len(entries))
	}
	// The hub lookup route reports a diffusers repository.
	info := env.Do("GET", "/api/v2/models/hugging_face?hugging_face_repo=tester/sd15-tiny-pipe").Expect(200).Map()
	if info["is_diffusers"] != true || info["urls"] != nil {
		t.Fatalf("hugging_face %v", info)
	}
	env.Do("GET", "/api/v2/models/hugging_face?hugging_face_repo=tester/nothing").Expect(400)
}

func TestInstallFromHubIntegrityFailures(t *testing.T) {
	fx := sdTiny(t)
	for _, kind := range []string{"size", "hash"} {
		t.Run(kind, func(t *testing.T) {
			hub := newFakeHub(t, "tester/vae", filepath.Join(fx, "sd15-tiny-pipe", "vae"))
			if kind == "size" {
				hub.badSize["diffusion_pytorch_model.safetensors"] = true
			} else {
				hub.badHash["diffusion_pytorch_model.safetensors"] = true
			}
			env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.HFEndpoint = hub.URL }))
			got, stop := collect(env.App.Events)
			defer stop()
			job := env.Do("POST", installPath("tester/vae"), apitest.JSON(map[string]any{})).Expect(201).Map()
			job = waitJob(t, env, "", job["id"].(float64), "completed", "error")
			if job["status"] != "error" || job["error"] == nil {
				t.Fatalf("job %v", job)
			}
			awaitEvent(t, got, "model_install_error")
			if eventNames(got())["model_install_error"] != 1 {
				t.Fatalf("events %v", eventNames(got()))
			}
			var list struct{ Models []any }
			env.Do("GET", "/api/v2/models/").Expect(200).Decode(&list)
			if len(list.Models) != 0 {
				t.Fatal("a record was made")
			}
			if entries, _ := os.ReadDir(filepath.Join(env.Root, "models", ".download_cache")); len(entries) != 0 {
				t.Fatalf("download cache left %d entries", len(entries))
			}
			// restart_failed runs it again (and it fails the same way).
			env.Do("POST", fmt.Sprintf("/api/v2/models/install/%d/restart_failed", int64(job["id"].(float64)))).Expect(201)
			waitJob(t, env, "", job["id"].(float64), "error")
		})
	}
}

func TestInstallCancelPauseResumeAndRestart(t *testing.T) {
	fx := sdTiny(t)
	hub := newFakeHub(t, "tester/vae", filepath.Join(fx, "sd15-tiny-pipe", "vae"))
	hub.hold = make(chan struct{})
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.HFEndpoint = hub.URL }))
	partial := func() []string {
		var out []string
		filepath.WalkDir(filepath.Join(env.Root, "models", ".download_cache"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				out = append(out, p)
			}
			return nil
		})
		return out
	}
	waitPartial := func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			for _, p := range partial() {
				if st, err := os.Stat(p); err == nil && st.Size() > 0 && strings.HasSuffix(p, ".downloading") {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("no partial download appeared")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Cancel removes the partial files.
	job := env.Do("POST", installPath("tester/vae"), apitest.JSON(map[string]any{})).Expect(201).Map()
	id := int64(job["id"].(float64))
	waitPartial()
	env.Do("DELETE", fmt.Sprintf("/api/v2/models/install/%d", id)).Expect(201)
	waitJob(t, env, "", float64(id), "cancelled")
	if p := partial(); len(p) != 0 {
		t.Fatalf("partial files after cancel: %v", p)
	}
	env.Do("DELETE", "/api/v2/models/install/99999").Expect(415)
	env.Do("POST", "/api/v2/models/install/99999/pause").Expect(415)
	// Pause keeps them, and a restart of the server resumes the download with a Range request.
	job = env.Do("POST", installPath("tester/vae"), apitest.JSON(map[string]any{})).Expect(201).Map()
	id = int64(job["id"].(float64))
	waitPartial()
	paused := env.Do("POST", fmt.Sprintf("/api/v2/models/install/%d/pause", id)).Expect(201).Map()
	if paused["status"] != "paused" || len(partial()) == 0 {
		t.Fatalf("paused %v, partial %v", paused["status"], partial())
	}
	env.Do("POST", fmt.Sprintf("/api/v2/models/install/%d/resume", id)).Expect(201)
	waitJob(t, env, "", float64(id), "downloading")
	waitPartial()
	cfg := env.App.Config()
	env.Close() // the server stops mid-download
	hub.mu.Lock()
	close(hub.hold)
	hub.hold = nil
	hub.mu.Unlock()
	env2 := apitest.Start(t, cfg)
	done := waitJob(t, env2, "", float64(id), "completed", "error")
	if done["status"] != "completed" || done["config_out"].(map[string]any)["type"] != "vae" {
		t.Fatalf("after restart: %v", done)
	}
	hub.mu.Lock()
	ranges := append([]string(nil), hub.ranges...)
	hub.mu.Unlock()
	if len(ranges) == 0 {
		t.Fatal("the interrupted download was not resumed with a Range request")
	}
	// Prune forgets finished jobs.
	env2.Do("DELETE", "/api/v2/models/install").Expect(204)
	var jobs []any
	env2.Do("GET", "/api/v2/models/install").Expect(200).Decode(&jobs)
	if len(jobs) != 0 {
		t.Fatalf("jobs after prune: %d", len(jobs))
	}
}

func TestInstallFromURLWithTokens(t *testing.T) {
	fx := sdTiny(t)
	data, _ := os.ReadFile(filepath.Join(fx, "sd15-tiny-single.safetensors"))
	var mu sync.Mutex
	seen := map[string]string{}
	serve := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen[name] = r.Header.Get("Authorization")
			mu.Unlock()
			w.Header().Set("Content-Disposition", `attachment; filename="`+name+`-model.safetensors"`)
			http.ServeContent(w, r, "x", time.Time{}, bytes.NewReader(data))
		}))
		t.Cleanup(s.Close)
		return s
	}
	secret, public := serve("secret"), serve("public")
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) {
		c.RemoteAPITokens = []config.RemoteAPIToken{{URLRegex: regexpQuote(secret.URL), Token: "s3cret"}}
	}))
	job := env.Do("POST", installPath(secret.URL+"/api/download/models/1"), apitest.JSON(map[string]any{})).Expect(201).Map()
	job = waitJob(t, env, "", job["id"].(float64), "completed", "error")
	cfg := job["config_out"].(map[string]any)
	if job["status"] != "completed" || cfg["source_type"] != "url" || cfg["path"] != "sd-1/main/secret-model.safetensors" || cfg["format"] != "checkpoint" {
		t.Fatalf("url job %v", job)
	}
	job = env.Do("POST", installPath(public.URL+"/other.safetensors"), apitest.JSON(map[string]any{"name": "other"})).Expect(201).Map()
	job = waitJob(t, env, "", job["id"].(float64), "completed", "error")
	if job["status"] != "completed" || job["config_out"].(map[string]any)["name"] != "other" {
		t.Fatalf("second url job %v", job)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["secret"] != "Bearer s3cret" || seen["public"] != "" {
		t.Fatalf("authorization headers %v", seen)
	}
	// The token is never shown back.
	raw := env.Do("GET", "/api/v2/models/install").Expect(200).Body
	if bytes.Contains(raw, []byte("s3cret")) {
		t.Fatal("token echoed in the job list")
	}
}

func regexpQuote(s string) string {
	return "^" + strings.NewReplacer(".", `\.`, ":", `\:`, "/", `\/`).Replace(s)
}

func TestHFLoginAndStarterModels(t *testing.T) {
	hub := newFakeHub(t, "tester/x", t.TempDir())
	hub.validTok = "hf_good"
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.HFEndpoint = hub.URL }))
	if s := string(env.Do("GET", "/api/v2/models/hf_login").Expect(200).Body); !strings.Contains(s, `"invalid"`) {
		t.Fatalf("status %s", s)
	}
	if s := string(env.Do("POST", "/api/v2/models/hf_login", apitest.JSON(map[string]any{"token": "hf_bad"})).Expect(200).Body); !strings.Contains(s, `"invalid"`) {
		t.Fatalf("bad token %s", s)
	}
	if s := string(env.Do("POST", "/api/v2/models/hf_login", apitest.JSON(map[string]any{"token": "hf_good"})).Expect(200).Body); !strings.Contains(s, `"valid"`) {
		t.Fatalf("good token %s", s)
	}
	if s := string(env.Do("GET", "/api/v2/models/hf_login").Expect(200).Body); !strings.Contains(s, `"valid"`) || strings.Contains(s, "hf_good") {
		t.Fatalf("status %s", s)
	}
	env.Do("DELETE", "/api/v2/models/hf_login").Expect(200)
	if s := string(env.Do("GET", "/api/v2/models/hf_login").Expect(200).Body); !strings.Contains(s, `"invalid"`) {
		t.Fatalf("after logout %s", s)
	}
	var starters struct {
		StarterModels  []map[string]any          `json:"starter_models"`
		StarterBundles map[string]map[string]any `json:"starter_bundles"`
	}
	env.Do("GET", "/api/v2/models/starter_models").Expect(200).Decode(&starters)
	if len(starters.StarterModels) < 4 || starters.StarterBundles["sdxl"] == nil || starters.StarterModels[0]["is_installed"] != false {
		t.Fatalf("starters %v", starters)
	}
	stats := env.Do("GET", "/api/v2/models/stats").Expect(200).Map()
	if _, ok := stats["high_watermark"]; !ok {
		t.Fatalf("stats %v", stats)
	}
	env.Do("POST", "/api/v2/models/empty_model_cache").Expect(200)
}

func TestScanFolderAndOrphans(t *testing.T) {
	fx := sdTiny(t)
	env := apitest.New(t)
	var found []map[string]any
	env.Do("GET", "/api/v2/models/scan_folder?scan_path="+url.QueryEscape(fx)).Expect(200).Decode(&found)
	paths := map[string]bool{}
	for _, f := range found {
		paths[filepath.Base(f["path"].(string))] = true
	}
	for _, want := range []string{"sd15-tiny-pipe", "sd15-tiny", "sdxl-tiny", "sd15-tiny-single.safetensors"} {
		if !paths[want] {
			t.Fatalf("scan missed %s: %v", want, found)
		}
	}
	env.Do("GET", "/api/v2/models/scan_folder?scan_path=/no/such/dir").Expect(400)
	// A model folder nobody references is an orphan, and can be deleted.
	orphan := filepath.Join(env.Root, "models", "sd-1", "lora", "stray")
	os.MkdirAll(orphan, 0o755)
	os.WriteFile(filepath.Join(orphan, "w.safetensors"), []byte("x"), 0o644)
	var orphans []map[string]any
	env.Do("GET", "/api/v2/models/sync/orphaned").Expect(200).Decode(&orphans)
	if len(orphans) != 1 || orphans[0]["path"] != "sd-1/lora/stray" {
		t.Fatalf("orphans %v", orphans)
	}
	res := env.Do("DELETE", "/api/v2/models/sync/orphaned", apitest.JSON(map[string]any{"paths": []string{"sd-1/lora/stray", "../../etc"}})).Expect(200).Map()
	if len(res["deleted"].([]any)) != 1 || res["errors"].(map[string]any)["../../etc"] == nil {
		t.Fatalf("delete orphans %v", res)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatal("orphan still there")
	}
}

// installInPlace installs a local model where it is and returns its config.
func installInPlace(t *testing.T, env *apitest.Env, tok, source string) map[string]any {
	t.Helper()
	job := env.Do("POST", installPath(source, "inplace", "true"), apitest.Token(tok), apitest.JSON(map[string]any{})).Expect(201).Map()
	job = waitJob(t, env, tok, job["id"].(float64), "completed", "error")
	if job["status"] != "completed" {
		t.Fatalf("install %s: %v", source, job)
	}
	return job["config_out"].(map[string]any)
}

// A model copied into the models folder is installed under its source path too, as InvokeAI's scan compares
// a found path with each record's path and source.
func TestScanFolderMarksInstalledSources(t *testing.T) {
	fx := sdTiny(t)
	env := apitest.New(t)
	data, err := os.ReadFile(filepath.Join(fx, "sd15-tiny-single.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"copied.safetensors", "inplace.safetensors", "other.safetensors"} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	job := env.Do("POST", installPath(filepath.Join(dir, "copied.safetensors")), apitest.JSON(map[string]any{})).Expect(201).Map()
	if job = waitJob(t, env, "", job["id"].(float64), "completed", "error"); job["config_out"].(map[string]any)["path"] != "sd-1/main/copied.safetensors" {
		t.Fatalf("copy install %v", job)
	}
	installInPlace(t, env, "", filepath.Join(dir, "inplace.safetensors"))
	var found []map[string]any
	env.Do("GET", "/api/v2/models/scan_folder?scan_path="+url.QueryEscape(dir)).Expect(200).Decode(&found)
	got := map[string]any{}
	for _, f := range found {
		got[filepath.Base(f["path"].(string))] = f["is_installed"]
	}
	for _, c := range []struct {
		name string
		want bool
	}{
		{"copied.safetensors", true},  // its record's source
		{"inplace.safetensors", true}, // its record's path
		{"other.safetensors", false},
	} {
		if got[c.name] != c.want {
			t.Errorf("%s: is_installed %v, want %v (scan %v)", c.name, got[c.name], c.want, found)
		}
	}
}

// Hugging Face sources take InvokeAI's forms; a variant outside ModelRepoVariant is not a source (409).
func TestInstallHubSourceForms(t *testing.T) {
	fx := sdTiny(t)
	hub := newFakeHub(t, "tester/pipe", filepath.Join(fx, "sd15-tiny-pipe"))
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.HFEndpoint = hub.URL }))
	cases := []struct {
		source             string
		status             int
		variant, subfolder any
	}{
		{"tester/pipe", 201, nil, nil},
		{"tester/pipe:fp16", 201, "fp16", nil},
		{"tester/pipe::vae", 201, nil, "vae"},
		{"tester/pipe:fp32:vae", 201, "fp32", "vae"},
		{"tester/pipe:onnx:/vae", 201, "onnx", "vae"},
		{"tester/pipe:vae", 409, nil, nil},
		{"tester/pipe:bf16", 409, nil, nil},
		{"tester/pipe::../../etc", 409, nil, nil},
	}
	var ids []float64
	for _, c := range cases {
		res := env.Do("POST", installPath(c.source), apitest.JSON(map[string]any{})).Expect(c.status)
		if c.status != 201 {
			if d := res.Detail(); d != "Unsupported model source: '"+c.source+"'" {
				t.Errorf("%s: detail %q", c.source, d)
			}
			continue
		}
		job := res.Map()
		src := job["source"].(map[string]any)
		if src["type"] != "hf" || src["repo_id"] != "tester/pipe" || src["variant"] != c.variant || src["subfolder"] != c.subfolder {
			t.Errorf("%s: source %v", c.source, src)
		}
		ids = append(ids, job["id"].(float64))
	}
	for _, id := range ids {
		waitJob(t, env, "", id, "completed", "error")
	}
}

// owner/repo::file.safetensors installs that one file (InvokeAI's starter list uses
// black-forest-labs/FLUX.1-schnell::ae.safetensors), and source_metadata lists it with snake_case keys.
func TestInstallSingleFileFromHubSubfolder(t *testing.T) {
	fx := sdTiny(t)
	repoDir := t.TempDir()
	single, err := os.ReadFile(filepath.Join(fx, "sd15-tiny-single.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(repoDir, "sd15-tiny-single.safetensors"), single, 0o644)
	os.MkdirAll(filepath.Join(repoDir, "vae"), 0o755)
	for _, name := range []string{"config.json", "diffusion_pytorch_model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(fx, "sd15-tiny-pipe", "vae", name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(repoDir, "vae", name), b, 0o644)
	}
	hub := newFakeHub(t, "tester/mixed", repoDir)
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.HFEndpoint = hub.URL }))
	job := env.Do("POST", installPath("tester/mixed::sd15-tiny-single.safetensors"), apitest.JSON(map[string]any{})).Expect(201).Map()
	job = waitJob(t, env, "", job["id"].(float64), "completed", "error")
	if job["status"] != "completed" {
		t.Fatalf("job %v", job)
	}
	cfg := job["config_out"].(map[string]any)
	if cfg["format"] != "checkpoint" || cfg["type"] != "main" || cfg["base"] != "sd-1" || cfg["path"] != "sd-1/main/sd15-tiny-single.safetensors" ||
		cfg["name"] != "mixed_sd15-tiny-single" || cfg["source"] != "tester/mixed::sd15-tiny-single.safetensors" {
		t.Fatalf("config %v", cfg)
	}
	if parts := job["download_parts"].([]any); len(parts) != 1 {
		t.Fatalf("downloaded %d files, want the one file: %v", len(parts), parts)
	}
	sum := sha256.Sum256(single)
	files := job["source_metadata"].(map[string]any)["files"].([]any)
	want := map[string]any{"path": "sd15-tiny-single.safetensors", "size": float64(len(single)), "sha256": hex.EncodeToString(sum[:])}
	if len(files) != 1 || !reflectDeepEqual(files[0], want) {
		t.Fatalf("source_metadata.files %v, want [%v]", files, want)
	}
}

func reflectDeepEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// PATCH default_settings is validated against InvokeAI's settings classes (422 in FastAPI's shape) and stored
// with every field of the model type's class.
func TestPatchDefaultSettings(t *testing.T) {
	fx := sdTiny(t)
	env := apitest.New(t)
	key := installInPlace(t, env, "", filepath.Join(fx, "sd15-tiny-pipe"))["key"].(string)
	vaeKey := installInPlace(t, env, "", filepath.Join(fx, "sd15-tiny-pipe", "vae"))["key"].(string)
	path := "/api/v2/models/i/" + key
	mainFields := []string{"vae", "vae_precision", "scheduler", "steps", "cfg_scale", "cfg_rescale_multiplier", "width", "height", "guidance", "cpu_only"}
	cases := []struct {
		name     string
		settings any
		status   int
		want     map[string]any // fields checked in the stored settings (every other one must be null)
		errLoc   []any          // for 422: one of the detail items has this loc
		errType  string
	}{
		{name: "main settings", settings: map[string]any{"steps": 25, "scheduler": "euler_a", "cfg_scale": 6.5, "width": 512, "cpu_only": true},
			status: 200, want: map[string]any{"steps": float64(25), "scheduler": "euler_a", "cfg_scale": 6.5, "width": float64(512), "cpu_only": true}},
		{name: "lax values are coerced", settings: map[string]any{"steps": "30", "height": 768.0},
			status: 200, want: map[string]any{"steps": float64(30), "height": float64(768)}},
		{name: "unknown key", settings: map[string]any{"sampler": "euler"}, status: 422,
			errLoc: []any{"body", "default_settings", "MainModelDefaultSettings", "sampler"}, errType: "extra_forbidden"},
		{name: "wrong type", settings: map[string]any{"steps": "many"}, status: 422,
			errLoc: []any{"body", "default_settings", "MainModelDefaultSettings", "steps"}, errType: "int_parsing"},
		{name: "out of range", settings: map[string]any{"width": 100}, status: 422,
			errLoc: []any{"body", "default_settings", "MainModelDefaultSettings", "width"}, errType: "multiple_of"},
		{name: "unknown scheduler", settings: map[string]any{"scheduler": "warp"}, status: 422,
			errLoc: []any{"body", "default_settings", "MainModelDefaultSettings", "scheduler"}, errType: "literal_error"},
		{name: "not an object", settings: "fast", status: 422,
			errLoc: []any{"body", "default_settings", "MainModelDefaultSettings"}, errType: "model_type"},
		{name: "lora settings do not fit a main model", settings: map[string]any{"weight": 0.5}, status: 409},
		{name: "null clears them", settings: nil, status: 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := env.Do("GET", path).Expect(200).Map()["default_settings"]
			res := env.Do("PATCH", path, apitest.JSON(map[string]any{"default_settings": c.settings})).Expect(c.status)
			stored := env.Do("GET", path).Expect(200).Map()["default_settings"]
			switch c.status {
			case 200:
				got := res.Map()["default_settings"]
				if !reflectDeepEqual(got, stored) {
					t.Fatalf("answered %v, stored %v", got, stored)
				}
				if c.settings == nil {
					if got != nil {
						t.Fatalf("settings not cleared: %v", got)
					}
					return
				}
				m := got.(map[string]any)
				if len(m) != len(mainFields) {
					t.Fatalf("settings %v: want every field of MainModelDefaultSettings", m)
				}
				for _, f := range mainFields {
					v, ok := m[f]
					if !ok || !reflectDeepEqual(v, c.want[f]) {
						t.Fatalf("%s = %v (present %v), want %v; settings %v", f, v, ok, c.want[f], m)
					}
				}
			case 422:
				var body struct{ Detail []map[string]any }
				res.Decode(&body)
				found := false
				for _, it := range body.Detail {
					if reflectDeepEqual(it["loc"], c.errLoc) && it["type"] == c.errType && it["msg"] != "" {
						if _, ok := it["input"]; ok {
							found = true
						}
					}
				}
				if !found {
					t.Fatalf("no %s error at %v in %s", c.errType, c.errLoc, res.Body)
				}
				fallthrough
			default:
				if !reflectDeepEqual(before, stored) {
					t.Fatalf("a refused change altered the record: %v -> %v", before, stored)
				}
			}
		})
	}
	// A VAE has no default settings to set.
	env.Do("PATCH", "/api/v2/models/i/"+vaeKey, apitest.JSON(map[string]any{"default_settings": map[string]any{"steps": 3}})).Expect(409)
}

// Enum values outside InvokeAI's enums in ModelRecordChanges are a 422 with FastAPI's detail list, for PATCH
// and for the install body alike, before the model is looked up.
func TestModelChangesEnumsAre422(t *testing.T) {
	fx := sdTiny(t)
	env := apitest.New(t)
	key := installInPlace(t, env, "", filepath.Join(fx, "sd15-tiny-single.safetensors"))["key"].(string)
	cases := []struct {
		field string
		value string
	}{
		{"base", "sd-9"},
		{"type", "checkpointy"},
		{"variant", "huge"},
		{"format", "pickle"},
		{"prediction_type", "x_prediction"},
		{"source_type", "ftp"},
	}
	requests := []struct {
		name, method, path string
	}{
		{"patch", "PATCH", "/api/v2/models/i/" + key},
		{"patch unknown key", "PATCH", "/api/v2/models/i/no-such-model"},
		{"install", "POST", installPath(filepath.Join(fx, "sd15-tiny-pipe"))},
	}
	for _, r := range requests {
		for _, c := range cases {
			t.Run(r.name+"/"+c.field, func(t *testing.T) {
				res := env.Do(r.method, r.path, apitest.JSON(map[string]any{c.field: c.value})).Expect(422)
				var body struct{ Detail []map[string]any }
				res.Decode(&body)
				if len(body.Detail) != 1 {
					t.Fatalf("detail %s", res.Body)
				}
				it := body.Detail[0]
				if !reflectDeepEqual(it["loc"], []any{"body", c.field}) || it["type"] != "enum" || it["input"] != c.value ||
					!strings.HasPrefix(it["msg"].(string), "Input should be ") {
					t.Fatalf("detail item %v", it)
				}
			})
		}
	}
	var jobs []any
	env.Do("GET", "/api/v2/models/install").Expect(200).Decode(&jobs)
	if len(jobs) != 1 { // only the in-place install above
		t.Fatalf("a refused install made a job: %d jobs", len(jobs))
	}
}

// An install job's error is the exception's message (no HTTP status in front), and error_type names the class
// InvokeAI would raise.
func TestInstallJobErrorTextAndType(t *testing.T) {
	fx := sdTiny(t)
	data, err := os.ReadFile(filepath.Join(fx, "sd15-tiny-single.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "dup.safetensors", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	env := apitest.New(t)
	got, stop := collect(env.App.Events)
	defer stop()
	job := env.Do("POST", installPath(srv.URL+"/dup.safetensors"), apitest.JSON(map[string]any{})).Expect(201).Map()
	if job = waitJob(t, env, "", job["id"].(float64), "completed", "error"); job["status"] != "completed" {
		t.Fatalf("first install %v", job)
	}
	job = env.Do("POST", installPath(srv.URL+"/dup.safetensors"), apitest.JSON(map[string]any{})).Expect(201).Map()
	job = waitJob(t, env, "", job["id"].(float64), "completed", "error")
	const want = "A model at sd-1/main/dup.safetensors is already installed"
	if job["status"] != "error" || job["error"] != want || job["error_reason"] != "DuplicateModelException" {
		t.Fatalf("duplicate job: status %v, error %q, error_reason %v", job["status"], job["error"], job["error_reason"])
	}
	awaitEvent(t, got, "model_install_error")
	for _, e := range got() {
		if e.Name != "model_install_error" {
			continue
		}
		if e.Payload["error"] != want || e.Payload["error_type"] != "DuplicateModelException" {
			t.Fatalf("model_install_error payload %v", e.Payload)
		}
	}
}

// GET /api/v2/models/ lists in InvokeAI's order: type, base, name, format.
func TestModelListOrder(t *testing.T) {
	fx := sdTiny(t)
	env := apitest.New(t)
	pipe := installInPlace(t, env, "", filepath.Join(fx, "sd15-tiny-pipe"))
	vae := installInPlace(t, env, "", filepath.Join(fx, "sd15-tiny-pipe", "vae"))
	sdxl := installInPlace(t, env, "", filepath.Join(fx, "sdxl-tiny"))
	single := installInPlace(t, env, "", filepath.Join(fx, "sd15-tiny-single.safetensors"))
	listed := func() []any {
		var list struct{ Models []map[string]any }
		env.Do("GET", "/api/v2/models/").Expect(200).Decode(&list)
		var keys []any
		for _, m := range list.Models {
			keys = append(keys, m["key"])
		}
		return keys
	}
	// main before vae (type), then sd-1 before sdxl (base), then by name.
	if got, want := listed(), []any{pipe["key"], single["key"], sdxl["key"], vae["key"]}; !reflectDeepEqual(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	// Same type, base and name: the format decides (checkpoint before diffusers).
	env.Do("PATCH", "/api/v2/models/i/"+single["key"].(string), apitest.JSON(map[string]any{"name": pipe["name"]})).Expect(200)
	if got, want := listed(), []any{single["key"], pipe["key"], sdxl["key"], vae["key"]}; !reflectDeepEqual(got, want) {
		t.Fatalf("order by format %v, want %v", got, want)
	}
}
