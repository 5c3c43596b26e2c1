import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, render, screen, within } from '@testing-library/react';
import { QueueScreen } from './Queue';
import { alice, mockApp, stubFetch, WithApp } from '../test/mockApp';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const item = (id: number, user: string, status = 'pending') => ({
  item_id: id, status, batch_id: user === 'redacted' ? 'redacted' : 'b', session_id: 's', user_id: user, user_email: user === 'redacted' ? null : 'alice@example.com',
  user_display_name: null, created_at: 'now', queue_id: 'default',
});

describe('Queue', () => {
  it('shows own items with actions and others redacted, with the counts ahead', async () => {
    stubFetch({
      '/api/v1/queue/default/list_all': [item(1, 'redacted'), item(2, alice.user_id), item(3, alice.user_id, 'failed')],
      '/api/v1/queue/default/status': {
        queue: { queue_id: 'default', item_id: null, batch_id: null, session_id: null, pending: 5, in_progress: 0, completed: 0, failed: 1, canceled: 0, total: 6, user_pending: 1, user_in_progress: 0 },
        processor: { is_started: true, is_processing: false },
      },
    });
    render(
      <WithApp app={mockApp()}>
        <QueueScreen />
      </WithApp>,
    );
    const rows = await screen.findAllByTestId('queue-item');
    expect(rows).toHaveLength(3);
    const redacted = rows.find((r) => r.dataset.redacted === 'true')!;
    expect(redacted.textContent).toContain('Another user');
    expect(within(redacted).queryByRole('button')).toBeNull();
    expect(within(rows.find((r) => r.dataset.itemId === '2')!).getByRole('button', { name: 'Cancel' })).toBeTruthy();
    expect(within(rows.find((r) => r.dataset.itemId === '3')!).getByRole('button', { name: 'Retry' })).toBeTruthy();
    expect(screen.getByTestId('count-user-pending').textContent).toBe('1');
    expect(screen.getByTestId('count-ahead').textContent).toBe('4');
  });
});
