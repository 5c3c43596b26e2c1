import { useEffect, useState } from 'react';
import { api, errorText } from '../lib/api';
import { useApp } from '../lib/store';
import { subscribe } from '../lib/socket';

interface Starter {
  name: string;
  source: string;
  description: string;
  base: string;
  type: string;
  is_installed: boolean;
}

export function Splash() {
  const app = useApp();
  if (!app.user?.is_admin) {
    return (
      <div className="center-screen splash" data-testid="splash">
        <div className="card">
          <h1>No models installed</h1>
          <p>There are no models available yet. Ask your administrator to install one.</p>
        </div>
      </div>
    );
  }
  return <AdminSplash />;
}

function AdminSplash() {
  const app = useApp();
  const [starters, setStarters] = useState<Starter[]>([]);
  const [error, setError] = useState('');
  const [installing, setInstalling] = useState<Record<string, InstallState>>({});
  const setState = (source: string, state: InstallState) => setInstalling((s) => ({ ...s, [source]: state }));

  useEffect(() => {
    api<{ starter_models: Starter[] }>('/api/v2/models/starter_models')
      .then((r) => setStarters(r.starter_models.filter((s) => s.type === 'main')))
      .catch((e) => setError(errorText(e)));
  }, []);

  useEffect(() => {
    const offs = [
      subscribe('model_install_download_progress', (d) => {
        const pct = d.total_bytes ? Math.round((100 * d.bytes) / d.total_bytes) : 0;
        setState(sourceKey(d.source), { text: `Downloading ${pct}%`, phase: 'busy' });
      }),
      subscribe('model_install_complete', (d) => {
        setState(sourceKey(d.source), { text: 'Installed', phase: 'done' });
        app.refreshModels();
      }),
      subscribe('model_install_error', (d) => setState(sourceKey(d.source), { text: `Error: ${d.error || d.error_type || 'install failed'}`, phase: 'failed' })),
    ];
    return () => offs.forEach((f) => f());
  }, [app]);

  const install = async (s: Starter) => {
    setError('');
    try {
      setState(s.source, { text: 'Queued', phase: 'busy' });
      await api('/api/v2/models/install', { query: { source: s.source }, json: {} });
    } catch (e) {
      setState(s.source, { text: '', phase: 'failed' });
      setError(errorText(e));
    }
  };

  return (
    <div className="page splash" data-testid="splash">
      <h1>Welcome to Invoke</h1>
      <p>No models are installed yet. Install a starter model with one click, or add your own on the Models screen.</p>
      <button type="button" className="btn" onClick={() => app.navigate('/models')}>
        Open Model Manager
      </button>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <ul className="starter-list" data-testid="starter-models">
        {starters.map((s) => (
          <li key={s.source} className="card row">
            <div className="grow">
              <strong>{s.name}</strong> <span className="badge">{s.base}</span>
              <p className="muted">{s.description}</p>
            </div>
            <span className={installing[s.source]?.phase === 'failed' ? 'error' : 'muted'} data-testid="starter-status">
              {installing[s.source]?.text}
            </span>
            {/* After a failure the button is usable again, so that the admin can retry without a reload. */}
            <button
              type="button"
              className="btn primary"
              disabled={s.is_installed || installing[s.source]?.phase === 'busy' || installing[s.source]?.phase === 'done'}
              onClick={() => install(s)}
              aria-label={`Install ${s.name}`}
            >
              {s.is_installed || installing[s.source]?.phase === 'done' ? 'Installed' : 'Install'}
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}

interface InstallState {
  text: string;
  phase: 'busy' | 'failed' | 'done';
}

function sourceKey(src: unknown): string {
  if (typeof src === 'string') return src;
  const o = src as { repo_id?: string; url?: string; path?: string };
  return o?.repo_id || o?.url || o?.path || '';
}
