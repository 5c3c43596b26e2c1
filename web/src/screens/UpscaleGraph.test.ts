import { describe, expect, it } from 'vitest';
import { buildUpscaleBatch, buildUpscaleGraph, checkUpscale, controlPassesFor, defaultUpscaleParams, denoisingStartFor, type UpscaleParams } from './UpscaleGraph';
import type { ModelConfig } from '../lib/types';

const esrgan: ModelConfig = { key: 'esr', hash: 'blake3:e', name: 'RealESRGAN_x4plus', base: 'any', type: 'spandrel_image_to_image' };
const sd15: ModelConfig = { key: 'sd', hash: 'blake3:s', name: 'tiny', base: 'sd-1', type: 'main' };
const sdxl: ModelConfig = { key: 'xl', hash: 'blake3:x', name: 'xl', base: 'sdxl', type: 'main' };
const tile15: ModelConfig = { key: 'cn', hash: 'blake3:c', name: 'tile', base: 'sd-1', type: 'controlnet' };
const tileXL: ModelConfig = { key: 'cnxl', hash: 'blake3:cx', name: 'tile xl', base: 'sdxl', type: 'controlnet' };
const image = { image_name: 'in.png', width: 96, height: 64 };

const cases: Record<string, UpscaleParams> = {
  plain: { ...defaultUpscaleParams, image, upscaleModel: esrgan, scale: 2, boardId: 'board-1' },
  'creative-sd1': {
    ...defaultUpscaleParams, image, upscaleModel: esrgan, scale: 4, creative: true, model: sd15, tileControlNet: tile15,
    creativity: 2, structure: -3, positivePrompt: 'a castle', negativePrompt: 'blur', steps: 12, cfgScale: 3, scheduler: 'euler', seed: 42,
    tileSize: 512, tileOverlap: 64,
  },
  'creative-sdxl': {
    ...defaultUpscaleParams, image, upscaleModel: esrgan, scale: 3, creative: true, model: sdxl, tileControlNet: tileXL, boardId: 'b2', seed: 7,
  },
};

// The expected graphs are checked in (UpscaleGraph.expected/*.json); UPDATE_EXPECTED=1 rewrites them after a
// deliberate change, which the diff then shows.
// (Node's fs, typed here: the web project has no Node types.)
interface NodeFs {
  readFileSync(p: string, enc: string): string;
  writeFileSync(p: string, data: string): void;
}
const fsModule = 'node:fs';
const fs: NodeFs = await import(/* @vite-ignore */ fsModule);
const update = !!(globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.UPDATE_EXPECTED;

function expected(name: string, got: unknown) {
  const url = `${(import.meta as { dirname?: string }).dirname}/UpscaleGraph.expected/${name}.json`;
  if (update) fs.writeFileSync(url, JSON.stringify(got, null, 2) + '\n');
  return JSON.parse(fs.readFileSync(url, 'utf8'));
}

describe('buildUpscaleGraph', () => {
  for (const [name, params] of Object.entries(cases)) {
    it(`builds the ${name} graph`, () => {
      const g = buildUpscaleGraph(params, 'graph-id');
      expect(JSON.parse(JSON.stringify(g))).toEqual(expected(name, g));
      for (const [id, n] of Object.entries(g.nodes)) expect(n.id).toBe(id);
      for (const e of g.edges) {
        expect(g.nodes[e.source.node_id]).toBeDefined();
        expect(g.nodes[e.destination.node_id]).toBeDefined();
      }
    });
  }

  it('maps creativity and structure as the Upscale tab does', () => {
    expect(denoisingStartFor(-10)).toBeCloseTo(0.998);
    expect(denoisingStartFor(0)).toBeCloseTo(0.499);
    expect(denoisingStartFor(10)).toBe(0);
    const [a, b] = controlPassesFor(0);
    expect(a.control_weight).toBeCloseTo(0.625);
    expect(a.end_step_percent).toBeCloseTo(0.55);
    expect(b.begin_step_percent).toBeCloseTo(0.55);
    expect(b.control_weight).toBeCloseTo(0.21375); // (10·0.0325 + 0.15)·0.45
    expect(b.end_step_percent).toBe(0.85);
  });

  it('puts the plain result in the board and the creative one only at the end', () => {
    const plain = buildUpscaleGraph(cases.plain, 'g');
    expect(plain.nodes.upscale).toMatchObject({ is_intermediate: false, board: { board_id: 'board-1' }, scale: 2 });
    const creative = buildUpscaleGraph(cases['creative-sdxl'], 'g');
    const saved = Object.values(creative.nodes).filter((n) => n.is_intermediate === false);
    expect(saved.map((n) => n.id)).toEqual(['l2i']);
    expect(creative.nodes.l2i.board).toEqual({ board_id: 'b2' });
  });

  it('refuses what cannot run', () => {
    expect(checkUpscale({ ...cases.plain, image: null })).toMatch(/image/);
    expect(checkUpscale({ ...cases.plain, upscaleModel: null })).toMatch(/upscaling model/);
    expect(checkUpscale({ ...cases.plain, scale: 17 })).toMatch(/scale/);
    expect(checkUpscale({ ...cases['creative-sd1'], tileControlNet: null })).toMatch(/tile ControlNet/);
    expect(checkUpscale({ ...cases['creative-sd1'], tileControlNet: tileXL })).toMatch(/another base/);
    expect(() => buildUpscaleGraph({ ...cases.plain, image: null }, 'g')).toThrow();
  });

  it('enqueues one run', () => {
    const b = buildUpscaleBatch(cases.plain, 'g');
    expect(b.batch).toMatchObject({ runs: 1, destination: 'gallery' });
  });
});
