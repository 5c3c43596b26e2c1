package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Setting reads an app_settings value; ErrNotFound if unset.
func (db *DB) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := db.sql.QueryRowContext(ctx, `SELECT value FROM app_settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("read setting %s: %w", key, err)
	}
	return v, nil
}

// SettingOrCreate returns the stored value, or stores and returns make() when the key is unset.
// Two processes starting at once agree on one value: the first insert wins.
func (db *DB) SettingOrCreate(ctx context.Context, key string, make func() (string, error)) (string, error) {
	if v, err := db.Setting(ctx, key); err == nil || !errors.Is(err, ErrNotFound) {
		return v, err
	}
	v, err := make()
	if err != nil {
		return "", err
	}
	if _, err := db.sql.ExecContext(ctx, `INSERT INTO app_settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING`, key, v); err != nil {
		return "", fmt.Errorf("store setting %s: %w", key, err)
	}
	return db.Setting(ctx, key)
}
