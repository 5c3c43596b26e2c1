// LoRAs, ControlNets / T2I-Adapters, IP-Adapters and control-image processors in the Generate graphs, wired the way
// InvokeAI's Generate tab wires them: LoRAs through lora_selector → collect → (sdxl_)lora_collection_loader between the
// model loader and its consumers; each adapter node collected into denoise_latents' control / t2i_adapter /
// ip_adapter inputs; core_metadata's loras, controlnets, t2iAdapters and ipAdapters as InvokeAI writes them.
import type { ModelConfig } from './types';
import type { GenParams, Graph, GraphNode } from './graph';

export interface ImageRef {
  image_name: string;
  width?: number;
  height?: number;
}

export interface LoraEntry {
  id: string;
  model: ModelConfig;
  weight: number;
  isEnabled: boolean;
}

export const CONTROL_MODES = ['balanced', 'more_prompt', 'more_control', 'unbalanced'] as const;
export type ControlMode = (typeof CONTROL_MODES)[number];
export const RESIZE_MODES = ['just_resize', 'crop_resize', 'fill_resize', 'just_resize_simple'] as const;
export type ResizeMode = (typeof RESIZE_MODES)[number];
export const IP_METHODS = ['full', 'style', 'composition'] as const;
export type IPMethod = (typeof IP_METHODS)[number];
export const CLIP_VISION_MODELS = ['ViT-H', 'ViT-G', 'ViT-L'] as const;
export type ClipVisionModel = (typeof CLIP_VISION_MODELS)[number];

/** The model-free processors a control image can go through before the adapter sees it. */
export const PROCESSORS = [
  { value: 'none', label: 'None' },
  { value: 'canny_edge_detection', label: 'Canny Edge Detection' },
  { value: 'content_shuffle', label: 'Content Shuffle' },
  { value: 'color_map', label: 'Color Map' },
  { value: 'img_blur', label: 'Blur' },
  { value: 'tile', label: 'Tile (resample)' },
] as const;
export type Processor = (typeof PROCESSORS)[number]['value'];

/** The processors' parameters (InvokeAI's node fields; tile's down-sampling rate is this UI's). */
export interface ProcessorSettings {
  low_threshold: number; // canny
  high_threshold: number;
  scale_factor: number; // content_shuffle
  tile_size: number; // color_map
  radius: number; // img_blur
  blur_type: 'gaussian' | 'box';
  down_sampling_rate: number; // tile
}

/** The node defaults of InvokeAI 6.12 (canny 100/200, shuffle 256, color map 64, blur 8 gaussian); tile halves. */
export const PROCESSOR_DEFAULTS: ProcessorSettings = {
  low_threshold: 100,
  high_threshold: 200,
  scale_factor: 256,
  tile_size: 64,
  radius: 8,
  blur_type: 'gaussian',
  down_sampling_rate: 2,
};

/** A ControlNet or T2I-Adapter layer; the model's type (controlnet / t2i_adapter) decides which node it becomes. */
export interface ControlEntry {
  id: string;
  model: ModelConfig | null;
  weight: number;
  beginStepPct: number; // 0..1
  endStepPct: number; // 0..1
  controlMode: ControlMode; // ControlNet only
  resizeMode: ResizeMode;
  image: ImageRef | null; // what the user chose
  processor: Processor;
  processorSettings?: Partial<ProcessorSettings>; // the processor's parameters; absent ones take PROCESSOR_DEFAULTS
  processedImage: ImageRef | null; // the processor's output; what the adapter receives when set
  isEnabled: boolean;
}

export interface IPAdapterEntry {
  id: string;
  model: ModelConfig | null;
  weight: number;
  beginStepPct: number;
  endStepPct: number;
  method: IPMethod;
  clipVisionModel: ClipVisionModel;
  image: ImageRef | null;
  isEnabled: boolean;
}

export function entryId(): string {
  return Math.random().toString(36).slice(2, 10);
}

/** The processor a control model's settings name (its default_settings.preprocessor), when it is one offered here. */
export function defaultProcessor(model: ModelConfig | null): Processor {
  const pre = (model?.default_settings as { preprocessor?: unknown } | null | undefined)?.preprocessor;
  return PROCESSORS.some((p) => p.value === pre) ? (pre as Processor) : 'canny_edge_detection';
}

export function newControl(model: ModelConfig | null): ControlEntry {
  return {
    id: entryId(),
    model,
    weight: 1,
    beginStepPct: 0,
    endStepPct: 1,
    controlMode: 'balanced',
    resizeMode: 'just_resize',
    image: null,
    processor: defaultProcessor(model),
    processedImage: null,
    isEnabled: true,
  };
}

export function newIPAdapter(model: ModelConfig | null): IPAdapterEntry {
  return { id: entryId(), model, weight: 1, beginStepPct: 0, endStepPct: 1, method: 'full', clipVisionModel: 'ViT-H', image: null, isEnabled: true };
}

function ident(m: ModelConfig) {
  return { key: m.key, hash: m.hash, name: m.name, base: m.base, type: m.type };
}

function imageField(im: ImageRef) {
  return { image_name: im.image_name };
}

type Edge = Graph['edges'][number];
const mkEdge = (s: string, sf: string, d: string, df: string): Edge => ({ source: { node_id: s, field: sf }, destination: { node_id: d, field: df } });

/** Drops the edges into node.field, in place (the caller keeps adding to the same array). */
function removeEdgesTo(g: Graph, node: string, field: string) {
  for (let i = g.edges.length - 1; i >= 0; i--) {
    const e = g.edges[i];
    if (e.destination.node_id === node && e.destination.field === field) g.edges.splice(i, 1);
  }
}

/** The LoRAs that apply to the current model: enabled and of its base. */
export function activeLoras(p: GenParams): LoraEntry[] {
  return p.loras.filter((l) => l.isEnabled && p.model && l.model.base === p.model.base);
}

/**
 * Puts the LoRAs between the model loader and the UNet / CLIP consumers (denoise_latents, the two prompts) and returns
 * core_metadata's loras. unetFrom is the node whose unet feeds denoise (the loader or seamless); clipFrom the node whose
 * clip feeds the prompts (clip_skip for SD-1/2, the loader for SDXL, which also passes clip2).
 */
export function addLoRAs(g: Graph, p: GenParams, kind: 'sd' | 'sdxl', unetFrom: string, clipFrom: string) {
  const loras = activeLoras(p);
  if (!loras.length) return [];
  const loader = 'lora_collection_loader';
  g.nodes.lora_collector = { id: 'lora_collector', type: 'collect', is_intermediate: true };
  g.nodes[loader] = { id: loader, type: kind === 'sdxl' ? 'sdxl_lora_collection_loader' : 'lora_collection_loader', is_intermediate: true };
  g.edges.push(mkEdge('lora_collector', 'collection', loader, 'loras'));
  g.edges.push(mkEdge(unetFrom, 'unet', loader, 'unet'));
  g.edges.push(mkEdge(clipFrom, 'clip', loader, 'clip'));
  if (kind === 'sdxl') g.edges.push(mkEdge(clipFrom, 'clip2', loader, 'clip2'));
  removeEdgesTo(g, 'denoise_latents', 'unet');
  g.edges.push(mkEdge(loader, 'unet', 'denoise_latents', 'unet'));
  for (const prompt of ['positive_prompt', 'negative_prompt']) {
    removeEdgesTo(g, prompt, 'clip');
    g.edges.push(mkEdge(loader, 'clip', prompt, 'clip'));
    if (kind === 'sdxl') {
      removeEdgesTo(g, prompt, 'clip2');
      g.edges.push(mkEdge(loader, 'clip2', prompt, 'clip2'));
    }
  }
  return loras.map((l, i) => {
    const id = `lora_selector_${i}`;
    g.nodes[id] = { id, type: 'lora_selector', is_intermediate: true, lora: ident(l.model), weight: l.weight };
    g.edges.push(mkEdge(id, 'lora', 'lora_collector', 'item'));
    return { model: ident(l.model), weight: l.weight };
  });
}

/**
 * FLUX's LoRAs: lora_selector → collect → flux_lora_collection_loader, which patches the transformer and both text
 * encoders; the loader's outputs replace the model loader's at flux_denoise and flux_text_encoder.
 */
export function addFluxLoRAs(g: Graph, p: GenParams) {
  const loras = activeLoras(p);
  if (!loras.length) return [];
  const loader = 'lora_collection_loader';
  g.nodes.lora_collector = { id: 'lora_collector', type: 'collect', is_intermediate: true };
  g.nodes[loader] = { id: loader, type: 'flux_lora_collection_loader', is_intermediate: true };
  g.edges.push(mkEdge('lora_collector', 'collection', loader, 'loras'));
  for (const [field, to, toField] of [
    ['transformer', 'denoise_latents', 'transformer'],
    ['clip', 'positive_prompt', 'clip'],
    ['t5_encoder', 'positive_prompt', 't5_encoder'],
  ] as const) {
    g.edges.push(mkEdge('model_loader', field, loader, field));
    removeEdgesTo(g, to, toField);
    g.edges.push(mkEdge(loader, field, to, toField));
  }
  return loras.map((l, i) => {
    const id = `lora_selector_${i}`;
    g.nodes[id] = { id, type: 'lora_selector', is_intermediate: true, lora: ident(l.model), weight: l.weight };
    g.edges.push(mkEdge(id, 'lora', 'lora_collector', 'item'));
    return { model: ident(l.model), weight: l.weight };
  });
}

/** The control layers that run: enabled, with a model of the current base and an image. */
export function activeControls(p: GenParams): ControlEntry[] {
  return p.controls.filter((c) => c.isEnabled && c.model && c.image && p.model && c.model.base === p.model.base);
}

export function activeIPAdapters(p: GenParams): IPAdapterEntry[] {
  return p.ipAdapters.filter((c) => c.isEnabled && c.model && c.image && p.model && c.model.base === p.model.base);
}

/** The image an adapter receives: the processed one when the processor has run, else the chosen one. */
export function controlImage(c: ControlEntry): ImageRef {
  return c.processedImage ?? c.image!;
}

/** Adds the ControlNet, T2I-Adapter and IP-Adapter nodes, each kind collected into its denoise_latents input. */
export function addAdapters(g: Graph, p: GenParams) {
  const collect = (id: string, input: string) => {
    if (!g.nodes[id]) {
      g.nodes[id] = { id, type: 'collect', is_intermediate: true };
      g.edges.push(mkEdge(id, 'collection', 'denoise_latents', input));
    }
    return id;
  };
  activeControls(p).forEach((c, i) => {
    const m = c.model!;
    const common = { is_intermediate: true, image: imageField(controlImage(c)), begin_step_percent: c.beginStepPct, end_step_percent: c.endStepPct, resize_mode: c.resizeMode };
    if (m.type === 't2i_adapter') {
      const id = `t2i_adapter_${i}`;
      g.nodes[id] = { id, type: 't2i_adapter', ...common, t2i_adapter_model: ident(m), weight: c.weight };
      g.edges.push(mkEdge(id, 't2i_adapter', collect('t2i_adapter_collector', 't2i_adapter'), 'item'));
    } else {
      const id = `control_net_${i}`;
      g.nodes[id] = { id, type: 'controlnet', ...common, control_model: ident(m), control_weight: c.weight, control_mode: c.controlMode };
      g.edges.push(mkEdge(id, 'control', collect('control_net_collector', 'control'), 'item'));
    }
  });
  activeIPAdapters(p).forEach((a, i) => {
    const id = `ip_adapter_${i}`;
    g.nodes[id] = {
      id,
      type: 'ip_adapter',
      is_intermediate: true,
      image: imageField(a.image!),
      ip_adapter_model: ident(a.model!),
      clip_vision_model: a.clipVisionModel,
      weight: a.weight,
      method: a.method,
      begin_step_percent: a.beginStepPct,
      end_step_percent: a.endStepPct,
    };
    g.edges.push(mkEdge(id, 'ip_adapter', collect('ip_adapter_collector', 'ip_adapter'), 'item'));
  });
}

/** core_metadata's controlnets, t2iAdapters and ipAdapters (InvokeAI's *MetadataField shapes); absent when empty. */
export function adapterMetadata(p: GenParams): Record<string, unknown> {
  const out: Record<string, unknown[]> = {};
  const push = (k: string, v: unknown) => (out[k] ??= []).push(v);
  for (const c of activeControls(p)) {
    const m = c.model!;
    const base = {
      image: imageField(c.image!),
      processed_image: c.processedImage ? imageField(c.processedImage) : null,
      begin_step_percent: c.beginStepPct,
      end_step_percent: c.endStepPct,
      resize_mode: c.resizeMode,
    };
    if (m.type === 't2i_adapter') push('t2iAdapters', { ...base, t2i_adapter_model: ident(m), weight: c.weight });
    else push('controlnets', { ...base, control_model: ident(m), control_weight: c.weight, control_mode: c.controlMode });
  }
  for (const a of activeIPAdapters(p)) {
    push('ipAdapters', {
      image: imageField(a.image!),
      ip_adapter_model: ident(a.model!),
      clip_vision_model: a.clipVisionModel,
      method: a.method,
      weight: a.weight,
      begin_step_percent: a.beginStepPct,
      end_step_percent: a.endStepPct,
    });
  }
  return out;
}

// ---- recall ----

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

function modelFrom(v: unknown): ModelConfig | null {
  if (!isObj(v) || typeof v.key !== 'string') return null;
  const s = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : '');
  return { key: s('key'), hash: s('hash'), name: s('name'), base: s('base'), type: s('type') };
}

function imageFrom(v: unknown): ImageRef | null {
  return isObj(v) && typeof v.image_name === 'string' ? { image_name: v.image_name } : null;
}

const numOr = (v: unknown, d: number) => (typeof v === 'number' && Number.isFinite(v) ? v : d);
const oneOf = <T extends string>(v: unknown, all: readonly T[], d: T): T => (all.includes(v as T) ? (v as T) : d);

/** Brings LoRAs, control layers, IP-Adapters and FLUX's encoder choices back from core_metadata. */
export function recallAdapters(md: Obj): Partial<GenParams> {
  const out: Partial<GenParams> = {};
  const list = (k: string) => (Array.isArray(md[k]) ? (md[k] as unknown[]).filter(isObj) : null);
  const loras = list('loras');
  if (loras) {
    out.loras = loras.flatMap((l) => {
      const model = modelFrom(l.model);
      return model ? [{ id: entryId(), model, weight: numOr(l.weight, 0.75), isEnabled: true }] : [];
    });
  }
  const cns = list('controlnets');
  const t2is = list('t2iAdapters');
  if (cns || t2is) {
    const controls: ControlEntry[] = [];
    for (const [items, modelKey, weightKey] of [
      [cns ?? [], 'control_model', 'control_weight'],
      [t2is ?? [], 't2i_adapter_model', 'weight'],
    ] as const) {
      for (const c of items) {
        const model = modelFrom(c[modelKey]);
        const image = imageFrom(c.image);
        if (!model || !image) continue;
        controls.push({
          ...newControl(model),
          weight: numOr(c[weightKey], 1),
          beginStepPct: numOr(c.begin_step_percent, 0),
          endStepPct: numOr(c.end_step_percent, 1),
          controlMode: oneOf(c.control_mode, CONTROL_MODES, 'balanced'),
          resizeMode: oneOf(c.resize_mode, RESIZE_MODES, 'just_resize'),
          image,
          // The processor that made processed_image is not recorded; the processed picture itself is kept.
          processor: 'none',
          processedImage: imageFrom(c.processed_image),
        });
      }
    }
    out.controls = controls;
  }
  const ips = list('ipAdapters');
  if (ips) {
    out.ipAdapters = ips.flatMap((a) => {
      const model = modelFrom(a.ip_adapter_model);
      const image = imageFrom(a.image);
      if (!model || !image) return [];
      return [
        {
          ...newIPAdapter(model),
          weight: numOr(a.weight, 1),
          beginStepPct: numOr(a.begin_step_percent, 0),
          endStepPct: numOr(a.end_step_percent, 1),
          method: oneOf(a.method, IP_METHODS, 'full'),
          clipVisionModel: oneOf(a.clip_vision_model, CLIP_VISION_MODELS, 'ViT-H'),
          image,
        },
      ];
    });
  }
  const t5 = modelFrom(md.t5_encoder);
  if (t5) out.t5Encoder = t5;
  const clip = modelFrom(md.clip_embed_model);
  if (clip) out.clipEmbed = clip;
  const vae = modelFrom(md.vae);
  if (vae && vae.base === 'flux') out.fluxVAE = vae;
  return out;
}

// ---- processors ----

/**
 * The graph that runs a control image through a processor, for the preview and the adapter input. Its last node is
 * "processor"; "tile" resamples the picture down by its rate (box) and back up (bicubic), as the tile ControlNet's
 * preprocessor blurs detail.
 */
export function buildProcessorGraph(processor: Exclude<Processor, 'none'>, image: ImageRef, settings: Partial<ProcessorSettings> = {}): Graph {
  const nodes: Record<string, GraphNode> = {};
  const edges: Edge[] = [];
  const src = imageField(image);
  const o = { ...PROCESSOR_DEFAULTS, ...settings };
  switch (processor) {
    case 'canny_edge_detection':
      nodes.processor = { id: 'processor', type: 'canny_edge_detection', is_intermediate: true, image: src, low_threshold: o.low_threshold, high_threshold: o.high_threshold };
      break;
    case 'content_shuffle':
      nodes.processor = { id: 'processor', type: 'content_shuffle', is_intermediate: true, image: src, scale_factor: o.scale_factor };
      break;
    case 'color_map':
      nodes.processor = { id: 'processor', type: 'color_map', is_intermediate: true, image: src, tile_size: o.tile_size };
      break;
    case 'img_blur':
      nodes.processor = { id: 'processor', type: 'img_blur', is_intermediate: true, image: src, radius: o.radius, blur_type: o.blur_type };
      break;
    case 'tile': {
      const w = image.width ?? 512;
      const h = image.height ?? 512;
      const rate = Math.max(1, o.down_sampling_rate);
      nodes.downsample = {
        id: 'downsample',
        type: 'img_resize',
        is_intermediate: true,
        image: src,
        width: Math.max(1, Math.round(w / rate)),
        height: Math.max(1, Math.round(h / rate)),
        resample_mode: 'box',
      };
      nodes.processor = { id: 'processor', type: 'img_resize', is_intermediate: true, width: w, height: h, resample_mode: 'bicubic' };
      edges.push(mkEdge('downsample', 'image', 'processor', 'image'));
      break;
    }
  }
  return { id: `process_${processor}`, nodes, edges };
}
