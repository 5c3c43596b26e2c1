import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { UpscaleScreen } from './Upscale';
import { sendToUpscale } from './UpscaleInbox';
import { defaultParams } from '../lib/graph';
import { board, bob, mockApp, stubFetch, WithApp } from '../test/mockApp';
import type { ImageDTO, ModelConfig } from '../lib/types';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const esrgan: ModelConfig = { key: 'esr', hash: 'h', name: 'RealESRGAN_x2plus', base: 'any', type: 'spandrel_image_to_image' };
const main: ModelConfig = { key: 'm', hash: 'h', name: 'tiny', base: 'sd-1', type: 'main' };
const picked: ImageDTO = {
  image_name: 'pic.png', image_url: 'api/v1/images/i/pic.png/full', thumbnail_url: 'api/v1/images/i/pic.png/thumbnail',
  image_origin: 'internal', image_category: 'general', width: 96, height: 64, created_at: '', starred: false, has_workflow: false,
  board_id: null, is_intermediate: false,
};

describe('Upscale', () => {
  it('upscales an image picked from the board at a custom scale into the chosen board', async () => {
    const calls = stubFetch({
      '/api/v2/models/': { models: [esrgan] },
      '/api/v1/images/': { items: [picked], total: 1, limit: 24, offset: 0 },
      '/api/v1/queue/default/enqueue_batch': { enqueued: 1 },
    });
    const boards = [board({ board_id: 'big', board_name: 'Big', user_id: bob.user_id })];
    render(
      <WithApp app={mockApp({ user: bob, boards, models: [main], params: defaultParams })}>
        <UpscaleScreen />
      </WithApp>,
    );
    const button = screen.getByRole('button', { name: 'Upscale' }) as HTMLButtonElement;
    expect(button.disabled).toBe(true); // no image yet
    fireEvent.click(await screen.findByRole('button', { name: 'Use image pic.png' }));
    await waitFor(() => expect(screen.getByTestId('upscale-output-size').textContent).toContain('384×256'));
    fireEvent.click(screen.getByLabelText('Custom'));
    fireEvent.change(screen.getByLabelText('Custom Scale'), { target: { value: '3' } });
    await waitFor(() => expect(screen.getByTestId('upscale-output-size').textContent).toContain('288×192'));
    fireEvent.change(screen.getByLabelText('Board'), { target: { value: 'big' } });
    await waitFor(() => expect(button.disabled).toBe(false));
    fireEvent.click(button);
    await waitFor(() => expect(calls.some((c) => c.url.startsWith('/api/v1/queue/default/enqueue_batch'))).toBe(true));
    const body = JSON.parse(String(calls.find((c) => c.url.startsWith('/api/v1/queue/default/enqueue_batch'))!.init!.body));
    expect(body.batch.graph.nodes.upscale).toMatchObject({
      type: 'spandrel_image_to_image_autoscale', scale: 3, image: { image_name: 'pic.png' },
      image_to_image_model: { key: 'esr' }, board: { board_id: 'big' }, is_intermediate: false,
    });
  });

  it('needs a tile ControlNet for the creative pass', async () => {
    stubFetch({ '/api/v2/models/': { models: [esrgan] }, '/api/v1/images/': { items: [picked], total: 1, limit: 24, offset: 0 } });
    render(
      <WithApp app={mockApp({ user: bob, models: [main], params: defaultParams })}>
        <UpscaleScreen />
      </WithApp>,
    );
    fireEvent.click(await screen.findByRole('button', { name: 'Use image pic.png' }));
    const button = screen.getByRole('button', { name: 'Upscale' }) as HTMLButtonElement;
    await waitFor(() => expect(button.disabled).toBe(false));
    fireEvent.click(screen.getByLabelText('Add detail (creative upscale)'));
    expect(screen.getByTestId('creative-fields')).toBeTruthy();
    expect(screen.getByLabelText('Tile ControlNet')).toBeTruthy();
    await waitFor(() => expect(button.disabled).toBe(true));
    expect(screen.getByTestId('upscale-hint').textContent).toMatch(/tile ControlNet/);
  });

  it('takes a gallery image dropped on it', async () => {
    stubFetch({
      '/api/v2/models/': { models: [esrgan] },
      '/api/v1/images/i/': picked,
      '/api/v1/images/': { items: [], total: 0, limit: 24, offset: 0 },
    });
    render(
      <WithApp app={mockApp({ user: bob, models: [main], params: defaultParams })}>
        <UpscaleScreen />
      </WithApp>,
    );
    const data: Record<string, string> = { 'application/x-invokego-images': JSON.stringify(['pic.png']) };
    fireEvent.drop(screen.getByTestId('upscale-dropzone'), {
      dataTransfer: { types: Object.keys(data), getData: (k: string) => data[k] ?? '', files: [] },
    });
    await waitFor(() => expect(screen.getByTestId('upscale-output-size').textContent).toContain('384×256'));
  });

  it('opens with the image the gallery sent', async () => {
    stubFetch({ '/api/v2/models/': { models: [esrgan] }, '/api/v1/images/': { items: [], total: 0, limit: 24, offset: 0 } });
    sendToUpscale({ image_name: 'sent.png', width: 50, height: 40 });
    render(
      <WithApp app={mockApp({ user: bob, models: [main], params: defaultParams })}>
        <UpscaleScreen />
      </WithApp>,
    );
    expect(screen.getByTestId('upscale-output-size').textContent).toContain('200×160');
  });

  it('shows progress per tile and keeps the last preview between tiles', () => {
    stubFetch({ '/api/v2/models/': { models: [esrgan] }, '/api/v1/images/': { items: [], total: 0, limit: 24, offset: 0 } });
    const image = { width: 8, height: 8, dataURL: 'data:image/jpeg;base64,AAAA' };
    const { rerender } = render(
      <WithApp app={mockApp({ user: bob, models: [main], params: defaultParams, progress: { itemId: 3, message: 'Denoising', percentage: 0.25, image } })}>
        <UpscaleScreen />
      </WithApp>,
    );
    rerender(
      <WithApp app={mockApp({ user: bob, models: [main], params: defaultParams, progress: { itemId: 3, message: 'Denoising tile 2/4, step 2/3', percentage: 0.5, image: null } })}>
        <UpscaleScreen />
      </WithApp>,
    );
    expect(screen.getByTestId('upscale-progress-message').textContent).toBe('Denoising tile 2/4, step 2/3 50%');
    expect((screen.getByAltText('Progress preview') as HTMLImageElement).src).toContain('data:image/jpeg');
  });
});
