package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// The boards' image_count and asset_count columns, kept by triggers, always equal what counting finds, and the
// images' board_id always mirrors board_images.
func TestBoardCountsFollowImages(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.CreateUser(ctx, User{UserID: "u", Email: "u@example.com", PasswordHash: "x", IsActive: true}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := db.CreateBoard(ctx, id, id, "u"); err != nil {
			t.Fatal(err)
		}
	}
	check := func(step string) {
		t.Helper()
		rows, err := db.sql.QueryContext(ctx, `SELECT b.board_id, b.image_count, b.asset_count,
			(SELECT COUNT(*) FROM board_images bi JOIN images i ON i.image_name = bi.image_name
			  WHERE bi.board_id = b.board_id AND NOT i.is_intermediate AND i.image_category = 'general'),
			(SELECT COUNT(*) FROM board_images bi JOIN images i ON i.image_name = bi.image_name
			  WHERE bi.board_id = b.board_id AND NOT i.is_intermediate AND i.image_category != 'general')
			FROM boards b`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var ic, ac, wantIC, wantAC int
			rows.Scan(&id, &ic, &ac, &wantIC, &wantAC)
			if ic != wantIC || ac != wantAC {
				t.Errorf("%s: board %s counts %d/%d, want %d/%d", step, id, ic, ac, wantIC, wantAC)
			}
		}
		var mismatched int
		db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM images i LEFT JOIN board_images bi ON bi.image_name = i.image_name
			WHERE i.board_id IS NOT bi.board_id`).Scan(&mismatched)
		if mismatched != 0 {
			t.Errorf("%s: %d images whose board_id differs from board_images", step, mismatched)
		}
	}
	cats := []string{"general", "mask", "general", "control", "user"}
	for i, c := range cats {
		board := "a"
		if i%2 == 1 {
			board = "b"
		}
		if err := db.InsertImage(ctx, NewImage{ImageName: fmt.Sprintf("i%d", i), ImageOrigin: "internal", ImageCategory: c,
			Width: 1, Height: 1, UserID: "u", BoardID: board, IsIntermediate: i == 4}, nil); err != nil {
			t.Fatal(err)
		}
	}
	check("insert")
	if err := db.AddImagesToBoard(ctx, "b", []string{"i0", "i2"}); err != nil {
		t.Fatal(err)
	}
	check("move")
	intermediate, general := true, "general"
	db.UpdateImage(ctx, "i0", ImageChanges{IsIntermediate: &intermediate})
	db.UpdateImage(ctx, "i1", ImageChanges{ImageCategory: &general})
	check("update")
	if err := db.RemoveImagesFromBoards(ctx, []string{"i3"}); err != nil {
		t.Fatal(err)
	}
	check("remove")
	if err := db.DeleteImages(ctx, []string{"i1", "i2"}); err != nil {
		t.Fatal(err)
	}
	check("delete images")
	if _, err := db.DeleteBoard(ctx, "b", false); err != nil {
		t.Fatal(err)
	}
	check("delete board")
	if _, err := db.DeleteUser(ctx, "u", "", false); err != nil {
		t.Fatal(err)
	}
	check("delete user")
}
