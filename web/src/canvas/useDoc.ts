// The canvas document with undo/redo and per-user persistence (client_state), as one hook.
import { useCallback, useEffect, useRef, useState } from 'react';
import { initHistory, push, redo as redoH, replace, undo as undoH, type History } from './history';
import { loadDoc, saveDoc } from './persist';
import { emptyDoc, type CanvasDoc } from './types';

export interface DocApi {
  doc: CanvasDoc;
  loaded: boolean;
  /** An edit the user can undo. */
  commit: (f: (d: CanvasDoc) => CanvasDoc) => void;
  /** A change outside the history (view, selection, staging, settings typed into fields). */
  patch: (f: (d: CanvasDoc) => CanvasDoc) => void;
  undo: () => void;
  redo: () => void;
  canUndo: boolean;
  canRedo: boolean;
  saving: boolean;
  saveError: string;
}

// What undo and redo leave alone: they restore drawings, not where the user is looking or what is staged.
function keepLive(restored: CanvasDoc, current: CanvasDoc): CanvasDoc {
  return { ...restored, view: current.view, staging: current.staging, settings: current.settings, pending: current.pending };
}

export function useCanvasDoc(): DocApi {
  const [h, setH] = useState<History<CanvasDoc>>(() => initHistory(emptyDoc()));
  const [loaded, setLoaded] = useState(false);
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState('');
  const lastSaved = useRef<string>('');

  useEffect(() => {
    let live = true;
    loadDoc()
      .then((d) => {
        if (!live) return;
        if (d) {
          lastSaved.current = JSON.stringify(d);
          setH(initHistory(d));
        }
      })
      .catch(() => undefined)
      .finally(() => live && setLoaded(true));
    return () => {
      live = false;
    };
  }, []);

  // Debounced save of every change once the stored document has been read.
  useEffect(() => {
    if (!loaded) return;
    const s = JSON.stringify(h.present);
    if (s === lastSaved.current) return;
    const t = setTimeout(() => {
      setSaving(true);
      saveDoc(h.present)
        .then(() => {
          lastSaved.current = s;
          setSaveError('');
        })
        .catch((e) => setSaveError(String(e?.message ?? e)))
        .finally(() => setSaving(false));
    }, 400);
    return () => clearTimeout(t);
  }, [h.present, loaded]);

  const commit = useCallback((f: (d: CanvasDoc) => CanvasDoc) => setH((old) => push(old, f(old.present))), []);
  const patch = useCallback((f: (d: CanvasDoc) => CanvasDoc) => setH((old) => replace(old, f(old.present))), []);
  const undo = useCallback(
    () =>
      setH((old) => {
        const n = undoH(old);
        return n === old ? old : { ...n, present: keepLive(n.present, old.present) };
      }),
    [],
  );
  const redo = useCallback(
    () =>
      setH((old) => {
        const n = redoH(old);
        return n === old ? old : { ...n, present: keepLive(n.present, old.present) };
      }),
    [],
  );
  return { doc: h.present, loaded, commit, patch, undo, redo, canUndo: h.past.length > 0, canRedo: h.future.length > 0, saving, saveError };
}
