// Which generation the content inside the box calls for, as InvokeAI's canvas decides it (docs/canvas.md):
// nothing drawn → text-to-image; transparent pixels → outpaint; opaque with a mask → inpaint; otherwise
// image-to-image.

export type GenerationMode = 'txt2img' | 'img2img' | 'inpaint' | 'outpaint';

/** rasterAlpha / maskAlpha: RGBA pixel data of the raster composite and the inpaint mask composite in the box. */
export function generationMode(raster: Uint8ClampedArray, mask: Uint8ClampedArray | null): GenerationMode {
  let transparent = 0;
  let opaque = 0;
  const n = raster.length / 4;
  for (let i = 3; i < raster.length; i += 4) {
    if (raster[i] === 0) transparent++;
    else if (raster[i] === 255) opaque++;
  }
  if (transparent === n) return 'txt2img';
  if (opaque !== n) return 'outpaint';
  if (mask) {
    for (let i = 3; i < mask.length; i += 4) if (mask[i] !== 0) return 'inpaint';
  }
  return 'img2img';
}
