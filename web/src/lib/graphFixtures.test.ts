/// <reference types="node" />
// The graphs the Generate screen enqueues, compared whole with the expected graphs checked in under
// src/lib/testdata/graphs (reviewed against InvokeAI's Generate-tab graphs: node types, field names, edges, metadata).
// UPDATE_GRAPHS=1 npx vitest run src/lib/graphFixtures.test.ts rewrites them; review the diff before committing.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildGraph, defaultParams, type GenParams } from './graph';
import { buildProcessorGraph, newControl, newIPAdapter } from './graphAdapters';
import type { ModelConfig } from './types';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'testdata', 'graphs');

function expectGraph(name: string, graph: unknown) {
  const file = join(dir, `${name}.json`);
  const got = JSON.parse(JSON.stringify({ ...(graph as object), id: name }));
  if (process.env.UPDATE_GRAPHS === '1') {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, JSON.stringify(got, null, 2) + '\n');
  }
  expect(existsSync(file), `${file} is missing (run with UPDATE_GRAPHS=1)`).toBe(true);
  expect(got).toEqual(JSON.parse(readFileSync(file, 'utf8')));
}

const m = (key: string, name: string, base: string, type: string, extra: Partial<ModelConfig> = {}): ModelConfig => ({ key, hash: `blake3:${key}`, name, base, type, ...extra });
const sd15 = m('main-sd15', 'tiny', 'sd-1', 'main');
const sdxl = m('main-sdxl', 'xl', 'sdxl', 'main');
const loraA = m('lora-a', 'style', 'sd-1', 'lora');
const loraB = m('lora-b', 'detail', 'sd-1', 'lora');
const loraXL = m('lora-xl', 'xl-style', 'sdxl', 'lora');
const cn = m('cn-1', 'canny-cn', 'sd-1', 'controlnet');
const t2i = m('t2i-1', 'sketch-t2i', 'sd-1', 't2i_adapter');
const t2iXL = m('t2i-xl', 'xl-t2i', 'sdxl', 't2i_adapter');
const ip = m('ip-1', 'ip-adapter-sd15', 'sd-1', 'ip_adapter');
const fluxDev = m('flux-dev', 'flux-dev-tiny', 'flux', 'main', { variant: 'dev' });
const fluxSchnell = m('flux-schnell', 'flux-schnell-tiny', 'flux', 'main', { variant: 'schnell' });
const t5 = m('t5', 't5-tiny', 'any', 't5_encoder');
const clipEmbed = m('clip-l', 'clip-tiny', 'any', 'clip_embed');
const fluxVae = m('ae', 'ae-tiny', 'flux', 'vae');

const base = (over: Partial<GenParams>): GenParams => ({
  ...defaultParams,
  positivePrompt: 'a photo of a cat <tiny-ti>',
  negativePrompt: 'blurry',
  width: 64,
  height: 64,
  steps: 10,
  seed: 7,
  randomSeed: false,
  boardId: 'board-1',
  ...over,
});

describe('expected graphs', () => {
  it('SD-1: two LoRAs (one disabled, one of another base skipped), a ControlNet on a processed image, a T2I-Adapter and an IP-Adapter', () => {
    const control = { ...newControl(cn), id: 'c1', weight: 0.8, beginStepPct: 0.2, endStepPct: 0.7, controlMode: 'more_control' as const, image: { image_name: 'shapes.png' }, processor: 'canny_edge_detection' as const, processedImage: { image_name: 'shapes-canny.png' } };
    const adapter = { ...newControl(t2i), id: 'c2', weight: 0.5, resizeMode: 'crop_resize' as const, image: { image_name: 'sketch.png' }, processor: 'none' as const };
    const noImage = { ...newControl(cn), id: 'c3' }; // no image: left out
    const ipa = { ...newIPAdapter(ip), id: 'i1', weight: 0.6, method: 'style' as const, image: { image_name: 'ref.png' } };
    const g = buildGraph(
      base({
        model: sd15,
        clipSkip: 1,
        loras: [
          { id: 'l1', model: loraA, weight: 0.75, isEnabled: true },
          { id: 'l2', model: loraB, weight: 0.5, isEnabled: true },
          { id: 'l3', model: loraB, weight: 1, isEnabled: false },
          { id: 'l4', model: loraXL, weight: 1, isEnabled: true },
        ],
        controls: [control, adapter, noImage],
        ipAdapters: [ipa],
      }),
    );
    expectGraph('sd1-loras-control-t2i-ip', g);
  });

  it('SD-1 with seamless tiling routes the LoRA loader after the seamless node', () => {
    expectGraph('sd1-lora-seamless', buildGraph(base({ model: sd15, seamlessX: true, loras: [{ id: 'l1', model: loraA, weight: 1, isEnabled: true }] })));
  });

  it('SDXL: a LoRA through sdxl_lora_collection_loader (clip and clip2) and a T2I-Adapter', () => {
    const adapter = { ...newControl(t2iXL), id: 'c1', image: { image_name: 'sketch.png' }, processor: 'none' as const };
    expectGraph('sdxl-lora-t2i', buildGraph(base({ model: sdxl, loras: [{ id: 'l1', model: loraXL, weight: 0.9, isEnabled: true }], controls: [adapter] })));
  });

  it('FLUX dev text to image', () => {
    expectGraph('flux-dev-txt2img', buildGraph(base({ model: fluxDev, steps: 28, guidance: 3.5, t5Encoder: t5, clipEmbed, fluxVAE: fluxVae })));
  });

  it('FLUX dev with a FLUX LoRA through flux_lora_collection_loader (an SD LoRA is left out)', () => {
    const fluxLora = m('lora-flux', 'flux-style', 'flux', 'lora');
    const loras = [
      { id: 'l1', model: fluxLora, weight: 0.8, isEnabled: true },
      { id: 'l2', model: loraA, weight: 1, isEnabled: true },
    ];
    expectGraph('flux-dev-lora', buildGraph(base({ model: fluxDev, steps: 28, guidance: 3.5, t5Encoder: t5, clipEmbed, fluxVAE: fluxVae, loras })));
  });

  it('FLUX schnell image to image (no guidance in the metadata)', () => {
    const g = buildGraph(base({ model: fluxSchnell, steps: 4, t5Encoder: t5, clipEmbed, fluxVAE: fluxVae, initImage: { image_name: 'init.png', width: 64, height: 64 }, strength: 0.6 }));
    expectGraph('flux-schnell-img2img', g);
  });

  it('processor graphs', () => {
    for (const proc of ['canny_edge_detection', 'content_shuffle', 'color_map', 'img_blur', 'tile'] as const) {
      expectGraph(`processor-${proc}`, buildProcessorGraph(proc, { image_name: 'shapes.png', width: 96, height: 64 }));
    }
    const tuned = { low_threshold: 50, high_threshold: 150, radius: 3, blur_type: 'box' as const, down_sampling_rate: 4 };
    for (const proc of ['canny_edge_detection', 'img_blur', 'tile'] as const) {
      expectGraph(`processor-${proc}-tuned`, buildProcessorGraph(proc, { image_name: 'shapes.png', width: 96, height: 64 }, tuned));
    }
  });
});
