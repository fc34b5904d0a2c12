// The PostgreSQL store: several rackboot servers share one database. The
// database decides what must be decided once (names, MACs, addresses, who
// holds a leased address); every write tells the other servers through
// NOTIFY (listener.ts), so their DHCP and boot paths see it within
// milliseconds without polling. A lost connection makes every call fail
// with StoreUnavailableError until the database answers again.
import { hostname } from 'node:os';
import { parseIpv4 } from '../../net/ipv4.js';
import { CLEAR_ORDER, countRows, dumpRows, restoreRows } from '../dump.js';
import { eventLimit, toEvent, toLease, type EventRow, type LeaseRow } from '../rows.js';
import { SmallTables, type SqlRunner } from '../small-tables.js';
import {
  InvalidError,
  type DumpChunk, type EventInput, type EventQuery, type EventRecord, type ExportRecord, type GroupPatch, type GroupRecord, type InterfaceRecord,
  type LeaseFilter, type LeaseRecord, type LeaseWrite, type NewExport, type NewGroup, type NewNode, type NodePatch, type NodeRecord, type PeerChange,
  type ServerRecord, type StaticPools, type Store, type StoreCounts, type StoreHealth,
} from '../types.js';
import { addEventsQuery, putLeases } from './batches.js';
import { PgDb, type PgOptions } from './db.js';
import { isUnique } from './errors.js';
import { CHANNEL, note, PgListener } from './listener.js';
import { migratePostgres } from './migrations.js';
import { PgRegistry } from './registry.js';

const DB_NOW = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

export interface PostgresStoreOptions extends Partial<PgOptions> {
  url: string;
  server?: string;
  /** Told when the database stops or starts answering (logs, DHCP's outage queue). */
  onState?: (up: boolean, why: string) => void;
}

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly server: string;
  readonly describe: string;
  private readonly db: PgDb;
  private readonly reg: PgRegistry;
  private readonly small: SmallTables;
  private readonly sql: SqlRunner;
  private readonly listener: PgListener;
  private readonly listeners = new Set<(c: PeerChange) => void>();
  private readonly startedAt = Date.now();

  private constructor(opts: PostgresStoreOptions) {
    this.server = opts.server ?? hostname();
    this.db = new PgDb({ ...opts, server: this.server });
    this.describe = this.db.describe;
    this.db.onState = (up, why) => opts.onState?.(up, why);
    this.reg = new PgRegistry(this.db, this.server);
    this.sql = {
      rows: async <T>(text: string, params: unknown[]) => (await this.db.q(text, params)).rows as T[],
      run: async (text: string, params: unknown[]) => (await this.db.q(text, params)).rowCount ?? 0,
      ph: (i) => `$${i}`,
      isUniqueViolation: (e) => isUnique(e),
    };
    this.small = new SmallTables(this.sql);
    this.listener = new PgListener(this.db.clientConfig(), this.server, {
      change: (c) => {
        for (const l of this.listeners) l(c);
      },
      state: (up, why) => opts.onState?.(up, `listening connection: ${why}`),
    });
  }

  /** Connect, migrate (under an advisory lock), start listening. */
  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    const s = new PostgresStore(opts);
    try {
      let c;
      try {
        c = await s.db.pool.connect();
      } catch (e) {
        throw s.db.error(e);
      }
      try {
        await migratePostgres(c, `the database of store ${s.describe}`);
      } finally {
        c.release();
      }
      await s.listener.start().catch((e: unknown) => Promise.reject(s.db.error(e)));
    } catch (e) {
      await s.listener.close();
      await s.db.end();
      throw e;
    }
    return s;
  }

  // ---- registry -----------------------------------------------------------

  createNode = (n: NewNode, pools: StaticPools): Promise<NodeRecord> => this.reg.createNode(n, pools);
  getNode = (name: string): Promise<NodeRecord | undefined> => this.reg.getNode(name);
  listNodes = (filter?: { group?: string }): Promise<NodeRecord[]> => this.reg.listNodes(filter);
  updateNode = (name: string, p: NodePatch, pools: StaticPools): Promise<NodeRecord> => this.reg.updateNode(name, p, pools);
  deleteNode = (name: string): Promise<boolean> => this.reg.deleteNode(name);
  findByMac = (mac: string): Promise<{ node: NodeRecord; iface: InterfaceRecord } | undefined> => this.reg.findByMac(mac);
  findByAddress = (network: string, ipv4: string): Promise<{ node: NodeRecord; iface: InterfaceRecord } | undefined> => this.reg.findByAddress(network, ipv4);
  createGroup = (g: NewGroup): Promise<GroupRecord> => this.reg.createGroup(g);
  getGroup = (name: string): Promise<GroupRecord | undefined> => this.reg.getGroup(name);
  listGroups = (): Promise<GroupRecord[]> => this.reg.listGroups();
  updateGroup = (name: string, p: GroupPatch): Promise<GroupRecord> => this.reg.updateGroup(name, p);
  deleteGroup = (name: string): Promise<boolean> => this.reg.deleteGroup(name);

  // ---- leases ------------------------------------------------------------

  async getLease(network: string, ipv4: string): Promise<LeaseRecord | undefined> {
    const num = parseIpv4(ipv4);
    if (num === undefined) return undefined;
    const r = await this.db.q<LeaseRow>('SELECT * FROM leases WHERE network = $1 AND ipv4_num = $2', [network, num]);
    return r.rows[0] ? toLease(r.rows[0]) : undefined;
  }

  async listLeases(filter: LeaseFilter = {}): Promise<LeaseRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.network) (args.push(filter.network), where.push(`network = $${args.length}`));
    if (filter.mac) (args.push(filter.mac), where.push(`mac = $${args.length}`));
    if (filter.state) (args.push(filter.state), where.push(`state = $${args.length}`));
    const r = await this.db.q<LeaseRow>(`SELECT * FROM leases ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY network, ipv4_num`, args);
    return r.rows.map(toLease);
  }

  async putLease(l: LeaseRecord): Promise<void> {
    if (parseIpv4(l.ipv4) === undefined) throw new InvalidError('ipv4', `'${l.ipv4}' is not an IPv4 address`);
    await this.putLeases([{ ...l, reserved: true }]);
  }

  putLeases(leases: readonly LeaseWrite[]): Promise<LeaseWrite[]> {
    return putLeases((q) => this.db.q(q), (fn) => this.db.tx(fn), this.server, leases);
  }

  async deleteLease(network: string, ipv4: string): Promise<boolean> {
    const num = parseIpv4(ipv4);
    if (num === undefined) return false;
    return ((await this.db.q('DELETE FROM leases WHERE network = $1 AND ipv4_num = $2', [network, num])).rowCount ?? 0) > 0;
  }

  // ---- events ------------------------------------------------------------

  async addEvents(events: EventInput[]): Promise<void> {
    if (events.length) await this.db.q(addEventsQuery(this.server, events));
  }

  async listEvents(q: EventQuery): Promise<EventRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (cond: string, v: unknown) => (args.push(v), where.push(cond.replace('?', `$${args.length}`)));
    if (q.node !== undefined) add('node = ?', q.node);
    if (q.mac !== undefined) add('mac = ?', q.mac);
    if (q.server !== undefined) add('server = ?', q.server);
    if (q.since !== undefined) add('ts >= ?', q.since);
    if (q.kind !== undefined) add('kind = ?', q.kind);
    if (q.afterId !== undefined) add('id > ?', q.afterId);
    const limit = eventLimit(q.limit);
    const cond = where.length ? 'WHERE ' + where.join(' AND ') : '';
    const sql =
      q.afterId !== undefined
        ? `SELECT * FROM events ${cond} ORDER BY id LIMIT ${limit}`
        : `SELECT * FROM (SELECT * FROM events ${cond} ORDER BY ts DESC, id DESC LIMIT ${limit}) AS e ORDER BY ts, id`;
    return (await this.db.q<EventRow>(sql, args)).rows.map(toEvent);
  }

  async pruneEvents(beforeTs: number): Promise<number> {
    let total = 0;
    for (;;) {
      const r = await this.db.q('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts < $1 ORDER BY id LIMIT 2000)', [beforeTs]);
      const n = r.rowCount ?? 0;
      total += n;
      if (n < 2000) return total;
    }
  }

  // ---- exports, settings, servers ----------------------------------------

  listExports = (): Promise<ExportRecord[]> => this.small.listExports();
  getExport = (name: string): Promise<ExportRecord | undefined> => this.small.getExport(name);
  createExport = (e: NewExport): Promise<ExportRecord> => this.small.createExport(e);
  updateExport = (name: string, e: NewExport): Promise<ExportRecord> => this.small.updateExport(name, e);
  deleteExport = (name: string): Promise<boolean> => this.small.deleteExport(name);
  getSetting = (key: string): Promise<string | undefined> => this.small.getSetting(key);
  listSettings = (prefix?: string): Promise<Array<[string, string]>> => this.small.listSettings(prefix);
  listServers = (): Promise<ServerRecord[]> => this.small.listServers();

  /** A setting change is told to the other servers (an image's current version is one). */
  async setSetting(key: string, value: string): Promise<void> {
    await this.db.q(
      `WITH u AS (INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value RETURNING key)
       SELECT pg_notify('${CHANNEL}', $3) FROM u`,
      [key, value, note({ s: this.server, k: 'setting', n: key })],
    );
  }

  async heartbeat(info: Record<string, unknown>): Promise<void> {
    await this.small.heartbeat(this.server, info, this.startedAt, DB_NOW);
  }

  /** Tell the other servers this one's record changed (start, networks, health). */
  async announce(): Promise<void> {
    await this.db.q('SELECT pg_notify($1, $2)', [CHANNEL, note({ s: this.server, k: 'server' })]);
  }

  async now(): Promise<number> {
    return Number((await this.db.q<{ t: number }>(`SELECT ${DB_NOW} AS t`)).rows[0]!.t);
  }

  health(): StoreHealth {
    return this.db.health();
  }

  onPeerChange(listener: (c: PeerChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- store copy --------------------------------------------------------

  counts = (): Promise<StoreCounts> => countRows(this.sql);
  dump = (): AsyncGenerator<DumpChunk> => dumpRows(this.sql);

  async restore(chunk: DumpChunk): Promise<void> {
    await restoreRows(
      async (table, columns, rows) => {
        for (let at = 0; at < rows.length; at += 500) {
          const part = rows.slice(at, at + 500);
          const values = part.map((_, r) => `(${columns.map((_c, k) => `$${r * columns.length + k + 1}`).join(', ')})`).join(', ');
          await this.db.q(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values}`, part.flat());
        }
      },
      chunk,
      (b) => b,
    );
    // Restored ids stay; new events continue after the largest.
    if (chunk.table === 'events') await this.db.q("SELECT setval(pg_get_serial_sequence('events', 'id'), GREATEST((SELECT max(id) FROM events), 1))");
  }

  async clear(): Promise<void> {
    await this.db.tx(async (c) => {
      for (const t of CLEAR_ORDER) await c.query(`DELETE FROM ${t}`);
    });
  }

  async close(): Promise<void> {
    await this.listener.close();
    await this.db.end();
  }
}
