// What other servers change, pushed by PostgreSQL (LISTEN/NOTIFY on one
// channel): a connection of its own that waits, costing the database nothing
// while nothing changes. Writers notify inside their transaction, so a change
// is told once it is committed, in commit order. When the connection is lost
// it reconnects (backing off to 5 s) and tells its listeners to reload
// ('resync'): notifications sent meanwhile are gone.
//
// The same connection holds a session advisory lock on this server's name:
// two live servers with one name on one database would tag each other's
// events and leases; the second one is refused at start. A SIGKILLed
// server's connection closes, and the lock goes with it.
import pg from 'pg';
import type { LeaseRecord, LeaseState, PeerChange } from '../types.js';

export const CHANNEL = 'rackboot';
/** pg_advisory_lock(key1, hashtext(name)): 'rbsv'. */
const NAME_LOCK = 0x72627376;

/** A payload as writers send it (short keys: NOTIFY payloads are at most 8000 bytes). */
export type Note =
  | { s: string; k: 'node'; n: string; d?: 1 }
  | { s: string; k: 'group'; n: string }
  | { s: string; k: 'leases'; l: Array<[string, string, string, string | null, string | null, string, number, number]> }
  | { s: string; k: 'events'; a: number; b: number }
  | { s: string; k: 'setting'; n: string }
  | { s: string; k: 'server' };

export const note = (n: Note): string => JSON.stringify(n);

/** A payload -> the change it tells, or undefined for one this version does not know. */
export function parseNote(payload: string): PeerChange | undefined {
  let n: Note;
  try {
    n = JSON.parse(payload) as Note;
  } catch {
    return undefined;
  }
  switch (n.k) {
    case 'node':
      return { kind: 'node', server: n.s, name: n.n, deleted: n.d === 1 };
    case 'group':
      return { kind: 'group', server: n.s, name: n.n };
    case 'leases':
      return {
        kind: 'leases',
        server: n.s,
        leases: n.l.map(([network, ipv4, mac, clientId, hostname, state, expiresAt, updatedAt]): LeaseRecord => ({
          network,
          ipv4,
          mac,
          clientId,
          hostname,
          state: state as LeaseState,
          expiresAt: Number(expiresAt),
          updatedAt: Number(updatedAt),
        })),
      };
    case 'events':
      return { kind: 'events', server: n.s, fromId: Number(n.a), toId: Number(n.b) };
    case 'setting':
      return { kind: 'setting', server: n.s, key: n.n };
    case 'server':
      return { kind: 'server', server: n.s };
    default:
      return undefined;
  }
}

export interface ListenerHooks {
  change(c: PeerChange): void;
  /** The connection is up (true) or lost (false), with why. */
  state(up: boolean, why: string): void;
}

export class PgListener {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private backoffMs = 250;
  private connected = false;

  constructor(private readonly config: pg.ClientConfig, private readonly server: string, private readonly hooks: ListenerHooks) {}

  /** Connect, take the server-name lock, LISTEN. Throws when the name is held by another live server. */
  async start(): Promise<void> {
    await this.connect(true);
  }

  private async connect(first: boolean): Promise<void> {
    const c = new pg.Client(this.config);
    c.on('error', () => undefined); // 'end' follows; reconnecting is decided there
    await c.connect();
    try {
      const r = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [NAME_LOCK, this.server]);
      if (!r.rows[0]?.ok) {
        throw new NameInUseError(`server.name '${this.server}' is in use by another running rackboot on this database: give each server its own name`);
      }
      c.on('notification', (m) => {
        if (m.channel !== CHANNEL || !m.payload) return;
        const change = parseNote(m.payload);
        if (change && (change.kind === 'resync' || change.server !== this.server)) this.hooks.change(change);
      });
      await c.query(`LISTEN ${CHANNEL}`);
    } catch (e) {
      await c.end().catch(() => undefined);
      throw e;
    }
    c.on('end', () => this.lost(c, 'the listening connection closed'));
    this.client = c;
    this.connected = true;
    this.backoffMs = 250;
    if (!first) {
      this.hooks.state(true, 'listening again');
      this.hooks.change({ kind: 'resync' });
    }
  }

  private lost(c: pg.Client, why: string): void {
    if (this.client !== c) return;
    this.client = undefined;
    if (this.closed) return;
    if (this.connected) this.hooks.state(false, why);
    this.connected = false;
    this.retry();
  }

  private retry(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect(false).catch((e: unknown) => {
        if (e instanceof NameInUseError) this.hooks.state(false, e.message);
        this.backoffMs = Math.min(this.backoffMs * 2, 5000);
        this.retry();
      });
    }, this.backoffMs);
    this.timer.unref();
  }

  get up(): boolean {
    return this.connected;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}

export class NameInUseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NameInUseError';
  }
}
