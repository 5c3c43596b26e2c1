import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import { App } from './App';
import { SYSTEM_USER } from './lib/store';
import { admin, mockApp, stubFetch, WithApp } from './test/mockApp';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const singleUserStatus = { setup_required: false, multiuser_enabled: false, strict_password_checking: false, admin_email: null };

function renderApp(route: string, multiuser: boolean) {
  stubFetch({ '/api/v2/models/starter_models': { starter_models: [] }, '/api/v1/images/': { items: [], total: 0, limit: 24, offset: 0 } });
  const app = multiuser
    ? mockApp({ user: admin, route })
    : mockApp({ user: SYSTEM_USER, multiuser: false, status: singleUserStatus, route });
  render(
    <WithApp app={app}>
      <App />
    </WithApp>,
  );
}

function navLabels(): string[] {
  return Array.from(screen.getByRole('navigation', { name: 'Main' }).querySelectorAll('.navlabel')).map((el) => el.textContent ?? '');
}

describe('single-user mode', () => {
  it('has no Users screen, profile link or log out', () => {
    renderApp('/generate', false);
    expect(navLabels()).toEqual(['Generate', 'Canvas', 'Gallery', 'Upscale', 'Workflows', 'Queue', 'Models']);
  });

  it('falls back to Generate on /users', () => {
    renderApp('/users', false);
    expect(screen.getByTestId('screen-generate')).toBeTruthy();
  });

  it('shows no password change or log out on the profile page', () => {
    renderApp('/profile', false);
    expect(screen.getByTestId('screen-profile')).toBeTruthy();
    expect(screen.queryByText('Change password')).toBeNull();
    expect(screen.queryByRole('button', { name: 'Log out' })).toBeNull();
    expect(screen.getByTestId('single-user-note')).toBeTruthy();
  });
});

describe('multi-user mode', () => {
  it('gives admins the Users screen, the profile and log out', () => {
    renderApp('/profile', true);
    expect(navLabels()).toEqual(['Generate', 'Canvas', 'Gallery', 'Upscale', 'Workflows', 'Queue', 'Models', 'Users', 'Profile', 'Log out']);
    expect(screen.getByText('Change password')).toBeTruthy();
    expect(screen.getAllByRole('button', { name: 'Log out' }).length).toBe(2);
  });
});
