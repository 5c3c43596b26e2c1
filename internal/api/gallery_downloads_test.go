package api_test

import (
	"archive/zip"
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/gallery"
)

// startDownload posts a bulk download and waits for its completion event.
func startDownload(g gal, tok string, body map[string]any) string {
	g.T.Helper()
	ch, unsubscribe := g.App.Events.Subscribe(64)
	defer unsubscribe()
	var res gallery.DownloadStarted
	r := g.Do("POST", "/api/v1/images/download", apitest.Token(tok), apitest.JSON(body)).Expect(202)
	r.Decode(&res)
	if res.Response != nil || res.BulkDownloadItemName == "" || !bytes.Contains(r.Body, []byte(`"response":null`)) {
		g.T.Fatalf("answer %s", r.Body)
	}
	seen := map[string]bool{}
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e := <-ch:
			if e.Payload["bulk_download_item_name"] != res.BulkDownloadItemName {
				continue
			}
			seen[e.Name] = true
			if e.Audience != events.OwnerAndAdmins || e.QueueID != "default" || e.Payload["bulk_download_id"] != "default" {
				g.T.Errorf("event routing: %+v", e)
			}
			switch e.Name {
			case "bulk_download_complete":
				if !seen["bulk_download_started"] {
					g.T.Error("complete without started")
				}
				return res.BulkDownloadItemName
			case "bulk_download_error":
				g.T.Fatalf("bulk download failed: %v", e.Payload)
			}
		case <-timeout:
			g.T.Fatalf("no completion event for %s", res.BulkDownloadItemName)
		}
	}
}

func zipEntries(t testing.TB, body []byte) []string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	var out []string
	for _, f := range zr.File {
		if f.Method != zip.Store {
			t.Errorf("%s is compressed", f.Name)
		}
		out = append(out, f.Name)
	}
	sort.Strings(out)
	return out
}

func TestBulkDownload(t *testing.T) {
	g := gal{apitest.New(t, apitest.Multiuser())}
	u := g.Cast()
	board := g.boardWith(u.Owner.Token, "private")
	a := g.uploadImage(u.Owner.Token, board)
	b := g.uploadImage(u.Owner.Token, board)
	loose := g.uploadImage(u.Owner.Token, "")

	if res := g.Do("POST", "/api/v1/images/download", apitest.Token(u.Owner.Token), apitest.JSON(map[string]any{})).Expect(400); res.Detail() != "No images or board id specified." {
		t.Errorf("detail %q", res.Detail())
	}

	item := startDownload(g, u.Owner.Token, map[string]any{"board_id": board})
	if item[:len("board-private_")] != "board-private_" {
		t.Errorf("item name %q", item)
	}
	// Another user cannot fetch it, and their attempt does not consume it.
	if res := g.Do("GET", "/api/v1/images/download/"+item, apitest.Token(u.Other.Token)).Expect(403); res.Detail() != "Not authorized to access this download" {
		t.Errorf("detail %q", res.Detail())
	}
	g.Do("GET", "/api/v1/images/download/"+item).Expect(401)
	g.Do("HEAD", "/api/v1/images/download/"+item, apitest.Token(u.Owner.Token)).Expect(200)
	res := g.Do("GET", "/api/v1/images/download/"+item, apitest.Token(u.Owner.Token)).Expect(200)
	if res.Header.Get("Content-Type") != "application/zip" {
		t.Errorf("content type %q", res.Header.Get("Content-Type"))
	}
	// Entries sit in a folder per category, as in InvokeAI's zips.
	want := []string{"general/" + a, "general/" + b}
	sort.Strings(want)
	if got := zipEntries(t, res.Body); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("zip holds %v, want %v", got, want)
	}
	// One-shot: served once, then gone from disk.
	g.Do("GET", "/api/v1/images/download/"+item, apitest.Token(u.Owner.Token)).Expect(404)
	if _, err := os.Stat(filepath.Join(g.Root, "outputs", "bulk_downloads", item)); !os.IsNotExist(err) {
		t.Errorf("served zip still on disk: %v", err)
	}

	// By names; an admin may fetch a user's zip.
	item = startDownload(g, u.Owner.Token, map[string]any{"image_names": []string{loose, a}})
	res = g.Do("GET", "/api/v1/images/download/"+item, apitest.Token(u.Admin.Token)).Expect(200)
	if got := zipEntries(t, res.Body); len(got) != 2 {
		t.Errorf("zip holds %v", got)
	}

	// With both, the board wins (InvokeAI); its name keeps letters of any script and spaces.
	named := g.createBoard(u.Owner.Token, url.QueryEscape("Été 2026: plage!"))
	c := g.uploadImage(u.Owner.Token, named.BoardID)
	item = startDownload(g, u.Owner.Token, map[string]any{"board_id": named.BoardID, "image_names": []string{loose}})
	if !strings.HasPrefix(item, "Été 2026 plage_") {
		t.Errorf("item name %q", item)
	}
	res = g.Do("GET", "/api/v1/images/download/"+url.PathEscape(item), apitest.Token(u.Owner.Token)).Expect(200)
	if got := zipEntries(t, res.Body); len(got) != 1 || got[0] != "general/"+c {
		t.Errorf("zip of board and names holds %v, want the board's image", got)
	}
	for _, bad := range []string{"..%2Fx.zip", "a.b.zip", "x%00.zip"} {
		g.Do("GET", "/api/v1/images/download/"+bad, apitest.Token(u.Owner.Token)).Expect(404)
	}

	// Ownership survives a restart (docs/security.md D10).
	item = startDownload(g, u.Owner.Token, map[string]any{"image_names": []string{loose}})
	cfg := g.App.Config()
	g.Close()
	g2 := gal{apitest.Start(t, cfg)}
	ownerTok := g2.Login(u.Owner.Email, apitest.DefaultPassword)
	otherTok := g2.Login(u.Other.Email, apitest.DefaultPassword)
	g2.Do("GET", "/api/v1/images/download/"+item, apitest.Token(otherTok)).Expect(403)
	res = g2.Do("GET", "/api/v1/images/download/"+item, apitest.Token(ownerTok)).Expect(200)
	if got := zipEntries(t, res.Body); len(got) != 1 || got[0] != "general/"+loose {
		t.Errorf("zip after restart holds %v", got)
	}
}

// In single-user mode everything belongs to system and needs no login; bytes are publicly cacheable.
func TestSingleUserGallery(t *testing.T) {
	g := gal{apitest.New(t)}
	board := g.createBoard("", "mine")
	if board.UserID != "system" {
		t.Errorf("board owner %q", board.UserID)
	}
	img := g.uploadImage("", board.BoardID)
	res := g.Do("GET", "/api/v1/images/i/"+img+"/full").Expect(200)
	if cc := res.Header.Get("Cache-Control"); cc != "max-age=31536000" {
		t.Errorf("Cache-Control %q", cc)
	}
	var page gallery.Page[gallery.ImageDTO]
	g.Do("GET", "/api/v1/images/").Expect(200).Decode(&page)
	if page.Total != 1 || page.Items[0].BoardID == nil || *page.Items[0].BoardID != board.BoardID {
		t.Errorf("list %+v", page)
	}
	var boards []gallery.BoardDTO
	g.Do("GET", "/api/v1/boards/?all=true").Expect(200).Decode(&boards)
	if len(boards) != 1 || boards[0].ImageCount != 1 || boards[0].CoverImageName == nil || *boards[0].CoverImageName != img {
		t.Errorf("boards %+v", boards)
	}
	g.Do("PATCH", "/api/v1/boards/"+board.BoardID, apitest.JSON(map[string]any{"board_visibility": "public", "board_name": "x"})).Expect(201)
	g.Do("PATCH", "/api/v1/boards/"+board.BoardID, apitest.JSON(map[string]any{"unknown": 1})).Expect(422)
	g.Do("PATCH", "/api/v1/boards/"+board.BoardID, apitest.JSON(map[string]any{"board_visibility": "secret"})).Expect(422)
	g.Do("POST", "/api/v1/images/star", apitest.JSON(map[string]any{"image_names": []string{img}})).Expect(200)
	item := startDownload(g, "", map[string]any{"board_id": board.BoardID})
	g.Do("GET", "/api/v1/images/download/"+item).Expect(200)
	g.Do("POST", "/api/v1/images/", apitest.JSON(map[string]any{"width": 1, "height": 1})).Expect(501)
	var del gallery.DeleteBoardResult
	g.Do("DELETE", "/api/v1/boards/"+board.BoardID+"?include_images=true").Expect(200).Decode(&del)
	if len(del.DeletedImages) != 1 || del.DeletedImages[0] != img {
		t.Errorf("delete %+v", del)
	}
	if n := len(g.files()); n != 0 {
		t.Errorf("%d files left after deleting the board with its images: %v", n, g.files())
	}
}

// Deleting a board without its images leaves them uncategorized; with them, removes records and files.
func TestDeleteBoardKeepsImages(t *testing.T) {
	g := gal{apitest.New(t, apitest.Multiuser())}
	u := g.Cast()
	board := g.boardWith(u.Owner.Token, "private")
	img := g.uploadImage(u.Owner.Token, board)
	var del gallery.DeleteBoardResult
	g.Do("DELETE", "/api/v1/boards/"+board, apitest.Token(u.Owner.Token)).Expect(200).Decode(&del)
	if len(del.DeletedBoardImages) != 1 || len(del.DeletedImages) != 0 {
		t.Errorf("%+v", del)
	}
	var dto gallery.ImageDTO
	g.Do("GET", "/api/v1/images/i/"+img, apitest.Token(u.Owner.Token)).Expect(200).Decode(&dto)
	if dto.BoardID != nil {
		t.Errorf("image still on %v", *dto.BoardID)
	}
	// Deleting the user with their content removes the files too (auth.ContentRemover).
	g.Do("DELETE", "/api/v1/auth/users/"+u.Owner.ID+"?delete_content=true", apitest.Token(u.Admin.Token)).Expect(200)
	if n := g.count("images"); n != 0 {
		t.Errorf("%d images left", n)
	}
	if files := g.files(); len(files) != 0 {
		t.Errorf("files left: %v", files)
	}
}

// Every gallery route is documented.
func TestGalleryRoutesInOpenAPI(t *testing.T) {
	g := gal{apitest.New(t)}
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	g.Do("GET", "/openapi.json").Expect(200).Decode(&doc)
	for _, p := range []string{"/api/v1/boards/", "/api/v1/boards/{board_id}", "/api/v1/boards/{board_id}/image_names",
		"/api/v1/board_images/", "/api/v1/board_images/batch", "/api/v1/board_images/batch/delete", "/api/v1/images/upload",
		"/api/v1/images/", "/api/v1/images/names", "/api/v1/images/i/{image_name}/full", "/api/v1/images/download/{bulk_download_item_name}"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("%s missing from the OpenAPI document", p)
		}
	}
}

// Operations that change nothing report no affected boards, as InvokeAI's do.
func TestNothingChangedAffectsNoBoard(t *testing.T) {
	g := gal{apitest.New(t)}
	res := g.Do("DELETE", "/api/v1/images/uncategorized").Expect(200).Map()
	if b, ok := res["affected_boards"].([]any); !ok || len(b) != 0 {
		t.Errorf("empty uncategorized delete: %v", res)
	}
	board := g.createBoard("", "empty")
	res = g.Do("POST", "/api/v1/board_images/batch", apitest.JSON(map[string]any{"board_id": board.BoardID, "image_names": []string{}})).Expect(201).Map()
	if b, ok := res["affected_boards"].([]any); !ok || len(b) != 0 {
		t.Errorf("empty batch add: %v", res)
	}
}
