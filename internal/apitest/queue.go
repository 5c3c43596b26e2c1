package apitest

import (
	"bytes"
	"image"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"time"
)

// QueueItem is a queue item as GET /api/v1/queue/{q}/i/{id} returns it, with the fields tests read.
type QueueItem struct {
	ItemID       int    `json:"item_id"`
	Status       string `json:"status"`
	ErrorType    string `json:"error_type"`
	ErrorMessage string `json:"error_message"`
	Session      struct {
		Results map[string]map[string]any `json:"results"`
		Mapping map[string][]string       `json:"source_prepared_mapping"`
	} `json:"session"`
}

// Enqueue enqueues one run of graph on the default queue and returns the new items' ids.
func (e *Env) Enqueue(graph map[string]any, opts ...ReqOpt) []int {
	e.T.Helper()
	var res struct {
		ItemIDs []int `json:"item_ids"`
	}
	body := map[string]any{"batch": map[string]any{"graph": graph, "runs": 1}, "prepend": false}
	e.Do("POST", "/api/v1/queue/default/enqueue_batch", append([]ReqOpt{JSON(body)}, opts...)...).
		Expect(http.StatusOK).Decode(&res)
	return res.ItemIDs
}

// WaitItem polls item id until it is completed, failed or canceled, and fails the test after timeout.
func (e *Env) WaitItem(id int, timeout time.Duration, opts ...ReqOpt) QueueItem {
	e.T.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var it QueueItem
		e.Do("GET", "/api/v1/queue/default/i/"+strconv.Itoa(id), opts...).Expect(http.StatusOK).Decode(&it)
		switch it.Status {
		case "completed", "failed", "canceled":
			return it
		}
		if time.Now().After(deadline) {
			e.T.Fatalf("item %d still %s after %v", id, it.Status, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RunGraph enqueues one run of graph and waits for its item to finish.
func (e *Env) RunGraph(graph map[string]any, timeout time.Duration, opts ...ReqOpt) QueueItem {
	e.T.Helper()
	ids := e.Enqueue(graph, opts...)
	if len(ids) != 1 {
		e.T.Fatalf("enqueued %d items, want 1", len(ids))
	}
	return e.WaitItem(ids[0], timeout, opts...)
}

// UploadPNG uploads img as a general, non-intermediate image and returns its name.
func (e *Env) UploadPNG(img image.Image, opts ...ReqOpt) string {
	e.T.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		e.T.Fatal(err)
	}
	return e.UploadImage(buf.Bytes(), "general", false, opts...)
}

// UploadImage uploads an encoded image file in the given image category and returns its name.
func (e *Env) UploadImage(data []byte, category string, intermediate bool, opts ...ReqOpt) string {
	e.T.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="in.png"`)
	h.Set("Content-Type", "image/png")
	fw, err := mw.CreatePart(h)
	if err != nil {
		e.T.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	var dto struct {
		ImageName string `json:"image_name"`
	}
	path := "/api/v1/images/upload?image_category=" + category + "&is_intermediate=" + strconv.FormatBool(intermediate)
	e.Do("POST", path, append([]ReqOpt{RawBody(mw.FormDataContentType(), body.Bytes())}, opts...)...).
		Expect(http.StatusCreated).Decode(&dto)
	return dto.ImageName
}

// Graph makes a graph of nodes (keyed by id; each node's "id" is set to its key) and edges.
func Graph(nodes map[string]any, edges []any) map[string]any {
	for id, n := range nodes {
		n.(map[string]any)["id"] = id
	}
	return map[string]any{"id": "g", "nodes": nodes, "edges": edges}
}
