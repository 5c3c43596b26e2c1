import { useState, type FormEvent } from 'react';
import { api, errorText, setToken } from '../lib/api';
import { useApp } from '../lib/store';
import type { User } from '../lib/types';

export function passwordStrength(pw: string): 'weak' | 'moderate' | 'strong' {
  if (pw.length < 8) return 'weak';
  if (/[A-Z]/.test(pw) && /[a-z]/.test(pw) && /\d/.test(pw)) return 'strong';
  return 'moderate';
}

export function SetupScreen() {
  const app = useApp();
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError('');
    if (password !== confirm) {
      setError('Passwords do not match');
      return;
    }
    setBusy(true);
    try {
      await api('/api/v1/auth/setup', { json: { email, display_name: name || undefined, password } });
      const res = await api<{ token: string; user: User }>('/api/v1/auth/login', { json: { email, password, remember_me: false } });
      app.login(res.token, res.user, false);
      await app.refreshStatus();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="center-screen">
      <form className="card auth-card" onSubmit={submit} aria-labelledby="setup-title">
        <div className="logo">invoke</div>
        <h1 id="setup-title">Set up the administrator</h1>
        <p className="muted">This is the first run in multi-user mode. Create the administrator account.</p>
        <label className="field">
          <span>Email</span>
          <input type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label className="field">
          <span>Display Name</span>
          <input type="text" value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label className="field">
          <span>Password</span>
          <input type="password" autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        {password && (
          <div className={`strength strength-${passwordStrength(password)}`} data-testid="password-strength">
            Strength: {passwordStrength(password)}
          </div>
        )}
        <label className="field">
          <span>Confirm Password</span>
          <input type="password" autoComplete="new-password" required value={confirm} onChange={(e) => setConfirm(e.target.value)} />
        </label>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="btn primary" disabled={busy}>
          Create Administrator
        </button>
      </form>
    </div>
  );
}

export function LoginScreen() {
  const app = useApp();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [remember, setRemember] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError('');
    setBusy(true);
    try {
      const res = await api<{ token: string; user: User }>('/api/v1/auth/login', {
        json: { email, password, remember_me: remember },
      });
      app.login(res.token, res.user, remember);
      if (window.location.pathname === '/login') app.navigate('/generate');
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="center-screen">
      <form className="card auth-card" onSubmit={submit} aria-labelledby="login-title">
        <div className="logo">invoke</div>
        <h1 id="login-title">Sign in</h1>
        <label className="field">
          <span>Email</span>
          <input type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label className="field">
          <span>Password</span>
          <input type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        <label className="check">
          <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.target.checked)} />
          <span>Remember me</span>
        </label>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="btn primary" disabled={busy}>
          Log in
        </button>
      </form>
    </div>
  );
}

export function ProfileScreen() {
  const app = useApp();
  const user = app.user!;
  const [name, setName] = useState(user.display_name ?? '');
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [msg, setMsg] = useState('');
  const [error, setError] = useState('');

  const saveName = async (e: FormEvent) => {
    e.preventDefault();
    setMsg('');
    setError('');
    try {
      const u = await api<User>('/api/v1/auth/me', { method: 'PATCH', json: { display_name: name } });
      app.setUser(u);
      setMsg('Profile saved');
    } catch (err) {
      setError(errorText(err));
    }
  };

  const savePassword = async (e: FormEvent) => {
    e.preventDefault();
    setMsg('');
    setError('');
    try {
      await api<User>('/api/v1/auth/me', { method: 'PATCH', json: { current_password: current, new_password: next } });
      setCurrent('');
      setNext('');
      setMsg('Password changed');
      // A password change revokes existing tokens: sign in again with the new password.
      try {
        const res = await api<{ token: string; user: User }>('/api/v1/auth/login', {
          json: { email: user.email, password: next, remember_me: !!localStorage.getItem('auth_token') },
        });
        setToken(res.token);
      } catch {
        /* the login screen will appear if the token is gone */
      }
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <div className="page narrow-page">
      <h1>Profile</h1>
      <p className="muted" data-testid="profile-email">
        {user.email} {user.is_admin && <span className="badge">Admin</span>}
      </p>
      {/* Single-user mode has no account: nothing to rename, no password to change and nobody to log out. */}
      {!app.multiuser && <p data-testid="single-user-note">Single-user mode: there are no accounts, so no sign-in is needed.</p>}
      {app.multiuser && (
        <form className="card" onSubmit={saveName}>
          <label className="field">
            <span>Display Name</span>
            <input value={name} onChange={(e) => setName(e.target.value)} />
          </label>
          <button type="submit" className="btn">
            Save Profile
          </button>
        </form>
      )}
      {app.multiuser && (
        <form className="card" onSubmit={savePassword}>
          <h2>Change password</h2>
          <label className="field">
            <span>Current Password</span>
            <input type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} />
          </label>
          <label className="field">
            <span>New Password</span>
            <input type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} />
          </label>
          <button type="submit" className="btn" disabled={!next}>
            Change Password
          </button>
        </form>
      )}
      {msg && <p className="ok" role="status">{msg}</p>}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {app.multiuser && (
        <button type="button" className="btn" onClick={() => app.logout()}>
          Log out
        </button>
      )}
    </div>
  );
}
