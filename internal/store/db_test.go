package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
)

func openTemp(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "databases", "invokeai.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func TestMigrationsRunOnceAndReopen(t *testing.T) {
	ctx := context.Background()
	db, path := openTemp(t)
	v, err := db.SchemaVersion(ctx)
	if err != nil || v != LatestVersion() || v < 1 {
		t.Fatalf("version %d (latest %d): %v", v, LatestVersion(), err)
	}
	db.Close()
	again, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer again.Close()
	var n int
	if err := again.sql.QueryRow(`SELECT COUNT(*) FROM migrations`).Scan(&n); err != nil || n != LatestVersion() {
		t.Fatalf("migrations rows %d: %v", n, err)
	}
	var mode string
	if err := again.sql.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q: %v", mode, err)
	}
}

func TestNewerDatabaseRefused(t *testing.T) {
	ctx := context.Background()
	db, path := openTemp(t)
	if _, err := db.sql.Exec(`INSERT INTO migrations (version) VALUES (?)`, LatestVersion()+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(ctx, path); !errors.Is(err, ErrTooNew) {
		t.Fatalf("open newer database: %v", err)
	}
}

func TestForeignKeysEnforced(t *testing.T) {
	db, _ := openTemp(t)
	if _, err := db.sql.Exec(`INSERT INTO boards (board_id, board_name, user_id) VALUES ('b', 'n', 'ghost')`); err == nil {
		t.Fatal("a board owned by a missing user was accepted")
	}
	if _, err := db.sql.Exec(`INSERT INTO boards (board_id, board_name, board_visibility) VALUES ('b', 'n', 'everyone')`); err == nil {
		t.Fatal("an unknown visibility was accepted")
	}
}

func TestUserStoreLastAdminGuard(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	admin, err := db.CreateUser(ctx, User{UserID: "a", Email: "a@example.com", PasswordHash: "x", IsAdmin: true, IsActive: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateUser(ctx, User{UserID: "b", Email: "a@example.com", PasswordHash: "x", IsActive: true}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate email: %v", err)
	}
	no := false
	if _, err := db.UpdateUser(ctx, admin.UserID, UserChanges{IsAdmin: &no}, true); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("demote last admin: %v", err)
	}
	if u, _ := db.UserByID(ctx, "a"); !u.IsAdmin {
		t.Fatal("refused demotion was written")
	}
	// Two admins demoting each other at once: exactly one wins.
	if _, err := db.CreateUser(ctx, User{UserID: "c", Email: "c@example.com", PasswordHash: "x", IsAdmin: true, IsActive: true}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, id := range []string{"a", "c"} {
		wg.Add(1)
		go func(i int, id string) {
			defer wg.Done()
			_, errs[i] = db.UpdateUser(ctx, id, UserChanges{IsAdmin: &no}, true)
		}(i, id)
	}
	wg.Wait()
	if n, _ := db.CountActiveAdmins(ctx); n != 1 {
		t.Fatalf("admins left %d (errors %v)", n, errs)
	}
	// Non-admins are not guarded: deleting one when there is no admin at all works.
	if _, err := db.CreateUser(ctx, User{UserID: "d", Email: "d@example.com", PasswordHash: "x", IsActive: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteUser(ctx, "d", "", true); err != nil {
		t.Fatalf("delete plain user: %v", err)
	}
	if _, err := db.DeleteUser(ctx, "nobody", "", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete missing: %v", err)
	}
}

func TestSettingOrCreateKeepsFirstValue(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	v1, err := db.SettingOrCreate(ctx, "k", func() (string, error) { return "one", nil })
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := db.SettingOrCreate(ctx, "k", func() (string, error) { return "two", nil })
	if v1 != "one" || v2 != "one" {
		t.Fatalf("values %q %q", v1, v2)
	}
}
