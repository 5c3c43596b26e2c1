package api_test

import (
	"fmt"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

// Placements of Owner's image (docs/security.md §5.2 columns).
const (
	placeUncategorized = "uncategorized"
	placePrivate       = "own private board"
	placeShared        = "own shared board"
	placePublic        = "own public board"
	// placeForeign is Owner's image on Other's private board: Other is then "board owner, not image owner".
	placeForeign = "other's private board"
)

var placements = []string{placeUncategorized, placePrivate, placeShared, placePublic, placeForeign}

// placeImage uploads an image of Owner's and puts it where the placement says.
func placeImage(g gal, u apitest.Users, place string) string {
	g.T.Helper()
	switch place {
	case placeUncategorized:
		return g.uploadImage(u.Owner.Token, "")
	case placePrivate:
		return g.uploadImage(u.Owner.Token, g.boardWith(u.Owner.Token, "private"))
	case placeShared:
		return g.uploadImage(u.Owner.Token, g.boardWith(u.Owner.Token, "shared"))
	case placePublic:
		return g.uploadImage(u.Owner.Token, g.boardWith(u.Owner.Token, "public"))
	default:
		// Other's board is public while Owner adds the image, then goes private.
		b := g.boardWith(u.Other.Token, "public")
		img := g.uploadImage(u.Owner.Token, b)
		g.Do("PATCH", "/api/v1/boards/"+b, apitest.Token(u.Other.Token), apitest.JSON(map[string]any{"board_visibility": "private"})).Expect(201)
		return img
	}
}

type imageOp struct {
	name string
	do   func(g gal, tok, image, ownBoard string) *apitest.Resp
	// ok is the success status; denied maps placement → whether Other is refused.
	ok     int
	denied map[string]bool
}

func TestImageAuthorizationTable(t *testing.T) {
	g := gal{apitest.New(t, apitest.Multiuser())}
	u := g.Cast()
	readDenied := map[string]bool{placeUncategorized: true, placePrivate: true, placeShared: false, placePublic: false, placeForeign: true}
	mutateDenied := map[string]bool{placeUncategorized: true, placePrivate: true, placeShared: true, placePublic: false, placeForeign: false}
	moveDenied := map[string]bool{placeUncategorized: true, placePrivate: true, placeShared: true, placePublic: true, placeForeign: true}
	get := func(suffix string) func(g gal, tok, img, _ string) *apitest.Resp {
		return func(g gal, tok, img, _ string) *apitest.Resp {
			return g.Do("GET", "/api/v1/images/i/"+img+suffix, apitest.Token(tok))
		}
	}
	ops := []imageOp{
		{"get dto", get(""), 200, readDenied},
		{"metadata", get("/metadata"), 200, readDenied},
		{"workflow", get("/workflow"), 200, readDenied},
		{"urls", get("/urls"), 200, readDenied},
		{"full", get("/full"), 200, readDenied},
		{"thumbnail", get("/thumbnail"), 200, readDenied},
		{"head full", func(g gal, tok, img, _ string) *apitest.Resp {
			return g.Do("HEAD", "/api/v1/images/i/"+img+"/full", apitest.Token(tok))
		}, 200, readDenied},
		{"bulk download by name", func(g gal, tok, img, _ string) *apitest.Resp {
			return g.Do("POST", "/api/v1/images/download", apitest.Token(tok), apitest.JSON(map[string]any{"image_names": []string{img}}))
		}, 202, readDenied},
		{"patch", func(g gal, tok, img, _ string) *apitest.Resp {
			return g.Do("PATCH", "/api/v1/images/i/"+img, apitest.Token(tok), apitest.JSON(map[string]any{"starred": true}))
		}, 200, mutateDenied},
		{"delete", func(g gal, tok, img, _ string) *apitest.Resp {
			return g.Do("DELETE", "/api/v1/images/i/"+img, apitest.Token(tok))
		}, 200, mutateDenied},
		{"batch delete", func(g gal, tok, img, _ string) *apitest.Resp {
			return g.Do("POST", "/api/v1/images/delete", apitest.Token(tok), apitest.JSON(map[string]any{"image_names": []string{img}}))
		}, 200, mutateDenied},
		{"star", func(g gal, tok, img, _ string) *apitest.Resp {
			return g.Do("POST", "/api/v1/images/star", apitest.Token(tok), apitest.JSON(map[string]any{"image_names": []string{img}}))
		}, 200, mutateDenied},
		{"unstar", func(g gal, tok, img, _ string) *apitest.Resp {
			return g.Do("POST", "/api/v1/images/unstar", apitest.Token(tok), apitest.JSON(map[string]any{"image_names": []string{img}}))
		}, 200, mutateDenied},
		{"put on own board", func(g gal, tok, img, board string) *apitest.Resp {
			return g.Do("POST", "/api/v1/board_images/", apitest.Token(tok), apitest.JSON(map[string]any{"board_id": board, "image_name": img}))
		}, 201, moveDenied},
		{"batch put on own board", func(g gal, tok, img, board string) *apitest.Resp {
			return g.Do("POST", "/api/v1/board_images/batch", apitest.Token(tok), apitest.JSON(map[string]any{"board_id": board, "image_names": []string{img}}))
		}, 201, moveDenied},
	}
	boards := map[apitest.Role]string{}
	for _, role := range []apitest.Role{apitest.Owner, apitest.Other, apitest.Admin} {
		boards[role] = g.boardWith(u.Token(role), "private")
	}
	for _, op := range ops {
		for _, place := range placements {
			for _, role := range apitest.Roles {
				t.Run(fmt.Sprintf("%s/%s/%s", op.name, place, role), func(t *testing.T) {
					g := gal{g.Env}
					g.T = t
					img := placeImage(g, u, place)
					before := g.state()
					res := op.do(g, u.Token(role), img, boards[role])
					want := op.ok
					switch {
					case role == apitest.Anon:
						want = 401
					case role == apitest.Other && op.denied[place]:
						want = 403
					}
					if res.Status != want {
						t.Fatalf("status %d, want %d: %s", res.Status, want, res.Body)
					}
					if want == 403 || want == 401 {
						g.assertUnchanged(before, "a refused request")
						var dto map[string]any
						g.Do("GET", "/api/v1/images/i/"+img, apitest.Token(u.Owner.Token)).Expect(200).Decode(&dto)
						if dto["starred"] != false {
							t.Fatalf("refused request starred the image")
						}
					}
					if want == 403 && op.name != "head full" && res.Detail() == "" {
						t.Fatalf("403 without a detail: %s", res.Body)
					}
				})
			}
		}
	}
}

// A missing image: non-admins cannot tell it from a forbidden one (403); admins get 404 on read, an empty
// delete, and 400 on patch (docs/security.md §5.2).
func TestMissingImage(t *testing.T) {
	g := gal{apitest.New(t, apitest.Multiuser())}
	u := g.Cast()
	missing := "11111111-2222-4333-8444-555555555555.png"
	res := g.Do("GET", "/api/v1/images/i/"+missing, apitest.Token(u.Other.Token)).Expect(403)
	if res.Detail() != "Not authorized to access this image" {
		t.Errorf("detail %q", res.Detail())
	}
	g.Do("GET", "/api/v1/images/i/"+missing, apitest.Token(u.Admin.Token)).Expect(404)
	g.Do("PATCH", "/api/v1/images/i/"+missing, apitest.Token(u.Other.Token), apitest.JSON(map[string]any{"starred": true})).Expect(403)
	g.Do("PATCH", "/api/v1/images/i/"+missing, apitest.Token(u.Admin.Token), apitest.JSON(map[string]any{"starred": true})).Expect(400)
	var del map[string][]string
	g.Do("DELETE", "/api/v1/images/i/"+missing, apitest.Token(u.Admin.Token)).Expect(200).Decode(&del)
	if len(del["deleted_images"]) != 0 {
		t.Errorf("deleted %v", del)
	}
	g.Do("DELETE", "/api/v1/images/i/"+missing, apitest.Token(u.Other.Token)).Expect(403)
	g.Do("GET", "/api/v1/images/i/"+missing+"/full", apitest.Token(u.Admin.Token)).Expect(404)
	g.Do("GET", "/api/v1/images/i/"+missing+"/thumbnail", apitest.Token(u.Admin.Token)).Expect(404)
	// The bytes routes too: a non-admin hears what they hear for an image they may not read.
	for _, suffix := range []string{"/full", "/thumbnail"} {
		if d := g.Do("GET", "/api/v1/images/i/"+missing+suffix, apitest.Token(u.Other.Token)).Expect(403).Detail(); d != "Not authorized to access this image" {
			t.Errorf("%s detail %q", suffix, d)
		}
	}
	g.Do("POST", "/api/v1/board_images/", apitest.Token(u.Other.Token), apitest.JSON(map[string]any{
		"board_id": g.boardWith(u.Other.Token, "private"), "image_name": missing})).Expect(403)
	g.Do("GET", "/api/v1/boards/nope", apitest.Token(u.Other.Token)).Expect(404)
	g.Do("GET", "/api/v1/boards/nope", apitest.Token(u.Admin.Token)).Expect(404)
}
