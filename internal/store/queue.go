package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/invokego/invokego/internal/access"
)

// Queue item statuses.
const (
	QueuePending    = "pending"
	QueueInProgress = "in_progress"
	QueueCompleted  = "completed"
	QueueFailed     = "failed"
	QueueCanceled   = "canceled"
)

// terminalStatuses never change again.
const terminalStatuses = `('completed', 'failed', 'canceled')`

// QueueItem is one session_queue row with its owner's name and email.
type QueueItem struct {
	ItemID            int64
	BatchID           string
	QueueID           string
	SessionID         string
	FieldValues       *string
	Session           string
	Status            string
	Priority          int64
	ErrorType         *string
	ErrorMessage      *string
	ErrorTraceback    *string
	CreatedAt         string
	UpdatedAt         string
	StartedAt         *string
	CompletedAt       *string
	Workflow          *string
	Origin            *string
	Destination       *string
	RetriedFromItemID *int64
	UserID            string
	UserDisplayName   *string
	UserEmail         *string
	// EnqueuedBy is the account whose rights the item runs with; unlike UserID it never changes.
	EnqueuedBy string
	// Crashes counts the server processes that died while this item, or the item it retries, was running.
	Crashes int
}

// NewQueueItem is a row to insert.
type NewQueueItem struct {
	BatchID           string
	QueueID           string
	SessionID         string
	FieldValues       *string
	Session           string
	Priority          int64
	Workflow          *string
	Origin            *string
	Destination       *string
	RetriedFromItemID *int64
	UserID            string
	// EnqueuedBy defaults to UserID; a retry keeps the original's, so it runs with the same rights.
	EnqueuedBy string
	Crashes    int
}

const queueColumns = `q.item_id, q.batch_id, q.queue_id, q.session_id, q.field_values, q.session, q.status, q.priority,
	q.error_type, q.error_message, q.error_traceback,
	CAST(q.created_at AS TEXT), CAST(q.updated_at AS TEXT), CAST(q.started_at AS TEXT), CAST(q.completed_at AS TEXT),
	q.workflow, q.origin, q.destination, q.retried_from_item_id, q.user_id, u.display_name, u.email, q.enqueued_by, q.crashes`

const queueFrom = ` FROM session_queue q LEFT JOIN users u ON u.user_id = q.user_id`

// Redacted stands for the ids of a queue item its reader may not see.
const Redacted = "redacted"

// queueColumnsFor selects queue rows for a reader who sees in full only the rows of visible (an access filter
// on q.user_id; empty: every row). The other rows come back redacted by the query itself: ids read "redacted",
// and their session, workflow, field values, origin, destination, errors and owner's name are never read, so
// a listing holds in memory what its reader may see, not what others enqueued.
func queueColumnsFor(visible access.Filter) (string, []any) {
	if visible.KeepsAll() {
		return queueColumns, nil
	}
	var args []any
	shown := func(expr, otherwise string) string {
		args = append(args, visible.Args...)
		return "CASE WHEN (" + visible.SQL + ") THEN " + expr + " ELSE " + otherwise + " END"
	}
	cols := []string{
		"q.item_id", shown("q.batch_id", "'"+Redacted+"'"), "q.queue_id", shown("q.session_id", "'"+Redacted+"'"),
		shown("q.field_values", "NULL"), shown("q.session", "''"), "q.status", shown("q.priority", "0"),
		shown("q.error_type", "NULL"), shown("q.error_message", "NULL"), shown("q.error_traceback", "NULL"),
		"CAST(q.created_at AS TEXT)", "CAST(q.updated_at AS TEXT)", "CAST(q.started_at AS TEXT)", "CAST(q.completed_at AS TEXT)",
		shown("q.workflow", "NULL"), shown("q.origin", "NULL"), shown("q.destination", "NULL"), shown("q.retried_from_item_id", "NULL"),
		shown("q.user_id", "'"+Redacted+"'"), shown("u.display_name", "NULL"), shown("u.email", "NULL"),
		shown("q.enqueued_by", "'"+Redacted+"'"), shown("q.crashes", "0"),
	}
	return strings.Join(cols, ", "), args
}

// queueSummaryColumns leave out the (large) session and workflow, for listings that only need the rest.
func scanQueueItem(row interface{ Scan(...any) error }) (*QueueItem, error) {
	var it QueueItem
	err := row.Scan(&it.ItemID, &it.BatchID, &it.QueueID, &it.SessionID, &it.FieldValues, &it.Session, &it.Status, &it.Priority,
		&it.ErrorType, &it.ErrorMessage, &it.ErrorTraceback, &it.CreatedAt, &it.UpdatedAt, &it.StartedAt, &it.CompletedAt,
		&it.Workflow, &it.Origin, &it.Destination, &it.RetriedFromItemID, &it.UserID, &it.UserDisplayName, &it.UserEmail,
		&it.EnqueuedBy, &it.Crashes)
	if err != nil {
		return nil, err
	}
	return &it, nil
}

func queryQueueItems(ctx context.Context, q queryer, query string, args ...any) ([]*QueueItem, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query queue items: %w", err)
	}
	defer rows.Close()
	var out []*QueueItem
	for rows.Next() {
		it, err := scanQueueItem(rows)
		if err != nil {
			return nil, fmt.Errorf("scan queue item: %w", err)
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// QueueTx is an enqueue transaction: the counts it reads and the rows it writes are consistent.
type QueueTx struct {
	ctx context.Context
	tx  *sql.Tx
}

// EnqueueTx runs fn in one write transaction.
func (db *DB) EnqueueTx(ctx context.Context, fn func(qt *QueueTx) error) error {
	return db.inTx(ctx, func(tx *sql.Tx) error { return fn(&QueueTx{ctx: ctx, tx: tx}) })
}

// PendingCount counts the pending items of a queue.
func (qt *QueueTx) PendingCount(queueID string) (int, error) {
	var n int
	err := qt.tx.QueryRowContext(qt.ctx, `SELECT COUNT(*) FROM session_queue WHERE queue_id = ? AND status = 'pending'`, queueID).Scan(&n)
	return n, err
}

// OpenCountOf counts a user's pending and in-progress items across queues.
func (qt *QueueTx) OpenCountOf(userID string) (int, error) {
	var n int
	err := qt.tx.QueryRowContext(qt.ctx, `SELECT COUNT(*) FROM session_queue WHERE user_id = ? AND status IN ('pending', 'in_progress')`, userID).Scan(&n)
	return n, err
}

// MaxPendingPriority is the highest priority among a queue's pending items (0 if none).
func (qt *QueueTx) MaxPendingPriority(queueID string) (int64, error) {
	var p sql.NullInt64
	err := qt.tx.QueryRowContext(qt.ctx, `SELECT MAX(priority) FROM session_queue WHERE queue_id = ? AND status = 'pending'`, queueID).Scan(&p)
	return p.Int64, err
}

// Insert adds rows and returns their ids in insertion order.
func (qt *QueueTx) Insert(items []NewQueueItem) ([]int64, error) {
	stmt, err := qt.tx.PrepareContext(qt.ctx, `INSERT INTO session_queue
		(batch_id, queue_id, session_id, field_values, session, priority, workflow, origin, destination, retried_from_item_id, user_id,
		 enqueued_by, crashes)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, fmt.Errorf("prepare enqueue: %w", err)
	}
	defer stmt.Close()
	ids := make([]int64, 0, len(items))
	for _, it := range items {
		by := it.EnqueuedBy
		if by == "" {
			by = it.UserID
		}
		res, err := stmt.ExecContext(qt.ctx, it.BatchID, it.QueueID, it.SessionID, it.FieldValues, it.Session, it.Priority,
			it.Workflow, it.Origin, it.Destination, it.RetriedFromItemID, it.UserID, by, it.Crashes)
		if err != nil {
			return nil, fmt.Errorf("enqueue item: %w", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// QueueItemByID returns one item; ErrNotFound if missing.
func (db *DB) QueueItemByID(ctx context.Context, id int64) (*QueueItem, error) {
	it, err := scanQueueItem(db.sql.QueryRowContext(ctx, `SELECT `+queueColumns+queueFrom+` WHERE q.item_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get queue item %d: %w", id, err)
	}
	return it, nil
}

// QueueItemByIDFor is QueueItemByID for a reader who sees rows of visible in full and the others redacted
// (queueColumnsFor).
func (db *DB) QueueItemByIDFor(ctx context.Context, id int64, visible access.Filter) (*QueueItem, error) {
	cols, args := queueColumnsFor(visible)
	it, err := scanQueueItem(db.sql.QueryRowContext(ctx, `SELECT `+cols+queueFrom+` WHERE q.item_id = ?`, append(args, id)...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get queue item %d: %w", id, err)
	}
	return it, nil
}

// QueueItemsByIDs returns the items that exist, keyed by id.
func (db *DB) QueueItemsByIDs(ctx context.Context, ids []int64) (map[int64]*QueueItem, error) {
	return db.QueueItemsByIDsFor(ctx, ids, access.Filter{})
}

// QueueItemsByIDsFor is QueueItemsByIDs for a reader who sees rows of visible in full (queueColumnsFor).
func (db *DB) QueueItemsByIDsFor(ctx context.Context, ids []int64, visible access.Filter) (map[int64]*QueueItem, error) {
	cols, colArgs := queueColumnsFor(visible)
	out := map[int64]*QueueItem{}
	err := forInLists(ids, func(list string, args []any) error {
		items, err := queryQueueItems(ctx, db.sql, `SELECT `+cols+queueFrom+` WHERE q.item_id IN `+list, append(append([]any{}, colArgs...), args...)...)
		for _, it := range items {
			out[it.ItemID] = it
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// QueueFilter selects queue rows; Scope is an access filter on column q.user_id. Visible, when set, is the
// access filter of the rows the reader sees in full; listings redact the others in SQL (queueColumnsFor).
type QueueFilter struct {
	QueueID     string
	Scope       access.Filter
	Visible     access.Filter
	Statuses    []string
	Destination *string
	BatchIDs    []string
}

// where is the filter's WHERE clause, with its keyword (never empty: the queue is always named).
func (f QueueFilter) where() (string, []any) {
	c := &conds{}
	c.add("q.queue_id = ?", f.QueueID)
	c.filter(f.Scope)
	in(c, "q.status", f.Statuses)
	if f.Destination != nil {
		c.add("q.destination = ?", *f.Destination)
	}
	in(c, "q.batch_id", f.BatchIDs)
	return c.where()
}

// ListQueueItems lists a queue's items, priority first, then oldest.
func (db *DB) ListQueueItems(ctx context.Context, f QueueFilter) ([]*QueueItem, error) {
	where, args := f.where()
	cols, colArgs := queueColumnsFor(f.Visible)
	return queryQueueItems(ctx, db.sql, `SELECT `+cols+queueFrom+``+where+` ORDER BY q.priority DESC, q.item_id ASC`, append(colArgs, args...)...)
}

// QueueItemIDs lists item ids by creation order.
func (db *DB) QueueItemIDs(ctx context.Context, f QueueFilter, descending bool) ([]int64, error) {
	where, args := f.where()
	dir := "ASC"
	if descending {
		dir = "DESC"
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT q.item_id FROM session_queue q`+where+` ORDER BY q.created_at `+dir+`, q.item_id `+dir, args...)
	if err != nil {
		return nil, fmt.Errorf("list queue item ids: %w", err)
	}
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// QueueCounts counts a selection by status.
func (db *DB) QueueCounts(ctx context.Context, f QueueFilter) (map[string]int, error) {
	where, args := f.where()
	rows, err := db.sql.QueryContext(ctx, `SELECT q.status, COUNT(*) FROM session_queue q`+where+` GROUP BY q.status`, args...)
	if err != nil {
		return nil, fmt.Errorf("count queue items: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// OpenCountsByUser counts each user's pending and in-progress items in a queue: map[user_id][status].
func (db *DB) OpenCountsByUser(ctx context.Context, queueID string) (map[string]map[string]int, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT user_id, status, COUNT(*) FROM session_queue
		WHERE queue_id = ? AND status IN (?, ?) GROUP BY user_id, status`, queueID, QueuePending, QueueInProgress)
	if err != nil {
		return nil, fmt.Errorf("count open queue items by user: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]int{}
	for rows.Next() {
		var user, status string
		var n int
		if err := rows.Scan(&user, &status, &n); err != nil {
			return nil, err
		}
		if out[user] == nil {
			out[user] = map[string]int{}
		}
		out[user][status] = n
	}
	return out, rows.Err()
}

// FirstQueueItem returns the first item of a selection in processing order (nil if none).
func (db *DB) FirstQueueItem(ctx context.Context, f QueueFilter) (*QueueItem, error) {
	where, args := f.where()
	cols, colArgs := queueColumnsFor(f.Visible)
	it, err := scanQueueItem(db.sql.QueryRowContext(ctx, `SELECT `+cols+queueFrom+``+where+
		` ORDER BY q.priority DESC, q.item_id ASC LIMIT 1`, append(colArgs, args...)...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("first queue item: %w", err)
	}
	return it, nil
}

// BatchOriginDestination returns a batch's origin and destination within a selection.
func (db *DB) BatchOriginDestination(ctx context.Context, f QueueFilter) (origin, destination *string, err error) {
	where, args := f.where()
	err = db.sql.QueryRowContext(ctx, `SELECT q.origin, q.destination FROM session_queue q`+where+` LIMIT 1`, args...).Scan(&origin, &destination)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, nil
	}
	return origin, destination, err
}

// DequeueQueueItem marks the next pending item in_progress and returns it (nil if none). roundRobin serves
// the user whose last turn is oldest (priority, then age, within that user); otherwise strict priority, then
// age. Turns live in queue_turns, not in the queue rows, so deleting one's own history gains no place.
func (db *DB) DequeueQueueItem(ctx context.Context, roundRobin bool) (*QueueItem, error) {
	var id int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if roundRobin {
			err = tx.QueryRowContext(ctx, `
				WITH waiting AS (SELECT user_id, MIN(item_id) AS first_item FROM session_queue WHERE status = 'pending' GROUP BY user_id),
				     next_user AS (SELECT w.user_id FROM waiting w LEFT JOIN queue_turns t ON t.user_id = w.user_id
				                   ORDER BY COALESCE(t.last_seq, 0), w.first_item LIMIT 1)
				SELECT item_id FROM session_queue WHERE status = 'pending' AND user_id = (SELECT user_id FROM next_user)
				ORDER BY priority DESC, item_id ASC LIMIT 1`).Scan(&id)
		} else {
			err = tx.QueryRowContext(ctx, `SELECT item_id FROM session_queue WHERE status = 'pending' ORDER BY priority DESC, item_id ASC LIMIT 1`).Scan(&id)
		}
		if errors.Is(err, sql.ErrNoRows) {
			id = 0
			return nil
		}
		if err != nil {
			return err
		}
		var seq int64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(COALESCE((SELECT MAX(last_seq) FROM queue_turns), 0),
			COALESCE((SELECT MAX(dequeue_seq) FROM session_queue), 0)) + 1`).Scan(&seq); err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, `UPDATE session_queue SET status = 'in_progress', status_sequence = status_sequence + 1,
			dequeue_seq = ? WHERE item_id = ?`, seq, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO queue_turns (user_id, last_seq) SELECT user_id, ? FROM session_queue WHERE item_id = ?
			ON CONFLICT (user_id) DO UPDATE SET last_seq = excluded.last_seq`, seq, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dequeue: %w", err)
	}
	if id == 0 {
		return nil, nil
	}
	return db.QueueItemByID(ctx, id)
}

// QueueError is the error recorded on a failed item.
type QueueError struct {
	Type, Message, Traceback string
}

// SetQueueItemStatus changes a non-terminal item's status. It reports false when the item is missing or
// already terminal (terminal statuses never change again).
func (db *DB) SetQueueItemStatus(ctx context.Context, id int64, status string, qerr *QueueError) (bool, error) {
	var et, em, etb any
	if qerr != nil {
		et, em, etb = qerr.Type, qerr.Message, qerr.Traceback
	}
	res, err := db.sql.ExecContext(ctx, `UPDATE session_queue SET status = ?, error_type = COALESCE(?, error_type),
		error_message = COALESCE(?, error_message), error_traceback = COALESCE(?, error_traceback), status_sequence = status_sequence + 1
		WHERE item_id = ? AND status NOT IN `+terminalStatuses+` AND status != ?`, status, et, em, etb, id, status)
	if err != nil {
		return false, fmt.Errorf("set queue item %d status: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// SetQueueItemSession writes the session JSON back.
func (db *DB) SetQueueItemSession(ctx context.Context, id int64, session string) error {
	if _, err := db.sql.ExecContext(ctx, `UPDATE session_queue SET session = ? WHERE item_id = ?`, session, id); err != nil {
		return fmt.Errorf("save session of queue item %d: %w", id, err)
	}
	return nil
}

// CancelQueueItems sets the selected non-terminal, not-running items to canceled and counts them.
func (db *DB) CancelQueueItems(ctx context.Context, f QueueFilter) (int, error) {
	where, args := f.where()
	res, err := db.sql.ExecContext(ctx, `UPDATE session_queue SET status = 'canceled', status_sequence = status_sequence + 1
		WHERE item_id IN (SELECT q.item_id FROM session_queue q`+where+` AND q.status NOT IN `+terminalStatuses+` AND q.status != 'in_progress')`, args...)
	if err != nil {
		return 0, fmt.Errorf("cancel queue items: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DeleteQueueItems deletes the selected items and counts them.
func (db *DB) DeleteQueueItems(ctx context.Context, f QueueFilter) (int, error) {
	where, args := f.where()
	res, err := db.sql.ExecContext(ctx, `DELETE FROM session_queue WHERE item_id IN (SELECT q.item_id FROM session_queue q`+where+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("delete queue items: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DeleteQueueItem deletes one item.
func (db *DB) DeleteQueueItem(ctx context.Context, id int64) error {
	if _, err := db.sql.ExecContext(ctx, `DELETE FROM session_queue WHERE item_id = ?`, id); err != nil {
		return fmt.Errorf("delete queue item %d: %w", id, err)
	}
	return nil
}

// InterruptedMessage explains an item that was running when the server process died.
const InterruptedMessage = "The server process stopped while this item was running; it was not run again. Retry it if it was not the cause."

// FailInterruptedQueueItems fails the items a server that died left in progress, and counts the crash against
// each (crashes carries over to retries, see QueueItem.Crashes). A server that stops cleanly cancels its
// running item itself, so what is left in progress at start-up was running when the process died.
func (db *DB) FailInterruptedQueueItems(ctx context.Context) (int, error) {
	res, err := db.sql.ExecContext(ctx, `UPDATE session_queue SET status = 'failed', status_sequence = status_sequence + 1,
		crashes = crashes + 1, error_type = 'InterruptedError', error_message = ?, error_traceback = NULL
		WHERE status = 'in_progress'`, InterruptedMessage)
	if err != nil {
		return 0, fmt.Errorf("fail interrupted queue items: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// cancelOpenItemsOf cancels every pending or running item enqueued by a user, inside tx; a user who is deleted
// or deactivated leaves no work behind that could run later (docs/security.md).
func cancelOpenItemsOf(ctx context.Context, tx *sql.Tx, userID string) (int, error) {
	res, err := tx.ExecContext(ctx, `UPDATE session_queue SET status = 'canceled', status_sequence = status_sequence + 1
		WHERE enqueued_by = ? AND status IN ('pending', 'in_progress')`, userID)
	if err != nil {
		return 0, fmt.Errorf("cancel queue items of user: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
