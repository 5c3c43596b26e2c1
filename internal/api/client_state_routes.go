package api

import (
	"net/http"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/clientstate"
)

type clientStateKeyIn struct {
	QueueID string `path:"queue_id"`
	Key     string `query:"key" required:"true"`
}

type clientStateSetIn struct {
	QueueID string `path:"queue_id"`
	Key     string `query:"key" required:"true"`
	Value   string `body:"json"`
}

// maxClientStateBody bounds one set_by_key body (the UI stores serialised slices of its state).
const maxClientStateBody = 8 << 20

// ClientStateRoutes are /api/v1/client_state/{queue_id}/*; the queue id is ignored, the state is per user.
func ClientStateRoutes(svc *clientstate.Service) []Route {
	tags := []string{"client_state"}
	const base = "/api/v1/client_state/{queue_id}"
	return []Route{
		JSON(Op{Method: http.MethodGet, Path: base + "/get_by_key", Summary: "Get Client State By Key", Tags: tags, Policy: access.LoggedIn},
			func(c *Call, in *clientStateKeyIn) (*string, error) {
				return svc.Get(c.Context(), c.Principal, in.Key)
			}),
		JSON(Op{Method: http.MethodPost, Path: base + "/set_by_key", Summary: "Set Client State", Tags: tags, Policy: access.LoggedIn, MaxBody: maxClientStateBody},
			func(c *Call, in *clientStateSetIn) (string, error) {
				return svc.Set(c.Context(), c.Principal, in.Key, in.Value)
			}),
		JSON(Op{Method: http.MethodPost, Path: base + "/delete", Summary: "Delete Client State", Tags: tags, Policy: access.LoggedIn},
			func(c *Call, _ *queuePath) (any, error) {
				return nil, svc.DeleteAll(c.Context(), c.Principal)
			}),
	}
}
