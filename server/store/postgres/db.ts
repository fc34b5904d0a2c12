// The connection pool and the one place a PostgreSQL error becomes a store
// error: a lost or refused connection is StoreUnavailableError (naming the
// store, never the password) and marks the store down until a query works.
import pg from 'pg';
import { redactUrl, scrubPassword } from '../url.js';
import { StoreUnavailableError, type StoreHealth } from '../types.js';
import { isUnavailable } from './errors.js';

// bigint columns (epoch ms, ids, addresses) as numbers: every value fits in 2^53.
const INT8 = 20;
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export interface PgOptions {
  url: string;
  /** application_name: who holds a connection, in pg_stat_activity. */
  server: string;
  poolSize?: number;
  /** A statement that takes longer counts as the database being unavailable. */
  queryTimeoutMs?: number;
  connectTimeoutMs?: number;
}

export class PgDb {
  readonly pool: pg.Pool;
  readonly describe: string;
  /** Since when and why the store is unavailable; undefined while it answers. */
  private down: { since: number; why: string } | undefined;
  onState: (up: boolean, why: string) => void = () => undefined;

  constructor(readonly opts: PgOptions) {
    this.describe = `postgres ${redactUrl(opts.url)}`;
    this.pool = new pg.Pool({ ...this.clientConfig(), max: opts.poolSize ?? 10, idleTimeoutMillis: 30_000 });
    // An idle pooled connection that dies reports here; without a listener it would end the process.
    this.pool.on('error', (err) => this.markDown(err));
  }

  clientConfig(): pg.ClientConfig {
    return {
      connectionString: this.opts.url,
      application_name: `rackboot ${this.opts.server}`.slice(0, 63),
      connectionTimeoutMillis: this.opts.connectTimeoutMs ?? 3000,
      query_timeout: this.opts.queryTimeoutMs ?? 10_000,
      keepAlive: true,
      types,
    };
  }

  private markDown(err: unknown): StoreUnavailableError {
    const why = scrubPassword((err as Error)?.message || String(err), this.opts.url);
    const first = !this.down;
    this.down ??= { since: Date.now(), why };
    this.down.why = why;
    if (first) this.onState(false, why);
    return new StoreUnavailableError(`store ${this.describe} is unavailable: ${why}`);
  }

  private markUp(): void {
    if (!this.down) return;
    this.down = undefined;
    this.onState(true, 'answering again');
  }

  /** A store error for any failure: unavailability, or the error itself (with the password scrubbed). */
  error(err: unknown): Error {
    if (isUnavailable(err)) return this.markDown(err);
    if (err instanceof Error) err.message = scrubPassword(err.message, this.opts.url);
    return err as Error;
  }

  async q<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string | pg.QueryConfig, params?: unknown[]): Promise<pg.QueryResult<T>> {
    try {
      const r = await this.pool.query<T>(text as string, params);
      this.markUp();
      return r;
    } catch (e) {
      throw this.error(e);
    }
  }

  /** fn inside BEGIN/COMMIT on one connection; ROLLBACK on any error. A broken connection is not returned to the pool. */
  async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (e) {
      throw this.error(e);
    }
    let broken: Error | undefined;
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      this.markUp();
      return out;
    } catch (e) {
      if (isUnavailable(e)) broken = e as Error;
      else await c.query('ROLLBACK').catch((r: unknown) => (broken = r as Error));
      throw this.error(e);
    } finally {
      c.release(broken);
    }
  }

  health(): StoreHealth {
    return this.down
      ? { ok: false, detail: `store ${this.describe} is unavailable since ${new Date(this.down.since).toISOString()}: ${this.down.why}` }
      : { ok: true, detail: this.describe };
  }

  async end(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
