package store

import (
	"context"
	"fmt"
	"sort"
)

// orderedPair stores a relationship as InvokeAI does: the smaller key first, so (a, b) and (b, a) are one row.
func orderedPair(a, b string) (string, string) {
	if a > b {
		return b, a
	}
	return a, b
}

// AddModelRelationship links two models; linking them again changes nothing. Both keys must name models
// (the foreign keys refuse others) and differ (the CHECK constraint refuses a model related to itself).
func (db *DB) AddModelRelationship(ctx context.Context, keyA, keyB string) error {
	k1, k2 := orderedPair(keyA, keyB)
	_, err := db.sql.ExecContext(ctx, `INSERT INTO model_relationships (model_key_1, model_key_2) VALUES (?, ?)
		ON CONFLICT (model_key_1, model_key_2) DO NOTHING`, k1, k2)
	if err != nil {
		return fmt.Errorf("add model relationship %s-%s: %w", k1, k2, err)
	}
	return nil
}

// RemoveModelRelationship unlinks two models; removing a link that does not exist is not an error.
func (db *DB) RemoveModelRelationship(ctx context.Context, keyA, keyB string) error {
	k1, k2 := orderedPair(keyA, keyB)
	if _, err := db.sql.ExecContext(ctx, `DELETE FROM model_relationships WHERE model_key_1 = ? AND model_key_2 = ?`, k1, k2); err != nil {
		return fmt.Errorf("remove model relationship %s-%s: %w", k1, k2, err)
	}
	return nil
}

// RelatedModelKeys returns the keys related to any of the given models, each once, sorted.
func (db *DB) RelatedModelKeys(ctx context.Context, keys []string) ([]string, error) {
	seen := map[string]bool{}
	err := forInLists(keys, func(in string, args []any) error {
		rows, err := db.sql.QueryContext(ctx, `SELECT model_key_2 FROM model_relationships WHERE model_key_1 IN `+in+`
			UNION SELECT model_key_1 FROM model_relationships WHERE model_key_2 IN `+in, append(args, args...)...)
		if err != nil {
			return fmt.Errorf("related models: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				return fmt.Errorf("scan related model: %w", err)
			}
			seen[k] = true
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// ModelsExist returns which of the given keys name a model.
func (db *DB) ModelsExist(ctx context.Context, keys []string) (map[string]bool, error) {
	found := map[string]bool{}
	err := forInLists(keys, func(in string, args []any) error {
		rows, err := db.sql.QueryContext(ctx, `SELECT id FROM models WHERE id IN `+in, args...)
		if err != nil {
			return fmt.Errorf("check models exist: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return fmt.Errorf("scan model id: %w", err)
			}
			found[id] = true
		}
		return rows.Err()
	})
	return found, err
}
