import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api, errorText } from '../lib/api';
import { useApp } from '../lib/store';
import type { User } from '../lib/types';

export function UsersScreen() {
  const app = useApp();
  const [users, setUsers] = useState<User[]>([]);
  const [error, setError] = useState('');
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [isAdmin, setIsAdmin] = useState(false);
  const [editing, setEditing] = useState<string | null>(null);

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

  const del = async (u: User) => {
    if (!window.confirm(`Delete ${u.email}?`)) return;
    try {
      await api(`/api/v1/auth/users/${u.user_id}`, { method: 'DELETE' });
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
              <td>
                {editing === u.user_id ? (
                  <EditName
                    user={u}
                    onDone={async (n) => {
                      setEditing(null);
                      if (n !== null) await patch(u, { display_name: n });
                    }}
                  />
                ) : (
                  u.display_name
                )}
              </td>
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
                <button type="button" className="btn small danger" onClick={() => del(u)} aria-label={`Delete ${u.email}`}>
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function EditName({ user, onDone }: { user: User; onDone: (name: string | null) => void }) {
  const [v, setV] = useState(user.display_name ?? '');
  return (
    <form
      className="row"
      onSubmit={(e) => {
        e.preventDefault();
        onDone(v);
      }}
    >
      <input aria-label="Display Name" autoFocus value={v} onChange={(e) => setV(e.target.value)} />
      <button type="submit" className="btn small">
        Save
      </button>
      <button type="button" className="btn small" onClick={() => onDone(null)}>
        Cancel
      </button>
    </form>
  );
}
