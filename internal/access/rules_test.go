package access_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/access"
)

// The image-read rule has three forms: ReadImage (one image), ImageReadFilter (SQL, the readable rows) and
// ImageHiddenFilter (SQL, the complement, for counts), plus BoardMayHideImages (whether a board needs the
// filter at all). Every combination of caller, image owner and board is checked against a real SQLite database,
// so that no listing, count or cover can disagree with the check on a single image.
func TestImageReadRuleFormsAgree(t *testing.T) {
	sqlDB := openDB(t)
	// User ids that sort below, between and above each other, so that the hidden filter's two ranges are both used.
	users := []string{"a-user", "m-user", "z-user"}
	for _, u := range users {
		if _, err := sqlDB.Exec(`INSERT INTO users (user_id, email, password_hash) VALUES (?, ?, 'x')`, u, u+"@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	type img struct {
		name, boardID string
		ref           access.ImageRef
	}
	var imgs []img
	boards := map[string]access.BoardRef{}
	n := 0
	for _, boardOwner := range users {
		for _, vis := range []string{access.VisibilityPrivate, access.VisibilityShared, access.VisibilityPublic} {
			id := fmt.Sprintf("b-%s-%s", boardOwner, vis)
			boards[id] = access.BoardRef{OwnerID: boardOwner, Visibility: vis}
			if _, err := sqlDB.Exec(`INSERT INTO boards (board_id, board_name, user_id, board_visibility) VALUES (?, ?, ?, ?)`, id, id, boardOwner, vis); err != nil {
				t.Fatal(err)
			}
		}
	}
	addImage := func(owner, boardID string) {
		n++
		name := fmt.Sprintf("img-%03d.png", n)
		if _, err := sqlDB.Exec(`INSERT INTO images (image_name, image_origin, image_category, width, height, user_id)
			VALUES (?, 'internal', 'general', 1, 1, ?)`, name, owner); err != nil {
			t.Fatal(err)
		}
		ref := access.ImageRef{OwnerID: owner}
		if boardID != "" {
			if _, err := sqlDB.Exec(`INSERT INTO board_images (board_id, image_name) VALUES (?, ?)`, boardID, name); err != nil {
				t.Fatal(err)
			}
			b := boards[boardID]
			ref.Board = &b
		}
		imgs = append(imgs, img{name, boardID, ref})
	}
	for _, owner := range users {
		addImage(owner, "")
		for id := range boards {
			addImage(owner, id)
		}
	}
	// Private boards holding only their owner's images: nothing on them is hidden from the owner.
	for _, owner := range users {
		id := "solo-" + owner
		boards[id] = access.BoardRef{OwnerID: owner, Visibility: access.VisibilityPrivate}
		if _, err := sqlDB.Exec(`INSERT INTO boards (board_id, board_name, user_id) VALUES (?, ?, ?)`, id, id, owner); err != nil {
			t.Fatal(err)
		}
		addImage(owner, id)
		addImage(owner, id)
	}
	callers := []access.Principal{access.Anonymous(), access.System()}
	for _, u := range users {
		callers = append(callers, access.Principal{UserID: u, Authenticated: true},
			access.Principal{UserID: u, Authenticated: true, IsAdmin: true})
	}
	// An authenticated caller who owns nothing.
	callers = append(callers, access.Principal{UserID: "q-user", Authenticated: true})

	selected := func(where string, args []any) map[string]bool {
		t.Helper()
		return selectSet[string](t, sqlDB, `SELECT i.image_name FROM images i LEFT JOIN boards b ON b.board_id = i.board_id WHERE `+where, args...)
	}
	for _, p := range callers {
		read := access.ImageReadFilter(p, "i", "b")
		readable := selected(read.SQL, read.Args)
		h := access.ImageHiddenFilter(p, "i", "b")
		hiddenSQL, hiddenArgs := "0=1", []any{}
		if len(h.Image) > 0 {
			var alts []string
			hiddenArgs = append(hiddenArgs, h.OnBoard.Args...)
			for _, alt := range h.Image {
				alts = append(alts, "("+alt.SQL+")")
				hiddenArgs = append(hiddenArgs, alt.Args...)
			}
			hiddenSQL = "(" + h.OnBoard.SQL + ") AND (" + strings.Join(alts, " OR ") + ")"
		}
		hidden := selected(hiddenSQL, hiddenArgs)
		for _, im := range imgs {
			want := access.ReadImage(p, im.ref) == nil
			if readable[im.name] != want {
				t.Errorf("caller %+v, image %s %+v: filter says readable=%v, ReadImage %v", p, im.name, im.ref, readable[im.name], want)
			}
			if hidden[im.name] == want {
				t.Errorf("caller %+v, image %s %+v: hidden filter %v, ReadImage readable %v", p, im.name, im.ref, hidden[im.name], want)
			}
		}
		for id, b := range boards {
			onBoard := access.ImageReadFilterOnBoard(p, b, "i")
			readableOnBoard := selected("i.board_id = ? AND ("+onBoard.SQL+")", append([]any{id}, onBoard.Args...))
			for _, im := range imgs {
				if im.boardID != id {
					continue
				}
				if want := access.ReadImage(p, im.ref) == nil; readableOnBoard[im.name] != want {
					t.Errorf("caller %+v, board %s, image %s: board filter says readable=%v, ReadImage %v", p, id, im.name, readableOnBoard[im.name], want)
				}
			}
			mayHide := false
			for _, owner := range append(users, "q-user") {
				if access.ReadImage(p, access.ImageRef{OwnerID: owner, Board: &b}) != nil {
					mayHide = true
				}
			}
			if got := access.BoardMayHideImages(p, b); got != mayHide {
				t.Errorf("caller %+v, board %s: BoardMayHideImages %v, want %v", p, id, got, mayHide)
			}
		}
	}
}
