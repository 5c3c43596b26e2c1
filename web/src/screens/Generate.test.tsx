import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { GenerateScreen } from './Generate';
import { defaultParams } from '../lib/graph';
import { alice, board, bob, mockApp, stubFetch, WithApp } from '../test/mockApp';
import type { ModelConfig } from '../lib/types';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const model: ModelConfig = { key: 'k1', hash: 'h', name: 'tiny', base: 'sd-1', type: 'main' };

describe('Generate', () => {
  it('offers only boards the user may write into and enqueues the graph', async () => {
    const calls = stubFetch({ '/api/v1/images/': { items: [], total: 0, limit: 12, offset: 0 }, '/api/v1/queue/default/enqueue_batch': { enqueued: 1 } });
    const boards = [
      board({ board_id: 'own', board_name: 'Mine', user_id: bob.user_id }),
      board({ board_id: 'shared', board_name: 'Alice Shared', user_id: alice.user_id, board_visibility: 'shared' }),
      board({ board_id: 'public', board_name: 'Alice Public', user_id: alice.user_id, board_visibility: 'public' }),
    ];
    const app = mockApp({ user: bob, boards, models: [model], params: { ...defaultParams, model, positivePrompt: 'a fox' } });
    render(
      <WithApp app={app}>
        <GenerateScreen />
      </WithApp>,
    );
    for (const l of ['Prompt', 'Negative Prompt', 'Model', 'Width', 'Height', 'Steps', 'CFG Scale', 'Scheduler', 'Seed', 'Board']) {
      expect(screen.getByLabelText(l)).toBeTruthy();
    }
    const options = Array.from((screen.getByLabelText('Board') as HTMLSelectElement).options).map((o) => o.text);
    expect(options).toContain('Mine');
    expect(options.some((o) => o.startsWith('Alice Public'))).toBe(true);
    expect(options.some((o) => o.startsWith('Alice Shared'))).toBe(false);
    fireEvent.click(screen.getByRole('button', { name: 'Invoke' }));
    await waitFor(() => expect(calls.some((c) => c.url.startsWith('/api/v1/queue/default/enqueue_batch'))).toBe(true));
    const body = JSON.parse(String(calls.find((c) => c.url.startsWith('/api/v1/queue/default/enqueue_batch'))!.init!.body));
    expect(body.batch.graph.nodes.positive_prompt.prompt).toBe('a fox');
    expect(body.batch.graph.nodes.denoise_latents.type).toBe('denoise_latents');
  });

  it('refuses to generate into a board the user may not write', () => {
    stubFetch({ '/api/v1/images/': { items: [], total: 0, limit: 12, offset: 0 } });
    const boards = [board({ board_id: 'shared', board_name: 'Alice Shared', user_id: alice.user_id, board_visibility: 'shared' })];
    render(
      <WithApp app={mockApp({ user: bob, boards, models: [model], params: { ...defaultParams, model, boardId: 'shared' } })}>
        <GenerateScreen />
      </WithApp>,
    );
    expect((screen.getByRole('button', { name: 'Invoke' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('shows the splash without models', () => {
    stubFetch({});
    render(
      <WithApp app={mockApp({ user: bob, models: [] })}>
        <GenerateScreen />
      </WithApp>,
    );
    expect(screen.getByText(/Ask your administrator/)).toBeTruthy();
  });
});

describe('Generate board', () => {
  it('shows the board the Gallery selected and may still pick another', () => {
    stubFetch({ '/api/v1/images/': { items: [], total: 0, limit: 12, offset: 0 } });
    const boards = [
      board({ board_id: 'own', board_name: 'Mine', user_id: bob.user_id }),
      board({ board_id: 'public', board_name: 'Alice Public', user_id: alice.user_id, board_visibility: 'public' }),
    ];
    const app = mockApp({ user: bob, boards, models: [model], selectedBoard: 'public', params: { ...defaultParams, model, boardId: 'public' } });
    render(
      <WithApp app={app}>
        <GenerateScreen />
      </WithApp>,
    );
    const select = screen.getByLabelText('Board') as HTMLSelectElement;
    expect(select.value).toBe('public');
    expect(select.selectedOptions[0].text).toBe('Alice Public (Public)');
    fireEvent.change(select, { target: { value: 'own' } });
    expect(app.setParams).toHaveBeenCalledWith({ boardId: 'own' });
  });
});
