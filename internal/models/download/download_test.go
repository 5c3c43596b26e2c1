package download

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"
)

func TestFetchResumesAndChecks(t *testing.T) {
	data := make([]byte, 3<<20)
	rand.Read(data)
	sum := sha256.Sum256(data)
	var mu sync.Mutex
	var ranges, auth []string
	drops := 2
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		auth = append(auth, r.Header.Get("Authorization"))
		drop := drops > 0
		drops--
		mu.Unlock()
		if drop {
			start := 0
			fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &start)
			w.Header().Set("Content-Length", fmt.Sprint(len(data)-start))
			if start > 0 {
				w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(data)-1, len(data)))
				w.WriteHeader(http.StatusPartialContent)
			}
			w.Write(data[start : start+(len(data)-start)/3])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		http.ServeContent(w, r, "f.bin", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	rules, err := CompileTokens([][2]string{{"^https?://nowhere", "other"}, {regexp.QuoteMeta(srv.URL) + "/private/", "tok"}})
	if err != nil {
		t.Fatal(err)
	}
	c := New(srv.Client(), rules)
	c.Backoff = func(int) time.Duration { return time.Millisecond }
	dir := t.TempDir()
	var progress []int64
	res, err := c.Fetch(context.Background(), Request{URL: srv.URL + "/private/model.bin", Dir: dir, ExpectSize: int64(len(data)),
		ExpectSHA256: hex.EncodeToString(sum[:]), Progress: func(d, _ int64) { progress = append(progress, d) }})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(res.Path)
	if !bytes.Equal(got, data) || filepath.Base(res.Path) != "model.bin" {
		t.Fatal("content differs")
	}
	if len(ranges) != 3 || ranges[0] != "" || ranges[1] == "" || ranges[2] == "" {
		t.Fatalf("ranges %q", ranges)
	}
	for _, a := range auth {
		if a != "Bearer tok" {
			t.Fatalf("auth %q", auth)
		}
	}
	if len(progress) == 0 || progress[len(progress)-1] != int64(len(data)) {
		t.Fatal("progress")
	}
	// A URL no rule matches gets no token; a wrong hash or size fails and leaves nothing.
	mu.Lock()
	auth = nil
	mu.Unlock()
	_, err = c.Fetch(context.Background(), Request{URL: srv.URL + "/public/x.bin", Dir: dir, ExpectSHA256: "00"})
	if !errors.Is(err, ErrHashMismatch) || auth[0] != "" {
		t.Fatalf("hash: %v, auth %q", err, auth)
	}
	_, err = c.Fetch(context.Background(), Request{URL: srv.URL + "/public/y.bin", Dir: dir, ExpectSize: 5})
	if !errors.Is(err, ErrSizeMismatch) {
		t.Fatalf("size: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left %d files", len(entries))
	}
}

func TestSelectFilesPrefersVariantAndSafetensors(t *testing.T) {
	files := []HFFile{{Path: "model_index.json"}, {Path: "unet/config.json"}, {Path: "unet/diffusion_pytorch_model.bin"},
		{Path: "unet/diffusion_pytorch_model.safetensors"}, {Path: "unet/diffusion_pytorch_model.fp16.safetensors"},
		{Path: "vae/diffusion_pytorch_model.safetensors"}, {Path: "sd_xl_base.safetensors"}, {Path: "README.md"},
		{Path: "unet/diffusion_flax_model.msgpack"}, {Path: "safety_checker/model.safetensors"}, {Path: "text_encoder/model.onnx"}}
	got := map[string]bool{}
	for _, f := range SelectFiles(files, "fp16", "") {
		got[f.Path] = true
	}
	if !got["unet/diffusion_pytorch_model.fp16.safetensors"] || got["unet/diffusion_pytorch_model.safetensors"] ||
		got["unet/diffusion_pytorch_model.bin"] || !got["vae/diffusion_pytorch_model.safetensors"] || got["README.md"] || !got["model_index.json"] ||
		got["unet/diffusion_flax_model.msgpack"] || got["safety_checker/model.safetensors"] || got["text_encoder/model.onnx"] || len(got) != 4 {
		t.Fatalf("fp16 selection %v", got)
	}
	got = map[string]bool{}
	for _, f := range SelectFiles(files, "", "vae") {
		got[f.Path] = true
	}
	if len(got) != 1 || !got["vae/diffusion_pytorch_model.safetensors"] {
		t.Fatalf("subfolder selection %v", got)
	}
	single := SelectFiles([]HFFile{{Path: "README.md"}, {Path: "v1-5-pruned.safetensors"}}, "", "")
	if len(single) != 1 || single[0].Path != "v1-5-pruned.safetensors" {
		t.Fatalf("single %v", single)
	}
	for in, want := range map[string][3]string{"a/b": {"a/b", "", ""}, "a/b:fp16": {"a/b", "fp16", ""}, "a/b::vae": {"a/b", "", "vae"}, "a/b:fp16::x/y": {"a/b", "fp16", "x/y"}} {
		r, v, s, ok := ParseHFSource(in)
		if !ok || r != want[0] || v != want[1] || s != want[2] {
			t.Fatalf("%s: %s %s %s %v", in, r, v, s, ok)
		}
	}
	if _, _, _, ok := ParseHFSource("a/b::../../etc"); ok {
		t.Fatal("path escape accepted")
	}
}

// BenchmarkFetch measures download throughput over loopback (disk write included).
func BenchmarkFetch(b *testing.B) {
	data := make([]byte, 256<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	c := New(srv.Client(), nil)
	dir := b.TempDir()
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		res, err := c.Fetch(context.Background(), Request{URL: srv.URL + "/f.bin", Dir: dir, FileName: fmt.Sprint(i)})
		if err != nil {
			b.Fatal(err)
		}
		os.Remove(res.Path)
	}
}
