import type { ReactNode } from 'react';
import { vi } from 'vitest';
import { AppContext, type AppState } from '../lib/store';
import { defaultParams } from '../lib/graph';
import type { Board, User } from '../lib/types';

export const alice: User = { user_id: 'u-alice', email: 'alice@example.com', display_name: 'Alice', is_admin: false, is_active: true };
export const bob: User = { user_id: 'u-bob', email: 'bob@example.com', display_name: 'Bob', is_admin: false, is_active: true };
export const admin: User = { user_id: 'u-admin', email: 'admin@example.com', display_name: 'Admin', is_admin: true, is_active: true };

export function board(over: Partial<Board>): Board {
  return {
    board_id: 'b1',
    board_name: 'Board',
    user_id: alice.user_id,
    created_at: '2026-01-01 00:00:00.000',
    updated_at: '2026-01-01 00:00:00.000',
    cover_image_name: null,
    archived: false,
    board_visibility: 'private',
    image_count: 0,
    asset_count: 0,
    owner_username: null,
    ...over,
  };
}

export function mockApp(over: Partial<AppState> = {}): AppState {
  return {
    status: { setup_required: false, multiuser_enabled: true, strict_password_checking: false, admin_email: null },
    user: alice,
    multiuser: true,
    ready: true,
    route: '/gallery',
    navigate: vi.fn(),
    login: vi.fn(),
    logout: vi.fn(async () => undefined),
    refreshStatus: vi.fn(async () => undefined),
    setUser: vi.fn(),
    boards: [],
    refreshBoards: vi.fn(async () => undefined),
    showArchived: false,
    setShowArchived: vi.fn(),
    selectedBoard: 'none',
    setSelectedBoard: vi.fn(),
    models: [],
    refreshModels: vi.fn(async () => undefined),
    params: defaultParams,
    setParams: vi.fn(),
    progress: null,
    lastImage: null,
    galleryVersion: 0,
    bumpGallery: vi.fn(),
    queueVersion: 0,
    toasts: [],
    toast: vi.fn(),
    dismissToast: vi.fn(),
    ...over,
  };
}

export function WithApp({ app, children }: { app: AppState; children: ReactNode }) {
  return <AppContext.Provider value={app}>{children}</AppContext.Provider>;
}

/** A fetch stub answering by path prefix. */
export function stubFetch(routes: Record<string, unknown>) {
  const calls: { url: string; init?: RequestInit }[] = [];
  const f = vi.fn(async (url: string, init?: RequestInit) => {
    calls.push({ url, init });
    const path = url.split('?')[0];
    const key = Object.keys(routes)
      .sort((a, b) => b.length - a.length)
      .find((k) => path.startsWith(k));
    const body = key ? routes[key] : { detail: 'not found' };
    return new Response(JSON.stringify(body), { status: key ? 200 : 404, headers: { 'Content-Type': 'application/json' } });
  });
  vi.stubGlobal('fetch', f);
  return calls;
}
