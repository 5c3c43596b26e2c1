// The image the gallery's "Upscale" action hands to the Upscale screen, taken once when the screen opens.
import type { UpscaleImage } from './UpscaleGraph';

let inbox: UpscaleImage | null = null;

export function sendToUpscale(img: UpscaleImage): void {
  inbox = img;
}

export function takeUpscaleInbox(): UpscaleImage | null {
  const v = inbox;
  inbox = null;
  return v;
}
