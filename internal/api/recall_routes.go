package api

import (
	"net/http"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/queue"
)

type recallIn struct {
	QueueID string                `path:"queue_id"`
	Body    queue.RecallParameter `body:"json,forbid"`
}

// RecallInfo is GET /recall/{queue_id}'s static answer.
type RecallInfo struct {
	Status  string `json:"status"`
	QueueID string `json:"queue_id"`
	Note    string `json:"note"`
}

// RecallRoutes are /api/v1/recall/{queue_id}.
func RecallRoutes(svc *queue.Recall) []Route {
	tags := []string{"recall"}
	return []Route{
		JSON(Op{Method: http.MethodPost, Path: "/api/v1/recall/{queue_id}", Summary: "Update Recall Parameters", Tags: tags, Policy: access.LoggedIn,
			Description: "Stores recallable generation parameters for the caller and notifies their frontend."},
			func(c *Call, in *recallIn) (*queue.RecallResult, error) {
				return svc.Update(c.Context(), c.Principal, in.QueueID, in.Body)
			}),
		JSON(Op{Method: http.MethodGet, Path: "/api/v1/recall/{queue_id}", Summary: "Get Recall Parameters", Tags: tags, Policy: access.LoggedIn},
			func(c *Call, in *queuePath) (RecallInfo, error) {
				return RecallInfo{Status: "success", QueueID: in.QueueID,
					Note: "Use the frontend to access stored recall parameters, or set specific parameters using POST"}, nil
			}),
	}
}
