package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/graph"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/schema"
	"github.com/invokego/invokego/internal/store"
)

// SaveRequest is what the queue asks the gallery to store for a node.
type SaveRequest struct {
	IsIntermediate bool
	SessionID      string
	NodeID         string
	BoardID        string
	Category       string
	Metadata       json.RawMessage
	Workflow       json.RawMessage
	Graph          json.RawMessage
}

// Images is what nodes and recall need from the gallery.
type Images interface {
	// SaveGenerated stores an image owned by owner; a board owner may not write is refused (docs/security.md D8).
	SaveGenerated(ctx context.Context, owner access.Principal, img image.Image, req SaveRequest) (name string, err error)
	// Open decodes an image p may read.
	Open(ctx context.Context, p access.Principal, name string) (image.Image, error)
	// Size returns the dimensions of an image p may read.
	Size(ctx context.Context, p access.Principal, name string) (width, height int, err error)
}

// Options configure the service.
type Options struct {
	DB       *store.DB
	Events   events.Publisher
	Registry *nodes.Registry
	Images   Images
	// Owner resolves the account that enqueued an item to the principal its nodes act as, as the database has
	// that account now. It fails with ErrAccountUnavailable for a deleted or deactivated account.
	Owner        func(ctx context.Context, userID string) (access.Principal, error)
	Multiuser    bool
	RoundRobin   bool
	MaxQueueSize int
	MaxPerUser   int
	CacheSize    int
	Limits       graph.Limits
	// MaxSessionNodes and MaxSessionBytes bound one session once expanded, MaxBatchBytes the sessions one
	// enqueue stores (config max_session_nodes, max_session_bytes, max_batch_bytes; 0: the graph defaults and
	// 16 times max_session_bytes).
	MaxSessionNodes int
	MaxSessionBytes int64
	MaxBatchBytes   int64
	// MaxItemMemory bounds one allocation of a running item (tensor.Budget, handed to every node through its
	// context); 0 bounds only sizes that overflow.
	MaxItemMemory int64
	Logger        *slog.Logger
	// PollInterval is how often the idle processor looks for work besides being woken (default 1 s).
	PollInterval time.Duration
}

// Service is the session queue and its processor.
type Service struct {
	db       *store.DB
	events   events.Publisher
	registry *nodes.Registry
	images   Images
	owner    func(ctx context.Context, userID string) (access.Principal, error)
	opts     Options
	logger   *slog.Logger
	runner   *graph.Runner
	cache    *graph.Cache

	wake chan struct{}
	// publishOrder is held by Enqueue and RetryItems from their commit until their event is published, and
	// by the processor around a dequeue, so that batch_enqueued always precedes the items' status events.
	publishOrder sync.Mutex
	mu           sync.Mutex
	// paused stops dequeuing; the current item runs on.
	paused  bool
	current *runningItem
}

type runningItem struct {
	itemID     int64
	queueID    string
	enqueuedBy string
	cancel     context.CancelFunc
}

// ErrAccountUnavailable means the account that enqueued an item is deleted or deactivated: the item does not
// run, since nobody else's rights may stand in for that account's (docs/security.md).
var ErrAccountUnavailable = errors.New("the account that enqueued this item is deleted or deactivated")

// New builds the service; Start runs its processor.
func New(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Second
	}
	if opts.Limits == (graph.Limits{}) {
		opts.Limits = graph.DefaultLimits
	}
	if opts.MaxSessionNodes <= 0 {
		opts.MaxSessionNodes = graph.DefaultMaxPrepared
	}
	if opts.MaxSessionBytes <= 0 {
		opts.MaxSessionBytes = graph.DefaultMaxBytes
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = 16 * opts.MaxSessionBytes
	}
	if opts.Owner == nil {
		opts.Owner = func(_ context.Context, id string) (access.Principal, error) {
			return access.Principal{UserID: id, Authenticated: true}, nil
		}
	}
	cache := graph.NewCache(opts.CacheSize)
	return &Service{
		db: opts.DB, events: opts.Events, registry: opts.Registry, images: opts.Images, owner: opts.Owner, opts: opts,
		logger: opts.Logger, cache: cache,
		runner: &graph.Runner{Registry: opts.Registry, Cache: cache, MaxPrepared: opts.MaxSessionNodes, MaxBytes: opts.MaxSessionBytes},
		wake:   make(chan struct{}, 1),
	}
}

// notify wakes the processor without blocking.
func (s *Service) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func ptr[T any](v T) *T { return &v }

func scope(p access.Principal) access.Filter { return access.QueueScopeFilter(p, "q.user_id") }

// visible is what p sees in full; reads redact the other rows in SQL (store.QueueFilter.Visible).
func visible(p access.Principal) access.Filter { return access.QueueItemVisibleFilter(p, "q.user_id") }

// Enqueue validates a batch, expands it into sessions and stores them as the caller's items.
func (s *Service) Enqueue(ctx context.Context, p access.Principal, queueID string, b Batch, prepend bool) (*EnqueueBatchResult, error) {
	if lister, ok := s.images.(boardImages); ok {
		g, err := resolveImageGenerators(ctx, b.Graph, func(ctx context.Context, board string, cats []string) ([]string, error) {
			return lister.BoardImageNames(ctx, p, board, cats)
		})
		if err != nil {
			return nil, err
		}
		b.Graph = g
	}
	pl, err := planBatch(&b, s.registry, s.opts.Limits)
	if err != nil {
		return nil, err
	}
	if err := s.checkExpansion(pl, &b); err != nil {
		return nil, err
	}
	batchID := uuid.NewString()
	if b.BatchID != nil && *b.BatchID != "" {
		batchID = *b.BatchID
	}
	workflow := b.Workflow
	if len(workflow) == 0 || schema.IsNull(workflow) {
		workflow = nil
	} else if t := bytes.TrimSpace(workflow); len(t) == 0 || t[0] != '{' {
		return nil, batchProblem("Input should be a valid dictionary or instance of WorkflowWithoutID", "workflow")
	}
	var workflowText *string
	if workflow != nil {
		workflowText = ptr(string(workflow))
	}
	s.publishOrder.Lock()
	defer s.publishOrder.Unlock()
	res := &EnqueueBatchResult{QueueID: queueID, Requested: pl.requested, ItemIDs: []int64{},
		Batch: BatchEcho{BatchID: batchID, Origin: b.Origin, Destination: b.Destination, Graph: pl.graph, Workflow: workflow, Data: b.Data, Runs: pl.runs}}
	err = s.db.EnqueueTx(ctx, func(qt *store.QueueTx) error {
		pending, err := qt.PendingCount(queueID)
		if err != nil {
			return err
		}
		n := min(pl.requested, max(s.opts.MaxQueueSize-pending, 0))
		open, err := qt.OpenCountOf(p.UserID)
		if err != nil {
			return err
		}
		// The per-user cap shares a queue among many users; single-user mode keeps the seed's queue-size limit only.
		if s.opts.Multiuser && n > 0 && open+n > s.opts.MaxPerUser {
			return apperr.TooMany(fmt.Sprintf("Queue limit reached: you have %d items pending or in progress, and this batch would add %d; the limit per user is %d",
				open, n, s.opts.MaxPerUser))
		}
		if prepend {
			top, err := qt.MaxPendingPriority(queueID)
			if err != nil {
				return err
			}
			res.Priority = top + 1
		}
		rows := make([]store.NewQueueItem, 0, n)
		var batchBytes int64
		for _, sess := range pl.sessions(n) {
			stateJSON, err := json.Marshal(sess.state)
			if err != nil {
				return fmt.Errorf("encode session: %w", err)
			}
			// Exact sizes (batch values differ in size): no row larger than a session may be, and the batch's rows
			// together no larger than a batch may be.
			batchBytes += int64(len(stateJSON))
			if err := s.checkSessionBytes(int64(len(stateJSON))); err != nil {
				return err
			}
			if batchBytes > s.opts.MaxBatchBytes {
				return batchTooLarge(s.opts.MaxBatchBytes)
			}
			row := store.NewQueueItem{BatchID: batchID, QueueID: queueID, SessionID: sess.state.ID, Session: string(stateJSON),
				Priority: res.Priority, Workflow: workflowText, Origin: b.Origin, Destination: b.Destination, UserID: p.UserID, EnqueuedBy: p.UserID}
			if len(sess.fieldValues) > 0 {
				fv, err := json.Marshal(sess.fieldValues)
				if err != nil {
					return fmt.Errorf("encode field values: %w", err)
				}
				row.FieldValues = ptr(string(fv))
			}
			rows = append(rows, row)
		}
		ids, err := qt.Insert(rows)
		if err != nil {
			return err
		}
		res.Enqueued = len(ids)
		for i := len(ids) - 1; i >= 0; i-- {
			res.ItemIDs = append(res.ItemIDs, ids[i])
		}
		return nil
	})
	if err != nil {
		if _, ok := apperr.As(err); ok {
			return nil, err
		}
		// The cause (a database error) is logged with the request id, not shown to the client.
		return nil, apperr.New(500, "Unexpected error while enqueuing batch").Wrap(err)
	}
	s.publishBatchEnqueued(p.UserID, res)
	s.notify()
	return res, nil
}

// checkExpansion refuses, before anything is stored, a batch whose sessions would outgrow the limits where that
// can be known: prepared nodes per session (iterations over literal collections), bytes per session, and the
// bytes of all the sessions the batch asks for (docs/security.md "Resource limits and hostile input").
func (s *Service) checkExpansion(pl *plan, b *Batch) error {
	if err := checkAllocations(pl, b, s.registry, tensor.Budget{MaxBytes: s.opts.MaxItemMemory}); err != nil {
		return err
	}
	if n := minPrepared(pl.graph, s.registry); n > s.opts.MaxSessionNodes {
		return batchProblem(fmt.Sprintf("The graph expands to at least %d nodes per session when its iterations run, more than max_session_nodes (%d)",
			n, s.opts.MaxSessionNodes), "graph")
	}
	first := pl.sessions(1)
	if len(first) == 0 {
		return nil
	}
	enc, err := json.Marshal(first[0].state)
	if err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	if err := s.checkSessionBytes(int64(len(enc))); err != nil {
		return err
	}
	// Every session holds the same graph; the per-row check in Enqueue is exact.
	if est := satMul(len(enc), min(pl.requested, s.opts.MaxQueueSize)); int64(est) > s.opts.MaxBatchBytes {
		return batchTooLarge(s.opts.MaxBatchBytes)
	}
	return nil
}

func (s *Service) checkSessionBytes(n int64) error {
	if n > s.opts.MaxSessionBytes {
		return batchProblem(fmt.Sprintf("A session of this batch takes %d bytes, more than max_session_bytes (%d)", n, s.opts.MaxSessionBytes), "graph")
	}
	return nil
}

func batchTooLarge(limit int64) error {
	return batchProblem(fmt.Sprintf("The sessions of this batch take more than max_batch_bytes (%d bytes); enqueue fewer runs or a smaller graph", limit))
}

// toDTO renders a row; the caller's view decides sanitisation.
func toDTO(it *store.QueueItem) SessionQueueItem {
	out := SessionQueueItem{
		ItemID: it.ItemID, Status: it.Status, Priority: it.Priority, BatchID: it.BatchID, Origin: it.Origin, Destination: it.Destination,
		SessionID: it.SessionID, ErrorType: it.ErrorType, ErrorMessage: it.ErrorMessage, ErrorTraceback: it.ErrorTraceback,
		CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt, StartedAt: it.StartedAt, CompletedAt: it.CompletedAt, QueueID: it.QueueID,
		UserID: it.UserID, UserDisplayName: it.UserDisplayName, UserEmail: it.UserEmail, RetriedFromItemID: it.RetriedFromItemID,
		Session: json.RawMessage(it.Session),
	}
	if it.FieldValues != nil {
		out.FieldValues = json.RawMessage(*it.FieldValues)
	}
	if it.Workflow != nil {
		out.Workflow = json.RawMessage(*it.Workflow)
	}
	return out
}

// redactedSession is the GraphExecutionState others see: no graph, no results.
func redactedSession() json.RawMessage {
	st := graph.NewState(graph.New())
	st.ID = "redacted"
	b, _ := json.Marshal(st)
	return b
}

// view renders an item for a caller: in full for its owner and admins, sanitised for everyone else (docs/compatibility.md §1.6).
func view(p access.Principal, it *store.QueueItem) SessionQueueItem {
	dto := toDTO(it)
	if access.SeeQueueItem(p, access.QueueItemRef{OwnerID: it.UserID}) {
		return dto
	}
	return SessionQueueItem{
		ItemID: dto.ItemID, QueueID: dto.QueueID, Status: dto.Status, CreatedAt: dto.CreatedAt, UpdatedAt: dto.UpdatedAt,
		StartedAt: dto.StartedAt, CompletedAt: dto.CompletedAt,
		UserID: "redacted", BatchID: "redacted", SessionID: "redacted", Session: redactedSession(),
	}
}

// ListAll lists every item of a queue, sanitised per caller. Filtering by destination, a field others' items
// do not show, keeps the caller's own items only (admins: all), so the answer never depends on what others chose.
func (s *Service) ListAll(ctx context.Context, p access.Principal, queueID string, destination *string) ([]SessionQueueItem, error) {
	f := store.QueueFilter{QueueID: queueID, Destination: destination, Visible: visible(p)}
	if destination != nil {
		f.Scope = visible(p)
	}
	items, err := s.db.ListQueueItems(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]SessionQueueItem, 0, len(items))
	for _, it := range items {
		out = append(out, view(p, it))
	}
	return out, nil
}

// ItemIDs lists the item ids the caller owns (admins: all), by creation order.
func (s *Service) ItemIDs(ctx context.Context, p access.Principal, queueID string, descending bool) (*ItemIDsResult, error) {
	ids, err := s.db.QueueItemIDs(ctx, store.QueueFilter{QueueID: queueID, Scope: scope(p)}, descending)
	if err != nil {
		return nil, err
	}
	return &ItemIDsResult{ItemIDs: ids, TotalCount: len(ids)}, nil
}

// maxIDsPerRequest bounds items_by_ids and retry_items_by_id.
const maxIDsPerRequest = 10000

// ItemsByIDs returns the listed items of this queue in request order, sanitised per caller.
func (s *Service) ItemsByIDs(ctx context.Context, p access.Principal, queueID string, ids []int64) ([]SessionQueueItem, error) {
	if len(ids) > maxIDsPerRequest {
		return nil, apperr.InvalidField(fmt.Sprintf("At most %d item ids per request", maxIDsPerRequest), len(ids), "body", "item_ids")
	}
	found, err := s.db.QueueItemsByIDsFor(ctx, ids, visible(p))
	if err != nil {
		return nil, err
	}
	out := []SessionQueueItem{}
	for _, id := range ids {
		if it, ok := found[id]; ok && it.QueueID == queueID {
			out = append(out, view(p, it))
		}
	}
	return out, nil
}

// notFound is InvokeAI's 404 for queue items.
func notFound(queueID string, id int64) error {
	return apperr.NotFound(fmt.Sprintf("Queue item with id %d not found in queue %s", id, queueID))
}

// GetItem returns one item of the queue, sanitised, as a map without null values (response_model_exclude_none).
func (s *Service) GetItem(ctx context.Context, p access.Principal, queueID string, id int64) (map[string]any, error) {
	it, err := s.db.QueueItemByIDFor(ctx, id, visible(p))
	if errors.Is(err, store.ErrNotFound) || (err == nil && it.QueueID != queueID) {
		return nil, notFound(queueID, id)
	}
	if err != nil {
		return nil, err
	}
	return withoutNulls(view(p, it))
}

func withoutNulls(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, val := range m {
		if val == nil {
			delete(m, k)
		}
	}
	return m, nil
}

// CancelItem cancels one item (owner or admin); an already terminal item is returned unchanged.
func (s *Service) CancelItem(ctx context.Context, p access.Principal, queueID string, id int64) (*SessionQueueItem, error) {
	it, err := s.db.QueueItemByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(queueID, id)
	}
	if err != nil {
		return nil, err
	}
	if err := access.CancelQueueItem(p, access.QueueItemRef{OwnerID: it.UserID}); err != nil {
		return nil, err
	}
	it, err = s.cancel(ctx, it)
	if err != nil {
		return nil, err
	}
	dto := toDTO(it)
	return &dto, nil
}

// cancel moves an item to canceled (with its event) and stops it if it is running.
func (s *Service) cancel(ctx context.Context, it *store.QueueItem) (*store.QueueItem, error) {
	changed, err := s.db.SetQueueItemStatus(ctx, it.ItemID, store.QueueCanceled, nil)
	if err != nil {
		return nil, err
	}
	s.stopIfRunning(func(r *runningItem) bool { return r.itemID == it.ItemID })
	if !changed {
		return it, nil
	}
	updated, err := s.db.QueueItemByID(ctx, it.ItemID)
	if err != nil {
		return nil, err
	}
	s.publishStatusChanged(ctx, updated)
	s.notify()
	return updated, nil
}

// UserDisabled stops the running item a deleted or deactivated user enqueued; the database has already
// canceled their pending items (store.DB.DeleteUser, UpdateUser), and the queue room hears of it.
func (s *Service) UserDisabled(userID string) {
	var queueID string
	s.stopIfRunning(func(r *runningItem) bool {
		if r.enqueuedBy == userID {
			queueID = r.queueID
			return true
		}
		return false
	})
	queues := []string{"default"}
	if queueID != "" && queueID != "default" {
		queues = append(queues, queueID)
	}
	for _, q := range queues {
		s.publishItemsCanceled(userID, q)
	}
	s.notify()
}

// stopIfRunning cancels the running item's context when match says so.
func (s *Service) stopIfRunning(match func(*runningItem) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != nil && match(s.current) {
		s.current.cancel()
	}
}

// DeleteItem cancels then deletes one item (owner or admin). The queue id is not compared, as in InvokeAI.
func (s *Service) DeleteItem(ctx context.Context, p access.Principal, queueID string, id int64) error {
	it, err := s.db.QueueItemByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(queueID, id)
	}
	if err != nil {
		return err
	}
	if err := access.DeleteQueueItem(p, access.QueueItemRef{OwnerID: it.UserID}); err != nil {
		return err
	}
	if _, err := s.cancel(ctx, it); err != nil {
		return err
	}
	return s.db.DeleteQueueItem(ctx, id)
}

// currentItem returns the in-progress item of a queue, or nil.
func (s *Service) currentItem(ctx context.Context, queueID string) (*store.QueueItem, error) {
	return s.db.FirstQueueItem(ctx, store.QueueFilter{QueueID: queueID, Statuses: []string{store.QueueInProgress}})
}

// cancelCurrentIf cancels the running item of the queue when it matches and the caller may cancel it.
func (s *Service) cancelCurrentIf(ctx context.Context, p access.Principal, queueID string, match func(*store.QueueItem) bool) error {
	cur, err := s.currentItem(ctx, queueID)
	if err != nil || cur == nil || !match(cur) {
		return err
	}
	if access.CancelQueueItem(p, access.QueueItemRef{OwnerID: cur.UserID}) != nil {
		return nil
	}
	_, err = s.cancel(ctx, cur)
	return err
}

// CancelByBatchIDs cancels the caller's (admins: everyone's) waiting items of the batches, and the running
// one if it belongs to them; the count leaves out the running item.
func (s *Service) CancelByBatchIDs(ctx context.Context, p access.Principal, queueID string, batchIDs []string) (int, error) {
	if len(batchIDs) == 0 {
		return 0, nil
	}
	set := map[string]bool{}
	for _, b := range batchIDs {
		set[b] = true
	}
	if err := s.cancelCurrentIf(ctx, p, queueID, func(it *store.QueueItem) bool { return set[it.BatchID] }); err != nil {
		return 0, err
	}
	return s.db.CancelQueueItems(ctx, store.QueueFilter{QueueID: queueID, Scope: scope(p), BatchIDs: batchIDs})
}

// CancelByDestination is CancelByBatchIDs by destination.
func (s *Service) CancelByDestination(ctx context.Context, p access.Principal, queueID, destination string) (int, error) {
	if err := s.cancelCurrentIf(ctx, p, queueID, func(it *store.QueueItem) bool { return it.Destination != nil && *it.Destination == destination }); err != nil {
		return 0, err
	}
	return s.db.CancelQueueItems(ctx, store.QueueFilter{QueueID: queueID, Scope: scope(p), Destination: &destination})
}

// DeleteByDestination cancels the running item if it matches (and the caller may), then deletes the
// caller's (admins: all) items with that destination.
func (s *Service) DeleteByDestination(ctx context.Context, p access.Principal, queueID, destination string) (int, error) {
	if err := s.cancelCurrentIf(ctx, p, queueID, func(it *store.QueueItem) bool { return it.Destination != nil && *it.Destination == destination }); err != nil {
		return 0, err
	}
	return s.db.DeleteQueueItems(ctx, store.QueueFilter{QueueID: queueID, Scope: scope(p), Destination: &destination})
}

// CancelAllExceptCurrent cancels waiting items (non-admins: their own), without per-item events.
func (s *Service) CancelAllExceptCurrent(ctx context.Context, p access.Principal, queueID string) (int, error) {
	n, err := s.db.CancelQueueItems(ctx, store.QueueFilter{QueueID: queueID, Scope: scope(p), Statuses: []string{store.QueuePending}})
	if err == nil && n > 0 {
		s.publishItemsCanceled(p.UserID, queueID)
	}
	return n, err
}

// DeleteAllExceptCurrent deletes waiting items (non-admins: their own).
func (s *Service) DeleteAllExceptCurrent(ctx context.Context, p access.Principal, queueID string) (int, error) {
	return s.db.DeleteQueueItems(ctx, store.QueueFilter{QueueID: queueID, Scope: scope(p), Statuses: []string{store.QueuePending}})
}

// Prune deletes finished items (non-admins: their own).
func (s *Service) Prune(ctx context.Context, p access.Principal, queueID string) (int, error) {
	return s.db.DeleteQueueItems(ctx, store.QueueFilter{QueueID: queueID, Scope: scope(p),
		Statuses: []string{store.QueueCompleted, store.QueueFailed, store.QueueCanceled}})
}

// Clear cancels the running item (refused unless the caller may cancel it) and deletes every item of the
// queue (non-admins: their own).
func (s *Service) Clear(ctx context.Context, p access.Principal, queueID string) (int, error) {
	cur, err := s.currentItem(ctx, queueID)
	if err != nil {
		return 0, err
	}
	if cur != nil {
		if err := access.CancelCurrentQueueItem(p, access.QueueItemRef{OwnerID: cur.UserID}); err != nil {
			return 0, err
		}
		if _, err := s.cancel(ctx, cur); err != nil {
			return 0, err
		}
	}
	n, err := s.db.DeleteQueueItems(ctx, store.QueueFilter{QueueID: queueID, Scope: scope(p)})
	if err != nil {
		return 0, err
	}
	s.publishQueueCleared(p.UserID, queueID)
	s.notify()
	return n, nil
}

// RetryItems clones failed and canceled items as new pending ones. A non-admin must own every listed item
// that exists.
func (s *Service) RetryItems(ctx context.Context, p access.Principal, queueID string, ids []int64) (*RetryItemsResult, error) {
	if len(ids) > maxIDsPerRequest {
		return nil, apperr.InvalidField(fmt.Sprintf("At most %d item ids per request", maxIDsPerRequest), len(ids), "body")
	}
	found, err := s.db.QueueItemsByIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if it, ok := found[id]; ok {
			if err := access.RetryQueueItem(p, access.QueueItemRef{OwnerID: it.UserID}, id); err != nil {
				return nil, err
			}
		}
	}
	res := &RetryItemsResult{QueueID: queueID, RetriedItemIDs: []int64{}}
	var rows []store.NewQueueItem
	done := map[int64]bool{}
	for _, id := range ids {
		it, ok := found[id]
		if !ok || done[id] || (it.Status != store.QueueFailed && it.Status != store.QueueCanceled) {
			continue
		}
		done[id] = true
		var st graph.State
		if err := json.Unmarshal([]byte(it.Session), &st); err != nil || st.Graph == nil {
			return nil, fmt.Errorf("retry item %d: read session: %v", id, err)
		}
		fresh := graph.NewState(st.Graph)
		b, err := json.Marshal(fresh)
		if err != nil {
			return nil, err
		}
		root := it.ItemID
		if it.RetriedFromItemID != nil {
			root = *it.RetriedFromItemID
		}
		rows = append(rows, store.NewQueueItem{BatchID: it.BatchID, QueueID: it.QueueID, SessionID: fresh.ID, Session: string(b),
			FieldValues: it.FieldValues, Priority: it.Priority, Workflow: it.Workflow, Origin: it.Origin, Destination: it.Destination,
			RetriedFromItemID: &root, UserID: it.UserID, EnqueuedBy: it.EnqueuedBy, Crashes: it.Crashes})
	}
	if len(rows) == 0 {
		return res, nil
	}
	s.publishOrder.Lock()
	defer s.publishOrder.Unlock()
	if err := s.db.EnqueueTx(ctx, func(qt *store.QueueTx) error {
		if err := s.checkRetryCap(qt, rows); err != nil {
			return err
		}
		newIDs, err := qt.Insert(rows)
		res.RetriedItemIDs = append(res.RetriedItemIDs, newIDs...)
		return err
	}); err != nil {
		return nil, err
	}
	s.publishItemsRetried(p.UserID, queueID, res.RetriedItemIDs)
	s.notify()
	return res, nil
}

// checkRetryCap holds retried items to the per-user cap an enqueue obeys, owner by owner (an admin may retry
// several users' items at once).
func (s *Service) checkRetryCap(qt *store.QueueTx, rows []store.NewQueueItem) error {
	if !s.opts.Multiuser {
		return nil
	}
	perOwner := map[string]int{}
	for _, r := range rows {
		perOwner[r.UserID]++
	}
	for owner, n := range perOwner {
		open, err := qt.OpenCountOf(owner)
		if err != nil {
			return err
		}
		if open+n > s.opts.MaxPerUser {
			return apperr.TooMany(fmt.Sprintf("Queue limit reached: retrying would give a user %d items pending or in progress; the limit per user is %d",
				open+n, s.opts.MaxPerUser))
		}
	}
	return nil
}

// Current returns the running item of the queue, sanitised (nil if none).
func (s *Service) Current(ctx context.Context, p access.Principal, queueID string) (*SessionQueueItem, error) {
	return s.first(ctx, p, queueID, store.QueueInProgress)
}

// Next returns the item that plain priority order would run next, sanitised (nil if none).
func (s *Service) Next(ctx context.Context, p access.Principal, queueID string) (*SessionQueueItem, error) {
	return s.first(ctx, p, queueID, store.QueuePending)
}

// first is the first item of the queue in a status, in priority order, as p may see it (nil if none).
func (s *Service) first(ctx context.Context, p access.Principal, queueID, status string) (*SessionQueueItem, error) {
	it, err := s.db.FirstQueueItem(ctx, store.QueueFilter{QueueID: queueID, Statuses: []string{status}, Visible: visible(p)})
	if err != nil || it == nil {
		return nil, err
	}
	v := view(p, it)
	return &v, nil
}

func countsOf(m map[string]int) Counts {
	c := Counts{Pending: m[store.QueuePending], InProgress: m[store.QueueInProgress], Completed: m[store.QueueCompleted],
		Failed: m[store.QueueFailed], Canceled: m[store.QueueCanceled]}
	c.Total = c.Pending + c.InProgress + c.Completed + c.Failed + c.Canceled
	return c
}

// queueStatus computes the global counts, the viewer's own pending / in-progress counts, and the current
// item's ids when the viewer owns it or is an admin (docs/security.md D14).
func (s *Service) queueStatus(ctx context.Context, viewer access.Principal, queueID string) (QueueStatus, error) {
	view, err := s.queueStatusView(ctx, queueID)
	if err != nil {
		return QueueStatus{}, err
	}
	return view(viewer), nil
}

// queueStatusView reads a queue's figures once and returns what each viewer sees of them (docs/security.md D14): the
// global counts, the viewer's own pending and in-progress figures, and the current item's ids only where the
// viewer may see that item. GET /status uses it for its caller, events for every recipient.
func (s *Service) queueStatusView(ctx context.Context, queueID string) (func(access.Principal) QueueStatus, error) {
	all, err := s.db.QueueCounts(ctx, store.QueueFilter{QueueID: queueID})
	if err != nil {
		return nil, err
	}
	byUser, err := s.db.OpenCountsByUser(ctx, queueID)
	if err != nil {
		return nil, err
	}
	cur, err := s.currentItem(ctx, queueID)
	if err != nil {
		return nil, err
	}
	return func(viewer access.Principal) QueueStatus {
		mine := byUser[viewer.UserID]
		st := QueueStatus{QueueID: queueID, Counts: countsOf(all), UserPending: mine[store.QueuePending], UserInProgress: mine[store.QueueInProgress]}
		if cur != nil && access.SeeQueueItem(viewer, access.QueueItemRef{OwnerID: cur.UserID}) {
			st.ItemID, st.BatchID, st.SessionID = &cur.ItemID, &cur.BatchID, &cur.SessionID
		}
		return st
	}, nil
}

// Status answers GET /status.
func (s *Service) Status(ctx context.Context, p access.Principal, queueID string) (*StatusResult, error) {
	q, err := s.queueStatus(ctx, p, queueID)
	if err != nil {
		return nil, err
	}
	return &StatusResult{Queue: q, Processor: s.ProcessorStatus()}, nil
}

// BatchStatus counts a batch's items (non-admins: their own).
func (s *Service) BatchStatus(ctx context.Context, p access.Principal, queueID, batchID string) (*BatchStatus, error) {
	f := store.QueueFilter{QueueID: queueID, Scope: scope(p), BatchIDs: []string{batchID}}
	counts, err := s.db.QueueCounts(ctx, f)
	if err != nil {
		return nil, err
	}
	origin, dest, err := s.db.BatchOriginDestination(ctx, f)
	if err != nil {
		return nil, err
	}
	return &BatchStatus{QueueID: queueID, BatchID: batchID, Origin: origin, Destination: dest, Counts: countsOf(counts)}, nil
}

// CountsByDestination counts a destination's items (non-admins: their own).
func (s *Service) CountsByDestination(ctx context.Context, p access.Principal, queueID, destination string) (*CountsByDestination, error) {
	counts, err := s.db.QueueCounts(ctx, store.QueueFilter{QueueID: queueID, Scope: scope(p), Destination: &destination})
	if err != nil {
		return nil, err
	}
	return &CountsByDestination{QueueID: queueID, Destination: destination, Counts: countsOf(counts)}, nil
}

// ProcessorStatus reports whether the processor takes new items and whether one is running.
func (s *Service) ProcessorStatus() ProcessorStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ProcessorStatus{IsStarted: !s.paused, IsProcessing: s.current != nil}
}

// Pause stops dequeuing (admins); the running item goes on.
func (s *Service) Pause(p access.Principal) (ProcessorStatus, error) {
	if err := access.ManageProcessor(p); err != nil {
		return ProcessorStatus{}, err
	}
	s.mu.Lock()
	s.paused = true
	s.mu.Unlock()
	return s.ProcessorStatus(), nil
}

// Resume restarts dequeuing (admins).
func (s *Service) Resume(p access.Principal) (ProcessorStatus, error) {
	if err := access.ManageProcessor(p); err != nil {
		return ProcessorStatus{}, err
	}
	s.mu.Lock()
	s.paused = false
	s.mu.Unlock()
	s.notify()
	return s.ProcessorStatus(), nil
}

// Cache exposes the invocation cache (nil when disabled) for the app_info cache routes.
func (s *Service) Cache() *graph.Cache { return s.cache }
