import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import WorkflowsScreen from './Workflows';
import { emptyWorkflow } from '../lib/templates';
import { alice, bob, mockApp, stubFetch, WithApp } from '../test/mockApp';
import type { WorkflowListItem, WorkflowRecord } from '../lib/types';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function item(over: Partial<WorkflowListItem>): WorkflowListItem {
  return {
    workflow_id: 'w1',
    name: 'Flow',
    created_at: 'x',
    updated_at: 'x',
    opened_at: null,
    user_id: bob.user_id,
    is_public: false,
    description: '',
    category: 'user',
    tags: '',
    thumbnail_url: null,
    ...over,
  };
}

function record(li: WorkflowListItem): WorkflowRecord {
  const wf = emptyWorkflow(li.name);
  return { workflow_id: li.workflow_id, name: li.name, user_id: li.user_id, is_public: li.is_public, workflow: { ...wf, meta: { ...wf.meta, category: li.category } }, created_at: 'x', updated_at: 'x', opened_at: null };
}

const mine = item({ workflow_id: 'mine', name: 'My Flow' });
const shared = item({ workflow_id: 'shared', name: 'Alice Flow', user_id: alice.user_id, is_public: true });

function renderLibrary() {
  const calls = stubFetch({
    '/openapi.json': { components: { schemas: {} } },
    '/api/v1/workflows/i/mine': record(mine),
    '/api/v1/workflows/i/shared': record(shared),
    '/api/v1/workflows/': { items: [mine, shared], page: 0, pages: 1, per_page: 50, total: 2 },
  });
  render(
    <WithApp app={mockApp({ user: bob, route: '/workflows' })}>
      <WorkflowsScreen />
    </WithApp>,
  );
  return calls;
}

describe('Workflow library', () => {
  it('lists the sections as written and asks in a dialog before deleting', async () => {
    const calls = renderLibrary();
    for (const title of ['Your workflows', 'Shared workflows', 'Default workflows']) expect(screen.getByText(title)).toBeTruthy();
    fireEvent.click(await screen.findByRole('button', { name: 'Delete My Flow' }));
    const dialog = screen.getByRole('dialog');
    expect(dialog.getAttribute('aria-modal')).toBe('true');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Delete' }));
    await waitFor(() => expect(calls.some((c) => c.init?.method === 'DELETE' && c.url === '/api/v1/workflows/i/mine')).toBe(true));
  });

  it('records opening only for workflows the user owns', async () => {
    const calls = renderLibrary();
    fireEvent.click(await screen.findByRole('button', { name: 'Open Alice Flow' }));
    await screen.findByTestId('read-only-workflow');
    fireEvent.click(screen.getByRole('button', { name: 'Open My Flow' }));
    await waitFor(() => expect(calls.some((c) => c.url === '/api/v1/workflows/i/mine/opened_at')).toBe(true));
    expect(calls.some((c) => c.url === '/api/v1/workflows/i/shared/opened_at')).toBe(false);
  });
});
