// The canvas document: what the user drew, as plain serialisable data (it is persisted per user through
// client_state, see docs/canvas.md). Layers hold vector objects (strokes, rectangles, placed images) in document
// coordinates; they are rasterised only when a composite is needed (generation, filters, export).

export type LayerKind = 'raster' | 'inpaint_mask' | 'regional_guidance' | 'control';

export interface LineObject {
  type: 'line';
  id: string;
  /** brush paints, eraser removes (destination-out). */
  tool: 'brush' | 'eraser';
  /** Flat x0,y0,x1,y1,… in layer coordinates. */
  points: number[];
  size: number;
  color: string;
  /** Pen pressure per point (0..1), when drawn with a pen: the width at a point is size × pressure. */
  pressure?: number[];
}

export interface RectObject {
  type: 'rect';
  id: string;
  x: number;
  y: number;
  width: number;
  height: number;
  color: string;
}

export interface ImageObject {
  type: 'image';
  id: string;
  image_name: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

export type CanvasObject = LineObject | RectObject | ImageObject;

export interface ControlSettings {
  /** Model key of the ControlNet / T2I-Adapter; null until one is chosen. */
  modelKey: string | null;
  weight: number;
  beginStepPct: number;
  endStepPct: number;
  controlMode: 'balanced' | 'more_prompt' | 'more_control' | 'unbalanced';
}

export interface Layer {
  id: string;
  kind: LayerKind;
  name: string;
  visible: boolean;
  opacity: number;
  locked: boolean;
  /** Offset of the layer (the move tool changes it). */
  x: number;
  y: number;
  /** Scale and rotation (degrees) about the layer's origin, from the transform tool; absent means 1, 1, 0. */
  scaleX?: number;
  scaleY?: number;
  rotation?: number;
  objects: CanvasObject[];
  /** Regional guidance: the region's own prompts and reference images (IP-Adapters limited to the region). */
  positivePrompt?: string;
  negativePrompt?: string;
  referenceImages?: ReferenceImage[];
  /** Control layers. */
  control?: ControlSettings;
}

export interface ReferenceImage {
  id: string;
  image_name: string;
  /** IP-Adapter model key. */
  modelKey: string | null;
  weight: number;
  beginStepPct: number;
  endStepPct: number;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export type InfillMethod = 'patchmatch' | 'tile' | 'color' | 'cv2';
export type CoherenceMode = 'Gaussian Blur' | 'Box Blur' | 'Staged';

export interface CanvasSettings {
  positivePrompt: string;
  negativePrompt: string;
  /** img2img / inpaint denoising strength, 0..1. */
  strength: number;
  infillMethod: InfillMethod;
  maskBlur: number;
  coherenceMode: CoherenceMode;
  coherenceEdgeSize: number;
  coherenceMinDenoise: number;
  steps: number;
  cfgScale: number;
  scheduler: string;
  seed: number;
  randomSeed: boolean;
  /** Results straight to the gallery (on the selected board) instead of the staging area. */
  sendToGallery?: boolean;
  /** Candidates per Invoke (consecutive seeds, or random ones). */
  iterations?: number;
}

export interface StagedImage {
  image_name: string;
  width: number;
  height: number;
  /** Where it goes when accepted: the box at generation time. */
  rect: Rect;
}

export interface CanvasDoc {
  version: 1;
  bbox: Rect;
  aspectLock: boolean;
  layers: Layer[];
  referenceImages: ReferenceImage[];
  selectedLayerId: string | null;
  settings: CanvasSettings;
  /** The view (zoom and pan) is part of the document so that a reload shows the same place. */
  view: { x: number; y: number; scale: number };
  staging: StagedImage[];
  /** Batches enqueued from the canvas whose results still go to the staging area (kept across a reload). */
  pending?: { batch_id: string; rect: Rect; remaining?: number }[];
}

export const defaultSettings: CanvasSettings = {
  positivePrompt: '',
  negativePrompt: '',
  strength: 0.7,
  infillMethod: 'patchmatch',
  maskBlur: 16,
  coherenceMode: 'Gaussian Blur',
  coherenceEdgeSize: 16,
  coherenceMinDenoise: 0,
  steps: 30,
  cfgScale: 7.5,
  scheduler: 'euler',
  seed: 0,
  randomSeed: true,
};

let counter = 0;
export function newId(prefix: string): string {
  counter++;
  const r = typeof crypto !== 'undefined' && 'randomUUID' in crypto ? crypto.randomUUID().slice(0, 8) : Math.random().toString(36).slice(2, 10);
  return `${prefix}_${r}${counter}`;
}

const KIND_NAMES: Record<LayerKind, string> = {
  raster: 'Raster Layer',
  inpaint_mask: 'Inpaint Mask',
  regional_guidance: 'Regional Guidance',
  control: 'Control Layer',
};

export function newLayer(kind: LayerKind, existing: Layer[]): Layer {
  const n = existing.filter((l) => l.kind === kind).length + 1;
  const l: Layer = {
    id: newId(kind),
    kind,
    name: `${KIND_NAMES[kind]} ${n}`,
    visible: true,
    opacity: kind === 'raster' || kind === 'control' ? 1 : 0.5,
    locked: false,
    x: 0,
    y: 0,
    objects: [],
  };
  if (kind === 'regional_guidance') {
    l.positivePrompt = '';
    l.negativePrompt = '';
  }
  if (kind === 'control') {
    l.control = { modelKey: null, weight: 1, beginStepPct: 0, endStepPct: 1, controlMode: 'balanced' };
  }
  return l;
}

export function emptyDoc(): CanvasDoc {
  const raster = newLayer('raster', []);
  const mask = newLayer('inpaint_mask', [raster]);
  return {
    version: 1,
    bbox: { x: 0, y: 0, width: 512, height: 512 },
    aspectLock: false,
    layers: [mask, raster],
    referenceImages: [],
    selectedLayerId: raster.id,
    settings: { ...defaultSettings },
    view: { x: 40, y: 40, scale: 1 },
    staging: [],
  };
}

/** Whether a layer is scaled or rotated. */
export function isTransformed(l: Layer): boolean {
  return (l.scaleX ?? 1) !== 1 || (l.scaleY ?? 1) !== 1 || (l.rotation ?? 0) !== 0;
}

/** Maps a point in a layer's own coordinates to the document (Konva's order: translate, rotate, scale). */
export function layerToDoc(l: Layer, x: number, y: number): { x: number; y: number } {
  const sx = x * (l.scaleX ?? 1);
  const sy = y * (l.scaleY ?? 1);
  const r = ((l.rotation ?? 0) * Math.PI) / 180;
  return { x: l.x + sx * Math.cos(r) - sy * Math.sin(r), y: l.y + sx * Math.sin(r) + sy * Math.cos(r) };
}

/** The inverse of layerToDoc. */
export function docToLayer(l: Layer, x: number, y: number): { x: number; y: number } {
  const dx = x - l.x;
  const dy = y - l.y;
  const r = (-(l.rotation ?? 0) * Math.PI) / 180;
  const rx = dx * Math.cos(r) - dy * Math.sin(r);
  const ry = dx * Math.sin(r) + dy * Math.cos(r);
  return { x: rx / (l.scaleX ?? 1), y: ry / (l.scaleY ?? 1) };
}

/** The colour a layer kind is shown in on screen (masks and regions are drawn in one flat colour). */
export function displayColor(l: Layer): string | null {
  if (l.kind === 'inpaint_mask') return '#e05a5a';
  if (l.kind === 'regional_guidance') {
    const palette = ['#4f8cff', '#3cbf7a', '#c58cff', '#ffb347', '#30c8c8'];
    let h = 0;
    for (const c of l.id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    return palette[h % palette.length];
  }
  return null;
}

/** Sizes snap to multiples of 8 (the latent grid), at least 8. */
export function snap8(v: number): number {
  return Math.max(8, Math.round(v / 8) * 8);
}

/** Checks that a parsed value looks like a CanvasDoc (persisted state may be from an older build or tampered with). */
export function isCanvasDoc(v: unknown): v is CanvasDoc {
  if (!v || typeof v !== 'object') return false;
  const d = v as Partial<CanvasDoc>;
  return (
    d.version === 1 &&
    !!d.bbox &&
    Array.isArray(d.layers) &&
    typeof d.bbox.width === 'number' &&
    !!d.settings &&
    !!d.view &&
    Array.isArray(d.referenceImages) &&
    Array.isArray(d.staging)
  );
}
