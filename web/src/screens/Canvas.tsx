// The canvas screen: layers, tools, the generation box, generation from the box's content, the staging area,
// filters, reference images. The document model and graph builders live in ../canvas (docs/canvas.md).
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { api, errorText } from '../lib/api';
import { MAX_SEED, randomSeed, SCHEDULERS } from '../lib/graph';
import { subscribe } from '../lib/socket';
import { generationBoardAllowed, useApp } from '../lib/store';
import type { ModelConfig } from '../lib/types';
import { CanvasStage, type Tool } from '../canvas/CanvasStage';
import { buildCanvasBatch, buildCanvasGraph, CANVAS_OUTPUT, type ControlInput, type ModelIdentifier, type ReferenceInput, type RegionInput } from '../canvas/graphs';
import { generationMode, type GenerationMode } from '../canvas/mode';
import { takeInbox, uploadPNG } from '../canvas/persist';
import { clearImageCache, composite, layersBounds, pixels, rasterizeLayer, toPNG } from '../canvas/render';
import { useCanvasDoc } from '../canvas/useDoc';
import { isTransformed, newId, newLayer, snap8, type CanvasDoc, type CanvasObject, type Layer, type LayerKind, type Rect, type ReferenceImage } from '../canvas/types';
import '../canvas/canvas.css';

const TOOLS: { tool: Tool; label: string; key: string }[] = [
  { tool: 'brush', label: 'Brush', key: 'b' },
  { tool: 'eraser', label: 'Eraser', key: 'e' },
  { tool: 'rect', label: 'Rectangle', key: 'u' },
  { tool: 'move', label: 'Move', key: 'v' },
  { tool: 'transform', label: 'Transform', key: 't' },
  { tool: 'bbox', label: 'Bounding Box', key: 'c' },
  { tool: 'view', label: 'Pan', key: 'h' },
  { tool: 'picker', label: 'Color Picker', key: 'i' },
];

type FilterType = 'canny_edge_detection' | 'content_shuffle' | 'color_map' | 'img_blur';
const FILTERS: { type: FilterType; label: string }[] = [
  { type: 'canny_edge_detection', label: 'Canny Edges' },
  { type: 'content_shuffle', label: 'Content Shuffle' },
  { type: 'color_map', label: 'Color Map' },
  { type: 'img_blur', label: 'Blur' },
];

function ident(m: ModelConfig): ModelIdentifier {
  return { key: m.key, hash: m.hash, name: m.name, base: m.base, type: m.type };
}

function mapLayer(d: CanvasDoc, id: string, f: (l: Layer) => Layer): CanvasDoc {
  return { ...d, layers: d.layers.map((l) => (l.id === id ? f(l) : l)) };
}

/** The account whose images the image cache holds. */
let cacheUser: string | undefined;

/** Timings of the last generation's uploads, for the e2e suite's report (no assertions depend on them). */
const metrics = { lastCompositeUploadMs: 0, lastCompositeSize: '' };
(globalThis as unknown as { __invokegoCanvasMetrics?: typeof metrics }).__invokegoCanvasMetrics = metrics;

/** Merging needs a layer of the same kind below, both without scale or rotation. */
function canMergeDown(d: CanvasDoc, id: string): boolean {
  const i = d.layers.findIndex((l) => l.id === id);
  const up = d.layers[i];
  const down = d.layers[i + 1];
  return !!up && !!down && up.kind === down.kind && !isTransformed(up) && !isTransformed(down);
}

export function CanvasScreen() {
  const app = useApp();
  const d = useCanvasDoc();
  const { doc, commit, patch } = d;
  const [tool, setTool] = useState<Tool>('brush');
  const [brushSize, setBrushSize] = useState(32);
  const [color, setColor] = useState('#3a7bd5');
  const [busy, setBusy] = useState('');
  const [error, setError] = useState('');
  const [lastMode, setLastMode] = useState<GenerationMode | null>(null);
  const [stageIndex, setStageIndex] = useState(0);
  const [extraModels, setExtraModels] = useState<ModelConfig[]>([]);
  const [filter, setFilter] = useState<FilterType>('canny_edge_detection');
  const [filterPreview, setFilterPreview] = useState<{ image_name: string; rect: Rect; layerId: string } | null>(null);
  // Filter runs in flight (generation batches are in the document's pending list, so a reload keeps them).
  const filterBatches = useRef(new Map<string, { rect: Rect; layerId: string }>());
  // Canvas results whose batch is not known yet: the socket event can overtake the enqueue response.
  // Batches enqueued in this session, known at once (the document's pending list follows a render later).
  const enqueued = useRef(new Map<string, Rect>());
  const early = useRef(new Map<string, { image_name: string; width: number; height: number }[]>());
  const docRef = useRef(doc);
  docRef.current = doc;

  const selected = doc.layers.find((l) => l.id === doc.selectedLayerId) ?? null;
  const model = app.params.model;
  const boardOk = generationBoardAllowed(app.user, app.boards, app.params.boardId);

  // Images are cached per account (the screen mounts again after another account signs in).
  const userId = app.user?.user_id;
  if (cacheUser !== userId) {
    cacheUser = userId;
    clearImageCache();
  }

  useEffect(() => {
    Promise.all(
      ['controlnet', 't2i_adapter', 'ip_adapter'].map((t) =>
        api<{ models: ModelConfig[] }>('/api/v2/models/', { query: { model_type: t } }).then((r) => r.models, () => [] as ModelConfig[]),
      ),
    ).then((lists) => setExtraModels(lists.flat()));
  }, []);

  // "Send to canvas" from the gallery: a new raster layer holding the image, the box fitted to it.
  useEffect(() => {
    if (!d.loaded) return;
    const img = takeInbox();
    if (!img) return;
    commit((x) => {
      const l = newLayer('raster', x.layers);
      l.objects = [{ type: 'image', id: newId('image'), image_name: img.image_name, x: x.bbox.x, y: x.bbox.y, width: img.width, height: img.height }];
      return { ...x, layers: [l, ...x.layers], selectedLayerId: l.id, bbox: { ...x.bbox, width: snap8(img.width), height: snap8(img.height) } };
    });
  }, [d.loaded, commit]);

  // Results of this canvas's batches: generations go to the staging area, filter runs to the preview.
  useEffect(() => {
    const offComplete = subscribe('invocation_complete', (ev) => {
      const img = ev?.result?.image;
      if (!img?.image_name) return;
      const known = enqueued.current.get(ev?.batch_id);
      const gen = docRef.current.pending?.find((b) => b.batch_id === ev?.batch_id) ?? (known ? { batch_id: ev.batch_id, rect: known } : undefined);
      const f = filterBatches.current.get(ev?.batch_id);
      const ours = (ev.origin === 'canvas' && ev.invocation_source_id === CANVAS_OUTPUT) || (ev.origin === 'canvas_filter' && ev.invocation_source_id === 'filter');
      if (!gen && !f && ours) {
        const list = early.current.get(ev.batch_id) ?? [];
        list.push({ image_name: img.image_name, width: img.width, height: img.height });
        early.current.set(ev.batch_id, list);
        if (early.current.size > 32) early.current.delete(early.current.keys().next().value!);
      }
      if (gen && ev.invocation_source_id === CANVAS_OUTPUT) {
        const staged = { image_name: img.image_name, width: img.width, height: img.height, rect: gen.rect };
        patch((x) => (x.staging.some((y) => y.image_name === staged.image_name) ? x : { ...x, staging: [...x.staging, staged] }));
      }
      if (f && ev.invocation_source_id === 'filter') setFilterPreview({ image_name: img.image_name, rect: f.rect, layerId: f.layerId });
    });
    const offStatus = subscribe('queue_item_status_changed', (ev) => {
      if (!['completed', 'failed', 'canceled'].includes(ev?.status)) return;
      if (docRef.current.pending?.some((b) => b.batch_id === ev.batch_id)) {
        // A batch leaves the list when its last item has finished.
        patch((x) => ({
          ...x,
          pending: (x.pending ?? [])
            .map((b) => (b.batch_id === ev.batch_id ? { ...b, remaining: (b.remaining ?? 1) - 1 } : b))
            .filter((b) => (b.remaining ?? 1) > 0),
        }));
      }
    });
    return () => {
      offComplete();
      offStatus();
    };
  }, [patch]);

  useEffect(() => {
    if (stageIndex >= doc.staging.length) setStageIndex(Math.max(0, doc.staging.length - 1));
  }, [doc.staging.length, stageIndex]);

  // Keyboard shortcuts (not while typing).
  useEffect(() => {
    const f = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT')) return;
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'z') {
        e.preventDefault();
        if (e.shiftKey) d.redo();
        else d.undo();
        return;
      }
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'y') {
        e.preventDefault();
        d.redo();
        return;
      }
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const hit = TOOLS.find((x) => x.key === e.key.toLowerCase());
      if (hit) setTool(hit.tool);
      if (e.key === '[') setBrushSize((s) => Math.max(1, Math.round(s / 1.25)));
      if (e.key === ']') setBrushSize((s) => Math.min(1024, Math.round(s * 1.25)));
    };
    window.addEventListener('keydown', f);
    return () => window.removeEventListener('keydown', f);
  }, [d]);

  const addObject = useCallback(
    (layerId: string, obj: CanvasObject) => commit((x) => mapLayer(x, layerId, (l) => ({ ...l, objects: [...l.objects, obj] }))),
    [commit],
  );
  const moveLayer = useCallback((layerId: string, dx: number, dy: number) => commit((x) => mapLayer(x, layerId, (l) => ({ ...l, x: l.x + dx, y: l.y + dy }))), [commit]);
  const transformLayer = useCallback(
    (layerId: string, t: { x: number; y: number; scaleX: number; scaleY: number; rotation: number }) => commit((x) => mapLayer(x, layerId, (l) => ({ ...l, ...t }))),
    [commit],
  );
  const setBbox = useCallback((r: Rect) => commit((x) => ({ ...x, bbox: { x: Math.round(r.x), y: Math.round(r.y), width: snap8(r.width), height: snap8(r.height) } })), [commit]);
  const setView = useCallback((v: CanvasDoc['view']) => patch((x) => ({ ...x, view: v })), [patch]);

  const addLayer = (kind: LayerKind) =>
    commit((x) => {
      const l = newLayer(kind, x.layers);
      return { ...x, layers: [l, ...x.layers], selectedLayerId: l.id };
    });
  const updateLayer = (id: string, f: (l: Layer) => Layer) => commit((x) => mapLayer(x, id, f));
  const moveOrder = (id: string, dir: -1 | 1) =>
    commit((x) => {
      const i = x.layers.findIndex((l) => l.id === id);
      const j = i + dir;
      if (i < 0 || j < 0 || j >= x.layers.length) return x;
      const layers = [...x.layers];
      [layers[i], layers[j]] = [layers[j], layers[i]];
      return { ...x, layers };
    });
  const deleteLayer = (id: string) =>
    commit((x) => {
      const layers = x.layers.filter((l) => l.id !== id);
      return { ...x, layers, selectedLayerId: x.selectedLayerId === id ? (layers[0]?.id ?? null) : x.selectedLayerId };
    });
  const duplicateLayer = (id: string) =>
    commit((x) => {
      const i = x.layers.findIndex((l) => l.id === id);
      const src = x.layers[i];
      const copy: Layer = { ...src, id: newId(src.kind), name: `${src.name} copy`, objects: src.objects.map((o) => ({ ...o, id: newId(o.type) })) };
      const layers = [...x.layers];
      layers.splice(i, 0, copy);
      return { ...x, layers, selectedLayerId: copy.id };
    });
  /** Merges a layer into the one below it (same kind): its objects move over, offset into the lower layer's frame. */
  const mergeDown = (id: string) =>
    commit((x) => {
      const i = x.layers.findIndex((l) => l.id === id);
      const up = x.layers[i];
      const down = x.layers[i + 1];
      if (!canMergeDown(x, id)) return x;
      const dx = up.x - down.x;
      const dy = up.y - down.y;
      const moved = up.objects.map((o): CanvasObject => (o.type === 'line' ? { ...o, points: o.points.map((v, k) => v + (k % 2 ? dy : dx)) } : { ...o, x: o.x + dx, y: o.y + dy }));
      const layers = x.layers.filter((l) => l.id !== id).map((l) => (l.id === down.id ? { ...l, objects: [...l.objects, ...moved] } : l));
      return { ...x, layers, selectedLayerId: down.id };
    });

  const setSettings = (s: Partial<CanvasDoc['settings']>) => patch((x) => ({ ...x, settings: { ...x.settings, ...s } }));

  const fitToLayers = () => {
    const b = layersBounds(doc, ['raster', 'control']);
    if (b) setBbox({ x: b.x, y: b.y, width: snap8(b.width), height: snap8(b.height) });
  };

  const setBboxField = (k: keyof Rect, v: number) => {
    if (!Number.isFinite(v)) return;
    const b = { ...doc.bbox, [k]: v };
    if (doc.aspectLock && (k === 'width' || k === 'height')) {
      const ratio = doc.bbox.width / doc.bbox.height;
      if (k === 'width') b.height = snap8(v / ratio);
      else b.width = snap8(v * ratio);
    }
    setBbox(b);
  };

  // Generation.
  // The reference images that name an installed IP-Adapter, as the graph builder takes them.
  const referenceInputs = (refs: ReferenceImage[]): ReferenceInput[] =>
    refs.flatMap((r) => {
      const m = extraModels.find((mm) => mm.key === r.modelKey);
      return m ? [{ id: r.id, image: r.image_name, model: ident(m), weight: r.weight, beginStepPct: r.beginStepPct, endStepPct: r.endStepPct }] : [];
    });
  const invoke = async () => {
    setError('');
    if (!model) {
      setError('Select a model first');
      return;
    }
    if (!boardOk) {
      setError('You cannot generate into this board');
      return;
    }
    const x = docRef.current;
    const rect = { ...x.bbox };
    setBusy('Preparing…');
    try {
      const raster = await composite(x, rect, ['raster'], { useOpacity: true });
      const maskC = await composite(x, rect, ['inpaint_mask'], { useOpacity: false });
      const rpx = pixels(raster);
      const mpx = pixels(maskC);
      const mode = generationMode(rpx, mpx);
      setLastMode(mode);
      let initialImage: string | undefined;
      let maskImage: string | undefined;
      if (mode !== 'txt2img') {
        const t0 = performance.now();
        const blob = await toPNG(raster);
        initialImage = (await uploadPNG(blob, { intermediate: true })).image_name;
        metrics.lastCompositeUploadMs = performance.now() - t0;
        metrics.lastCompositeSize = `${rect.width}x${rect.height}`;
      }
      if (mode === 'inpaint' || mode === 'outpaint') {
        maskImage = (await uploadPNG(await toPNG(maskC), { intermediate: true, category: 'mask' })).image_name;
      }
      const regions: RegionInput[] = [];
      for (const l of x.layers) {
        if (l.kind !== 'regional_guidance' || !l.visible || !l.objects.length) continue;
        const refs = referenceInputs(l.referenceImages ?? []);
        if (!(l.positivePrompt || l.negativePrompt || refs.length)) continue;
        const c = await rasterizeLayer(l, rect, '#000000');
        const up = await uploadPNG(await toPNG(c), { intermediate: true, category: 'mask' });
        regions.push({ id: l.id, maskImage: up.image_name, positivePrompt: l.positivePrompt ?? '', negativePrompt: l.negativePrompt ?? '', references: refs });
      }
      const controls: ControlInput[] = [];
      for (const l of x.layers) {
        if (l.kind !== 'control' || !l.visible || !l.control?.modelKey) continue;
        const cm = extraModels.find((m) => m.key === l.control!.modelKey);
        if (!cm) continue;
        const c = await composite({ ...x, layers: [l] }, rect, ['control'], { useOpacity: false, background: '#000000' });
        const up = await uploadPNG(await toPNG(c), { intermediate: true, category: 'control' });
        controls.push({
          id: l.id,
          type: cm.type === 't2i_adapter' ? 't2i_adapter' : 'controlnet',
          image: up.image_name,
          model: ident(cm),
          weight: l.control.weight,
          beginStepPct: l.control.beginStepPct,
          endStepPct: l.control.endStepPct,
          controlMode: l.control.controlMode,
        });
      }
      const references = referenceInputs(x.referenceImages);
      const s = x.settings;
      const n = Math.min(16, Math.max(1, Math.floor(s.iterations ?? 1)));
      const seeds = Array.from({ length: n }, (_, i) => (s.randomSeed ? randomSeed() : (s.seed + i) % (MAX_SEED + 1)));
      const seed = seeds[0];
      const graph = buildCanvasGraph(
        {
          mode,
          model: ident(model),
          positivePrompt: s.positivePrompt,
          negativePrompt: s.negativePrompt,
          width: rect.width,
          height: rect.height,
          steps: s.steps,
          cfgScale: s.cfgScale,
          scheduler: s.scheduler,
          seed,
          clipSkip: app.params.clipSkip,
          strength: s.strength,
          initialImage,
          maskImage,
          infillMethod: s.infillMethod,
          maskBlur: s.maskBlur,
          coherenceMode: s.coherenceMode,
          coherenceEdgeSize: s.coherenceEdgeSize,
          coherenceMinDenoise: s.coherenceMinDenoise,
          regions,
          controls,
          references,
          sendToCanvas: !s.sendToGallery,
          boardId: s.sendToGallery && app.params.boardId !== 'none' ? app.params.boardId : null,
        },
        newId('canvas_graph'),
      );
      setBusy('Enqueuing…');
      const res = await api<{ batch: { batch_id: string } }>('/api/v1/queue/default/enqueue_batch', { json: buildCanvasBatch(graph, seeds, !s.sendToGallery) });
      if (s.sendToGallery) {
        app.toast(`Enqueued (${mode}), to the gallery`, 'success');
        return;
      }
      enqueued.current.set(res.batch.batch_id, rect);
      const arrived = (early.current.get(res.batch.batch_id) ?? []).map((img) => ({ ...img, rect }));
      early.current.delete(res.batch.batch_id);
      patch((y) => ({ ...y, pending: [...(y.pending ?? []), { batch_id: res.batch.batch_id, rect, remaining: seeds.length }].slice(-50), staging: [...y.staging, ...arrived] }));
      app.toast(`Enqueued (${mode})`, 'success');
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy('');
    }
  };

  // Staging area.
  const staged = doc.staging[stageIndex] ?? null;
  const dropStaged = (i: number) => patch((x) => ({ ...x, staging: x.staging.filter((_, k) => k !== i) }));
  const accept = () => {
    if (!staged) return;
    commit((x) => {
      const l = newLayer('raster', x.layers);
      l.objects = [{ type: 'image', id: newId('image'), image_name: staged.image_name, x: staged.rect.x, y: staged.rect.y, width: staged.rect.width, height: staged.rect.height }];
      return { ...x, layers: [l, ...x.layers], selectedLayerId: l.id, staging: [] };
    });
  };
  const saveStaged = async () => {
    if (!staged) return;
    try {
      await api(`/api/v1/images/i/${encodeURIComponent(staged.image_name)}`, { method: 'PATCH', json: { is_intermediate: false } });
      if (app.params.boardId && app.params.boardId !== 'none') {
        await api('/api/v1/board_images/', { method: 'POST', json: { board_id: app.params.boardId, image_name: staged.image_name } });
      }
      app.bumpGallery();
      app.toast('Saved to the gallery', 'success');
    } catch (e) {
      app.toast(errorText(e), 'error');
    }
  };

  // Filters: the selected layer, rasterised in the box, through a processor node; the result is previewed over
  // the canvas and applied as a new raster layer.
  const runFilter = async () => {
    if (!selected) return;
    setError('');
    setBusy('Filtering…');
    try {
      const rect = { ...doc.bbox };
      const c = await rasterizeLayer(selected, rect, null);
      const up = await uploadPNG(await toPNG(c), { intermediate: true });
      const params: Record<FilterType, Record<string, unknown>> = {
        canny_edge_detection: { low_threshold: 100, high_threshold: 200 },
        content_shuffle: { scale_factor: 256 },
        color_map: { tile_size: 64 },
        img_blur: { radius: 8, blur_type: 'gaussian' },
      };
      const graph = {
        id: newId('canvas_filter'),
        nodes: { filter: { id: 'filter', type: filter, image: { image_name: up.image_name }, is_intermediate: true, use_cache: false, ...params[filter] } },
        edges: [],
      };
      const res = await api<{ batch: { batch_id: string } }>('/api/v1/queue/default/enqueue_batch', {
        json: { prepend: true, batch: { origin: 'canvas_filter', destination: 'canvas', graph, runs: 1 } },
      });
      filterBatches.current.set(res.batch.batch_id, { rect, layerId: selected.id });
      const done = early.current.get(res.batch.batch_id)?.[0];
      early.current.delete(res.batch.batch_id);
      if (done) setFilterPreview({ image_name: done.image_name, rect, layerId: selected.id });
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy('');
    }
  };
  const applyFilter = () => {
    if (!filterPreview) return;
    const fp = filterPreview;
    commit((x) => {
      const l = newLayer('raster', x.layers);
      l.name = `${FILTERS.find((f) => f.type === filter)?.label ?? 'Filtered'} layer`;
      l.objects = [{ type: 'image', id: newId('image'), image_name: fp.image_name, x: fp.rect.x, y: fp.rect.y, width: fp.rect.width, height: fp.rect.height }];
      const i = x.layers.findIndex((k) => k.id === fp.layerId);
      const layers = [...x.layers];
      layers.splice(Math.max(0, i), 0, l);
      return { ...x, layers, selectedLayerId: l.id };
    });
    setFilterPreview(null);
  };

  // Save the box's composite to the gallery; export all raster layers as one PNG.
  const saveToGallery = async () => {
    try {
      const c = await composite(doc, doc.bbox, ['raster'], { useOpacity: true });
      await uploadPNG(await toPNG(c), { intermediate: false, boardId: app.params.boardId, category: 'user' });
      app.bumpGallery();
      app.refreshBoards().catch(() => undefined);
      app.toast('Canvas saved to the gallery', 'success');
    } catch (e) {
      app.toast(errorText(e), 'error');
    }
  };
  const exportMerged = async () => {
    const b = layersBounds(doc, ['raster']);
    if (!b) {
      app.toast('Nothing to export', 'error');
      return;
    }
    const c = await composite(doc, b, ['raster'], { useOpacity: true });
    const url = URL.createObjectURL(await toPNG(c));
    const a = document.createElement('a');
    a.href = url;
    a.download = 'canvas.png';
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  };

  // layerId set: a regional guidance layer's own reference image (an IP-Adapter limited to the region).
  const addReference = async (files: FileList | null, layerId?: string) => {
    const f = files?.[0];
    if (!f) return;
    try {
      const up = await uploadPNG(f, { intermediate: true, category: 'user' });
      const ip = extraModels.find((m) => m.type === 'ip_adapter' && m.base === model?.base);
      const ref: ReferenceImage = { id: newId('ref'), image_name: up.image_name, modelKey: ip?.key ?? null, weight: 1, beginStepPct: 0, endStepPct: 1 };
      patch((x) =>
        layerId ? mapLayer(x, layerId, (l) => ({ ...l, referenceImages: [...(l.referenceImages ?? []), ref] })) : { ...x, referenceImages: [...x.referenceImages, ref] },
      );
    } catch (e) {
      app.toast(errorText(e), 'error');
    }
  };

  // The rows of a list of reference images (the global ones or, with region set, a region's); change replaces
  // the list.
  const referenceRows = (refs: ReferenceImage[], change: (refs: ReferenceImage[]) => void, region = false) =>
    refs.map((r) => (
      <div key={r.id} className="row wrap ref-row" data-testid={region ? 'region-reference-image' : 'reference-image'}>
        <img src={`/api/v1/images/i/${encodeURIComponent(r.image_name)}/thumbnail`} alt="Reference" className="ref-thumb" />
        <select aria-label={region ? 'Region IP-Adapter model' : 'IP-Adapter model'} value={r.modelKey ?? ''} onChange={(e) => change(refs.map((y) => (y.id === r.id ? { ...y, modelKey: e.target.value || null } : y)))}>
          <option value="">None</option>
          {ipModels.map((m) => (
            <option key={m.key} value={m.key}>
              {m.name}
            </option>
          ))}
        </select>
        <input
          type="number"
          aria-label={region ? 'Region reference weight' : 'Reference weight'}
          min={0}
          max={2}
          step={0.05}
          value={r.weight}
          style={{ width: 64 }}
          onChange={(e) => change(refs.map((y) => (y.id === r.id ? { ...y, weight: num(e.target.value, 1) } : y)))}
        />
        <button
          type="button"
          className="icon-btn"
          aria-label={region ? 'Remove region reference image' : 'Remove reference image'}
          onClick={() => change(refs.filter((y) => y.id !== r.id))}
        >
          ×
        </button>
      </div>
    ));

  const overlay = useMemo(() => {
    if (filterPreview) return { image_name: filterPreview.image_name, rect: filterPreview.rect, opacity: 1 };
    if (staged) return { image_name: staged.image_name, rect: staged.rect, opacity: 1 };
    return null;
  }, [filterPreview, staged]);

  if (!d.loaded) return <p className="muted pad">Loading canvas…</p>;
  const s = doc.settings;
  const controlModels = extraModels.filter((m) => (m.type === 'controlnet' || m.type === 't2i_adapter') && (!model || m.base === model.base));
  const ipModels = extraModels.filter((m) => m.type === 'ip_adapter');
  const num = (v: string, fb: number) => (Number.isFinite(Number(v)) && v !== '' ? Number(v) : fb);

  return (
    <div className="canvas-screen" data-testid="canvas-screen">
      <div className="canvas-toolbar" role="toolbar" aria-label="Canvas tools">
        {TOOLS.map((t) => (
          <button
            key={t.tool}
            type="button"
            className={`btn small${tool === t.tool ? ' primary' : ''}`}
            aria-pressed={tool === t.tool}
            title={`${t.label} (${t.key.toUpperCase()})`}
            onClick={() => setTool(t.tool)}
          >
            {t.label}
          </button>
        ))}
        <label className="inline-field">
          <span>Size</span>
          <input type="number" min={1} max={1024} value={brushSize} onChange={(e) => setBrushSize(Math.max(1, Math.min(1024, num(e.target.value, brushSize))))} />
        </label>
        <label className="inline-field">
          <span>Color</span>
          <input type="color" value={color} onChange={(e) => setColor(e.target.value)} />
        </label>
        <button type="button" className="btn small" onClick={d.undo} disabled={!d.canUndo} title="Undo (Ctrl+Z)">
          Undo
        </button>
        <button type="button" className="btn small" onClick={d.redo} disabled={!d.canRedo} title="Redo (Ctrl+Shift+Z)">
          Redo
        </button>
        <button type="button" className="btn small" onClick={() => setView({ x: 40, y: 40, scale: 1 })}>
          Reset View
        </button>
        <span className="muted small" data-testid="canvas-zoom">
          {Math.round(doc.view.scale * 100)}%
        </span>
        <span className="muted small" data-testid="canvas-save-state">
          {d.saveError ? `Not saved: ${d.saveError}` : d.saving ? 'Saving…' : 'Saved'}
        </span>
      </div>
      <div className="canvas-body">
        <CanvasStage
          doc={doc}
          tool={tool}
          brushSize={brushSize}
          color={color}
          overlay={overlay}
          onObject={addObject}
          onMoveLayer={moveLayer}
          onTransformLayer={transformLayer}
          onBbox={setBbox}
          onView={setView}
          onPick={(c) => {
            setColor(c);
            setTool('brush');
          }}
        />
        <aside className="canvas-side panel" aria-label="Canvas settings">
          {staged && (
            <section className="canvas-section staging" aria-label="Staging area" data-testid="staging-area">
              <h3 className="section-title">
                Staging {stageIndex + 1} / {doc.staging.length}
              </h3>
              <div className="row wrap">
                <button type="button" className="btn small" disabled={stageIndex === 0} onClick={() => setStageIndex(stageIndex - 1)}>
                  Previous
                </button>
                <button type="button" className="btn small" disabled={stageIndex >= doc.staging.length - 1} onClick={() => setStageIndex(stageIndex + 1)}>
                  Next
                </button>
                <button type="button" className="btn small primary" onClick={accept}>
                  Accept
                </button>
                <button type="button" className="btn small" onClick={() => dropStaged(stageIndex)}>
                  Discard
                </button>
                <button type="button" className="btn small" onClick={() => patch((x) => ({ ...x, staging: [] }))}>
                  Discard All
                </button>
                <button type="button" className="btn small" onClick={saveStaged}>
                  Save to Gallery
                </button>
              </div>
            </section>
          )}
          <section className="canvas-section" aria-label="Generation">
            <div className="row">
              <button type="button" className="btn primary invoke" data-testid="canvas-invoke" disabled={!!busy || !model || !boardOk} onClick={invoke}>
                Invoke
              </button>
              <span className="muted small" data-testid="canvas-mode">
                {busy || (lastMode ? `Last: ${lastMode}` : '')}
              </span>
            </div>
            {app.progress && <progress className="progressbar" max={1} value={app.progress.percentage ?? undefined} aria-label="Progress" />}
            {error && (
              <p className="error" role="alert">
                {error}
              </p>
            )}
            <label className="field">
              <span>Prompt</span>
              <textarea rows={3} value={s.positivePrompt} onChange={(e) => setSettings({ positivePrompt: e.target.value })} />
            </label>
            <label className="field">
              <span>Negative Prompt</span>
              <textarea rows={2} value={s.negativePrompt} onChange={(e) => setSettings({ negativePrompt: e.target.value })} />
            </label>
            <label className="field">
              <span>Model</span>
              <select value={model?.key ?? ''} onChange={(e) => app.setParams({ model: app.models?.find((m) => m.key === e.target.value) ?? null })}>
                {(app.models ?? []).map((m) => (
                  <option key={m.key} value={m.key}>
                    {m.name} ({m.base})
                  </option>
                ))}
              </select>
            </label>
            <div className="grid2">
              <label className="field">
                <span>Steps</span>
                <input type="number" min={1} max={1000} value={s.steps} onChange={(e) => setSettings({ steps: num(e.target.value, s.steps) })} />
              </label>
              <label className="field">
                <span>CFG Scale</span>
                <input type="number" min={1} step={0.5} value={s.cfgScale} onChange={(e) => setSettings({ cfgScale: num(e.target.value, s.cfgScale) })} />
              </label>
              <label className="field">
                <span>Scheduler</span>
                <select value={s.scheduler} onChange={(e) => setSettings({ scheduler: e.target.value })}>
                  {SCHEDULERS.map((x) => (
                    <option key={x.value} value={x.value}>
                      {x.label}
                    </option>
                  ))}
                </select>
              </label>
              <label className="field">
                <span>Denoising Strength</span>
                <input type="number" min={0} max={1} step={0.05} value={s.strength} onChange={(e) => setSettings({ strength: Math.min(1, Math.max(0, num(e.target.value, s.strength))) })} />
              </label>
              <label className="field">
                <span>Seed</span>
                <input type="number" min={0} max={MAX_SEED} value={s.seed} disabled={s.randomSeed} onChange={(e) => setSettings({ seed: num(e.target.value, s.seed) })} />
              </label>
              <label className="check">
                <input type="checkbox" checked={s.randomSeed} onChange={(e) => setSettings({ randomSeed: e.target.checked })} />
                <span>Random Seed</span>
              </label>
              <label className="field">
                <span>Iterations</span>
                <input type="number" min={1} max={16} value={s.iterations ?? 1} onChange={(e) => setSettings({ iterations: Math.min(16, Math.max(1, num(e.target.value, 1))) })} />
              </label>
              <label className="check">
                <input type="checkbox" checked={!!s.sendToGallery} onChange={(e) => setSettings({ sendToGallery: e.target.checked })} />
                <span>Send to Gallery</span>
              </label>
              <label className="field">
                <span>Infill Method</span>
                <select value={s.infillMethod} onChange={(e) => setSettings({ infillMethod: e.target.value as CanvasDoc['settings']['infillMethod'] })}>
                  <option value="patchmatch">PatchMatch</option>
                  <option value="tile">Tile</option>
                  <option value="color">Color</option>
                  <option value="cv2">OpenCV (Telea)</option>
                </select>
              </label>
              <label className="field">
                <span>Mask Blur</span>
                <input type="number" min={0} max={256} value={s.maskBlur} onChange={(e) => setSettings({ maskBlur: num(e.target.value, s.maskBlur) })} />
              </label>
              <label className="field">
                <span>Coherence Edge Size</span>
                <input type="number" min={0} max={1024} value={s.coherenceEdgeSize} onChange={(e) => setSettings({ coherenceEdgeSize: num(e.target.value, s.coherenceEdgeSize) })} />
              </label>
              <label className="field">
                <span>Coherence Mode</span>
                <select value={s.coherenceMode} onChange={(e) => setSettings({ coherenceMode: e.target.value as CanvasDoc['settings']['coherenceMode'] })}>
                  <option>Gaussian Blur</option>
                  <option>Box Blur</option>
                  <option>Staged</option>
                </select>
              </label>
            </div>
          </section>
          <section className="canvas-section" aria-label="Bounding box">
            <h3 className="section-title">Bounding Box</h3>
            <div className="grid2">
              {(['x', 'y', 'width', 'height'] as const).map((k) => (
                <label className="field" key={k}>
                  <span>{k === 'x' ? 'Box X' : k === 'y' ? 'Box Y' : k === 'width' ? 'Box Width' : 'Box Height'}</span>
                  <input
                    type="number"
                    step={k === 'width' || k === 'height' ? 8 : 1}
                    min={k === 'width' || k === 'height' ? 8 : undefined}
                    value={doc.bbox[k]}
                    onChange={(e) => setBboxField(k, Number(e.target.value))}
                  />
                </label>
              ))}
            </div>
            <div className="row wrap">
              <label className="check">
                <input type="checkbox" checked={doc.aspectLock} onChange={(e) => commit((x) => ({ ...x, aspectLock: e.target.checked }))} />
                <span>Lock Aspect Ratio</span>
              </label>
              <button type="button" className="btn small" onClick={fitToLayers}>
                Fit to Layers
              </button>
            </div>
          </section>
          <section className="canvas-section" aria-label="Layers">
            <h3 className="section-title">Layers</h3>
            <div className="row wrap">
              <button type="button" className="btn small" onClick={() => addLayer('raster')}>
                Add Raster Layer
              </button>
              <button type="button" className="btn small" onClick={() => addLayer('inpaint_mask')}>
                Add Inpaint Mask
              </button>
              <button type="button" className="btn small" onClick={() => addLayer('regional_guidance')}>
                Add Regional Guidance
              </button>
              <button type="button" className="btn small" onClick={() => addLayer('control')}>
                Add Control Layer
              </button>
            </div>
            <ul className="layer-list" data-testid="layer-list">
              {doc.layers.map((l, i) => (
                <li key={l.id} className={`layer-item${l.id === doc.selectedLayerId ? ' selected' : ''}`} data-testid="layer-item" data-layer-kind={l.kind} data-layer-name={l.name}>
                  <button type="button" className="layer-name" aria-pressed={l.id === doc.selectedLayerId} onClick={() => patch((x) => ({ ...x, selectedLayerId: l.id }))}>
                    {l.name}
                  </button>
                  <button type="button" className="icon-btn" aria-label={`${l.visible ? 'Hide' : 'Show'} ${l.name}`} onClick={() => updateLayer(l.id, (y) => ({ ...y, visible: !y.visible }))}>
                    {l.visible ? '👁' : '–'}
                  </button>
                  <button type="button" className="icon-btn" aria-label={`${l.locked ? 'Unlock' : 'Lock'} ${l.name}`} onClick={() => updateLayer(l.id, (y) => ({ ...y, locked: !y.locked }))}>
                    {l.locked ? '🔒' : '🔓'}
                  </button>
                  <button type="button" className="icon-btn" aria-label={`Move ${l.name} up`} disabled={i === 0} onClick={() => moveOrder(l.id, -1)}>
                    ↑
                  </button>
                  <button type="button" className="icon-btn" aria-label={`Move ${l.name} down`} disabled={i === doc.layers.length - 1} onClick={() => moveOrder(l.id, 1)}>
                    ↓
                  </button>
                  <button type="button" className="icon-btn" aria-label={`Delete ${l.name}`} onClick={() => deleteLayer(l.id)}>
                    ×
                  </button>
                </li>
              ))}
            </ul>
            {selected && (
              <div className="layer-props" data-testid="layer-props">
                <label className="field">
                  <span>Layer Name</span>
                  <input value={selected.name} onChange={(e) => patch((x) => mapLayer(x, selected.id, (l) => ({ ...l, name: e.target.value })))} />
                </label>
                <label className="field">
                  <span>Opacity</span>
                  <input type="range" min={0} max={1} step={0.05} value={selected.opacity} onChange={(e) => updateLayer(selected.id, (l) => ({ ...l, opacity: Number(e.target.value) }))} />
                </label>
                <div className="row wrap">
                  <button type="button" className="btn small" onClick={() => duplicateLayer(selected.id)}>
                    Duplicate
                  </button>
                  <button type="button" className="btn small" disabled={!canMergeDown(doc, selected.id)} onClick={() => mergeDown(selected.id)}>
                    Merge Down
                  </button>
                  <button type="button" className="btn small" onClick={() => updateLayer(selected.id, (l) => ({ ...l, objects: [] }))}>
                    Clear
                  </button>
                </div>
                {selected.kind === 'regional_guidance' && (
                  <>
                    <label className="field">
                      <span>Region Prompt</span>
                      <textarea rows={2} value={selected.positivePrompt ?? ''} onChange={(e) => patch((x) => mapLayer(x, selected.id, (l) => ({ ...l, positivePrompt: e.target.value })))} />
                    </label>
                    <label className="field">
                      <span>Region Negative Prompt</span>
                      <textarea rows={2} value={selected.negativePrompt ?? ''} onChange={(e) => patch((x) => mapLayer(x, selected.id, (l) => ({ ...l, negativePrompt: e.target.value })))} />
                    </label>
                    <label className="btn small file-btn">
                      Add Region Reference Image
                      <input type="file" accept="image/*" aria-label="Region reference image file" onChange={(e) => addReference(e.target.files, selected.id)} />
                    </label>
                    {referenceRows(selected.referenceImages ?? [], (refs) => patch((x) => mapLayer(x, selected.id, (l) => ({ ...l, referenceImages: refs }))), true)}
                  </>
                )}
                {selected.kind === 'control' && selected.control && (
                  <>
                    <label className="field">
                      <span>Control Model</span>
                      <select
                        value={selected.control.modelKey ?? ''}
                        onChange={(e) => patch((x) => mapLayer(x, selected.id, (l) => ({ ...l, control: { ...l.control!, modelKey: e.target.value || null } })))}
                      >
                        <option value="">None</option>
                        {controlModels.map((m) => (
                          <option key={m.key} value={m.key}>
                            {m.name} ({m.type})
                          </option>
                        ))}
                      </select>
                    </label>
                    <div className="grid2">
                      <label className="field">
                        <span>Control Weight</span>
                        <input
                          type="number"
                          min={0}
                          max={2}
                          step={0.05}
                          value={selected.control.weight}
                          onChange={(e) => patch((x) => mapLayer(x, selected.id, (l) => ({ ...l, control: { ...l.control!, weight: num(e.target.value, 1) } })))}
                        />
                      </label>
                      <label className="field">
                        <span>Control Mode</span>
                        <select
                          value={selected.control.controlMode}
                          onChange={(e) =>
                            patch((x) => mapLayer(x, selected.id, (l) => ({ ...l, control: { ...l.control!, controlMode: e.target.value as NonNullable<Layer['control']>['controlMode'] } })))
                          }
                        >
                          <option value="balanced">Balanced</option>
                          <option value="more_prompt">Prompt</option>
                          <option value="more_control">Control</option>
                          <option value="unbalanced">Mega Control</option>
                        </select>
                      </label>
                      <label className="field">
                        <span>Begin Step %</span>
                        <input
                          type="number"
                          min={0}
                          max={100}
                          value={Math.round(selected.control.beginStepPct * 100)}
                          onChange={(e) =>
                            patch((x) => mapLayer(x, selected.id, (l) => ({ ...l, control: { ...l.control!, beginStepPct: Math.min(1, Math.max(0, num(e.target.value, 0) / 100)) } })))
                          }
                        />
                      </label>
                      <label className="field">
                        <span>End Step %</span>
                        <input
                          type="number"
                          min={0}
                          max={100}
                          value={Math.round(selected.control.endStepPct * 100)}
                          onChange={(e) =>
                            patch((x) => mapLayer(x, selected.id, (l) => ({ ...l, control: { ...l.control!, endStepPct: Math.min(1, Math.max(0, num(e.target.value, 100) / 100)) } })))
                          }
                        />
                      </label>
                    </div>
                  </>
                )}
                <div className="row wrap">
                  <label className="field">
                    <span>Filter</span>
                    <select value={filter} onChange={(e) => setFilter(e.target.value as FilterType)}>
                      {FILTERS.map((f) => (
                        <option key={f.type} value={f.type}>
                          {f.label}
                        </option>
                      ))}
                    </select>
                  </label>
                  <button type="button" className="btn small" disabled={!!busy} onClick={runFilter}>
                    Preview Filter
                  </button>
                  {filterPreview && (
                    <>
                      <button type="button" className="btn small primary" onClick={applyFilter}>
                        Apply Filter
                      </button>
                      <button type="button" className="btn small" onClick={() => setFilterPreview(null)}>
                        Cancel Filter
                      </button>
                    </>
                  )}
                </div>
              </div>
            )}
          </section>
          <section className="canvas-section" aria-label="Reference images">
            <h3 className="section-title">Reference Images</h3>
            <label className="btn small file-btn">
              Add Reference Image
              <input type="file" accept="image/*" aria-label="Reference image file" onChange={(e) => addReference(e.target.files)} />
            </label>
            {referenceRows(doc.referenceImages, (refs) => patch((x) => ({ ...x, referenceImages: refs })))}
          </section>
          <section className="canvas-section" aria-label="Canvas output">
            <div className="row wrap">
              <button type="button" className="btn small" onClick={saveToGallery}>
                Save Canvas to Gallery
              </button>
              <button type="button" className="btn small" onClick={exportMerged}>
                Export Merged Image
              </button>
            </div>
          </section>
        </aside>
      </div>
    </div>
  );
}

export default CanvasScreen;
