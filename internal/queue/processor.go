package queue

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/graph"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/store"
)

// MaxCrashes is how many times the server process may die while an item's graph runs (the item and its
// retries together) before that graph is never run again: a graph that kills the process keeps the server
// down no longer than that.
const MaxCrashes = 2

// Recover prepares the queue at start-up. A server that stops cleanly cancels its running item itself, so an
// item still in progress was running when the process died: it is failed with the reason, never run again by
// itself, and the crash is counted against it and its retries (docs/security.md "Resource limits and hostile
// input"). Pending items stay and run.
func (s *Service) Recover(ctx context.Context) error {
	n, err := s.db.FailInterruptedQueueItems(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		s.logger.Warn("failed queue items that were running when the server process stopped", "count", n)
	}
	return nil
}

// Start runs the processor until the returned stop function is called; stop waits for it to end.
func (s *Service) Start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.loop(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// loop dequeues and runs items one at a time; it sleeps until woken (enqueue, status change, clear, resume)
// or until the poll interval passes.
func (s *Service) loop(ctx context.Context) {
	ticker := time.NewTicker(s.opts.PollInterval)
	defer ticker.Stop()
	for {
		for ctx.Err() == nil && s.processNext(ctx) {
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-ticker.C:
		}
	}
}

// processNext runs one item if the processor is not paused; it reports whether it ran one.
func (s *Service) processNext(ctx context.Context) bool {
	s.mu.Lock()
	paused := s.paused
	s.mu.Unlock()
	if paused {
		return false
	}
	s.publishOrder.Lock()
	it, err := s.db.DequeueQueueItem(ctx, s.opts.Multiuser && s.opts.RoundRobin)
	s.publishOrder.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			s.logger.Error("dequeue failed", "error", err)
		}
		return false
	}
	if it == nil {
		return false
	}
	if it.Crashes >= MaxCrashes {
		// Its graph was running each time the process died: running it again would take the server down again.
		s.finish(context.WithoutCancel(ctx), it, store.QueueFailed, &store.QueueError{Type: "InterruptedError",
			Message: fmt.Sprintf("The server process stopped %d times while this item's graph was running; it is not run again", it.Crashes)})
		return true
	}
	s.RunItem(ctx, it)
	return true
}

// RunItem executes one dequeued (in-progress) item to a terminal status.
func (s *Service) RunItem(parent context.Context, it *store.QueueItem) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	s.mu.Lock()
	s.current = &runningItem{itemID: it.ItemID, queueID: it.QueueID, enqueuedBy: it.EnqueuedBy, cancel: cancel}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.current = nil
		s.mu.Unlock()
	}()
	// Use a context that outlives a cancel of the item for the bookkeeping writes.
	bg := context.WithoutCancel(parent)
	s.publishStatusChanged(bg, it)

	var st graph.State
	runErr := json.Unmarshal([]byte(it.Session), &st)
	if runErr == nil && st.Graph == nil {
		runErr = errors.New("the session has no graph")
	}
	// The item runs with the rights of the account that enqueued it, as that account is now: a deleted or
	// deactivated account's item does not run at all (docs/security.md).
	if _, err := s.owner(bg, it.EnqueuedBy); runErr == nil && err != nil {
		runErr = ownerFailure(it, err)
	}
	if runErr == nil {
		fresh := graph.NewState(st.Graph)
		fresh.ID = st.ID
		st = *fresh
		sess := &session{svc: s, item: it, state: &st}
		runErr = s.safeRun(ctx, &st, sess)
	}
	if b, err := json.Marshal(&st); err == nil && st.Graph != nil {
		if err := s.db.SetQueueItemSession(bg, it.ItemID, string(b)); err != nil {
			s.logger.Error("save session", "item_id", it.ItemID, "error", err)
		}
	}
	var failure *graph.NodeFailure
	switch {
	case runErr == nil:
		s.finish(bg, it, store.QueueCompleted, nil)
	case ctx.Err() != nil && parent.Err() == nil:
		// Canceled by a user: the cancel already set the status and emitted its event.
	case parent.Err() != nil:
		// The server is stopping cleanly: the item is canceled now, so that what the next start finds in progress
		// can only have been running when the process died (Recover).
		s.finish(bg, it, store.QueueCanceled, nil)
	case errors.Is(runErr, ErrAccountUnavailable):
		s.finish(bg, it, store.QueueFailed, &store.QueueError{Type: "PermissionError", Message: runErr.Error()})
	case errors.As(runErr, &failure):
		qerr := &store.QueueError{Type: failure.ErrorType, Message: failure.Message, Traceback: failure.Traceback}
		if s.finish(bg, it, store.QueueFailed, qerr) {
			s.publishInvocation("invocation_error", it, InvocationErrorEvent{InvocationEvent: invocationEvent(it, failure.Node, failure.SourceID),
				ErrorType: failure.ErrorType, ErrorMessage: failure.Message, ErrorTraceback: failure.Traceback})
		}
	default:
		s.finish(bg, it, store.QueueFailed, &store.QueueError{Type: "SessionError", Message: runErr.Error()})
	}
}

// ownerFailure explains why an item's account cannot run it.
func ownerFailure(it *store.QueueItem, err error) error {
	if errors.Is(err, ErrAccountUnavailable) {
		return fmt.Errorf("%w: %s", ErrAccountUnavailable, it.EnqueuedBy)
	}
	return fmt.Errorf("resolve the account %s that enqueued this item: %w", it.EnqueuedBy, err)
}

// safeRun runs the graph, turning a panic outside any node (a runner bug) into a failure of this item.
func (s *Service) safeRun(ctx context.Context, st *graph.State, sess graph.Session) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("session runner panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return s.runner.Run(ctx, st, sess)
}

// finish sets a terminal status and emits its event; false when the item had already ended (canceled).
func (s *Service) finish(ctx context.Context, it *store.QueueItem, status string, qerr *store.QueueError) bool {
	changed, err := s.db.SetQueueItemStatus(ctx, it.ItemID, status, qerr)
	if err != nil {
		s.logger.Error("set queue item status", "item_id", it.ItemID, "status", status, "error", err)
		return false
	}
	if !changed {
		return false
	}
	updated, err := s.db.QueueItemByID(ctx, it.ItemID)
	if err != nil {
		s.logger.Error("reload queue item", "item_id", it.ItemID, "error", err)
		return false
	}
	s.publishStatusChanged(ctx, updated)
	return true
}

// session adapts one running item to graph.Session.
type session struct {
	svc   *Service
	item  *store.QueueItem
	state *graph.State
}

// principal resolves the item's account again for each use of its rights, so that a deletion, deactivation or
// demotion while the item runs applies to its next image read or write.
func (ss *session) principal(ctx context.Context) (access.Principal, error) {
	p, err := ss.svc.owner(ctx, ss.item.EnqueuedBy)
	if err == nil {
		return p, nil
	}
	err = ownerFailure(ss.item, err)
	if errors.Is(err, ErrAccountUnavailable) {
		return access.Principal{}, &nodes.NodeError{Type: "PermissionError", Message: err.Error()}
	}
	return access.Principal{}, err
}

// NodeContext hands every node the run's memory budget: the engine and the node checks their allocations
// against it before making them (tensor.Budget).
func (ss *session) NodeContext(ctx context.Context, execID, sourceID string, node graph.Node) nodes.Context {
	ctx = tensor.WithBudget(ctx, tensor.Budget{MaxBytes: ss.svc.opts.MaxItemMemory})
	return &nodeContext{Context: ctx, ss: ss, execID: execID, sourceID: sourceID, node: node}
}

func (ss *session) NodeStarted(execID, sourceID string, node graph.Node) {
	ss.svc.publishInvocation("invocation_started", ss.item, invocationEvent(ss.item, node, sourceID))
}

func (ss *session) NodeCompleted(execID, sourceID string, node graph.Node, result map[string]json.RawMessage) {
	ss.svc.publishInvocation("invocation_complete", ss.item, InvocationCompleteEvent{InvocationEvent: invocationEvent(ss.item, node, sourceID),
		Result: result})
}

// nodeContext is the nodes.Context of one node run.
type nodeContext struct {
	context.Context
	ss       *session
	execID   string
	sourceID string
	node     graph.Node
}

func (c *nodeContext) Item() nodes.Item {
	it := c.ss.item
	return nodes.Item{QueueID: it.QueueID, ItemID: it.ItemID, BatchID: it.BatchID, SessionID: it.SessionID, UserID: it.UserID,
		NodeID: c.execID, SourceNodeID: c.sourceID}
}

// nodeFailure converts a gallery refusal into a node error with a clear message.
func nodeFailure(err error, what string) error {
	if ae, ok := apperr.As(err); ok {
		typ := "ValueError"
		switch ae.Status {
		case http.StatusForbidden:
			typ = "PermissionError"
		case http.StatusNotFound:
			typ = "FileNotFoundError"
		}
		return &nodes.NodeError{Type: typ, Message: fmt.Sprintf("%s: %v", what, ae.Detail)}
	}
	return err
}

func (c *nodeContext) SaveImage(img image.Image, opts nodes.SaveImageOptions) (nodes.ImageOutput, error) {
	if c.ss.svc.images == nil {
		return nodes.ImageOutput{}, &nodes.NodeError{Type: "RuntimeError", Message: "no image storage is configured"}
	}
	req := SaveRequest{IsIntermediate: c.node.IsIntermediate(), SessionID: c.ss.item.SessionID, NodeID: c.execID, Category: opts.Category}
	if opts.Board != nil {
		req.BoardID = opts.Board.BoardID
	}
	if opts.Metadata != nil {
		req.Metadata, _ = json.Marshal(opts.Metadata)
	}
	if c.ss.item.Workflow != nil {
		req.Workflow = json.RawMessage(*c.ss.item.Workflow)
	}
	req.Graph, _ = json.Marshal(c.ss.state.Graph)
	owner, err := c.ss.principal(c)
	if err != nil {
		return nodes.ImageOutput{}, err
	}
	name, err := c.ss.svc.images.SaveGenerated(c, owner, img, req)
	if err != nil {
		return nodes.ImageOutput{}, nodeFailure(err, "Could not save the image")
	}
	b := img.Bounds()
	return nodes.ImageOutput{Image: nodes.ImageField{ImageName: name}, Width: b.Dx(), Height: b.Dy()}, nil
}

func (c *nodeContext) LoadImage(name string) (image.Image, error) {
	if c.ss.svc.images == nil {
		return nil, &nodes.NodeError{Type: "RuntimeError", Message: "no image storage is configured"}
	}
	owner, err := c.ss.principal(c)
	if err != nil {
		return nil, err
	}
	img, err := c.ss.svc.images.Open(c, owner, name)
	if err != nil {
		return nil, nodeFailure(err, fmt.Sprintf("Could not load image %s", name))
	}
	return img, nil
}

// imageMetadata is what an Images implementation offers to read an image's metadata object (JSON null when
// it has none) as p.
type imageMetadata interface {
	Metadata(ctx context.Context, p access.Principal, name string) (json.RawMessage, error)
}

// ImageMetadata returns the metadata of an image the item's owner may read, nil when it has none (the metadata
// nodes of nodes/core look for this method on their Context).
func (c *nodeContext) ImageMetadata(name string) (nodes.MetadataField, error) {
	reader, ok := c.ss.svc.images.(imageMetadata)
	if !ok {
		return nil, &nodes.NodeError{Type: "RuntimeError", Message: "no image storage is configured"}
	}
	owner, err := c.ss.principal(c)
	if err != nil {
		return nil, err
	}
	raw, err := reader.Metadata(c, owner, name)
	if err != nil {
		return nil, nodeFailure(err, fmt.Sprintf("Could not load image %s", name))
	}
	var md nodes.MetadataField
	if err := json.Unmarshal(raw, &md); err != nil {
		// Metadata that is not an object is no metadata to these nodes.
		return nil, nil
	}
	return md, nil
}

// ReportProgress emits invocation_progress; the preview goes to the owner only (the socket layer strips it
// from the admins' copy).
func (c *nodeContext) ReportProgress(p nodes.Progress) {
	ev := InvocationProgressEvent{InvocationEvent: invocationEvent(c.ss.item, c.node, c.sourceID), Message: p.Message,
		Percentage: p.Percentage}
	if p.Preview != nil {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, p.Preview, &jpeg.Options{Quality: 80}); err == nil {
			size := p.PreviewSize
			if size.X <= 0 || size.Y <= 0 {
				size = p.Preview.Bounds().Size()
			}
			ev.Image = map[string]any{"width": size.X, "height": size.Y,
				"dataURL": "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())}
		}
	}
	c.ss.svc.publishInvocation("invocation_progress", c.ss.item, ev)
}
