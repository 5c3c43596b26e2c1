package api_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/gallery"
)

func imageNamesOf(g gal, path, tok string) []string {
	g.T.Helper()
	var res struct {
		ImageNames []string `json:"image_names"`
		TotalCount int      `json:"total_count"`
	}
	g.Do("GET", path, apitest.Token(tok)).Expect(200).Decode(&res)
	if res.TotalCount != len(res.ImageNames) {
		g.T.Errorf("%s: total_count %d for %d names", path, res.TotalCount, len(res.ImageNames))
	}
	return res.ImageNames
}

func listed(g gal, path, tok string) []string {
	g.T.Helper()
	var page gallery.Page[gallery.ImageDTO]
	g.Do("GET", path, apitest.Token(tok)).Expect(200).Decode(&page)
	var out []string
	for _, im := range page.Items {
		out = append(out, im.ImageName)
	}
	if page.Total < len(out) {
		g.T.Errorf("%s: total %d < %d items", path, page.Total, len(out))
	}
	return out
}

func boardNames(g gal, board, tok string) []string {
	g.T.Helper()
	var out []string
	g.Do("GET", "/api/v1/boards/"+board+"/image_names", apitest.Token(tok)).Expect(200).Decode(&out)
	return out
}

func has(list []string, name string) bool { return slices.Contains(list, name) }

// docs/security.md §5.3 with docs/security.md D7 (no board_id → own only) and the admin "none" quirk fixed (admins see all).
func TestImageListingsScope(t *testing.T) {
	g := gal{apitest.New(t, apitest.Multiuser())}
	u := g.Cast()
	ownerLoose := g.uploadImage(u.Owner.Token, "")
	otherLoose := g.uploadImage(u.Other.Token, "")
	ownerBoarded := g.uploadImage(u.Owner.Token, g.boardWith(u.Owner.Token, "private"))

	for _, path := range []string{"/api/v1/images/?limit=100", "/api/v1/images/?board_id=none&limit=100"} {
		got := listed(g, path, u.Other.Token)
		if has(got, ownerLoose) || has(got, ownerBoarded) || !has(got, otherLoose) {
			t.Errorf("%s as other: %v", path, got)
		}
		got = listed(g, path, u.Admin.Token)
		if !has(got, ownerLoose) || !has(got, otherLoose) {
			t.Errorf("%s as admin: %v", path, got)
		}
	}
	for _, path := range []string{"/api/v1/images/names", "/api/v1/images/names?board_id=none"} {
		got := imageNamesOf(g, path, u.Other.Token)
		if has(got, ownerLoose) || has(got, ownerBoarded) || !has(got, otherLoose) {
			t.Errorf("%s as other: %v", path, got)
		}
		got = imageNamesOf(g, path, u.Admin.Token)
		if !has(got, ownerLoose) || !has(got, otherLoose) {
			t.Errorf("%s as admin: %v", path, got)
		}
	}
	if got := listed(g, "/api/v1/images/?limit=100", u.Owner.Token); !has(got, ownerBoarded) || !has(got, ownerLoose) || has(got, otherLoose) {
		t.Errorf("owner's unscoped list: %v", got)
	}
	got := boardNames(g, "none", u.Other.Token)
	if has(got, ownerLoose) || !has(got, otherLoose) {
		t.Errorf("boards/none/image_names as other: %v", got)
	}
	if got := boardNames(g, "none", u.Admin.Token); !has(got, ownerLoose) || !has(got, otherLoose) {
		t.Errorf("boards/none/image_names as admin: %v", got)
	}
	// Bulk download of "none": admins only (there is no "none" board for others).
	if res := g.Do("POST", "/api/v1/images/download", apitest.Token(u.Other.Token), apitest.JSON(map[string]any{"board_id": "none"})).Expect(404); res.Detail() != "Board not found" {
		t.Errorf("detail %q", res.Detail())
	}
	g.Do("POST", "/api/v1/images/download", apitest.Token(u.Admin.Token), apitest.JSON(map[string]any{"board_id": "none"})).Expect(202)

	// Intermediates: counted per user, cleared by admins only.
	g.upload(u.Owner.Token, "image_category=general&is_intermediate=true", testPNG(t, 8, 8), "image/png", nil).Expect(201)
	var n int
	g.Do("GET", "/api/v1/images/intermediates", apitest.Token(u.Other.Token)).Expect(200).Decode(&n)
	if n != 0 {
		t.Errorf("other counts %d intermediates", n)
	}
	g.Do("GET", "/api/v1/images/intermediates", apitest.Token(u.Owner.Token)).Expect(200).Decode(&n)
	if n != 1 {
		t.Errorf("owner counts %d intermediates", n)
	}
	if res := g.Do("DELETE", "/api/v1/images/intermediates", apitest.Token(u.Owner.Token)).Expect(403); res.Detail() != "Only admins can clear all intermediates" {
		t.Errorf("detail %q", res.Detail())
	}
	g.Do("DELETE", "/api/v1/images/intermediates", apitest.Token(u.Admin.Token)).Expect(200).Decode(&n)
	if n != 1 || g.count("images WHERE is_intermediate") != 0 {
		t.Errorf("cleared %d", n)
	}

	// DELETE /images/uncategorized: others' images are skipped silently.
	var del gallery.DeleteImagesResult
	g.Do("DELETE", "/api/v1/images/uncategorized", apitest.Token(u.Other.Token)).Expect(200).Decode(&del)
	if !slices.Equal(del.DeletedImages, []string{otherLoose}) {
		t.Errorf("other deleted %v", del.DeletedImages)
	}
	g.Do("GET", "/api/v1/images/i/"+ownerLoose, apitest.Token(u.Owner.Token)).Expect(200)
	g.Do("GET", "/api/v1/images/i/"+ownerBoarded, apitest.Token(u.Owner.Token)).Expect(200)
}

// Regression tests for every attack the review of PR #9018 found.
func TestGalleryAttacks(t *testing.T) {
	g := gal{apitest.New(t, apitest.Multiuser())}
	u := g.Cast()
	victim, attacker := u.Owner, u.Other
	sharedBoard := g.boardWith(victim.Token, "shared")
	privateBoard := g.boardWith(victim.Token, "private")
	onShared := g.uploadImage(victim.Token, sharedBoard)
	onPrivate := g.uploadImage(victim.Token, privateBoard)
	loose := g.uploadImage(victim.Token, "")
	attackerBoard := g.boardWith(attacker.Token, "private")
	attackerImage := g.uploadImage(attacker.Token, "")
	attackerBoarded := g.uploadImage(attacker.Token, attackerBoard)

	t.Run("write to a shared board through board_images", func(t *testing.T) {
		before := g.state()
		g.Do("POST", "/api/v1/board_images/", apitest.Token(attacker.Token), apitest.JSON(map[string]any{"board_id": sharedBoard, "image_name": attackerImage})).Expect(403)
		g.Do("POST", "/api/v1/board_images/batch", apitest.Token(attacker.Token), apitest.JSON(map[string]any{"board_id": sharedBoard, "image_names": []string{attackerImage}})).Expect(403)
		g.Do("DELETE", "/api/v1/board_images/", apitest.Token(attacker.Token), apitest.JSON(map[string]any{"image_name": onShared})).Expect(403)
		g.Do("POST", "/api/v1/board_images/batch/delete", apitest.Token(attacker.Token), apitest.JSON(map[string]any{"image_names": []string{onShared}})).Expect(403)
		g.assertUnchanged(before, "writing to a shared board")
	})
	t.Run("write to a shared board through the images routes", func(t *testing.T) {
		before := g.state()
		g.Do("PATCH", "/api/v1/images/i/"+onShared, apitest.Token(attacker.Token), apitest.JSON(map[string]any{"image_category": "mask"})).Expect(403)
		g.Do("DELETE", "/api/v1/images/i/"+onShared, apitest.Token(attacker.Token)).Expect(403)
		g.Do("POST", "/api/v1/images/delete", apitest.Token(attacker.Token), apitest.JSON(map[string]any{"image_names": []string{onShared}})).Expect(403)
		g.Do("POST", "/api/v1/images/star", apitest.Token(attacker.Token), apitest.JSON(map[string]any{"image_names": []string{onShared}})).Expect(403)
		g.upload(attacker.Token, "image_category=general&is_intermediate=false&board_id="+sharedBoard, testPNG(t, 8, 8), "image/png", nil).Expect(403)
		g.assertUnchanged(before, "writing to a shared board")
		var dto gallery.ImageDTO
		g.Do("GET", "/api/v1/images/i/"+onShared, apitest.Token(victim.Token)).Expect(200).Decode(&dto)
		if dto.ImageCategory != "general" || dto.Starred {
			t.Errorf("victim's image changed: %+v", dto)
		}
	})
	t.Run("uploading into a shared board", func(t *testing.T) {
		before := g.state()
		res := g.upload(attacker.Token, "image_category=general&is_intermediate=false&board_id="+sharedBoard, testPNG(t, 8, 8), "image/png", nil).Expect(403)
		if res.Detail() != "Not authorized to upload to this board" {
			t.Errorf("detail %q", res.Detail())
		}
		g.assertUnchanged(before, "uploading into a shared board")
	})
	t.Run("putting a victim's image on one's own board", func(t *testing.T) {
		before := g.state()
		for _, img := range []string{loose, onShared, onPrivate} {
			res := g.Do("POST", "/api/v1/board_images/", apitest.Token(attacker.Token), apitest.JSON(map[string]any{"board_id": attackerBoard, "image_name": img})).Expect(403)
			if res.Detail() != "Not authorized to move this image" {
				t.Errorf("detail %q", res.Detail())
			}
		}
		// Batch: one own image and one victim's image. Nothing moves (docs/security.md D9).
		g.Do("POST", "/api/v1/board_images/batch", apitest.Token(attacker.Token), apitest.JSON(map[string]any{
			"board_id": attackerBoard, "image_names": []string{attackerImage, loose}})).Expect(403)
		g.assertUnchanged(before, "moving a victim's image")
		var dto gallery.ImageDTO
		g.Do("GET", "/api/v1/images/i/"+attackerImage, apitest.Token(attacker.Token)).Expect(200).Decode(&dto)
		if dto.BoardID != nil {
			t.Errorf("the attacker's own image moved in a refused batch: %v", *dto.BoardID)
		}
		// And no rights were gained over the victim's image.
		g.Do("DELETE", "/api/v1/images/i/"+loose, apitest.Token(attacker.Token)).Expect(403)
	})
	t.Run("batch mutations are all or nothing", func(t *testing.T) {
		before := g.state()
		for _, path := range []string{"/api/v1/images/delete", "/api/v1/images/star", "/api/v1/images/unstar"} {
			g.Do("POST", path, apitest.Token(attacker.Token), apitest.JSON(map[string]any{"image_names": []string{attackerImage, loose}})).Expect(403)
		}
		g.Do("POST", "/api/v1/board_images/batch/delete", apitest.Token(attacker.Token), apitest.JSON(map[string]any{"image_names": []string{attackerBoarded, onPrivate}})).Expect(403)
		g.assertUnchanged(before, "a refused batch")
		var dto gallery.ImageDTO
		g.Do("GET", "/api/v1/images/i/"+attackerImage, apitest.Token(attacker.Token)).Expect(200).Decode(&dto)
		if dto.Starred {
			t.Error("the attacker's own image was starred by a refused batch")
		}
		g.Do("GET", "/api/v1/images/i/"+attackerBoarded, apitest.Token(attacker.Token)).Expect(200).Decode(&dto)
		if dto.BoardID == nil {
			t.Error("the attacker's own image left its board in a refused batch")
		}
	})
	t.Run("enumerating a private board", func(t *testing.T) {
		for _, path := range []string{"/api/v1/images/?board_id=" + privateBoard, "/api/v1/images/names?board_id=" + privateBoard,
			"/api/v1/boards/" + privateBoard + "/image_names", "/api/v1/boards/" + privateBoard} {
			res := g.Do("GET", path, apitest.Token(attacker.Token)).Expect(403)
			if strings.Contains(string(res.Body), onPrivate) || len(res.Body) > 200 {
				t.Errorf("%s leaked: %s", path, res.Body)
			}
		}
	})
	t.Run("enumerating others' uncategorized images", func(t *testing.T) {
		for _, got := range [][]string{
			listed(g, "/api/v1/images/?limit=1000", attacker.Token),
			listed(g, "/api/v1/images/?board_id=none&limit=1000", attacker.Token),
			imageNamesOf(g, "/api/v1/images/names", attacker.Token),
			imageNamesOf(g, "/api/v1/images/names?board_id=none", attacker.Token),
			boardNames(g, "none", attacker.Token),
		} {
			if has(got, loose) || has(got, onPrivate) {
				t.Errorf("listing leaked the victim's images: %v", got)
			}
		}
		var dtos []gallery.ImageDTO
		g.Do("POST", "/api/v1/images/images_by_names", apitest.Token(attacker.Token), apitest.JSON(map[string]any{
			"image_names": []string{loose, onPrivate, onShared, attackerImage}})).Expect(200).Decode(&dtos)
		if len(dtos) != 2 || dtos[0].ImageName != onShared || dtos[1].ImageName != attackerImage {
			t.Errorf("images_by_names returned %v", dtos)
		}
	})
	t.Run("bulk-downloading others' images", func(t *testing.T) {
		g.Do("POST", "/api/v1/images/download", apitest.Token(attacker.Token), apitest.JSON(map[string]any{"image_names": []string{loose}})).Expect(403)
		g.Do("POST", "/api/v1/images/download", apitest.Token(attacker.Token), apitest.JSON(map[string]any{"image_names": []string{attackerImage, onPrivate}})).Expect(403)
		g.Do("POST", "/api/v1/images/download", apitest.Token(attacker.Token), apitest.JSON(map[string]any{"board_id": privateBoard})).Expect(403)
		if n := g.count("bulk_downloads"); n != 0 {
			t.Errorf("%d download records after refused requests", n)
		}
	})
	t.Run("fetching another user's full image or thumbnail", func(t *testing.T) {
		for _, img := range []string{loose, onPrivate} {
			for _, kind := range []string{"full", "thumbnail"} {
				g.Do("GET", "/api/v1/images/i/"+img+"/"+kind, apitest.Token(attacker.Token)).Expect(403)
				g.Do("GET", "/api/v1/images/i/"+img+"/"+kind).Expect(401)
				g.Do("HEAD", "/api/v1/images/i/"+img+"/"+kind, apitest.Token(attacker.Token)).Expect(403)
				// The media cookie works for the owner only.
				g.Do("GET", "/api/v1/images/i/"+img+"/"+kind, apitest.Header("Cookie", "invokeai_media_token="+attacker.Token)).Expect(403)
				res := g.Do("GET", "/api/v1/images/i/"+img+"/"+kind, apitest.Header("Cookie", "invokeai_media_token="+victim.Token)).Expect(200)
				if cc := res.Header.Get("Cache-Control"); cc == "" || cc[:7] != "private" {
					t.Errorf("Cache-Control %q", cc)
				}
			}
		}
		// The cookie does not authenticate JSON routes.
		g.Do("GET", "/api/v1/images/i/"+loose, apitest.Header("Cookie", "invokeai_media_token="+victim.Token)).Expect(401)
	})
}
