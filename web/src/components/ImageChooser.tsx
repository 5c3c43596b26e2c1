// Picks a control / reference image: one of the current board's images (the gallery) or an upload.
import { useEffect, useState } from 'react';
import { api, errorText, mediaUrl } from '../lib/api';
import { useApp } from '../lib/store';
import type { ImageRef } from '../lib/graphAdapters';
import type { ImageDTO, Paged } from '../lib/types';

export function ImageChooser({ label, image, onChange }: { label: string; image: ImageRef | null; onChange: (im: ImageRef | null) => void }) {
  const app = useApp();
  const board = app.params.boardId || 'none';
  const [open, setOpen] = useState(false);
  // The gallery opens on the generation board; any other visible board may be browsed.
  const [browse, setBrowse] = useState<string | null>(null);
  const shown = browse ?? board;
  const [images, setImages] = useState<ImageDTO[]>([]);
  const [error, setError] = useState('');

  useEffect(() => {
    if (!open) return;
    let alive = true;
    api<Paged<ImageDTO>>('/api/v1/images/', {
      query: { board_id: shown, limit: 30, offset: 0, categories: ['general', 'control', 'user'], is_intermediate: false, starred_first: false, order_dir: 'DESC' },
    })
      .then((r) => alive && setImages(r.items))
      .catch((e) => alive && setError(errorText(e)));
    return () => {
      alive = false;
    };
  }, [open, shown, app.galleryVersion]);

  const upload = async (files: FileList | null) => {
    const f = files?.[0];
    if (!f) return;
    setError('');
    const fd = new FormData();
    fd.append('file', f);
    try {
      const dto = await api<ImageDTO>('/api/v1/images/upload', {
        method: 'POST',
        query: { image_category: 'control', is_intermediate: false, board_id: board === 'none' ? undefined : board },
        body: fd,
      });
      onChange({ image_name: dto.image_name, width: dto.width, height: dto.height });
      app.bumpGallery();
    } catch (e) {
      setError(errorText(e));
    }
  };

  return (
    <div className="gx-image" data-testid="image-chooser">
      <div className="row">
        {image ? (
          <img className="gx-thumb" src={mediaUrl(`api/v1/images/i/${image.image_name}/thumbnail`)} alt={`${label}: ${image.image_name}`} data-testid="chosen-image" />
        ) : (
          <span className="muted small">No {label.toLowerCase()}</span>
        )}
        <div className="gx-buttons">
          <button type="button" className="btn small" onClick={() => setOpen((o) => !o)} aria-expanded={open}>
            {open ? 'Close Gallery' : 'From Gallery'}
          </button>
          <label className="btn small file-btn">
            Upload
            <input type="file" accept="image/*" aria-label={`Upload ${label.toLowerCase()}`} onChange={(e) => upload(e.target.files)} />
          </label>
          {image && (
            <button type="button" className="btn small" onClick={() => onChange(null)}>
              Clear
            </button>
          )}
        </div>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {open && (
        <label className="field">
          <span>Browse Board</span>
          <select value={shown} aria-label={`${label} board`} onChange={(e) => setBrowse(e.target.value)}>
            <option value="none">Uncategorized</option>
            {app.boards
              .filter((b) => b.board_id !== 'none')
              .map((b) => (
                <option key={b.board_id} value={b.board_id}>
                  {b.board_name}
                </option>
              ))}
          </select>
        </label>
      )}
      {open && (
        <ul className="gx-gallery" aria-label={`Choose ${label.toLowerCase()}`}>
          {images.length === 0 && <li className="muted small">No images on this board.</li>}
          {images.map((im) => (
            <li key={im.image_name}>
              <button
                type="button"
                className="gx-pick"
                aria-label={`Use ${im.image_name}`}
                onClick={() => {
                  onChange({ image_name: im.image_name, width: im.width, height: im.height });
                  setOpen(false);
                }}
              >
                <img src={mediaUrl(im.thumbnail_url)} alt="" loading="lazy" />
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
