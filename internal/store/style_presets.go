package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/invokego/invokego/internal/access"
)

// StylePresetRecord is a row of style_presets. PresetData is the stored JSON {positive_prompt, negative_prompt}.
type StylePresetRecord struct {
	ID         string
	Name       string
	PresetData string
	Type       string
	CreatedAt  string
	UpdatedAt  string
	UserID     string
	IsPublic   bool
}

const stylePresetColumns = `id, name, preset_data, type, CAST(created_at AS TEXT), CAST(updated_at AS TEXT), user_id, is_public`

func scanStylePreset(row interface{ Scan(...any) error }) (*StylePresetRecord, error) {
	var r StylePresetRecord
	if err := row.Scan(&r.ID, &r.Name, &r.PresetData, &r.Type, &r.CreatedAt, &r.UpdatedAt, &r.UserID, &r.IsPublic); err != nil {
		return nil, err
	}
	return &r, nil
}

// InsertStylePresets stores new presets in one transaction (an import is all or nothing); ErrConflict if an
// id exists.
func (db *DB) InsertStylePresets(ctx context.Context, recs []StylePresetRecord) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		for _, r := range recs {
			_, err := tx.ExecContext(ctx, `INSERT INTO style_presets (id, name, preset_data, type, user_id, is_public) VALUES (?, ?, ?, ?, ?, ?)`,
				r.ID, r.Name, r.PresetData, r.Type, r.UserID, r.IsPublic)
			if isUniqueViolation(err) {
				return ErrConflict
			}
			if err != nil {
				return fmt.Errorf("insert style preset %s: %w", r.ID, err)
			}
		}
		return nil
	})
}

// StylePresetByID loads one preset; ErrNotFound if absent.
func (db *DB) StylePresetByID(ctx context.Context, id string) (*StylePresetRecord, error) {
	r, err := scanStylePreset(db.sql.QueryRowContext(ctx, `SELECT `+stylePresetColumns+` FROM style_presets WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load style preset %s: %w", id, err)
	}
	return r, nil
}

// UpdateStylePreset changes a user preset's name, data and sharing. The type condition keeps built-in presets
// out of reach even if a caller forgot to ask the access rules; ErrNotFound if nothing matched.
func (db *DB) UpdateStylePreset(ctx context.Context, id, name, presetData string, isPublic bool) error {
	res, err := db.sql.ExecContext(ctx, `UPDATE style_presets SET name = ?, preset_data = ?, is_public = ? WHERE id = ? AND type = 'user'`,
		name, presetData, isPublic, id)
	return oneRow(res, err, "update style preset "+id)
}

// DeleteStylePreset removes a user preset; ErrNotFound if nothing matched.
func (db *DB) DeleteStylePreset(ctx context.Context, id string) error {
	res, err := db.sql.ExecContext(ctx, `DELETE FROM style_presets WHERE id = ? AND type = 'user'`, id)
	return oneRow(res, err, "delete style preset "+id)
}

func oneRow(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// StylePresetFilter selects preset rows. Type "" keeps every type; Access is the caller's visibility or scope,
// compiled by the access package.
type StylePresetFilter struct {
	Type   string
	Access access.Filter
}

// ListStylePresets returns the matching presets ordered by lower-cased name, as InvokeAI lists them (the id
// breaks ties so the order is stable).
func (db *DB) ListStylePresets(ctx context.Context, f StylePresetFilter) ([]StylePresetRecord, error) {
	c := &conds{}
	if f.Type != "" {
		c.add("type = ?", f.Type)
	}
	c.filter(f.Access)
	where, args := c.where()
	rows, err := db.sql.QueryContext(ctx, `SELECT `+stylePresetColumns+` FROM style_presets`+where+` ORDER BY LOWER(name) ASC, id ASC`, args...)
	if err != nil {
		return nil, fmt.Errorf("list style presets: %w", err)
	}
	defer rows.Close()
	out := []StylePresetRecord{}
	for rows.Next() {
		r, err := scanStylePreset(rows)
		if err != nil {
			return nil, fmt.Errorf("list style presets: %w", err)
		}
		out = append(out, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list style presets: %w", err)
	}
	return out, nil
}

// SyncDefaultStylePresets makes the rows of type 'default' equal to defaults (their ID, Name and PresetData),
// in one transaction: missing ones are added (owned by system), changed ones replaced, and those no longer
// shipped removed. A user preset holding a default's id is never overwritten: the insert fails, and so does the
// sync.
func (db *DB) SyncDefaultStylePresets(ctx context.Context, defaults []StylePresetRecord) (*DefaultsSync, error) {
	var out *DefaultsSync
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+stylePresetColumns+` FROM style_presets WHERE type = 'default'`)
		if err != nil {
			return err
		}
		// A preset is current when its name and data both are.
		content := func(name, data string) string { return name + "\x00" + data }
		existing := map[string]string{}
		for rows.Next() {
			r, err := scanStylePreset(rows)
			if err != nil {
				rows.Close()
				return err
			}
			existing[r.ID] = content(r.Name, r.PresetData)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		shipped := make([]builtinRow, len(defaults))
		for i, d := range defaults {
			shipped[i] = builtinRow{id: d.ID, content: content(d.Name, d.PresetData),
				insert: func() error {
					return exec(ctx, tx, `INSERT INTO style_presets (id, name, preset_data, type, user_id, is_public) VALUES (?, ?, ?, 'default', ?, FALSE)`,
						d.ID, d.Name, d.PresetData, SystemUserID)
				},
				update: func() error {
					return exec(ctx, tx, `UPDATE style_presets SET name = ?, preset_data = ? WHERE id = ? AND type = 'default'`, d.Name, d.PresetData, d.ID)
				}}
		}
		out, err = syncBuiltins("default style preset", existing, shipped, func(id string) error {
			return exec(ctx, tx, `DELETE FROM style_presets WHERE id = ? AND type = 'default'`, id)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sync default style presets: %w", err)
	}
	return out, nil
}
