import { describe, expect, it } from 'vitest';
import { buildBatch, buildGraph, defaultParams, fluxScheduler, modelDefaults, recallFromMetadata, SCHEDULERS, seedsFor, type GenParams } from './graph';
import { newControl, newIPAdapter } from './graphAdapters';
import type { ModelConfig } from './types';

const sd15: ModelConfig = { key: 'k1', hash: 'blake3:abc', name: 'tiny', base: 'sd-1', type: 'main' };
const sdxl: ModelConfig = { key: 'k2', hash: 'blake3:def', name: 'xl', base: 'sdxl', type: 'main' };
const p = (over: Partial<GenParams> = {}): GenParams => ({ ...defaultParams, model: sd15, positivePrompt: 'a cat', negativePrompt: 'dog', ...over });

function hasEdge(g: ReturnType<typeof buildGraph>, s: string, sf: string, d: string, df: string) {
  return g.edges.some((e) => e.source.node_id === s && e.source.field === sf && e.destination.node_id === d && e.destination.field === df);
}

describe('buildGraph', () => {
  it('builds the SD1.5 text-to-image graph of the spec', () => {
    const g = buildGraph(p({ boardId: 'board-1', steps: 20, cfgScale: 6, scheduler: 'dpmpp_2m_k', width: 640, height: 448 }));
    expect(Object.keys(g.nodes).sort()).toEqual(
      ['clip_skip', 'core_metadata', 'denoise_latents', 'l2i', 'model_loader', 'negative_prompt', 'noise', 'positive_prompt', 'seed'].sort(),
    );
    for (const [id, n] of Object.entries(g.nodes)) expect(n.id).toBe(id);
    expect(g.nodes.model_loader).toMatchObject({ type: 'main_model_loader', model: { key: 'k1', hash: 'blake3:abc', name: 'tiny', base: 'sd-1', type: 'main' } });
    expect(g.nodes.positive_prompt).toMatchObject({ type: 'compel', prompt: 'a cat' });
    expect(g.nodes.negative_prompt).toMatchObject({ type: 'compel', prompt: 'dog' });
    expect(g.nodes.noise).toMatchObject({ type: 'noise', width: 640, height: 448 });
    expect(g.nodes.denoise_latents).toMatchObject({ type: 'denoise_latents', steps: 20, cfg_scale: 6, scheduler: 'dpmpp_2m_k', denoising_start: 0, denoising_end: 1 });
    expect(g.nodes.l2i).toMatchObject({ type: 'l2i', is_intermediate: false, board: { board_id: 'board-1' } });
    expect(hasEdge(g, 'model_loader', 'clip', 'clip_skip', 'clip')).toBe(true);
    expect(hasEdge(g, 'clip_skip', 'clip', 'positive_prompt', 'clip')).toBe(true);
    expect(hasEdge(g, 'positive_prompt', 'conditioning', 'denoise_latents', 'positive_conditioning')).toBe(true);
    expect(hasEdge(g, 'negative_prompt', 'conditioning', 'denoise_latents', 'negative_conditioning')).toBe(true);
    expect(hasEdge(g, 'seed', 'value', 'noise', 'seed')).toBe(true);
    expect(hasEdge(g, 'noise', 'noise', 'denoise_latents', 'noise')).toBe(true);
    expect(hasEdge(g, 'denoise_latents', 'latents', 'l2i', 'latents')).toBe(true);
    expect(hasEdge(g, 'model_loader', 'vae', 'l2i', 'vae')).toBe(true);
    expect(hasEdge(g, 'core_metadata', 'metadata', 'l2i', 'metadata')).toBe(true);
    expect(g.nodes.core_metadata).toMatchObject({ positive_prompt: 'a cat', width: 640, height: 448, steps: 20, scheduler: 'dpmpp_2m_k', generation_mode: 'txt2img' });
  });

  it('leaves the board out for uncategorized', () => {
    expect(buildGraph(p()).nodes.l2i.board).toBeNull();
  });

  it('builds image to image with i2l and denoising_start', () => {
    const g = buildGraph(p({ initImage: { image_name: 'x.png', width: 512, height: 512 }, strength: 0.7 }));
    expect(g.nodes.i2l).toMatchObject({ type: 'i2l', image: { image_name: 'x.png' } });
    expect(g.nodes.denoise_latents.denoising_start).toBeCloseTo(0.3);
    expect(hasEdge(g, 'i2l', 'latents', 'denoise_latents', 'latents')).toBe(true);
    expect(g.nodes.core_metadata).toMatchObject({ generation_mode: 'img2img', strength: 0.7, init_image: 'x.png' });
  });

  it('builds SDXL with two CLIPs and no clip_skip', () => {
    const g = buildGraph(p({ model: sdxl }));
    expect(g.nodes.model_loader.type).toBe('sdxl_model_loader');
    expect(g.nodes.positive_prompt.type).toBe('sdxl_compel_prompt');
    expect(g.nodes.clip_skip).toBeUndefined();
    expect(hasEdge(g, 'model_loader', 'clip2', 'positive_prompt', 'clip2')).toBe(true);
  });

  it('routes the UNet and VAE through the seamless node when tiling', () => {
    expect(buildGraph(p()).nodes.seamless).toBeUndefined();
    const g = buildGraph(p({ seamlessX: true, initImage: { image_name: 'x.png', width: 512, height: 512 } }));
    expect(g.nodes.seamless).toMatchObject({ type: 'seamless', seamless_x: true, seamless_y: false });
    expect(hasEdge(g, 'model_loader', 'unet', 'seamless', 'unet')).toBe(true);
    expect(hasEdge(g, 'model_loader', 'vae', 'seamless', 'vae')).toBe(true);
    expect(hasEdge(g, 'seamless', 'unet', 'denoise_latents', 'unet')).toBe(true);
    expect(hasEdge(g, 'seamless', 'vae', 'l2i', 'vae')).toBe(true);
    expect(hasEdge(g, 'seamless', 'vae', 'i2l', 'vae')).toBe(true);
    expect(hasEdge(g, 'model_loader', 'unet', 'denoise_latents', 'unet')).toBe(false);
    expect(g.nodes.core_metadata).toMatchObject({ seamless_x: true, seamless_y: false });
    expect(recallFromMetadata({ seamless_x: true, seamless_y: false }, [])).toMatchObject({ seamlessX: true, seamlessY: false });
  });

  it('refuses without a model', () => {
    expect(() => buildGraph({ ...defaultParams })).toThrow(/model/);
  });
});

describe('batches and seeds', () => {
  it('uses consecutive fixed seeds and zips them with the metadata', () => {
    const b = buildBatch(p({ randomSeed: false, seed: 10, iterations: 3 }));
    expect(b.batch.data).toEqual([
      [
        { node_path: 'seed', field_name: 'value', items: [10, 11, 12] },
        { node_path: 'core_metadata', field_name: 'seed', items: [10, 11, 12] },
      ],
    ]);
    expect(b.batch.runs).toBe(1);
    expect(b.prepend).toBe(false);
  });
  it('draws random seeds', () => {
    let i = 0;
    expect(seedsFor(p({ randomSeed: true, iterations: 2 }), () => ++i)).toEqual([1, 2]);
  });
  it('has InvokeAI scheduler names', () => {
    const names = SCHEDULERS.map((s) => s.value);
    expect(names).toContain('euler');
    expect(names).toContain('dpmpp_2m_sde_k');
    expect(names).toHaveLength(30);
  });
});

describe('recall', () => {
  const md = { positive_prompt: 'p', negative_prompt: 'n', seed: 5, width: 768, height: 512, steps: 12, cfg_scale: 4, scheduler: 'lms', model: { key: 'k1', name: 'tiny' } };
  it('recalls all parameters', () => {
    expect(recallFromMetadata(md, [sd15])).toEqual({
      positivePrompt: 'p', negativePrompt: 'n', seed: 5, randomSeed: false, width: 768, height: 512, steps: 12, cfgScale: 4, scheduler: 'lms', model: sd15,
    });
  });
  it('recalls one group', () => {
    expect(recallFromMetadata(md, [], 'size')).toEqual({ width: 768, height: 512 });
    expect(recallFromMetadata(md, [], 'seed')).toEqual({ seed: 5, randomSeed: false });
    expect(recallFromMetadata(null, [])).toEqual({});
  });
});

describe('model defaults', () => {
  it('gives FLUX schnell 4 steps and leaves guidance alone; dev 28 steps at guidance 3.5', () => {
    expect(modelDefaults({ key: 's', hash: '', name: 's', base: 'flux', type: 'main', variant: 'schnell' })).toEqual({ steps: 4 });
    expect(modelDefaults({ key: 'd', hash: '', name: 'd', base: 'flux', type: 'main', variant: 'dev' })).toEqual({ steps: 28, guidance: 3.5 });
  });
  it("takes the model's default_settings over the variant's", () => {
    const m: ModelConfig = { key: 'd', hash: '', name: 'd', base: 'flux', type: 'main', variant: 'dev', default_settings: { steps: 20, guidance: 4, width: 768, height: 512 } };
    expect(modelDefaults(m)).toEqual({ steps: 20, guidance: 4, width: 768, height: 512 });
    expect(modelDefaults({ ...sd15, default_settings: { cfg_scale: 5, scheduler: 'lms' } })).toEqual({ cfgScale: 5, scheduler: 'lms' });
  });
  it('refuses a FLUX graph without its encoders', () => {
    expect(() => buildGraph(p({ model: { key: 'd', hash: '', name: 'd', base: 'flux', type: 'main', variant: 'dev' } }))).toThrow(/T5/);
  });
});

describe('LoRAs and adapters', () => {
  const lora: ModelConfig = { key: 'l', hash: 'h', name: 'style', base: 'sd-1', type: 'lora' };
  const cn: ModelConfig = { key: 'c', hash: 'h2', name: 'canny', base: 'sd-1', type: 'controlnet' };
  const ip: ModelConfig = { key: 'i', hash: 'h3', name: 'ipa', base: 'sd-1', type: 'ip_adapter' };
  it('leaves the graph as it was without any', () => {
    const g = buildGraph(p({ loras: [{ id: 'x', model: lora, weight: 1, isEnabled: false }] }));
    expect(Object.values(g.nodes).some((n) => n.type === 'lora_selector' || n.type === 'collect')).toBe(false);
    expect(hasEdge(g, 'model_loader', 'unet', 'denoise_latents', 'unet')).toBe(true);
    expect(g.nodes.core_metadata.loras).toBeUndefined();
  });
  it('uses the processed control image and keeps the original in the metadata', () => {
    const c = { ...newControl(cn), image: { image_name: 'a.png' }, processedImage: { image_name: 'a-canny.png' } };
    const g = buildGraph(p({ controls: [c] }));
    expect(g.nodes.control_net_0).toMatchObject({ type: 'controlnet', image: { image_name: 'a-canny.png' }, control_weight: 1, control_mode: 'balanced' });
    expect(g.nodes.core_metadata.controlnets).toEqual([expect.objectContaining({ image: { image_name: 'a.png' }, processed_image: { image_name: 'a-canny.png' } })]);
  });
  it('round-trips LoRAs, control layers and IP-Adapters through the metadata', () => {
    const c = { ...newControl(cn), weight: 0.8, beginStepPct: 0.25, endStepPct: 0.75, controlMode: 'more_prompt' as const, image: { image_name: 'a.png' }, processedImage: { image_name: 'a-canny.png' } };
    const i = { ...newIPAdapter(ip), weight: 0.6, method: 'composition' as const, image: { image_name: 'r.png' } };
    const params = p({ loras: [{ id: 'x', model: lora, weight: 0.4, isEnabled: true }], controls: [c], ipAdapters: [i] });
    const md = buildGraph(params).nodes.core_metadata as Record<string, unknown>;
    const back = recallFromMetadata(md, [sd15]);
    const again = buildGraph(p({ ...back }));
    expect(again.nodes.core_metadata).toEqual(md);
    expect(back.loras?.[0]).toMatchObject({ model: lora, weight: 0.4, isEnabled: true });
    expect(back.controls?.[0]).toMatchObject({ model: cn, weight: 0.8, beginStepPct: 0.25, endStepPct: 0.75, controlMode: 'more_prompt', processor: 'none' });
    expect(back.ipAdapters?.[0]).toMatchObject({ model: ip, weight: 0.6, method: 'composition', image: { image_name: 'r.png' } });
  });
  it('skips malformed metadata entries', () => {
    expect(recallFromMetadata({ loras: [{ weight: 1 }, 'x'], controlnets: [{ control_model: { key: 'c' } }] }, [])).toEqual({ loras: [], controls: [] });
  });
});

describe('FLUX recall', () => {
  it('brings the model, its encoders, VAE, guidance and LoRAs back from the metadata', () => {
    const mk = (key: string, base: string, type: string, variant?: string): ModelConfig => ({ key, hash: `h-${key}`, name: key, base, type, ...(variant ? { variant } : {}) });
    const dev = mk('dev', 'flux', 'main', 'dev');
    const params = p({
      model: dev,
      guidance: 4.5,
      steps: 12,
      t5Encoder: mk('t5', 'any', 't5_encoder'),
      clipEmbed: mk('clip', 'any', 'clip_embed'),
      fluxVAE: mk('ae', 'flux', 'vae'),
      loras: [{ id: 'x', model: mk('fl', 'flux', 'lora'), weight: 0.8, isEnabled: true }],
    });
    const md = buildGraph(params).nodes.core_metadata as Record<string, unknown>;
    const back = recallFromMetadata(md, [dev]);
    expect(back).toMatchObject({ model: dev, guidance: 4.5, steps: 12, t5Encoder: { key: 't5' }, clipEmbed: { key: 'clip' }, fluxVAE: { key: 'ae' } });
    expect(buildGraph(p({ ...back })).nodes.core_metadata).toEqual(md);
  });
});

describe('FLUX scheduler', () => {
  it('sends the chosen FLUX scheduler to flux_denoise and the metadata; an SD-only choice falls back to euler', () => {
    expect(fluxScheduler('heun')).toBe('heun');
    expect(fluxScheduler('lcm')).toBe('lcm');
    expect(fluxScheduler('dpmpp_2m_k')).toBe('euler');
    const mk = (key: string, base: string, type: string, variant?: string): ModelConfig => ({ key, hash: '', name: key, base, type, ...(variant ? { variant } : {}) });
    const g = buildGraph({
      ...defaultParams,
      positivePrompt: 'a fox',
      scheduler: 'heun',
      model: mk('dev', 'flux', 'main', 'dev'),
      t5Encoder: mk('t5', 'any', 't5_encoder'),
      clipEmbed: mk('clip', 'any', 'clip_embed'),
      fluxVAE: mk('ae', 'flux', 'vae'),
    });
    expect(g.nodes.denoise_latents).toMatchObject({ type: 'flux_denoise', scheduler: 'heun' });
    expect(g.nodes.core_metadata).toMatchObject({ scheduler: 'heun' });
  });
});
