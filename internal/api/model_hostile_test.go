package api_test

import (
	"archive/zip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/engine/pickle/pickletest"
)

// The hostile checkpoint of issue 11: a torch.save zip whose state dict is a chain of 60 dicts, each holding the
// next twice. Installing it used to walk its 2^60 paths and never answer; now it is refused at once, and the
// server goes on. (A hang here ends the test binary at its -timeout.)
func TestHostileCheckpointIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dag.ckpt")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, _ := zw.Create("archive/data.pkl")
	w.Write(pickletest.SharedDictChain(60))
	zw.Close()
	f.Close()
	env := apitest.New(t)
	res := env.Do("POST", installPath(path), apitest.JSON(map[string]any{})).Expect(415)
	if !strings.Contains(res.Detail(), "reached twice") {
		t.Fatalf("detail %q", res.Detail())
	}
	env.Do("GET", "/api/v2/models/").Expect(200)
}
