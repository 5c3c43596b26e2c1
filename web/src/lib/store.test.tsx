import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { AppProvider, generationBoardAllowed, useApp } from './store';
import { alice, board, bob, stubFetch } from '../test/mockApp';

// No live connection in unit tests.
vi.mock('./socket', () => ({ connectSocket: vi.fn(), disconnectSocket: vi.fn(), subscribe: () => () => undefined }));

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  localStorage.clear();
});

const boards = [
  board({ board_id: 'own', board_name: 'Mine', user_id: bob.user_id }),
  board({ board_id: 'shared', board_name: 'Alice Shared', user_id: alice.user_id, board_visibility: 'shared' }),
  board({ board_id: 'public', board_name: 'Alice Public', user_id: alice.user_id, board_visibility: 'public' }),
  board({ board_id: 'old', board_name: 'Old', user_id: bob.user_id, archived: true }),
];

/** Shows the generation board and selects Gallery boards, as the Gallery does. */
function Probe() {
  const app = useApp();
  return (
    <div>
      <span data-testid="generation-board">{app.params.boardId}</span>
      <span data-testid="board-count">{app.boards.length}</span>
      {['own', 'shared', 'public', 'old', 'none'].map((id) => (
        <button key={id} type="button" onClick={() => app.setSelectedBoard(id)}>
          select {id}
        </button>
      ))}
    </div>
  );
}

function renderStore() {
  localStorage.setItem('auth_token', 'T-bob');
  stubFetch({
    '/api/v1/auth/status': { setup_required: false, multiuser_enabled: true, strict_password_checking: false, admin_email: null },
    '/api/v1/auth/me': bob,
    '/api/v1/auth/media-cookie': {},
    '/api/v1/boards/': boards,
    '/api/v2/models/': { models: [] },
  });
  render(
    <AppProvider>
      <Probe />
    </AppProvider>,
  );
}

describe('generation board follows the Gallery (auto-add board)', () => {
  it('moves to boards one may add to and ignores read-only or archived ones', async () => {
    renderStore();
    await waitFor(() => expect(screen.getByTestId('board-count').textContent).toBe('4'));
    const generationBoard = () => screen.getByTestId('generation-board').textContent;
    expect(generationBoard()).toBe('none');
    fireEvent.click(screen.getByText('select own'));
    expect(generationBoard()).toBe('own');
    fireEvent.click(screen.getByText('select public'));
    expect(generationBoard()).toBe('public');
    fireEvent.click(screen.getByText('select shared'));
    expect(generationBoard()).toBe('public');
    fireEvent.click(screen.getByText('select old'));
    expect(generationBoard()).toBe('public');
    fireEvent.click(screen.getByText('select none'));
    expect(generationBoard()).toBe('none');
  });

  it('decides per board and user', () => {
    expect(generationBoardAllowed(bob, boards, 'none')).toBe(true);
    expect(generationBoardAllowed(bob, boards, 'own')).toBe(true);
    expect(generationBoardAllowed(bob, boards, 'public')).toBe(true);
    expect(generationBoardAllowed(bob, boards, 'shared')).toBe(false);
    expect(generationBoardAllowed(alice, boards, 'shared')).toBe(true);
    expect(generationBoardAllowed(bob, boards, 'old')).toBe(false);
    expect(generationBoardAllowed(bob, boards, 'gone')).toBe(false);
  });
});
