package e2e

import (
	"fmt"
	"image/color"
	"net/http"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

// The PR #9018 QA steps for board sharing, with two users in two browsers.
func TestE2EBoardSharing(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	owner := b.newPage("owner", env.URL)
	other := b.newPage("other", env.URL)
	loginUI(owner, cast.Owner, false)
	loginUI(other, cast.Other, false)
	const board = "Team Board"
	bsel := boardSel(board)

	// Owner creates a board in the UI and uploads an image into it.
	owner.click("Gallery")
	owner.click("Add board")
	owner.fill("Board name", board)
	owner.click("Create")
	owner.waitFor("the new board", `document.querySelector(`+q(bsel)+`)`)
	owner.waitFor("the new board to be selected", `document.querySelector(`+q(bsel+`.selected`)+`)`)
	if got := js[string](owner, `document.querySelector(`+q(bsel+` [data-testid="board-visibility"]`)+`).textContent`); got != "Private" {
		t.Errorf("new board badge = %q, want Private", got)
	}
	owner.upload(`input[aria-label="Upload image"]`, writePNG(t, "owner.png", color.RGBA{200, 40, 40, 255}))
	owner.waitFor("the uploaded image", `document.querySelectorAll('[data-testid="image-item"]').length === 1`)
	id := boardID(t, env, cast.Owner.Token, board)

	// Rename by double-click and back with the pencil: the owner may.
	owner.dblclick(board, bsel)
	owner.fill("New board name", "Renamed Board")
	js[bool](owner, `(() => { const f = document.querySelector('input[aria-label="New board name"]'); f.form.requestSubmit(); return true; })()`)
	owner.waitFor("the renamed board", `document.querySelector(`+q(boardSel("Renamed Board"))+`)`)
	owner.click("Rename board", boardSel("Renamed Board"))
	owner.fill("New board name", board)
	js[bool](owner, `(() => { const f = document.querySelector('input[aria-label="New board name"]'); f.form.requestSubmit(); return true; })()`)
	owner.waitFor("the board's name back", `document.querySelector(`+q(bsel)+`)`)

	// Step 1: a private board is invisible to the other user.
	other.click("Gallery")
	other.waitFor("the board list", `document.querySelector('[data-testid="board-item"][data-board-id="none"]')`)
	if other.has(`document.querySelector(` + q(bsel) + `)`) {
		t.Fatal("the other user sees a private board")
	}
	expectStatus(t, "other GET private board", env.Do("GET", "/api/v1/boards/"+id, apitest.Token(cast.Other.Token)), http.StatusForbidden)

	// Step 2: shared: visible, read-only, every write control absent and every write call refused.
	owner.click("Board options", bsel)
	owner.click("Set Shared")
	owner.waitFor("the Shared badge", `document.querySelector(`+q(bsel+` [data-testid="board-visibility"]`)+`).textContent === 'Shared'`)
	owner.screenshot("gallery-owner-1280")

	other.reload()
	other.waitFor("the shared board", `document.querySelector(`+q(bsel)+`)`)
	if got := js[string](other, `document.querySelector(`+q(bsel+` [data-testid="board-visibility"]`)+`).textContent`); got != "Shared" {
		t.Errorf("other sees badge %q, want Shared", got)
	}
	for _, c := range []string{"Rename board", "Board options", "Set Private", "Set Shared", "Set Public", "Archive", "Delete Board"} {
		if ok, _ := other.control(c, bsel); ok {
			t.Errorf("shared board shows %q to a non-owner", c)
		}
	}
	other.dblclick(board, bsel)
	if other.has(`document.querySelector('input[aria-label="New board name"]')`) {
		t.Error("double-click opened a rename field on someone else's shared board")
	}
	other.click(board, bsel)
	other.waitFor("the shared board's image", `document.querySelectorAll('[data-testid="image-item"]').length === 1`)
	other.waitText("Shared with you: view only")
	for _, c := range []string{"Upload", "Star image", "Unstar image"} {
		if ok, _ := other.control(c, `section[aria-label="Images"]`); ok {
			t.Errorf("shared board shows %q to a non-owner", c)
		}
	}
	if other.has(`document.querySelector('[data-testid="image-item"]').draggable`) {
		t.Error("images on someone else's shared board are draggable")
	}
	other.click("Open image "+js[string](other, `document.querySelector('[data-testid="image-item"]').dataset.imageName`), `section[aria-label="Images"]`)
	other.waitFor("the viewer", `document.querySelector('[data-testid="image-viewer"]')`)
	for _, c := range []string{"Delete Image", "Star", "Unstar"} {
		if ok, _ := other.control(c, `[data-testid="image-viewer"]`); ok {
			t.Errorf("viewer shows %q on someone else's shared board", c)
		}
	}
	// Multi-select offers no write actions either.
	other.check("Select image "+js[string](other, `document.querySelector('[data-testid="image-item"]').dataset.imageName`), true)
	other.waitFor("the selection bar", `document.querySelector('[data-testid="selection-bar"]')`)
	for _, c := range []string{"Delete Selected", "Star Selected", "Move"} {
		if ok, _ := other.control(c, `[data-testid="selection-bar"]`); ok {
			t.Errorf("selection bar shows %q on someone else's shared board", c)
		}
	}
	other.screenshot("gallery-shared-readonly-1280")
	other.viewport(400, 800)
	other.screenshot("gallery-shared-readonly-narrow")
	other.viewport(1280, 800)

	// Generating into it is not offered.
	other.click("Generate")
	other.waitFor("the generate screen", `document.querySelector('[data-testid="screen-generate"]')`)
	// (no models: the splash replaces the form, so check the board choices through the data the form would use)

	// Every write API call is refused.
	var img struct {
		ImageName string `json:"image_name"`
	}
	var imgs struct {
		Items []struct {
			ImageName string `json:"image_name"`
		} `json:"items"`
	}
	env.Do("GET", "/api/v1/images/?board_id="+id, apitest.Token(cast.Other.Token)).Expect(http.StatusOK).Decode(&imgs)
	if len(imgs.Items) != 1 {
		t.Fatalf("other lists %d images on the shared board, want 1", len(imgs.Items))
	}
	img.ImageName = imgs.Items[0].ImageName
	_, mine := uploadAPI(t, env, cast.Other.Token, "", writePNG(t, "mine.png", color.RGBA{10, 200, 10, 255}))
	myImage, _ := mine["image_name"].(string)
	tok := apitest.Token(cast.Other.Token)
	refused := []struct {
		what string
		r    *apitest.Resp
	}{
		{"rename", env.Do("PATCH", "/api/v1/boards/"+id, tok, apitest.JSON(map[string]any{"board_name": "x"}))},
		{"archive", env.Do("PATCH", "/api/v1/boards/"+id, tok, apitest.JSON(map[string]any{"archived": true}))},
		{"set public", env.Do("PATCH", "/api/v1/boards/"+id, tok, apitest.JSON(map[string]any{"board_visibility": "public"}))},
		{"delete board", env.Do("DELETE", "/api/v1/boards/"+id, tok)},
		{"add image to board", env.Do("POST", "/api/v1/board_images/", tok, apitest.JSON(map[string]any{"board_id": id, "image_name": myImage}))},
		{"remove image from board", env.Do("POST", "/api/v1/board_images/batch/delete", tok, apitest.JSON(map[string]any{"image_names": []string{img.ImageName}}))},
		{"delete image", env.Do("DELETE", "/api/v1/images/i/"+img.ImageName, tok)},
		{"star image", env.Do("POST", "/api/v1/images/star", tok, apitest.JSON(map[string]any{"image_names": []string{img.ImageName}}))},
	}
	for _, c := range refused {
		expectStatus(t, "other "+c.what+" on a shared board", c.r, http.StatusForbidden)
	}
	if st, _ := uploadAPI(t, env, cast.Other.Token, id, writePNG(t, "x.png", color.RGBA{1, 2, 3, 255})); st != http.StatusForbidden {
		t.Errorf("other upload into a shared board: status %d, want 403", st)
	}

	// Step 3: public: the other user may upload into it (through the UI), still no board controls.
	owner.click("Board options", bsel)
	owner.click("Set Public")
	owner.waitFor("the Public badge", `document.querySelector(`+q(bsel+` [data-testid="board-visibility"]`)+`).textContent === 'Public'`)
	other.click("Gallery")
	other.reload()
	other.waitFor("the public board", `document.querySelector(`+q(bsel+` [data-testid="board-visibility"]`)+`)?.textContent === 'Public'`)
	for _, c := range []string{"Rename board", "Board options"} {
		if ok, _ := other.control(c, bsel); ok {
			t.Errorf("public board shows %q to a non-owner", c)
		}
	}
	other.click(board, bsel)
	other.waitText("Public board: you can add images")
	other.upload(`input[aria-label="Upload image"]`, writePNG(t, "other.png", color.RGBA{30, 30, 220, 255}))
	other.waitFor("the other user's upload in the public board", `document.querySelectorAll('[data-testid="image-item"]').length === 2`)
	owner.click(board, bsel)
	owner.reload()
	owner.click(board, bsel)
	owner.waitFor("the other user's upload, seen by the owner", `document.querySelectorAll('[data-testid="image-item"]').length === 2`)
	expectStatus(t, "other renames a public board", env.Do("PATCH", "/api/v1/boards/"+id, tok, apitest.JSON(map[string]any{"board_name": "x"})), http.StatusForbidden)

	// Step 4: back to private: gone for the other user.
	owner.click("Board options", bsel)
	owner.click("Set Private")
	owner.waitFor("the Private badge", `document.querySelector(`+q(bsel+` [data-testid="board-visibility"]`)+`).textContent === 'Private'`)
	other.reload()
	other.waitFor("the board list", `document.querySelector('[data-testid="board-item"][data-board-id="none"]')`)
	if other.has(`document.querySelector(` + q(bsel) + `)`) {
		t.Error("the board is still visible to the other user after Set Private")
	}
	expectStatus(t, "other GET board after Set Private", env.Do("GET", "/api/v1/boards/"+id, tok), http.StatusForbidden)

	// The owner archives, then deletes the board (images go to Uncategorized).
	owner.click("Board options", bsel)
	owner.click("Archive")
	owner.waitFor("the board hidden once archived", `!document.querySelector(`+q(bsel)+`)`)
	owner.check("Show archived", true)
	owner.waitFor("the archived board", `document.querySelector(`+q(bsel+`.archived`)+`)`)
	owner.click("Board options", bsel)
	owner.click("Delete Board")
	owner.click("Delete Board Only")
	owner.waitFor("the board gone", `!document.querySelector(`+q(bsel)+`)`)
	expectStatus(t, "owner GET deleted board", env.Do("GET", "/api/v1/boards/"+id, apitest.Token(cast.Owner.Token)), http.StatusNotFound)
}

// Gallery basics for one user: paging, starring, multi-select, drag to another board, viewer and recall.
func TestE2EGalleryImages(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	p := b.newPage("owner", env.URL)
	tok := apitest.Token(cast.Owner.Token)
	var target struct {
		BoardID string `json:"board_id"`
	}
	env.Do("POST", "/api/v1/boards/?board_name=Target", tok).Expect(http.StatusCreated).Decode(&target)
	for i := 0; i < 26; i++ {
		if st, _ := uploadAPI(t, env, cast.Owner.Token, "", writePNG(t, fmt.Sprintf("i%d.png", i), color.RGBA{uint8(i * 9), 100, 50, 255})); st != http.StatusCreated {
			t.Fatalf("upload %d: status %d", i, st)
		}
	}
	loginUI(p, cast.Owner, false)
	p.click("Gallery")
	p.waitFor("a full first page", `document.querySelectorAll('[data-testid="image-item"]').length === 24`)
	p.waitText("Page 1 of 2")
	p.click("Next Page")
	p.waitFor("the second page", `document.querySelectorAll('[data-testid="image-item"]').length === 2`)
	p.click("Previous Page")
	p.waitFor("the first page again", `document.querySelectorAll('[data-testid="image-item"]').length === 24`)

	// Star the first image.
	p.click("Star image", `[data-testid="image-item"]`)
	p.waitFor("a starred image", `document.querySelector('[data-testid="image-item"] [aria-label="Unstar image"]')`)

	// Multi-select two images and move them with the selection bar.
	names := js[[]string](p, `Array.from(document.querySelectorAll('[data-testid="image-item"]')).slice(0, 3).map((e) => e.dataset.imageName)`)
	p.check("Select image "+names[0], true)
	p.check("Select image "+names[1], true)
	p.waitText("2 selected")
	p.selectOption("Move to board", "Target")
	p.click("Move", `[data-testid="selection-bar"]`)
	p.waitFor("the moved images gone from Uncategorized", `document.querySelectorAll('[data-testid="image-item"]').length === 24 && !document.querySelector('[data-image-name=`+q(names[0])+`]')`)

	// Drag one image onto the board (HTML5 drag and drop with a DataTransfer).
	js[bool](p, `(() => {
		const src = document.querySelector('[data-image-name=`+q(names[2])+`]');
		const dst = document.querySelector('[data-testid="board-item"][data-board-name="Target"]');
		const dt = new DataTransfer();
		src.dispatchEvent(new DragEvent('dragstart', {bubbles: true, dataTransfer: dt}));
		dst.dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: dt}));
		dst.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: dt}));
		return true; })()`)
	p.waitFor("the dragged image gone", `!document.querySelector('[data-image-name=`+q(names[2])+`]')`)
	var onTarget []string
	env.Do("GET", "/api/v1/boards/"+target.BoardID+"/image_names", tok).Expect(http.StatusOK).Decode(&onTarget)
	if len(onTarget) != 3 {
		t.Errorf("Target board holds %d images, want 3", len(onTarget))
	}

	// Viewer and delete.
	first := js[string](p, `document.querySelector('[data-testid="image-item"]').dataset.imageName`)
	p.click("Open image "+first, `section[aria-label="Images"]`)
	p.waitFor("the viewer", `document.querySelector('[data-testid="image-viewer"] img')`)
	p.screenshot("gallery-1280")
	p.viewport(400, 800)
	p.screenshot("gallery-narrow")
	p.viewport(1280, 800)
	p.click("Delete Image", `[data-testid="image-viewer"]`)
	p.waitFor("the deleted image gone", `!document.querySelector('[data-image-name=`+q(first)+`]')`)
}
