package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A server killed while it runs an item comes back, fails that item with the reason, and stays up; a graph that
// kills it again and again is, after MaxCrashes deaths, never run again (docs/security.md "Resource limits and
// hostile input"). The test kills the real binary with SIGKILL while the item runs: nothing of the process's
// own shutdown runs, as when the kernel kills it for memory.
func TestServerKilledWhileRunningComesBackAndStaysUp(t *testing.T) {
	root := t.TempDir()
	api := func(url, method, path string, body any) (int, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, url+path, rd)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		var m map[string]any
		raw, _ := io.ReadAll(res.Body)
		_ = json.Unmarshal(raw, &m)
		if m == nil && len(raw) > 0 && raw[0] == '[' {
			m = map[string]any{"list": json.RawMessage(raw)}
		}
		return res.StatusCode, m
	}
	item := func(url string, id float64) map[string]any {
		t.Helper()
		code, it := api(url, "GET", fmt.Sprintf("/api/v1/queue/default/i/%d", int64(id)), nil)
		if code != 200 {
			t.Fatalf("item %v: %d %v", id, code, it)
		}
		return it
	}
	waitFor := func(url string, id float64, statuses ...string) map[string]any {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			it := item(url, id)
			for _, s := range statuses {
				if it["status"] == s {
					return it
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("item %v stays %v", id, it["status"])
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// A graph that runs for a while: blurs of a large image, one after the other.
	slow := map[string]any{"nodes": map[string]any{
		"blank": map[string]any{"id": "blank", "type": "blank_image", "width": 3072, "height": 3072, "is_intermediate": true},
		"b1":    map[string]any{"id": "b1", "type": "img_blur", "radius": 60, "is_intermediate": true},
		"b2":    map[string]any{"id": "b2", "type": "img_blur", "radius": 60, "is_intermediate": true},
		"b3":    map[string]any{"id": "b3", "type": "img_blur", "radius": 60, "is_intermediate": true},
	}, "edges": []any{
		map[string]any{"source": map[string]any{"node_id": "blank", "field": "image"}, "destination": map[string]any{"node_id": "b1", "field": "image"}},
		map[string]any{"source": map[string]any{"node_id": "b1", "field": "image"}, "destination": map[string]any{"node_id": "b2", "field": "image"}},
		map[string]any{"source": map[string]any{"node_id": "b2", "field": "image"}, "destination": map[string]any{"node_id": "b3", "field": "image"}},
	}}
	kill := func(cmd *exec.Cmd) {
		t.Helper()
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
	}
	cmd, url, _ := startServer(t, root)
	code, res := api(url, "POST", "/api/v1/queue/default/enqueue_batch", map[string]any{"batch": map[string]any{"graph": slow}})
	if code != 200 {
		t.Fatalf("enqueue %d %v", code, res)
	}
	poison := res["item_ids"].([]any)[0].(float64)
	waitFor(url, poison, "in_progress")
	kill(cmd)

	// Crash 1: back up, the item failed with the reason, not run again; the server works and stays up.
	cmd, url, _ = startServer(t, root)
	it := item(url, poison)
	if it["status"] != "failed" || it["error_type"] != "InterruptedError" || !strings.Contains(fmt.Sprint(it["error_message"]), "stopped while this item was running") {
		t.Fatalf("interrupted item %v", it)
	}
	_, res = api(url, "POST", "/api/v1/queue/default/enqueue_batch", map[string]any{"batch": map[string]any{"graph": map[string]any{
		"nodes": map[string]any{"n": map[string]any{"id": "n", "type": "integer", "value": 1}}, "edges": []any{}}}})
	waitFor(url, res["item_ids"].([]any)[0].(float64), "completed")

	// The user retries it: it runs once more, and the process dies again (crash 2).
	retry := func(url string, id float64) float64 {
		t.Helper()
		b, _ := json.Marshal([]float64{id})
		req, _ := http.NewRequest("PUT", url+"/api/v1/queue/default/retry_items_by_id", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var out struct {
			IDs []float64 `json:"retried_item_ids"`
		}
		_ = json.NewDecoder(r.Body).Decode(&out)
		if len(out.IDs) != 1 {
			t.Fatalf("retry %d: %v", r.StatusCode, out)
		}
		return out.IDs[0]
	}
	second := retry(url, poison)
	waitFor(url, second, "in_progress")
	kill(cmd)
	cmd, url, _ = startServer(t, root)
	if it := item(url, second); it["status"] != "failed" || it["error_type"] != "InterruptedError" {
		t.Fatalf("second interrupted item %v", it)
	}

	// A third try is refused without running: the server stays up.
	third := retry(url, second)
	it = waitFor(url, third, "failed", "completed", "canceled")
	if it["status"] != "failed" || !strings.Contains(fmt.Sprint(it["error_message"]), "not run again") {
		t.Fatalf("third try %v", it)
	}
	time.Sleep(300 * time.Millisecond)
	if code, st := api(url, "GET", "/api/v1/queue/default/status", nil); code != 200 || st["processor"].(map[string]any)["is_processing"] != false {
		t.Fatalf("server after the refused try: %d %v", code, st)
	}
	kill(cmd)
}
