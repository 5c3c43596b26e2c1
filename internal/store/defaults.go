package store

import (
	"context"
	"database/sql"
	"fmt"
)

// DefaultsSync says what a sync of built-in rows (default workflows, default style presets) changed.
type DefaultsSync struct {
	Added, Updated, Removed []string
}

// builtinRow is one built-in row as the binary ships it: its id and the content a stored copy must equal.
type builtinRow struct {
	id, content string
	insert      func() error
	update      func() error
}

// syncBuiltins makes a table's built-in rows equal to shipped, in tx: missing ones are inserted, ones whose
// content differs from existing (id → content) updated, and those no longer shipped removed. what names the
// rows in errors.
func syncBuiltins(what string, existing map[string]string, shipped []builtinRow, remove func(id string) error) (*DefaultsSync, error) {
	out := &DefaultsSync{}
	kept := map[string]bool{}
	for _, d := range shipped {
		kept[d.id] = true
		old, ok := existing[d.id]
		switch {
		case !ok:
			if err := d.insert(); err != nil {
				return nil, fmt.Errorf("add %s %s: %w", what, d.id, err)
			}
			out.Added = append(out.Added, d.id)
		case old != d.content:
			if err := d.update(); err != nil {
				return nil, fmt.Errorf("update %s %s: %w", what, d.id, err)
			}
			out.Updated = append(out.Updated, d.id)
		}
	}
	for id := range existing {
		if kept[id] {
			continue
		}
		if err := remove(id); err != nil {
			return nil, fmt.Errorf("remove %s %s: %w", what, id, err)
		}
		out.Removed = append(out.Removed, id)
	}
	return out, nil
}

// exec runs a statement in tx, for the builtinRow closures.
func exec(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	_, err := tx.ExecContext(ctx, query, args...)
	return err
}
