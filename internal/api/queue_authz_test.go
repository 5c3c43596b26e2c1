package api_test

import (
	"fmt"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

// queueOp is one row of the queue's authorisation table (docs/security.md): what to do to a fresh item of
// Owner's, pending or canceled, and the status each role gets in each state.
type queueOp struct {
	name string
	do   func(env *apitest.Env, tok string, item queueItem) *apitest.Resp
	// want maps role → status for a pending and a canceled item.
	want map[apitest.Role][2]int
}

var queueStates = []string{"pending", "canceled"}

// TestQueueAuthorizationTable is the gallery's role × visibility × operation table for the queue: the
// "visibility" of an item is its state, and a refused (or scoped-out) request leaves it as it was.
func TestQueueAuthorizationTable(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	u := env.Cast()
	pause(t, env, u.Admin.Token)
	same := func(code int) [2]int { return [2]int{code, code} }
	owned := map[apitest.Role][2]int{apitest.Anon: same(401), apitest.Owner: same(200), apitest.Other: same(403), apitest.Admin: same(200)}
	loggedIn := map[apitest.Role][2]int{apitest.Anon: same(401), apitest.Owner: same(200), apitest.Other: same(200), apitest.Admin: same(200)}
	adminOnly := map[apitest.Role][2]int{apitest.Anon: same(401), apitest.Owner: same(403), apitest.Other: same(403), apitest.Admin: same(200)}
	ops := []queueOp{
		{"get item", func(env *apitest.Env, tok string, it queueItem) *apitest.Resp {
			return env.Do("GET", fmt.Sprintf("%s/i/%d", queueBase, it.ItemID), apitest.Token(tok))
		}, loggedIn},
		{"items by ids", func(env *apitest.Env, tok string, it queueItem) *apitest.Resp {
			return env.Do("POST", queueBase+"/items_by_ids", apitest.Token(tok), apitest.JSON(map[string]any{"item_ids": []int64{it.ItemID}}))
		}, loggedIn},
		{"batch status", func(env *apitest.Env, tok string, it queueItem) *apitest.Resp {
			return env.Do("GET", queueBase+"/b/"+it.BatchID+"/status", apitest.Token(tok))
		}, loggedIn},
		{"cancel item", func(env *apitest.Env, tok string, it queueItem) *apitest.Resp {
			return env.Do("PUT", fmt.Sprintf("%s/i/%d/cancel", queueBase, it.ItemID), apitest.Token(tok))
		}, owned},
		{"delete item", func(env *apitest.Env, tok string, it queueItem) *apitest.Resp {
			return env.Do("DELETE", fmt.Sprintf("%s/i/%d", queueBase, it.ItemID), apitest.Token(tok))
		}, owned},
		{"retry item", func(env *apitest.Env, tok string, it queueItem) *apitest.Resp {
			return env.Do("PUT", queueBase+"/retry_items_by_id", apitest.Token(tok), apitest.JSON([]int64{it.ItemID}))
		}, owned},
		// Bulk operations are scoped: others' requests succeed and touch none of Owner's items.
		{"cancel by batch", func(env *apitest.Env, tok string, it queueItem) *apitest.Resp {
			return env.Do("PUT", queueBase+"/cancel_by_batch_ids", apitest.Token(tok), apitest.JSON(map[string]any{"batch_ids": []string{it.BatchID}}))
		}, loggedIn},
		{"cancel all except current", func(env *apitest.Env, tok string, _ queueItem) *apitest.Resp {
			return env.Do("PUT", queueBase+"/cancel_all_except_current", apitest.Token(tok))
		}, loggedIn},
		{"prune", func(env *apitest.Env, tok string, _ queueItem) *apitest.Resp {
			return env.Do("PUT", queueBase+"/prune", apitest.Token(tok))
		}, loggedIn},
		{"clear", func(env *apitest.Env, tok string, _ queueItem) *apitest.Resp {
			return env.Do("PUT", queueBase+"/clear", apitest.Token(tok))
		}, loggedIn},
		{"pause processor", func(env *apitest.Env, tok string, _ queueItem) *apitest.Resp {
			return env.Do("PUT", queueBase+"/processor/pause", apitest.Token(tok))
		}, adminOnly},
	}
	g := map[string]any{"nodes": map[string]any{"p": map[string]any{"id": "p", "type": "string", "value": "x"}}, "edges": []any{}}
	for _, op := range ops {
		for si, state := range queueStates {
			for _, role := range apitest.Roles {
				t.Run(fmt.Sprintf("%s/%s/%s", op.name, state, role), func(t *testing.T) {
					res := enqueue(t, env, u.Owner.Token, map[string]any{"graph": g})
					id := res.ItemIDs[0]
					if state == "canceled" {
						env.Do("PUT", fmt.Sprintf("%s/i/%d/cancel", queueBase, id), apitest.Token(u.Owner.Token)).Expect(200)
					}
					before := getItem(t, env, u.Owner.Token, id)
					got := op.do(env, u.Token(role), before)
					if want := op.want[role][si]; got.Status != want {
						t.Fatalf("status %d, want %d: %s", got.Status, want, got.Body)
					}
					if role == apitest.Anon || role == apitest.Other {
						after := env.Do("GET", fmt.Sprintf("%s/i/%d", queueBase, id), apitest.Token(u.Owner.Token)).Expect(200)
						var it queueItem
						after.Decode(&it)
						if it.Status != before.Status || it.UserID != before.UserID {
							t.Fatalf("a %s request changed Owner's item: %+v, was %+v", role, it, before)
						}
					}
				})
			}
		}
	}
}
