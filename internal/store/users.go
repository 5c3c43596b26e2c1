package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SystemUserID owns everything in single-user mode.
const SystemUserID = "system"

// User is a row of the users table.
type User struct {
	UserID       string
	Email        string
	DisplayName  *string
	PasswordHash string
	IsAdmin      bool
	IsActive     bool
	TokenEpoch   int64
	CreatedAt    string
	UpdatedAt    string
	LastLoginAt  *string
}

const userColumns = `user_id, email, display_name, password_hash, is_admin, is_active, token_epoch, created_at, updated_at, last_login_at`

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var u User
	var dn, last sql.NullString
	if err := row.Scan(&u.UserID, &u.Email, &dn, &u.PasswordHash, &u.IsAdmin, &u.IsActive, &u.TokenEpoch, &u.CreatedAt, &u.UpdatedAt, &last); err != nil {
		return nil, err
	}
	if dn.Valid {
		u.DisplayName = &dn.String
	}
	if last.Valid {
		u.LastLoginAt = &last.String
	}
	return &u, nil
}

// CreateUser inserts a user; ErrConflict if the email is taken.
func (db *DB) CreateUser(ctx context.Context, u User) (*User, error) {
	_, err := db.sql.ExecContext(ctx, `INSERT INTO users (user_id, email, display_name, password_hash, is_admin, is_active) VALUES (?, ?, ?, ?, ?, ?)`,
		u.UserID, u.Email, u.DisplayName, u.PasswordHash, u.IsAdmin, u.IsActive)
	if isUniqueViolation(err) {
		return nil, ErrConflict
	}
	if err != nil {
		return nil, fmt.Errorf("insert user: %w", err)
	}
	return db.UserByID(ctx, u.UserID)
}

// UserByID loads one user; ErrNotFound if absent.
func (db *DB) UserByID(ctx context.Context, id string) (*User, error) {
	u, err := scanUser(db.sql.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE user_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	return u, nil
}

// UserByEmail loads one user by normalised email; ErrNotFound if absent.
func (db *DB) UserByEmail(ctx context.Context, email string) (*User, error) {
	u, err := scanUser(db.sql.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	return u, nil
}

// ListUsers returns users newest first, optionally without the system row.
func (db *DB) ListUsers(ctx context.Context, includeSystem bool, limit, offset int) ([]User, error) {
	q := `SELECT ` + userColumns + ` FROM users`
	if !includeSystem {
		q += ` WHERE user_id != 'system'`
	}
	q += ` ORDER BY created_at DESC, user_id LIMIT ? OFFSET ?`
	rows, err := db.sql.QueryContext(ctx, q, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("scan user: %w", err)
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}

// CountActiveAdmins counts users that are both admin and active.
func (db *DB) CountActiveAdmins(ctx context.Context) (int, error) {
	var n int
	err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE is_admin AND is_active`).Scan(&n)
	return n, err
}

// UserChanges lists the columns an update may set; nil means unchanged.
type UserChanges struct {
	Email        *string
	DisplayName  *string
	PasswordHash *string
	IsAdmin      *bool
	IsActive     *bool
	// RevokeTokens bumps token_epoch so that every token issued before is rejected.
	RevokeTokens bool
}

// UpdateUser applies changes. When guardLastAdmin is set, the update fails with ErrLastAdmin if it would
// leave no active admin; the check and the write happen in one transaction so two racing demotions cannot both pass.
func (db *DB) UpdateUser(ctx context.Context, id string, ch UserChanges, guardLastAdmin bool) (*User, error) {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		wasAdmin, err := wasActiveAdmin(ctx, tx, id)
		if err != nil {
			return err
		}
		var s sets
		setIf(&s, "email", ch.Email)
		setIf(&s, "display_name", ch.DisplayName)
		setIf(&s, "password_hash", ch.PasswordHash)
		setIf(&s, "is_admin", ch.IsAdmin)
		setIf(&s, "is_active", ch.IsActive)
		if ch.RevokeTokens {
			s.expr("token_epoch = token_epoch + 1")
		}
		if s.empty() {
			return nil
		}
		if ch.IsActive != nil && !*ch.IsActive {
			// A deactivated account's queued work is canceled with it, in the same transaction.
			if _, err := cancelOpenItemsOf(ctx, tx, id); err != nil {
				return err
			}
		}
		set, args := s.clause(id)
		_, err = tx.ExecContext(ctx, `UPDATE users SET `+set+` WHERE user_id = ?`, args...)
		if isUniqueViolation(err) {
			return ErrConflict
		}
		if err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		if guardLastAdmin && wasAdmin {
			return requireActiveAdmin(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db.UserByID(ctx, id)
}

// ErrLastAdmin means the change would leave the server without an active admin.
var ErrLastAdmin = errors.New("last active admin")

// wasActiveAdmin reports whether the user is an active admin, read inside the transaction before a change.
func wasActiveAdmin(ctx context.Context, tx *sql.Tx, id string) (bool, error) {
	var ok bool
	err := tx.QueryRowContext(ctx, `SELECT is_admin AND is_active FROM users WHERE user_id = ?`, id).Scan(&ok)
	if errors.Is(err, sql.ErrNoRows) {
		return false, ErrNotFound
	}
	return ok, err
}

func requireActiveAdmin(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE is_admin AND is_active`).Scan(&n); err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	if n == 0 {
		return ErrLastAdmin
	}
	return nil
}

// SetLastLogin records a successful login.
func (db *DB) SetLastLogin(ctx context.Context, id, at string) error {
	_, err := db.sql.ExecContext(ctx, `UPDATE users SET last_login_at = ? WHERE user_id = ?`, at, id)
	return err
}

// DeletedContent says what happened to a deleted user's content.
type DeletedContent struct {
	Boards     int `json:"boards"`
	Images     int `json:"images"`
	Workflows  int `json:"workflows"`
	QueueItems int `json:"queue_items"`
	// QueueItemsCanceled counts the pending and running items of the user that were canceled: they never run,
	// whatever happens to the rest of the content.
	QueueItemsCanceled int      `json:"queue_items_canceled"`
	ImageNames         []string `json:"-"`
	WorkflowIDs        []string `json:"-"`
	StylePresetIDs     []string `json:"-"`
}

// DeleteUser removes a user. Their pending and running queue items are canceled first. With reassignTo set,
// their boards, images, workflows, queue items (as history: they can never run again, see
// QueueItem.EnqueuedBy) and presets become that user's; otherwise they are deleted (image and thumbnail files are the caller's to remove, using
// the returned names). guardLastAdmin refuses to remove the last active admin. All in one transaction.
func (db *DB) DeleteUser(ctx context.Context, id, reassignTo string, guardLastAdmin bool) (*DeletedContent, error) {
	out := &DeletedContent{}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		wasAdmin, err := wasActiveAdmin(ctx, tx, id)
		if err != nil {
			return err
		}
		count := func(table string) (int, error) {
			var n int
			err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE user_id = ?`, id).Scan(&n)
			return n, err
		}
		if out.Boards, err = count("boards"); err != nil {
			return err
		}
		if out.Images, err = count("images"); err != nil {
			return err
		}
		if out.Workflows, err = count("workflow_library"); err != nil {
			return err
		}
		if out.QueueItems, err = count("session_queue"); err != nil {
			return err
		}
		if out.QueueItemsCanceled, err = cancelOpenItemsOf(ctx, tx, id); err != nil {
			return err
		}
		owned := []string{"images", "boards", "workflow_library", "session_queue", "style_presets"}
		if reassignTo != "" {
			for _, table := range owned {
				if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET user_id = ? WHERE user_id = ?`, reassignTo, id); err != nil {
					return fmt.Errorf("reassign %s: %w", table, err)
				}
			}
		} else {
			if out.ImageNames, err = collectStrings(ctx, tx, `SELECT image_name FROM images WHERE user_id = ?`, id); err != nil {
				return err
			}
			if out.WorkflowIDs, err = collectStrings(ctx, tx, `SELECT workflow_id FROM workflow_library WHERE user_id = ?`, id); err != nil {
				return err
			}
			if out.StylePresetIDs, err = collectStrings(ctx, tx, `SELECT id FROM style_presets WHERE user_id = ?`, id); err != nil {
				return err
			}
			for _, table := range owned {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE user_id = ?`, id); err != nil {
					return fmt.Errorf("delete %s: %w", table, err)
				}
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE user_id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if guardLastAdmin && wasAdmin {
			return requireActiveAdmin(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func collectStrings(ctx context.Context, q queryer, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
