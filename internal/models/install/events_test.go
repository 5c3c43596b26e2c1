package install

import (
	"encoding/json"
	"testing"

	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/models"
)

// Each event's JSON is InvokeAI's payload, key for key (the socket server sends it as events.Fields gives it).
func TestEventPayloadsKeepTheirJSON(t *testing.T) {
	ie := InstallEvent{ID: 7, Source: "a/b"}
	for _, tc := range []struct {
		name string
		ev   any
		want string
	}{
		{"model_install_started", ie, `{"id":7,"source":"a/b"}`},
		{"model_install_error", InstallErrorEvent{InstallEvent: ie, ErrorType: "ValueError", Error: "bad"},
			`{"error":"bad","error_type":"ValueError","id":7,"source":"a/b"}`},
		{"model_install_complete", InstallCompleteEvent{InstallEvent: ie, Key: "k", TotalBytes: 9, Config: &models.Config{}},
			`{"config":` + mustJSON(t, &models.Config{}) + `,"id":7,"key":"k","source":"a/b","total_bytes":9}`},
		{"model_install_download_progress", InstallDownloadProgressEvent{InstallEvent: ie, LocalPath: "/l", Bytes: 1, TotalBytes: 2,
			Parts: []PartProgress{{URL: "u", LocalPath: "/p", Bytes: 1, TotalBytes: 2}}},
			`{"bytes":1,"id":7,"local_path":"/l","parts":[{"bytes":1,"local_path":"/p","total_bytes":2,"url":"u"}],"source":"a/b","total_bytes":2}`},
		{"download_cancelled", DownloadEvent{Source: "u"}, `{"source":"u"}`},
		{"download_started", DownloadStartedEvent{Source: "u", DownloadPath: "/p"}, `{"download_path":"/p","source":"u"}`},
		{"download_progress", DownloadProgressEvent{Source: "u", DownloadPath: "/p", CurrentBytes: 1, TotalBytes: 2},
			`{"current_bytes":1,"download_path":"/p","source":"u","total_bytes":2}`},
		{"download_complete", DownloadCompleteEvent{Source: "u", DownloadPath: "/p", TotalBytes: 2}, `{"download_path":"/p","source":"u","total_bytes":2}`},
		{"download_error", DownloadErrorEvent{Source: "u", ErrorType: "E", Error: "x"}, `{"error":"x","error_type":"E","source":"u"}`},
	} {
		if got := mustJSON(t, events.Fields(tc.ev)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
