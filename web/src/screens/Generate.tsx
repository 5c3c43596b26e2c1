import { useEffect, useState, type FormEvent } from 'react';
import { api, errorText, mediaUrl } from '../lib/api';
import { buildBatch, FLUX_SCHEDULERS, fluxScheduler, MAX_SEED, modelDefaults, randomSeed, SCHEDULERS } from '../lib/graph';
import { activeControls } from '../lib/graphAdapters';
import { ControlAdapters } from '../components/ControlAdapters';
import { EmbeddingPicker } from '../components/EmbeddingPicker';
import { LoraPicker } from '../components/LoraPicker';
import { ofType, useAllModels } from '../components/useModels';
import '../components/generate-extras.css';
import { generationBoardAllowed, useApp } from '../lib/store';
import { VIS_LABEL } from './Gallery';
import type { ImageDTO, Paged } from '../lib/types';
import { Splash } from './Splash';

export function GenerateScreen() {
  const app = useApp();
  const { params: p, setParams, models } = app;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const allModels = useAllModels();
  const flux = p.model?.base === 'flux';
  const schnell = flux && p.model?.variant === 'schnell';
  const t5Models = ofType(allModels, ['t5_encoder']);
  const clipEmbedModels = ofType(allModels, ['clip_embed']);
  const fluxVAEs = ofType(allModels, ['vae'], 'flux');

  // FLUX needs its text encoders and VAE beside the main model: pick the first installed ones until the user chooses
  // (and again when a chosen or recalled one is not installed).
  useEffect(() => {
    if (!flux) return;
    const fix: Partial<typeof p> = {};
    const missing = (m: typeof p.t5Encoder, list: typeof t5Models) => !m || !list.some((x) => x.key === m.key);
    if (missing(p.t5Encoder, t5Models) && t5Models[0]) fix.t5Encoder = t5Models[0];
    if (missing(p.clipEmbed, clipEmbedModels) && clipEmbedModels[0]) fix.clipEmbed = clipEmbedModels[0];
    if (missing(p.fluxVAE, fluxVAEs) && fluxVAEs[0]) fix.fluxVAE = fluxVAEs[0];
    if (Object.keys(fix).length) setParams(fix);
  }, [flux, allModels, p.t5Encoder, p.clipEmbed, p.fluxVAE]); // eslint-disable-line react-hooks/exhaustive-deps

  if (models === null) return <p className="muted pad">Loading models…</p>;
  if (models.length === 0) return <Splash />;
  // The store picks the first model (with its defaults) right after the list loads: the form waits for it.
  if (!p.model) return <p className="muted pad">Loading models…</p>;

  // The board follows the Gallery's selection (store.setSelectedBoard); this list may still pick another.
  const writableBoards = app.boards.filter((b) => b.board_id !== 'none' && generationBoardAllowed(app.user, app.boards, b.board_id));
  const boardOk = generationBoardAllowed(app.user, app.boards, p.boardId);

  const invoke = async (e?: FormEvent) => {
    e?.preventDefault();
    setError('');
    if (!boardOk) {
      setError('You cannot generate into this board');
      return;
    }
    if (!flux && activeControls(p).some((c) => c.processor !== 'none' && !c.processedImage)) {
      setError('A control image is still being processed');
      return;
    }
    setBusy(true);
    try {
      const body = buildBatch(p);
      const res = await api<{ enqueued: number }>('/api/v1/queue/default/enqueue_batch', { json: body });
      app.toast(`Enqueued ${res.enqueued} item${res.enqueued === 1 ? '' : 's'}`, 'success');
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

  return (
    <div className="generate">
      <form className="params panel" onSubmit={invoke} aria-label="Generation parameters">
        <div className="invoke-row">
          <button type="submit" className="btn primary invoke" disabled={busy || !p.model || !boardOk} data-testid="invoke-button">
            Invoke
          </button>
        </div>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <label className="field">
          <span>Prompt</span>
          <textarea rows={4} value={p.positivePrompt} onChange={(e) => setParams({ positivePrompt: e.target.value })} placeholder="Describe the image" />
        </label>
        {!flux && (
          <label className="field">
            <span>Negative Prompt</span>
            <textarea rows={2} value={p.negativePrompt} onChange={(e) => setParams({ negativePrompt: e.target.value })} />
          </label>
        )}
        <label className="field">
          <span>Model</span>
          <select
            value={p.model?.key ?? ''}
            onChange={(e) => {
              const m = models.find((x) => x.key === e.target.value) ?? null;
              setParams({ model: m, ...(m ? modelDefaults(m) : {}) });
            }}
          >
            {models.map((m) => (
              <option key={m.key} value={m.key}>
                {m.name} ({m.base}
                {m.base === 'flux' && m.variant ? ` ${m.variant}` : ''})
              </option>
            ))}
          </select>
        </label>
        {flux && (
          <div className="gx-flux" data-testid="flux-models">
            <label className="field">
              <span>T5 Encoder</span>
              <select value={p.t5Encoder?.key ?? ''} onChange={(e) => setParams({ t5Encoder: t5Models.find((m) => m.key === e.target.value) ?? null })}>
                {!p.t5Encoder && <option value="">(install a T5 encoder)</option>}
                {t5Models.map((m) => (
                  <option key={m.key} value={m.key}>
                    {m.name}
                  </option>
                ))}
              </select>
            </label>
            <label className="field">
              <span>CLIP Embed</span>
              <select value={p.clipEmbed?.key ?? ''} onChange={(e) => setParams({ clipEmbed: clipEmbedModels.find((m) => m.key === e.target.value) ?? null })}>
                {!p.clipEmbed && <option value="">(install a CLIP embed model)</option>}
                {clipEmbedModels.map((m) => (
                  <option key={m.key} value={m.key}>
                    {m.name}
                  </option>
                ))}
              </select>
            </label>
            <label className="field">
              <span>VAE</span>
              <select value={p.fluxVAE?.key ?? ''} onChange={(e) => setParams({ fluxVAE: fluxVAEs.find((m) => m.key === e.target.value) ?? null })}>
                {!p.fluxVAE && <option value="">(install a FLUX VAE)</option>}
                {fluxVAEs.map((m) => (
                  <option key={m.key} value={m.key}>
                    {m.name}
                  </option>
                ))}
              </select>
            </label>
          </div>
        )}
        <div className="grid2">
          <label className="field">
            <span>Width</span>
            <input type="number" min={64} step={8} value={p.width} onChange={(e) => setParams({ width: num(e.target.value, p.width) })} />
          </label>
          <label className="field">
            <span>Height</span>
            <input type="number" min={64} step={8} value={p.height} onChange={(e) => setParams({ height: num(e.target.value, p.height) })} />
          </label>
          <label className="field">
            <span>Steps</span>
            <input type="number" min={1} max={500} value={p.steps} onChange={(e) => setParams({ steps: num(e.target.value, p.steps) })} />
          </label>
          {!flux && (
            <label className="field">
              <span>CFG Scale</span>
              <input type="number" min={1} max={200} step={0.5} value={p.cfgScale} onChange={(e) => setParams({ cfgScale: num(e.target.value, p.cfgScale) })} />
            </label>
          )}
          {flux && !schnell && (
            <label className="field">
              <span>Guidance</span>
              <input type="number" min={1} max={20} step={0.1} value={p.guidance} onChange={(e) => setParams({ guidance: num(e.target.value, p.guidance) })} />
            </label>
          )}
        </div>
        <label className="field">
          <span>Scheduler</span>
          <select value={flux ? fluxScheduler(p.scheduler) : p.scheduler} onChange={(e) => setParams({ scheduler: e.target.value })}>
            {(flux ? FLUX_SCHEDULERS : SCHEDULERS).map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
        </label>
        <div className="seed-row">
          <label className="field">
            <span>Seed</span>
            <input
              type="number"
              min={0}
              max={MAX_SEED}
              value={p.seed}
              disabled={p.randomSeed}
              onChange={(e) => setParams({ seed: Math.max(0, Math.min(MAX_SEED, Math.floor(num(e.target.value, p.seed)))) })}
            />
          </label>
          <label className="check">
            <input type="checkbox" checked={p.randomSeed} onChange={(e) => setParams({ randomSeed: e.target.checked })} />
            <span>Random Seed</span>
          </label>
          <button type="button" className="btn small" aria-label="Shuffle seed" onClick={() => setParams({ seed: randomSeed(), randomSeed: false })}>
            ⟳
          </button>
        </div>
        <div className="grid2">
          <label className="field">
            <span>Images</span>
            <input type="number" min={1} max={100} value={p.iterations} onChange={(e) => setParams({ iterations: Math.max(1, num(e.target.value, 1)) })} />
          </label>
          {!flux && (
            <label className="field">
              <span>CLIP Skip</span>
              <input type="number" min={0} max={12} value={p.clipSkip} onChange={(e) => setParams({ clipSkip: Math.max(0, num(e.target.value, 0)) })} />
            </label>
          )}
        </div>
        {!flux && (
          <div className="grid2">
            <label className="check">
              <input type="checkbox" checked={p.seamlessX} onChange={(e) => setParams({ seamlessX: e.target.checked })} />
              <span>Seamless X</span>
            </label>
            <label className="check">
              <input type="checkbox" checked={p.seamlessY} onChange={(e) => setParams({ seamlessY: e.target.checked })} />
              <span>Seamless Y</span>
            </label>
          </div>
        )}
        <label className="field">
          <span>Board</span>
          <select data-testid="generate-board" value={boardOk ? p.boardId : ''} onChange={(e) => setParams({ boardId: e.target.value })}>
            {!boardOk && <option value="">(choose a board)</option>}
            <option value="none">Uncategorized</option>
            {writableBoards.map((b) => (
              <option key={b.board_id} value={b.board_id}>
                {b.board_name}
                {b.board_visibility !== 'private' ? ` (${VIS_LABEL[b.board_visibility]})` : ''}
              </option>
            ))}
          </select>
        </label>
        <LoraPicker models={allModels} />
        {!flux && (
          <>
            <EmbeddingPicker models={allModels} />
            <ControlAdapters models={allModels} />
          </>
        )}
        {p.initImage && (
          <div className="init-image card" data-testid="init-image">
            <div className="row">
              <img src={mediaUrl(`api/v1/images/i/${p.initImage.image_name}/thumbnail`)} alt="Initial image" />
              <div className="grow">
                <strong>Image to image</strong>
                <label className="field">
                  <span>Denoising Strength</span>
                  <input
                    type="number"
                    min={0}
                    max={1}
                    step={0.05}
                    value={p.strength}
                    onChange={(e) => setParams({ strength: Math.max(0, Math.min(1, num(e.target.value, p.strength))) })}
                  />
                </label>
              </div>
            </div>
            <button type="button" className="btn small" onClick={() => setParams({ initImage: null })}>
              Clear Initial Image
            </button>
          </div>
        )}
      </form>
      <section className="preview panel" aria-label="Preview">
        <ProgressView />
      </section>
      <RecentImages />
    </div>
  );
}

function ProgressView() {
  const { progress, lastImage } = useApp();
  if (progress) {
    const pct = progress.percentage != null ? Math.round(progress.percentage * 100) : null;
    return (
      <div className="progress-view" data-testid="progress">
        {progress.image ? (
          <img className="preview-img" src={progress.image.dataURL} alt="Progress preview" data-testid="progress-image" />
        ) : (
          <div className="preview-placeholder" />
        )}
        <div className="progressbar" role="progressbar" aria-label="Generation progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct ?? undefined}>
          <div style={{ width: `${pct ?? 0}%` }} />
        </div>
        <p className="muted">
          {progress.message}
          {pct != null && ` ${pct}%`}
        </p>
      </div>
    );
  }
  if (lastImage) {
    return (
      <div className="progress-view">
        <img className="preview-img" src={mediaUrl(`api/v1/images/i/${lastImage}/full`)} alt="Latest result" data-testid="latest-image" />
      </div>
    );
  }
  return (
    <div className="progress-view empty">
      <p className="muted">Write a prompt and press Invoke. The result lands in the selected board.</p>
    </div>
  );
}

function RecentImages() {
  const app = useApp();
  const board = app.params.boardId || 'none';
  const [images, setImages] = useState<ImageDTO[]>([]);
  useEffect(() => {
    let alive = true;
    api<Paged<ImageDTO>>('/api/v1/images/', {
      query: { board_id: board, limit: 12, offset: 0, categories: ['general'], is_intermediate: false, starred_first: false, order_dir: 'DESC' },
    })
      .then((r) => alive && setImages(r.items))
      .catch(() => alive && setImages([]));
    return () => {
      alive = false;
    };
  }, [board, app.galleryVersion]);
  return (
    <aside className="recent panel" aria-label="Recent images">
      <h2 className="panel-title">Board images</h2>
      <ul className="thumbs" data-testid="recent-images">
        {images.map((im) => (
          <li key={im.image_name} data-testid="recent-image">
            <img src={mediaUrl(im.thumbnail_url)} alt={im.image_name} loading="lazy" />
          </li>
        ))}
      </ul>
    </aside>
  );
}
