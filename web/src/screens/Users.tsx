import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api, errorText } from '../lib/api';
import { useApp } from '../lib/store';
import type { User } from '../lib/types';
import { ConfirmDialog } from '../components/ConfirmDialog';

export function UsersScreen() {
  const app = useApp();
  const [users, setUsers] = useState<User[]>([]);
  const [error, setError] = useState('');
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [isAdmin, setIsAdmin] = useState(false);
  const [editing, setEditing] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setUsers(await api<User[]>('/api/v1/auth/users'));
    } catch (e) {
      setError(errorText(e));
    }
  }, []);
  useEffect(() => {
    load();
  }, [load]);

  if (!app.multiuser) return <p className="pad">There are no user accounts in single-user mode.</p>;
  if (!app.user?.is_admin) return <p className="pad">Administrator access is required.</p>;

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError('');
    try {
      await api('/api/v1/auth/users', { json: { email, display_name: name || undefined, password, is_admin: isAdmin } });
      setEmail('');
      setName('');
      setPassword('');
      setIsAdmin(false);
      app.toast('User created', 'success');
      await load();
    } catch (err) {
      setError(errorText(err));
    }
  };

  const generate = async () => {
    try {
      const r = await api<{ password: string }>('/api/v1/auth/generate-password');
      setPassword(r.password);
    } catch (err) {
      setError(errorText(err));
    }
  };

  const patch = async (u: User, changes: Record<string, unknown>) => {
    try {
      await api(`/api/v1/auth/users/${u.user_id}`, { method: 'PATCH', json: changes });
      await load();
    } catch (err) {
      app.toast(errorText(err), 'error');
    }
  };

  const del = async (u: User, deleteContent: boolean) => {
    setDeleting(null);
    try {
      await api(`/api/v1/auth/users/${u.user_id}`, { method: 'DELETE', query: deleteContent ? { delete_content: true } : undefined });
      await load();
    } catch (err) {
      app.toast(errorText(err), 'error');
    }
  };

  return (
    <div className="page">
      <h1>Users</h1>
      <form className="card form-grid" onSubmit={create} aria-label="Create user">
        <h2>Create user</h2>
        <label className="field">
          <span>Email</span>
          <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label className="field">
          <span>Display Name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label className="field">
          <span>Password</span>
          <input type="text" required value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="new-password" />
        </label>
        <div className="row wrap">
          <button type="button" className="btn small" onClick={generate}>
            Generate Password
          </button>
          <label className="check">
            <input type="checkbox" checked={isAdmin} onChange={(e) => setIsAdmin(e.target.checked)} />
            <span>Administrator</span>
          </label>
          <button type="submit" className="btn primary">
            Create User
          </button>
        </div>
      </form>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <table className="table" data-testid="user-list">
        <thead>
          <tr>
            <th>Email</th>
            <th>Name</th>
            <th>Role</th>
            <th>Status</th>
            <th>Actions</th>
          </tr>
        </thead>
        <tbody>
          {users.map((u) => (
            <tr key={u.user_id} data-testid="user-item" data-email={u.email}>
              <td>{u.email}</td>
              <td>{u.display_name}</td>
              <td>{u.is_admin ? <span className="badge">Admin</span> : 'User'}</td>
              <td>{u.is_active ? 'Active' : <span className="badge vis-private">Inactive</span>}</td>
              <td className="row wrap">
                <button type="button" className="btn small" onClick={() => setEditing(u.user_id)} aria-label={`Edit ${u.email}`}>
                  Edit
                </button>
                <button type="button" className="btn small" onClick={() => patch(u, { is_admin: !u.is_admin })}>
                  {u.is_admin ? 'Remove Admin' : 'Make Admin'}
                </button>
                <button type="button" className="btn small" onClick={() => patch(u, { is_active: !u.is_active })}>
                  {u.is_active ? 'Deactivate' : 'Activate'}
                </button>
                <button type="button" className="btn small danger" onClick={() => setDeleting(u.user_id)} aria-label={`Delete ${u.email}`}>
                  Delete
                </button>
                {/* Dialogs sit inside the row so that they belong to it; they are fixed over the page. */}
                {editing === u.user_id && (
                  <EditUser
                    user={u}
                    onClose={async (changed) => {
                      setEditing(null);
                      if (changed) await load();
                    }}
                  />
                )}
                {deleting === u.user_id && <DeleteUser user={u} onCancel={() => setDeleting(null)} onDelete={(withContent) => del(u, withContent)} />}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Edit dialog: display name, a new password, administrator and active flags; server refusals show here. */
function EditUser({ user, onClose }: { user: User; onClose: (changed: boolean) => void }) {
  const [name, setName] = useState(user.display_name ?? '');
  const [password, setPassword] = useState('');
  const [isAdmin, setIsAdmin] = useState(user.is_admin);
  const [isActive, setIsActive] = useState(user.is_active);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && onClose(false);
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [onClose]);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    // Send only what changed, so that an unchanged flag cannot trip a server rule.
    const changes: Record<string, unknown> = {};
    if (name !== (user.display_name ?? '')) changes.display_name = name;
    if (password) changes.password = password;
    if (isAdmin !== user.is_admin) changes.is_admin = isAdmin;
    if (isActive !== user.is_active) changes.is_active = isActive;
    if (Object.keys(changes).length === 0) return onClose(false);
    setBusy(true);
    setError('');
    try {
      await api(`/api/v1/auth/users/${user.user_id}`, { method: 'PATCH', json: changes });
      onClose(true);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };

  const generate = async () => {
    try {
      const r = await api<{ password: string }>('/api/v1/auth/generate-password');
      setPassword(r.password);
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <div className="modal-backdrop">
      <form className="modal card" role="dialog" aria-modal="true" aria-label={`Edit ${user.email}`} onSubmit={save}>
        <h2>Edit {user.email}</h2>
        <label className="field">
          <span>Display Name</span>
          <input autoFocus value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label className="field">
          <span>New Password</span>
          <input type="text" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="new-password" placeholder="Leave empty to keep the current one" />
        </label>
        <div className="row wrap">
          <button type="button" className="btn small" onClick={generate}>
            Generate Password
          </button>
          <label className="check">
            <input type="checkbox" checked={isAdmin} onChange={(e) => setIsAdmin(e.target.checked)} />
            <span>Administrator</span>
          </label>
          <label className="check">
            <input type="checkbox" checked={isActive} onChange={(e) => setIsActive(e.target.checked)} />
            <span>Active</span>
          </label>
        </div>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="row">
          <button type="submit" className="btn primary" disabled={busy}>
            Save
          </button>
          <button type="button" className="btn" onClick={() => onClose(false)}>
            Cancel
          </button>
        </div>
      </form>
    </div>
  );
}

/** docs/security.md D12: a deleted user's content either becomes the deleting admin's or is deleted with them. */
function DeleteUser({ user, onCancel, onDelete }: { user: User; onCancel: () => void; onDelete: (withContent: boolean) => void }) {
  const [withContent, setWithContent] = useState(false);
  return (
    <ConfirmDialog title={`Delete ${user.email}?`} onCancel={onCancel} actions={[{ label: 'Delete', onConfirm: () => onDelete(withContent) }]}>
      <fieldset className="choice">
        <legend className="muted">Their boards, images, workflows and queue items</legend>
        <label className="check">
          <input type="radio" name="user-content" checked={!withContent} onChange={() => setWithContent(false)} />
          <span>Keep their content (it becomes yours)</span>
        </label>
        <label className="check">
          <input type="radio" name="user-content" checked={withContent} onChange={() => setWithContent(true)} />
          <span>Delete their content too</span>
        </label>
      </fieldset>
    </ConfirmDialog>
  );
}
