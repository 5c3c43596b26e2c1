package store

import (
	"context"
	"database/sql"
	"fmt"
)

// AddImagesToBoard puts every named image on the board in one transaction, replacing any previous board
// (an image is on at most one board). ErrNotFound if the board or an image does not exist.
func (db *DB) AddImagesToBoard(ctx context.Context, boardID string, names []string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		for _, name := range names {
			if _, err := tx.ExecContext(ctx, `INSERT INTO board_images (board_id, image_name) VALUES (?, ?)
				ON CONFLICT(image_name) DO UPDATE SET board_id = excluded.board_id`, boardID, name); err != nil {
				if isForeignKeyViolation(err) {
					return ErrNotFound
				}
				return fmt.Errorf("add image to board: %w", err)
			}
		}
		return nil
	})
}

// RemoveImagesFromBoards makes every named image uncategorized in one transaction.
func (db *DB) RemoveImagesFromBoards(ctx context.Context, names []string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		return forInLists(names, func(list string, args []any) error {
			if _, err := tx.ExecContext(ctx, `DELETE FROM board_images WHERE image_name IN `+list, args...); err != nil {
				return fmt.Errorf("remove images from boards: %w", err)
			}
			return nil
		})
	})
}
