// Builds InvokeAI's text-to-image / image-to-image graphs (SD1.5, SDXL and FLUX) and the batch that enqueues them,
// with LoRAs, ControlNets / T2I-Adapters and IP-Adapters wired as InvokeAI's Generate tab wires them (docs/architecture.md).
import type { ModelConfig } from './types';
import { addAdapters, addFluxLoRAs, addLoRAs, adapterMetadata, recallAdapters, type ControlEntry, type IPAdapterEntry, type LoraEntry } from './graphAdapters';

export type { ControlEntry, IPAdapterEntry, LoraEntry } from './graphAdapters';

export const SCHEDULERS: { value: string; label: string }[] = [
  { value: 'ddim', label: 'DDIM' },
  { value: 'ddpm', label: 'DDPM' },
  { value: 'deis', label: 'DEIS' },
  { value: 'deis_k', label: 'DEIS Karras' },
  { value: 'lms', label: 'LMS' },
  { value: 'lms_k', label: 'LMS Karras' },
  { value: 'pndm', label: 'PNDM' },
  { value: 'heun', label: 'Heun' },
  { value: 'heun_k', label: 'Heun Karras' },
  { value: 'euler', label: 'Euler' },
  { value: 'euler_k', label: 'Euler Karras' },
  { value: 'euler_a', label: 'Euler Ancestral' },
  { value: 'kdpm_2', label: 'KDPM 2' },
  { value: 'kdpm_2_k', label: 'KDPM 2 Karras' },
  { value: 'kdpm_2_a', label: 'KDPM 2 Ancestral' },
  { value: 'kdpm_2_a_k', label: 'KDPM 2 Ancestral Karras' },
  { value: 'dpmpp_2s', label: 'DPM++ 2S' },
  { value: 'dpmpp_2s_k', label: 'DPM++ 2S Karras' },
  { value: 'dpmpp_2m', label: 'DPM++ 2M' },
  { value: 'dpmpp_2m_k', label: 'DPM++ 2M Karras' },
  { value: 'dpmpp_2m_sde', label: 'DPM++ 2M SDE' },
  { value: 'dpmpp_2m_sde_k', label: 'DPM++ 2M SDE Karras' },
  { value: 'dpmpp_3m', label: 'DPM++ 3M' },
  { value: 'dpmpp_3m_k', label: 'DPM++ 3M Karras' },
  { value: 'dpmpp_sde', label: 'DPM++ SDE' },
  { value: 'dpmpp_sde_k', label: 'DPM++ SDE Karras' },
  { value: 'unipc', label: 'UniPC' },
  { value: 'unipc_k', label: 'UniPC Karras' },
  { value: 'lcm', label: 'LCM' },
  { value: 'tcd', label: 'TCD' },
];

/** flux_denoise's schedulers (InvokeAI 6.12's FLUX scheduler field: euler, heun, lcm). */
export const FLUX_SCHEDULERS: { value: string; label: string }[] = [
  { value: 'euler', label: 'Euler' },
  { value: 'heun', label: 'Heun (2nd order)' },
  { value: 'lcm', label: 'LCM' },
];

/** The FLUX scheduler for the chosen one: an SD-only choice falls back to euler, flux_denoise's default. */
export function fluxScheduler(s: string): string {
  return FLUX_SCHEDULERS.some((f) => f.value === s) ? s : 'euler';
}

export const MAX_SEED = 4294967295;

export interface GenParams {
  positivePrompt: string;
  negativePrompt: string;
  model: ModelConfig | null;
  width: number;
  height: number;
  steps: number;
  cfgScale: number;
  scheduler: string;
  seed: number;
  randomSeed: boolean;
  iterations: number;
  clipSkip: number;
  boardId: string; // "none" = uncategorized
  initImage: { image_name: string; width: number; height: number } | null;
  strength: number; // img2img denoising strength, 0..1
  seamlessX: boolean; // tile horizontally (the seamless node)
  seamlessY: boolean; // tile vertically
  loras: LoraEntry[];
  controls: ControlEntry[]; // ControlNets and T2I-Adapters (the model's type says which)
  ipAdapters: IPAdapterEntry[];
  guidance: number; // FLUX dev's distilled guidance; unused by schnell
  t5Encoder: ModelConfig | null; // FLUX's text encoders and VAE, chosen beside the main model
  clipEmbed: ModelConfig | null;
  fluxVAE: ModelConfig | null;
}

export const defaultParams: GenParams = {
  positivePrompt: '',
  negativePrompt: '',
  model: null,
  width: 512,
  height: 512,
  steps: 30,
  cfgScale: 7.5,
  scheduler: 'euler',
  seed: 0,
  randomSeed: true,
  iterations: 1,
  clipSkip: 0,
  boardId: 'none',
  initImage: null,
  strength: 0.75,
  seamlessX: false,
  seamlessY: false,
  loras: [],
  controls: [],
  ipAdapters: [],
  guidance: 3.5,
  t5Encoder: null,
  clipEmbed: null,
  fluxVAE: null,
};

export interface GraphNode {
  id: string;
  type: string;
  [k: string]: unknown;
}
export interface GraphEdge {
  source: { node_id: string; field: string };
  destination: { node_id: string; field: string };
}
export interface Graph {
  id: string;
  nodes: Record<string, GraphNode>;
  edges: GraphEdge[];
}

export function randomSeed(): number {
  return Math.floor(Math.random() * MAX_SEED);
}

function uid(): string {
  if (typeof crypto !== 'undefined' && 'randomUUID' in crypto) return crypto.randomUUID();
  return Math.random().toString(36).slice(2) + Date.now().toString(36);
}

export function modelIdentifier(m: ModelConfig) {
  return { key: m.key, hash: m.hash, name: m.name, base: m.base, type: m.type };
}

/** The graph for one generation; the seed node is filled per image by the batch data. */
export function buildGraph(p: GenParams): Graph {
  if (!p.model) throw new Error('Select a model first');
  if (p.model.base === 'flux') return buildFluxGraph(p);
  const sdxl = p.model.base === 'sdxl';
  const img2img = !!p.initImage;
  const nodes: Record<string, GraphNode> = {};
  const edges: GraphEdge[] = [];
  const add = (n: GraphNode) => (nodes[n.id] = n);
  const edge = (s: string, sf: string, d: string, df: string) =>
    edges.push({ source: { node_id: s, field: sf }, destination: { node_id: d, field: df } });

  const board = p.boardId && p.boardId !== 'none' ? { board_id: p.boardId } : null;
  if (sdxl) {
    add({ id: 'model_loader', type: 'sdxl_model_loader', is_intermediate: true, use_cache: true, model: modelIdentifier(p.model) });
    for (const [id, prompt] of [
      ['positive_prompt', p.positivePrompt],
      ['negative_prompt', p.negativePrompt],
    ] as const) {
      add({
        id,
        type: 'sdxl_compel_prompt',
        is_intermediate: true,
        prompt,
        style: prompt,
        original_width: p.width,
        original_height: p.height,
        crop_top: 0,
        crop_left: 0,
        target_width: p.width,
        target_height: p.height,
      });
      edge('model_loader', 'clip', id, 'clip');
      edge('model_loader', 'clip2', id, 'clip2');
    }
  } else {
    add({ id: 'model_loader', type: 'main_model_loader', is_intermediate: true, use_cache: true, model: modelIdentifier(p.model) });
    add({ id: 'clip_skip', type: 'clip_skip', is_intermediate: true, skipped_layers: p.clipSkip });
    edge('model_loader', 'clip', 'clip_skip', 'clip');
    add({ id: 'positive_prompt', type: 'compel', is_intermediate: true, prompt: p.positivePrompt });
    add({ id: 'negative_prompt', type: 'compel', is_intermediate: true, prompt: p.negativePrompt });
    edge('clip_skip', 'clip', 'positive_prompt', 'clip');
    edge('clip_skip', 'clip', 'negative_prompt', 'clip');
  }
  add({ id: 'seed', type: 'integer', is_intermediate: true, value: p.seed });
  add({ id: 'noise', type: 'noise', is_intermediate: true, width: p.width, height: p.height, use_cpu: true });
  edge('seed', 'value', 'noise', 'seed');
  add({
    id: 'denoise_latents',
    type: 'denoise_latents',
    is_intermediate: true,
    steps: p.steps,
    cfg_scale: p.cfgScale,
    scheduler: p.scheduler,
    cfg_rescale_multiplier: 0,
    denoising_start: img2img ? round(1 - p.strength) : 0,
    denoising_end: 1,
  });
  // Seamless tiling: the UNet and VAE pass through the seamless node, which records the axes on them.
  const seamless = p.seamlessX || p.seamlessY;
  const unetFrom = seamless ? 'seamless' : 'model_loader';
  const vaeFrom = seamless ? 'seamless' : 'model_loader';
  if (seamless) {
    add({ id: 'seamless', type: 'seamless', is_intermediate: true, seamless_x: p.seamlessX, seamless_y: p.seamlessY });
    edge('model_loader', 'unet', 'seamless', 'unet');
    edge('model_loader', 'vae', 'seamless', 'vae');
  }
  edge(unetFrom, 'unet', 'denoise_latents', 'unet');
  edge('positive_prompt', 'conditioning', 'denoise_latents', 'positive_conditioning');
  edge('negative_prompt', 'conditioning', 'denoise_latents', 'negative_conditioning');
  edge('noise', 'noise', 'denoise_latents', 'noise');
  if (img2img && p.initImage) {
    add({ id: 'i2l', type: 'i2l', is_intermediate: true, image: { image_name: p.initImage.image_name }, fp32: false });
    edge(vaeFrom, 'vae', 'i2l', 'vae');
    edge('i2l', 'latents', 'denoise_latents', 'latents');
  }
  const g = { id: '', nodes, edges };
  const loras = addLoRAs(g, p, sdxl ? 'sdxl' : 'sd', unetFrom, sdxl ? 'model_loader' : 'clip_skip');
  addAdapters(g, p);
  const metadata: GraphNode = {
    id: 'core_metadata',
    type: 'core_metadata',
    is_intermediate: true,
    generation_mode: sdxl ? (img2img ? 'sdxl_img2img' : 'sdxl_txt2img') : img2img ? 'img2img' : 'txt2img',
    positive_prompt: p.positivePrompt,
    negative_prompt: p.negativePrompt,
    width: p.width,
    height: p.height,
    seed: p.seed,
    rand_device: 'cpu',
    cfg_scale: p.cfgScale,
    cfg_rescale_multiplier: 0,
    steps: p.steps,
    scheduler: p.scheduler,
    model: modelIdentifier(p.model),
  };
  if (!sdxl) metadata.clip_skip = p.clipSkip;
  if (seamless) {
    metadata.seamless_x = p.seamlessX;
    metadata.seamless_y = p.seamlessY;
  }
  if (img2img && p.initImage) {
    metadata.strength = p.strength;
    metadata.init_image = p.initImage.image_name;
  }
  if (loras.length) metadata.loras = loras;
  Object.assign(metadata, adapterMetadata(p));
  add(metadata);
  add({ id: 'l2i', type: 'l2i', is_intermediate: false, fp32: sdxl, use_cache: false, board });
  edge('denoise_latents', 'latents', 'l2i', 'latents');
  edge(vaeFrom, 'vae', 'l2i', 'vae');
  edge('core_metadata', 'metadata', 'l2i', 'metadata');
  return { id: uid(), nodes, edges };
}

/**
 * InvokeAI's FLUX text-to-image / image-to-image graph: flux_model_loader (transformer, both text encoders and the
 * VAE), flux_text_encoder, flux_denoise (seeded by the batch like the SD graphs) and flux_vae_decode. Schnell takes
 * a 256-token T5 sequence and no guidance; the loader's max_seq_len output carries that to the encoder.
 */
export function buildFluxGraph(p: GenParams): Graph {
  if (!p.model) throw new Error('Select a model first');
  if (!p.t5Encoder) throw new Error('Select a T5 encoder for FLUX');
  if (!p.clipEmbed) throw new Error('Select a CLIP embed model for FLUX');
  if (!p.fluxVAE) throw new Error('Select a FLUX VAE');
  const img2img = !!p.initImage;
  const nodes: Record<string, GraphNode> = {};
  const edges: GraphEdge[] = [];
  const add = (n: GraphNode) => (nodes[n.id] = n);
  const edge = (s: string, sf: string, d: string, df: string) =>
    edges.push({ source: { node_id: s, field: sf }, destination: { node_id: d, field: df } });
  const board = p.boardId && p.boardId !== 'none' ? { board_id: p.boardId } : null;
  add({
    id: 'model_loader',
    type: 'flux_model_loader',
    is_intermediate: true,
    use_cache: true,
    model: modelIdentifier(p.model),
    t5_encoder_model: modelIdentifier(p.t5Encoder),
    clip_embed_model: modelIdentifier(p.clipEmbed),
    vae_model: modelIdentifier(p.fluxVAE),
  });
  add({ id: 'positive_prompt', type: 'flux_text_encoder', is_intermediate: true, prompt: p.positivePrompt });
  edge('model_loader', 'clip', 'positive_prompt', 'clip');
  edge('model_loader', 't5_encoder', 'positive_prompt', 't5_encoder');
  edge('model_loader', 'max_seq_len', 'positive_prompt', 't5_max_seq_len');
  add({ id: 'seed', type: 'integer', is_intermediate: true, value: p.seed });
  add({
    id: 'denoise_latents',
    type: 'flux_denoise',
    is_intermediate: true,
    num_steps: p.steps,
    guidance: p.guidance,
    scheduler: fluxScheduler(p.scheduler),
    width: p.width,
    height: p.height,
    denoising_start: img2img ? round(1 - p.strength) : 0,
    denoising_end: 1,
  });
  edge('seed', 'value', 'denoise_latents', 'seed');
  edge('model_loader', 'transformer', 'denoise_latents', 'transformer');
  edge('positive_prompt', 'conditioning', 'denoise_latents', 'positive_text_conditioning');
  const loras = addFluxLoRAs({ id: '', nodes, edges }, p);
  if (img2img && p.initImage) {
    add({ id: 'i2l', type: 'flux_vae_encode', is_intermediate: true, image: { image_name: p.initImage.image_name } });
    edge('model_loader', 'vae', 'i2l', 'vae');
    edge('i2l', 'latents', 'denoise_latents', 'latents');
  }
  const schnell = p.model.variant === 'schnell';
  const metadata: GraphNode = {
    id: 'core_metadata',
    type: 'core_metadata',
    is_intermediate: true,
    generation_mode: img2img ? 'flux_img2img' : 'flux_txt2img',
    positive_prompt: p.positivePrompt,
    width: p.width,
    height: p.height,
    seed: p.seed,
    steps: p.steps,
    scheduler: fluxScheduler(p.scheduler),
    model: modelIdentifier(p.model),
    t5_encoder: modelIdentifier(p.t5Encoder),
    clip_embed_model: modelIdentifier(p.clipEmbed),
    vae: modelIdentifier(p.fluxVAE),
  };
  if (!schnell) metadata.guidance = p.guidance;
  if (loras.length) metadata.loras = loras;
  if (img2img && p.initImage) {
    metadata.strength = p.strength;
    metadata.init_image = p.initImage.image_name;
  }
  add(metadata);
  add({ id: 'l2i', type: 'flux_vae_decode', is_intermediate: false, use_cache: false, board });
  edge('denoise_latents', 'latents', 'l2i', 'latents');
  edge('model_loader', 'vae', 'l2i', 'vae');
  edge('core_metadata', 'metadata', 'l2i', 'metadata');
  return { id: uid(), nodes, edges };
}

/**
 * The settings a model brings when it is picked: its default_settings (steps, CFG, size, guidance, scheduler) as
 * InvokeAI's model manager stores them; FLUX models without settings fall back to their variant's published values
 * (schnell 4 steps, dev 28 steps at guidance 3.5).
 */
export function modelDefaults(m: ModelConfig): Partial<GenParams> {
  const out: Partial<GenParams> = {};
  const d = (m.default_settings ?? {}) as Record<string, unknown>;
  const n = (k: string) => (typeof d[k] === 'number' ? (d[k] as number) : undefined);
  if (m.base === 'flux' && m.type === 'main') {
    out.steps = m.variant === 'schnell' ? 4 : 28;
    if (m.variant !== 'schnell') out.guidance = 3.5;
  }
  if (n('steps') !== undefined) out.steps = n('steps');
  if (n('cfg_scale') !== undefined) out.cfgScale = n('cfg_scale');
  if (n('guidance') !== undefined) out.guidance = n('guidance');
  if (n('width') !== undefined) out.width = n('width');
  if (n('height') !== undefined) out.height = n('height');
  if (typeof d.scheduler === 'string') out.scheduler = d.scheduler;
  return out;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** The seeds for each image: consecutive from the chosen seed, or random. */
export function seedsFor(p: GenParams, rnd: () => number = randomSeed): number[] {
  const n = Math.max(1, Math.floor(p.iterations));
  if (p.randomSeed) return Array.from({ length: n }, () => rnd());
  return Array.from({ length: n }, (_, i) => (p.seed + i) % (MAX_SEED + 1));
}

export function buildBatch(p: GenParams, rnd?: () => number) {
  const graph = buildGraph(p);
  const seeds = seedsFor(p, rnd);
  return {
    prepend: false,
    batch: {
      origin: 'generation',
      destination: 'gallery',
      graph,
      runs: 1,
      data: [
        [
          { node_path: 'seed', field_name: 'value', items: seeds },
          { node_path: 'core_metadata', field_name: 'seed', items: seeds },
        ],
      ],
    },
  };
}

/** Maps image metadata (core_metadata) back onto the generation parameters. */
export function recallFromMetadata(
  md: Record<string, unknown> | null | undefined,
  models: ModelConfig[],
  what: 'all' | 'prompt' | 'seed' | 'size' = 'all',
): Partial<GenParams> {
  if (!md) return {};
  const out: Partial<GenParams> = {};
  const num = (k: string) => (typeof md[k] === 'number' ? (md[k] as number) : undefined);
  const str = (k: string) => (typeof md[k] === 'string' ? (md[k] as string) : undefined);
  if (what === 'all' || what === 'prompt') {
    if (str('positive_prompt') !== undefined) out.positivePrompt = str('positive_prompt');
    if (str('negative_prompt') !== undefined) out.negativePrompt = str('negative_prompt');
  }
  if (what === 'all' || what === 'seed') {
    if (num('seed') !== undefined) {
      out.seed = num('seed');
      out.randomSeed = false;
    }
  }
  if (what === 'all' || what === 'size') {
    if (num('width') !== undefined) out.width = num('width');
    if (num('height') !== undefined) out.height = num('height');
  }
  if (what === 'all') {
    if (num('steps') !== undefined) out.steps = num('steps');
    if (num('cfg_scale') !== undefined) out.cfgScale = num('cfg_scale');
    if (str('scheduler') !== undefined) out.scheduler = str('scheduler');
    if (num('clip_skip') !== undefined) out.clipSkip = num('clip_skip');
    if (num('strength') !== undefined) out.strength = num('strength');
    if (typeof md.seamless_x === 'boolean') out.seamlessX = md.seamless_x;
    if (typeof md.seamless_y === 'boolean') out.seamlessY = md.seamless_y;
    if (num('guidance') !== undefined) out.guidance = num('guidance');
    const m = md.model as { key?: string; name?: string } | undefined;
    if (m) {
      const found = models.find((x) => x.key === m.key) || models.find((x) => x.name === m.name);
      if (found) out.model = found;
    }
    Object.assign(out, recallAdapters(md));
  }
  return out;
}
