package gallery_test

import (
	"encoding/json"
	"testing"

	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/gallery"
)

// The bulk-download events' JSON is InvokeAI's payload, key for key (the socket server sends events.Fields).
func TestBulkDownloadEventJSON(t *testing.T) {
	ev := gallery.BulkDownloadEvent{BulkDownloadID: gallery.BulkDownloadRoom, BulkDownloadItemID: "i", BulkDownloadItemName: "n.zip", UserID: "u"}
	for _, tc := range []struct {
		ev   any
		want string
	}{
		{ev, `{"bulk_download_id":"` + gallery.BulkDownloadRoom + `","bulk_download_item_id":"i","bulk_download_item_name":"n.zip","user_id":"u"}`},
		{gallery.BulkDownloadErrorEvent{BulkDownloadEvent: ev, Error: "e"},
			`{"bulk_download_id":"` + gallery.BulkDownloadRoom + `","bulk_download_item_id":"i","bulk_download_item_name":"n.zip","error":"e","user_id":"u"}`},
	} {
		b, err := json.Marshal(events.Fields(tc.ev))
		if err != nil || string(b) != tc.want {
			t.Errorf("%T: %s (%v), want %s", tc.ev, b, err, tc.want)
		}
	}
}
