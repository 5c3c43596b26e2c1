import type { ReactNode } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { UsersScreen } from './Users';
import { installErrorText, ModelsScreen } from './Models';
import { Splash } from './Splash';
import { admin, alice, mockApp, stubFetch, WithApp } from '../test/mockApp';
import type { ModelConfig } from '../lib/types';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function renderAs(node: ReactNode, over = {}) {
  const app = mockApp({ user: admin, ...over });
  render(<WithApp app={app}>{node}</WithApp>);
  return app;
}

function userRow(email: string) {
  return screen.getAllByTestId('user-item').find((el) => el.dataset.email === email)!;
}

describe('Users', () => {
  it('asks in a dialog before deleting and can delete the content too', async () => {
    const confirmSpy = vi.fn(() => true);
    vi.stubGlobal('confirm', confirmSpy);
    const calls = stubFetch({ '/api/v1/auth/users': [admin, alice] });
    renderAs(<UsersScreen />);
    await screen.findAllByTestId('user-item');
    fireEvent.click(screen.getByRole('button', { name: 'Delete alice@example.com' }));
    let dialog = screen.getByRole('dialog');
    expect(dialog.getAttribute('aria-modal')).toBe('true');
    expect(within(dialog).getByLabelText('Keep their content (it becomes yours)')).toHaveProperty('checked', true);
    fireEvent.keyDown(document, { key: 'Escape' });
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(calls.some((c) => c.init?.method === 'DELETE')).toBe(false);

    fireEvent.click(screen.getByRole('button', { name: 'Delete alice@example.com' }));
    dialog = screen.getByRole('dialog');
    fireEvent.click(within(dialog).getByLabelText('Delete their content too'));
    fireEvent.click(within(dialog).getByRole('button', { name: 'Delete' }));
    await waitFor(() => expect(calls.some((c) => c.init?.method === 'DELETE')).toBe(true));
    expect(calls.find((c) => c.init?.method === 'DELETE')!.url).toBe('/api/v1/auth/users/u-alice?delete_content=true');
    expect(confirmSpy).not.toHaveBeenCalled();
  });

  it('keeps the content by default', async () => {
    const calls = stubFetch({ '/api/v1/auth/users': [admin, alice] });
    renderAs(<UsersScreen />);
    await screen.findAllByTestId('user-item');
    fireEvent.click(screen.getByRole('button', { name: 'Delete alice@example.com' }));
    fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Delete' }));
    await waitFor(() => expect(calls.some((c) => c.init?.method === 'DELETE')).toBe(true));
    expect(calls.find((c) => c.init?.method === 'DELETE')!.url).toBe('/api/v1/auth/users/u-alice');
  });

  it('edits name, password and flags, and shows the server refusal in the dialog', async () => {
    const patches: unknown[] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init?: RequestInit) => {
        if (init?.method === 'PATCH') {
          patches.push(JSON.parse(String(init.body)));
          return new Response(JSON.stringify({ detail: 'Cannot remove the last administrator' }), { status: 400 });
        }
        return new Response(JSON.stringify(url.startsWith('/api/v1/auth/users') ? [admin, alice] : {}), { status: 200 });
      }),
    );
    renderAs(<UsersScreen />);
    await screen.findAllByTestId('user-item');
    fireEvent.click(within(userRow('admin@example.com')).getByRole('button', { name: 'Edit admin@example.com' }));
    const dialog = screen.getByRole('dialog');
    fireEvent.change(within(dialog).getByLabelText('Display Name'), { target: { value: 'Root' } });
    fireEvent.change(within(dialog).getByLabelText('New Password'), { target: { value: 'N3w-password!' } });
    fireEvent.click(within(dialog).getByLabelText('Administrator'));
    fireEvent.click(within(dialog).getByLabelText('Active'));
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save' }));
    expect((await within(dialog).findByRole('alert')).textContent).toBe('Cannot remove the last administrator');
    expect(patches[0]).toEqual({ display_name: 'Root', password: 'N3w-password!', is_admin: false, is_active: false });
    expect(screen.getByRole('dialog')).toBeTruthy();
  });

  it('is not offered in single-user mode', () => {
    stubFetch({ '/api/v1/auth/users': [] });
    renderAs(<UsersScreen />, { multiuser: false });
    expect(screen.queryByTestId('user-list')).toBeNull();
  });
});

const model: ModelConfig = { key: 'k1', hash: 'h', name: 'tiny', base: 'sd-1', type: 'main' };

describe('Models', () => {
  it('shows the real install error', async () => {
    stubFetch({
      '/api/v2/models/install': [
        { id: 1, status: 'error', source: { type: 'local', path: '/x/model.json' }, bytes: 0, total_bytes: 0, error_reason: 'InvalidModelConfigException', error: '.json files are not supported' },
      ],
      '/api/v2/models/': { models: [] },
    });
    renderAs(<ModelsScreen />);
    expect((await screen.findByTestId('install-error')).textContent).toBe('InvalidModelConfigException: .json files are not supported');
  });

  it('words install errors without repeating the class', () => {
    expect(installErrorText({ error: 'disk full', error_reason: null })).toBe('disk full');
    expect(installErrorText({ error: null, error_reason: 'OSError' })).toBe('OSError');
    expect(installErrorText({ error: 'OSError: disk full', error_reason: 'OSError' })).toBe('OSError: disk full');
  });

  it('asks in a dialog before deleting a model', async () => {
    const calls = stubFetch({ '/api/v2/models/install': [], '/api/v2/models/': { models: [model] } });
    renderAs(<ModelsScreen />);
    fireEvent.click(await screen.findByRole('button', { name: 'Delete tiny' }));
    const dialog = screen.getByRole('dialog');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('dialog')).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Delete tiny' }));
    fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Delete' }));
    await waitFor(() => expect(calls.some((c) => c.init?.method === 'DELETE' && c.url === '/api/v2/models/i/k1')).toBe(true));
  });
});

describe('Splash', () => {
  it('lets the admin retry after a failed starter install', async () => {
    let attempts = 0;
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string) => {
        if (url.startsWith('/api/v2/models/starter_models'))
          return new Response(JSON.stringify({ starter_models: [{ name: 'Tiny SD', source: 'o/tiny', description: 'd', base: 'sd-1', type: 'main', is_installed: false }] }));
        attempts++;
        return attempts === 1 ? new Response(JSON.stringify({ detail: 'Hugging Face is unreachable' }), { status: 502 }) : new Response(JSON.stringify({ id: 1 }));
      }),
    );
    renderAs(<Splash />);
    const button = (await screen.findByRole('button', { name: 'Install Tiny SD' })) as HTMLButtonElement;
    fireEvent.click(button);
    expect((await screen.findByRole('alert')).textContent).toBe('Hugging Face is unreachable');
    await waitFor(() => expect(button.disabled).toBe(false));
    fireEvent.click(button);
    await waitFor(() => expect(attempts).toBe(2));
    expect(button.disabled).toBe(true);
  });
});
