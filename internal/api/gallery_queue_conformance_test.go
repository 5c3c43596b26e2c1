package api_test

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"mime/multipart"
	"net/textproto"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

// keysOf lists a JSON object's keys, sorted.
func keysOf(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func wantKeys(t *testing.T, where string, m map[string]any, keys string) {
	t.Helper()
	want := strings.Split(keys, ",")
	sort.Strings(want)
	if got := keysOf(m); got != strings.Join(want, ",") {
		t.Errorf("%s keys:\n got %s\nwant %s", where, got, strings.Join(want, ","))
	}
}

func gqPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewNRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gqMultipart(t *testing.T, field string, data []byte, extra map[string]string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename="x.png"`, field))
	h.Set("Content-Type", "image/png")
	fw, _ := mw.CreatePart(h)
	fw.Write(data)
	for k, v := range extra {
		mw.WriteField(k, v)
	}
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

var sqliteTS = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$`)

const (
	boardDTOKeys = "board_id,board_name,user_id,created_at,updated_at,deleted_at,cover_image_name,archived,board_visibility,image_count,asset_count,owner_username"
	imageDTOKeys = "image_name,image_url,thumbnail_url,image_origin,image_category,width,height,created_at,updated_at,deleted_at,is_intermediate,session_id,node_id,starred,has_workflow,board_id"
)

func TestGalleryShapesAndStatuses(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	tok := apitest.Token(cast.Owner.Token)
	board := env.Do("POST", "/api/v1/boards/?board_name=Shapes", tok).Expect(201).Map()
	wantKeys(t, "BoardDTO", board, boardDTOKeys)
	bid := board["board_id"].(string)

	ct, body := gqMultipart(t, "file", gqPNG(t, 20, 10), map[string]string{"metadata": `{"a":1}`})
	up := env.Do("POST", "/api/v1/images/upload?image_category=general&is_intermediate=false&board_id="+bid, tok, apitest.RawBody(ct, body)).Expect(201)
	img := up.Map()
	wantKeys(t, "ImageDTO", img, imageDTOKeys)
	name := img["image_name"].(string)
	if loc := up.Header.Get("Location"); loc != img["image_url"] {
		t.Errorf("Location %q, image_url %v", loc, img["image_url"])
	}
	if img["image_url"] != "api/v1/images/i/"+name+"/full" || img["thumbnail_url"] != "api/v1/images/i/"+name+"/thumbnail" || img["image_origin"] != "external" || img["board_id"] != bid {
		t.Errorf("upload DTO %v", img)
	}
	for _, kind := range []string{"full", "thumbnail"} {
		h := env.Do("HEAD", "/api/v1/images/i/"+name+"/"+kind, tok).Expect(200)
		if len(h.Body) != 0 || h.Header.Get("Content-Type") == "" {
			t.Errorf("HEAD %s: %v %q", kind, h.Header, h.Body)
		}
		env.Do("HEAD", "/api/v1/images/i/"+name+"/"+kind).Expect(401)
	}
	if ct := env.Do("GET", "/api/v1/images/i/"+name+"/full", tok).Expect(200).Header.Get("Content-Type"); ct != "image/png" {
		t.Errorf("full content type %q", ct)
	}
	full := env.Do("GET", "/api/v1/images/i/"+name+"/full", tok).Expect(200)
	if cd := full.Header.Get("Content-Disposition"); cd != `inline; filename="`+name+`"` || !strings.Contains(full.Header.Get("Cache-Control"), "max-age=31536000") {
		t.Errorf("full headers %v", full.Header)
	}
	// The thumbnail is WebP; like InvokeAI's FileResponse without a filename it names no ".png" file.
	thumb := env.Do("GET", "/api/v1/images/i/"+name+"/thumbnail", tok).Expect(200)
	if ct := thumb.Header.Get("Content-Type"); ct != "image/webp" || strings.Contains(thumb.Header.Get("Content-Disposition"), ".png") {
		t.Errorf("thumbnail headers %v", thumb.Header)
	}

	// Lists.
	page := env.Do("GET", "/api/v1/boards/?offset=0&limit=10", tok).Expect(200).Map()
	wantKeys(t, "boards page", page, "limit,offset,total,items")
	all := env.Do("GET", "/api/v1/boards/?all=true", tok).Expect(200)
	if !bytes.HasPrefix(bytes.TrimSpace(all.Body), []byte("[")) {
		t.Errorf("boards all=true: %s", all.Body)
	}
	if d := env.Do("GET", "/api/v1/boards/", tok).Expect(400).Detail(); d != "Invalid request: Must provide either 'all' or both 'offset' and 'limit'" {
		t.Errorf("boards detail %q", d)
	}
	got := env.Do("GET", "/api/v1/boards/"+bid, tok).Expect(200).Map()
	if got["image_count"] != float64(1) || got["cover_image_name"] != name {
		t.Errorf("board after upload %v", got)
	}
	ip := env.Do("GET", "/api/v1/images/?board_id="+bid, tok).Expect(200).Map()
	wantKeys(t, "images page", ip, "limit,offset,total,items")
	if ip["limit"] != float64(10) || ip["offset"] != float64(0) || ip["total"] != float64(1) {
		t.Errorf("images page %v", ip)
	}
	names := env.Do("GET", "/api/v1/images/names?board_id="+bid, tok).Expect(200).Map()
	wantKeys(t, "ImageNamesResult", names, "image_names,starred_count,total_count")
	urls := env.Do("GET", "/api/v1/images/i/"+name+"/urls", tok).Expect(200).Map()
	wantKeys(t, "ImageUrlsDTO", urls, "image_name,image_url,thumbnail_url")
	md := env.Do("GET", "/api/v1/images/i/"+name+"/metadata", tok).Expect(200).Map()
	if md["a"] != float64(1) {
		t.Errorf("metadata %v", md)
	}
	wf := env.Do("GET", "/api/v1/images/i/"+name+"/workflow", tok).Expect(200).Map()
	wantKeys(t, "workflow", wf, "workflow,graph")
	byNames := env.Do("POST", "/api/v1/images/images_by_names", tok, apitest.JSON(map[string]any{"image_names": []string{"nope.png", name}})).Expect(200)
	if !bytes.Contains(byNames.Body, []byte(name)) || bytes.Contains(byNames.Body, []byte("nope.png")) {
		t.Errorf("images_by_names %s", byNames.Body)
	}
	star := env.Do("POST", "/api/v1/images/star", tok, apitest.JSON(map[string]any{"image_names": []string{name}})).Expect(200).Map()
	wantKeys(t, "StarredImagesResult", star, "starred_images,affected_boards")
	unstar := env.Do("POST", "/api/v1/images/unstar", tok, apitest.JSON(map[string]any{"image_names": []string{name}})).Expect(200).Map()
	wantKeys(t, "UnstarredImagesResult", unstar, "unstarred_images,affected_boards")
	patched := env.Do("PATCH", "/api/v1/images/i/"+name, tok, apitest.JSON(map[string]any{"starred": true, "extra": 1})).Expect(200).Map()
	if patched["starred"] != true {
		t.Errorf("patch %v", patched)
	}
	if n := string(bytes.TrimSpace(env.Do("GET", "/api/v1/images/intermediates", tok).Expect(200).Body)); n != "0" {
		t.Errorf("intermediates %s", n)
	}
	env.Do("DELETE", "/api/v1/images/intermediates", tok).Expect(403)
	env.Do("POST", "/api/v1/images/", tok, apitest.JSON(map[string]any{"width": 1, "height": 1})).Expect(501)

	// Board images.
	b2 := env.Do("POST", "/api/v1/boards/?board_name=Two", tok).Expect(201).Map()["board_id"].(string)
	add := env.Do("POST", "/api/v1/board_images/", tok, apitest.JSON(map[string]any{"board_id": b2, "image_name": name})).Expect(201).Map()
	wantKeys(t, "AddImagesToBoardResult", add, "added_images,affected_boards")
	rm := env.Do("DELETE", "/api/v1/board_images/", tok, apitest.JSON(map[string]any{"image_name": name})).Expect(201).Map()
	wantKeys(t, "RemoveImagesFromBoardResult", rm, "removed_images,affected_boards")
	if !strings.Contains(fmt.Sprint(rm["affected_boards"]), "none") {
		t.Errorf("remove affected %v", rm)
	}
	env.Do("POST", "/api/v1/board_images/batch", tok, apitest.JSON(map[string]any{"board_id": b2, "image_names": []string{name}})).Expect(201)
	env.Do("POST", "/api/v1/board_images/batch/delete", tok, apitest.JSON(map[string]any{"image_names": []string{name}})).Expect(201)
	upd := env.Do("PATCH", "/api/v1/boards/"+b2, tok, apitest.JSON(map[string]any{"board_name": "Renamed", "board_visibility": "shared"})).Expect(201).Map()
	if upd["board_name"] != "Renamed" || upd["board_visibility"] != "shared" {
		t.Errorf("patch board %v", upd)
	}
	env.Do("PATCH", "/api/v1/boards/"+b2, tok, apitest.JSON(map[string]any{"bogus": 1})).Expect(422)
	del := env.Do("DELETE", "/api/v1/boards/"+b2, tok).Expect(200).Map()
	wantKeys(t, "delete board", del, "board_id,deleted_board_images,deleted_images")
	env.Do("GET", "/api/v1/boards/"+b2, tok).Expect(404)

	// Download.
	dl := env.Do("POST", "/api/v1/images/download", tok, apitest.JSON(map[string]any{"image_names": []string{name}})).Expect(202).Map()
	wantKeys(t, "ImagesDownloaded", dl, "response,bulk_download_item_name")
	if d := env.Do("POST", "/api/v1/images/download", tok, apitest.JSON(map[string]any{})).Expect(400).Detail(); d != "No images or board id specified." {
		t.Errorf("download detail %q", d)
	}

	delr := env.Do("DELETE", "/api/v1/images/i/"+name, tok).Expect(200).Map()
	wantKeys(t, "DeleteImagesResult", delr, "deleted_images,affected_boards")
	// A name that no longer exists is refused to a non-admin as another user's image would be (docs/security.md,
	// "not yours" and "not there"); an existing one of theirs is deleted.
	env.Do("POST", "/api/v1/images/delete", tok, apitest.JSON(map[string]any{"image_names": []string{name}})).Expect(403)
	ct, body = gqMultipart(t, "file", gqPNG(t, 20, 10), nil)
	again := env.Do("POST", "/api/v1/images/upload?image_category=general&is_intermediate=false", tok, apitest.RawBody(ct, body)).Expect(201).Map()
	bulk := env.Do("POST", "/api/v1/images/delete", tok, apitest.JSON(map[string]any{"image_names": []string{again["image_name"].(string)}})).Expect(200).Map()
	wantKeys(t, "DeleteImagesResult", bulk, "deleted_images,affected_boards")
	unc := env.Do("DELETE", "/api/v1/images/uncategorized", tok).Expect(200).Map()
	wantKeys(t, "DeleteImagesResult", unc, "deleted_images,affected_boards")
}

func TestQueueShapes(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	tok := apitest.Token(cast.Owner.Token)
	pause(t, env, cast.Admin.Token)
	res := env.Do("POST", queueBase+"/enqueue_batch", tok, apitest.JSON(map[string]any{"batch": map[string]any{"graph": integerGraph(), "runs": 3}})).Expect(200).Map()
	wantKeys(t, "EnqueueBatchResult", res, "queue_id,enqueued,requested,batch,priority,item_ids")
	ids := res["item_ids"].([]any)
	if len(ids) != 3 || ids[0].(float64) < ids[2].(float64) {
		t.Errorf("item ids %v", ids)
	}
	st := env.Do("GET", queueBase+"/status", tok).Expect(200).Map()
	wantKeys(t, "status", st, "queue,processor")
	wantKeys(t, "SessionQueueStatus", st["queue"].(map[string]any), "queue_id,item_id,batch_id,session_id,pending,in_progress,completed,failed,canceled,total,user_pending,user_in_progress")
	wantKeys(t, "SessionProcessorStatus", st["processor"].(map[string]any), "is_started,is_processing")
	other := env.Do("GET", queueBase+"/status", apitest.Token(cast.Other.Token)).Expect(200).Map()["queue"].(map[string]any)
	if other["pending"] != float64(3) || other["user_pending"] != float64(0) {
		t.Errorf("other's status %v", other)
	}
	batchID := res["batch"].(map[string]any)["batch_id"].(string)
	bs := env.Do("GET", queueBase+"/b/"+batchID+"/status", tok).Expect(200).Map()
	wantKeys(t, "BatchStatus", bs, "queue_id,batch_id,origin,destination,pending,in_progress,completed,failed,canceled,total")
	cd := env.Do("GET", queueBase+"/counts_by_destination?destination=x", tok).Expect(200).Map()
	wantKeys(t, "CountsByDestination", cd, "queue_id,destination,pending,in_progress,completed,failed,canceled,total")
	ii := env.Do("GET", queueBase+"/item_ids", tok).Expect(200).Map()
	wantKeys(t, "ItemIdsResult", ii, "item_ids,total_count")
	items := env.Do("GET", queueBase+"/list_all", tok).Expect(200)
	if !bytes.HasPrefix(bytes.TrimSpace(items.Body), []byte("[")) {
		t.Errorf("list_all %s", items.Body)
	}
	id := int64(ids[0].(float64))
	full := env.Do("POST", queueBase+"/items_by_ids", tok, apitest.JSON(map[string]any{"item_ids": []int64{id}})).Expect(200)
	var arr []map[string]any
	full.Decode(&arr)
	if len(arr) != 1 {
		t.Fatalf("items_by_ids %s", full.Body)
	}
	wantKeys(t, "SessionQueueItem", arr[0], "item_id,status,priority,batch_id,origin,destination,session_id,error_type,error_message,error_traceback,created_at,updated_at,started_at,completed_at,queue_id,user_id,user_display_name,user_email,field_values,retried_from_item_id,session,workflow")
	// docs/compatibility.md §3: timestamps are SQLite's stored strings, "2026-04-13 10:00:00.000", not RFC 3339.
	for _, k := range []string{"created_at", "updated_at"} {
		if s, _ := arr[0][k].(string); !sqliteTS.MatchString(s) {
			t.Errorf("queue item %s = %q, want the stored SQLite string", k, s)
		}
	}
	one := env.Do("GET", fmt.Sprintf("%s/i/%d", queueBase, id), tok).Expect(200).Map()
	for k, v := range one {
		if v == nil {
			t.Errorf("GET /i/{id} has null key %s", k)
		}
	}
	if d := env.Do("GET", queueBase+"/i/99999", tok).Expect(404).Detail(); d != "Queue item with id 99999 not found in queue default" {
		t.Errorf("404 detail %q", d)
	}
	env.Do("GET", queueBase+"/next", tok).Expect(200)
	if cur := string(bytes.TrimSpace(env.Do("GET", queueBase+"/current", tok).Expect(200).Body)); cur != "null" {
		t.Errorf("current %s", cur)
	}
	if d := env.Do("DELETE", fmt.Sprintf("%s/i/%d", queueBase, id), apitest.Token(cast.Other.Token)).Expect(403).Detail(); d != "You do not have permission to delete this queue item" {
		t.Errorf("delete 403 detail %q", d)
	}
	if d := env.Do("PUT", fmt.Sprintf("%s/i/%d/cancel", queueBase, id), apitest.Token(cast.Other.Token)).Expect(403).Detail(); d != "You do not have permission to cancel this queue item" {
		t.Errorf("cancel 403 detail %q", d)
	}
	c := env.Do("PUT", fmt.Sprintf("%s/i/%d/cancel", queueBase, id), tok).Expect(200).Map()
	if s, _ := c["completed_at"].(string); c["status"] != "canceled" || !sqliteTS.MatchString(s) {
		t.Errorf("cancel %v", c)
	}
	if d := env.Do("PUT", queueBase+"/retry_items_by_id", apitest.Token(cast.Other.Token), apitest.JSON([]int64{id})).Expect(403).Detail(); d != fmt.Sprintf("You do not have permission to retry queue item %d", id) {
		t.Errorf("retry 403 detail %q", d)
	}
	rt := env.Do("PUT", queueBase+"/retry_items_by_id", tok, apitest.JSON([]int64{id})).Expect(200).Map()
	wantKeys(t, "RetryItemsResult", rt, "queue_id,retried_item_ids")
	cb := env.Do("PUT", queueBase+"/cancel_by_batch_ids", tok, apitest.JSON(map[string]any{"batch_ids": []string{batchID}})).Expect(200).Map()
	wantKeys(t, "CancelByBatchIDsResult", cb, "canceled")
	wantKeys(t, "CancelByDestination", env.Do("PUT", queueBase+"/cancel_by_destination?destination=x", tok).Expect(200).Map(), "canceled")
	wantKeys(t, "CancelAllExceptCurrent", env.Do("PUT", queueBase+"/cancel_all_except_current", tok).Expect(200).Map(), "canceled")
	wantKeys(t, "DeleteAllExceptCurrent", env.Do("PUT", queueBase+"/delete_all_except_current", tok).Expect(200).Map(), "deleted")
	wantKeys(t, "Prune", env.Do("PUT", queueBase+"/prune", tok).Expect(200).Map(), "deleted")
	wantKeys(t, "DeleteByDestination", env.Do("DELETE", queueBase+"/d/x", tok).Expect(200).Map(), "deleted")
	wantKeys(t, "Clear", env.Do("PUT", queueBase+"/clear", tok).Expect(200).Map(), "deleted")
	env.Do("PUT", queueBase+"/processor/pause", tok).Expect(403)

	// Recall and client state.
	rc := env.Do("GET", "/api/v1/recall/default", tok).Expect(200).Map()
	wantKeys(t, "recall GET", rc, "status,queue_id,note")
	np := env.Do("POST", "/api/v1/recall/default", tok, apitest.JSON(map[string]any{})).Expect(200).Map()
	if np["status"] != "no_parameters_provided" || np["updated_count"] != float64(0) {
		t.Errorf("recall empty %v", np)
	}
	env.Do("POST", "/api/v1/recall/default", tok, apitest.JSON(map[string]any{"bogus": 1})).Expect(422)
	ok := env.Do("POST", "/api/v1/recall/default", tok, apitest.JSON(map[string]any{"positive_prompt": "p", "steps": 3})).Expect(200).Map()
	if ok["status"] != "success" || ok["updated_count"] != float64(2) {
		t.Errorf("recall %v", ok)
	}
	if v := string(env.Do("GET", "/api/v1/client_state/default/get_by_key?key=recall_steps", tok).Expect(200).Body); strings.TrimSpace(v) != `"3"` {
		t.Errorf("client state recall_steps %s", v)
	}
	env.Do("POST", "/api/v1/client_state/default/set_by_key?key=k", tok, apitest.JSON(`{"a":1}`)).Expect(200)
	if v := strings.TrimSpace(string(env.Do("GET", "/api/v1/client_state/x/get_by_key?key=k", tok).Expect(200).Body)); v != `"{\"a\":1}"` {
		t.Errorf("get_by_key %s", v)
	}
	if v := strings.TrimSpace(string(env.Do("GET", "/api/v1/client_state/x/get_by_key?key=k", apitest.Token(cast.Other.Token)).Expect(200).Body)); v != "null" {
		t.Errorf("other's get_by_key %s", v)
	}
	env.Do("POST", "/api/v1/client_state/default/delete", tok).Expect(200)
}
