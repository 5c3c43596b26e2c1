package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Bulk download statuses.
const (
	DownloadPending = "pending"
	DownloadReady   = "ready"
	DownloadError   = "error"
	DownloadServed  = "served"
)

// BulkDownload is a row of bulk_downloads: who asked for a zip, and where it stands.
type BulkDownload struct {
	ItemName  string
	UserID    string
	BoardID   *string
	Status    string
	Error     *string
	CreatedAt string
	ExpiresAt string
}

// InsertBulkDownload records a pending zip and its owner.
func (db *DB) InsertBulkDownload(ctx context.Context, d BulkDownload) error {
	if _, err := db.sql.ExecContext(ctx, `INSERT INTO bulk_downloads (item_name, user_id, board_id, status, expires_at) VALUES (?, ?, ?, ?, ?)`,
		d.ItemName, d.UserID, d.BoardID, DownloadPending, d.ExpiresAt); err != nil {
		return fmt.Errorf("insert bulk download: %w", err)
	}
	return nil
}

// BulkDownloadByName loads one; ErrNotFound if absent.
func (db *DB) BulkDownloadByName(ctx context.Context, name string) (*BulkDownload, error) {
	var d BulkDownload
	var board, errText sql.NullString
	err := db.sql.QueryRowContext(ctx, `SELECT item_name, user_id, board_id, status, error, CAST(created_at AS TEXT), CAST(expires_at AS TEXT)
		FROM bulk_downloads WHERE item_name = ?`, name).Scan(&d.ItemName, &d.UserID, &board, &d.Status, &errText, &d.CreatedAt, &d.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load bulk download: %w", err)
	}
	d.BoardID, d.Error = nullable(board), nullable(errText)
	return &d, nil
}

// SetBulkDownloadStatus moves a download from one status to another. It reports false when the row was not
// in status from (someone else got there first), which makes serving a zip a one-time claim.
func (db *DB) SetBulkDownloadStatus(ctx context.Context, name, from, to string, errText *string) (bool, error) {
	res, err := db.sql.ExecContext(ctx, `UPDATE bulk_downloads SET status = ?, error = ? WHERE item_name = ? AND status = ?`, to, errText, name, from)
	if err != nil {
		return false, fmt.Errorf("update bulk download: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// DeleteExpiredBulkDownloads removes rows that expired before now (a timestamp string) and returns their names.
func (db *DB) DeleteExpiredBulkDownloads(ctx context.Context, now string) ([]string, error) {
	var names []string
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if names, err = collectStrings(ctx, tx, `SELECT item_name FROM bulk_downloads WHERE expires_at <= ?`, now); err != nil {
			return fmt.Errorf("list expired downloads: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM bulk_downloads WHERE expires_at <= ?`, now); err != nil {
			return fmt.Errorf("delete expired downloads: %w", err)
		}
		return nil
	})
	return names, err
}

// BulkDownloadExists reports whether a row for the name exists.
func (db *DB) BulkDownloadExists(ctx context.Context, name string) (bool, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM bulk_downloads WHERE item_name = ?`, name).Scan(&n); err != nil {
		return false, fmt.Errorf("check bulk download: %w", err)
	}
	return n > 0, nil
}
