// The Upscale screen: an image (from the gallery, or dropped / uploaded), an upscaling model and a scale;
// optionally a creative pass (main model + tile ControlNet, creativity and structure) as InvokeAI's Upscale
// tab runs it. Progress shows per tile; the result lands in the chosen board.
import { useEffect, useRef, useState, type DragEvent, type FormEvent } from 'react';
import { api, errorText, mediaUrl } from '../lib/api';
import { SCHEDULERS, randomSeed } from '../lib/graph';
import { generationBoardAllowed, useApp } from '../lib/store';
import type { ImageDTO, ModelConfig, Paged } from '../lib/types';
import { buildUpscaleBatch, checkUpscale, defaultUpscaleParams, MAX_UPSCALE, type UpscaleParams } from './UpscaleGraph';
import { takeUpscaleInbox } from './UpscaleInbox';

/** The gallery's drag payload: a JSON list of image names. */
export const IMAGES_DRAG_TYPE = 'application/x-invokego-images';

function newGraphId(): string {
  if (typeof crypto !== 'undefined' && 'randomUUID' in crypto) return crypto.randomUUID();
  return Math.random().toString(36).slice(2) + Date.now().toString(36);
}

function useModels(type: string): ModelConfig[] {
  const [models, setModels] = useState<ModelConfig[]>([]);
  const app = useApp();
  useEffect(() => {
    let alive = true;
    api<{ models: ModelConfig[] }>('/api/v2/models/', { query: { model_type: type } })
      .then((r) => alive && setModels(r.models))
      .catch(() => alive && setModels([]));
    return () => {
      alive = false;
    };
  }, [type, app.models]);
  return models;
}

export function UpscaleScreen() {
  const app = useApp();
  const upscalers = useModels('spandrel_image_to_image');
  const controlnets = useModels('controlnet');
  const mains = (app.models ?? []).filter((m) => m.base === 'sd-1' || m.base === 'sdxl');
  const [p, setP] = useState<UpscaleParams>(() => ({ ...defaultUpscaleParams, boardId: app.params.boardId || 'none', image: takeUpscaleInbox() }));
  const [scaleChoice, setScaleChoice] = useState<'2' | '4' | 'custom'>('4');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const set = (over: Partial<UpscaleParams>) => setP((old) => ({ ...old, ...over }));

  // Defaults follow what is installed.
  useEffect(() => {
    if (!p.upscaleModel && upscalers.length) set({ upscaleModel: upscalers[0] });
  }, [upscalers]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    if (!p.model && mains.length) set({ model: mains[0] });
  }, [mains.length]); // eslint-disable-line react-hooks/exhaustive-deps
  const tiles = controlnets.filter((c) => !p.model || c.base === p.model.base);
  useEffect(() => {
    if (p.tileControlNet && tiles.some((c) => c.key === p.tileControlNet!.key)) return;
    set({ tileControlNet: tiles.find((c) => /tile/i.test(c.name)) ?? tiles[0] ?? null });
  }, [controlnets, p.model?.key]); // eslint-disable-line react-hooks/exhaustive-deps

  const writableBoards = app.boards.filter((b) => b.board_id !== 'none' && generationBoardAllowed(app.user, app.boards, b.board_id));
  const boardOk = generationBoardAllowed(app.user, app.boards, p.boardId);
  const problem = checkUpscale(p);

  const upload = async (files: FileList | File[] | null) => {
    const f = files && Array.from(files)[0];
    if (!f) return;
    setError('');
    const fd = new FormData();
    fd.append('file', f);
    try {
      const dto = await api<ImageDTO>('/api/v1/images/upload', {
        method: 'POST',
        query: { image_category: 'user', is_intermediate: false },
        body: fd,
      });
      set({ image: { image_name: dto.image_name, width: dto.width, height: dto.height } });
      app.bumpGallery();
    } catch (e) {
      setError(errorText(e));
    }
  };

  // A dropped file is uploaded; a dropped gallery image (the gallery's drag type: a JSON list of names) is used
  // as it is.
  const onDrop = async (e: DragEvent) => {
    e.preventDefault();
    const dt = e.dataTransfer;
    if (!dt) return;
    if (dt.types.includes(IMAGES_DRAG_TYPE)) {
      try {
        const names = JSON.parse(dt.getData(IMAGES_DRAG_TYPE)) as string[];
        if (!names.length) return;
        const dto = await api<ImageDTO>(`/api/v1/images/i/${encodeURIComponent(names[0])}`);
        set({ image: { image_name: dto.image_name, width: dto.width, height: dto.height } });
      } catch (err) {
        setError(errorText(err));
      }
      return;
    }
    upload(dt.files);
  };

  const invoke = async (e?: FormEvent) => {
    e?.preventDefault();
    setError('');
    if (problem) {
      setError(problem);
      return;
    }
    if (!boardOk) {
      setError('You cannot save into this board');
      return;
    }
    setBusy(true);
    try {
      await api('/api/v1/queue/default/enqueue_batch', { json: buildUpscaleBatch(p, newGraphId()) });
      app.toast('Upscale enqueued', 'success');
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const num = (v: string, fallback: number) => {
    const n = Number(v);
    return Number.isFinite(n) ? n : fallback;
  };
  const outW = p.image ? Math.round(p.image.width * p.scale) : 0;
  const outH = p.image ? Math.round(p.image.height * p.scale) : 0;

  return (
    <div className="generate upscale">
      <form className="params panel" onSubmit={invoke} aria-label="Upscale parameters">
        <div className="invoke-row">
          <button type="submit" className="btn primary invoke" disabled={busy || !!problem || !boardOk} data-testid="upscale-button">
            Upscale
          </button>
        </div>
        {problem && !error && (
          <p className="muted small" data-testid="upscale-hint">
            {problem}
          </p>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div
          className="card dropzone"
          data-testid="upscale-dropzone"
          onDragOver={(e) => e.preventDefault()}
          onDrop={onDrop}
          aria-label="Image to upscale"
        >
          {p.image ? (
            <div className="row">
              <img src={mediaUrl(`api/v1/images/i/${p.image.image_name}/thumbnail`)} alt="Image to upscale" data-testid="upscale-source" />
              <div className="grow">
                <strong>
                  {p.image.width}×{p.image.height}
                </strong>
                {outW > 0 && (
                  <p className="muted small" data-testid="upscale-output-size">
                    → {outW}×{outH}
                  </p>
                )}
                <button type="button" className="btn small" onClick={() => set({ image: null })}>
                  Clear Image
                </button>
              </div>
            </div>
          ) : (
            <p className="muted">Drop an image here, upload one, or pick one from the board below.</p>
          )}
          <label className="btn small file-btn">
            Upload
            <input type="file" accept="image/*" aria-label="Upload image to upscale" onChange={(e) => upload(e.target.files)} />
          </label>
        </div>
        <label className="field">
          <span>Upscaling Model</span>
          <select
            value={p.upscaleModel?.key ?? ''}
            onChange={(e) => set({ upscaleModel: upscalers.find((m) => m.key === e.target.value) ?? null })}
          >
            {upscalers.length === 0 && <option value="">(install an upscaling model)</option>}
            {upscalers.map((m) => (
              <option key={m.key} value={m.key}>
                {m.name}
              </option>
            ))}
          </select>
        </label>
        <fieldset className="field">
          <legend>Scale</legend>
          <div className="row">
            {(['2', '4'] as const).map((s) => (
              <label className="check" key={s}>
                <input
                  type="radio"
                  name="upscale-scale"
                  checked={scaleChoice === s}
                  onChange={() => {
                    setScaleChoice(s);
                    set({ scale: Number(s) });
                  }}
                />
                <span>{s}×</span>
              </label>
            ))}
            <label className="check">
              <input type="radio" name="upscale-scale" checked={scaleChoice === 'custom'} onChange={() => setScaleChoice('custom')} />
              <span>Custom</span>
            </label>
          </div>
          {scaleChoice === 'custom' && (
            <label className="field">
              <span>Custom Scale</span>
              <input
                type="number"
                min={0.25}
                max={MAX_UPSCALE}
                step={0.25}
                value={p.scale}
                onChange={(e) => set({ scale: num(e.target.value, p.scale) })}
              />
            </label>
          )}
        </fieldset>
        <label className="field">
          <span>Board</span>
          <select data-testid="upscale-board" value={boardOk ? p.boardId : ''} onChange={(e) => set({ boardId: e.target.value })}>
            {!boardOk && <option value="">(choose a board)</option>}
            <option value="none">Uncategorized</option>
            {writableBoards.map((b) => (
              <option key={b.board_id} value={b.board_id}>
                {b.board_name}
              </option>
            ))}
          </select>
        </label>
        <label className="check">
          <input type="checkbox" checked={p.creative} onChange={(e) => set({ creative: e.target.checked })} />
          <span>Add detail (creative upscale)</span>
        </label>
        {p.creative && <CreativeFields p={p} set={set} mains={mains} tiles={tiles} num={num} />}
      </form>
      <section className="preview panel" aria-label="Upscale preview">
        <UpscaleProgress />
      </section>
      <BoardPicker boardId={app.selectedBoard || 'none'} onPick={(im) => set({ image: { image_name: im.image_name, width: im.width, height: im.height } })} />
    </div>
  );
}

function CreativeFields({
  p,
  set,
  mains,
  tiles,
  num,
}: {
  p: UpscaleParams;
  set: (o: Partial<UpscaleParams>) => void;
  mains: ModelConfig[];
  tiles: ModelConfig[];
  num: (v: string, f: number) => number;
}) {
  return (
    <div className="card" data-testid="creative-fields">
      <label className="field">
        <span>Main Model</span>
        <select value={p.model?.key ?? ''} onChange={(e) => set({ model: mains.find((m) => m.key === e.target.value) ?? null })}>
          {mains.length === 0 && <option value="">(install an SD1.5 or SDXL model)</option>}
          {mains.map((m) => (
            <option key={m.key} value={m.key}>
              {m.name} ({m.base})
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>Tile ControlNet</span>
        <select value={p.tileControlNet?.key ?? ''} onChange={(e) => set({ tileControlNet: tiles.find((m) => m.key === e.target.value) ?? null })}>
          {tiles.length === 0 && <option value="">(install a tile ControlNet for this model)</option>}
          {tiles.map((m) => (
            <option key={m.key} value={m.key}>
              {m.name}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>Prompt</span>
        <textarea rows={2} value={p.positivePrompt} onChange={(e) => set({ positivePrompt: e.target.value })} />
      </label>
      <label className="field">
        <span>Negative Prompt</span>
        <textarea rows={2} value={p.negativePrompt} onChange={(e) => set({ negativePrompt: e.target.value })} />
      </label>
      <div className="grid2">
        <label className="field">
          <span>Creativity ({p.creativity})</span>
          <input type="range" min={-10} max={10} step={1} value={p.creativity} onChange={(e) => set({ creativity: num(e.target.value, 0) })} />
        </label>
        <label className="field">
          <span>Structure ({p.structure})</span>
          <input type="range" min={-10} max={10} step={1} value={p.structure} onChange={(e) => set({ structure: num(e.target.value, 0) })} />
        </label>
        <label className="field">
          <span>Steps</span>
          <input type="number" min={1} max={1000} value={p.steps} onChange={(e) => set({ steps: Math.max(1, num(e.target.value, p.steps)) })} />
        </label>
        <label className="field">
          <span>CFG Scale</span>
          <input type="number" min={1} max={200} step={0.5} value={p.cfgScale} onChange={(e) => set({ cfgScale: num(e.target.value, p.cfgScale) })} />
        </label>
        <label className="field">
          <span>Tile Size</span>
          <select value={p.tileSize} onChange={(e) => set({ tileSize: Number(e.target.value) })}>
            {[512, 768, 1024, 1536].map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Seed</span>
          <input type="number" min={0} value={p.seed} onChange={(e) => set({ seed: Math.max(0, Math.floor(num(e.target.value, p.seed))) })} />
        </label>
      </div>
      <button type="button" className="btn small" aria-label="Shuffle seed" onClick={() => set({ seed: randomSeed() })}>
        ⟳ Seed
      </button>
      <label className="field">
        <span>Scheduler</span>
        <select value={p.scheduler} onChange={(e) => set({ scheduler: e.target.value })}>
          {SCHEDULERS.map((s) => (
            <option key={s.value} value={s.value}>
              {s.label}
            </option>
          ))}
        </select>
      </label>
    </div>
  );
}

function UpscaleProgress() {
  const { progress, lastImage } = useApp();
  // Tile progress comes between the per-step previews; the last preview stays up meanwhile.
  const preview = useRef<{ itemId: number; dataURL: string } | null>(null);
  if (progress?.image) preview.current = { itemId: progress.itemId, dataURL: progress.image.dataURL };
  if (progress) {
    const pct = progress.percentage != null ? Math.round(progress.percentage * 100) : null;
    const shown = preview.current && preview.current.itemId === progress.itemId ? preview.current.dataURL : null;
    return (
      <div className="progress-view" data-testid="upscale-progress">
        {shown ? <img className="preview-img" src={shown} alt="Progress preview" /> : <div className="preview-placeholder" />}
        <div className="progressbar" role="progressbar" aria-label="Upscale progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct ?? undefined}>
          <div style={{ width: `${pct ?? 0}%` }} />
        </div>
        <p className="muted" data-testid="upscale-progress-message">
          {progress.message}
          {pct != null && ` ${pct}%`}
        </p>
      </div>
    );
  }
  if (lastImage) {
    return (
      <div className="progress-view">
        <img className="preview-img" src={mediaUrl(`api/v1/images/i/${lastImage}/full`)} alt="Upscaled result" data-testid="upscale-result" />
      </div>
    );
  }
  return (
    <div className="progress-view empty">
      <p className="muted">Choose an image and a model, then press Upscale. The result lands in the chosen board.</p>
    </div>
  );
}

function BoardPicker({ boardId, onPick }: { boardId: string; onPick: (im: ImageDTO) => void }) {
  const app = useApp();
  const [images, setImages] = useState<ImageDTO[]>([]);
  useEffect(() => {
    let alive = true;
    api<Paged<ImageDTO>>('/api/v1/images/', {
      query: { board_id: boardId, limit: 24, offset: 0, categories: ['general', 'user'], is_intermediate: false, starred_first: false, order_dir: 'DESC' },
    })
      .then((r) => alive && setImages(r.items))
      .catch(() => alive && setImages([]));
    return () => {
      alive = false;
    };
  }, [boardId, app.galleryVersion]);
  return (
    <aside className="recent panel" aria-label="Pick an image">
      <h2 className="panel-title">Pick from the board</h2>
      <ul className="thumbs" data-testid="upscale-pick">
        {images.map((im) => (
          <li key={im.image_name}>
            <button
              type="button"
              className="thumb-btn"
              aria-label={`Use image ${im.image_name}`}
              draggable
              onDragStart={(e) => {
                e.dataTransfer.setData(IMAGES_DRAG_TYPE, JSON.stringify([im.image_name]));
                e.dataTransfer.effectAllowed = 'copy';
              }}
              onClick={() => onPick(im)}
            >
              <img src={mediaUrl(im.thumbnail_url)} alt={im.image_name} loading="lazy" />
            </button>
          </li>
        ))}
      </ul>
    </aside>
  );
}

export default UpscaleScreen;
