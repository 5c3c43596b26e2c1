package store

import (
	"context"
	"database/sql"
	"fmt"
)

// ModelRow is one row of the models table: the record's full JSON config and timestamps. The searchable
// columns are generated from the JSON by SQLite.
type ModelRow struct {
	ID        string
	Config    []byte
	CreatedAt string
	UpdatedAt string
}

// ModelFilter narrows a model listing; empty fields match everything.
type ModelFilter struct {
	Bases  []string
	Type   string
	Name   string
	Format string
}

const modelColumns = `id, config, created_at, updated_at`

func scanModelRows(rows *sql.Rows) ([]ModelRow, error) {
	defer rows.Close()
	var out []ModelRow
	for rows.Next() {
		var r ModelRow
		if err := rows.Scan(&r.ID, &r.Config, &r.CreatedAt, &r.UpdatedAt); err != nil {
			return nil, fmt.Errorf("scan model: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// InsertModel stores a new record. ErrConflict when the key or the path is taken.
func (db *DB) InsertModel(ctx context.Context, id string, config []byte) error {
	_, err := db.sql.ExecContext(ctx, `INSERT INTO models (id, config) VALUES (?, ?)`, id, string(config))
	if isUniqueViolation(err) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("insert model %s: %w", id, err)
	}
	return nil
}

// UpdateModel replaces a record's config. ErrNotFound when absent, ErrConflict when the new path is taken.
func (db *DB) UpdateModel(ctx context.Context, id string, config []byte) error {
	res, err := db.sql.ExecContext(ctx, `UPDATE models SET config = ? WHERE id = ?`, string(config), id)
	if isUniqueViolation(err) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("update model %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteModel removes a record. ErrNotFound when absent.
func (db *DB) DeleteModel(ctx context.Context, id string) error {
	res, err := db.sql.ExecContext(ctx, `DELETE FROM models WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete model %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// GetModel reads one record by key.
func (db *DB) GetModel(ctx context.Context, id string) (ModelRow, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+modelColumns+` FROM models WHERE id = ?`, id)
	if err != nil {
		return ModelRow{}, fmt.Errorf("get model %s: %w", id, err)
	}
	out, err := scanModelRows(rows)
	if err != nil {
		return ModelRow{}, err
	}
	if len(out) == 0 {
		return ModelRow{}, ErrNotFound
	}
	return out[0], nil
}

// ListModels returns records matching the filter in InvokeAI's default order: type, base, name, format (the
// key breaks ties so that the order is stable).
func (db *DB) ListModels(ctx context.Context, f ModelFilter) ([]ModelRow, error) {
	c := &conds{}
	in(c, "base", f.Bases)
	for _, eq := range []struct{ column, value string }{{"type", f.Type}, {"name", f.Name}, {"format", f.Format}} {
		if eq.value != "" {
			c.add(eq.column+" = ?", eq.value)
		}
	}
	where, args := c.where()
	rows, err := db.sql.QueryContext(ctx, `SELECT `+modelColumns+` FROM models`+where+` ORDER BY type, base, name, format, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	return scanModelRows(rows)
}

// ModelsByHash returns the records with a content hash.
func (db *DB) ModelsByHash(ctx context.Context, hash string) ([]ModelRow, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+modelColumns+` FROM models WHERE hash = ? ORDER BY created_at, id`, hash)
	if err != nil {
		return nil, fmt.Errorf("models by hash: %w", err)
	}
	return scanModelRows(rows)
}

// ModelByPath returns the record stored with exactly this path.
func (db *DB) ModelByPath(ctx context.Context, path string) (ModelRow, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+modelColumns+` FROM models WHERE path = ?`, path)
	if err != nil {
		return ModelRow{}, fmt.Errorf("model by path: %w", err)
	}
	out, err := scanModelRows(rows)
	if err != nil {
		return ModelRow{}, err
	}
	if len(out) == 0 {
		return ModelRow{}, ErrNotFound
	}
	return out[0], nil
}

// InstallJobRow is one persisted model install job (its JSON and status).
type InstallJobRow struct {
	ID     int64
	Job    []byte
	Status string
}

// InsertInstallJob stores a new job and returns its id.
func (db *DB) InsertInstallJob(ctx context.Context, job []byte, status string) (int64, error) {
	res, err := db.sql.ExecContext(ctx, `INSERT INTO model_install_jobs (job, status) VALUES (?, ?)`, string(job), status)
	if err != nil {
		return 0, fmt.Errorf("insert install job: %w", err)
	}
	return res.LastInsertId()
}

// UpdateInstallJob replaces a job's JSON and status.
func (db *DB) UpdateInstallJob(ctx context.Context, id int64, job []byte, status string) error {
	_, err := db.sql.ExecContext(ctx, `UPDATE model_install_jobs SET job = ?, status = ?,
		updated_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW') WHERE id = ?`, string(job), status, id)
	if err != nil {
		return fmt.Errorf("update install job %d: %w", id, err)
	}
	return nil
}

// ListInstallJobs returns every persisted job, oldest first.
func (db *DB) ListInstallJobs(ctx context.Context) ([]InstallJobRow, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT id, job, status FROM model_install_jobs ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list install jobs: %w", err)
	}
	defer rows.Close()
	var out []InstallJobRow
	for rows.Next() {
		var r InstallJobRow
		if err := rows.Scan(&r.ID, &r.Job, &r.Status); err != nil {
			return nil, fmt.Errorf("scan install job: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteInstallJobs removes the jobs with the given ids.
func (db *DB) DeleteInstallJobs(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := db.sql.ExecContext(ctx, `DELETE FROM model_install_jobs WHERE id IN (`+placeholders(len(ids))+`)`, anys(ids)...)
	if err != nil {
		return fmt.Errorf("delete install jobs: %w", err)
	}
	return nil
}

// SetModelSetting stores a model-manager value in app_settings (the Hugging Face token).
func (db *DB) SetModelSetting(ctx context.Context, key, value string) error {
	_, err := db.sql.ExecContext(ctx, `INSERT INTO app_settings (key, value) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("store setting %s: %w", key, err)
	}
	return nil
}

// DeleteModelSetting removes a model-manager value from app_settings; absent keys are not an error.
func (db *DB) DeleteModelSetting(ctx context.Context, key string) error {
	if _, err := db.sql.ExecContext(ctx, `DELETE FROM app_settings WHERE key = ?`, key); err != nil {
		return fmt.Errorf("delete setting %s: %w", key, err)
	}
	return nil
}
