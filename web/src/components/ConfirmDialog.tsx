// An in-page confirmation dialog: replaces window.confirm, which a browser may block and a test cannot read.
import { useEffect, useId, type ReactNode } from 'react';

export interface ConfirmAction {
  label: string;
  onConfirm: () => void;
  danger?: boolean;
}

export function ConfirmDialog({
  title,
  children,
  actions,
  onCancel,
  cancelLabel = 'Cancel',
}: {
  title: string;
  children?: ReactNode;
  actions: ConfirmAction[];
  onCancel: () => void;
  cancelLabel?: string;
}) {
  const titleId = useId();

  // Escape cancels, as it does for the browser's own dialogs.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        onCancel();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [onCancel]);

  return (
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onCancel()}>
      <div className="modal card" role="dialog" aria-modal="true" aria-labelledby={titleId} data-testid="confirm-dialog">
        <h2 id={titleId}>{title}</h2>
        {children}
        <div className="row wrap">
          {actions.map((a) => (
            <button key={a.label} type="button" className={`btn${a.danger === false ? ' primary' : ' danger'}`} onClick={a.onConfirm}>
              {a.label}
            </button>
          ))}
          {/* The safe choice has the focus, so that Enter does not delete by accident. */}
          <button type="button" className="btn" autoFocus onClick={onCancel}>
            {cancelLabel}
          </button>
        </div>
      </div>
    </div>
  );
}
