package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/invokego/invokego/internal/access"
)

// Image is a row of images, with the board that holds it (if any) joined in, because every permission on an
// image depends on that board.
type Image struct {
	ImageName      string
	ImageOrigin    string
	ImageCategory  string
	Width          int
	Height         int
	SessionID      *string
	NodeID         *string
	Metadata       *string
	IsIntermediate bool
	CreatedAt      string
	UpdatedAt      string
	DeletedAt      *string
	Starred        bool
	HasWorkflow    bool
	UserID         string
	// BoardID, BoardOwnerID and BoardVisibility are nil for uncategorized images.
	BoardID         *string
	BoardOwnerID    *string
	BoardVisibility *string
}

// imageColumns are what scanImage reads: the image as i and its board as b (imageFrom).
const imageColumns = `i.image_name, i.image_origin, i.image_category, i.width, i.height, i.session_id, i.node_id,
	i.metadata, i.is_intermediate, CAST(i.created_at AS TEXT), CAST(i.updated_at AS TEXT), CAST(i.deleted_at AS TEXT),
	i.starred, i.has_workflow, i.user_id, i.board_id, b.user_id, b.board_visibility`

// imageFrom is the images table as i with its board, if any, as b.
const imageFrom = ` FROM images i LEFT JOIN boards b ON b.board_id = i.board_id`

// imageSelect reads whole image rows (scanImage).
const imageSelect = `SELECT ` + imageColumns + imageFrom

func scanImage(row interface{ Scan(...any) error }) (*Image, error) {
	var im Image
	var session, node, meta, deleted, boardID, boardOwner, boardVis sql.NullString
	if err := row.Scan(&im.ImageName, &im.ImageOrigin, &im.ImageCategory, &im.Width, &im.Height, &session, &node,
		&meta, &im.IsIntermediate, &im.CreatedAt, &im.UpdatedAt, &deleted, &im.Starred, &im.HasWorkflow, &im.UserID,
		&boardID, &boardOwner, &boardVis); err != nil {
		return nil, err
	}
	im.SessionID, im.NodeID, im.Metadata, im.DeletedAt = nullable(session), nullable(node), nullable(meta), nullable(deleted)
	im.BoardID, im.BoardOwnerID, im.BoardVisibility = nullable(boardID), nullable(boardOwner), nullable(boardVis)
	return &im, nil
}

func nullable(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	v := s.String
	return &v
}

// NewImage is what InsertImage writes.
type NewImage struct {
	ImageName      string
	ImageOrigin    string
	ImageCategory  string
	Width, Height  int
	SessionID      *string
	NodeID         *string
	Metadata       *string
	IsIntermediate bool
	HasWorkflow    bool
	UserID         string
	// BoardID, when set, puts the image on that board in the same transaction.
	BoardID string
}

// InsertImage adds an image row (and its board assignment) in one transaction. beforeCommit runs inside the
// transaction after the rows are written; the caller moves the image files into place there, so that either
// both the rows and the files exist or neither does. A nil error means the transaction committed.
// ErrNotFound if the board does not exist.
func (db *DB) InsertImage(ctx context.Context, im NewImage, beforeCommit func() error) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO images (image_name, image_origin, image_category, width, height,
			session_id, node_id, metadata, is_intermediate, has_workflow, user_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			im.ImageName, im.ImageOrigin, im.ImageCategory, im.Width, im.Height, im.SessionID, im.NodeID, im.Metadata,
			im.IsIntermediate, im.HasWorkflow, im.UserID); err != nil {
			return fmt.Errorf("insert image: %w", err)
		}
		if im.BoardID != "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO board_images (board_id, image_name) VALUES (?, ?)`, im.BoardID, im.ImageName); err != nil {
				if isForeignKeyViolation(err) {
					return ErrNotFound
				}
				return fmt.Errorf("insert board image: %w", err)
			}
		}
		if beforeCommit != nil {
			return beforeCommit()
		}
		return nil
	})
}

func isForeignKeyViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}

// ImageByName loads one image; ErrNotFound if absent.
func (db *DB) ImageByName(ctx context.Context, name string) (*Image, error) {
	im, err := scanImage(db.sql.QueryRowContext(ctx, imageSelect+` WHERE i.image_name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load image: %w", err)
	}
	return im, nil
}

// ImagesByNames loads the named images that exist, keyed by name.
func (db *DB) ImagesByNames(ctx context.Context, names []string) (map[string]*Image, error) {
	out := make(map[string]*Image, len(names))
	err := forInLists(names, func(list string, args []any) error {
		rows, err := db.sql.QueryContext(ctx, imageSelect+` WHERE i.image_name IN `+list, args...)
		if err != nil {
			return fmt.Errorf("load images: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			im, err := scanImage(rows)
			if err != nil {
				return fmt.Errorf("scan image: %w", err)
			}
			out[im.ImageName] = im
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ImageChanges are the editable columns; nil fields are left alone.
type ImageChanges struct {
	ImageCategory  *string
	SessionID      *string
	IsIntermediate *bool
	Starred        *bool
}

// UpdateImage applies changes; ErrNotFound if the image does not exist.
func (db *DB) UpdateImage(ctx context.Context, name string, ch ImageChanges) (*Image, error) {
	var s sets
	setIf(&s, "image_category", ch.ImageCategory)
	setIf(&s, "session_id", ch.SessionID)
	setIf(&s, "is_intermediate", ch.IsIntermediate)
	setIf(&s, "starred", ch.Starred)
	found, err := s.update(ctx, db.sql, "images", "image_name", name)
	if err != nil {
		return nil, fmt.Errorf("update image: %w", err)
	}
	if !found {
		return nil, ErrNotFound
	}
	return db.ImageByName(ctx, name)
}

// SetStarred stars or unstars every named image in one transaction.
func (db *DB) SetStarred(ctx context.Context, names []string, starred bool) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		return forInLists(names, func(list string, args []any) error {
			if _, err := tx.ExecContext(ctx, `UPDATE images SET starred = ? WHERE image_name IN `+list, append([]any{starred}, args...)...); err != nil {
				return fmt.Errorf("star images: %w", err)
			}
			return nil
		})
	})
}

// DeleteImages removes image rows (their board assignments cascade) in one transaction.
func (db *DB) DeleteImages(ctx context.Context, names []string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		return forInLists(names, func(list string, args []any) error {
			if _, err := tx.ExecContext(ctx, `DELETE FROM images WHERE image_name IN `+list, args...); err != nil {
				return fmt.Errorf("delete images: %w", err)
			}
			return nil
		})
	})
}

// ImageQuery selects images for listings. Scope is the access filter (aliases i for images, b for boards;
// the board is joined for counts only when Scope.ReadsBoard).
type ImageQuery struct {
	Scope access.Filter
	// Hidden, when set, lists the images of the board (alias i, alternatives) that Scope leaves out: a board's
	// total is then its kept count less those, not a count of the board.
	Hidden         []access.Filter
	Origin         *string
	Categories     []string
	IsIntermediate *bool
	// BoardID: nil for any board, "none" for uncategorized images, otherwise one board.
	BoardID      *string
	SearchTerm   *string
	StarredFirst bool
	Descending   bool
	Offset       int
	Limit        int
}

// where compiles the query's conditions.
func (q ImageQuery) where() (string, []any) {
	c := q.conds()
	c.filter(q.Scope)
	return c.where()
}

// conds are the query's conditions without the access scope.
func (q ImageQuery) conds() *conds {
	c := &conds{}
	if q.Origin != nil {
		c.add("i.image_origin = ?", *q.Origin)
	}
	in(c, "i.image_category", q.Categories)
	if q.IsIntermediate != nil {
		c.add("i.is_intermediate = ?", *q.IsIntermediate)
	}
	if q.BoardID != nil {
		if *q.BoardID == "none" {
			c.add("i.board_id IS NULL")
		} else {
			c.add("i.board_id = ?", *q.BoardID)
		}
	}
	if q.SearchTerm != nil && *q.SearchTerm != "" {
		like := "%" + *q.SearchTerm + "%"
		c.add("(i.metadata LIKE ? OR i.created_at LIKE ?)", like, like)
	}
	return c
}

func (q ImageQuery) orderBy() string {
	dir := "ASC"
	if q.Descending {
		dir = "DESC"
	}
	order := " ORDER BY "
	if q.StarredFirst {
		order += "i.starred DESC, "
	}
	return order + "i.created_at " + dir + ", i.rowid " + dir
}

// fromClause joins the image's board only when a column of it is needed: always for rows (the DTO's board
// and the access rules), for counts only when the scope filter reads the board.
func (q ImageQuery) fromClause(forRows bool) string {
	if forRows || q.Scope.ReadsBoard {
		return imageFrom
	}
	return ` FROM images i`
}

// boardCountColumn names the boards column that already holds this query's count, if any: a board's
// non-intermediate images or assets with no other filter, the gallery's two tabs.
func (q ImageQuery) boardCountColumn() string {
	if q.BoardID == nil || *q.BoardID == "none" || q.IsIntermediate == nil || *q.IsIntermediate || (q.Scope.SQL != "" && len(q.Hidden) == 0) ||
		q.Origin != nil || (q.SearchTerm != nil && *q.SearchTerm != "") {
		return ""
	}
	cats := append([]string(nil), q.Categories...)
	sort.Strings(cats)
	cats = slices.Compact(cats)
	switch strings.Join(cats, ",") {
	case "general":
		return "image_count"
	case "control,mask,other,user":
		return "asset_count"
	}
	return ""
}

// readSnapshot runs fn in a read-only transaction: one consistent view of the database (WAL), without taking
// the write lock that the database's other transactions take.
func (db *DB) readSnapshot(ctx context.Context, fn func(q queryer) error) error {
	tx, err := db.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

// resolveHidden drops the scope of a board listing whose board holds none of the images the scope leaves out
// (q.Hidden): there is nothing to filter, and the listing keeps its fast paths. It reads in q's snapshot, so
// the listing that follows sees the same board.
func resolveHidden(ctx context.Context, db queryer, q ImageQuery) (ImageQuery, error) {
	if len(q.Hidden) == 0 || q.BoardID == nil || *q.BoardID == "none" {
		return q, nil
	}
	for _, alt := range q.Hidden {
		var found bool
		c := &conds{}
		c.add("i.board_id = ?", *q.BoardID)
		c.filter(alt)
		where, args := c.where()
		if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM images i`+where+`)`, args...).Scan(&found); err != nil {
			return q, fmt.Errorf("look for hidden images: %w", err)
		}
		if found {
			return q, nil
		}
	}
	q.Scope, q.Hidden = access.Filter{}, nil
	return q, nil
}

// ListImages returns one page of images and the total number matching.
func (db *DB) ListImages(ctx context.Context, q ImageQuery) ([]Image, int, error) {
	var out []Image
	var total int
	err := db.readSnapshot(ctx, func(tx queryer) (err error) {
		if q, err = resolveHidden(ctx, tx, q); err != nil {
			return err
		}
		out, total, err = listImages(ctx, tx, q)
		return err
	})
	return out, total, err
}

func listImages(ctx context.Context, db queryer, q ImageQuery) ([]Image, int, error) {
	where, args := q.where()
	var total int
	if col := q.boardCountColumn(); col != "" {
		// The board's kept count, less the images the scope leaves out.
		query, qargs := `SELECT `+col, []any{}
		for _, alt := range q.Hidden {
			c := q.conds()
			c.filter(alt)
			hidden, hargs := c.where()
			query += ` - (SELECT COUNT(*) FROM images i` + hidden + `)`
			qargs = append(qargs, hargs...)
		}
		err := db.QueryRowContext(ctx, query+` FROM boards WHERE board_id = ?`, append(qargs, *q.BoardID)...).Scan(&total)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, 0, fmt.Errorf("count board images: %w", err)
		}
	} else if err := db.QueryRowContext(ctx, `SELECT COUNT(*)`+q.fromClause(false)+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count images: %w", err)
	}
	rows, err := db.QueryContext(ctx, imageSelect+where+q.orderBy()+` LIMIT ? OFFSET ?`,
		append(args, q.Limit, q.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list images: %w", err)
	}
	defer rows.Close()
	out := []Image{}
	for rows.Next() {
		im, err := scanImage(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("scan image: %w", err)
		}
		out = append(out, *im)
	}
	return out, total, rows.Err()
}

// ImageNames returns the names of every matching image in listing order, and how many of them are starred.
func (db *DB) ImageNames(ctx context.Context, q ImageQuery) ([]string, int, error) {
	names := []string{}
	starred := 0
	err := db.readSnapshot(ctx, func(tx queryer) (err error) {
		if q, err = resolveHidden(ctx, tx, q); err != nil {
			return err
		}
		where, args := q.where()
		rows, err := tx.QueryContext(ctx, `SELECT i.image_name, i.starred`+q.fromClause(false)+where+q.orderBy(), args...)
		if err != nil {
			return fmt.Errorf("list image names: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			var s bool
			if err := rows.Scan(&name, &s); err != nil {
				return fmt.Errorf("scan image name: %w", err)
			}
			names = append(names, name)
			if s {
				starred++
			}
		}
		return rows.Err()
	})
	return names, starred, err
}

// CountImages counts matching images.
func (db *DB) CountImages(ctx context.Context, q ImageQuery) (int, error) {
	where, args := q.where()
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*)`+q.fromClause(false)+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count images: %w", err)
	}
	return n, nil
}
