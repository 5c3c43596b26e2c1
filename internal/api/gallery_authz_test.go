package api_test

import (
	"fmt"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

// boardOp is one row of docs/security.md §5.1: what to do to a fresh board of Owner's (holding one of Owner's images),
// and the status each role gets per visibility.
type boardOp struct {
	name string
	// own is an uncategorized image of the actor's ("" for anonymous callers).
	do func(g gal, tok, board, image, own string) *apitest.Resp
	// want maps role → status for private, shared and public boards.
	want map[apitest.Role][3]int
}

var visibilities = []string{"private", "shared", "public"}

func allSame(code int) [3]int { return [3]int{code, code, code} }

func TestBoardAuthorizationTable(t *testing.T) {
	g := gal{apitest.New(t, apitest.Multiuser())}
	u := g.Cast()
	reads := map[apitest.Role][3]int{apitest.Anon: allSame(401), apitest.Owner: allSame(200), apitest.Other: {403, 200, 200}, apitest.Admin: allSame(200)}
	ops := []boardOp{
		{"get board", func(g gal, tok, b, _, _ string) *apitest.Resp {
			return g.Do("GET", "/api/v1/boards/"+b, apitest.Token(tok))
		}, reads},
		{"board image_names", func(g gal, tok, b, _, _ string) *apitest.Resp {
			return g.Do("GET", "/api/v1/boards/"+b+"/image_names", apitest.Token(tok))
		}, reads},
		{"list images by board", func(g gal, tok, b, _, _ string) *apitest.Resp {
			return g.Do("GET", "/api/v1/images/?board_id="+b, apitest.Token(tok))
		}, reads},
		{"image names by board", func(g gal, tok, b, _, _ string) *apitest.Resp {
			return g.Do("GET", "/api/v1/images/names?board_id="+b, apitest.Token(tok))
		}, reads},
		{"bulk download by board", func(g gal, tok, b, _, _ string) *apitest.Resp {
			return g.Do("POST", "/api/v1/images/download", apitest.Token(tok), apitest.JSON(map[string]any{"board_id": b}))
		}, map[apitest.Role][3]int{apitest.Anon: allSame(401), apitest.Owner: allSame(202), apitest.Other: {403, 202, 202}, apitest.Admin: allSame(202)}},
		{"rename", func(g gal, tok, b, _, _ string) *apitest.Resp {
			return g.Do("PATCH", "/api/v1/boards/"+b, apitest.Token(tok), apitest.JSON(map[string]any{"board_name": "renamed"}))
		}, map[apitest.Role][3]int{apitest.Anon: allSame(401), apitest.Owner: allSame(201), apitest.Other: allSame(403), apitest.Admin: allSame(201)}},
		{"archive", func(g gal, tok, b, _, _ string) *apitest.Resp {
			return g.Do("PATCH", "/api/v1/boards/"+b, apitest.Token(tok), apitest.JSON(map[string]any{"archived": true}))
		}, map[apitest.Role][3]int{apitest.Anon: allSame(401), apitest.Owner: allSame(201), apitest.Other: allSame(403), apitest.Admin: allSame(201)}},
		{"change visibility", func(g gal, tok, b, _, _ string) *apitest.Resp {
			return g.Do("PATCH", "/api/v1/boards/"+b, apitest.Token(tok), apitest.JSON(map[string]any{"board_visibility": "public"}))
		}, map[apitest.Role][3]int{apitest.Anon: allSame(401), apitest.Owner: allSame(201), apitest.Other: allSame(403), apitest.Admin: allSame(201)}},
		{"set cover", func(g gal, tok, b, img, _ string) *apitest.Resp {
			return g.Do("PATCH", "/api/v1/boards/"+b, apitest.Token(tok), apitest.JSON(map[string]any{"cover_image_name": img}))
		}, map[apitest.Role][3]int{apitest.Anon: allSame(401), apitest.Owner: allSame(201), apitest.Other: allSame(403), apitest.Admin: allSame(201)}},
		{"delete board", func(g gal, tok, b, _, _ string) *apitest.Resp {
			return g.Do("DELETE", "/api/v1/boards/"+b, apitest.Token(tok))
		}, map[apitest.Role][3]int{apitest.Anon: allSame(401), apitest.Owner: allSame(200), apitest.Other: allSame(403), apitest.Admin: allSame(200)}},
		{"delete board with images", func(g gal, tok, b, _, _ string) *apitest.Resp {
			return g.Do("DELETE", "/api/v1/boards/"+b+"?include_images=true", apitest.Token(tok))
		}, map[apitest.Role][3]int{apitest.Anon: allSame(401), apitest.Owner: allSame(200), apitest.Other: allSame(403), apitest.Admin: allSame(200)}},
		{"upload into board", func(g gal, tok, b, _, _ string) *apitest.Resp {
			return g.upload(tok, "image_category=general&is_intermediate=false&board_id="+b, testPNG(g.T, 8, 8), "image/png", nil)
		}, map[apitest.Role][3]int{apitest.Anon: allSame(401), apitest.Owner: allSame(201), apitest.Other: {403, 403, 201}, apitest.Admin: allSame(201)}},
		{"add own image to board", func(g gal, tok, b, _, own string) *apitest.Resp {
			return g.Do("POST", "/api/v1/board_images/", apitest.Token(tok), apitest.JSON(map[string]any{"board_id": b, "image_name": own}))
		}, map[apitest.Role][3]int{apitest.Anon: allSame(401), apitest.Owner: allSame(201), apitest.Other: {403, 403, 201}, apitest.Admin: allSame(201)}},
		{"batch add own image to board", func(g gal, tok, b, _, own string) *apitest.Resp {
			return g.Do("POST", "/api/v1/board_images/batch", apitest.Token(tok), apitest.JSON(map[string]any{"board_id": b, "image_names": []string{own}}))
		}, map[apitest.Role][3]int{apitest.Anon: allSame(401), apitest.Owner: allSame(201), apitest.Other: {403, 403, 201}, apitest.Admin: allSame(201)}},
		{"remove image from board", func(g gal, tok, b, img, _ string) *apitest.Resp {
			return g.Do("DELETE", "/api/v1/board_images/", apitest.Token(tok), apitest.JSON(map[string]any{"image_name": img}))
		}, map[apitest.Role][3]int{apitest.Anon: allSame(401), apitest.Owner: allSame(201), apitest.Other: {403, 403, 201}, apitest.Admin: allSame(201)}},
		{"batch remove image from board", func(g gal, tok, b, img, _ string) *apitest.Resp {
			return g.Do("POST", "/api/v1/board_images/batch/delete", apitest.Token(tok), apitest.JSON(map[string]any{"image_names": []string{img}}))
		}, map[apitest.Role][3]int{apitest.Anon: allSame(401), apitest.Owner: allSame(201), apitest.Other: {403, 403, 201}, apitest.Admin: allSame(201)}},
	}
	for _, op := range ops {
		for vi, vis := range visibilities {
			for _, role := range apitest.Roles {
				t.Run(fmt.Sprintf("%s/%s/%s", op.name, vis, role), func(t *testing.T) {
					g := gal{g.Env}
					g.T = t
					board := g.boardWith(u.Owner.Token, vis)
					img := g.uploadImage(u.Owner.Token, board)
					tok := u.Token(role)
					own := "00000000-0000-4000-8000-000000000000.png"
					if tok != "" {
						own = g.uploadImage(tok, "")
					}
					before := g.state()
					res := op.do(g, tok, board, img, own)
					if want := op.want[role][vi]; res.Status != want {
						t.Fatalf("status %d, want %d: %s", res.Status, want, res.Body)
					}
					if res.Status == 401 || res.Status == 403 {
						g.assertUnchanged(before, "a refused request")
						// The board is untouched: same name, visibility, images.
						var b map[string]any
						g.Do("GET", "/api/v1/boards/"+board, apitest.Token(u.Owner.Token)).Expect(200).Decode(&b)
						if b["board_name"] != "board-"+vis || b["board_visibility"] != vis || b["archived"] != false || b["image_count"] != float64(1) {
							t.Fatalf("refused request changed the board: %v", b)
						}
					}
				})
			}
		}
	}
}

func TestBoardListVisibility(t *testing.T) {
	g := gal{apitest.New(t, apitest.Multiuser())}
	u := g.Cast()
	ids := map[string]string{}
	for _, v := range visibilities {
		ids[v] = g.boardWith(u.Owner.Token, v)
	}
	listed := func(tok string) map[string]map[string]any {
		var boards []map[string]any
		g.Do("GET", "/api/v1/boards/?all=true", apitest.Token(tok)).Expect(200).Decode(&boards)
		out := map[string]map[string]any{}
		for _, b := range boards {
			out[b["board_id"].(string)] = b
		}
		return out
	}
	other := listed(u.Other.Token)
	if _, ok := other[ids["private"]]; ok {
		t.Error("another user sees a private board in the list")
	}
	for _, v := range []string{"shared", "public"} {
		b, ok := other[ids[v]]
		if !ok {
			t.Errorf("another user does not see the %s board", v)
		} else if b["owner_username"] != nil {
			t.Errorf("owner_username shown to a non-admin: %v", b["owner_username"])
		}
	}
	owner := listed(u.Owner.Token)
	admin := listed(u.Admin.Token)
	for v, id := range ids {
		if _, ok := owner[id]; !ok {
			t.Errorf("owner does not see their %s board", v)
		}
		if b, ok := admin[id]; !ok || b["owner_username"] != "Owner" {
			t.Errorf("admin list for %s board: %v", v, b)
		}
	}
	g.Do("GET", "/api/v1/boards/?all=true").Expect(401)
	// Paginated: the true total (docs/security.md D11), not the page length.
	var page struct {
		Total int              `json:"total"`
		Items []map[string]any `json:"items"`
	}
	g.Do("GET", "/api/v1/boards/?offset=0&limit=2", apitest.Token(u.Owner.Token)).Expect(200).Decode(&page)
	if page.Total != 3 || len(page.Items) != 2 {
		t.Errorf("page: total %d, %d items; want 3 and 2", page.Total, len(page.Items))
	}
	g.Do("GET", "/api/v1/boards/?offset=0&limit=10", apitest.Token(u.Other.Token)).Expect(200).Decode(&page)
	if page.Total != 2 {
		t.Errorf("other's page total %d, want 2", page.Total)
	}
	if res := g.Do("GET", "/api/v1/boards/", apitest.Token(u.Owner.Token)).Expect(400); res.Detail() != "Invalid request: Must provide either 'all' or both 'offset' and 'limit'" {
		t.Errorf("detail %q", res.Detail())
	}
}
