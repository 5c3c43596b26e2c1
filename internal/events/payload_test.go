package events

import (
	"encoding/json"
	"testing"
)

type Counts struct {
	Pending int `json:"pending"`
	Total   int `json:"total"`
}

type inner struct {
	ID    string  `json:"id" redact:"id"`
	Where *string `json:"where" redact:"zero"`
	Kept  string  `json:"kept"`
	Counts
}

type outer struct {
	QueueID string            `json:"queue_id"`
	Owner   string            `json:"owner" redact:"id"`
	Secret  map[string]string `json:"secret" redact:"zero"`
	Status  *inner            `json:"status" redact:"nested"`
	Value   inner             `json:"value" redact:"nested"`
	Mine    int               `json:"mine" redact:"viewer"`
	Hidden  string            `json:"-"`
	Maybe   *int              `json:"maybe,omitempty"`
	private string
}

func TestFieldsAndRedact(t *testing.T) {
	where := "here"
	in := inner{ID: "b1", Where: &where, Kept: "k", Counts: Counts{Pending: 2, Total: 3}}
	ev := outer{QueueID: "default", Owner: "alice", Secret: map[string]string{"a": "b"}, Status: &in, Value: in, Mine: 4,
		Hidden: "h", private: "p"}
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"full", ev, `{"mine":4,"owner":"alice","queue_id":"default","secret":{"a":"b"},` +
			`"status":{"id":"b1","where":"here","kept":"k","pending":2,"total":3},` +
			`"value":{"id":"b1","where":"here","kept":"k","pending":2,"total":3}}`},
		{"redacted", Redact(ev), `{"mine":0,"owner":"redacted","queue_id":"default","secret":null,` +
			`"status":{"id":"redacted","where":null,"kept":"k","pending":2,"total":3},` +
			`"value":{"id":"redacted","where":null,"kept":"k","pending":2,"total":3}}`},
		{"pointer", Redact(&ev), `{"mine":0,"owner":"redacted","queue_id":"default","secret":null,` +
			`"status":{"id":"redacted","where":null,"kept":"k","pending":2,"total":3},` +
			`"value":{"id":"redacted","where":null,"kept":"k","pending":2,"total":3}}`},
		{"embedded flattened", in, `{"id":"b1","kept":"k","pending":2,"total":3,"where":"here"}`},
	} {
		b, err := json.Marshal(Fields(tc.v))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, b, tc.want)
		}
	}
	// Redact copies: the original, and what its pointers reach, are left as they were.
	if ev.Owner != "alice" || ev.Status.ID != "b1" || *ev.Status.Where != "here" || ev.Secret == nil {
		t.Fatalf("Redact changed its argument: %+v %+v", ev, *ev.Status)
	}
	// Nil pointers, maps and slices are plain nils in the map, as a hand-written payload's would be.
	if m := Fields(Redact(ev)); m["secret"] != nil || m["status"].(*inner).Where != nil {
		t.Fatalf("nil values: %#v", m)
	}
	if m := Fields(inner{}); m["where"] != nil {
		t.Fatalf("a nil pointer field reads %#v, want nil", m["where"])
	}
	one := 1
	ev.Maybe = &one
	if m := Fields(ev); m["maybe"] != &one {
		t.Fatalf("omitempty field with a value: %v", m["maybe"])
	}
}

func TestRedactRefusesMistakes(t *testing.T) {
	for name, v := range map[string]any{
		"id on a number": struct {
			N int `redact:"id"`
		}{},
		"unknown tag": struct {
			S string `redact:"secret"`
		}{},
		"not a struct": 3,
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			Redact(v)
		}()
	}
}
