// The canvas document persists per user through the client_state routes (the server keys the state by the
// caller's account, so another user never sees it), and the images it uploads are ordinary gallery images.
import { api } from '../lib/api';
import type { ImageDTO } from '../lib/types';
import { isCanvasDoc, type CanvasDoc } from './types';

export const CANVAS_STATE_KEY = 'invokego.canvas';
const base = '/api/v1/client_state/default';

export async function loadDoc(): Promise<CanvasDoc | null> {
  const raw = await api<string | null>(`${base}/get_by_key`, { query: { key: CANVAS_STATE_KEY } });
  if (!raw) return null;
  try {
    const v = JSON.parse(raw);
    return isCanvasDoc(v) ? v : null;
  } catch {
    return null;
  }
}

export async function saveDoc(doc: CanvasDoc): Promise<void> {
  await api(`${base}/set_by_key`, { method: 'POST', query: { key: CANVAS_STATE_KEY }, json: JSON.stringify(doc) });
}

/** Uploads a PNG; intermediate images stay out of the gallery's lists. */
export async function uploadPNG(blob: Blob, opts: { intermediate: boolean; boardId?: string | null; category?: string }): Promise<ImageDTO> {
  const fd = new FormData();
  fd.append('file', blob, 'canvas.png');
  return api<ImageDTO>('/api/v1/images/upload', {
    method: 'POST',
    query: {
      image_category: opts.category ?? 'general',
      is_intermediate: opts.intermediate,
      board_id: opts.boardId && opts.boardId !== 'none' ? opts.boardId : undefined,
    },
    body: fd,
  });
}

// "Send to canvas" from the gallery: the image waits here until the canvas screen picks it up.
let inbox: { image_name: string; width: number; height: number } | null = null;
export function sendToCanvas(img: { image_name: string; width: number; height: number }): void {
  inbox = img;
}
export function takeInbox(): { image_name: string; width: number; height: number } | null {
  const v = inbox;
  inbox = null;
  return v;
}
