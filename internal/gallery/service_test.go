package gallery_test

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/gallery"
	"github.com/invokego/invokego/internal/store"
)

// fakeClock is a settable clock for expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newService builds a gallery over a fresh database, without HTTP.
func newService(t testing.TB, now func() time.Time) (*gallery.Service, *store.DB, string) {
	t.Helper()
	root := t.TempDir()
	db, err := store.Open(context.Background(), filepath.Join(root, "db", "invokeai.db"))
	if err != nil {
		t.Fatal(err)
	}
	outputs := filepath.Join(root, "outputs")
	svc, err := gallery.New(gallery.Options{DB: db, OutputsDir: outputs, MaxImagePixels: 1 << 24, CompressLevel: 1, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		svc.Close()
		db.Close()
	})
	return svc, db, outputs
}

func solid(w, h int) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	img.Set(0, 0, color.NRGBA{1, 2, 3, 255})
	return img
}

func addUser(t testing.TB, db *store.DB, id string) access.Principal {
	t.Helper()
	if _, err := db.CreateUser(context.Background(), store.User{UserID: id, Email: id + "@example.com", PasswordHash: "x", IsActive: true}); err != nil {
		t.Fatal(err)
	}
	return access.Principal{UserID: id, Authenticated: true}
}

func countFiles(t testing.TB, dir string) int {
	n := 0
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// SaveGenerated respects boards (docs/security.md D8): refused writes leave nothing behind.
func TestSaveGeneratedChecksBoardWrite(t *testing.T) {
	ctx := context.Background()
	svc, db, outputs := newService(t, nil)
	alice, bob := addUser(t, db, "alice"), addUser(t, db, "bob")
	board, err := svc.CreateBoard(ctx, alice, "alice's")
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.SaveGenerated(ctx, bob, solid(64, 64), gallery.SaveOptions{BoardID: board.BoardID})
	if e, ok := apperr.As(err); !ok || e.Status != 403 {
		t.Fatalf("bob saving to alice's private board: %v", err)
	}
	if _, err := svc.SaveGenerated(ctx, bob, solid(4, 4), gallery.SaveOptions{BoardID: "missing"}); apperr.StatusOf(err) != 404 {
		t.Fatalf("missing board: %v", err)
	}
	if n := countFiles(t, outputs); n != 0 {
		t.Fatalf("%d files written by refused saves", n)
	}
	meta := json.RawMessage(`{"seed":1}`)
	graph := json.RawMessage(`{"nodes":{},"edges":[]}`)
	dto, err := svc.SaveGenerated(ctx, alice, solid(300, 100), gallery.SaveOptions{BoardID: board.BoardID, SessionID: "s", NodeID: "n",
		IsIntermediate: true, Metadata: meta, Graph: graph})
	if err != nil {
		t.Fatal(err)
	}
	if dto.ImageOrigin != "internal" || dto.ImageCategory != "general" || !dto.HasWorkflow || dto.BoardID == nil || *dto.NodeID != "n" || !dto.IsIntermediate {
		t.Errorf("dto %+v", dto)
	}
	img, err := svc.Open(ctx, alice, dto.ImageName)
	if err != nil || img.Bounds().Dx() != 300 {
		t.Fatalf("open: %v", err)
	}
	if _, err := svc.Open(ctx, bob, dto.ImageName); apperr.StatusOf(err) != 403 {
		t.Errorf("bob opened alice's image: %v", err)
	}
	wf, err := svc.GetWorkflow(ctx, alice, dto.ImageName)
	if err != nil || wf.Graph == nil || *wf.Graph != string(graph) || wf.Workflow != nil {
		t.Errorf("workflow %+v %v", wf, err)
	}
}

// Expired zips and stray files are swept after the time-to-live (docs/security.md D10).
func TestDownloadSweeper(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Now()}
	svc, db, outputs := newService(t, clock.Now)
	owner := addUser(t, db, "owner")
	dto, err := svc.SaveGenerated(ctx, owner, solid(8, 8), gallery.SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	started, err := svc.StartBulkDownload(ctx, owner, []string{dto.ImageName}, nil)
	if err != nil {
		t.Fatal(err)
	}
	item := started.BulkDownloadItemName
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := db.BulkDownloadByName(ctx, item)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status == store.DownloadReady {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("zip not ready: %+v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	zipPath := filepath.Join(outputs, "bulk_downloads", item)
	stray := filepath.Join(outputs, "bulk_downloads", "stray.zip")
	os.WriteFile(stray, []byte("x"), 0o644)

	clock.Advance(59 * time.Minute)
	if err := svc.SweepDownloads(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(zipPath); err != nil {
		t.Fatalf("zip swept before its hour: %v", err)
	}
	clock.Advance(2 * time.Minute)
	if err := svc.SweepDownloads(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(zipPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("expired zip still there: %v", err)
	}
	if _, err := os.Stat(stray); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stray zip still there: %v", err)
	}
	if _, err := db.BulkDownloadByName(ctx, item); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired record still there: %v", err)
	}
	if _, err := svc.OpenDownload(ctx, owner, item, false); apperr.StatusOf(err) != 404 {
		t.Errorf("expired download served: %v", err)
	}
}
