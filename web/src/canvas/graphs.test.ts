// The canvas graph builders against the checked-in expected graphs (web/src/canvas/testdata/*.json), which
// internal/canvastest runs through the API on the tiny model. UPDATE_GRAPHS=1 rewrites them (review the diff).
/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest';
import { buildCanvasBatch, buildCanvasGraph, CANVAS_OUTPUT, type CanvasGraphInput, type ModelIdentifier } from './graphs';

const expected = import.meta.glob<Record<string, unknown>>('./testdata/*.json', { eager: true, import: 'default' });
// UPDATE_GRAPHS=1 (Node's environment) rewrites the files; reached through globalThis to keep Node's types out.
const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};

// Placeholders the Go test replaces with what it installed and uploaded.
const main: ModelIdentifier = { key: 'sd1-main', hash: 'sd1-main-hash', name: 'sd15-tiny-pipe', base: 'sd-1', type: 'main' };
const ipAdapter: ModelIdentifier = { key: 'sd1-ip-adapter', hash: 'sd1-ip-adapter-hash', name: 'ip-adapter_sd15-tiny', base: 'sd-1', type: 'ip_adapter' };
const controlnet: ModelIdentifier = { key: 'sd1-controlnet', hash: 'sd1-controlnet-hash', name: 'sd15-controlnet', base: 'sd-1', type: 'controlnet' };

const base: CanvasGraphInput = {
  mode: 'txt2img',
  model: main,
  positivePrompt: 'a red barn in a field',
  negativePrompt: 'blurry',
  width: 64,
  height: 64,
  steps: 3,
  cfgScale: 7.5,
  scheduler: 'euler',
  seed: 42,
  clipSkip: 0,
  strength: 0.7,
  infillMethod: 'patchmatch',
  maskBlur: 4,
  coherenceMode: 'Gaussian Blur',
  coherenceEdgeSize: 8,
  coherenceMinDenoise: 0,
  regions: [],
  controls: [],
  references: [],
  sendToCanvas: true,
  boardId: null,
};

const cases: Record<string, CanvasGraphInput> = {
  txt2img: base,
  img2img: { ...base, mode: 'img2img', initialImage: 'canvas-initial.png' },
  inpaint: { ...base, mode: 'inpaint', initialImage: 'canvas-initial.png', maskImage: 'canvas-mask-layer.png' },
  outpaint: { ...base, mode: 'outpaint', initialImage: 'canvas-outpaint.png', maskImage: 'canvas-outpaint-mask.png', infillMethod: 'tile' },
  regional: {
    ...base,
    regions: [
      { id: 'left', maskImage: 'canvas-region-left.png', positivePrompt: 'a cat', negativePrompt: '' },
      { id: 'right', maskImage: 'canvas-region-right.png', positivePrompt: 'a dog', negativePrompt: 'grass' },
    ],
  },
  reference: {
    ...base,
    references: [{ id: 'style', image: 'canvas-reference.png', model: ipAdapter, weight: 0.6, beginStepPct: 0, endStepPct: 1 }],
  },
  regional_reference: {
    ...base,
    regions: [
      {
        id: 'left',
        maskImage: 'canvas-region-left.png',
        positivePrompt: '',
        negativePrompt: '',
        references: [{ id: 'left_ref', image: 'canvas-reference.png', model: ipAdapter, weight: 0.8, beginStepPct: 0, endStepPct: 1 }],
      },
    ],
  },
  control: {
    ...base,
    controls: [
      {
        id: 'sketch',
        type: 'controlnet',
        image: 'canvas-control.png',
        model: controlnet,
        weight: 0.8,
        beginStepPct: 0,
        endStepPct: 1,
        controlMode: 'balanced',
      },
    ],
  },
};

describe('canvas graphs', () => {
  for (const [name, input] of Object.entries(cases)) {
    it(`${name} equals the checked-in graph`, async () => {
      const g = buildCanvasGraph(input);
      if (env.UPDATE_GRAPHS === '1') {
        // Run from web/ (vitest's root).
        const fs = (await import(/* @vite-ignore */ 'node:' + 'fs')) as { writeFileSync: (p: string, s: string) => void };
        fs.writeFileSync(`src/canvas/testdata/${name}.json`, JSON.stringify(g, null, 2) + '\n');
        return;
      }
      expect(g).toEqual(expected[`./testdata/${name}.json`]);
    });
  }

  it('every edge joins existing nodes and the output is the staged canvas_output', () => {
    for (const input of Object.values(cases)) {
      const g = buildCanvasGraph(input);
      for (const e of g.edges) {
        expect(g.nodes[e.source.node_id], JSON.stringify(e)).toBeDefined();
        expect(g.nodes[e.destination.node_id], JSON.stringify(e)).toBeDefined();
      }
      expect(g.nodes[CANVAS_OUTPUT].is_intermediate).toBe(true);
      expect(g.nodes[CANVAS_OUTPUT].board).toBeUndefined();
    }
  });

  it('img2img starts denoising at 1 - strength; inpaint pastes back onto the composite', () => {
    const g = buildCanvasGraph({ ...cases.img2img, strength: 0.25 });
    expect(g.nodes.denoise_latents.denoising_start).toBe(0.75);
    const ip = buildCanvasGraph(cases.inpaint);
    expect(ip.nodes[CANVAS_OUTPUT].type).toBe('invokeai_img_blend');
    expect(ip.nodes[CANVAS_OUTPUT].layer_base).toEqual({ image_name: 'canvas-initial.png' });
  });

  it('sending to the gallery puts the output on the board, not as an intermediate', () => {
    const g = buildCanvasGraph({ ...base, sendToCanvas: false, boardId: 'b1' });
    expect(g.nodes[CANVAS_OUTPUT]).toMatchObject({ is_intermediate: false, board: { board_id: 'b1' }, type: 'l2i' });
  });

  it('outpaint infill follows the chosen method', () => {
    const types = (['patchmatch', 'tile', 'color', 'cv2'] as const).map((m) => buildCanvasGraph({ ...cases.outpaint, infillMethod: m }).nodes.infill.type);
    expect(types).toEqual(['infill_patchmatch', 'infill_tile', 'infill_rgba', 'infill_cv2']);
  });

  it('inpaint without its images is refused', () => {
    expect(() => buildCanvasGraph({ ...base, mode: 'inpaint' })).toThrow(/composite/);
  });

  it('a regional reference image is an ip_adapter masked by its region, beside the global ones', () => {
    const g = buildCanvasGraph({ ...cases.regional_reference, references: cases.reference.references });
    const into = (id: string) => g.edges.filter((e) => e.destination.node_id === id).map((e) => `${e.source.node_id}.${e.source.field}->${e.destination.field}`);
    expect(into('ip_adapter_left_ref')).toEqual(['region_mask_left.mask->mask']);
    expect(into('ip_adapter_style')).toEqual([]);
    expect(into('ip_adapter_collector').sort()).toEqual(['ip_adapter_left_ref.ip_adapter->item', 'ip_adapter_style.ip_adapter->item']);
    expect(into('denoise_latents')).toContain('ip_adapter_collector.collection->ip_adapter');
    // For another base, the region with nothing else to give is left out entirely.
    const other = { ...ipAdapter, base: 'sdxl' };
    const none = buildCanvasGraph({ ...cases.regional_reference, regions: [{ ...cases.regional_reference.regions[0], references: [{ ...cases.reference.references[0], model: other }] }] });
    expect(Object.values(none.nodes).some((n) => n.type === 'ip_adapter' || n.type === 'alpha_mask_to_tensor' || n.type === 'collect' && n.id === 'ip_adapter_collector')).toBe(false);
  });

  it('a control layer for another base is left out', () => {
    const g = buildCanvasGraph({ ...cases.control, controls: [{ ...cases.control.controls[0], model: { ...controlnet, base: 'sdxl' } }] });
    expect(Object.values(g.nodes).some((n) => n.type === 'controlnet')).toBe(false);
  });

  it('the batch sets the seed on noise and metadata', () => {
    const b = buildCanvasBatch(buildCanvasGraph(base), [1, 2], true);
    expect(b.batch.destination).toBe('canvas');
    expect(b.batch.data[0].map((d) => d.node_path)).toEqual(['noise', 'core_metadata']);
  });
});

describe('SDXL', () => {
  it('uses the SDXL loader and prompts, both CLIPs reaching the regional prompts', () => {
    const xl: ModelIdentifier = { ...main, key: 'xl', base: 'sdxl' };
    const g = buildCanvasGraph({ ...cases.regional, model: xl, mode: 'inpaint', initialImage: 'i.png', maskImage: 'm.png' });
    expect(g.nodes.model_loader.type).toBe('sdxl_model_loader');
    expect(g.nodes.pos_cond.type).toBe('sdxl_compel_prompt');
    expect(g.nodes.clip_skip).toBeUndefined();
    const into = (id: string) => g.edges.filter((e) => e.destination.node_id === id).map((e) => `${e.source.node_id}.${e.source.field}->${e.destination.field}`).sort();
    expect(into('region_positive_cond_left')).toEqual(['model_loader.clip->clip', 'model_loader.clip2->clip2', 'region_mask_left.mask->mask']);
    expect(g.nodes.core_metadata.generation_mode).toBe('sdxl_inpaint');
    expect(g.nodes.i2l.fp32).toBe(true);
  });
});
