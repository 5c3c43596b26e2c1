package api

import (
	"net/http"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/queue"
)

var queueTags = []string{"queue"}

// maxBatchBody bounds enqueue_batch bodies: a graph of the node and edge limits with generous values.
const maxBatchBody = 32 << 20

type queuePath struct {
	QueueID string `path:"queue_id" description:"The queue id to perform this operation on"`
}

type enqueueBatchBody struct {
	Batch   queue.Batch `json:"batch"`
	Prepend bool        `json:"prepend" default:"false" description:"Whether or not to prepend this batch in the queue"`
}

type enqueueBatchIn struct {
	QueueID string           `path:"queue_id"`
	Body    enqueueBatchBody `body:"json"`
}

type listAllIn struct {
	QueueID     string  `path:"queue_id"`
	Destination *string `query:"destination"`
}

type itemIDsIn struct {
	QueueID  string          `path:"queue_id"`
	OrderDir SQLiteDirection `query:"order_dir" default:"DESC"`
}

type itemIDsBody struct {
	ItemIDs []int64 `json:"item_ids"`
}

type itemsByIDsIn struct {
	QueueID string      `path:"queue_id"`
	Body    itemIDsBody `body:"json"`
}

type batchIDsBody struct {
	BatchIDs []string `json:"batch_ids"`
}

type cancelByBatchIn struct {
	QueueID string       `path:"queue_id"`
	Body    batchIDsBody `body:"json"`
}

type destinationQueryIn struct {
	QueueID     string `path:"queue_id"`
	Destination string `query:"destination" required:"true"`
}

type retryIn struct {
	QueueID string  `path:"queue_id"`
	Body    []int64 `body:"json"`
}

type batchStatusIn struct {
	QueueID string `path:"queue_id"`
	BatchID string `path:"batch_id"`
}

type itemIn struct {
	QueueID string `path:"queue_id"`
	ItemID  int64  `path:"item_id"`
}

type destinationPathIn struct {
	QueueID     string `path:"queue_id"`
	Destination string `path:"destination"`
}

// QueueRoutes are /api/v1/queue/{queue_id}/*.
func QueueRoutes(svc *queue.Service) []Route {
	const base = "/api/v1/queue/{queue_id}"
	op := func(method, path, summary string, policy access.Policy) Op {
		return Op{Method: method, Path: base + path, Summary: summary, Tags: queueTags, Policy: policy}
	}
	enqueue := op(http.MethodPost, "/enqueue_batch", "Enqueue Batch", access.LoggedIn)
	enqueue.MaxBody = maxBatchBody
	enqueue.Description = "Processes a batch and enqueues the output graphs for execution."
	return []Route{
		JSON(enqueue, func(c *Call, in *enqueueBatchIn) (*queue.EnqueueBatchResult, error) {
			return svc.Enqueue(c.Context(), c.Principal, in.QueueID, in.Body.Batch, in.Body.Prepend)
		}),
		JSON(op(http.MethodGet, "/list_all", "List All Queue Items", access.LoggedIn), func(c *Call, in *listAllIn) ([]queue.SessionQueueItem, error) {
			return svc.ListAll(c.Context(), c.Principal, in.QueueID, in.Destination)
		}),
		JSON(op(http.MethodGet, "/item_ids", "Get Queue Item Ids", access.LoggedIn), func(c *Call, in *itemIDsIn) (*queue.ItemIDsResult, error) {
			return svc.ItemIDs(c.Context(), c.Principal, in.QueueID, in.OrderDir == "DESC")
		}),
		JSON(op(http.MethodPost, "/items_by_ids", "Get Queue Items By Item Ids", access.LoggedIn), func(c *Call, in *itemsByIDsIn) ([]queue.SessionQueueItem, error) {
			return svc.ItemsByIDs(c.Context(), c.Principal, in.QueueID, in.Body.ItemIDs)
		}),
		JSON(op(http.MethodPut, "/processor/resume", "Resume", access.Admin), func(c *Call, _ *queuePath) (queue.ProcessorStatus, error) {
			return svc.Resume(c.Principal)
		}),
		JSON(op(http.MethodPut, "/processor/pause", "Pause", access.Admin), func(c *Call, _ *queuePath) (queue.ProcessorStatus, error) {
			return svc.Pause(c.Principal)
		}),
		JSON(op(http.MethodPut, "/cancel_all_except_current", "Cancel All Except Current", access.LoggedIn), func(c *Call, in *queuePath) (queue.CanceledResult, error) {
			n, err := svc.CancelAllExceptCurrent(c.Context(), c.Principal, in.QueueID)
			return queue.CanceledResult{Canceled: n}, err
		}),
		JSON(op(http.MethodPut, "/delete_all_except_current", "Delete All Except Current", access.LoggedIn), func(c *Call, in *queuePath) (queue.DeletedResult, error) {
			n, err := svc.DeleteAllExceptCurrent(c.Context(), c.Principal, in.QueueID)
			return queue.DeletedResult{Deleted: n}, err
		}),
		JSON(op(http.MethodPut, "/cancel_by_batch_ids", "Cancel By Batch Ids", access.LoggedIn), func(c *Call, in *cancelByBatchIn) (queue.CanceledResult, error) {
			n, err := svc.CancelByBatchIDs(c.Context(), c.Principal, in.QueueID, in.Body.BatchIDs)
			return queue.CanceledResult{Canceled: n}, err
		}),
		JSON(op(http.MethodPut, "/cancel_by_destination", "Cancel By Destination", access.LoggedIn), func(c *Call, in *destinationQueryIn) (queue.CanceledResult, error) {
			n, err := svc.CancelByDestination(c.Context(), c.Principal, in.QueueID, in.Destination)
			return queue.CanceledResult{Canceled: n}, err
		}),
		JSON(op(http.MethodPut, "/retry_items_by_id", "Retry Items By Id", access.LoggedIn), func(c *Call, in *retryIn) (*queue.RetryItemsResult, error) {
			return svc.RetryItems(c.Context(), c.Principal, in.QueueID, in.Body)
		}),
		JSON(op(http.MethodPut, "/clear", "Clear", access.LoggedIn), func(c *Call, in *queuePath) (queue.DeletedResult, error) {
			n, err := svc.Clear(c.Context(), c.Principal, in.QueueID)
			return queue.DeletedResult{Deleted: n}, err
		}),
		JSON(op(http.MethodPut, "/prune", "Prune", access.LoggedIn), func(c *Call, in *queuePath) (queue.DeletedResult, error) {
			n, err := svc.Prune(c.Context(), c.Principal, in.QueueID)
			return queue.DeletedResult{Deleted: n}, err
		}),
		JSON(op(http.MethodGet, "/current", "Get Current Queue Item", access.LoggedIn), func(c *Call, in *queuePath) (*queue.SessionQueueItem, error) {
			return svc.Current(c.Context(), c.Principal, in.QueueID)
		}),
		JSON(op(http.MethodGet, "/next", "Get Next Queue Item", access.LoggedIn), func(c *Call, in *queuePath) (*queue.SessionQueueItem, error) {
			return svc.Next(c.Context(), c.Principal, in.QueueID)
		}),
		JSON(op(http.MethodGet, "/status", "Get Queue Status", access.LoggedIn), func(c *Call, in *queuePath) (*queue.StatusResult, error) {
			return svc.Status(c.Context(), c.Principal, in.QueueID)
		}),
		JSON(op(http.MethodGet, "/b/{batch_id}/status", "Get Batch Status", access.LoggedIn), func(c *Call, in *batchStatusIn) (*queue.BatchStatus, error) {
			return svc.BatchStatus(c.Context(), c.Principal, in.QueueID, in.BatchID)
		}),
		JSON(op(http.MethodGet, "/i/{item_id}", "Get Queue Item", access.LoggedIn), func(c *Call, in *itemIn) (map[string]any, error) {
			return svc.GetItem(c.Context(), c.Principal, in.QueueID, in.ItemID)
		}),
		JSON(op(http.MethodDelete, "/i/{item_id}", "Delete Queue Item", access.LoggedIn), func(c *Call, in *itemIn) (any, error) {
			return nil, svc.DeleteItem(c.Context(), c.Principal, in.QueueID, in.ItemID)
		}),
		JSON(op(http.MethodPut, "/i/{item_id}/cancel", "Cancel Queue Item", access.LoggedIn), func(c *Call, in *itemIn) (*queue.SessionQueueItem, error) {
			return svc.CancelItem(c.Context(), c.Principal, in.QueueID, in.ItemID)
		}),
		JSON(op(http.MethodGet, "/counts_by_destination", "Counts By Destination", access.LoggedIn), func(c *Call, in *destinationQueryIn) (*queue.CountsByDestination, error) {
			return svc.CountsByDestination(c.Context(), c.Principal, in.QueueID, in.Destination)
		}),
		JSON(op(http.MethodDelete, "/d/{destination}", "Delete By Destination", access.LoggedIn), func(c *Call, in *destinationPathIn) (queue.DeletedResult, error) {
			n, err := svc.DeleteByDestination(c.Context(), c.Principal, in.QueueID, in.Destination)
			return queue.DeletedResult{Deleted: n}, err
		}),
	}
}
