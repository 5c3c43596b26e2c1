// Builds the Upscale screen's graphs. Plain: one spandrel autoscale node whose image lands in the board.
// Creative: the shape of InvokeAI's Upscale tab — the model upscale, an unsharp mask, then a tiled
// multi-diffusion pass over the image's latents guided by a tile ControlNet applied twice (a strong early
// pass and a weak late one), decoded into the board. Creativity (-10..10) sets where denoising starts,
// structure (-10..10) the ControlNets' weights and step ranges.
import type { Graph, GraphEdge, GraphNode } from '../lib/graph';
import type { ModelConfig } from '../lib/types';

export interface UpscaleImage {
  image_name: string;
  width: number;
  height: number;
}

export interface UpscaleParams {
  image: UpscaleImage | null;
  upscaleModel: ModelConfig | null;
  /** The final scale (2, 4 or a custom value up to 16). */
  scale: number;
  boardId: string; // "none" = uncategorized
  /** Run the tiled diffusion pass after the model upscale. */
  creative: boolean;
  model: ModelConfig | null;
  tileControlNet: ModelConfig | null;
  creativity: number;
  structure: number;
  positivePrompt: string;
  negativePrompt: string;
  steps: number;
  cfgScale: number;
  scheduler: string;
  seed: number;
  tileSize: number;
  tileOverlap: number;
}

export const defaultUpscaleParams: UpscaleParams = {
  image: null,
  upscaleModel: null,
  scale: 4,
  boardId: 'none',
  creative: false,
  model: null,
  tileControlNet: null,
  creativity: 0,
  structure: 0,
  positivePrompt: '',
  negativePrompt: '',
  steps: 30,
  cfgScale: 2,
  scheduler: 'kdpm_2',
  seed: 0,
  tileSize: 1024,
  tileOverlap: 128,
};

export const MAX_UPSCALE = 16;

function identifier(m: ModelConfig) {
  return { key: m.key, hash: m.hash, name: m.name, base: m.base, type: m.type };
}

/** Where denoising starts for a creativity of -10 (0.998, little changes) to 10 (0, everything may change). */
export function denoisingStartFor(creativity: number): number {
  return ((10 - creativity) * 4.99) / 100;
}

/** The two tile ControlNet passes for a structure of -10..10: weights and step ranges. */
export function controlPassesFor(structure: number) {
  const s = structure + 10;
  const handover = s * 0.025 + 0.3;
  return [
    { control_weight: s * 0.0325 + 0.3, begin_step_percent: 0, end_step_percent: handover },
    { control_weight: (s * 0.0325 + 0.15) * 0.45, begin_step_percent: handover, end_step_percent: 0.85 },
  ];
}

export function checkUpscale(p: UpscaleParams): string | null {
  if (!p.image) return 'Choose an image to upscale';
  if (!p.upscaleModel) return 'Choose an upscaling model';
  if (!(p.scale > 0 && p.scale <= MAX_UPSCALE)) return `The scale must be above 0 and at most ${MAX_UPSCALE}`;
  if (p.creative) {
    if (!p.model) return 'Creative upscaling needs a main model';
    if (p.model.base !== 'sd-1' && p.model.base !== 'sdxl') return 'Creative upscaling needs an SD1.5 or SDXL model';
    if (!p.tileControlNet) return 'Creative upscaling needs a tile ControlNet';
    if (p.tileControlNet.base !== p.model.base) return 'The tile ControlNet is for another base model';
  }
  return null;
}

/** The graph for an upscale; graphId is fixed by tests. */
export function buildUpscaleGraph(p: UpscaleParams, graphId: string): Graph {
  const problem = checkUpscale(p);
  if (problem) throw new Error(problem);
  const nodes: Record<string, GraphNode> = {};
  const edges: GraphEdge[] = [];
  const add = (n: GraphNode) => (nodes[n.id] = n);
  const edge = (s: string, sf: string, d: string, df: string) =>
    edges.push({ source: { node_id: s, field: sf }, destination: { node_id: d, field: df } });
  const board = p.boardId && p.boardId !== 'none' ? { board_id: p.boardId } : null;
  const image = { image_name: p.image!.image_name };

  if (!p.creative) {
    add({
      id: 'upscale',
      type: 'spandrel_image_to_image_autoscale',
      is_intermediate: false,
      use_cache: false,
      image,
      image_to_image_model: identifier(p.upscaleModel!),
      scale: p.scale,
      fit_to_multiple_of_8: false,
      tile_size: 512,
      board,
    });
    return { id: graphId, nodes, edges };
  }

  const model = p.model!;
  const sdxl = model.base === 'sdxl';
  add({
    id: 'upscale',
    type: 'spandrel_image_to_image_autoscale',
    is_intermediate: true,
    image,
    image_to_image_model: identifier(p.upscaleModel!),
    scale: p.scale,
    fit_to_multiple_of_8: true,
    tile_size: 512,
  });
  add({ id: 'sharpen', type: 'unsharp_mask', is_intermediate: true, radius: 2, strength: 60 });
  edge('upscale', 'image', 'sharpen', 'image');

  add({ id: 'seed', type: 'integer', is_intermediate: true, value: p.seed });
  add({ id: 'noise', type: 'noise', is_intermediate: true, use_cpu: true });
  edge('seed', 'value', 'noise', 'seed');
  edge('sharpen', 'width', 'noise', 'width');
  edge('sharpen', 'height', 'noise', 'height');

  add({
    id: 'denoise',
    type: 'tiled_multi_diffusion_denoise_latents',
    is_intermediate: true,
    tile_height: p.tileSize,
    tile_width: p.tileSize,
    tile_overlap: p.tileOverlap,
    steps: p.steps,
    cfg_scale: p.cfgScale,
    scheduler: p.scheduler,
    denoising_start: denoisingStartFor(p.creativity),
    denoising_end: 1,
  });
  if (sdxl) {
    add({ id: 'model_loader', type: 'sdxl_model_loader', is_intermediate: true, model: identifier(model) });
    for (const [id, prompt] of [
      ['positive_prompt', p.positivePrompt],
      ['negative_prompt', p.negativePrompt],
    ] as const) {
      add({ id, type: 'sdxl_compel_prompt', is_intermediate: true, prompt, style: prompt });
      edge('model_loader', 'clip', id, 'clip');
      edge('model_loader', 'clip2', id, 'clip2');
    }
  } else {
    add({ id: 'model_loader', type: 'main_model_loader', is_intermediate: true, model: identifier(model) });
    add({ id: 'clip_skip', type: 'clip_skip', is_intermediate: true, skipped_layers: 0 });
    edge('model_loader', 'clip', 'clip_skip', 'clip');
    add({ id: 'positive_prompt', type: 'compel', is_intermediate: true, prompt: p.positivePrompt });
    add({ id: 'negative_prompt', type: 'compel', is_intermediate: true, prompt: p.negativePrompt });
    edge('clip_skip', 'clip', 'positive_prompt', 'clip');
    edge('clip_skip', 'clip', 'negative_prompt', 'clip');
  }
  edge('model_loader', 'unet', 'denoise', 'unet');
  edge('positive_prompt', 'conditioning', 'denoise', 'positive_conditioning');
  edge('negative_prompt', 'conditioning', 'denoise', 'negative_conditioning');
  edge('noise', 'noise', 'denoise', 'noise');

  add({ id: 'i2l', type: 'i2l', is_intermediate: true, tiled: true, tile_size: p.tileSize, fp32: sdxl });
  edge('sharpen', 'image', 'i2l', 'image');
  edge('model_loader', 'vae', 'i2l', 'vae');
  edge('i2l', 'latents', 'denoise', 'latents');

  add({ id: 'control_collect', type: 'collect', is_intermediate: true });
  controlPassesFor(p.structure).forEach((pass, i) => {
    const id = `controlnet_${i + 1}`;
    add({
      id,
      type: 'controlnet',
      is_intermediate: true,
      control_model: identifier(p.tileControlNet!),
      control_mode: 'balanced',
      resize_mode: 'just_resize',
      ...pass,
    });
    edge('sharpen', 'image', id, 'image');
    edge(id, 'control', 'control_collect', 'item');
  });
  edge('control_collect', 'collection', 'denoise', 'control');

  add({
    id: 'core_metadata',
    type: 'core_metadata',
    is_intermediate: true,
    positive_prompt: p.positivePrompt,
    negative_prompt: p.negativePrompt,
    seed: p.seed,
    steps: p.steps,
    cfg_scale: p.cfgScale,
    scheduler: p.scheduler,
    model: identifier(model),
    upscale_model: identifier(p.upscaleModel!),
    upscale_scale: p.scale,
    upscale_initial_image: { ...p.image! },
    creativity: p.creativity,
    structure: p.structure,
    tile_size: p.tileSize,
    tile_overlap: p.tileOverlap,
  });
  add({ id: 'l2i', type: 'l2i', is_intermediate: false, use_cache: false, tiled: true, tile_size: p.tileSize, fp32: sdxl, board });
  edge('denoise', 'latents', 'l2i', 'latents');
  edge('model_loader', 'vae', 'l2i', 'vae');
  edge('core_metadata', 'metadata', 'l2i', 'metadata');
  return { id: graphId, nodes, edges };
}

/** The enqueue body for an upscale. */
export function buildUpscaleBatch(p: UpscaleParams, graphId: string) {
  return { prepend: false, batch: { origin: 'upscaling', destination: 'gallery', graph: buildUpscaleGraph(p, graphId), runs: 1 } };
}
