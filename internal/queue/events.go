package queue

import (
	"context"
	"encoding/json"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/store"
)

// Redacted replaces ids in the sanitised companions of queue events (docs/security.md D15).
const Redacted = events.Redacted

// The queue's events, one type each: the json tags give InvokeAI's payload, the redact tags the copy the rest
// of the queue room receives (events.Redact; docs/security.md D15).

// BatchEnqueuedEvent is batch_enqueued: in full to owner and admins, the counts alone to the rest of the room.
type BatchEnqueuedEvent struct {
	QueueID   string  `json:"queue_id"`
	BatchID   string  `json:"batch_id" redact:"id"`
	Enqueued  int     `json:"enqueued"`
	Requested int     `json:"requested"`
	Priority  int64   `json:"priority"`
	Origin    *string `json:"origin" redact:"zero"`
	UserID    string  `json:"user_id" redact:"id"`
}

// QueueItemStatusChangedEvent is queue_item_status_changed for an item as it is now stored. Others learn that
// an item changed status, not whose it is, what it ran or how big its owner's batch is.
type QueueItemStatusChangedEvent struct {
	QueueID        string       `json:"queue_id"`
	ItemID         int64        `json:"item_id"`
	BatchID        string       `json:"batch_id" redact:"id"`
	Origin         *string      `json:"origin" redact:"zero"`
	Destination    *string      `json:"destination" redact:"zero"`
	UserID         string       `json:"user_id" redact:"id"`
	SessionID      string       `json:"session_id" redact:"id"`
	Status         string       `json:"status"`
	ErrorType      *string      `json:"error_type" redact:"zero"`
	ErrorMessage   *string      `json:"error_message" redact:"zero"`
	ErrorTraceback *string      `json:"error_traceback" redact:"zero"`
	CreatedAt      string       `json:"created_at"`
	UpdatedAt      string       `json:"updated_at"`
	StartedAt      *string      `json:"started_at"`
	CompletedAt    *string      `json:"completed_at"`
	BatchStatus    *BatchStatus `json:"batch_status" redact:"nested"`
	// QueueStatus is what each receiver may know of the queue (docs/security.md D14).
	QueueStatus QueueStatus `json:"queue_status" redact:"viewer"`
}

// QueueClearedEvent is queue_cleared: the queue room refetches.
type QueueClearedEvent struct {
	QueueID string `json:"queue_id"`
}

// QueueItemsRetriedEvent is queue_items_retried (the new items' ids only).
type QueueItemsRetriedEvent struct {
	QueueID        string  `json:"queue_id"`
	RetriedItemIDs []int64 `json:"retried_item_ids"`
}

// QueueItemsCanceledEvent is InvokeAI HEAD's queue_items_canceled, for a bulk cancel.
type QueueItemsCanceledEvent struct {
	QueueID string `json:"queue_id"`
}

// InvocationEvent is the common part of the invocation_* events, which only owner and admins receive.
type InvocationEvent struct {
	QueueID            string                     `json:"queue_id"`
	ItemID             int64                      `json:"item_id"`
	BatchID            string                     `json:"batch_id"`
	Origin             *string                    `json:"origin"`
	Destination        *string                    `json:"destination"`
	UserID             string                     `json:"user_id"`
	SessionID          string                     `json:"session_id"`
	Invocation         map[string]json.RawMessage `json:"invocation"`
	InvocationSourceID string                     `json:"invocation_source_id"`
}

// InvocationCompleteEvent is invocation_complete.
type InvocationCompleteEvent struct {
	InvocationEvent
	Result map[string]json.RawMessage `json:"result"`
}

// InvocationErrorEvent is invocation_error.
type InvocationErrorEvent struct {
	InvocationEvent
	ErrorType      string `json:"error_type"`
	ErrorMessage   string `json:"error_message"`
	ErrorTraceback string `json:"error_traceback"`
}

// InvocationProgressEvent is invocation_progress. The preview is the owner's alone: the socket layer sends
// admins a copy with image null (docs/security.md D15).
type InvocationProgressEvent struct {
	InvocationEvent
	Message    string   `json:"message"`
	Percentage *float64 `json:"percentage"`
	// Image is the preview, {width, height, dataURL} (a map, as the socket layer and the node tests read it), or nil.
	Image map[string]any `json:"image"`
}

// RecallParametersUpdatedEvent is recall_parameters_updated, to the caller and admins.
type RecallParametersUpdatedEvent struct {
	QueueID    string         `json:"queue_id"`
	UserID     string         `json:"user_id"`
	Parameters map[string]any `json:"parameters"`
}

func (s *Service) publish(e events.Event) {
	if s.events != nil {
		s.events.Publish(e)
	}
}

// queueEvent sends a queue-room event: in full to owner and admins, its redacted copy to the rest of the room.
func queueEvent[T any](name, userID, queueID string, payload T) events.Event {
	return events.Event{Name: name, UserID: userID, Audience: events.Queue, QueueID: queueID,
		Payload: events.Fields(payload), Sanitized: events.Fields(events.Redact(payload))}
}

func (s *Service) publishBatchEnqueued(userID string, r *EnqueueBatchResult) {
	s.publish(queueEvent("batch_enqueued", userID, r.QueueID, BatchEnqueuedEvent{QueueID: r.QueueID, BatchID: r.Batch.BatchID,
		Enqueued: r.Enqueued, Requested: r.Requested, Priority: r.Priority, Origin: r.Batch.Origin, UserID: userID}))
}

// publishStatusChanged emits queue_item_status_changed for an item as it is now stored.
func (s *Service) publishStatusChanged(ctx context.Context, it *store.QueueItem) {
	owner := access.Principal{UserID: it.UserID, Authenticated: true}
	view, err := s.queueStatusView(ctx, it.QueueID)
	if err != nil {
		s.logger.Warn("queue status for event", "item_id", it.ItemID, "error", err)
		view = func(access.Principal) QueueStatus { return QueueStatus{QueueID: it.QueueID} }
	}
	bs, err := s.BatchStatus(ctx, owner, it.QueueID, it.BatchID)
	if err != nil || bs == nil {
		s.logger.Warn("batch status for event", "item_id", it.ItemID, "error", err)
		bs = &BatchStatus{QueueID: it.QueueID, BatchID: it.BatchID}
	}
	ev := QueueItemStatusChangedEvent{QueueID: it.QueueID, ItemID: it.ItemID, BatchID: it.BatchID, Origin: it.Origin,
		Destination: it.Destination, UserID: it.UserID, SessionID: it.SessionID, Status: it.Status, ErrorType: it.ErrorType,
		ErrorMessage: it.ErrorMessage, ErrorTraceback: it.ErrorTraceback, CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt,
		StartedAt: it.StartedAt, CompletedAt: it.CompletedAt, BatchStatus: bs, QueueStatus: view(owner)}
	sanitized := events.Redact(ev)
	sanitized.QueueStatus = view(access.Anonymous())
	e := queueEvent("queue_item_status_changed", it.UserID, it.QueueID, ev)
	e.Sanitized = events.Fields(sanitized)
	e.PerRecipient = func(viewer access.Principal) map[string]any { return map[string]any{"queue_status": view(viewer)} }
	s.publish(e)
}

func (s *Service) publishQueueCleared(userID, queueID string) {
	s.publish(queueEvent("queue_cleared", userID, queueID, QueueClearedEvent{QueueID: queueID}))
}

func (s *Service) publishItemsRetried(userID, queueID string, ids []int64) {
	s.publish(queueEvent("queue_items_retried", userID, queueID, QueueItemsRetriedEvent{QueueID: queueID, RetriedItemIDs: ids}))
}

func (s *Service) publishItemsCanceled(userID, queueID string) {
	s.publish(queueEvent("queue_items_canceled", userID, queueID, QueueItemsCanceledEvent{QueueID: queueID}))
}

// invocationEvent is the common part of the invocation_* events of a running item.
func invocationEvent(it *store.QueueItem, node map[string]json.RawMessage, sourceID string) InvocationEvent {
	return InvocationEvent{QueueID: it.QueueID, ItemID: it.ItemID, BatchID: it.BatchID, Origin: it.Origin,
		Destination: it.Destination, UserID: it.UserID, SessionID: it.SessionID, Invocation: node, InvocationSourceID: sourceID}
}

// publishInvocation sends an invocation_* event to the item's owner and the admins.
func (s *Service) publishInvocation(name string, it *store.QueueItem, payload any) {
	s.publish(events.Event{Name: name, UserID: it.UserID, Audience: events.OwnerAndAdmins, QueueID: it.QueueID,
		Payload: events.Fields(payload)})
}
