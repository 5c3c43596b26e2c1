// The canvas's generation graphs, built as InvokeAI's canvas builds them for SD-1/SD-2 and SDXL (node types,
// fields and wiring; see docs/canvas.md): a model loader, prompts gathered by collect nodes (so that regional
// prompts can join them), noise, denoise_latents, l2i, and per mode
//   txt2img  — nothing more;
//   img2img  — i2l of the uploaded composite, denoising_start = 1 − strength;
//   inpaint  — i2l + tomask of the mask layers (inverted: painted pixels are regenerated) into
//              create_gradient_mask + expand_mask_with_fade, blended back onto the composite by
//              invokeai_img_blend;
//   outpaint — an infill node fills the transparent part first; the mask is the mask layers' (tomask, inverted)
//              times the composite's alpha (tomask, mask_combine); canvas_v2_mask_and_crop pastes back.
// Regional guidance adds masked compel nodes (alpha_mask_to_tensor) to the collectors; control layers add
// controlnet / t2i_adapter nodes; reference images add ip_adapter nodes (a region's own masked by its tensor).
// Pure functions: the images are already uploaded and named in the input, node ids are fixed (the tests compare
// the graphs with checked-in ones: web/src/canvas/testdata/, run through the API by internal/canvastest).
import type { GenerationMode } from './mode';
import type { CoherenceMode, InfillMethod } from './types';

export interface ModelIdentifier {
  key: string;
  hash: string;
  name: string;
  base: string;
  type: string;
}

export interface RegionInput {
  id: string;
  /** Uploaded RGBA image: alpha marks the region. */
  maskImage: string;
  positivePrompt: string;
  negativePrompt: string;
  /** Regional reference images: IP-Adapters limited to the region's mask. */
  references?: ReferenceInput[];
}

export interface ControlInput {
  id: string;
  type: 'controlnet' | 't2i_adapter';
  image: string;
  model: ModelIdentifier;
  weight: number;
  beginStepPct: number;
  endStepPct: number;
  controlMode: 'balanced' | 'more_prompt' | 'more_control' | 'unbalanced';
}

export interface ReferenceInput {
  id: string;
  image: string;
  model: ModelIdentifier;
  weight: number;
  beginStepPct: number;
  endStepPct: number;
}

export interface CanvasGraphInput {
  mode: GenerationMode;
  model: ModelIdentifier;
  positivePrompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  steps: number;
  cfgScale: number;
  scheduler: string;
  seed: number;
  clipSkip: number;
  /** img2img / inpaint / outpaint strength. */
  strength: number;
  /** The raster composite of the box (img2img, inpaint, outpaint). */
  initialImage?: string;
  /** The inpaint mask layers' composite (alpha marks the painted pixels), for inpaint / outpaint. */
  maskImage?: string;
  infillMethod: InfillMethod;
  maskBlur: number;
  coherenceMode: CoherenceMode;
  coherenceEdgeSize: number;
  coherenceMinDenoise: number;
  regions: RegionInput[];
  controls: ControlInput[];
  references: ReferenceInput[];
  /** Staging (true): the result is an intermediate image shown on the canvas; false: it goes to the gallery. */
  sendToCanvas: boolean;
  boardId: string | null;
}

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

/** The id of the node whose image is the canvas's result. */
export const CANVAS_OUTPUT = 'canvas_output';

class Builder {
  nodes: Record<string, GraphNode> = {};
  edges: GraphEdge[] = [];
  add(n: GraphNode): GraphNode {
    if (this.nodes[n.id]) throw new Error(`duplicate node id ${n.id}`);
    this.nodes[n.id] = n;
    return n;
  }
  edge(s: string, sf: string, d: string, df: string) {
    this.edges.push({ source: { node_id: s, field: sf }, destination: { node_id: d, field: df } });
  }
  edgesTo(nodeId: string, fields: string[]): GraphEdge[] {
    return this.edges.filter((e) => e.destination.node_id === nodeId && fields.includes(e.destination.field));
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function infillNode(inp: CanvasGraphInput): GraphNode {
  switch (inp.infillMethod) {
    case 'patchmatch':
      return { id: 'infill', type: 'infill_patchmatch', downscale: 1, resample_mode: 'bicubic' };
    case 'tile':
      return { id: 'infill', type: 'infill_tile', tile_size: 32, seed: inp.seed };
    case 'color':
      return { id: 'infill', type: 'infill_rgba', color: { r: 0, g: 0, b: 0, a: 255 } };
    case 'cv2':
      return { id: 'infill', type: 'infill_cv2' };
  }
}

export function buildCanvasGraph(inp: CanvasGraphInput, graphId = 'canvas_graph'): Graph {
  const g = new Builder();
  const sdxl = inp.model.base === 'sdxl';
  const model = { key: inp.model.key, hash: inp.model.hash, name: inp.model.name, base: inp.model.base, type: inp.model.type };

  // Prompts feed collectors, which the regional prompts join.
  if (sdxl) {
    g.add({ id: 'model_loader', type: 'sdxl_model_loader', model });
    for (const [id, prompt] of [
      ['pos_cond', inp.positivePrompt],
      ['neg_cond', inp.negativePrompt],
    ] as const) {
      g.add({
        id,
        type: 'sdxl_compel_prompt',
        prompt,
        style: prompt,
        original_width: inp.width,
        original_height: inp.height,
        crop_top: 0,
        crop_left: 0,
        target_width: inp.width,
        target_height: inp.height,
      });
      g.edge('model_loader', 'clip', id, 'clip');
      g.edge('model_loader', 'clip2', id, 'clip2');
    }
  } else {
    g.add({ id: 'model_loader', type: 'main_model_loader', model });
    g.add({ id: 'clip_skip', type: 'clip_skip', skipped_layers: inp.clipSkip });
    g.edge('model_loader', 'clip', 'clip_skip', 'clip');
    g.add({ id: 'pos_cond', type: 'compel', prompt: inp.positivePrompt });
    g.add({ id: 'neg_cond', type: 'compel', prompt: inp.negativePrompt });
    g.edge('clip_skip', 'clip', 'pos_cond', 'clip');
    g.edge('clip_skip', 'clip', 'neg_cond', 'clip');
  }
  g.add({ id: 'pos_cond_collect', type: 'collect' });
  g.add({ id: 'neg_cond_collect', type: 'collect' });
  g.add({ id: 'noise', type: 'noise', seed: inp.seed, width: inp.width, height: inp.height, use_cpu: true });
  g.add({
    id: 'denoise_latents',
    type: 'denoise_latents',
    cfg_scale: inp.cfgScale,
    cfg_rescale_multiplier: 0,
    scheduler: inp.scheduler,
    steps: inp.steps,
    denoising_start: 0,
    denoising_end: 1,
  });
  g.add({ id: 'l2i', type: 'l2i', fp32: sdxl });
  g.edge('model_loader', 'unet', 'denoise_latents', 'unet');
  g.edge('pos_cond', 'conditioning', 'pos_cond_collect', 'item');
  g.edge('neg_cond', 'conditioning', 'neg_cond_collect', 'item');
  g.edge('pos_cond_collect', 'collection', 'denoise_latents', 'positive_conditioning');
  g.edge('neg_cond_collect', 'collection', 'denoise_latents', 'negative_conditioning');
  g.edge('noise', 'noise', 'denoise_latents', 'noise');
  g.edge('denoise_latents', 'latents', 'l2i', 'latents');
  g.edge('model_loader', 'vae', 'l2i', 'vae');

  const denoisingStart = round3(1 - inp.strength);
  let output = 'l2i';
  const needImage = (what: string) => {
    if (!inp.initialImage) throw new Error(`${what} needs the composite image`);
    return { image_name: inp.initialImage };
  };
  const needMask = (what: string) => {
    if (!inp.maskImage) throw new Error(`${what} needs the mask image`);
    return { image_name: inp.maskImage };
  };
  if (inp.mode === 'img2img') {
    g.nodes.denoise_latents.denoising_start = denoisingStart;
    g.add({ id: 'i2l', type: 'i2l', image: needImage('img2img'), fp32: sdxl });
    g.edge('model_loader', 'vae', 'i2l', 'vae');
    g.edge('i2l', 'latents', 'denoise_latents', 'latents');
  } else if (inp.mode === 'inpaint') {
    const image = needImage('inpaint');
    g.nodes.denoise_latents.denoising_start = denoisingStart;
    g.add({ id: 'i2l', type: 'i2l', image, fp32: sdxl });
    // The mask layers' alpha, inverted: black (regenerate) where painted.
    g.add({ id: 'mask_alpha_to_mask', type: 'tomask', image: needMask('inpaint'), invert: true });
    g.add({
      id: 'create_gradient_mask',
      type: 'create_gradient_mask',
      coherence_mode: inp.coherenceMode,
      minimum_denoise: inp.coherenceMinDenoise,
      edge_radius: inp.coherenceEdgeSize,
      fp32: sdxl,
      image,
    });
    g.edge('mask_alpha_to_mask', 'image', 'create_gradient_mask', 'mask');
    g.add({ id: 'expand_mask_with_fade', type: 'expand_mask_with_fade', fade_size_px: inp.maskBlur });
    // The paste-back onto the composite: the generated image blended over it where the faded mask is not white.
    g.add({ id: CANVAS_OUTPUT, type: 'invokeai_img_blend', layer_base: image });
    g.edge('model_loader', 'vae', 'i2l', 'vae');
    g.edge('i2l', 'latents', 'denoise_latents', 'latents');
    g.edge('model_loader', 'vae', 'create_gradient_mask', 'vae');
    g.edge('model_loader', 'unet', 'create_gradient_mask', 'unet');
    g.edge('create_gradient_mask', 'denoise_mask', 'denoise_latents', 'denoise_mask');
    g.edge('create_gradient_mask', 'expanded_mask_area', 'expand_mask_with_fade', 'mask');
    g.edge('l2i', 'image', CANVAS_OUTPUT, 'layer_upper');
    g.edge('expand_mask_with_fade', 'image', CANVAS_OUTPUT, 'mask');
    output = CANVAS_OUTPUT;
  } else if (inp.mode === 'outpaint') {
    const image = needImage('outpaint');
    g.nodes.denoise_latents.denoising_start = denoisingStart;
    const infill = g.add({ ...infillNode(inp), image });
    g.add({ id: 'i2l', type: 'i2l', fp32: sdxl });
    // Regenerated: the painted pixels and the ones the raster layers leave (partly) transparent.
    g.add({ id: 'mask_alpha_to_mask', type: 'tomask', image: needMask('outpaint'), invert: true });
    g.add({ id: 'image_alpha_to_mask', type: 'tomask', image });
    g.add({ id: 'mask_combine', type: 'mask_combine' });
    g.add({
      id: 'create_gradient_mask',
      type: 'create_gradient_mask',
      coherence_mode: inp.coherenceMode,
      minimum_denoise: inp.coherenceMinDenoise,
      edge_radius: inp.coherenceEdgeSize,
      fp32: sdxl,
      image,
    });
    g.edge('mask_alpha_to_mask', 'image', 'mask_combine', 'mask1');
    g.edge('image_alpha_to_mask', 'image', 'mask_combine', 'mask2');
    g.edge('mask_combine', 'image', 'create_gradient_mask', 'mask');
    g.add({ id: CANVAS_OUTPUT, type: 'canvas_v2_mask_and_crop', mask_blur: inp.maskBlur, source_image: image });
    g.edge(infill.id, 'image', 'i2l', 'image');
    g.edge('model_loader', 'vae', 'i2l', 'vae');
    g.edge('i2l', 'latents', 'denoise_latents', 'latents');
    g.edge('model_loader', 'vae', 'create_gradient_mask', 'vae');
    g.edge('model_loader', 'unet', 'create_gradient_mask', 'unet');
    g.edge('create_gradient_mask', 'denoise_mask', 'denoise_latents', 'denoise_mask');
    g.edge('create_gradient_mask', 'expanded_mask_area', CANVAS_OUTPUT, 'mask');
    g.edge('l2i', 'image', CANVAS_OUTPUT, 'generated_image');
    output = CANVAS_OUTPUT;
  }

  // Control layers.
  const controlnets = inp.controls.filter((c) => c.type === 'controlnet' && c.model.base === inp.model.base);
  if (controlnets.length) {
    g.add({ id: 'control_net_collector', type: 'collect' });
    for (const c of controlnets) {
      const id = `control_net_${c.id}`;
      g.add({
        id,
        type: 'controlnet',
        begin_step_percent: c.beginStepPct,
        end_step_percent: c.endStepPct,
        control_mode: c.controlMode,
        resize_mode: 'just_resize',
        control_model: c.model,
        control_weight: c.weight,
        image: { image_name: c.image },
      });
      g.edge(id, 'control', 'control_net_collector', 'item');
    }
    g.edge('control_net_collector', 'collection', 'denoise_latents', 'control');
  }
  const adapters = inp.controls.filter((c) => c.type === 't2i_adapter' && c.model.base === inp.model.base);
  if (adapters.length) {
    g.add({ id: 't2i_adapter_collector', type: 'collect' });
    for (const c of adapters) {
      const id = `t2i_adapter_${c.id}`;
      g.add({
        id,
        type: 't2i_adapter',
        begin_step_percent: c.beginStepPct,
        end_step_percent: c.endStepPct,
        resize_mode: 'just_resize',
        t2i_adapter_model: c.model,
        weight: c.weight,
        image: { image_name: c.image },
      });
      g.edge(id, 't2i_adapter', 't2i_adapter_collector', 'item');
    }
    g.edge('t2i_adapter_collector', 'collection', 'denoise_latents', 't2i_adapter');
  }

  // Reference images (IP-Adapter): the global ones here, the regional ones (masked) with their regions.
  const fits = (r: ReferenceInput) => r.model.base === inp.model.base;
  const addReference = (r: ReferenceInput): string => {
    const id = `ip_adapter_${r.id}`;
    g.add({
      id,
      type: 'ip_adapter',
      weight: r.weight,
      method: 'full',
      ip_adapter_model: r.model,
      clip_vision_model: 'ViT-H',
      begin_step_percent: r.beginStepPct,
      end_step_percent: r.endStepPct,
      image: { image_name: r.image },
    });
    g.edge(id, 'ip_adapter', 'ip_adapter_collector', 'item');
    return id;
  };
  const refs = inp.references.filter(fits);
  if (refs.length || inp.regions.some((r) => r.references?.some(fits))) {
    g.add({ id: 'ip_adapter_collector', type: 'collect' });
    refs.forEach(addReference);
    g.edge('ip_adapter_collector', 'collection', 'denoise_latents', 'ip_adapter');
  }

  // Regional guidance: each region's prompts, masked, join the collectors, wired to the same CLIP as the
  // global prompts; its reference images are IP-Adapters masked by the same tensor.
  const regions = inp.regions.filter((r) => r.positivePrompt || r.negativePrompt || r.references?.some(fits));
  for (const r of regions) {
    const maskId = `region_mask_${r.id}`;
    g.add({ id: maskId, type: 'alpha_mask_to_tensor', image: { image_name: r.maskImage } });
    for (const ref of r.references?.filter(fits) ?? []) {
      g.edge(maskId, 'mask', addReference(ref), 'mask');
    }
    for (const [side, prompt, collector, global] of [
      ['positive', r.positivePrompt, 'pos_cond_collect', 'pos_cond'],
      ['negative', r.negativePrompt, 'neg_cond_collect', 'neg_cond'],
    ] as const) {
      if (!prompt) continue;
      const id = `region_${side}_cond_${r.id}`;
      g.add(sdxl ? { id, type: 'sdxl_compel_prompt', prompt, style: prompt } : { id, type: 'compel', prompt });
      g.edge(maskId, 'mask', id, 'mask');
      g.edge(id, 'conditioning', collector, 'item');
      for (const e of g.edgesTo(global, sdxl ? ['clip', 'clip2'] : ['clip'])) {
        g.edge(e.source.node_id, e.source.field, id, e.destination.field);
      }
    }
  }

  const generationMode = sdxl ? `sdxl_${inp.mode}` : inp.mode;
  g.add({
    id: 'core_metadata',
    type: 'core_metadata',
    generation_mode: generationMode,
    positive_prompt: inp.positivePrompt,
    negative_prompt: inp.negativePrompt,
    width: inp.width,
    height: inp.height,
    seed: inp.seed,
    rand_device: 'cpu',
    cfg_scale: inp.cfgScale,
    cfg_rescale_multiplier: 0,
    steps: inp.steps,
    scheduler: inp.scheduler,
    model,
    ...(sdxl ? {} : { clip_skip: inp.clipSkip }),
    ...(inp.mode !== 'txt2img' ? { strength: inp.strength } : {}),
  });

  // The output: an intermediate image for the staging area, or a gallery image on the chosen board.
  const out = g.nodes[output];
  if (output === 'l2i') {
    // Renamed so that the staging area finds the result by one id in every mode.
    delete g.nodes.l2i;
    out.id = CANVAS_OUTPUT;
    g.nodes[CANVAS_OUTPUT] = out;
    for (const e of g.edges) {
      if (e.source.node_id === 'l2i') e.source.node_id = CANVAS_OUTPUT;
      if (e.destination.node_id === 'l2i') e.destination.node_id = CANVAS_OUTPUT;
    }
  }
  out.is_intermediate = inp.sendToCanvas;
  out.use_cache = false;
  if (!inp.sendToCanvas && inp.boardId) out.board = { board_id: inp.boardId };
  g.edge('core_metadata', 'metadata', CANVAS_OUTPUT, 'metadata');
  return { id: graphId, nodes: g.nodes, edges: g.edges };
}

/** The batch that enqueues a canvas graph: one run per seed, the seed set on noise and metadata. */
export function buildCanvasBatch(graph: Graph, seeds: number[], sendToCanvas: boolean) {
  return {
    prepend: false,
    batch: {
      origin: 'canvas',
      destination: sendToCanvas ? 'canvas' : 'gallery',
      graph,
      runs: 1,
      data: [
        [
          { node_path: 'noise', field_name: 'seed', items: seeds },
          { node_path: 'core_metadata', field_name: 'seed', items: seeds },
        ],
      ],
    },
  };
}
