package access_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/store"
)

// openDB opens a real, migrated database in a temporary folder for the SQL forms of the rules.
func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.SQL()
}

// selectSet runs a query of one column and returns the values it gave.
func selectSet[T comparable](t *testing.T, db *sql.DB, query string, args ...any) map[T]bool {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	out := map[T]bool{}
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out[v] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The callers every rule is tried with. The resources below belong to "alice".
var callers = []struct {
	role string
	p    access.Principal
}{
	{"anonymous", access.Anonymous()},
	{"owner", access.Principal{UserID: "alice", Authenticated: true}},
	{"other", access.Principal{UserID: "bob", Authenticated: true}},
	{"admin", access.Principal{UserID: "root", Authenticated: true, IsAdmin: true}},
	{"system", access.System()},
	// An unauthenticated principal that names the owner is still nobody (Owns needs Authenticated).
	{"forged", access.Principal{UserID: "alice"}},
}

const owner = "alice"

// TestRuleTable states each rule of docs/security.md as a table: for every resource variant, which callers
// are allowed; the others are refused with a 403 and the rule's message.
func TestRuleTable(t *testing.T) {
	board := func(vis string) access.BoardRef { return access.BoardRef{OwnerID: owner, Visibility: vis} }
	image := func(b *access.BoardRef) access.ImageRef { return access.ImageRef{OwnerID: owner, Board: b} }
	onBoard := func(vis string) *access.BoardRef { b := access.BoardRef{OwnerID: "carol", Visibility: vis}; return &b }
	ownBoard := func(vis string) *access.BoardRef { b := board(vis); return &b }
	wf := func(public bool, category string) access.WorkflowRef {
		return access.WorkflowRef{OwnerID: owner, IsPublic: public, Category: category}
	}
	preset := func(public bool, typ string) access.StylePresetRef {
		return access.StylePresetRef{OwnerID: owner, IsPublic: public, Type: typ}
	}
	item := access.QueueItemRef{OwnerID: owner}
	const (
		all      = "anonymous owner other admin system forged"
		ownAdmin = "owner admin system"
		admins   = "admin system"
	)
	for _, r := range []struct {
		rule    string
		check   func(access.Principal) error
		allowed string
		message string
	}{
		// Boards.
		{"ReadBoard private", func(p access.Principal) error { return access.ReadBoard(p, board(access.VisibilityPrivate)) }, ownAdmin, "Not authorized to access this board"},
		{"ReadBoard shared", func(p access.Principal) error { return access.ReadBoard(p, board(access.VisibilityShared)) }, all, ""},
		{"ReadBoard public", func(p access.Principal) error { return access.ReadBoard(p, board(access.VisibilityPublic)) }, all, ""},
		{"ModifyBoardImages private", func(p access.Principal) error { return access.ModifyBoardImages(p, board(access.VisibilityPrivate)) }, ownAdmin, "Not authorized to modify this board"},
		{"ModifyBoardImages shared", func(p access.Principal) error { return access.ModifyBoardImages(p, board(access.VisibilityShared)) }, ownAdmin, "Not authorized to modify this board"},
		{"ModifyBoardImages public", func(p access.Principal) error { return access.ModifyBoardImages(p, board(access.VisibilityPublic)) }, all, ""},
		{"UploadToBoard shared", func(p access.Principal) error { return access.UploadToBoard(p, board(access.VisibilityShared)) }, ownAdmin, "Not authorized to upload to this board"},
		{"UploadToBoard public", func(p access.Principal) error { return access.UploadToBoard(p, board(access.VisibilityPublic)) }, all, ""},
		{"WriteToBoard private", func(p access.Principal) error { return access.WriteToBoard(p, board(access.VisibilityPrivate)) }, ownAdmin, "Not authorized to write to this board"},
		{"WriteToBoard public", func(p access.Principal) error { return access.WriteToBoard(p, board(access.VisibilityPublic)) }, all, ""},
		{"UpdateBoard public", func(p access.Principal) error { return access.UpdateBoard(p, board(access.VisibilityPublic)) }, ownAdmin, "Not authorized to update this board"},
		{"DeleteBoard public", func(p access.Principal) error { return access.DeleteBoard(p, board(access.VisibilityPublic)) }, ownAdmin, "Not authorized to delete this board"},
		// Images: the board's visibility, not its ownership, opens an image to others.
		{"ReadImage uncategorized", func(p access.Principal) error { return access.ReadImage(p, image(nil)) }, ownAdmin, "Not authorized to access this image"},
		{"ReadImage on another's private board", func(p access.Principal) error { return access.ReadImage(p, image(onBoard(access.VisibilityPrivate))) }, ownAdmin, "Not authorized to access this image"},
		{"ReadImage on a shared board", func(p access.Principal) error { return access.ReadImage(p, image(onBoard(access.VisibilityShared))) }, all, ""},
		{"ReadImage on a public board", func(p access.Principal) error { return access.ReadImage(p, image(onBoard(access.VisibilityPublic))) }, all, ""},
		{"ModifyImage uncategorized", func(p access.Principal) error { return access.ModifyImage(p, image(nil)) }, ownAdmin, "Not authorized to modify this image"},
		{"ModifyImage on a shared board", func(p access.Principal) error { return access.ModifyImage(p, image(onBoard(access.VisibilityShared))) }, ownAdmin, "Not authorized to modify this image"},
		{"ModifyImage on a public board", func(p access.Principal) error { return access.ModifyImage(p, image(onBoard(access.VisibilityPublic))) }, all, ""},
		{"MoveImage on a public board", func(p access.Principal) error { return access.MoveImage(p, image(onBoard(access.VisibilityPublic))) }, ownAdmin, "Not authorized to move this image"},
		{"MoveImage on own private board", func(p access.Principal) error { return access.MoveImage(p, image(ownBoard(access.VisibilityPrivate))) }, ownAdmin, "Not authorized to move this image"},
		{"ClearAllIntermediates", access.ClearAllIntermediates, admins, "Only admins can clear all intermediates"},
		// Workflows.
		{"ReadWorkflow private", func(p access.Principal) error { return access.ReadWorkflow(p, wf(false, access.CategoryUser)) }, ownAdmin, "Not authorized to access this workflow"},
		{"ReadWorkflow shared", func(p access.Principal) error { return access.ReadWorkflow(p, wf(true, access.CategoryUser)) }, all, ""},
		{"ReadWorkflow default", func(p access.Principal) error { return access.ReadWorkflow(p, wf(false, access.CategoryDefault)) }, all, ""},
		{"CreateWorkflow user", func(p access.Principal) error { return access.CreateWorkflow(p, access.CategoryUser) }, all, ""},
		{"CreateWorkflow default", func(p access.Principal) error { return access.CreateWorkflow(p, access.CategoryDefault) }, "", "Default workflows cannot be created"},
		{"ChangeWorkflow shared", func(p access.Principal) error {
			return access.ChangeWorkflow(p, wf(true, access.CategoryUser), "update")
		}, ownAdmin, "Not authorized to update this workflow"},
		{"ChangeWorkflow default", func(p access.Principal) error {
			return access.ChangeWorkflow(p, wf(false, access.CategoryDefault), "delete")
		}, "", ""},
		{"MarkWorkflowOpened shared", func(p access.Principal) error { return access.MarkWorkflowOpened(p, wf(true, access.CategoryUser)) }, ownAdmin, "Not authorized to update this workflow"},
		// Style presets.
		{"ReadStylePreset private", func(p access.Principal) error { return access.ReadStylePreset(p, preset(false, access.PresetTypeUser)) }, ownAdmin, "Not authorized to access this style preset"},
		{"ReadStylePreset shared", func(p access.Principal) error { return access.ReadStylePreset(p, preset(true, access.PresetTypeUser)) }, all, ""},
		{"ReadStylePreset default", func(p access.Principal) error {
			return access.ReadStylePreset(p, preset(false, access.PresetTypeDefault))
		}, all, ""},
		{"CreateStylePreset default", func(p access.Principal) error { return access.CreateStylePreset(p, access.PresetTypeDefault) }, "", "Default style presets cannot be created"},
		{"ChangeStylePreset shared", func(p access.Principal) error {
			return access.ChangeStylePreset(p, preset(true, access.PresetTypeUser))
		}, ownAdmin, "Not authorized to modify this style preset"},
		{"ChangeStylePreset default", func(p access.Principal) error {
			return access.ChangeStylePreset(p, preset(false, access.PresetTypeDefault))
		}, "", ""},
		// Queue.
		{"CancelQueueItem", func(p access.Principal) error { return access.CancelQueueItem(p, item) }, ownAdmin, "You do not have permission to cancel this queue item"},
		{"DeleteQueueItem", func(p access.Principal) error { return access.DeleteQueueItem(p, item) }, ownAdmin, "You do not have permission to delete this queue item"},
		{"RetryQueueItem", func(p access.Principal) error { return access.RetryQueueItem(p, item, 42) }, ownAdmin, "You do not have permission to retry queue item 42"},
		{"CancelCurrentQueueItem", func(p access.Principal) error { return access.CancelCurrentQueueItem(p, item) }, ownAdmin, "You do not have permission to cancel the currently executing queue item"},
		// Downloads and administration.
		{"ReadDownload", func(p access.Principal) error { return access.ReadDownload(p, owner) }, ownAdmin, "Not authorized to access this download"},
		{"ManageUsers", access.ManageUsers, admins, "Admin privileges required"},
		{"ManageModels", access.ManageModels, admins, "Admin privileges required"},
		{"ManageProcessor", access.ManageProcessor, admins, "Admin privileges required"},
	} {
		allowed := strings.Fields(r.allowed)
		for _, c := range callers {
			err := r.check(c.p)
			want := slices.Contains(allowed, c.role)
			if (err == nil) != want {
				t.Errorf("%s, %s: allowed=%v (%v), want %v", r.rule, c.role, err == nil, err, want)
				continue
			}
			if err == nil {
				continue
			}
			ae, ok := apperr.As(err)
			if !ok || ae.Status != 403 {
				t.Errorf("%s, %s: refused with %v, want a 403", r.rule, c.role, err)
			} else if r.message != "" && ae.Detail != r.message {
				t.Errorf("%s, %s: %q, want %q", r.rule, c.role, ae.Detail, r.message)
			}
		}
	}
	// Changing a built-in: non-owners hear "Not authorized", owners and admins why not.
	for _, c := range callers {
		err := access.ChangeWorkflow(c.p, access.WorkflowRef{OwnerID: access.SystemUserID, Category: access.CategoryDefault}, "delete")
		want := "Not authorized to delete this workflow"
		if c.p.IsAdmin {
			want = "Default workflows cannot be modified"
		}
		if ae, ok := apperr.As(err); !ok || ae.Detail != want {
			t.Errorf("ChangeWorkflow default, %s: %v, want %q", c.role, err, want)
		}
	}
}

// TestListFiltersAgreeWithChecks runs each listing filter over every variant of its resource in a real SQLite
// table and compares the rows it keeps with the check on one resource, for every caller.
func TestListFiltersAgreeWithChecks(t *testing.T) {
	sqlDB := openDB(t)
	owners := []string{"alice", "bob", access.SystemUserID}
	type row struct {
		owner    string
		public   bool
		kind     string // workflow category, preset type or board visibility
		id       int
		workflow access.WorkflowRef
		preset   access.StylePresetRef
		board    access.BoardRef
		queue    access.QueueItemRef
	}
	if _, err := sqlDB.Exec(`CREATE TEMP TABLE r (id INTEGER, user_id TEXT, is_public BOOLEAN, category TEXT, type TEXT, board_visibility TEXT)`); err != nil {
		t.Fatal(err)
	}
	var rows []row
	for _, o := range owners {
		for _, public := range []bool{false, true} {
			for _, kind := range []string{"user", "default", access.VisibilityPrivate, access.VisibilityShared, access.VisibilityPublic} {
				r := row{owner: o, public: public, kind: kind, id: len(rows),
					workflow: access.WorkflowRef{OwnerID: o, IsPublic: public, Category: kind},
					preset:   access.StylePresetRef{OwnerID: o, IsPublic: public, Type: kind},
					board:    access.BoardRef{OwnerID: o, Visibility: kind},
					queue:    access.QueueItemRef{OwnerID: o}}
				if _, err := sqlDB.Exec(`INSERT INTO r VALUES (?, ?, ?, ?, ?, ?)`, r.id, o, public, kind, kind, kind); err != nil {
					t.Fatal(err)
				}
				rows = append(rows, r)
			}
		}
	}
	kept := func(f access.Filter) map[int]bool {
		t.Helper()
		where := f.SQL
		if where == "" {
			where = "1=1"
		}
		// The boards filter names its alias; the others use bare columns.
		return selectSet[int](t, sqlDB, `SELECT b.id FROM r b WHERE `+where, f.Args...)
	}
	for _, c := range callers {
		if !c.p.Authenticated {
			continue // listings need a login in multi-user mode; the router refuses before any filter
		}
		for _, tc := range []struct {
			name   string
			filter access.Filter
			check  func(row) bool
		}{
			{"WorkflowListFilter", access.WorkflowListFilter(c.p), func(r row) bool {
				return (r.kind == "user" || r.kind == "default") && access.ReadWorkflow(c.p, r.workflow) == nil
			}},
			{"StylePresetListFilter", access.StylePresetListFilter(c.p), func(r row) bool {
				return (r.kind == "user" || r.kind == "default") && access.ReadStylePreset(c.p, r.preset) == nil
			}},
			{"BoardListFilter", access.BoardListFilter(c.p, "b"), func(r row) bool {
				return r.kind != "user" && r.kind != "default" && access.ReadBoard(c.p, r.board) == nil
			}},
			{"QueueItemVisibleFilter", access.QueueItemVisibleFilter(c.p, "user_id"), func(r row) bool { return access.SeeQueueItem(c.p, r.queue) }},
		} {
			got := kept(tc.filter)
			for _, r := range rows {
				if tc.name != "QueueItemVisibleFilter" && c.p.IsAdmin {
					// Admins list everything, whatever the kind column says.
					if !got[r.id] {
						t.Errorf("%s, %s: admin misses %+v", tc.name, c.role, r)
					}
					continue
				}
				// Rows of the other resources' kinds only exist to give the filter something to leave out.
				relevant := tc.name == "QueueItemVisibleFilter" ||
					(tc.name == "BoardListFilter") == (r.kind != "user" && r.kind != "default")
				if !relevant {
					continue
				}
				if want := tc.check(r); got[r.id] != want {
					t.Errorf("%s, %s, row %s/%v/%s: kept=%v, check says %v", tc.name, c.role, r.owner, r.public, r.kind, got[r.id], want)
				}
			}
		}
	}
}
