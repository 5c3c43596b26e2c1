package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/invokego/invokego/internal/access"
)

// WorkflowRecord is a row of workflow_library. Document is the stored workflow JSON, verbatim; the name,
// description, category and tags columns are generated from it by SQLite.
type WorkflowRecord struct {
	WorkflowID  string
	Document    string
	Name        string
	Description string
	Category    string
	Tags        string
	CreatedAt   string
	UpdatedAt   string
	OpenedAt    *string
	UserID      string
	IsPublic    bool
}

// Timestamps are read as text so they come back exactly as stored ("2026-04-13 10:00:00.123"), which is what
// InvokeAI returns; the driver would otherwise turn DATETIME columns into time values.
const workflowColumns = `workflow_id, name, description, category, COALESCE(tags, ''),
	CAST(created_at AS TEXT), CAST(updated_at AS TEXT), CAST(opened_at AS TEXT), user_id, is_public`

func scanWorkflow(row interface{ Scan(...any) error }, withDocument bool) (*WorkflowRecord, error) {
	var w WorkflowRecord
	var opened sql.NullString
	dest := []any{&w.WorkflowID, &w.Name, &w.Description, &w.Category, &w.Tags,
		&w.CreatedAt, &w.UpdatedAt, &opened, &w.UserID, &w.IsPublic}
	if withDocument {
		dest = append(dest, &w.Document)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if opened.Valid {
		w.OpenedAt = &opened.String
	}
	return &w, nil
}

// InsertWorkflow stores a new workflow; ErrConflict if the id exists.
func (db *DB) InsertWorkflow(ctx context.Context, id, document, ownerID string, isPublic bool) error {
	_, err := db.sql.ExecContext(ctx, `INSERT INTO workflow_library (workflow_id, workflow, user_id, is_public) VALUES (?, ?, ?, ?)`,
		id, document, ownerID, isPublic)
	if isUniqueViolation(err) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("insert workflow %s: %w", id, err)
	}
	return nil
}

// WorkflowByID loads one workflow with its document; ErrNotFound if absent.
func (db *DB) WorkflowByID(ctx context.Context, id string) (*WorkflowRecord, error) {
	w, err := scanWorkflow(db.sql.QueryRowContext(ctx,
		`SELECT `+workflowColumns+`, workflow FROM workflow_library WHERE workflow_id = ?`, id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load workflow %s: %w", id, err)
	}
	return w, nil
}

// changeUserWorkflow runs an UPDATE or DELETE on one user-category row. The category condition keeps built-in
// defaults out of reach even if a caller forgot to ask the access rules; ErrNotFound if nothing matched.
func (db *DB) changeUserWorkflow(ctx context.Context, what, stmt string, args ...any) error {
	res, err := db.sql.ExecContext(ctx, stmt, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// ReplaceWorkflowDocument stores a new document for a user workflow.
func (db *DB) ReplaceWorkflowDocument(ctx context.Context, id, document string) error {
	return db.changeUserWorkflow(ctx, "update workflow "+id,
		`UPDATE workflow_library SET workflow = ? WHERE workflow_id = ? AND category = 'user'`, document, id)
}

// SetWorkflowPublic stores a user workflow's sharing flag together with its document (whose tags changed).
func (db *DB) SetWorkflowPublic(ctx context.Context, id, document string, isPublic bool) error {
	return db.changeUserWorkflow(ctx, "share workflow "+id,
		`UPDATE workflow_library SET workflow = ?, is_public = ? WHERE workflow_id = ? AND category = 'user'`, document, isPublic, id)
}

// DeleteWorkflow removes a user workflow.
func (db *DB) DeleteWorkflow(ctx context.Context, id string) error {
	return db.changeUserWorkflow(ctx, "delete workflow "+id,
		`DELETE FROM workflow_library WHERE workflow_id = ? AND category = 'user'`, id)
}

// SetWorkflowOpenedAt records when a workflow was last opened.
func (db *DB) SetWorkflowOpenedAt(ctx context.Context, id, openedAt string) error {
	return db.changeUserWorkflow(ctx, "mark workflow opened "+id,
		`UPDATE workflow_library SET opened_at = ? WHERE workflow_id = ?`, openedAt, id)
}

// WorkflowFilter selects workflow rows. Nil or empty fields do not filter. Access is the caller's visibility
// and scope, compiled by the access package.
type WorkflowFilter struct {
	Categories []string
	// Tags keeps rows whose tags contain any of these (InvokeAI's substring match).
	Tags []string
	// Query matches name, description or tags as a substring.
	Query         string
	HasBeenOpened *bool
	IsPublic      *bool
	Access        access.Filter
}

// likeEscape makes s a literal LIKE pattern fragment (used with ESCAPE '\').
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// where compiles the filter into a WHERE clause (with its leading keyword) and arguments.
func (f WorkflowFilter) where() (string, []any) { return f.conds().where() }

func (f WorkflowFilter) conds() *conds {
	c := &conds{}
	in(c, "category", f.Categories)
	if len(f.Tags) > 0 {
		var ors []string
		var args []any
		for _, t := range f.Tags {
			ors = append(ors, `tags LIKE ? ESCAPE '\'`)
			args = append(args, "%"+likeEscape(strings.TrimSpace(t))+"%")
		}
		c.add("("+strings.Join(ors, " OR ")+")", args...)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		pattern := "%" + likeEscape(q) + "%"
		c.add(`(name LIKE ? ESCAPE '\' OR description LIKE ? ESCAPE '\' OR tags LIKE ? ESCAPE '\')`, pattern, pattern, pattern)
	}
	if f.HasBeenOpened != nil {
		if *f.HasBeenOpened {
			c.add("opened_at IS NOT NULL")
		} else {
			c.add("opened_at IS NULL")
		}
	}
	if f.IsPublic != nil {
		c.add("is_public = ?", *f.IsPublic)
	}
	c.filter(f.Access)
	return c
}

// WorkflowOrder is a column a listing may be sorted by.
type WorkflowOrder string

// The sort columns InvokeAI offers.
const (
	WorkflowOrderName      WorkflowOrder = "name"
	WorkflowOrderCreatedAt WorkflowOrder = "created_at"
	WorkflowOrderUpdatedAt WorkflowOrder = "updated_at"
	WorkflowOrderOpenedAt  WorkflowOrder = "opened_at"
	WorkflowOrderIsPublic  WorkflowOrder = "is_public"
)

// WorkflowPage asks for one page of a listing. Limit 0 means every row.
type WorkflowPage struct {
	OrderBy    WorkflowOrder
	Descending bool
	Limit      int
	Offset     int
}

// ListWorkflows returns one page of rows (without documents) and the total number of matching rows.
func (db *DB) ListWorkflows(ctx context.Context, f WorkflowFilter, page WorkflowPage) ([]WorkflowRecord, int, error) {
	switch page.OrderBy {
	case WorkflowOrderName, WorkflowOrderCreatedAt, WorkflowOrderUpdatedAt, WorkflowOrderOpenedAt, WorkflowOrderIsPublic:
	default:
		return nil, 0, fmt.Errorf("list workflows: unknown order %q", page.OrderBy)
	}
	dir := "ASC"
	if page.Descending {
		dir = "DESC"
	}
	where, args := f.where()
	var total int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM workflow_library`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count workflows: %w", err)
	}
	// workflow_id breaks ties so that pages neither repeat nor skip rows.
	q := `SELECT ` + workflowColumns + ` FROM workflow_library` + where +
		` ORDER BY ` + string(page.OrderBy) + ` ` + dir + `, workflow_id ` + dir
	if page.Limit > 0 {
		q += ` LIMIT ? OFFSET ?`
		args = append(args, page.Limit, page.Offset)
	}
	rows, err := db.sql.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list workflows: %w", err)
	}
	defer rows.Close()
	out := []WorkflowRecord{}
	for rows.Next() {
		w, err := scanWorkflow(rows, false)
		if err != nil {
			return nil, 0, fmt.Errorf("list workflows: %w", err)
		}
		out = append(out, *w)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list workflows: %w", err)
	}
	return out, total, nil
}

// CountWorkflows counts the matching rows.
func (db *DB) CountWorkflows(ctx context.Context, f WorkflowFilter) (int, error) {
	where, args := f.where()
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM workflow_library`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count workflows: %w", err)
	}
	return n, nil
}

// WorkflowTagStrings returns the distinct non-empty tags strings (each a comma-separated list) of matching rows.
func (db *DB) WorkflowTagStrings(ctx context.Context, f WorkflowFilter) ([]string, error) {
	c := f.conds()
	c.add("tags IS NOT NULL AND tags != ''")
	where, args := c.where()
	out, err := collectStrings(ctx, db.sql, `SELECT DISTINCT tags FROM workflow_library`+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list workflow tags: %w", err)
	}
	return out, nil
}

// DefaultWorkflow is a built-in workflow to keep in the table.
type DefaultWorkflow struct {
	ID       string
	Document string
}

// SyncDefaultWorkflows makes the default-category rows equal to defaults, in one transaction: missing ones
// are added (owned by system, not shared), changed documents replaced, and defaults no longer shipped removed.
// A user-category row holding a default's id is never overwritten: the insert fails and so does the sync.
func (db *DB) SyncDefaultWorkflows(ctx context.Context, defaults []DefaultWorkflow) (*DefaultsSync, error) {
	var out *DefaultsSync
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		existing := map[string]string{}
		rows, err := tx.QueryContext(ctx, `SELECT workflow_id, workflow FROM workflow_library WHERE category = 'default'`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, doc string
			if err := rows.Scan(&id, &doc); err != nil {
				rows.Close()
				return err
			}
			existing[id] = doc
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		shipped := make([]builtinRow, len(defaults))
		for i, d := range defaults {
			shipped[i] = builtinRow{id: d.ID, content: d.Document,
				insert: func() error {
					return exec(ctx, tx, `INSERT INTO workflow_library (workflow_id, workflow, user_id, is_public) VALUES (?, ?, ?, FALSE)`,
						d.ID, d.Document, SystemUserID)
				},
				update: func() error {
					return exec(ctx, tx, `UPDATE workflow_library SET workflow = ? WHERE workflow_id = ? AND category = 'default'`, d.Document, d.ID)
				}}
		}
		out, err = syncBuiltins("default workflow", existing, shipped, func(id string) error {
			return exec(ctx, tx, `DELETE FROM workflow_library WHERE workflow_id = ? AND category = 'default'`, id)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sync default workflows: %w", err)
	}
	return out, nil
}
