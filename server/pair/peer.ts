// Calls to the other node's API (its own address, not a floating one),
// with the API token both nodes share (pair.enabled requires one).
/** A call to the peer that failed: `status` is the peer's HTTP answer, undefined when it did not answer at all. */
import { err, ok, type Result } from '../result.js';

export class PeerError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
  ) {
    super(message);
    this.name = 'PeerError';
  }
}

export class PeerClient {
  constructor(
    readonly base: string,
    readonly token: string,
  ) {}

  async request<T>(method: string, path: string, o: { body?: unknown; timeoutMs?: number } = {}): Promise<T> {
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.base}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: o.body !== undefined ? JSON.stringify(o.body) : undefined,
        signal: AbortSignal.timeout(o.timeoutMs ?? 2000),
      });
      text = await res.text();
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      throw new PeerError(`the peer does not answer at ${this.base}: ${cause ?? (e as Error).message}`, undefined);
    }
    let data: unknown = text;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      /* text */
    }
    if (!res.ok) {
      const msg = (data as { message?: string } | undefined)?.message ?? text;
      const hint = res.status === 401 ? ' (the peer does not take this node\'s api.token: give both nodes the same one)' : '';
      throw new PeerError(`the peer answered ${res.status}: ${msg}${hint}`, res.status);
    }
    return data as T;
  }

  /** The peer's GET /pair, or why not. */
  async statusResult<T>(timeoutMs = 3000, fresh = false): Promise<Result<T>> {
    try {
      return ok(await this.request<T>('GET', `/pair${fresh ? '?fresh=true' : ''}`, { timeoutMs }));
    } catch (e) {
      return err((e as Error).message);
    }
  }

  /** The peer's GET /pair, or undefined when it does not answer. */
  async status<T>(timeoutMs = 3000, fresh = false): Promise<T | undefined> {
    const r = await this.statusResult<T>(timeoutMs, fresh);
    return r.ok ? r.value : undefined;
  }
}

/** "0/3027AC0" -> a number (LSNs compare as 64-bit; these fit a double's 2^53 for a long while). */
export function lsnValue(lsn: string | null | undefined): number | undefined {
  const m = /^([0-9A-Fa-f]+)\/([0-9A-Fa-f]+)$/.exec(lsn ?? '');
  return m ? parseInt(m[1]!, 16) * 2 ** 32 + parseInt(m[2]!, 16) : undefined;
}
