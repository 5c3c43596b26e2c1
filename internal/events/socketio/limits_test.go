package socketio_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/events/socketio"
)

func pollingHandshake(t *testing.T, base string, header map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/ws/socket.io/?EIO=4&transport=polling", nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// One client cannot hold more than MaxPendingPerClient sessions that have not connected a socket: handshakes
// that never authenticate cannot crowd everyone else out. Connecting frees the slot.
func TestUnauthenticatedSessionsPerClientAreCapped(t *testing.T) {
	st := startStandalone(t, socketio.Options{Multiuser: true, MaxPendingPerClient: 4})
	var sids []string
	for i := 0; i < 4; i++ {
		code, body := pollingHandshake(t, st.url, nil)
		if code != 200 {
			t.Fatalf("handshake %d: %d %s", i, code, body)
		}
		var open struct {
			SID string `json:"sid"`
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(body, "0")), &open); err != nil || open.SID == "" {
			t.Fatalf("open packet %q", body)
		}
		sids = append(sids, open.SID)
	}
	if code, body := pollingHandshake(t, st.url, nil); code != http.StatusTooManyRequests {
		t.Fatalf("fifth pending session: %d %s", code, body)
	}
	// A socket that authenticates stops counting.
	req, _ := http.NewRequest("POST", st.url+"/ws/socket.io/?EIO=4&transport=polling&sid="+sids[0], strings.NewReader(`40{"token":"alice-token"}`))
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	// Read the CONNECT answer so the session is registered.
	get, _ := http.Get(st.url + "/ws/socket.io/?EIO=4&transport=polling&sid=" + sids[0])
	b, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if !strings.Contains(string(b), "40{") {
		t.Fatalf("CONNECT answer %q", b)
	}
	if code, body := pollingHandshake(t, st.url, nil); code != 200 {
		t.Fatalf("after one session authenticated: %d %s", code, body)
	}
}

// In single-user mode a socket needs no token, so a page on another site must not open one (it would read every
// event); multi-user sockets need a token and may come from anywhere. No answer lends credentials to an
// arbitrary origin, and "null" is never an allowed origin.
func TestSocketOriginsAndCORS(t *testing.T) {
	single := startStandalone(t, socketio.Options{Multiuser: false, AllowOrigins: []string{"http://ui.example"}})
	for origin, want := range map[string]int{
		"":                     200,
		"http://evil.example":  403,
		"null":                 403,
		"http://ui.example":    200,
		"http://ui.example:81": 403,
	} {
		h := map[string]string{}
		if origin != "" {
			h["Origin"] = origin
		}
		if code, body := pollingHandshake(t, single.url, h); code != want {
			t.Errorf("single-user, Origin %q: %d %s", origin, code, body)
		}
	}
	same := strings.TrimPrefix(single.url, "http://")
	if code, _ := pollingHandshake(t, single.url, map[string]string{"Origin": "http://" + same}); code != 200 {
		t.Errorf("same origin refused: %d", code)
	}
	multi := startStandalone(t, socketio.Options{Multiuser: true, AllowOrigins: []string{"*"}})
	req, _ := http.NewRequest("GET", multi.url+"/ws/socket.io/?EIO=4&transport=polling", nil)
	req.Header.Set("Origin", "http://evil.example")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Access-Control-Allow-Origin") != "*" || res.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("multi-user wildcard: %d %v", res.StatusCode, res.Header)
	}
	req.Header.Set("Origin", "null")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("null origin allowed: %v", res.Header)
	}
}
