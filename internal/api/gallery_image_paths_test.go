package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/gallery"
)

// One image-read rule for every path that reveals an image (docs/security.md §5.2): its bytes, thumbnail,
// metadata, workflow, name, existence, or a count that includes it. The hole this closes: the owner of a private
// board got the bytes and prompts of another user's image on that board through a board zip, and its metadata
// through search_term on the board's listing, while /full on the same image was 403.

// Roles of the walk: the board's owner, the image's owner, a third user, an admin, and no one.
const (
	pathAnon       = "anonymous"
	pathBoardOwner = "board owner"
	pathImageOwner = "image owner"
	pathThird      = "other user"
	pathAdmin      = "admin"
)

// boardWithForeignImage makes Owner's board holding Other's image X (uploaded while the board was public, with a
// prompt nobody else may read) and Owner's own image Y, then gives the board its visibility.
func boardWithForeignImage(g gal, u apitest.Users, vis, secret string) (board, x, y string) {
	g.T.Helper()
	board = g.boardWith(u.Owner.Token, "public")
	var dto gallery.ImageDTO
	g.upload(u.Other.Token, "image_category=general&is_intermediate=false&board_id="+board, testPNG(g.T, 16, 12,
		gallery.TextChunk{Key: gallery.KeyMetadata, Value: `{"positive_prompt":"` + secret + `"}`}), "image/png", nil).Expect(201).Decode(&dto)
	x = dto.ImageName
	y = g.uploadImage(u.Owner.Token, board)
	if vis != "public" {
		g.Do("PATCH", "/api/v1/boards/"+board, apitest.Token(u.Owner.Token), apitest.JSON(map[string]any{"board_visibility": vis})).Expect(201)
	}
	return board, x, y
}

// revealPath asks one question about image x on board and reports whether the answer revealed x; ok is false
// when the path refused the caller altogether (401/403 on the board), which reveals nothing either.
type revealPath struct {
	name string
	// viaBoard paths go through the board, which its read rule must also let the caller see.
	viaBoard bool
	ask      func(g gal, tok, board, x, secret string) (revealed bool)
}

func statusRevealed(res *apitest.Resp, allowed int) bool {
	res.T.Helper()
	switch res.Status {
	case allowed:
		return true
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return false
	}
	res.T.Fatalf("unexpected status %d: %s", res.Status, res.Body)
	return false
}

func revealPaths() []revealPath {
	listed := func(query string) func(g gal, tok, board, x, secret string) bool {
		return func(g gal, tok, board, x, secret string) bool {
			res := g.Do("GET", "/api/v1/images/?"+strings.ReplaceAll(strings.ReplaceAll(query, "BOARD", board), "SECRET", secret), apitest.Token(tok))
			if res.Status != 200 {
				return statusRevealed(res, 200)
			}
			var page gallery.Page[gallery.ImageDTO]
			res.Decode(&page)
			found := false
			for _, it := range page.Items {
				found = found || it.ImageName == x
			}
			// The page holds the whole board, so a total above its length counts an image it hides.
			return found || page.Total != len(page.Items)
		}
	}
	bytesOf := func(suffix string) func(g gal, tok, board, x, secret string) bool {
		return func(g gal, tok, board, x, _ string) bool {
			return statusRevealed(g.Do("GET", "/api/v1/images/i/"+x+suffix, apitest.Token(tok)), 200)
		}
	}
	return []revealPath{
		{"list board", true, listed("board_id=BOARD&limit=100")},
		{"list board, gallery tab", true, listed("board_id=BOARD&categories=general&is_intermediate=false&limit=100")},
		{"search_term on board", true, listed("board_id=BOARD&search_term=SECRET&limit=100")},
		{"names of board", true, func(g gal, tok, board, x, _ string) bool {
			res := g.Do("GET", "/api/v1/images/names?board_id="+board, apitest.Token(tok))
			if res.Status != 200 {
				return statusRevealed(res, 200)
			}
			var r struct {
				ImageNames []string `json:"image_names"`
				TotalCount int      `json:"total_count"`
			}
			res.Decode(&r)
			if r.TotalCount != len(r.ImageNames) {
				g.T.Fatalf("total_count %d for %d names", r.TotalCount, len(r.ImageNames))
			}
			return slices.Contains(r.ImageNames, x)
		}},
		{"board image_names", true, func(g gal, tok, board, x, _ string) bool {
			res := g.Do("GET", "/api/v1/boards/"+board+"/image_names", apitest.Token(tok))
			if res.Status != 200 {
				return statusRevealed(res, 200)
			}
			var names []string
			res.Decode(&names)
			return slices.Contains(names, x)
		}},
		{"board dto count and cover", true, func(g gal, tok, board, x, _ string) bool {
			res := g.Do("GET", "/api/v1/boards/"+board, apitest.Token(tok))
			if res.Status != 200 {
				return statusRevealed(res, 200)
			}
			var b gallery.BoardDTO
			res.Decode(&b)
			return b.ImageCount == 2 || (b.CoverImageName != nil && *b.CoverImageName == x)
		}},
		{"board list count and cover", true, func(g gal, tok, board, x, _ string) bool {
			res := g.Do("GET", "/api/v1/boards/?all=true", apitest.Token(tok))
			if res.Status != 200 {
				return statusRevealed(res, 200)
			}
			var bs []gallery.BoardDTO
			res.Decode(&bs)
			for _, b := range bs {
				if b.BoardID == board {
					return b.ImageCount == 2 || (b.CoverImageName != nil && *b.CoverImageName == x)
				}
			}
			return false
		}},
		{"board zip", true, func(g gal, tok, board, x, _ string) bool {
			if tok == "" {
				return statusRevealed(g.Do("POST", "/api/v1/images/download", apitest.JSON(map[string]any{"board_id": board})), 202)
			}
			if res := g.Do("GET", "/api/v1/boards/"+board, apitest.Token(tok)); res.Status != 200 {
				// Those who may not read the board may not zip it.
				g.Do("POST", "/api/v1/images/download", apitest.Token(tok), apitest.JSON(map[string]any{"board_id": board})).Expect(403)
				return false
			}
			item := startDownload(g, tok, map[string]any{"board_id": board})
			body := g.Do("GET", "/api/v1/images/download/"+item, apitest.Token(tok)).Expect(200).Body
			for _, e := range zipEntries(g.T, body) {
				if strings.Contains(e, strings.TrimSuffix(x, ".png")) {
					return true
				}
			}
			return false
		}},
		{"zip by name", false, func(g gal, tok, board, x, _ string) bool {
			return statusRevealed(g.Do("POST", "/api/v1/images/download", apitest.Token(tok), apitest.JSON(map[string]any{"image_names": []string{x}})), 202)
		}},
		{"dto", false, bytesOf("")},
		{"metadata", false, bytesOf("/metadata")},
		{"workflow", false, bytesOf("/workflow")},
		{"urls", false, bytesOf("/urls")},
		{"full", false, bytesOf("/full")},
		{"thumbnail", false, bytesOf("/thumbnail")},
		{"images_by_names", false, func(g gal, tok, board, x, _ string) bool {
			res := g.Do("POST", "/api/v1/images/images_by_names", apitest.Token(tok), apitest.JSON(map[string]any{"image_names": []string{x}}))
			if res.Status != 200 {
				return statusRevealed(res, 200)
			}
			var dtos []gallery.ImageDTO
			res.Decode(&dtos)
			return len(dtos) == 1
		}},
		{"recall", false, func(g gal, tok, board, x, _ string) bool {
			return statusRevealed(g.Do("POST", "/api/v1/recall/default", apitest.Token(tok), apitest.JSON(map[string]any{
				"control_layers": []any{map[string]any{"model_name": "m", "image_name": x}}})), 200)
		}},
	}
}

func TestImageReadRuleOnEveryPath(t *testing.T) {
	g := gal{apitest.New(t, apitest.Multiuser())}
	u := g.Cast()
	third := g.CreateUser(u.Admin, "Third", false)
	tokens := map[string]string{pathAnon: "", pathBoardOwner: u.Owner.Token, pathImageOwner: u.Other.Token, pathThird: third.Token, pathAdmin: u.Admin.Token}
	for _, vis := range visibilities {
		secret := "secret-prompt-" + vis
		board, x, y := boardWithForeignImage(g, u, vis, secret)
		for _, path := range revealPaths() {
			for _, role := range []string{pathAnon, pathBoardOwner, pathImageOwner, pathThird, pathAdmin} {
				t.Run(fmt.Sprintf("%s/%s/%s", vis, path.name, role), func(t *testing.T) {
					g := gal{g.Env}
					g.T = t
					want := role == pathAdmin || role == pathImageOwner || (role != pathAnon && vis != "private")
					if path.viaBoard {
						want = want && (role == pathAdmin || role == pathBoardOwner || (role != pathAnon && vis != "private"))
					}
					if got := path.ask(g, tokens[role], board, x, secret); got != want {
						t.Fatalf("revealed %v, want %v", got, want)
					}
				})
			}
		}
		// The board owner still sees their own image on it, and its count.
		var b gallery.BoardDTO
		g.Do("GET", "/api/v1/boards/"+board, apitest.Token(u.Owner.Token)).Expect(200).Decode(&b)
		want := 2
		if vis == "private" {
			want = 1
		}
		if b.ImageCount != want || b.CoverImageName == nil || (vis == "private" && *b.CoverImageName != y) {
			t.Fatalf("%s board as its owner sees it: %+v (own image %s)", vis, b, y)
		}
	}
}

// One answer for "not yours" and "not there": a caller who may not read an image gets, on every route that
// names it, exactly what a name that does not exist gets, so the answer never says it exists. Admins may tell
// them apart (they can read everything anyway).
func TestNotYoursAnswersAsNotThere(t *testing.T) {
	g := gal{apitest.New(t, apitest.Multiuser())}
	u := g.Cast()
	third := g.CreateUser(u.Admin, "Third", false)
	missing := "11111111-2222-4333-8444-555555555555.png"
	privateBoard, onPrivate, _ := boardWithForeignImage(g, u, "private", "p")
	uncategorized := g.uploadImage(u.Other.Token, "")
	ownBoard := g.boardWith(third.Token, "private")
	routes := []struct {
		name string
		do   func(tok, name string) *apitest.Resp
	}{
		{"full", func(tok, n string) *apitest.Resp {
			return g.Do("GET", "/api/v1/images/i/"+n+"/full", apitest.Token(tok))
		}},
		{"head full", func(tok, n string) *apitest.Resp {
			return g.Do("HEAD", "/api/v1/images/i/"+n+"/full", apitest.Token(tok))
		}},
		{"thumbnail", func(tok, n string) *apitest.Resp {
			return g.Do("GET", "/api/v1/images/i/"+n+"/thumbnail", apitest.Token(tok))
		}},
		{"dto", func(tok, n string) *apitest.Resp { return g.Do("GET", "/api/v1/images/i/"+n, apitest.Token(tok)) }},
		{"metadata", func(tok, n string) *apitest.Resp {
			return g.Do("GET", "/api/v1/images/i/"+n+"/metadata", apitest.Token(tok))
		}},
		{"board cover", func(tok, n string) *apitest.Resp {
			return g.Do("PATCH", "/api/v1/boards/"+ownBoard, apitest.Token(tok), apitest.JSON(map[string]any{"cover_image_name": n}))
		}},
		{"remove from board", func(tok, n string) *apitest.Resp {
			return g.Do("DELETE", "/api/v1/board_images/", apitest.Token(tok), apitest.JSON(map[string]any{"image_name": n}))
		}},
		{"batch remove from boards", func(tok, n string) *apitest.Resp {
			return g.Do("POST", "/api/v1/board_images/batch/delete", apitest.Token(tok), apitest.JSON(map[string]any{"image_names": []string{n}}))
		}},
		{"add to own board", func(tok, n string) *apitest.Resp {
			return g.Do("POST", "/api/v1/board_images/", apitest.Token(tok), apitest.JSON(map[string]any{"board_id": ownBoard, "image_name": n}))
		}},
		{"batch add to own board", func(tok, n string) *apitest.Resp {
			return g.Do("POST", "/api/v1/board_images/batch", apitest.Token(tok), apitest.JSON(map[string]any{"board_id": ownBoard, "image_names": []string{n}}))
		}},
		{"delete", func(tok, n string) *apitest.Resp { return g.Do("DELETE", "/api/v1/images/i/"+n, apitest.Token(tok)) }},
		{"batch delete", func(tok, n string) *apitest.Resp {
			return g.Do("POST", "/api/v1/images/delete", apitest.Token(tok), apitest.JSON(map[string]any{"image_names": []string{n}}))
		}},
		{"star", func(tok, n string) *apitest.Resp {
			return g.Do("POST", "/api/v1/images/star", apitest.Token(tok), apitest.JSON(map[string]any{"image_names": []string{n}}))
		}},
		{"zip by name", func(tok, n string) *apitest.Resp {
			return g.Do("POST", "/api/v1/images/download", apitest.Token(tok), apitest.JSON(map[string]any{"image_names": []string{n}}))
		}},
	}
	for _, r := range routes {
		for _, img := range []struct{ what, name string }{{"on another's private board", onPrivate}, {"another's, uncategorized", uncategorized}} {
			t.Run(r.name+"/"+img.what, func(t *testing.T) {
				before := g.state()
				notThere := r.do(third.Token, missing)
				notYours := r.do(third.Token, img.name)
				if notYours.Status != notThere.Status || string(notYours.Body) != string(notThere.Body) {
					t.Fatalf("not yours: %d %s; not there: %d %s", notYours.Status, notYours.Body, notThere.Status, notThere.Body)
				}
				if notYours.Status < 400 {
					t.Fatalf("not yours answered %d: %s", notYours.Status, notYours.Body)
				}
				g.assertUnchanged(before, "a refused request")
			})
		}
	}
	// The private board itself: its owner may take the other user's image off it (the board is theirs), but
	// learns nothing else about it.
	g.Do("DELETE", "/api/v1/board_images/", apitest.Token(u.Owner.Token), apitest.JSON(map[string]any{"image_name": onPrivate})).Expect(201)
	g.Do("GET", "/api/v1/boards/"+privateBoard, apitest.Token(u.Owner.Token)).Expect(200)
}
