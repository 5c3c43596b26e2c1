import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { LoginScreen, passwordStrength, SetupScreen } from './Auth';
import { alice, mockApp, stubFetch, WithApp } from '../test/mockApp';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  localStorage.clear();
  sessionStorage.clear();
});

describe('login', () => {
  it('sends remember_me and stores the session', async () => {
    const calls = stubFetch({ '/api/v1/auth/login': { token: 'T1', user: alice, expires_in: 604800 } });
    const app = mockApp({ user: null });
    render(
      <WithApp app={app}>
        <LoginScreen />
      </WithApp>,
    );
    fireEvent.change(screen.getByLabelText('Email'), { target: { value: 'alice@example.com' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'pw' } });
    fireEvent.click(screen.getByLabelText('Remember me'));
    fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    await waitFor(() => expect(app.login).toHaveBeenCalledWith('T1', alice, true));
    expect(JSON.parse(String(calls[0].init!.body))).toEqual({ email: 'alice@example.com', password: 'pw', remember_me: true });
  });

  it('shows the server error', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => new Response(JSON.stringify({ detail: 'Incorrect email or password' }), { status: 401 })));
    render(
      <WithApp app={mockApp({ user: null })}>
        <LoginScreen />
      </WithApp>,
    );
    fireEvent.change(screen.getByLabelText('Email'), { target: { value: 'a@b.co' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'x' } });
    fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Incorrect email or password');
  });
});

describe('setup', () => {
  it('checks the confirmation before calling the API', async () => {
    const calls = stubFetch({});
    render(
      <WithApp app={mockApp({ user: null })}>
        <SetupScreen />
      </WithApp>,
    );
    fireEvent.change(screen.getByLabelText('Email'), { target: { value: 'root@example.com' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'Abcdefg1' } });
    fireEvent.change(screen.getByLabelText('Confirm Password'), { target: { value: 'nope' } });
    expect(screen.getByTestId('password-strength').textContent).toContain('strong');
    fireEvent.click(screen.getByRole('button', { name: 'Create Administrator' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Passwords do not match');
    expect(calls).toHaveLength(0);
  });
  it('rates passwords like InvokeAI', () => {
    expect(passwordStrength('short')).toBe('weak');
    expect(passwordStrength('longenough')).toBe('moderate');
    expect(passwordStrength('LongEnough1')).toBe('strong');
  });
});
