import { useCallback, useEffect, useState } from 'react';
import { api, errorText } from '../lib/api';
import { useApp } from '../lib/store';
import type { QueueItem, QueueStatus } from '../lib/types';

export function isRedacted(item: QueueItem): boolean {
  return item.user_id === 'redacted';
}

export function QueueScreen() {
  const app = useApp();
  const [items, setItems] = useState<QueueItem[]>([]);
  const [status, setStatus] = useState<{ queue: QueueStatus; processor: { is_started: boolean; is_processing: boolean } } | null>(null);
  const [error, setError] = useState('');

  const load = useCallback(async () => {
    try {
      const [list, st] = await Promise.all([
        api<QueueItem[]>('/api/v1/queue/default/list_all'),
        api<{ queue: QueueStatus; processor: { is_started: boolean; is_processing: boolean } }>('/api/v1/queue/default/status'),
      ]);
      setItems([...list].sort((a, b) => b.item_id - a.item_id));
      setStatus(st);
      setError('');
    } catch (e) {
      setError(errorText(e));
    }
  }, []);

  useEffect(() => {
    load();
  }, [load, app.queueVersion]);

  useEffect(() => {
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, [load]);

  const act = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      await load();
    } catch (e) {
      app.toast(errorText(e), 'error');
    }
  };

  const mine = (it: QueueItem) => !isRedacted(it) && (app.user?.is_admin || it.user_id === app.user?.user_id);
  const q = status?.queue;
  const mineAhead = q?.user_pending ?? null;

  return (
    <div className="page">
      <div className="panel-head wrap">
        <h1>Queue</h1>
        <div className="grow" />
        <button type="button" className="btn small" onClick={() => act(() => api('/api/v1/queue/default/prune', { method: 'PUT' }))}>
          Prune Finished
        </button>
        <button type="button" className="btn small" onClick={() => act(() => api('/api/v1/queue/default/cancel_all_except_current', { method: 'PUT' }))}>
          Cancel All Pending
        </button>
        {app.user?.is_admin && status && (
          <button
            type="button"
            className="btn small"
            onClick={() => act(() => api(`/api/v1/queue/default/processor/${status.processor.is_started ? 'pause' : 'resume'}`, { method: 'PUT' }))}
          >
            {status.processor.is_started ? 'Pause Processor' : 'Resume Processor'}
          </button>
        )}
      </div>
      {q && (
        <div className="queue-counts row wrap" data-testid="queue-counts">
          <span className="stat">
            <strong data-testid="count-pending">{q.pending}</strong> pending in queue
          </span>
          <span className="stat">
            <strong data-testid="count-in-progress">{q.in_progress}</strong> in progress
          </span>
          {mineAhead !== null && (
            <span className="stat">
              <strong data-testid="count-user-pending">{mineAhead}</strong> of yours pending
            </span>
          )}
          {mineAhead !== null && (
            <span className="stat">
              <strong data-testid="count-ahead">{Math.max(0, q.pending - mineAhead)}</strong> from others
            </span>
          )}
          <span className="stat">
            <strong>{q.completed}</strong> completed
          </span>
          <span className="stat">
            <strong>{q.failed}</strong> failed
          </span>
          <span className="stat">
            <strong>{q.canceled}</strong> canceled
          </span>
        </div>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <table className="table" data-testid="queue-list">
        <thead>
          <tr>
            <th>#</th>
            <th>Status</th>
            <th>Owner</th>
            <th className="hide-narrow">Created</th>
            <th>Actions</th>
          </tr>
        </thead>
        <tbody>
          {items.map((it) => (
            <tr key={it.item_id} data-testid="queue-item" data-item-id={it.item_id} data-status={it.status} data-redacted={isRedacted(it) ? 'true' : 'false'}>
              <td>{it.item_id}</td>
              <td>
                <span className={`status status-${it.status}`}>{it.status.replace('_', ' ')}</span>
                {it.error_message && <div className="error small">{it.error_type}: {it.error_message}</div>}
              </td>
              <td>{isRedacted(it) ? <span className="muted">Another user (hidden)</span> : it.user_display_name || it.user_email || it.user_id}</td>
              <td className="hide-narrow muted">{it.created_at}</td>
              <td>
                {mine(it) && (it.status === 'pending' || it.status === 'in_progress') && (
                  <button type="button" className="btn small" onClick={() => act(() => api(`/api/v1/queue/default/i/${it.item_id}/cancel`, { method: 'PUT' }))}>
                    Cancel
                  </button>
                )}
                {mine(it) && (it.status === 'failed' || it.status === 'canceled') && (
                  <button type="button" className="btn small" onClick={() => act(() => api('/api/v1/queue/default/retry_items_by_id', { method: 'PUT', json: [it.item_id] }))}>
                    Retry
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {items.length === 0 && <p className="muted pad">The queue is empty.</p>}
    </div>
  );
}
