// The REST client the CLI commands use: --api / RACKBOOT_API, --token /
// RACKBOOT_API_TOKEN, else the token file a local server generated.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';

export interface ApiOptions {
  api?: string;
  token?: string;
  dataDir?: string;
}

/** A streamed body cut at each `separator` (the last part too, when the stream ends without one). */
export async function readParts(body: ReadableStream<Uint8Array>, separator: string, onPart: (part: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let i: number;
    while ((i = buf.indexOf(separator)) >= 0) {
      onPart(buf.slice(0, i));
      buf = buf.slice(i + separator.length);
    }
  }
  if (buf.trim()) onPart(buf);
}

export class ApiRequestError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export class ApiClient {
  constructor(readonly base: string, readonly token: string | undefined) {}

  static from(opts: ApiOptions, env: NodeJS.ProcessEnv = process.env): ApiClient {
    const base = (opts.api ?? env.RACKBOOT_API ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
    let token = opts.token ?? env.RACKBOOT_API_TOKEN;
    if (!token) {
      const file = join(resolve(opts.dataDir ?? './var'), 'api-token');
      if (existsSync(file)) token = readFileSync(file, 'utf8').trim();
    }
    return new ApiClient(base, token);
  }

  private async fetch(method: string, path: string, body: unknown, accept?: string): Promise<Response> {
    try {
      return await fetch(`${this.base}/api/v1${path}`, {
        method,
        headers: {
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(accept ? { accept } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
      throw new ApiRequestError(0, 'unreachable', `cannot reach the rackboot API at ${this.base} (${cause}); is 'rackboot serve' running? (--api or RACKBOOT_API)`);
    }
  }

  /** A request answered with NDJSON: onLine gets each JSON line as it arrives. */
  async stream(method: string, path: string, body: unknown, onLine: (value: Record<string, unknown>) => void): Promise<void> {
    const res = await this.fetch(method, path, body, 'application/x-ndjson');
    if (!res.ok || !res.body) return void (await this.answer(res));
    await readParts(res.body, '\n', (line) => line.trim() && onLine(JSON.parse(line) as Record<string, unknown>));
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.answer<T>(await this.fetch(method, path, body));
  }

  private async answer<T>(res: Response): Promise<T> {
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = text;
    }
    if (!res.ok) {
      const err = data as { error?: string; message?: string } | undefined;
      const hint = res.status === 401 ? ' (give --token or RACKBOOT_API_TOKEN)' : '';
      throw new ApiRequestError(res.status, err?.error ?? String(res.status), `${res.status} ${err?.message ?? text}${hint}`);
    }
    return data as T;
  }
}

export function addApiOptions(cmd: Command): Command {
  return cmd
    .option('--api <url>', 'rackboot API base URL (env RACKBOOT_API)', undefined)
    .option('--token <token>', 'API token (env RACKBOOT_API_TOKEN)', undefined)
    .option('--data-dir <dir>', 'where a local server keeps api-token', undefined);
}
