package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/invokego/invokego/internal/access"
)

func TestCondsBuildOneClause(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(c *conds)
		want  string
		args  string
	}{
		{"nothing", func(*conds) {}, "", "[]"},
		{"keep-all filters add nothing", func(c *conds) { c.filter(access.All); c.filter(access.Filter{}) }, "", "[]"},
		{"empty IN adds nothing", func(c *conds) { in(c, "x", []string(nil)) }, "", "[]"},
		{"in order", func(c *conds) {
			c.add("a = ?", 1)
			c.filter(access.Filter{SQL: "u = ? OR v", Args: []any{"me"}})
			in(c, "s", []string{"p", "q"})
			in(c, "n", []int64{7})
		}, " WHERE a = ? AND (u = ? OR v) AND s IN (?, ?) AND n IN (?)", "[1 me p q 7]"},
	} {
		c := &conds{}
		tc.build(c)
		where, args := c.where()
		if where != tc.want || fmt.Sprint(args) != tc.args {
			t.Errorf("%s: %q %v, want %q %s", tc.name, where, args, tc.want, tc.args)
		}
	}
}

// A count whose scope reads the image's board (ReadsBoard) joins it; one that does not counts images alone;
// both give the rows a listing gives.
func TestImageCountsJoinTheBoardWhenTheScopeReadsIt(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	for _, u := range []string{"alice", "bob"} {
		if _, err := db.CreateUser(ctx, User{UserID: u, Email: u + "@example.com", PasswordHash: "x", IsActive: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.CreateBoard(ctx, "shared", "shared", "bob"); err != nil {
		t.Fatal(err)
	}
	shared := access.VisibilityShared
	if _, err := db.UpdateBoard(ctx, "shared", BoardChanges{Visibility: &shared}, ImageView{}); err != nil {
		t.Fatal(err)
	}
	for i, im := range []NewImage{
		{ImageName: "mine.png", UserID: "alice"},
		{ImageName: "bobs-shared.png", UserID: "bob", BoardID: "shared"},
		{ImageName: "bobs-own.png", UserID: "bob"},
	} {
		im.ImageOrigin, im.ImageCategory, im.Width, im.Height = "internal", "general", 8, 8+i
		if err := db.InsertImage(ctx, im, nil); err != nil {
			t.Fatal(err)
		}
	}
	alice := access.Principal{UserID: "alice", Authenticated: true}
	for _, tc := range []struct {
		scope access.Filter
		want  int
	}{
		{access.ImageReadFilter(alice, "i", "b"), 2},
		{access.OwnedBy(alice, "i.user_id"), 1},
		{access.All, 3},
	} {
		n, err := db.CountImages(ctx, ImageQuery{Scope: tc.scope})
		if err != nil {
			t.Fatalf("%q: %v", tc.scope.SQL, err)
		}
		rows, total, err := db.ListImages(ctx, ImageQuery{Scope: tc.scope, Limit: 10})
		if err != nil || n != tc.want || total != tc.want || len(rows) != tc.want {
			t.Fatalf("%q: count %d, list %d of %d (%v), want %d", tc.scope.SQL, n, len(rows), total, err, tc.want)
		}
	}
}

func TestForInListsChunks(t *testing.T) {
	values := make([]int, 2*maxInList+1)
	for i := range values {
		values[i] = i
	}
	var sizes []int
	next := 0
	err := forInLists(values, func(list string, args []any) error {
		if list != "("+placeholders(len(args))+")" {
			t.Fatalf("list %q for %d args", list, len(args))
		}
		for _, a := range args {
			if a != next {
				t.Fatalf("argument %v, want %d", a, next)
			}
			next++
		}
		sizes = append(sizes, len(args))
		return nil
	})
	if err != nil || fmt.Sprint(sizes) != fmt.Sprint([]int{maxInList, maxInList, 1}) {
		t.Fatalf("chunks %v (%v)", sizes, err)
	}
	if err := forInLists([]string(nil), func(string, []any) error { t.Fatal("called for no values"); return nil }); err != nil {
		t.Fatal(err)
	}
}
