package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/invokego/invokego/internal/access"
)

// Board is a row of boards with the figures its DTO shows.
type Board struct {
	BoardID         string
	BoardName       string
	UserID          string
	CreatedAt       string
	UpdatedAt       string
	DeletedAt       *string
	Archived        bool
	BoardVisibility string
	// StoredCover is the cover_image_name column, kept for compatibility; the DTO shows CoverImageName.
	StoredCover *string
	// CoverImageName is computed: the newest non-intermediate image, starred first.
	CoverImageName *string
	ImageCount     int
	AssetCount     int
	// OwnerName is the owner's display name, falling back to the email.
	OwnerName *string
}

// ImageView is what a viewer may see of the images on a board, as the access package compiles its image-read
// rule (aliases x for images, b for the board): Read keeps the readable images; the hidden ones are those where
// HiddenOnBoard and one of the Hidden alternatives hold. The zero value sees every image.
type ImageView struct {
	Read          access.Filter
	HiddenOnBoard access.Filter
	Hidden        []access.Filter
}

func (v ImageView) seesAll() bool { return v.Read.KeepsAll() }

// boardColumnsFor selects a board with the figures its viewer may see: the cover among the images they may
// read, and the kept counts less the images hidden from them. The counts are columns kept by triggers, so a
// board list costs what the boards hold, not what the database holds; the hidden images are looked up only on
// boards that may hide some (private ones, for non-admins), by the (board_id, user_id) index.
func boardColumnsFor(v ImageView) (string, []any) {
	const head = `b.board_id, b.board_name, b.user_id, CAST(b.created_at AS TEXT), CAST(b.updated_at AS TEXT), CAST(b.deleted_at AS TEXT), b.archived,
	b.board_visibility, b.cover_image_name,`
	const owner = `(SELECT COALESCE(u.display_name, u.email) FROM users u WHERE u.user_id = b.user_id) AS owner_name`
	const coverOrder = ` ORDER BY x.starred DESC, x.created_at DESC LIMIT 1) AS cover,`
	if v.seesAll() {
		return head + `
	b.image_count, b.asset_count,
	(SELECT x.image_name FROM images x WHERE x.board_id = b.board_id AND x.is_intermediate = 0` + coverOrder + owner, nil
	}
	var args []any
	hidden := func(kept, category string) string {
		sql := `CASE WHEN (` + v.HiddenOnBoard.SQL + `) THEN b.` + kept
		args = append(args, v.HiddenOnBoard.Args...)
		for _, alt := range v.Hidden {
			sql += ` - (SELECT COUNT(*) FROM images x WHERE x.board_id = b.board_id AND NOT x.is_intermediate AND x.image_category ` +
				category + ` AND (` + alt.SQL + `))`
			args = append(args, alt.Args...)
		}
		return sql + ` ELSE b.` + kept + ` END`
	}
	counts := hidden("image_count", "= 'general'") + `, ` + hidden("asset_count", "!= 'general'")
	args = append(args, v.Read.Args...)
	return head + `
	` + counts + `,
	(SELECT x.image_name FROM images x WHERE x.board_id = b.board_id AND x.is_intermediate = 0 AND (` + v.Read.SQL + `)` + coverOrder + owner, args
}

func scanBoard(row interface{ Scan(...any) error }) (*Board, error) {
	var bd Board
	var deleted, stored, cover, owner sql.NullString
	if err := row.Scan(&bd.BoardID, &bd.BoardName, &bd.UserID, &bd.CreatedAt, &bd.UpdatedAt, &deleted, &bd.Archived,
		&bd.BoardVisibility, &stored, &bd.ImageCount, &bd.AssetCount, &cover, &owner); err != nil {
		return nil, err
	}
	bd.DeletedAt, bd.StoredCover, bd.CoverImageName, bd.OwnerName = nullable(deleted), nullable(stored), nullable(cover), nullable(owner)
	return &bd, nil
}

// CreateBoard inserts a private board.
func (db *DB) CreateBoard(ctx context.Context, id, name, ownerID string) (*Board, error) {
	if _, err := db.sql.ExecContext(ctx, `INSERT INTO boards (board_id, board_name, user_id) VALUES (?, ?, ?)`, id, name, ownerID); err != nil {
		return nil, fmt.Errorf("insert board: %w", err)
	}
	return db.BoardByID(ctx, id, ImageView{})
}

// BoardByID loads one board with its figures as v sees them; ErrNotFound if absent.
func (db *DB) BoardByID(ctx context.Context, id string, v ImageView) (*Board, error) {
	cols, args := boardColumnsFor(v)
	bd, err := scanBoard(db.sql.QueryRowContext(ctx, `SELECT `+cols+` FROM boards b WHERE b.board_id = ?`, append(args, id)...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load board: %w", err)
	}
	return bd, nil
}

// BoardRef is the owner and visibility of a board, all a permission check needs.
type BoardRef struct {
	BoardID    string
	OwnerID    string
	Visibility string
}

// BoardRefByID loads a board's owner and visibility cheaply; ErrNotFound if absent.
func (db *DB) BoardRefByID(ctx context.Context, id string) (*BoardRef, error) {
	var r BoardRef
	err := db.sql.QueryRowContext(ctx, `SELECT board_id, user_id, board_visibility FROM boards WHERE board_id = ?`, id).
		Scan(&r.BoardID, &r.OwnerID, &r.Visibility)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load board: %w", err)
	}
	return &r, nil
}

// BoardQuery selects boards for the list route. Scope is the access filter over alias b; View says which of
// their images the caller sees in the figures.
type BoardQuery struct {
	Scope           access.Filter
	View            ImageView
	IncludeArchived bool
	// OrderByName sorts by LOWER(board_name) instead of created_at.
	OrderByName bool
	Descending  bool
	// Paged limits the result to Limit rows from Offset; otherwise every board is returned.
	Paged         bool
	Offset, Limit int
}

func (q BoardQuery) where() (string, []any) {
	c := &conds{}
	c.filter(q.Scope)
	if !q.IncludeArchived {
		c.add("b.archived = 0")
	}
	return c.where()
}

func (q BoardQuery) orderBy() string {
	dir := "ASC"
	if q.Descending {
		dir = "DESC"
	}
	if q.OrderByName {
		return " ORDER BY LOWER(b.board_name) " + dir + ", b.created_at " + dir
	}
	return " ORDER BY b.created_at " + dir + ", b.rowid " + dir
}

// ListBoards returns the selected boards and the total number matching. The page is chosen first and the
// figures computed only for it.
func (db *DB) ListBoards(ctx context.Context, q BoardQuery) ([]Board, int, error) {
	where, args := q.where()
	var total int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM boards b`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count boards: %w", err)
	}
	page := `SELECT b.rowid AS rid, b.* FROM boards b` + where + q.orderBy()
	pageArgs := args
	if q.Paged {
		page += ` LIMIT ? OFFSET ?`
		pageArgs = append(append([]any{}, args...), q.Limit, q.Offset)
	}
	cols, colArgs := boardColumnsFor(q.View)
	query := `SELECT ` + cols + ` FROM (` + page + `) b` + strings.ReplaceAll(q.orderBy(), "b.rowid", "b.rid")
	rows, err := db.sql.QueryContext(ctx, query, append(colArgs, pageArgs...)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list boards: %w", err)
	}
	defer rows.Close()
	out := []Board{}
	for rows.Next() {
		bd, err := scanBoard(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("scan board: %w", err)
		}
		out = append(out, *bd)
	}
	return out, total, rows.Err()
}

// BoardChanges are the editable columns; nil fields are left alone.
type BoardChanges struct {
	BoardName      *string
	CoverImageName *string
	Archived       *bool
	Visibility     *string
}

// UpdateBoard applies changes and returns the board as v sees it; ErrNotFound if the board does not exist.
func (db *DB) UpdateBoard(ctx context.Context, id string, ch BoardChanges, v ImageView) (*Board, error) {
	var s sets
	setIf(&s, "board_name", ch.BoardName)
	setIf(&s, "cover_image_name", ch.CoverImageName)
	setIf(&s, "archived", ch.Archived)
	setIf(&s, "board_visibility", ch.Visibility)
	found, err := s.update(ctx, db.sql, "boards", "board_id", id)
	if isForeignKeyViolation(err) {
		return nil, fmt.Errorf("cover image: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("update board: %w", err)
	}
	if !found {
		return nil, ErrNotFound
	}
	return db.BoardByID(ctx, id, v)
}

// DeleteBoard removes a board. With deleteImages, the images on it are deleted too (their files are the
// caller's to remove); otherwise they become uncategorized. It returns the names of the board's images.
func (db *DB) DeleteBoard(ctx context.Context, id string, deleteImages bool) ([]string, error) {
	var names []string
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if names, err = collectStrings(ctx, tx, `SELECT image_name FROM board_images WHERE board_id = ?`, id); err != nil {
			return fmt.Errorf("list board images: %w", err)
		}
		if deleteImages {
			if _, err := tx.ExecContext(ctx, `DELETE FROM images WHERE image_name IN (SELECT image_name FROM board_images WHERE board_id = ?)`, id); err != nil {
				return fmt.Errorf("delete board's images: %w", err)
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM boards WHERE board_id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete board: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if names == nil {
		names = []string{}
	}
	return names, nil
}
