import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api, errorText } from '../lib/api';
import { subscribe } from '../lib/socket';
import { useApp } from '../lib/store';
import type { InstallJob, ModelConfig } from '../lib/types';
import { ConfirmDialog } from '../components/ConfirmDialog';

/** A failed install's text as the user needs it: the message, led by the error's class when it adds anything. */
export function installErrorText(j: Pick<InstallJob, 'error' | 'error_reason'>): string {
  const message = (j.error ?? '').trim();
  const reason = (j.error_reason ?? '').trim();
  if (!message) return reason;
  if (!reason || message.startsWith(reason)) return message;
  return `${reason}: ${message}`;
}

function jobSource(j: InstallJob): string {
  if (typeof j.source === 'string') return j.source;
  return j.source.repo_id || j.source.url || j.source.path || '';
}

export function ModelsScreen() {
  const app = useApp();
  const [models, setModels] = useState<ModelConfig[]>([]);
  const [jobs, setJobs] = useState<InstallJob[]>([]);
  const [source, setSource] = useState('');
  const [error, setError] = useState('');
  const [editing, setEditing] = useState<ModelConfig | null>(null);
  const [deleting, setDeleting] = useState<ModelConfig | null>(null);

  const load = useCallback(async () => {
    try {
      const [m, j] = await Promise.all([api<{ models: ModelConfig[] }>('/api/v2/models/'), api<InstallJob[]>('/api/v2/models/install')]);
      setModels(m.models);
      setJobs(j);
    } catch (e) {
      setError(errorText(e));
    }
  }, []);

  useEffect(() => {
    load();
    const offs = [
      subscribe('model_install_download_progress', (d) =>
        setJobs((js) => js.map((j) => (j.id === d.id ? { ...j, status: 'downloading', bytes: d.bytes, total_bytes: d.total_bytes } : j))),
      ),
      subscribe('model_install_started', () => load()),
      subscribe('model_install_downloads_complete', () => load()),
      subscribe('model_install_complete', () => {
        load();
        app.refreshModels();
      }),
      subscribe('model_install_error', () => load()),
      subscribe('model_install_cancelled', () => load()),
    ];
    const t = setInterval(() => {
      api<InstallJob[]>('/api/v2/models/install')
        .then(setJobs)
        .catch(() => undefined);
    }, 3000);
    return () => {
      offs.forEach((f) => f());
      clearInterval(t);
    };
  }, [load]); // eslint-disable-line react-hooks/exhaustive-deps

  if (!app.user?.is_admin) return <p className="pad">Administrator access is required.</p>;

  const install = async (e: FormEvent) => {
    e.preventDefault();
    setError('');
    try {
      await api('/api/v2/models/install', { query: { source: source.trim() }, json: {} });
      setSource('');
      await load();
    } catch (err) {
      setError(errorText(err));
    }
  };

  const del = async (m: ModelConfig) => {
    setDeleting(null);
    try {
      await api(`/api/v2/models/i/${m.key}`, { method: 'DELETE' });
      await load();
      app.refreshModels();
    } catch (err) {
      app.toast(errorText(err), 'error');
    }
  };

  return (
    <div className="page">
      <h1>Models</h1>
      <form className="card row wrap" onSubmit={install} aria-label="Install model">
        <label className="field grow">
          <span>Model Source</span>
          <input value={source} onChange={(e) => setSource(e.target.value)} placeholder="/path/to/model, https://…, or owner/repo" />
        </label>
        <button type="submit" className="btn primary" disabled={!source.trim()}>
          Install Model
        </button>
      </form>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {jobs.length > 0 && (
        <section>
          <div className="panel-head">
            <h2>Install queue</h2>
            <div className="grow" />
            <button type="button" className="btn small" onClick={() => api('/api/v2/models/install', { method: 'DELETE' }).then(load, () => undefined)}>
              Clear Finished
            </button>
          </div>
          <ul className="job-list" data-testid="install-jobs">
            {jobs.map((j) => {
              const pct = j.total_bytes ? Math.round((100 * j.bytes) / j.total_bytes) : j.status === 'completed' ? 100 : 0;
              return (
                <li key={j.id} className="card" data-testid="install-job" data-status={j.status}>
                  <div className="row">
                    <span className="grow ellipsis">{jobSource(j)}</span>
                    <span className={`status status-${j.status}`}>{j.status}</span>
                    {!['completed', 'error', 'cancelled'].includes(j.status) && (
                      <button type="button" className="btn small" onClick={() => api(`/api/v2/models/install/${j.id}`, { method: 'DELETE' }).then(load, () => undefined)}>
                        Cancel
                      </button>
                    )}
                  </div>
                  <div className="progressbar" role="progressbar" aria-label={`Install progress ${jobSource(j)}`} aria-valuenow={pct} aria-valuemin={0} aria-valuemax={100}>
                    <div style={{ width: `${pct}%` }} />
                  </div>
                  {(j.error || j.error_reason) && (
                    <p className="error small" data-testid="install-error">
                      {installErrorText(j)}
                    </p>
                  )}
                </li>
              );
            })}
          </ul>
        </section>
      )}
      <h2>Installed models</h2>
      <table className="table" data-testid="model-list">
        <thead>
          <tr>
            <th>Name</th>
            <th>Base</th>
            <th>Type</th>
            <th className="hide-narrow">Format</th>
            <th>Actions</th>
          </tr>
        </thead>
        <tbody>
          {models.map((m) => (
            <tr key={m.key} data-testid="model-item" data-model-name={m.name}>
              <td>
                {m.name}
                {m.description && <div className="muted small">{m.description}</div>}
              </td>
              <td>{m.base}</td>
              <td>{m.type}</td>
              <td className="hide-narrow">{m.format}</td>
              <td className="row">
                <button type="button" className="btn small" onClick={() => setEditing(m)} aria-label={`Edit ${m.name}`}>
                  Edit
                </button>
                <button type="button" className="btn small danger" onClick={() => setDeleting(m)} aria-label={`Delete ${m.name}`}>
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {models.length === 0 && <p className="muted pad">No models installed.</p>}
      {deleting && (
        <ConfirmDialog title={`Delete model ${deleting.name}?`} onCancel={() => setDeleting(null)} actions={[{ label: 'Delete', onConfirm: () => del(deleting) }]}>
          <p className="muted">The model is removed from the list. Files installed into the models folder are deleted; models used in place keep their files.</p>
        </ConfirmDialog>
      )}
      {editing && (
        <EditModel
          model={editing}
          onClose={async (changed) => {
            setEditing(null);
            if (changed) {
              await load();
              app.refreshModels();
            }
          }}
        />
      )}
    </div>
  );
}

function EditModel({ model, onClose }: { model: ModelConfig; onClose: (changed: boolean) => void }) {
  const [name, setName] = useState(model.name);
  const [description, setDescription] = useState(model.description ?? '');
  const [error, setError] = useState('');
  const save = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api(`/api/v2/models/i/${model.key}`, { method: 'PATCH', json: { name, description } });
      onClose(true);
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <div className="modal-backdrop">
      <form className="modal card" role="dialog" aria-modal="true" aria-label="Edit model" onSubmit={save}>
        <h2>Edit model</h2>
        <label className="field">
          <span>Model Name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label className="field">
          <span>Description</span>
          <textarea value={description} onChange={(e) => setDescription(e.target.value)} />
        </label>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="row">
          <button type="submit" className="btn primary">
            Save Model
          </button>
          <button type="button" className="btn" onClick={() => onClose(false)}>
            Cancel
          </button>
        </div>
      </form>
    </div>
  );
}
