import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent, type MouseEvent } from 'react';
import { api, errorText, mediaUrl } from '../lib/api';
import { sendToCanvas } from '../canvas/persist';
import { sendToUpscale } from './UpscaleInbox';
import { recallFromMetadata } from '../lib/graph';
import { canAddToBoard, canWriteBoard, useApp } from '../lib/store';
import type { Board, ImageDTO, Paged, User, Visibility } from '../lib/types';
import { Icon } from '../components/Icon';
import { ConfirmDialog } from '../components/ConfirmDialog';

const PAGE_SIZE = 24;
/** Boards others share or unshare appear without a reload: the list is polled while the Gallery is open. */
export const BOARD_REFRESH_MS = 15_000;
const DRAG_TYPE = 'application/x-invokego-images';

export const VIS_LABEL: Record<Visibility, string> = { private: 'Private', shared: 'Shared', public: 'Public' };

export function VisibilityBadge({ v }: { v: Visibility }) {
  return (
    <span className={`badge vis-${v}`} data-testid="board-visibility">
      {VIS_LABEL[v] ?? 'Private'}
    </span>
  );
}

/** Whether the user may change images that sit on this board (delete, star, move away). */
export function canEditImagesOn(user: User | null, boardId: string, board: Board | undefined): boolean {
  if (!user) return false;
  if (boardId === 'none') return true; // uncategorized: only one's own images are listed
  return canAddToBoard(user, board);
}

export function GalleryScreen() {
  const app = useApp();
  const boardId = app.selectedBoard;
  const board = app.boards.find((b) => b.board_id === boardId);
  const [viewing, setViewing] = useState<ImageDTO | null>(null);

  useEffect(() => {
    if (boardId !== 'none' && app.boards.length && !board) app.setSelectedBoard('none');
  }, [boardId, board, app]);

  useBoardRefresh(app.refreshBoards);

  return (
    <div className="gallery">
      <BoardsPanel />
      <ImagesPanel key={boardId} boardId={boardId} board={board} onView={setViewing} viewing={viewing} />
      {viewing && <Viewer image={viewing} board={board} boardId={boardId} onClose={() => setViewing(null)} onChanged={setViewing} />}
    </div>
  );
}

/** Refreshes the board list when the Gallery opens, when the window regains focus, and every BOARD_REFRESH_MS. */
function useBoardRefresh(refreshBoards: () => Promise<void>) {
  useEffect(() => {
    const refresh = () => {
      refreshBoards().catch(() => undefined);
    };
    const refreshIfVisible = () => {
      if (!document.hidden) refresh();
    };
    refresh();
    window.addEventListener('focus', refresh);
    const timer = window.setInterval(refreshIfVisible, BOARD_REFRESH_MS);
    return () => {
      window.removeEventListener('focus', refresh);
      window.clearInterval(timer);
    };
  }, [refreshBoards]);
}

function BoardsPanel() {
  const app = useApp();
  const [creating, setCreating] = useState(false);
  const [newName, setNewName] = useState('');
  const [error, setError] = useState('');
  const boards = app.boards.filter((b) => app.showArchived || !b.archived);

  const create = async () => {
    const name = newName.trim();
    if (!name) return;
    setError('');
    try {
      const b = await api<Board>('/api/v1/boards/', { method: 'POST', query: { board_name: name } });
      setNewName('');
      setCreating(false);
      await app.refreshBoards();
      app.setSelectedBoard(b.board_id);
    } catch (e) {
      setError(errorText(e));
    }
  };

  return (
    <aside className="boards panel" aria-label="Boards">
      <div className="panel-head">
        <h2 className="panel-title">Boards</h2>
        <button type="button" className="btn small" onClick={() => setCreating((c) => !c)} aria-label="Add board">
          + Board
        </button>
      </div>
      {creating && (
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            create();
          }}
        >
          <label className="field grow">
            <span className="sr-only">Board name</span>
            <input aria-label="Board name" autoFocus value={newName} onChange={(e) => setNewName(e.target.value)} placeholder="Board name" />
          </label>
          <button type="submit" className="btn small primary">
            Create
          </button>
        </form>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <label className="check small">
        <input type="checkbox" checked={app.showArchived} onChange={(e) => app.setShowArchived(e.target.checked)} />
        <span>Show archived</span>
      </label>
      <ul className="board-list" data-testid="board-list">
        <UncategorizedItem />
        {boards.map((b) => (
          <BoardItem key={b.board_id} board={b} />
        ))}
      </ul>
    </aside>
  );
}

async function moveImages(names: string[], target: string) {
  if (target === 'none') await api('/api/v1/board_images/batch/delete', { json: { image_names: names } });
  else await api('/api/v1/board_images/batch', { json: { board_id: target, image_names: names } });
}

function useDrop(target: string, allowed: boolean) {
  const app = useApp();
  const [over, setOver] = useState(false);
  const onDragOver = (e: DragEvent) => {
    if (!allowed || !e.dataTransfer.types.includes(DRAG_TYPE)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'move';
    setOver(true);
  };
  const onDragLeave = () => setOver(false);
  const onDrop = async (e: DragEvent) => {
    setOver(false);
    if (!allowed) return;
    e.preventDefault();
    let names: string[] = [];
    try {
      names = JSON.parse(e.dataTransfer.getData(DRAG_TYPE));
    } catch {
      return;
    }
    try {
      await moveImages(names, target);
      app.toast(`Moved ${names.length} image${names.length === 1 ? '' : 's'}`, 'success');
      app.bumpGallery();
      app.refreshBoards();
    } catch (err) {
      app.toast(errorText(err), 'error');
    }
  };
  return { over, handlers: { onDragOver, onDragLeave, onDrop } };
}

function UncategorizedItem() {
  const app = useApp();
  const selected = app.selectedBoard === 'none';
  const { over, handlers } = useDrop('none', true);
  return (
    <li className={`board-item${selected ? ' selected' : ''}${over ? ' drop-over' : ''}`} data-testid="board-item" data-board-id="none" data-board-name="Uncategorized" {...handlers}>
      <button type="button" className="board-select" aria-pressed={selected} onClick={() => app.setSelectedBoard('none')}>
        <span className="board-name">Uncategorized</span>
      </button>
    </li>
  );
}

function BoardItem({ board }: { board: Board }) {
  const app = useApp();
  const selected = app.selectedBoard === board.board_id;
  const writable = canWriteBoard(app.user, board);
  const addable = canAddToBoard(app.user, board);
  const [renaming, setRenaming] = useState(false);
  const [name, setName] = useState(board.board_name);
  const [menuOpen, setMenuOpen] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const { over, handlers } = useDrop(board.board_id, addable && !board.archived);
  const menuRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!menuOpen) return;
    const close = (e: globalThis.MouseEvent) => {
      if (menuRef.current && !menuRef.current.contains(e.target as Node)) setMenuOpen(false);
    };
    const closeOnEscape = (e: KeyboardEvent) => e.key === 'Escape' && setMenuOpen(false);
    document.addEventListener('mousedown', close);
    document.addEventListener('keydown', closeOnEscape);
    return () => {
      document.removeEventListener('mousedown', close);
      document.removeEventListener('keydown', closeOnEscape);
    };
  }, [menuOpen]);

  // Right-click opens the same menu as the "…" button, as in InvokeAI; read-only boards keep the browser's menu.
  const openContextMenu = (e: MouseEvent) => {
    if (!writable || renaming || confirmDelete) return;
    e.preventDefault();
    setMenuOpen(true);
  };

  const patch = async (changes: Record<string, unknown>) => {
    try {
      await api(`/api/v1/boards/${board.board_id}`, { method: 'PATCH', json: changes });
      await app.refreshBoards();
    } catch (e) {
      app.toast(errorText(e), 'error');
    }
  };

  const rename = async () => {
    setRenaming(false);
    const n = name.trim();
    if (n && n !== board.board_name) await patch({ board_name: n });
    else setName(board.board_name);
  };

  const del = async (includeImages: boolean) => {
    setConfirmDelete(false);
    try {
      await api(`/api/v1/boards/${board.board_id}`, { method: 'DELETE', query: { include_images: includeImages } });
      if (selected) app.setSelectedBoard('none');
      await app.refreshBoards();
      app.bumpGallery();
    } catch (e) {
      app.toast(errorText(e), 'error');
    }
  };

  return (
    <li
      className={`board-item${selected ? ' selected' : ''}${over ? ' drop-over' : ''}${board.archived ? ' archived' : ''}`}
      data-testid="board-item"
      data-board-id={board.board_id}
      data-board-name={board.board_name}
      data-can-write={writable ? 'true' : 'false'}
      onContextMenu={openContextMenu}
      {...handlers}
    >
      {renaming ? (
        <form
          className="grow"
          onSubmit={(e) => {
            e.preventDefault();
            rename();
          }}
        >
          <input
            aria-label="New board name"
            autoFocus
            value={name}
            onChange={(e) => setName(e.target.value)}
            onBlur={rename}
            onKeyDown={(e) => {
              if (e.key === 'Escape') {
                setName(board.board_name);
                setRenaming(false);
              }
            }}
          />
        </form>
      ) : (
        <button
          type="button"
          className="board-select"
          aria-pressed={selected}
          onClick={() => app.setSelectedBoard(board.board_id)}
          onDoubleClick={() => writable && setRenaming(true)}
          title={board.owner_username ? `Owner: ${board.owner_username}` : undefined}
        >
          <span className="board-name">{board.board_name}</span>
        </button>
      )}
      {!renaming && (
        <span className="board-count muted" data-testid="board-count" title="Images">
          {board.image_count + board.asset_count}
        </span>
      )}
      <VisibilityBadge v={board.board_visibility} />
      {board.archived && <span className="badge">Archived</span>}
      {writable && !renaming && (
        <>
          <button type="button" className="icon-btn" aria-label="Rename board" title="Rename" onClick={() => setRenaming(true)}>
            <Icon name="pencil" size={14} />
          </button>
          <div className="menu-wrap" ref={menuRef}>
            <button type="button" className="icon-btn" aria-label="Board options" aria-haspopup="menu" aria-expanded={menuOpen} onClick={() => setMenuOpen((o) => !o)}>
              <Icon name="more" size={14} />
            </button>
            {menuOpen && (
              <div className="menu" role="menu" aria-label={`Options for ${board.board_name}`}>
                {(['private', 'shared', 'public'] as Visibility[]).map((v) => (
                  <button
                    key={v}
                    type="button"
                    role="menuitem"
                    aria-checked={board.board_visibility === v}
                    disabled={board.board_visibility === v}
                    onClick={() => {
                      setMenuOpen(false);
                      patch({ board_visibility: v });
                    }}
                  >
                    Set {VIS_LABEL[v]}
                  </button>
                ))}
                <button
                  type="button"
                  role="menuitem"
                  onClick={() => {
                    setMenuOpen(false);
                    setRenaming(true);
                  }}
                >
                  Rename
                </button>
                <button
                  type="button"
                  role="menuitem"
                  onClick={() => {
                    setMenuOpen(false);
                    patch({ archived: !board.archived });
                  }}
                >
                  {board.archived ? 'Unarchive' : 'Archive'}
                </button>
                <button
                  type="button"
                  role="menuitem"
                  className="danger"
                  onClick={() => {
                    setMenuOpen(false);
                    setConfirmDelete(true);
                  }}
                >
                  Delete Board
                </button>
              </div>
            )}
          </div>
        </>
      )}
      {confirmDelete && (
        <ConfirmDialog
          title={`Delete “${board.board_name}”?`}
          onCancel={() => setConfirmDelete(false)}
          actions={[
            { label: 'Delete Board Only', onConfirm: () => del(false) },
            { label: 'Delete Board and Images', onConfirm: () => del(true) },
          ]}
        >
          <p className="muted">Deleting only the board moves its images to Uncategorized.</p>
        </ConfirmDialog>
      )}
    </li>
  );
}

function ImagesPanel({
  boardId,
  board,
  onView,
  viewing,
}: {
  boardId: string;
  board: Board | undefined;
  onView: (i: ImageDTO | null) => void;
  viewing: ImageDTO | null;
}) {
  const app = useApp();
  const [page, setPage] = useState(0);
  const [data, setData] = useState<Paged<ImageDTO> | null>(null);
  const [error, setError] = useState('');
  const [selection, setSelection] = useState<string[]>([]);
  const [moveTarget, setMoveTarget] = useState('');
  const lastClicked = useRef<number>(-1);
  const editable = canEditImagesOn(app.user, boardId, board);
  const addable = boardId === 'none' || canAddToBoard(app.user, board);

  const load = useCallback(async () => {
    try {
      const r = await api<Paged<ImageDTO>>('/api/v1/images/', {
        query: { board_id: boardId, offset: page * PAGE_SIZE, limit: PAGE_SIZE, is_intermediate: false, starred_first: true, order_dir: 'DESC' },
      });
      setData(r);
      setError('');
      if (r.items.length === 0 && page > 0) setPage((p) => p - 1);
    } catch (e) {
      setError(errorText(e));
      setData({ items: [], total: 0, limit: PAGE_SIZE, offset: 0 });
    }
  }, [boardId, page]);

  useEffect(() => {
    load();
  }, [load, app.galleryVersion]);

  const items = data?.items ?? [];
  const pages = Math.max(1, Math.ceil((data?.total ?? 0) / PAGE_SIZE));

  const click = (e: MouseEvent, im: ImageDTO, idx: number) => {
    if (e.shiftKey && lastClicked.current >= 0) {
      const [a, b] = [Math.min(lastClicked.current, idx), Math.max(lastClicked.current, idx)];
      setSelection((s) => Array.from(new Set([...s, ...items.slice(a, b + 1).map((x) => x.image_name)])));
    } else if (e.ctrlKey || e.metaKey) {
      toggle(im.image_name);
    } else {
      onView(im);
    }
    lastClicked.current = idx;
  };
  const toggle = (name: string) => setSelection((s) => (s.includes(name) ? s.filter((x) => x !== name) : [...s, name]));

  const bulk = async (action: 'star' | 'unstar' | 'delete' | 'move') => {
    if (!selection.length) return;
    try {
      if (action === 'delete') {
        await api('/api/v1/images/delete', { json: { image_names: selection } });
        if (viewing && selection.includes(viewing.image_name)) onView(null);
      } else if (action === 'move') {
        if (!moveTarget) return;
        await moveImages(selection, moveTarget);
      } else {
        await api(`/api/v1/images/${action}`, { json: { image_names: selection } });
      }
      setSelection([]);
      app.bumpGallery();
      app.refreshBoards();
    } catch (e) {
      app.toast(errorText(e), 'error');
    }
  };

  const star = async (im: ImageDTO) => {
    try {
      await api(`/api/v1/images/${im.starred ? 'unstar' : 'star'}`, { json: { image_names: [im.image_name] } });
      app.bumpGallery();
    } catch (e) {
      app.toast(errorText(e), 'error');
    }
  };

  const upload = async (files: FileList | null) => {
    if (!files) return;
    for (const f of Array.from(files)) {
      const fd = new FormData();
      fd.append('file', f);
      try {
        await api('/api/v1/images/upload', {
          method: 'POST',
          query: { image_category: 'user', is_intermediate: false, board_id: boardId === 'none' ? undefined : boardId },
          body: fd,
        });
      } catch (e) {
        app.toast(errorText(e), 'error');
      }
    }
    app.bumpGallery();
    app.refreshBoards();
  };

  const moveTargets = app.boards.filter((b) => !b.archived && b.board_id !== boardId && canAddToBoard(app.user, b));

  return (
    <section className="images panel" aria-label="Images">
      <div className="panel-head wrap">
        <h2 className="panel-title" data-testid="current-board-name">
          {boardId === 'none' ? 'Uncategorized' : board?.board_name ?? ''}
        </h2>
        {board && <VisibilityBadge v={board.board_visibility} />}
        {board && !canWriteBoard(app.user, board) && (
          <span className="muted small" data-testid="read-only-note">
            {board.board_visibility === 'public' ? 'Public board: you can add images' : 'Shared with you: view only'}
          </span>
        )}
        <div className="grow" />
        {addable && (
          <label className="btn small file-btn">
            Upload
            <input type="file" accept="image/*" multiple aria-label="Upload image" onChange={(e) => upload(e.target.files)} />
          </label>
        )}
      </div>
      {selection.length > 0 && (
        <div className="selection-bar row wrap" data-testid="selection-bar">
          <span>{selection.length} selected</span>
          {editable && (
            <>
              <button type="button" className="btn small" onClick={() => bulk('star')}>
                Star Selected
              </button>
              <button type="button" className="btn small" onClick={() => bulk('unstar')}>
                Unstar Selected
              </button>
              <button type="button" className="btn small danger" onClick={() => bulk('delete')}>
                Delete Selected
              </button>
              <label className="field inline">
                <span className="sr-only">Move to board</span>
                <select aria-label="Move to board" value={moveTarget} onChange={(e) => setMoveTarget(e.target.value)}>
                  <option value="">Move to…</option>
                  {boardId !== 'none' && <option value="none">Uncategorized</option>}
                  {moveTargets.map((b) => (
                    <option key={b.board_id} value={b.board_id}>
                      {b.board_name}
                    </option>
                  ))}
                </select>
              </label>
              <button type="button" className="btn small" disabled={!moveTarget} onClick={() => bulk('move')}>
                Move
              </button>
            </>
          )}
          <button type="button" className="btn small" onClick={() => setSelection([])}>
            Clear Selection
          </button>
        </div>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <ul className="image-grid" data-testid="image-grid">
        {items.map((im, idx) => {
          const sel = selection.includes(im.image_name);
          return (
            <li
              key={im.image_name}
              className={`image-item${sel ? ' selected' : ''}${viewing?.image_name === im.image_name ? ' viewing' : ''}`}
              data-testid="image-item"
              data-image-name={im.image_name}
              draggable={editable}
              onDragStart={(e) => {
                const names = sel ? selection : [im.image_name];
                e.dataTransfer.setData(DRAG_TYPE, JSON.stringify(names));
                e.dataTransfer.effectAllowed = 'move';
              }}
            >
              <button type="button" className="thumb-btn" aria-label={`Open image ${im.image_name}`} onClick={(e) => click(e, im, idx)}>
                <img src={mediaUrl(im.thumbnail_url)} alt="" loading="lazy" />
              </button>
              <input type="checkbox" className="select-box" aria-label={`Select image ${im.image_name}`} checked={sel} onChange={() => toggle(im.image_name)} />
              {editable ? (
                <button type="button" className={`star-btn${im.starred ? ' on' : ''}`} aria-label={im.starred ? 'Unstar image' : 'Star image'} aria-pressed={im.starred} onClick={() => star(im)}>
                  {im.starred ? '★' : '☆'}
                </button>
              ) : (
                im.starred && <span className="star-btn on" aria-label="Starred">★</span>
              )}
            </li>
          );
        })}
      </ul>
      {items.length === 0 && !error && <p className="muted pad">No images in this board.</p>}
      <div className="pager row">
        <button type="button" className="btn small" disabled={page === 0} onClick={() => setPage((p) => p - 1)}>
          Previous Page
        </button>
        <span className="muted" data-testid="page-info">
          Page {page + 1} of {pages} · {data?.total ?? 0} images
        </span>
        <button type="button" className="btn small" disabled={page + 1 >= pages} onClick={() => setPage((p) => p + 1)}>
          Next Page
        </button>
      </div>
    </section>
  );
}

function Viewer({
  image,
  board,
  boardId,
  onClose,
  onChanged,
}: {
  image: ImageDTO;
  board: Board | undefined;
  boardId: string;
  onClose: () => void;
  onChanged: (i: ImageDTO | null) => void;
}) {
  const app = useApp();
  const [metadata, setMetadata] = useState<Record<string, unknown> | null>(null);
  const editable = canEditImagesOn(app.user, boardId, board);

  useEffect(() => {
    let alive = true;
    setMetadata(null);
    api<Record<string, unknown> | null>(`/api/v1/images/i/${image.image_name}/metadata`)
      .then((m) => alive && setMetadata(m))
      .catch(() => alive && setMetadata(null));
    return () => {
      alive = false;
    };
  }, [image.image_name]);

  const recall = (what: 'all' | 'prompt' | 'seed' | 'size') => {
    const p = recallFromMetadata(metadata, app.models ?? [], what);
    app.setParams(p);
    app.toast(`Recalled ${what === 'all' ? 'all parameters' : what}`, 'success');
    if (what === 'all') app.navigate('/generate');
  };

  const del = async () => {
    try {
      await api(`/api/v1/images/i/${image.image_name}`, { method: 'DELETE' });
      onChanged(null);
      app.bumpGallery();
      app.refreshBoards();
    } catch (e) {
      app.toast(errorText(e), 'error');
    }
  };

  const star = async () => {
    try {
      const res = await api<ImageDTO>(`/api/v1/images/i/${image.image_name}`, { method: 'PATCH', json: { starred: !image.starred } });
      onChanged(res);
      app.bumpGallery();
    } catch (e) {
      app.toast(errorText(e), 'error');
    }
  };

  const summary = useMemo(() => {
    if (!metadata) return [] as [string, string][];
    const keys = ['positive_prompt', 'negative_prompt', 'seed', 'width', 'height', 'steps', 'cfg_scale', 'scheduler', 'clip_skip', 'strength', 'generation_mode'];
    const out: [string, string][] = [];
    for (const k of keys) if (metadata[k] !== undefined && metadata[k] !== null) out.push([k, String(metadata[k])]);
    const m = metadata.model as { name?: string } | undefined;
    if (m?.name) out.push(['model', m.name]);
    return out;
  }, [metadata]);

  return (
    <aside className="viewer panel" aria-label="Image viewer" data-testid="image-viewer">
      <div className="panel-head">
        <h2 className="panel-title">Viewer</h2>
        <div className="grow" />
        <button type="button" className="icon-btn" aria-label="Close viewer" onClick={onClose}>
          ×
        </button>
      </div>
      <a href={mediaUrl(image.image_url)} target="_blank" rel="noreferrer">
        <img className="viewer-img" src={mediaUrl(image.image_url)} alt={`Image ${image.image_name}`} />
      </a>
      <p className="muted small">
        {image.width}×{image.height} · {image.created_at}
      </p>
      <div className="row wrap">
        <button type="button" className="btn small" disabled={!metadata} onClick={() => recall('all')}>
          Recall All
        </button>
        <button type="button" className="btn small" disabled={!metadata} onClick={() => recall('prompt')}>
          Recall Prompt
        </button>
        <button type="button" className="btn small" disabled={!metadata} onClick={() => recall('seed')}>
          Recall Seed
        </button>
        <button type="button" className="btn small" disabled={!metadata} onClick={() => recall('size')}>
          Recall Size
        </button>
        <button
          type="button"
          className="btn small"
          onClick={() => {
            app.setParams({ initImage: { image_name: image.image_name, width: image.width, height: image.height }, width: image.width, height: image.height });
            app.navigate('/generate');
          }}
        >
          Use as Initial Image
        </button>
        <button
          type="button"
          className="btn small"
          onClick={() => {
            sendToCanvas({ image_name: image.image_name, width: image.width, height: image.height });
            app.navigate('/canvas');
          }}
        >
          Send to Canvas
        </button>
        <button
          type="button"
          className="btn small"
          onClick={() => {
            sendToUpscale({ image_name: image.image_name, width: image.width, height: image.height });
            app.navigate('/upscale');
          }}
        >
          Upscale
        </button>
        {editable && (
          <>
            <button type="button" className="btn small" onClick={star}>
              {image.starred ? 'Unstar' : 'Star'}
            </button>
            <button type="button" className="btn small danger" onClick={del}>
              Delete Image
            </button>
          </>
        )}
      </div>
      <dl className="metadata" data-testid="image-metadata">
        {summary.map(([k, v]) => (
          <div key={k} className="md-row">
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      {metadata && (
        <details>
          <summary>Raw metadata</summary>
          <pre className="json">{JSON.stringify(metadata, null, 2)}</pre>
        </details>
      )}
      {!metadata && <p className="muted small">No metadata.</p>}
    </aside>
  );
}
