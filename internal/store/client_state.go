package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ClientStateValue returns a user's value for key; ErrNotFound if unset.
func (db *DB) ClientStateValue(ctx context.Context, userID, key string) (string, error) {
	var v string
	err := db.sql.QueryRowContext(ctx, `SELECT value FROM client_state WHERE user_id = ? AND key = ?`, userID, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("get client state %q: %w", key, err)
	}
	return v, nil
}

// SetClientStateValues upserts several of a user's keys in one transaction.
func (db *DB) SetClientStateValues(ctx context.Context, userID string, values map[string]string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		for k, v := range values {
			if _, err := tx.ExecContext(ctx, `INSERT INTO client_state (user_id, key, value) VALUES (?, ?, ?)
				ON CONFLICT(user_id, key) DO UPDATE SET value = excluded.value,
				updated_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')`, userID, k, v); err != nil {
				return fmt.Errorf("set client state %q: %w", k, err)
			}
		}
		return nil
	})
}

// DeleteClientState deletes all of a user's keys.
func (db *DB) DeleteClientState(ctx context.Context, userID string) error {
	if _, err := db.sql.ExecContext(ctx, `DELETE FROM client_state WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("delete client state: %w", err)
	}
	return nil
}
