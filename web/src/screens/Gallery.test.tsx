import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { GalleryScreen } from './Gallery';
import { admin, alice, board, bob, mockApp, stubFetch, WithApp } from '../test/mockApp';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const images = {
  limit: 24,
  offset: 0,
  total: 1,
  items: [{ image_name: 'i1.png', image_url: 'api/v1/images/i/i1.png/full', thumbnail_url: 'api/v1/images/i/i1.png/thumbnail', width: 8, height: 8, starred: false, board_id: 'b1', created_at: 'x', image_origin: 'external', image_category: 'user', has_workflow: false, is_intermediate: false }],
};

function renderGallery(user = alice, vis: 'private' | 'shared' | 'public' = 'shared') {
  const b = board({ board_id: 'b1', board_name: 'Alice Board', user_id: alice.user_id, board_visibility: vis, image_count: 1 });
  const app = mockApp({ user, boards: [b], selectedBoard: 'b1' });
  const calls = stubFetch({ '/api/v1/images/': images, '/api/v1/boards/b1': b });
  render(
    <WithApp app={app}>
      <GalleryScreen />
    </WithApp>,
  );
  return { app, calls };
}

function boardItem(name: string) {
  return screen.getAllByTestId('board-item').find((el) => el.dataset.boardName === name)!;
}

describe('Gallery permissions', () => {
  it('gives the owner every board control and the visibility menu', async () => {
    const { app, calls } = renderGallery(alice, 'private');
    const item = boardItem('Alice Board');
    expect(within(item).getByTestId('board-visibility').textContent).toBe('Private');
    expect(within(item).getByRole('button', { name: 'Rename board' })).toBeTruthy();
    fireEvent.click(within(item).getByRole('button', { name: 'Board options' }));
    const menu = screen.getByRole('menu');
    for (const label of ['Set Private', 'Set Shared', 'Set Public', 'Archive', 'Delete Board']) {
      expect(within(menu).getByRole('menuitem', { name: label })).toBeTruthy();
    }
    fireEvent.click(within(menu).getByRole('menuitem', { name: 'Set Shared' }));
    await waitFor(() => expect(calls.some((c) => c.url === '/api/v1/boards/b1' && c.init?.method === 'PATCH')).toBe(true));
    const patch = calls.find((c) => c.init?.method === 'PATCH')!;
    expect(JSON.parse(String(patch.init!.body))).toEqual({ board_visibility: 'shared' });
    await waitFor(() => expect(app.refreshBoards).toHaveBeenCalled());
    await screen.findByRole('button', { name: 'Star image' });
    expect(screen.getByLabelText('Upload image')).toBeTruthy();
  });

  it('renames on double-click for the owner', async () => {
    renderGallery(alice, 'private');
    fireEvent.doubleClick(within(boardItem('Alice Board')).getByRole('button', { name: 'Alice Board' }));
    expect(screen.getByLabelText('New board name')).toBeTruthy();
  });

  it('hides every write control on someone else\'s shared board', async () => {
    renderGallery(bob, 'shared');
    const item = boardItem('Alice Board');
    expect(within(item).getByTestId('board-visibility').textContent).toBe('Shared');
    expect(within(item).queryByRole('button', { name: 'Rename board' })).toBeNull();
    expect(within(item).queryByRole('button', { name: 'Board options' })).toBeNull();
    fireEvent.doubleClick(within(item).getByRole('button', { name: 'Alice Board' }));
    expect(screen.queryByLabelText('New board name')).toBeNull();
    await screen.findByTestId('image-item');
    expect(screen.queryByRole('button', { name: 'Star image' })).toBeNull();
    expect(screen.queryByLabelText('Upload image')).toBeNull();
    expect(screen.getByTestId('image-item').getAttribute('draggable')).toBe('false');
    fireEvent.click(screen.getByRole('button', { name: 'Open image i1.png' }));
    const viewer = await screen.findByTestId('image-viewer');
    expect(within(viewer).queryByRole('button', { name: 'Delete Image' })).toBeNull();
    expect(within(viewer).getByRole('button', { name: 'Use as Initial Image' })).toBeTruthy();
  });

  it('lets others upload into a public board but not manage it', async () => {
    renderGallery(bob, 'public');
    const item = boardItem('Alice Board');
    expect(within(item).getByTestId('board-visibility').textContent).toBe('Public');
    expect(within(item).queryByRole('button', { name: 'Board options' })).toBeNull();
    await screen.findByTestId('image-item');
    expect(screen.getByLabelText('Upload image')).toBeTruthy();
  });

  it('gives admins the controls on anyone\'s board', () => {
    renderGallery(admin, 'shared');
    expect(within(boardItem('Alice Board')).getByRole('button', { name: 'Board options' })).toBeTruthy();
  });
});

describe('Board menu and deletion', () => {
  it('opens the options menu on right-click for the owner', () => {
    renderGallery(alice, 'private');
    fireEvent.contextMenu(within(boardItem('Alice Board')).getByRole('button', { name: 'Alice Board' }));
    const menu = screen.getByRole('menu');
    for (const label of ['Set Private', 'Set Shared', 'Set Public', 'Rename', 'Archive', 'Delete Board']) {
      expect(within(menu).getByRole('menuitem', { name: label })).toBeTruthy();
    }
    fireEvent.click(within(menu).getByRole('menuitem', { name: 'Rename' }));
    expect(screen.getByLabelText('New board name')).toBeTruthy();
  });

  it('keeps the browser menu on a board one may not manage', () => {
    renderGallery(bob, 'shared');
    const notPrevented = fireEvent.contextMenu(within(boardItem('Alice Board')).getByRole('button', { name: 'Alice Board' }));
    expect(notPrevented).toBe(true);
    expect(screen.queryByRole('menu')).toBeNull();
  });

  it('asks in a dialog before deleting a board; Escape cancels', async () => {
    const { calls } = renderGallery(alice, 'private');
    fireEvent.click(within(boardItem('Alice Board')).getByRole('button', { name: 'Board options' }));
    fireEvent.click(screen.getByRole('menuitem', { name: 'Delete Board' }));
    const dialog = screen.getByRole('dialog');
    expect(dialog.getAttribute('aria-modal')).toBe('true');
    fireEvent.keyDown(document, { key: 'Escape' });
    expect(screen.queryByRole('dialog')).toBeNull();
    fireEvent.click(within(boardItem('Alice Board')).getByRole('button', { name: 'Board options' }));
    fireEvent.click(screen.getByRole('menuitem', { name: 'Delete Board' }));
    fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Delete Board Only' }));
    await waitFor(() => expect(calls.some((c) => c.init?.method === 'DELETE' && c.url.startsWith('/api/v1/boards/b1?include_images=false'))).toBe(true));
  });
});

describe('Board list refresh', () => {
  it('refreshes when the Gallery opens, on focus and every 15 s', async () => {
    vi.useFakeTimers();
    try {
      const { app } = renderGallery(bob, 'shared');
      const refresh = app.refreshBoards as ReturnType<typeof vi.fn>;
      expect(refresh).toHaveBeenCalledTimes(1);
      window.dispatchEvent(new Event('focus'));
      expect(refresh).toHaveBeenCalledTimes(2);
      await vi.advanceTimersByTimeAsync(15_000);
      expect(refresh).toHaveBeenCalledTimes(3);
      cleanup();
      await vi.advanceTimersByTimeAsync(30_000);
      expect(refresh).toHaveBeenCalledTimes(3);
    } finally {
      vi.useRealTimers();
    }
  });
});
