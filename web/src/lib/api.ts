// A small fetch wrapper for the invokego / InvokeAI HTTP API: bearer token, sliding refresh, {"detail"} errors.

const TOKEN_KEY = 'auth_token';

let token: string | null = null;
let remember = false;
const tokenListeners = new Set<(t: string | null) => void>();

export function loadStoredToken(): string | null {
  try {
    const l = localStorage.getItem(TOKEN_KEY);
    if (l) {
      remember = true;
      token = l;
      return l;
    }
    const s = sessionStorage.getItem(TOKEN_KEY);
    if (s) {
      remember = false;
      token = s;
      return s;
    }
  } catch {
    /* storage unavailable */
  }
  return null;
}

export function getToken(): string | null {
  return token;
}

export function setToken(t: string | null, rememberMe?: boolean): void {
  if (rememberMe !== undefined) remember = rememberMe;
  token = t;
  try {
    localStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(TOKEN_KEY);
    if (t) (remember ? localStorage : sessionStorage).setItem(TOKEN_KEY, t);
  } catch {
    /* ignore */
  }
  tokenListeners.forEach((f) => f(t));
}

export function onTokenChange(f: (t: string | null) => void): () => void {
  tokenListeners.add(f);
  return () => tokenListeners.delete(f);
}

export class ApiError extends Error {
  status: number;
  detail: unknown;
  constructor(status: number, detail: unknown) {
    super(describeDetail(status, detail));
    this.status = status;
    this.detail = detail;
  }
}

function describeDetail(status: number, detail: unknown): string {
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => {
        const o = d as { loc?: unknown[]; msg?: string };
        return `${(o.loc || []).join('.')}: ${o.msg ?? ''}`;
      })
      .join('; ');
  }
  return `Request failed (${status})`;
}

let unauthorizedHandler: (() => void) | null = null;
export function onUnauthorized(f: (() => void) | null): void {
  unauthorizedHandler = f;
}

export interface RequestOptions {
  method?: string;
  query?: Record<string, string | number | boolean | undefined | null | (string | number)[]>;
  json?: unknown;
  body?: BodyInit;
  signal?: AbortSignal;
}

export function buildUrl(path: string, query?: RequestOptions['query']): string {
  const params = new URLSearchParams();
  if (query) {
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) v.forEach((x) => params.append(k, String(x)));
      else params.append(k, String(v));
    }
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

export async function api<T = unknown>(path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = {};
  if (token) headers['Authorization'] = `Bearer ${token}`;
  let body: BodyInit | undefined = opts.body;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  const res = await fetch(buildUrl(path, opts.query), {
    method: opts.method || (body !== undefined ? 'POST' : 'GET'),
    headers,
    body,
    signal: opts.signal,
    credentials: 'same-origin',
  });
  const refreshed = res.headers.get('X-Refreshed-Token');
  if (refreshed && token) setToken(refreshed);
  const text = await res.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    const detail = data && typeof data === 'object' && 'detail' in (data as object) ? (data as { detail: unknown }).detail : data;
    if (res.status === 401 && token && unauthorizedHandler) unauthorizedHandler();
    throw new ApiError(res.status, detail);
  }
  return data as T;
}

/** Image URLs from the API are relative without a leading slash. */
export function mediaUrl(u: string | null | undefined): string {
  if (!u) return '';
  return u.startsWith('/') || u.startsWith('http') || u.startsWith('data:') ? u : `/${u}`;
}

export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
