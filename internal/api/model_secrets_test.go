package api_test

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/events"
)

// Model sources are pasted with their credentials (Civitai keys in the query, user:password in the authority,
// signed storage links). The download uses them; nothing else may show them: not the stored record, not the
// job, not an event, not an error message, and non-admins see neither sources nor server paths
// (docs/security.md "Model sources and paths").

// secrets of the test URL, none of which may be seen outside the download itself.
var modelSecrets = []string{"pa55w0rd", "S3CRET-TOKEN", "AMZ-SIG-XYZ", "APIKEY-123"}

func assertNoSecrets(t *testing.T, what string, b []byte) {
	t.Helper()
	for _, s := range modelSecrets {
		if bytes.Contains(b, []byte(s)) {
			t.Fatalf("%s contains the secret %q: %s", what, s, truncateBody(b))
		}
	}
}

func truncateBody(b []byte) string {
	if len(b) > 800 {
		return string(b[:800]) + "…"
	}
	return string(b)
}

func TestModelSourceCredentialsNeverLeave(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(sdTiny(t), "sd15-tiny-single.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var sawCredentials bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		q := r.URL.Query()
		ok := user == "alice" && pass == "pa55w0rd" && q.Get("token") == "S3CRET-TOKEN" && q.Get("X-Amz-Signature") == "AMZ-SIG-XYZ"
		mu.Lock()
		sawCredentials = sawCredentials || ok
		mu.Unlock()
		if !ok {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Disposition", `attachment; filename="civitai-model.safetensors"`)
		http.ServeContent(w, r, "x", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	source := "http://alice:pa55w0rd@" + host + "/api/download/models/1?type=Model&token=S3CRET-TOKEN&format=SafeTensor&X-Amz-Signature=AMZ-SIG-XYZ#frag"
	public := "http://" + host + "/api/download/models/1?type=Model&format=SafeTensor"

	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	ch, unsub := env.App.Events.Subscribe(4096)
	defer unsub()

	job := env.Do("POST", installPath(source), apitest.Token(cast.Admin.Token), apitest.JSON(map[string]any{})).Expect(201)
	assertNoSecrets(t, "the install answer", job.Body)
	id := job.Map()["id"].(float64)
	done := waitJob(t, env, cast.Admin.Token, id, "completed", "error")
	if done["status"] != "completed" {
		t.Fatalf("install %v", done)
	}
	mu.Lock()
	if !sawCredentials {
		t.Fatal("the download did not carry the URL's credentials")
	}
	mu.Unlock()
	cfg := done["config_out"].(map[string]any)
	if cfg["source"] != public {
		t.Fatalf("stored source %q, want %q", cfg["source"], public)
	}
	key := cfg["key"].(string)

	// Admins see the public source; no answer holds a secret.
	for _, path := range []string{"/api/v2/models/", "/api/v2/models/i/" + key, "/api/v2/models/install", "/api/v2/models/install/1"} {
		assertNoSecrets(t, "admin GET "+path, env.Do("GET", path, apitest.Token(cast.Admin.Token)).Expect(200).Body)
	}
	// Non-admins see what a model is, not where it came from or where it lives.
	var list struct {
		Models []map[string]any `json:"models"`
	}
	env.Do("GET", "/api/v2/models/", apitest.Token(cast.Owner.Token)).Expect(200).Decode(&list)
	one := env.Do("GET", "/api/v2/models/i/"+key, apitest.Token(cast.Owner.Token)).Expect(200).Map()
	byHash := env.Do("GET", "/api/v2/models/get_by_hash?hash="+cfg["hash"].(string), apitest.Token(cast.Owner.Token)).Expect(200).Map()
	byAttrs := env.Do("GET", "/api/v2/models/get_by_attrs?name="+cfg["name"].(string)+"&type=main&base=sd-1", apitest.Token(cast.Owner.Token)).Expect(200).Map()
	for what, m := range map[string]map[string]any{"list": list.Models[0], "get": one, "get_by_hash": byHash, "get_by_attrs": byAttrs} {
		if m["key"] != key || m["name"] != cfg["name"] {
			t.Fatalf("%s: not the model: %v", what, m)
		}
		if m["source"] != "" || m["path"] != "" || m["source_url"] != nil || m["source_api_response"] != nil {
			t.Fatalf("%s shows a non-admin the source or path: %v", what, m)
		}
	}
	env.Do("GET", "/api/v2/models/install", apitest.Token(cast.Owner.Token)).Expect(403)

	// Nothing stored keeps the credentials once the job is done.
	for _, q := range []string{`SELECT config FROM models`, `SELECT job FROM model_install_jobs`} {
		rows, err := env.App.DB.SQL().Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			assertNoSecrets(t, q, []byte(s))
		}
		rows.Close()
	}

	// A download that fails with the URL in its error: the error is scrubbed everywhere.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	bad := env.Do("POST", installPath("http://alice:pa55w0rd@"+closed+"/m.safetensors?api_key=APIKEY-123&token=S3CRET-TOKEN"),
		apitest.Token(cast.Admin.Token), apitest.JSON(map[string]any{})).Expect(201).Map()
	failed := env.Do("GET", "/api/v2/models/install", apitest.Token(cast.Admin.Token))
	assertNoSecrets(t, "the job list", failed.Body)
	errored := waitJob(t, env, cast.Admin.Token, bad["id"].(float64), "error", "completed")
	b, _ := json.Marshal(errored)
	assertNoSecrets(t, "the failed job", b)
	if errored["status"] != "error" || errored["error"] == nil {
		t.Fatalf("failed job %v", errored)
	}

	// Every model event went to admins only; its payload and any sanitised copy carry no secret, and the
	// sanitised copies no source or path.
	time.Sleep(50 * time.Millisecond)
	n := 0
	for {
		select {
		case e := <-ch:
			if !strings.HasPrefix(e.Name, "model_") && !strings.HasPrefix(e.Name, "download_") {
				continue
			}
			n++
			if e.Audience == events.Everyone {
				t.Fatalf("%s published to every socket", e.Name)
			}
			for what, p := range map[string]map[string]any{"payload": e.Payload, "sanitised copy": e.Sanitized} {
				b, _ := json.Marshal(p)
				assertNoSecrets(t, e.Name+" "+what, b)
			}
			if e.Sanitized != nil {
				b, _ := json.Marshal(e.Sanitized)
				if bytes.Contains(b, []byte(host)) || bytes.Contains(b, []byte(env.Root)) {
					t.Fatalf("%s's sanitised copy names a source or path: %s", e.Name, b)
				}
			}
			continue
		default:
		}
		break
	}
	if n < 4 {
		t.Fatalf("only %d model events seen", n)
	}
}

// Records and jobs stored by an earlier invokego, credentials and all, lose them at the next start.
func TestStoredCredentialsAreScrubbedAtStart(t *testing.T) {
	env := apitest.New(t)
	cfg := env.App.Config()
	record := map[string]any{"key": "legacy", "hash": "blake3:x", "path": "sd-1/main/legacy.safetensors", "file_size": 1, "name": "legacy",
		"source": "https://bob:pa55w0rd@civitai.example/api/download/models/7?token=S3CRET-TOKEN&type=Model", "source_type": "url",
		"base": "sd-1", "type": "main", "format": "checkpoint"}
	b, _ := json.Marshal(record)
	if _, err := env.App.DB.SQL().Exec(`INSERT INTO models (id, config) VALUES ('legacy', ?)`, string(b)); err != nil {
		t.Fatal(err)
	}
	env.Close()
	env = apitest.Start(t, cfg)
	var stored string
	if err := env.App.DB.SQL().QueryRow(`SELECT config FROM models WHERE id = 'legacy'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	assertNoSecrets(t, "the stored record", []byte(stored))
	got := env.Do("GET", "/api/v2/models/i/legacy").Expect(200).Map()
	if got["source"] != "https://civitai.example/api/download/models/7?type=Model" {
		t.Fatalf("source %v", got["source"])
	}
}
