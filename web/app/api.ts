// Calls to rackboot's own API with the session cookie: a change carries the
// session's CSRF token; a refusal becomes an ApiError with the API's message.
const meta = (name: string) => document.querySelector(`meta[name="${name}"]`)?.getAttribute('content') ?? '';

export const session = {
  csrf: meta('rackboot-csrf'),
  role: meta('rackboot-role') === 'admin' ? ('admin' as const) : ('viewer' as const),
  cluster: meta('rackboot-cluster'),
  services: new Set(meta('rackboot-services').split(' ').filter(Boolean)),
};

/** A page of a service that is not running says so without asking the API (whose 404 would be a console error). */
export const SERVICE_OF_PAGE: Record<string, { service: string; what: string; key: string }> = {
  '/director': { service: 'director', what: 'The director', key: 'director.enabled: true' },
  '/images': { service: 'images', what: 'The images service', key: 'images.enabled: true' },
  '/content': { service: 'nfs', what: 'The NFS service', key: 'nfs.enabled: true' },
};

export const canChange = () => session.role === 'admin';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function signIn(): never {
  location.assign(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`);
  throw new ApiError(401, 'unauthorized', 'the session ended; signing in again');
}

async function call(method: string, path: string, body: unknown, accept: string): Promise<Response> {
  const headers: Record<string, string> = { accept };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') headers['x-csrf-token'] = session.csrf;
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  } catch (e) {
    throw new ApiError(0, 'network', `the server did not answer (${(e as Error).message})`);
  }
  if (res.status === 401) signIn();
  if (!res.ok) {
    const text = await res.text();
    let err: { error?: string; message?: string } = {};
    try {
      err = JSON.parse(text) as typeof err;
    } catch {
      /* not the API's JSON: show the text */
    }
    throw new ApiError(res.status, err.error ?? String(res.status), err.message ?? (text || res.statusText));
  }
  return res;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await call(method, path, body, 'application/json');
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export async function apiText(path: string): Promise<{ text: string; headers: Headers }> {
  const res = await call('GET', path, undefined, 'text/plain, */*');
  return { text: await res.text(), headers: res.headers };
}

/** The API's OpenAPI document (public): which optional routes this server has (power, reprovision). */
let openapi: Promise<{ paths: Record<string, Record<string, OpenApiOp>> }> | undefined;
export interface OpenApiOp {
  summary?: string;
  requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonSchema }> };
}
export interface JsonSchema {
  type?: string;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
}
export function apiDocument() {
  openapi ??= fetch('/api/v1/openapi.json').then((r) => r.json() as Promise<{ paths: Record<string, Record<string, OpenApiOp>> }>);
  return openapi;
}

export const errorText = (e: unknown) => (e instanceof ApiError ? e.message : e instanceof Error ? e.message : String(e));
