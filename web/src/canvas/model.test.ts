// The document helpers: bounded undo/redo, the generation mode from the box's pixels, the denoise mask.
import { describe, expect, it } from 'vitest';
import { initHistory, push, redo, undo } from './history';
import { generationMode } from './mode';
import { emptyDoc, isCanvasDoc, snap8 } from './types';

function px(alphas: number[]): Uint8ClampedArray {
  const a = new Uint8ClampedArray(alphas.length * 4);
  alphas.forEach((v, i) => {
    a[i * 4] = 10;
    a[i * 4 + 3] = v;
  });
  return a;
}

describe('history', () => {
  it('undoes and redoes, and a new edit drops the redo list', () => {
    let h = initHistory(0);
    h = push(h, 1);
    h = push(h, 2);
    h = undo(h);
    expect(h.present).toBe(1);
    h = redo(h);
    expect(h.present).toBe(2);
    h = undo(push(undo(h), 5));
    expect(h.present).toBe(1);
    expect(redo(h).present).toBe(5);
    expect(redo(redo(h)).present).toBe(5);
  });
  it('is bounded', () => {
    let h = initHistory(0);
    for (let i = 1; i <= 100; i++) h = push(h, i, 10);
    expect(h.past.length).toBe(10);
    for (let i = 0; i < 20; i++) h = undo(h);
    expect(h.present).toBe(90);
  });
});

describe('generation mode', () => {
  it('follows the box content', () => {
    expect(generationMode(px([0, 0, 0, 0]), px([0, 0, 0, 0]))).toBe('txt2img');
    expect(generationMode(px([255, 255, 255, 255]), px([0, 0, 0, 0]))).toBe('img2img');
    expect(generationMode(px([255, 255, 255, 255]), px([0, 200, 0, 0]))).toBe('inpaint');
    expect(generationMode(px([255, 255, 0, 0]), px([0, 0, 0, 0]))).toBe('outpaint');
    expect(generationMode(px([255, 128, 255, 255]), null)).toBe('outpaint');
  });
});

describe('document', () => {
  it('snaps sizes to 8 and validates stored documents', () => {
    expect([snap8(3), snap8(515), snap8(516), snap8(1020)]).toEqual([8, 512, 520, 1024]);
    expect(isCanvasDoc(JSON.parse(JSON.stringify(emptyDoc())))).toBe(true);
    expect(isCanvasDoc({ version: 2 })).toBe(false);
    expect(isCanvasDoc(null)).toBe(false);
  });
});

describe('layer transforms', () => {
  it('maps points into and out of a scaled, rotated layer', async () => {
    const { docToLayer, layerToDoc, newLayer } = await import('./types');
    const l = { ...newLayer('raster', []), x: 10, y: 20, scaleX: 2, scaleY: 0.5, rotation: 30 };
    for (const [x, y] of [
      [0, 0],
      [5, -7],
      [100, 40],
    ]) {
      const d = layerToDoc(l, x, y);
      const back = docToLayer(l, d.x, d.y);
      expect(back.x).toBeCloseTo(x, 9);
      expect(back.y).toBeCloseTo(y, 9);
    }
    const q = layerToDoc({ ...l, rotation: 90, scaleX: 2, scaleY: 2 }, 1, 0);
    expect(q.x).toBeCloseTo(10, 9);
    expect(q.y).toBeCloseTo(22, 9);
  });
});

describe('layer bounds', () => {
  it('cover strokes with their width, rectangles and images, through the layer transform, ignoring eraser strokes', async () => {
    const { layersBounds } = await import('./render');
    const { emptyDoc } = await import('./types');
    const d = emptyDoc();
    const raster = d.layers.find((l) => l.kind === 'raster')!;
    raster.x = 100;
    raster.objects = [
      { type: 'line', id: 'a', tool: 'brush', points: [0, 0, 10, 0], size: 4, color: '#fff' },
      { type: 'line', id: 'b', tool: 'eraser', points: [500, 500, 600, 600], size: 4, color: '#fff' },
      { type: 'rect', id: 'c', x: 20, y: 20, width: 10, height: 5, color: '#fff' },
    ];
    expect(layersBounds(d, ['raster'])).toEqual({ x: 98, y: -2, width: 32, height: 27 });
    raster.scaleX = 2;
    raster.scaleY = 2;
    expect(layersBounds(d, ['raster'])).toEqual({ x: 96, y: -4, width: 64, height: 54 });
    expect(layersBounds(d, ['control'])).toBeNull();
  });
});
