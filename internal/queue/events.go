package queue

import (
	"context"
	"encoding/json"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/store"
)

// Redacted replaces ids in the sanitised companions of queue events (docs/security.md D15).
const Redacted = "redacted"

func (s *Service) publish(e events.Event) {
	if s.events != nil {
		s.events.Publish(e)
	}
}

// publishBatchEnqueued: in full to owner and admins, the counts alone to the rest of the queue room.
func (s *Service) publishBatchEnqueued(userID string, r *EnqueueBatchResult) {
	s.publish(events.Event{Name: "batch_enqueued", UserID: userID, Audience: events.Queue, QueueID: r.QueueID,
		Payload: map[string]any{"queue_id": r.QueueID, "batch_id": r.Batch.BatchID, "enqueued": r.Enqueued, "requested": r.Requested,
			"priority": r.Priority, "origin": r.Batch.Origin, "user_id": userID},
		Sanitized: map[string]any{"queue_id": r.QueueID, "batch_id": Redacted, "enqueued": r.Enqueued, "requested": r.Requested,
			"priority": r.Priority, "origin": nil, "user_id": Redacted},
	})
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
	payload := map[string]any{
		"queue_id": it.QueueID, "item_id": it.ItemID, "batch_id": it.BatchID, "origin": it.Origin, "destination": it.Destination,
		"user_id": it.UserID, "session_id": it.SessionID, "status": it.Status, "error_type": it.ErrorType,
		"error_message": it.ErrorMessage, "error_traceback": it.ErrorTraceback, "created_at": it.CreatedAt,
		"updated_at": it.UpdatedAt, "started_at": it.StartedAt, "completed_at": it.CompletedAt,
		"batch_status": bs, "queue_status": view(owner),
	}
	// Others learn that an item changed status, not how big its owner's batch is.
	sanitizedBS := BatchStatus{QueueID: bs.QueueID, BatchID: Redacted}
	sanitized := map[string]any{
		"queue_id": it.QueueID, "item_id": it.ItemID, "batch_id": Redacted, "origin": nil, "destination": nil,
		"user_id": Redacted, "session_id": Redacted, "status": it.Status, "error_type": nil,
		"error_message": nil, "error_traceback": nil, "created_at": it.CreatedAt,
		"updated_at": it.UpdatedAt, "started_at": it.StartedAt, "completed_at": it.CompletedAt,
		"batch_status": sanitizedBS, "queue_status": view(access.Anonymous()),
	}
	s.publish(events.Event{Name: "queue_item_status_changed", UserID: it.UserID, Audience: events.Queue, QueueID: it.QueueID,
		Payload: payload, Sanitized: sanitized,
		PerRecipient: func(viewer access.Principal) map[string]any { return map[string]any{"queue_status": view(viewer)} }})
}

// publishQueueCleared tells the queue room to refetch.
func (s *Service) publishQueueCleared(userID, queueID string) {
	s.publish(events.Event{Name: "queue_cleared", UserID: userID, Audience: events.Queue, QueueID: queueID,
		Payload: map[string]any{"queue_id": queueID}, Sanitized: map[string]any{"queue_id": queueID}})
}

// publishItemsRetried announces retried items (ids only).
func (s *Service) publishItemsRetried(userID, queueID string, ids []int64) {
	s.publish(events.Event{Name: "queue_items_retried", UserID: userID, Audience: events.Queue, QueueID: queueID,
		Payload: map[string]any{"queue_id": queueID, "retried_item_ids": ids}, Sanitized: map[string]any{"queue_id": queueID, "retried_item_ids": ids}})
}

// publishItemsCanceled announces a bulk cancel (InvokeAI HEAD's queue_items_canceled).
func (s *Service) publishItemsCanceled(userID, queueID string) {
	s.publish(events.Event{Name: "queue_items_canceled", UserID: userID, Audience: events.Queue, QueueID: queueID,
		Payload: map[string]any{"queue_id": queueID}, Sanitized: map[string]any{"queue_id": queueID}})
}

// invocationBase is the common part of invocation_* payloads.
func invocationBase(it *store.QueueItem, node map[string]json.RawMessage, sourceID string) map[string]any {
	return map[string]any{
		"queue_id": it.QueueID, "item_id": it.ItemID, "batch_id": it.BatchID, "origin": it.Origin, "destination": it.Destination,
		"user_id": it.UserID, "session_id": it.SessionID, "invocation": node, "invocation_source_id": sourceID,
	}
}

func (s *Service) publishInvocation(name string, it *store.QueueItem, payload map[string]any) {
	s.publish(events.Event{Name: name, UserID: it.UserID, Audience: events.OwnerAndAdmins, QueueID: it.QueueID, Payload: payload})
}
