// One Socket.IO connection per session, shared by the screens; handlers subscribe by event name.
import { io, type Socket } from 'socket.io-client';
import { getToken } from './api';

type Handler = (data: any) => void;

const handlers = new Map<string, Set<Handler>>();
let socket: Socket | null = null;
const EVENTS = [
  'invocation_started',
  'invocation_progress',
  'invocation_complete',
  'invocation_error',
  'queue_item_status_changed',
  'batch_enqueued',
  'queue_cleared',
  'queue_items_retried',
  'queue_items_canceled',
  'recall_parameters_updated',
  'bulk_download_started',
  'bulk_download_complete',
  'bulk_download_error',
  'model_load_started',
  'model_load_complete',
  'model_install_started',
  'model_install_download_started',
  'model_install_download_progress',
  'model_install_downloads_complete',
  'model_install_complete',
  'model_install_cancelled',
  'model_install_error',
  'workflow_created',
  'workflow_updated',
  'workflow_deleted',
  'connect',
  'disconnect',
];

export function connectSocket(token: string | null): void {
  disconnectSocket();
  const s = io(window.location.origin, {
    path: '/ws/socket.io',
    // A function, so that a reconnect sends the latest (sliding-refreshed) token.
    auth: (cb: (data: object) => void) => {
      const t = getToken() ?? token;
      cb(t ? { token: t } : {});
    },
    transports: ['websocket', 'polling'],
  });
  s.on('connect', () => {
    s.emit('subscribe_queue', { queue_id: 'default' });
    s.emit('subscribe_bulk_download', { bulk_download_id: 'default' });
  });
  for (const ev of EVENTS) {
    s.on(ev, (data: unknown) => dispatch(ev, data));
  }
  socket = s;
}

export function disconnectSocket(): void {
  if (socket) {
    socket.removeAllListeners();
    socket.disconnect();
    socket = null;
  }
}

export function dispatch(ev: string, data: unknown): void {
  handlers.get(ev)?.forEach((h) => {
    try {
      h(data);
    } catch (e) {
      console.error(e);
    }
  });
  handlers.get('*')?.forEach((h) => h({ event: ev, data }));
}

export function subscribe(ev: string, h: Handler): () => void {
  let set = handlers.get(ev);
  if (!set) handlers.set(ev, (set = new Set()));
  set.add(h);
  return () => set!.delete(h);
}
