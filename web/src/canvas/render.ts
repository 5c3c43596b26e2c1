// Rasterising the document for generation, filters and export, with the browser's own 2D canvas (Konva draws
// the screen; here a layer is drawn once into an offscreen canvas so that its eraser strokes only cut through
// that layer, then layers are combined with their opacity).
import type { CanvasDoc, Layer, LayerKind, Rect } from './types';
import { displayColor, layerToDoc } from './types';

const imageCache = new Map<string, Promise<HTMLImageElement>>();

export function imageUrl(name: string): string {
  return `/api/v1/images/i/${encodeURIComponent(name)}/full`;
}

/** Forgets loaded images (another account signs in: its canvas must not draw what the previous one could read). */
export function clearImageCache(): void {
  imageCache.clear();
}

/** Loads (once) a gallery image by name. */
export function loadImage(name: string): Promise<HTMLImageElement> {
  let p = imageCache.get(name);
  if (!p) {
    p = new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => {
        imageCache.delete(name);
        reject(new Error(`could not load image ${name}`));
      };
      img.src = imageUrl(name);
    });
    imageCache.set(name, p);
  }
  return p;
}

export function makeCanvas(w: number, h: number): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = w;
  c.height = h;
  return c;
}

function ctx2d(c: HTMLCanvasElement): CanvasRenderingContext2D {
  const ctx = c.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('2D canvas unavailable');
  return ctx;
}

/** Draws one layer's objects into a new canvas covering rect (document coordinates); flat: one colour for all. */
export async function rasterizeLayer(layer: Layer, rect: Rect, flat?: string | null): Promise<HTMLCanvasElement> {
  const c = makeCanvas(rect.width, rect.height);
  const ctx = ctx2d(c);
  ctx.translate(layer.x - rect.x, layer.y - rect.y);
  ctx.rotate(((layer.rotation ?? 0) * Math.PI) / 180);
  ctx.scale(layer.scaleX ?? 1, layer.scaleY ?? 1);
  const images = await Promise.all(layer.objects.map((o) => (o.type === 'image' ? loadImage(o.image_name) : Promise.resolve(null))));
  layer.objects.forEach((o, i) => {
    ctx.globalCompositeOperation = o.type === 'line' && o.tool === 'eraser' ? 'destination-out' : 'source-over';
    if (o.type === 'line') {
      ctx.strokeStyle = flat ?? o.color;
      ctx.fillStyle = flat ?? o.color;
      ctx.lineWidth = o.size;
      ctx.lineCap = 'round';
      ctx.lineJoin = 'round';
      if (o.pressure && o.points.length > 2) {
        // Pen strokes: each segment as wide as the pressure at its ends says.
        for (let k = 2; k < o.points.length; k += 2) {
          ctx.lineWidth = Math.max(0.5, (o.size * (o.pressure[k / 2 - 1] + o.pressure[k / 2])) / 2);
          ctx.beginPath();
          ctx.moveTo(o.points[k - 2], o.points[k - 1]);
          ctx.lineTo(o.points[k], o.points[k + 1]);
          ctx.stroke();
        }
        return;
      }
      if (o.points.length <= 2) {
        ctx.beginPath();
        ctx.arc(o.points[0], o.points[1], o.size / 2, 0, Math.PI * 2);
        ctx.fill();
        return;
      }
      ctx.beginPath();
      ctx.moveTo(o.points[0], o.points[1]);
      for (let k = 2; k < o.points.length; k += 2) ctx.lineTo(o.points[k], o.points[k + 1]);
      ctx.stroke();
    } else if (o.type === 'rect') {
      ctx.fillStyle = flat ?? o.color;
      ctx.fillRect(o.x, o.y, o.width, o.height);
    } else {
      const img = images[i];
      if (img) ctx.drawImage(img, o.x, o.y, o.width, o.height);
    }
  });
  return c;
}

/** The visible layers of some kinds, bottom first, combined with their opacity (ignore opacity for masks). */
export async function composite(doc: CanvasDoc, rect: Rect, kinds: LayerKind[], opts: { useOpacity: boolean; background?: string } = { useOpacity: true }): Promise<HTMLCanvasElement> {
  const out = makeCanvas(rect.width, rect.height);
  const ctx = ctx2d(out);
  if (opts.background) {
    ctx.fillStyle = opts.background;
    ctx.fillRect(0, 0, rect.width, rect.height);
  }
  const layers = doc.layers.filter((l) => l.visible && kinds.includes(l.kind)).reverse();
  for (const l of layers) {
    const c = await rasterizeLayer(l, rect, l.kind === 'inpaint_mask' || l.kind === 'regional_guidance' ? '#000000' : null);
    ctx.globalAlpha = opts.useOpacity ? l.opacity : 1;
    ctx.drawImage(c, 0, 0);
  }
  ctx.globalAlpha = 1;
  return out;
}

export function pixels(c: HTMLCanvasElement): Uint8ClampedArray {
  return ctx2d(c).getImageData(0, 0, c.width, c.height).data;
}

export function toPNG(c: HTMLCanvasElement): Promise<Blob> {
  return new Promise((resolve, reject) => c.toBlob((b) => (b ? resolve(b) : reject(new Error('PNG encoding failed'))), 'image/png'));
}

/** The bounds of everything drawn on the given layers (document coordinates), or null when empty. */
export function layersBounds(doc: CanvasDoc, kinds: LayerKind[]): Rect | null {
  let x0 = Infinity,
    y0 = Infinity,
    x1 = -Infinity,
    y1 = -Infinity;
  for (const l of doc.layers) {
    if (!l.visible || !kinds.includes(l.kind)) continue;
    for (const o of l.objects) {
      let a: Rect;
      if (o.type === 'line') {
        let minX = Infinity,
          minY = Infinity,
          maxX = -Infinity,
          maxY = -Infinity;
        for (let k = 0; k < o.points.length; k += 2) {
          minX = Math.min(minX, o.points[k]);
          maxX = Math.max(maxX, o.points[k]);
          minY = Math.min(minY, o.points[k + 1]);
          maxY = Math.max(maxY, o.points[k + 1]);
        }
        if (o.tool === 'eraser') continue;
        a = { x: minX - o.size / 2, y: minY - o.size / 2, width: maxX - minX + o.size, height: maxY - minY + o.size };
      } else a = o;
      for (const [cx, cy] of [
        [a.x, a.y],
        [a.x + a.width, a.y],
        [a.x, a.y + a.height],
        [a.x + a.width, a.y + a.height],
      ]) {
        const q = layerToDoc(l, cx, cy);
        x0 = Math.min(x0, q.x);
        y0 = Math.min(y0, q.y);
        x1 = Math.max(x1, q.x);
        y1 = Math.max(y1, q.y);
      }
    }
  }
  if (!isFinite(x0)) return null;
  return { x: Math.floor(x0), y: Math.floor(y0), width: Math.ceil(x1) - Math.floor(x0), height: Math.ceil(y1) - Math.floor(y0) };
}

export { displayColor };
