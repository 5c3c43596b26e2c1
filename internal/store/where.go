package store

import (
	"context"
	"database/sql"
	"strings"

	"github.com/invokego/invokego/internal/access"
)

// conds is a WHERE clause under construction: conditions ANDed, with their arguments in order. Every listing
// of the store builds its clause with it, so that access filters, IN lists and optional conditions compose the
// same way everywhere.
type conds struct {
	parts []string
	args  []any
}

// add appends one condition and its arguments.
func (c *conds) add(cond string, args ...any) {
	c.parts = append(c.parts, cond)
	c.args = append(c.args, args...)
}

// filter appends an access filter; the empty filter and access.All keep every row and add nothing.
func (c *conds) filter(f access.Filter) {
	if f.KeepsAll() {
		return
	}
	c.add("("+f.SQL+")", f.Args...)
}

// in appends column IN (values); an empty list adds nothing (it does not filter).
func in[T any](c *conds, column string, values []T) {
	if len(values) == 0 {
		return
	}
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	c.add(column+" IN ("+placeholders(len(values))+")", args...)
}

// where is the clause with its keyword (" WHERE a AND b"), or "" when nothing filters.
func (c *conds) where() (string, []any) {
	if len(c.parts) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(c.parts, " AND "), c.args
}

// maxInList bounds the values bound into one IN list, well under SQLite's limit on host parameters.
const maxInList = 500

// forInLists calls fn with values in chunks of at most maxInList, each as an IN list "(?, ?, …)" and its
// arguments, stopping at the first error.
func forInLists[T any](values []T, fn func(list string, args []any) error) error {
	for start := 0; start < len(values); start += maxInList {
		chunk := values[start:min(start+maxInList, len(values))]
		if err := fn("("+placeholders(len(chunk))+")", anys(chunk)); err != nil {
			return err
		}
	}
	return nil
}

// placeholders is n comma-separated parameters for an IN list.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// anys turns a list of values into query arguments.
func anys[T any](s []T) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// sets is the SET list of an UPDATE under construction: the columns a change names, with their values.
type sets struct {
	parts []string
	args  []any
}

// setIf sets column to *v when v is not nil (a change leaves the columns it does not name alone).
func setIf[T any](s *sets, column string, v *T) {
	if v != nil {
		s.parts = append(s.parts, column+" = ?")
		s.args = append(s.args, *v)
	}
}

// expr sets a column to an expression of its own.
func (s *sets) expr(assignment string) { s.parts = append(s.parts, assignment) }

// empty reports whether the change names no column.
func (s *sets) empty() bool { return len(s.parts) == 0 }

// update applies the SET list to the row of table whose keyColumn is key and reports whether that row
// exists. A change that names no column writes nothing and reports true (the caller's read then decides).
func (s *sets) update(ctx context.Context, db *sql.DB, table, keyColumn string, key any) (bool, error) {
	if s.empty() {
		return true, nil
	}
	set, args := s.clause(key)
	res, err := db.ExecContext(ctx, `UPDATE `+table+` SET `+set+` WHERE `+keyColumn+` = ?`, args...)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// clause is "a = ?, b = ?" and the values, followed by the given WHERE arguments.
func (s *sets) clause(whereArgs ...any) (string, []any) {
	return strings.Join(s.parts, ", "), append(append([]any{}, s.args...), whereArgs...)
}
