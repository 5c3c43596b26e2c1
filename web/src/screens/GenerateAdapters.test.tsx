// The Generate screen's LoRA, embedding, Control / IP-Adapter and FLUX controls, driven as a user would, with the
// enqueued graph checked.
import { useState } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { GenerateScreen } from './Generate';
import { defaultParams, type GenParams } from '../lib/graph';
import { board, bob, mockApp, stubFetch, WithApp } from '../test/mockApp';
import type { Board, ModelConfig } from '../lib/types';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const mk = (key: string, name: string, base: string, type: string, extra: Partial<ModelConfig> = {}): ModelConfig => ({ key, hash: `h-${key}`, name, base, type, ...extra });
const sd15 = mk('m1', 'tiny', 'sd-1', 'main');
const fluxDev = mk('fd', 'flux-dev-tiny', 'flux', 'main', { variant: 'dev' });
const fluxSchnell = mk('fs', 'flux-schnell-tiny', 'flux', 'main', { variant: 'schnell' });
const all = [
  sd15,
  fluxDev,
  fluxSchnell,
  mk('l1', 'watercolor', 'sd-1', 'lora'),
  mk('l2', 'detailer', 'sd-1', 'lora'),
  mk('l3', 'xl-only', 'sdxl', 'lora'),
  mk('e1', 'tiny-ti', 'sd-1', 'embedding'),
  mk('c1', 'canny-cn', 'sd-1', 'controlnet'),
  mk('i1', 'ip-tiny', 'sd-1', 'ip_adapter'),
  mk('t5', 't5-tiny', 'any', 't5_encoder'),
  mk('cl', 'clip-tiny', 'any', 'clip_embed'),
  mk('ae', 'ae-tiny', 'flux', 'vae'),
];

function Harness({ initial, mains, boards = [] }: { initial: Partial<GenParams>; mains: ModelConfig[]; boards?: Board[] }) {
  const [params, setState] = useState<GenParams>({ ...defaultParams, ...initial });
  const app = mockApp({ user: bob, boards, models: mains, params, setParams: (p: Partial<GenParams>) => setState((o) => ({ ...o, ...p })) });
  return (
    <WithApp app={app}>
      <GenerateScreen />
    </WithApp>
  );
}

const enqueued = (calls: { url: string; init?: RequestInit }[]) =>
  calls.filter((c) => c.url.startsWith('/api/v1/queue/default/enqueue_batch')).map((c) => JSON.parse(String(c.init!.body)).batch.graph);

describe('Generate: LoRAs and embeddings', () => {
  it('adds LoRAs of the model base with weights and toggles, and enqueues them', async () => {
    const calls = stubFetch({ '/api/v2/models/': { models: all }, '/api/v1/images/': { items: [], total: 0, limit: 12, offset: 0 }, '/api/v1/queue/default/enqueue_batch': { enqueued: 1, item_ids: [1] } });
    render(<Harness initial={{ model: sd15, positivePrompt: 'a fox' }} mains={[sd15]} />);
    await screen.findByRole('button', { name: 'Add LoRA watercolor' }, { timeout: 5000 });
    expect(screen.queryByRole('button', { name: 'Add LoRA xl-only' })).toBeNull();
    fireEvent.change(screen.getByLabelText('Search LoRAs'), { target: { value: 'deta' } });
    expect(screen.queryByRole('button', { name: 'Add LoRA watercolor' })).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Add LoRA detailer' }));
    fireEvent.change(screen.getByLabelText('Search LoRAs'), { target: { value: '' } });
    fireEvent.click(screen.getByRole('button', { name: 'Add LoRA watercolor' }));
    fireEvent.change(screen.getByLabelText('LoRA weight detailer'), { target: { value: '125' } });
    fireEvent.click(screen.getByLabelText('Enable LoRA watercolor'));
    expect(document.querySelector('form')!.checkValidity()).toBe(true);
    fireEvent.click(screen.getByRole('button', { name: 'Invoke' }));
    await waitFor(() => expect(enqueued(calls)).toHaveLength(1), { timeout: 5000 });
    const g = enqueued(calls)[0];
    const selectors = Object.values(g.nodes as Record<string, { type: string; lora?: { name: string }; weight?: number }>).filter((n) => n.type === 'lora_selector');
    expect(selectors.map((n) => [n.lora!.name, n.weight])).toEqual([['detailer', 1.25]]);
    expect(g.nodes.lora_collection_loader.type).toBe('lora_collection_loader');
    expect(g.nodes.core_metadata.loras).toEqual([{ model: { key: 'l2', hash: 'h-l2', name: 'detailer', base: 'sd-1', type: 'lora' }, weight: 1.25 }]);
  });

  it('inserts an embedding into either prompt', async () => {
    stubFetch({ '/api/v2/models/': { models: all }, '/api/v1/images/': { items: [], total: 0, limit: 12, offset: 0 } });
    render(<Harness initial={{ model: sd15, positivePrompt: 'a fox', negativePrompt: '' }} mains={[sd15]} />);
    await screen.findByLabelText('Embedding', {}, { timeout: 5000 });
    fireEvent.click(screen.getByRole('button', { name: 'Add to Negative Prompt' }));
    fireEvent.click(screen.getByRole('button', { name: 'Add to Prompt' }));
    expect((screen.getByLabelText('Negative Prompt') as HTMLTextAreaElement).value).toBe('<tiny-ti>');
    expect((screen.getByLabelText('Prompt') as HTMLTextAreaElement).value).toBe('a fox <tiny-ti>');
  });
});

describe('Generate: control adapters', () => {
  it('processes a gallery image through the queue, previews it and sends it to the ControlNet; adds an IP-Adapter', async () => {
    const image = { image_name: 'shapes.png', thumbnail_url: 'api/v1/images/i/shapes.png/thumbnail', width: 64, height: 64 };
    const calls = stubFetch({
      '/api/v2/models/': { models: all },
      '/api/v1/images/': { items: [image], total: 1, limit: 30, offset: 0 },
      '/api/v1/queue/default/enqueue_batch': { enqueued: 1, item_ids: [41] },
      '/api/v1/queue/default/i/41': { status: 'completed', session: { source_prepared_mapping: { processor: ['p-1'] }, results: { 'p-1': { image: { image_name: 'shapes-canny.png' }, width: 64, height: 64 } } } },
    });
    render(<Harness initial={{ model: sd15, positivePrompt: 'a fox' }} mains={[sd15]} boards={[board({ board_id: 'refs', board_name: 'References', user_id: bob.user_id })]} />);
    // The button is there, disabled, until the installed models have loaded.
    const add = (await screen.findByRole('button', { name: 'Add Control' })) as HTMLButtonElement;
    await waitFor(() => expect(add.disabled).toBe(false), { timeout: 5000 });
    fireEvent.click(add);
    const layer = await screen.findByRole('group', { name: 'Control 1' });
    expect((within(layer).getByLabelText('Control Model') as HTMLSelectElement).value).toBe('c1');
    fireEvent.change(within(layer).getByLabelText('Begin %'), { target: { value: '20' } });
    fireEvent.change(within(layer).getByLabelText('Control Mode'), { target: { value: 'more_control' } });
    fireEvent.click(within(layer).getByRole('button', { name: 'From Gallery' }));
    fireEvent.click(await within(layer).findByRole('button', { name: 'Use shapes.png' }, { timeout: 5000 }));
    const preview = (await screen.findByTestId('processed-preview', {}, { timeout: 5000 })) as HTMLImageElement;
    expect(preview.src).toContain('shapes-canny.png');
    const proc = enqueued(calls)[0];
    expect(proc.nodes.processor).toMatchObject({ type: 'canny_edge_detection', image: { image_name: 'shapes.png' }, low_threshold: 100, high_threshold: 200 });
    // A changed threshold runs the processor again with it.
    fireEvent.change(within(layer).getByLabelText('Low Threshold'), { target: { value: '50' } });
    expect(screen.queryByTestId('processed-preview')).toBeNull();
    await screen.findByTestId('processed-preview', {}, { timeout: 5000 });
    expect(enqueued(calls)[1].nodes.processor).toMatchObject({ type: 'canny_edge_detection', low_threshold: 50, high_threshold: 200 });

    fireEvent.click(screen.getByRole('button', { name: 'Add IP-Adapter' }));
    const ipl = await screen.findByRole('group', { name: 'IP-Adapter 1' });
    fireEvent.change(within(ipl).getByLabelText('Method'), { target: { value: 'style' } });
    fireEvent.click(within(ipl).getByRole('button', { name: 'From Gallery' }));
    // Another board can be browsed.
    fireEvent.change(within(ipl).getByLabelText('Browse Board'), { target: { value: 'refs' } });
    await waitFor(() => expect(calls.some((c) => c.url.startsWith('/api/v1/images/?') && c.url.includes('board_id=refs'))).toBe(true), { timeout: 5000 });
    fireEvent.click(await within(ipl).findByRole('button', { name: 'Use shapes.png' }, { timeout: 5000 }));

    fireEvent.click(screen.getByRole('button', { name: 'Invoke' }));
    await waitFor(() => expect(enqueued(calls)).toHaveLength(3), { timeout: 5000 });
    const g = enqueued(calls)[2];
    expect(g.nodes.control_net_0).toMatchObject({ type: 'controlnet', image: { image_name: 'shapes-canny.png' }, begin_step_percent: 0.2, control_mode: 'more_control' });
    expect(g.nodes.ip_adapter_0).toMatchObject({ type: 'ip_adapter', image: { image_name: 'shapes.png' }, method: 'style', ip_adapter_model: { key: 'i1' } });
    expect(g.nodes.core_metadata.controlnets[0]).toMatchObject({ image: { image_name: 'shapes.png' }, processed_image: { image_name: 'shapes-canny.png' } });
  });

  it('refuses to invoke while a control image is still processing', async () => {
    stubFetch({
      '/api/v2/models/': { models: all },
      '/api/v1/images/': { items: [], total: 0, limit: 12, offset: 0 },
      '/api/v1/queue/default/enqueue_batch': { enqueued: 1, item_ids: [7] },
      '/api/v1/queue/default/i/7': { status: 'in_progress' },
    });
    const control = { id: 'c', model: all[7], weight: 1, beginStepPct: 0, endStepPct: 1, controlMode: 'balanced' as const, resizeMode: 'just_resize' as const, image: { image_name: 'a.png' }, processor: 'color_map' as const, processedImage: null, isEnabled: true };
    render(<Harness initial={{ model: sd15, controls: [control] }} mains={[sd15]} />);
    await screen.findByText('Processing…', {}, { timeout: 5000 });
    fireEvent.click(screen.getByRole('button', { name: 'Invoke' }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/still being processed/);
  });
});

describe('Generate: FLUX', () => {
  it('replaces a recalled encoder that is not installed', async () => {
    stubFetch({ '/api/v2/models/': { models: all }, '/api/v1/images/': { items: [], total: 0, limit: 12, offset: 0 } });
    render(<Harness initial={{ model: fluxDev, t5Encoder: mk('gone', 'gone', 'any', 't5_encoder'), clipEmbed: all[10] }} mains={[fluxDev]} />);
    await waitFor(() => expect((screen.getByLabelText('T5 Encoder') as HTMLSelectElement).value).toBe('t5'), { timeout: 5000 });
    expect((screen.getByLabelText('CLIP Embed') as HTMLSelectElement).value).toBe('cl');
  });

  it('offers the encoders, shows guidance for dev only and applies the variant defaults', async () => {
    const calls = stubFetch({ '/api/v2/models/': { models: all }, '/api/v1/images/': { items: [], total: 0, limit: 12, offset: 0 }, '/api/v1/queue/default/enqueue_batch': { enqueued: 1, item_ids: [1] } });
    render(<Harness initial={{ model: sd15, positivePrompt: 'a photo of a cat' }} mains={[sd15, fluxDev, fluxSchnell]} />);
    const add = (await screen.findByRole('button', { name: 'Add Control' })) as HTMLButtonElement;
    await waitFor(() => expect(add.disabled).toBe(false), { timeout: 5000 });
    fireEvent.change(screen.getByLabelText('Model'), { target: { value: 'fd' } });
    await waitFor(() => expect((screen.getByLabelText('T5 Encoder') as HTMLSelectElement).value).toBe('t5'));
    expect((screen.getByLabelText('CLIP Embed') as HTMLSelectElement).value).toBe('cl');
    expect((screen.getByLabelText('VAE') as HTMLSelectElement).value).toBe('ae');
    expect((screen.getByLabelText('Steps') as HTMLInputElement).value).toBe('28');
    expect((screen.getByLabelText('Guidance') as HTMLInputElement).value).toBe('3.5');
    for (const gone of ['CFG Scale', 'Negative Prompt', 'CLIP Skip']) expect(screen.queryByLabelText(gone)).toBeNull();
    // FLUX offers flux_denoise's own schedulers only.
    const scheduler = screen.getByLabelText('Scheduler') as HTMLSelectElement;
    expect(Array.from(scheduler.options).map((o) => o.value)).toEqual(['euler', 'heun', 'lcm']);
    expect(screen.queryByRole('button', { name: 'Add Control' })).toBeNull();
    fireEvent.change(screen.getByLabelText('Model'), { target: { value: 'fs' } });
    expect((screen.getByLabelText('Steps') as HTMLInputElement).value).toBe('4');
    expect(screen.queryByLabelText('Guidance')).toBeNull();
    fireEvent.change(screen.getByLabelText('Scheduler'), { target: { value: 'heun' } });
    fireEvent.click(screen.getByRole('button', { name: 'Invoke' }));
    await waitFor(() => expect(enqueued(calls)).toHaveLength(1), { timeout: 5000 });
    const g = enqueued(calls)[0];
    expect(g.nodes.model_loader).toMatchObject({ type: 'flux_model_loader', model: { key: 'fs' }, t5_encoder_model: { key: 't5' }, clip_embed_model: { key: 'cl' }, vae_model: { key: 'ae' } });
    expect(g.nodes.denoise_latents).toMatchObject({ type: 'flux_denoise', num_steps: 4, scheduler: 'heun' });
    expect(g.nodes.l2i.type).toBe('flux_vae_decode');
  });
});

describe('Generate: model defaults', () => {
  it("starts a LoRA at its own default weight and a control layer at its model's processor", async () => {
    const weighted = mk('lw', 'weighted', 'sd-1', 'lora', { default_settings: { weight: 0.4 } });
    const blurCN = mk('cb', 'blur-cn', 'sd-1', 'controlnet', { default_settings: { preprocessor: 'img_blur' } });
    stubFetch({ '/api/v2/models/': { models: [sd15, weighted, blurCN] }, '/api/v1/images/': { items: [], total: 0, limit: 12, offset: 0 } });
    render(<Harness initial={{ model: sd15 }} mains={[sd15]} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Add LoRA weighted' }, { timeout: 5000 }));
    expect((screen.getByLabelText('LoRA weight weighted') as HTMLInputElement).value).toBe('40');
    const add = screen.getByRole('button', { name: 'Add Control' }) as HTMLButtonElement;
    fireEvent.click(add);
    const layer = await screen.findByRole('group', { name: 'Control 1' });
    expect((within(layer).getByLabelText('Processor') as HTMLSelectElement).value).toBe('img_blur');
  });
});
