package store

import (
	"context"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/access"
)

// Rows a reader may not see come back redacted by the query itself: their graphs, workflows, values, errors and
// owners are never read into memory, whichever read path asks.
func TestQueueReadsRedactOthersRowsInSQL(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	for _, u := range []string{"alice", "bob"} {
		if _, err := db.sql.Exec(`INSERT INTO users (user_id, email, password_hash) VALUES (?, ?, 'x')`, u, u+"@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	secret := `{"graph":{"nodes":{"p":{"type":"string","value":"bob's secret prompt"}}}}`
	origin, dest, wf, fv := "o-secret", "d-secret", `{"w":"secret"}`, `[{"v":"secret"}]`
	var ids []int64
	if err := db.EnqueueTx(ctx, func(qt *QueueTx) error {
		var err error
		ids, err = qt.Insert([]NewQueueItem{
			{BatchID: "b-alice", QueueID: "default", SessionID: "s-alice", Session: `{"graph":{}}`, UserID: "alice"},
			{BatchID: "b-bob-secret", QueueID: "default", SessionID: "s-bob-secret", Session: secret, UserID: "bob",
				Origin: &origin, Destination: &dest, Workflow: &wf, FieldValues: &fv},
		})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	alice := access.Filter{SQL: "q.user_id = ?", Args: []any{"alice"}}
	check := func(what string, it *QueueItem) {
		t.Helper()
		switch it.ItemID {
		case ids[0]:
			if it.Session != `{"graph":{}}` || it.UserID != "alice" || it.BatchID != "b-alice" {
				t.Fatalf("%s: alice's own item redacted: %+v", what, it)
			}
		case ids[1]:
			all := strings.Join([]string{it.Session, it.BatchID, it.SessionID, it.UserID, it.EnqueuedBy, deref(it.Origin), deref(it.Destination),
				deref(it.Workflow), deref(it.FieldValues), deref(it.UserEmail)}, "|")
			if strings.Contains(all, "secret") || strings.Contains(all, "bob") || it.Session != "" || it.UserID != Redacted {
				t.Fatalf("%s: bob's item read for alice: %+v", what, it)
			}
			if it.Status != QueuePending || it.CreatedAt == "" {
				t.Fatalf("%s: bob's item lost its public fields: %+v", what, it)
			}
		}
	}
	list, err := db.ListQueueItems(ctx, QueueFilter{QueueID: "default", Visible: alice})
	if err != nil || len(list) != 2 {
		t.Fatalf("list %d: %v", len(list), err)
	}
	for _, it := range list {
		check("list", it)
	}
	byIDs, err := db.QueueItemsByIDsFor(ctx, ids, alice)
	if err != nil || len(byIDs) != 2 {
		t.Fatalf("by ids %d: %v", len(byIDs), err)
	}
	for _, it := range byIDs {
		check("by ids", it)
	}
	one, err := db.QueueItemByIDFor(ctx, ids[1], alice)
	if err != nil {
		t.Fatal(err)
	}
	check("by id", one)
	first, err := db.FirstQueueItem(ctx, QueueFilter{QueueID: "default", Visible: access.Filter{SQL: "q.user_id = ?", Args: []any{"nobody"}}})
	if err != nil || first == nil {
		t.Fatalf("first: %v", err)
	}
	if first.Session != "" || first.UserID != Redacted {
		t.Fatalf("first item read in full: %+v", first)
	}
	// An admin's reads (no filter) are whole.
	full, err := db.QueueItemByIDFor(ctx, ids[1], access.Filter{})
	if err != nil || full.Session != secret || full.UserID != "bob" {
		t.Fatalf("admin read %+v: %v", full, err)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
