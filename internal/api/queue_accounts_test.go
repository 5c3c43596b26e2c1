package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
)

// A queue item runs with the rights of the account that enqueued it, as that account is when the item runs
// (docs/security.md "Queue items run with their author's rights"). These tests walk what an attacker (or an
// unlucky admin) would try: have a deleted or deactivated account's work run, get an admin to retry it, or
// keep it running through the deletion.

// privateImageOf generates an image owned by u on no board (private to u) and returns its name.
func privateImageOf(t *testing.T, env *apitest.Env, u apitest.User) string {
	t.Helper()
	gen := enqueue(t, env, u.Token, map[string]any{"graph": imageGraph("")})
	waitStatus(t, env, u.Token, gen.ItemIDs[0], "completed")
	var imgs struct {
		Items []struct {
			ImageName string `json:"image_name"`
		} `json:"items"`
	}
	env.Do("GET", "/api/v1/images/?limit=1", apitest.Token(u.Token)).Expect(200).Decode(&imgs)
	if len(imgs.Items) == 0 {
		t.Fatal("no image generated")
	}
	return imgs.Items[0].ImageName
}

// copyGraph reads an image and saves a blurred copy: it succeeds only for an account that may read the image.
func copyGraph(image string) map[string]any {
	return map[string]any{"nodes": map[string]any{
		"copy": map[string]any{"id": "copy", "type": "img_blur", "image": map[string]any{"image_name": image}, "is_intermediate": false}},
		"edges": []any{}}
}

func imageCount(t *testing.T, env *apitest.Env, token string) int {
	t.Helper()
	var res struct {
		Total int `json:"total"`
	}
	env.Do("GET", "/api/v1/images/?limit=1", apitest.Token(token)).Expect(200).Decode(&res)
	return res.Total
}

// The hole: a deleted user's pending items used to become the deleting admin's and ran with the admin's rights,
// so a graph copying another user's private image succeeded. Now they are canceled, never run, and counted.
func TestDeletedUsersItemsNeverRunWithAdminRights(t *testing.T) {
	for _, deleteContent := range []bool{false, true} {
		t.Run(fmt.Sprintf("delete_content=%v", deleteContent), func(t *testing.T) {
			env := apitest.New(t, apitest.Multiuser())
			cast := env.Cast()
			secret := privateImageOf(t, env, cast.Other)
			before := imageCount(t, env, cast.Admin.Token)
			pause(t, env, cast.Admin.Token)
			res := enqueue(t, env, cast.Owner.Token, map[string]any{"graph": copyGraph(secret), "runs": 3})
			del := env.Do("DELETE", fmt.Sprintf("/api/v1/auth/users/%s?delete_content=%v", cast.Owner.ID, deleteContent),
				apitest.Token(cast.Admin.Token)).Expect(200).Map()
			resume(t, env, cast.Admin.Token)
			// A later item proves the processor has moved past the deleted user's items.
			later := enqueue(t, env, cast.Admin.Token, map[string]any{"graph": integerGraph()})
			waitStatus(t, env, cast.Admin.Token, later.ItemIDs[0], "completed")
			for _, id := range res.ItemIDs {
				r := env.Do("GET", fmt.Sprintf("%s/i/%d", queueBase, id), apitest.Token(cast.Admin.Token))
				if deleteContent {
					r.Expect(404)
					continue
				}
				var it queueItem
				r.Expect(200).Decode(&it)
				if it.Status != "canceled" {
					t.Fatalf("item %d of the deleted user: %s (%s)", id, it.Status, deref(it.ErrorMessage))
				}
			}
			if after := imageCount(t, env, cast.Admin.Token); after != before {
				t.Fatalf("images %d -> %d: a deleted user's graph ran", before, after)
			}
			if del["queue_items_canceled"] != float64(3) {
				t.Fatalf("delete result %v: want queue_items_canceled 3", del)
			}
		})
	}
}

// An admin retrying a deleted user's item does not lend it the admin's rights: the retry keeps the original
// account, which no longer exists, so it fails without running.
func TestRetryOfDeletedUsersItemDoesNotRunAsAdmin(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	secret := privateImageOf(t, env, cast.Other)
	res := enqueue(t, env, cast.Owner.Token, map[string]any{"graph": copyGraph(secret)})
	it := waitStatus(t, env, cast.Owner.Token, res.ItemIDs[0], "failed")
	if deref(it.ErrorType) != "PermissionError" {
		t.Fatalf("owner read another user's private image: %s %s", deref(it.ErrorType), deref(it.ErrorMessage))
	}
	env.Do("DELETE", "/api/v1/auth/users/"+cast.Owner.ID, apitest.Token(cast.Admin.Token)).Expect(200)
	var rr struct {
		RetriedItemIDs []int64 `json:"retried_item_ids"`
	}
	env.Do("PUT", queueBase+"/retry_items_by_id", apitest.Token(cast.Admin.Token), apitest.JSON([]int64{res.ItemIDs[0]})).Expect(200).Decode(&rr)
	if len(rr.RetriedItemIDs) != 1 {
		t.Fatalf("retry %v", rr)
	}
	retried := waitStatus(t, env, cast.Admin.Token, rr.RetriedItemIDs[0], "failed")
	if deref(retried.ErrorType) != "PermissionError" || !strings.Contains(deref(retried.ErrorMessage), "deleted or deactivated") {
		t.Fatalf("retried item: %s %s", deref(retried.ErrorType), deref(retried.ErrorMessage))
	}
}

// Deactivation cancels the user's queued work for good: reactivating the account does not revive it.
func TestDeactivationCancelsQueuedWork(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	pause(t, env, cast.Admin.Token)
	res := enqueue(t, env, cast.Owner.Token, map[string]any{"graph": integerGraph(), "runs": 2})
	env.Do("PATCH", "/api/v1/auth/users/"+cast.Owner.ID, apitest.Token(cast.Admin.Token), apitest.JSON(map[string]any{"is_active": false})).Expect(200)
	env.Do("PATCH", "/api/v1/auth/users/"+cast.Owner.ID, apitest.Token(cast.Admin.Token), apitest.JSON(map[string]any{"is_active": true})).Expect(200)
	resume(t, env, cast.Admin.Token)
	later := enqueue(t, env, cast.Admin.Token, map[string]any{"graph": integerGraph()})
	waitStatus(t, env, cast.Admin.Token, later.ItemIDs[0], "completed")
	for _, id := range res.ItemIDs {
		if it := getItem(t, env, cast.Admin.Token, id); it.Status != "canceled" {
			t.Fatalf("item %d of a deactivated user: %s", id, it.Status)
		}
	}
}

// Rights are read when the item runs, not when it was enqueued, and an account that became unusable without
// going through the API (the CLI, another process) has none: its item fails with a clear reason.
func TestItemRightsAreResolvedAtRunTime(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	second := env.CreateUser(cast.Admin, "Second", true)
	secret := privateImageOf(t, env, cast.Other)
	pause(t, env, cast.Admin.Token)
	// Enqueued as an admin, run after a demotion: the copy is refused.
	demoted := enqueue(t, env, second.Token, map[string]any{"graph": copyGraph(secret)})
	env.Do("PATCH", "/api/v1/auth/users/"+second.ID, apitest.Token(cast.Admin.Token), apitest.JSON(map[string]any{"is_admin": false})).Expect(200)
	// Deactivated behind the queue's back: the item does not run.
	inactive := enqueue(t, env, cast.Owner.Token, map[string]any{"graph": integerGraph()})
	if _, err := env.App.DB.SQL().Exec(`UPDATE users SET is_active = 0 WHERE user_id = ?`, cast.Owner.ID); err != nil {
		t.Fatal(err)
	}
	resume(t, env, cast.Admin.Token)
	it := waitStatus(t, env, cast.Admin.Token, demoted.ItemIDs[0], "failed")
	if deref(it.ErrorType) != "PermissionError" {
		t.Fatalf("demoted admin's item: %s %s", deref(it.ErrorType), deref(it.ErrorMessage))
	}
	it = waitStatus(t, env, cast.Admin.Token, inactive.ItemIDs[0], "failed")
	if deref(it.ErrorType) != "PermissionError" || !strings.Contains(deref(it.ErrorMessage), "deleted or deactivated") {
		t.Fatalf("inactive user's item: %s %s", deref(it.ErrorType), deref(it.ErrorMessage))
	}
}

// Deleting a user stops the item of theirs that is running, at once.
func TestDeletingUserStopsTheirRunningItem(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	registerSlow(env, nil)
	res := enqueue(t, env, cast.Owner.Token, map[string]any{"graph": slowGraph(1000)})
	waitStatus(t, env, cast.Owner.Token, res.ItemIDs[0], "in_progress")
	del := env.Do("DELETE", "/api/v1/auth/users/"+cast.Owner.ID, apitest.Token(cast.Admin.Token)).Expect(200).Map()
	if del["queue_items_canceled"] != float64(1) {
		t.Fatalf("delete result %v", del)
	}
	deadline := time.Now().Add(5 * time.Second)
	for env.App.Queue.ProcessorStatus().IsProcessing {
		if time.Now().After(deadline) {
			t.Fatal("the deleted user's item is still running")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if it := getItem(t, env, cast.Admin.Token, res.ItemIDs[0]); it.Status != "canceled" {
		t.Fatalf("running item of the deleted user: %s", it.Status)
	}
}

// Round-robin serves the user whose last turn is oldest; pruning one's own finished items must not erase one's
// turns and jump the queue.
func TestRoundRobinIsNotGameableByPruning(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	a, b := cast.Owner, cast.Other
	first := enqueue(t, env, a.Token, map[string]any{"graph": integerGraph()})
	waitStatus(t, env, a.Token, first.ItemIDs[0], "completed")
	second := enqueue(t, env, b.Token, map[string]any{"graph": integerGraph()})
	waitStatus(t, env, b.Token, second.ItemIDs[0], "completed")
	// b was served last, so a's next item goes first even though b enqueued earlier...
	pause(t, env, cast.Admin.Token)
	bItem := enqueue(t, env, b.Token, map[string]any{"graph": integerGraph()})
	aItem := enqueue(t, env, a.Token, map[string]any{"graph": integerGraph()})
	// ...and b deleting its history changes nothing.
	if r := env.Do("PUT", queueBase+"/prune", apitest.Token(b.Token)).Expect(200).Map(); r["deleted"] != float64(1) {
		t.Fatalf("prune %v", r)
	}
	resume(t, env, cast.Admin.Token)
	// started_at has millisecond resolution; the order of starts is the dequeue sequence.
	started := func(u apitest.User, id int64) int64 {
		waitStatus(t, env, u.Token, id, "completed")
		var seq int64
		if err := env.App.DB.SQL().QueryRow(`SELECT dequeue_seq FROM session_queue WHERE item_id = ?`, id).Scan(&seq); err != nil {
			t.Fatal(err)
		}
		return seq
	}
	sa, sb := started(a, aItem.ItemIDs[0]), started(b, bItem.ItemIDs[0])
	if !(sa < sb) {
		t.Fatalf("a started %d-th, b %d-th: b's prune moved it ahead", sa, sb)
	}
}
