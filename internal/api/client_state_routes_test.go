package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

// uiStateValue is a slice of state as InvokeAI's UI persists it: JSON.stringify of the slice, sent as the body
// of a fetch() whose body is a string, so the browser labels it text/plain;charset=UTF-8.
const uiStateValue = `{"_version":2,"positivePrompt":"a {red|blue} fox","steps":30,"cfgScale":7.5,"note":"naïve ✓"}`

// TestClientStateTakesTheUIsTextPlainBody replays what InvokeAI's redux-remember driver sends, in both modes:
// the stored value is the raw body, and the answer is that value as a JSON string (the driver res.json()s it).
func TestClientStateTakesTheUIsTextPlainBody(t *testing.T) {
	for _, multiuser := range []bool{false, true} {
		name := "single-user"
		if multiuser {
			name = "multi-user"
		}
		t.Run(name, func(t *testing.T) {
			var opts []apitest.Option
			if multiuser {
				opts = append(opts, apitest.Multiuser())
			}
			env := apitest.New(t, opts...)
			var auth []apitest.ReqOpt
			if multiuser {
				cast := env.Cast()
				auth = append(auth, apitest.Token(cast.Owner.Token))
			}
			set := append([]apitest.ReqOpt{apitest.RawBody("text/plain;charset=UTF-8", []byte(uiStateValue))}, auth...)
			var echoed string
			env.Do("POST", "/api/v1/client_state/default/set_by_key?key=params", set...).Expect(http.StatusOK).Decode(&echoed)
			if echoed != uiStateValue {
				t.Fatalf("set_by_key answered %q, want the raw body", echoed)
			}
			var got *string
			env.Do("GET", "/api/v1/client_state/default/get_by_key?key=params", auth...).Expect(http.StatusOK).Decode(&got)
			if got == nil || *got != uiStateValue {
				t.Fatalf("get_by_key = %v, want the raw body", got)
			}

			// A JSON body is still a JSON string (scripts, and InvokeAI's own schema).
			jsonBody, _ := json.Marshal(uiStateValue + "!")
			env.Do("POST", "/api/v1/client_state/default/set_by_key?key=params", append([]apitest.ReqOpt{apitest.RawBody("application/json", jsonBody)}, auth...)...).Expect(http.StatusOK)
			env.Do("GET", "/api/v1/client_state/default/get_by_key?key=params", auth...).Expect(http.StatusOK).Decode(&got)
			if got == nil || *got != uiStateValue+"!" {
				t.Fatalf("after a JSON set: %v", got)
			}
			// As in FastAPI, JSON that is not a string is refused when the content type says JSON...
			res := env.Do("POST", "/api/v1/client_state/default/set_by_key?key=params", append([]apitest.ReqOpt{apitest.RawBody("application/json", []byte(uiStateValue))}, auth...)...)
			if res.Status != http.StatusUnprocessableEntity {
				t.Fatalf("an object with a JSON content type: %d %s", res.Status, res.Body)
			}
			// ...while any other content type stores the bytes as they are, even when they look like JSON.
			env.Do("POST", "/api/v1/client_state/default/set_by_key?key=quoted", append([]apitest.ReqOpt{apitest.RawBody("text/plain", []byte(`"quoted"`))}, auth...)...).Expect(http.StatusOK)
			env.Do("GET", "/api/v1/client_state/default/get_by_key?key=quoted", auth...).Expect(http.StatusOK).Decode(&got)
			if got == nil || *got != `"quoted"` {
				t.Fatalf("text/plain %q stored as %v", `"quoted"`, got)
			}

			// Bad input: an empty body, bytes that are not UTF-8, a body over the bound.
			for _, c := range []struct {
				body   []byte
				status int
			}{
				{nil, http.StatusUnprocessableEntity},
				{[]byte{'a', 0xff, 0xfe}, http.StatusUnprocessableEntity},
				{bytes.Repeat([]byte("x"), 8<<20+1), http.StatusRequestEntityTooLarge},
			} {
				res := env.Do("POST", "/api/v1/client_state/default/set_by_key?key=bad", append([]apitest.ReqOpt{apitest.RawBody("text/plain;charset=UTF-8", c.body)}, auth...)...)
				if res.Status != c.status || !strings.Contains(string(res.Body), "detail") {
					t.Errorf("body of %d bytes: %d %s, want %d with a detail", len(c.body), res.Status, res.Body, c.status)
				}
			}
			env.Do("GET", "/api/v1/client_state/default/get_by_key?key=bad", auth...).Expect(http.StatusOK).Decode(&got)
			if got != nil {
				t.Fatalf("a refused body was stored: %q", *got)
			}
			// From the UI's own page (same origin, as the browser labels it) the text/plain write works; from another
			// site it is refused in single-user mode, where no token shows who sent it (docs/security.md), and
			// stored nothing. With a bearer token the sender holds the token, and the write stands.
			sameOrigin := append([]apitest.ReqOpt{apitest.RawBody("text/plain;charset=UTF-8", []byte(`"same"`)),
				apitest.Header("Origin", env.URL), apitest.Header("Sec-Fetch-Site", "same-origin")}, auth...)
			env.Do("POST", "/api/v1/client_state/default/set_by_key?key=origin", sameOrigin...).Expect(http.StatusOK)
			crossSite := append([]apitest.ReqOpt{apitest.RawBody("text/plain;charset=UTF-8", []byte(`"evil"`)),
				apitest.Header("Origin", "https://evil.example"), apitest.Header("Sec-Fetch-Site", "cross-site")}, auth...)
			res = env.Do("POST", "/api/v1/client_state/default/set_by_key?key=origin", crossSite...)
			want := `"same"`
			if multiuser {
				res.Expect(http.StatusOK)
				want = `"evil"`
			} else {
				res.Expect(http.StatusForbidden)
			}
			env.Do("GET", "/api/v1/client_state/default/get_by_key?key=origin", auth...).Expect(http.StatusOK).Decode(&got)
			if got == nil || *got != want {
				t.Fatalf("after a cross-site write: %v, want %s", got, want)
			}

			// The largest value the bound allows is kept whole.
			big := strings.Repeat("y", 8<<20)
			env.Do("POST", "/api/v1/client_state/default/set_by_key?key=big", append([]apitest.ReqOpt{apitest.RawBody("text/plain;charset=UTF-8", []byte(big))}, auth...)...).Expect(http.StatusOK)
			env.Do("GET", "/api/v1/client_state/default/get_by_key?key=big", auth...).Expect(http.StatusOK).Decode(&got)
			if got == nil || len(*got) != len(big) {
				t.Fatalf("the largest value was not kept whole")
			}
		})
	}
}
