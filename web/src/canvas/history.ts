// Undo / redo over whole documents. Documents are immutable values (every edit makes a new one sharing the
// unchanged parts), so a snapshot costs a pointer; the history is bounded so that a long session cannot grow
// without limit.

export const HISTORY_LIMIT = 64;

export interface History<T> {
  past: T[];
  present: T;
  future: T[];
}

export function initHistory<T>(present: T): History<T> {
  return { past: [], present, future: [] };
}

/** Records a new present; the oldest entries fall off beyond limit. */
export function push<T>(h: History<T>, next: T, limit = HISTORY_LIMIT): History<T> {
  if (next === h.present) return h;
  const past = [...h.past, h.present];
  while (past.length > limit) past.shift();
  return { past, present: next, future: [] };
}

/** Replaces the present without an undo step (view changes, staging, selection). */
export function replace<T>(h: History<T>, next: T): History<T> {
  return { ...h, present: next };
}

export function undo<T>(h: History<T>): History<T> {
  if (!h.past.length) return h;
  const past = h.past.slice(0, -1);
  return { past, present: h.past[h.past.length - 1], future: [h.present, ...h.future] };
}

export function redo<T>(h: History<T>): History<T> {
  if (!h.future.length) return h;
  const [next, ...future] = h.future;
  return { past: [...h.past, h.present], present: next, future };
}
