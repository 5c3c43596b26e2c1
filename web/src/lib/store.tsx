// App-wide state in one React context: session, router, boards, models, generation parameters, live progress.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { api, getToken, loadStoredToken, onUnauthorized, setToken, onTokenChange } from './api';
import { connectSocket, disconnectSocket, subscribe } from './socket';
import { defaultParams, modelDefaults, type GenParams } from './graph';
import type { AuthStatus, Board, ModelConfig, User } from './types';

export const SYSTEM_USER: User = {
  user_id: 'system',
  email: 'system@system.invokeai',
  display_name: 'System',
  is_admin: true,
  is_active: true,
};

export interface Progress {
  itemId: number;
  message: string;
  percentage: number | null;
  image: { width: number; height: number; dataURL: string } | null;
}

export interface Toast {
  id: number;
  kind: 'info' | 'error' | 'success';
  text: string;
}

export interface AppState {
  status: AuthStatus | null;
  user: User | null;
  multiuser: boolean;
  ready: boolean;
  route: string;
  navigate: (path: string) => void;
  login: (token: string, user: User, remember: boolean) => void;
  logout: () => Promise<void>;
  refreshStatus: () => Promise<void>;
  setUser: (u: User) => void;
  boards: Board[];
  refreshBoards: () => Promise<void>;
  showArchived: boolean;
  setShowArchived: (b: boolean) => void;
  selectedBoard: string;
  setSelectedBoard: (id: string) => void;
  models: ModelConfig[] | null;
  refreshModels: () => Promise<void>;
  params: GenParams;
  setParams: (p: Partial<GenParams>) => void;
  progress: Progress | null;
  lastImage: string | null;
  galleryVersion: number;
  bumpGallery: () => void;
  queueVersion: number;
  toasts: Toast[];
  toast: (text: string, kind?: Toast['kind']) => void;
  dismissToast: (id: number) => void;
}

const Ctx = createContext<AppState | null>(null);

export function useApp(): AppState {
  const v = useContext(Ctx);
  if (!v) throw new Error('useApp outside AppProvider');
  return v;
}

/** For tests: provide a ready-made state. */
export const AppContext = Ctx;

function currentPath(): string {
  return typeof window === 'undefined' ? '/' : window.location.pathname || '/';
}

export function canWriteBoard(user: User | null, b: Board | undefined | null): boolean {
  if (!user || !b) return false;
  return user.is_admin || b.user_id === user.user_id;
}

/** Uploading or moving an image into a board: owner, admin, or a public board. */
export function canAddToBoard(user: User | null, b: Board | undefined | null): boolean {
  if (!user || !b) return false;
  return canWriteBoard(user, b) || b.board_visibility === 'public';
}

/** Whether new images may be generated into this board ('none' is Uncategorized). */
export function generationBoardAllowed(user: User | null, boards: Board[], boardId: string): boolean {
  if (boardId === 'none') return true;
  const b = boards.find((x) => x.board_id === boardId);
  return !!b && !b.archived && canAddToBoard(user, b);
}

export function AppProvider({ children }: { children: ReactNode }) {
  const [status, setStatus] = useState<AuthStatus | null>(null);
  const [user, setUserState] = useState<User | null>(null);
  const [ready, setReady] = useState(false);
  const [route, setRoute] = useState(currentPath());
  const [boards, setBoards] = useState<Board[]>([]);
  // Read by setSelectedBoard right after an await, when the state in its closure may be older.
  const boardsRef = useRef<Board[]>([]);
  const userRef = useRef<User | null>(null);
  userRef.current = user;
  const [showArchived, setShowArchived] = useState(false);
  const [selectedBoard, setSelectedBoardState] = useState<string>('none');
  const [models, setModels] = useState<ModelConfig[] | null>(null);
  const [params, setParamsState] = useState<GenParams>(defaultParams);
  const [progress, setProgress] = useState<Progress | null>(null);
  const [lastImage, setLastImage] = useState<string | null>(null);
  const [galleryVersion, setGalleryVersion] = useState(0);
  const [queueVersion, setQueueVersion] = useState(0);
  const [toasts, setToasts] = useState<Toast[]>([]);
  const toastId = useRef(0);

  const toast = useCallback((text: string, kind: Toast['kind'] = 'info') => {
    const id = ++toastId.current;
    setToasts((t) => [...t.slice(-3), { id, kind, text }]);
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), kind === 'error' ? 8000 : 4000);
  }, []);
  const dismissToast = useCallback((id: number) => setToasts((t) => t.filter((x) => x.id !== id)), []);

  const navigate = useCallback((path: string) => {
    if (path !== window.location.pathname) window.history.pushState({}, '', path);
    setRoute(path);
  }, []);
  useEffect(() => {
    const f = () => setRoute(currentPath());
    window.addEventListener('popstate', f);
    return () => window.removeEventListener('popstate', f);
  }, []);

  const refreshStatus = useCallback(async () => {
    const st = await api<AuthStatus>('/api/v1/auth/status');
    setStatus(st);
    if (!st.multiuser_enabled) {
      setUserState(SYSTEM_USER);
      return;
    }
    const tok = getToken() ?? loadStoredToken();
    if (!tok) {
      setUserState(null);
      return;
    }
    try {
      const me = await api<User>('/api/v1/auth/me');
      setUserState(me);
      // Re-issue the media cookie so that <img> tags work after a reload.
      api('/api/v1/auth/media-cookie', { method: 'POST' }).catch(() => undefined);
    } catch {
      setToken(null);
      setUserState(null);
    }
  }, []);

  useEffect(() => {
    refreshStatus()
      .catch(() => setStatus({ setup_required: false, multiuser_enabled: false, strict_password_checking: false, admin_email: null }))
      .finally(() => setReady(true));
  }, [refreshStatus]);

  useEffect(() => {
    onUnauthorized(() => {
      setToken(null);
      setUserState(null);
    });
    return () => onUnauthorized(null);
  }, []);

  const login = useCallback((tok: string, u: User, remember: boolean) => {
    setToken(tok, remember);
    setUserState(u);
  }, []);

  const logout = useCallback(async () => {
    try {
      await api('/api/v1/auth/logout', { method: 'POST' });
    } catch {
      /* the token may already be gone */
    }
    setToken(null);
    setUserState(null);
    boardsRef.current = [];
    setBoards([]);
    setModels(null);
    setSelectedBoardState('none');
    setParamsState(defaultParams);
    window.history.pushState({}, '', '/');
    setRoute('/');
  }, []);

  const refreshBoards = useCallback(async () => {
    if (!user) return;
    const list = await api<Board[]>('/api/v1/boards/', {
      query: { all: true, order_by: 'created_at', direction: 'ASC', include_archived: true },
    });
    // The Gallery polls this: skip the re-render when nothing changed.
    if (JSON.stringify(list) === JSON.stringify(boardsRef.current)) return;
    boardsRef.current = list;
    setBoards(list);
  }, [user]);

  const refreshModels = useCallback(async () => {
    if (!user) return;
    try {
      const res = await api<{ models: ModelConfig[] }>('/api/v2/models/', { query: { model_type: 'main' } });
      setModels(res.models);
    } catch {
      setModels([]);
    }
  }, [user]);

  // Live connection and data on login.
  useEffect(() => {
    if (!user || !status) return;
    refreshBoards().catch(() => undefined);
    refreshModels();
    connectSocket(status.multiuser_enabled ? getToken() : null);
    const offToken = onTokenChange(() => undefined);
    return () => {
      offToken();
      disconnectSocket();
    };
  }, [user?.user_id, status?.multiuser_enabled]); // eslint-disable-line react-hooks/exhaustive-deps

  // Pick a sensible model once they are known, with its default settings (as picking it in Generate does).
  useEffect(() => {
    const pick = (p: GenParams) => (models && models[0] ? { ...p, model: models[0], ...modelDefaults(models[0]) } : { ...p, model: null });
    if (models && models.length && !params.model) setParamsState((p) => (p.model ? p : pick(p)));
    if (models && params.model && !models.find((m) => m.key === params.model!.key)) setParamsState(pick);
  }, [models]); // eslint-disable-line react-hooks/exhaustive-deps

  // Socket events that touch shared state.
  useEffect(() => {
    const offs = [
      subscribe('invocation_progress', (d) => {
        setProgress({ itemId: d.item_id, message: d.message, percentage: d.percentage ?? null, image: d.image ?? null });
      }),
      subscribe('invocation_complete', (d) => {
        const img = d?.result?.image?.image_name;
        if (img && d?.invocation?.is_intermediate !== true) {
          setLastImage(img);
          setGalleryVersion((v) => v + 1);
        }
      }),
      subscribe('queue_item_status_changed', (d) => {
        setQueueVersion((v) => v + 1);
        if (['completed', 'failed', 'canceled'].includes(d.status)) {
          setProgress((p) => (p && p.itemId === d.item_id ? null : p));
          if (d.status === 'completed') {
            setGalleryVersion((v) => v + 1);
            refreshBoards().catch(() => undefined);
          }
          if (d.status === 'failed' && d.user_id !== 'redacted') {
            toast(`Generation failed: ${d.error_message || d.error_type || 'unknown error'}`, 'error');
          }
        }
      }),
      subscribe('batch_enqueued', () => setQueueVersion((v) => v + 1)),
      subscribe('queue_cleared', () => setQueueVersion((v) => v + 1)),
      subscribe('queue_items_retried', () => setQueueVersion((v) => v + 1)),
      subscribe('queue_items_canceled', () => setQueueVersion((v) => v + 1)),
      subscribe('model_install_complete', () => refreshModels()),
      subscribe('recall_parameters_updated', () => undefined),
    ];
    return () => offs.forEach((f) => f());
  }, [refreshBoards, refreshModels, toast]);

  const setParams = useCallback((p: Partial<GenParams>) => setParamsState((old) => ({ ...old, ...p })), []);
  const setSelectedBoard = useCallback((id: string) => {
    setSelectedBoardState(id);
    // InvokeAI's auto-add board: the next generation goes to the board selected in the Gallery, when one may add to it.
    if (generationBoardAllowed(userRef.current, boardsRef.current, id)) setParamsState((p) => ({ ...p, boardId: id }));
  }, []);
  const bumpGallery = useCallback(() => setGalleryVersion((v) => v + 1), []);
  const setUser = useCallback((u: User) => setUserState(u), []);

  const value = useMemo<AppState>(
    () => ({
      status,
      user,
      multiuser: !!status?.multiuser_enabled,
      ready,
      route,
      navigate,
      login,
      logout,
      refreshStatus,
      setUser,
      boards,
      refreshBoards,
      showArchived,
      setShowArchived,
      selectedBoard,
      setSelectedBoard,
      models,
      refreshModels,
      params,
      setParams,
      progress,
      lastImage,
      galleryVersion,
      bumpGallery,
      queueVersion,
      toasts,
      toast,
      dismissToast,
    }),
    [status, user, ready, route, navigate, login, logout, refreshStatus, setUser, boards, refreshBoards, showArchived, selectedBoard,
      setSelectedBoard, models, refreshModels, params, setParams, progress, lastImage, galleryVersion, bumpGallery, queueVersion, toasts,
      toast, dismissToast],
  );
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}
