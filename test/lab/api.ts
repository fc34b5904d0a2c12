// The lab's REST client for rackboot's API in the director namespace,
// reached through nsproxy's Unix socket.
import { request } from 'node:http';

export class LabApiError extends Error {
  constructor(readonly status: number, readonly body: unknown, message: string) {
    super(message);
  }
}

export interface LabApiResponse<T> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

export class LabApi {
  constructor(readonly socketPath: string, readonly token: string) {}

  raw<T = unknown>(method: string, path: string, body?: Buffer | string | object, headers: Record<string, string> = {}): Promise<LabApiResponse<T>> {
    let payload: Buffer | undefined;
    const h: Record<string, string> = { authorization: `Bearer ${this.token}`, ...headers };
    if (Buffer.isBuffer(body)) payload = body;
    else if (typeof body === 'string') payload = Buffer.from(body);
    else if (body !== undefined) {
      payload = Buffer.from(JSON.stringify(body));
      h['content-type'] = 'application/json';
    }
    if (payload) h['content-length'] = String(payload.length);
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, method, path, headers: { host: 'rackboot', ...h } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          if (/json/.test(String(res.headers['content-type'] ?? ''))) {
            try {
              parsed = JSON.parse(text);
            } catch {
              /* keep the text */
            }
          }
          resolve({ status: res.statusCode ?? 0, body: parsed as T, headers: res.headers });
        });
        res.on('error', reject);
      });
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer within 30 s`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** A GET of a binary body (boot files), no JSON parsing. */
  rawBuffer(method: string, path: string): Promise<{ status: number; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, method, path, headers: { host: 'rackboot' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${path}: no answer within 60 s`)));
      req.on('error', reject);
      req.end();
    });
  }

  /** JSON call under /api/v1 that must succeed (2xx); throws with rackboot's error message otherwise. */
  async call<T = unknown>(method: string, path: string, body?: Buffer | string | object, headers?: Record<string, string>): Promise<T> {
    const r = await this.raw<T>(method, `/api/v1${path}`, body, headers);
    if (r.status < 200 || r.status > 299) {
      const msg = (r.body as { message?: string } | undefined)?.message ?? JSON.stringify(r.body);
      throw new LabApiError(r.status, r.body, `${method} /api/v1${path}: ${r.status} ${msg}`);
    }
    return r.body;
  }
}
