// Package queue is InvokeAI's session queue: enqueueing batches (expanded into sessions), the scoping and
// sanitisation of queue items per caller, the processor that runs one session at a time with cancellation,
// the queue events, and the per-user recall parameters (stored in the client state, internal/clientstate).
package queue

import (
	"encoding/json"

	"github.com/invokego/invokego/internal/graph"
)

// BatchDatum is one field's values in a batch.
type BatchDatum struct {
	NodePath  string            `json:"node_path"`
	FieldName string            `json:"field_name"`
	Items     []json.RawMessage `json:"items"`
}

// Batch is what enqueue_batch receives.
type Batch struct {
	BatchID     *string         `json:"batch_id,omitempty"`
	Origin      *string         `json:"origin,omitempty"`
	Destination *string         `json:"destination,omitempty"`
	Graph       json.RawMessage `json:"graph"`
	Workflow    json.RawMessage `json:"workflow,omitempty"`
	Data        [][]BatchDatum  `json:"data,omitempty"`
	Runs        *int            `json:"runs,omitempty" ge:"1"`
}

// BatchEcho is the batch as EnqueueBatchResult returns it (batch_id filled in).
type BatchEcho struct {
	BatchID     string          `json:"batch_id"`
	Origin      *string         `json:"origin"`
	Destination *string         `json:"destination"`
	Graph       *graph.Graph    `json:"graph"`
	Workflow    json.RawMessage `json:"workflow"`
	Data        [][]BatchDatum  `json:"data"`
	Runs        int             `json:"runs"`
}

// EnqueueBatchResult answers enqueue_batch.
type EnqueueBatchResult struct {
	QueueID   string    `json:"queue_id"`
	Enqueued  int       `json:"enqueued"`
	Requested int       `json:"requested"`
	Batch     BatchEcho `json:"batch"`
	Priority  int64     `json:"priority"`
	ItemIDs   []int64   `json:"item_ids"`
}

// FieldValue is one batch value applied to a session.
type FieldValue struct {
	NodePath  string          `json:"node_path"`
	FieldName string          `json:"field_name"`
	Value     json.RawMessage `json:"value"`
}

// SessionQueueItem is a queue item as sent over the wire.
type SessionQueueItem struct {
	ItemID            int64           `json:"item_id"`
	Status            string          `json:"status"`
	Priority          int64           `json:"priority"`
	BatchID           string          `json:"batch_id"`
	Origin            *string         `json:"origin"`
	Destination       *string         `json:"destination"`
	SessionID         string          `json:"session_id"`
	ErrorType         *string         `json:"error_type"`
	ErrorMessage      *string         `json:"error_message"`
	ErrorTraceback    *string         `json:"error_traceback"`
	CreatedAt         string          `json:"created_at"`
	UpdatedAt         string          `json:"updated_at"`
	StartedAt         *string         `json:"started_at"`
	CompletedAt       *string         `json:"completed_at"`
	QueueID           string          `json:"queue_id"`
	UserID            string          `json:"user_id"`
	UserDisplayName   *string         `json:"user_display_name"`
	UserEmail         *string         `json:"user_email"`
	FieldValues       json.RawMessage `json:"field_values"`
	RetriedFromItemID *int64          `json:"retried_from_item_id"`
	Session           json.RawMessage `json:"session"`
	Workflow          json.RawMessage `json:"workflow"`
}

// ProcessorStatus is SessionProcessorStatus.
type ProcessorStatus struct {
	IsStarted    bool `json:"is_started"`
	IsProcessing bool `json:"is_processing"`
}

// Counts are the per-status counts shared by several results.
type Counts struct {
	Pending    int `json:"pending"`
	InProgress int `json:"in_progress"`
	Completed  int `json:"completed"`
	Failed     int `json:"failed"`
	Canceled   int `json:"canceled"`
	Total      int `json:"total"`
}

// QueueStatus is SessionQueueStatus with InvokeAI HEAD's per-caller counts (docs/security.md D14).
type QueueStatus struct {
	QueueID   string  `json:"queue_id"`
	ItemID    *int64  `json:"item_id"`
	BatchID   *string `json:"batch_id"`
	SessionID *string `json:"session_id"`
	Counts
	UserPending    int `json:"user_pending"`
	UserInProgress int `json:"user_in_progress"`
}

// StatusResult answers GET /status.
type StatusResult struct {
	Queue     QueueStatus     `json:"queue"`
	Processor ProcessorStatus `json:"processor"`
}

// BatchStatus answers GET /b/{batch_id}/status. Its redact tags give what others see of it in a queue event.
type BatchStatus struct {
	QueueID     string  `json:"queue_id"`
	BatchID     string  `json:"batch_id" redact:"id"`
	Origin      *string `json:"origin" redact:"zero"`
	Destination *string `json:"destination" redact:"zero"`
	Counts      `redact:"zero"`
}

// CountsByDestination answers GET /counts_by_destination.
type CountsByDestination struct {
	QueueID     string `json:"queue_id"`
	Destination string `json:"destination"`
	Counts
}

// ItemIDsResult answers GET /item_ids.
type ItemIDsResult struct {
	ItemIDs    []int64 `json:"item_ids"`
	TotalCount int     `json:"total_count"`
}

// RetryItemsResult answers PUT /retry_items_by_id.
type RetryItemsResult struct {
	QueueID        string  `json:"queue_id"`
	RetriedItemIDs []int64 `json:"retried_item_ids"`
}

// DeletedResult is ClearResult, PruneResult and the other {deleted} results.
type DeletedResult struct {
	Deleted int `json:"deleted"`
}

// CanceledResult is CancelByBatchIDsResult and the other {canceled} results.
type CanceledResult struct {
	Canceled int `json:"canceled"`
}
