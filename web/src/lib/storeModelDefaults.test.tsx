// The model the store picks by itself once the list loads comes with its default settings, in the same update.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, render, screen, waitFor } from '@testing-library/react';
import { AppProvider, useApp } from './store';
import { bob, stubFetch } from '../test/mockApp';
import type { ModelConfig } from './types';

vi.mock('./socket', () => ({ connectSocket: vi.fn(), disconnectSocket: vi.fn(), subscribe: () => () => undefined }));

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  localStorage.clear();
});

function Probe() {
  const { params: p } = useApp();
  return <span data-testid="params">{p.model ? `${p.model.key} ${p.steps} ${p.width}x${p.height}` : 'none'}</span>;
}

function renderWith(models: ModelConfig[]) {
  localStorage.setItem('auth_token', 'T-bob');
  stubFetch({
    '/api/v1/auth/status': { setup_required: false, multiuser_enabled: true, strict_password_checking: false, admin_email: null },
    '/api/v1/auth/me': bob,
    '/api/v1/auth/media-cookie': {},
    '/api/v1/boards/': [],
    '/api/v2/models/': { models },
  });
  render(
    <AppProvider>
      <Probe />
    </AppProvider>,
  );
}

describe('the first model', () => {
  it('brings its default settings (FLUX schnell: 4 steps at 1024²)', async () => {
    renderWith([{ key: 'fs', hash: 'h', name: 'schnell', base: 'flux', type: 'main', variant: 'schnell', default_settings: { width: 1024, height: 1024, steps: 4 } }]);
    await waitFor(() => expect(screen.getByTestId('params').textContent).toBe('fs 4 1024x1024'));
  });
  it('keeps the form defaults for a model without settings', async () => {
    renderWith([{ key: 'm', hash: 'h', name: 'tiny', base: 'sd-1', type: 'main' }]);
    await waitFor(() => expect(screen.getByTestId('params').textContent).toBe('m 30 512x512'));
  });
});
