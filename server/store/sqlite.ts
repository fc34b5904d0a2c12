// Embedded SQLite store (better-sqlite3, WAL). better-sqlite3 is synchronous;
// the methods are async only to share the Store interface with PostgreSQL.
// WAL with synchronous=NORMAL: a committed transaction is in the OS page cache
// before the call returns, so a SIGKILLed process loses nothing it reported
// as written (only a machine crash could, which NORMAL trades for speed).
// Row shapes, messages and the lease takeover rule are shared with the
// PostgreSQL store (rows.ts).

import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { formatIpv4, parseIpv4 } from '../net/ipv4.js';
import { CLEAR_ORDER, countRows, dumpRows, restoreRows } from './dump.js';
import { SmallTables, type SqlRunner } from './small-tables.js';
import { SQLITE_MIGRATIONS } from './migrations.js';
import {
  addressTaken, eventLimit, firstFree, groupExists, groupInUse, interfaceClash, joinNodes, keepAddresses, LEASE_TAKEOVER,
  leaseNumbers, macTaken, nextHint, noGroupToJoin, nodeExists, noSuchGroup, noSuchNode, planInterfaces, poolExhausted,
  bmcText, toEvent, toGroup, toLease, toNode,
  type EventRow, type GroupRow, type IfaceRow, type LeaseRow, type NodeRow,
} from './rows.js';
import {
  InvalidError,
  type DumpChunk, type EventInput, type EventQuery, type EventRecord, type ExportRecord, type GroupPatch, type GroupRecord, type InterfaceRecord,
  type LeaseFilter, type LeaseRecord, type LeaseWrite, type NewExport, type NewGroup, type NewInterface, type NewNode, type NodePatch, type NodeRecord,
  type PeerChange, type ServerRecord, type StaticPools, type Store, type StoreCounts, type StoreHealth,
} from './types.js';

function isUniqueViolation(e: unknown): e is Error & { code: string } {
  return e instanceof Error && (e as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT') === true;
}

const LEASE_COLUMNS = '(network, ipv4, ipv4_num, mac, client_id, hostname, state, expires_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)';
const LEASE_SET = `ON CONFLICT (network, ipv4_num) DO UPDATE SET mac = excluded.mac, client_id = excluded.client_id,
  hostname = excluded.hostname, state = excluded.state, expires_at = excluded.expires_at, updated_at = excluded.updated_at`;

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly server: string;
  readonly describe: string;
  private readonly db: Database.Database;
  /** Next address to try per network: keeps allocation O(1) in the common case. */
  private readonly allocHint = new Map<string, number>();
  private readonly startedAt = Date.now();
  private readonly stmt;

  constructor(readonly path: string, opts: { server?: string } = {}) {
    this.server = opts.server ?? hostname();
    this.describe = `sqlite ${path}`;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    const db = this.db;
    const iface = 'SELECT node, name, mac, network, ipv4 FROM interfaces';
    this.stmt = {
      nodeByName: db.prepare<[string], NodeRow>('SELECT * FROM nodes WHERE name = ?'),
      ifacesOf: db.prepare<[string], IfaceRow>(`${iface} WHERE node = ? ORDER BY pos`),
      allNodes: db.prepare<[], NodeRow>('SELECT * FROM nodes ORDER BY name'),
      nodesInGroup: db.prepare<[string], NodeRow>('SELECT * FROM nodes WHERE grp = ? ORDER BY name'),
      allIfaces: db.prepare<[], IfaceRow>(`${iface} ORDER BY node, pos`),
      ifacesInGroup: db.prepare<[string], IfaceRow>(
        'SELECT i.node, i.name, i.mac, i.network, i.ipv4 FROM interfaces i JOIN nodes n ON n.name = i.node WHERE n.grp = ? ORDER BY i.node, i.pos',
      ),
      insertNode: db.prepare(
        'INSERT INTO nodes (name, grp, image, loader, vars, discovered, bmc, created_at, updated_at) VALUES (@name, @grp, @image, @loader, @vars, @discovered, @bmc, @now, @now)',
      ),
      updateNode: db.prepare('UPDATE nodes SET grp = @grp, image = @image, loader = @loader, vars = @vars, bmc = @bmc, updated_at = @now WHERE name = @name'),
      deleteNode: db.prepare('DELETE FROM nodes WHERE name = ?'),
      insertIface: db.prepare('INSERT INTO interfaces (node, name, mac, network, ipv4, ipv4_num, pos) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      deleteIfaces: db.prepare('DELETE FROM interfaces WHERE node = ?'),
      ifaceByMac: db.prepare<[string], IfaceRow>(`${iface} WHERE mac = ?`),
      ifaceByAddr: db.prepare<[string, number], IfaceRow>(`${iface} WHERE network = ? AND ipv4_num = ?`),
      addrTaken: db.prepare<[string, number], { x: number }>('SELECT 1 AS x FROM interfaces WHERE network = ? AND ipv4_num = ?'),
      groupByName: db.prepare<[string], GroupRow>('SELECT * FROM groups WHERE name = ?'),
      allGroups: db.prepare<[], GroupRow>('SELECT * FROM groups ORDER BY name'),
      insertGroup: db.prepare(
        'INSERT INTO groups (name, loader, image, vars, bmc, created_at, updated_at) VALUES (@name, @loader, @image, @vars, @bmc, @now, @now)',
      ),
      updateGroup: db.prepare('UPDATE groups SET loader = @loader, image = @image, vars = @vars, bmc = @bmc, updated_at = @now WHERE name = @name'),
      deleteGroup: db.prepare('DELETE FROM groups WHERE name = ?'),
      groupInUse: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM nodes WHERE grp = ?'),
      leaseByAddr: db.prepare<[string, number], LeaseRow>('SELECT * FROM leases WHERE network = ? AND ipv4_num = ?'),
      deleteLease: db.prepare('DELETE FROM leases WHERE network = ? AND ipv4_num = ?'),
      // Positional parameters: cheaper than named ones on the hot paths (events, DHCP leases).
      insertEvent: db.prepare('INSERT INTO events (server, node, mac, ts, kind, detail) VALUES (?, ?, ?, ?, ?, ?)'),
      putLease: db.prepare(`INSERT INTO leases ${LEASE_COLUMNS} ${LEASE_SET}`),
      takeLease: db.prepare(`INSERT INTO leases ${LEASE_COLUMNS} ${LEASE_SET} WHERE ${LEASE_TAKEOVER('leases')}`),
      deleteEventsOf: db.prepare('DELETE FROM events WHERE node = ?'),
    };
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    const latest = SQLITE_MIGRATIONS.at(-1)?.version ?? 0;
    if (current > latest) {
      throw new Error(`database ${this.path} has schema version ${current}, newer than this rackboot (${latest}): upgrade rackboot`);
    }
    for (const m of SQLITE_MIGRATIONS) {
      if (m.version <= current) continue;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.db.pragma(`user_version = ${m.version}`);
      })();
    }
  }

  // ---- nodes -------------------------------------------------------------

  private readNode(name: string): NodeRecord | undefined {
    const row = this.stmt.nodeByName.get(name);
    return row ? toNode(row, this.stmt.ifacesOf.all(name)) : undefined;
  }

  private insertInterfaces(node: string, ifaces: NewInterface[], pools: StaticPools): void {
    // Addresses given explicitly are placed first, so auto-allocation never picks one of them.
    const { planned, reserved } = planInterfaces(ifaces, pools);
    for (const i of planned) {
      let num = i.num;
      if (num === undefined) {
        const pool = pools.get(i.network)!;
        const mine = reserved.get(i.network);
        num = firstFree(pool, this.allocHint.get(i.network), (n) => mine?.has(n) === true || this.stmt.addrTaken.get(i.network, n) !== undefined);
        if (num === undefined) throw poolExhausted(i.network);
        this.allocHint.set(i.network, nextHint(pool, num));
        if (mine) mine.add(num);
        else reserved.set(i.network, new Set([num]));
      }
      const holder = this.stmt.ifaceByMac.get(i.mac);
      if (holder) throw macTaken(i.pos, i.mac, holder);
      const addrHolder = this.stmt.ifaceByAddr.get(i.network, num);
      if (addrHolder) throw addressTaken(i.pos, i.network, num, addrHolder);
      try {
        this.stmt.insertIface.run(node, i.name, i.mac, i.network, formatIpv4(num), num, i.pos);
      } catch (e) {
        if (isUniqueViolation(e)) throw interfaceClash(i.pos, i.name);
        throw e;
      }
    }
  }

  private checkGroup(group: string | null | undefined): void {
    if (group && !this.stmt.groupByName.get(group)) throw noGroupToJoin(group);
  }

  async createNode(node: NewNode, pools: StaticPools): Promise<NodeRecord> {
    const now = new Date().toISOString();
    return this.db.transaction(() => {
      if (this.stmt.nodeByName.get(node.name)) throw nodeExists(node.name);
      this.checkGroup(node.group);
      this.stmt.insertNode.run({
        name: node.name,
        grp: node.group ?? null,
        image: node.image ?? null,
        loader: node.loader ?? null,
        vars: JSON.stringify(node.vars ?? {}),
        discovered: node.discovered ? 1 : 0,
        bmc: bmcText(node.bmc),
        now,
      });
      this.insertInterfaces(node.name, node.interfaces, pools);
      return this.readNode(node.name)!;
    })();
  }

  async getNode(name: string): Promise<NodeRecord | undefined> {
    return this.readNode(name);
  }

  async listNodes(filter: { group?: string } = {}): Promise<NodeRecord[]> {
    if (filter.group !== undefined) return joinNodes(this.stmt.nodesInGroup.all(filter.group), this.stmt.ifacesInGroup.all(filter.group));
    return joinNodes(this.stmt.allNodes.all(), this.stmt.allIfaces.all());
  }

  async updateNode(name: string, patch: NodePatch, pools: StaticPools): Promise<NodeRecord> {
    const now = new Date().toISOString();
    return this.db.transaction(() => {
      const cur = this.readNode(name);
      if (!cur) throw noSuchNode(name);
      if (patch.group !== undefined) this.checkGroup(patch.group);
      this.stmt.updateNode.run({
        name,
        grp: patch.group !== undefined ? patch.group : cur.group,
        image: patch.image !== undefined ? patch.image : cur.image,
        loader: patch.loader !== undefined ? patch.loader : cur.loader,
        vars: JSON.stringify(patch.vars !== undefined ? patch.vars : cur.vars),
        bmc: bmcText(patch.bmc !== undefined ? patch.bmc : cur.bmc),
        now,
      });
      if (patch.interfaces) {
        this.stmt.deleteIfaces.run(name);
        this.insertInterfaces(name, keepAddresses(cur, patch.interfaces), pools);
      }
      return this.readNode(name)!;
    })();
  }

  async deleteNode(name: string): Promise<boolean> {
    return this.db.transaction(() => {
      const changes = this.stmt.deleteNode.run(name).changes;
      if (changes) this.stmt.deleteEventsOf.run(name);
      return changes > 0;
    })();
  }

  async findByMac(mac: string): Promise<{ node: NodeRecord; iface: InterfaceRecord } | undefined> {
    const row = this.stmt.ifaceByMac.get(mac);
    if (!row) return undefined;
    const node = this.readNode(row.node)!;
    return { node, iface: node.interfaces.find((i) => i.mac === mac)! };
  }

  async findByAddress(network: string, ipv4: string): Promise<{ node: NodeRecord; iface: InterfaceRecord } | undefined> {
    const num = parseIpv4(ipv4);
    if (num === undefined) return undefined;
    const row = this.stmt.ifaceByAddr.get(network, num);
    if (!row) return undefined;
    const node = this.readNode(row.node)!;
    return { node, iface: node.interfaces.find((i) => i.mac === row.mac)! };
  }

  // ---- groups ------------------------------------------------------------

  async createGroup(g: NewGroup): Promise<GroupRecord> {
    const now = new Date().toISOString();
    try {
      this.stmt.insertGroup.run({ name: g.name, loader: g.loader ?? null, image: g.image ?? null, vars: JSON.stringify(g.vars ?? {}), bmc: bmcText(g.bmc), now });
    } catch (e) {
      if (isUniqueViolation(e)) throw groupExists(g.name);
      throw e;
    }
    return toGroup(this.stmt.groupByName.get(g.name)!);
  }

  async getGroup(name: string): Promise<GroupRecord | undefined> {
    const r = this.stmt.groupByName.get(name);
    return r ? toGroup(r) : undefined;
  }

  async listGroups(): Promise<GroupRecord[]> {
    return this.stmt.allGroups.all().map(toGroup);
  }

  async updateGroup(name: string, patch: GroupPatch): Promise<GroupRecord> {
    const cur = await this.getGroup(name);
    if (!cur) throw noSuchGroup(name);
    this.stmt.updateGroup.run({
      name,
      loader: patch.loader !== undefined ? patch.loader : cur.loader,
      image: patch.image !== undefined ? patch.image : cur.image,
      vars: JSON.stringify(patch.vars !== undefined ? patch.vars : cur.vars),
      bmc: bmcText(patch.bmc !== undefined ? patch.bmc : cur.bmc),
      now: new Date().toISOString(),
    });
    return toGroup(this.stmt.groupByName.get(name)!);
  }

  async deleteGroup(name: string): Promise<boolean> {
    const n = this.stmt.groupInUse.get(name)?.n ?? 0;
    if (n > 0) throw groupInUse(name, n);
    return this.stmt.deleteGroup.run(name).changes > 0;
  }

  // ---- leases ------------------------------------------------------------

  async getLease(network: string, ipv4: string): Promise<LeaseRecord | undefined> {
    const num = parseIpv4(ipv4);
    if (num === undefined) return undefined;
    const r = this.stmt.leaseByAddr.get(network, num);
    return r ? toLease(r) : undefined;
  }

  async listLeases(filter: LeaseFilter = {}): Promise<LeaseRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.network) (where.push('network = ?'), args.push(filter.network));
    if (filter.mac) (where.push('mac = ?'), args.push(filter.mac));
    if (filter.state) (where.push('state = ?'), args.push(filter.state));
    const sql = `SELECT * FROM leases ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY network, ipv4_num`;
    return (this.db.prepare(sql).all(...args) as LeaseRow[]).map(toLease);
  }

  async putLease(l: LeaseRecord): Promise<void> {
    const num = parseIpv4(l.ipv4);
    if (num === undefined) throw new InvalidError('ipv4', `'${l.ipv4}' is not an IPv4 address`);
    this.stmt.putLease.run(l.network, l.ipv4, num, l.mac, l.clientId, l.hostname, l.state, l.expiresAt, l.updatedAt);
  }

  private writeLeasesTx: ((leases: readonly LeaseWrite[], nums: number[]) => LeaseWrite[]) | undefined;

  async putLeases(leases: readonly LeaseWrite[]): Promise<LeaseWrite[]> {
    if (!leases.length) return [];
    const nums = leaseNumbers(leases);
    this.writeLeasesTx ??= this.db.transaction((list: readonly LeaseWrite[], ips: number[]) => {
      const refused: LeaseWrite[] = [];
      for (let i = 0; i < list.length; i++) {
        const l = list[i]!;
        const st = l.reserved ? this.stmt.putLease : this.stmt.takeLease;
        const r = st.run(l.network, l.ipv4, ips[i]!, l.mac, l.clientId, l.hostname, l.state, l.expiresAt, l.updatedAt);
        if (r.changes === 0) refused.push(l);
      }
      return refused;
    });
    return this.writeLeasesTx(leases, nums);
  }

  async deleteLease(network: string, ipv4: string): Promise<boolean> {
    const num = parseIpv4(ipv4);
    return num !== undefined && this.stmt.deleteLease.run(network, num).changes > 0;
  }

  // ---- events ------------------------------------------------------------

  private readonly insertEvents = (events: EventInput[]) => {
    this.db.transaction(() => {
      const now = Date.now();
      for (const e of events) {
        this.stmt.insertEvent.run(e.server ?? this.server, e.node, e.mac ?? null, e.ts ?? now, e.kind, JSON.stringify(e.detail ?? {}));
      }
    })();
  };

  async addEvents(events: EventInput[]): Promise<void> {
    if (events.length) this.insertEvents(events);
  }

  async listEvents(q: EventQuery): Promise<EventRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.node !== undefined) (where.push('node = ?'), args.push(q.node));
    if (q.mac !== undefined) (where.push('mac = ?'), args.push(q.mac));
    if (q.server !== undefined) (where.push('server = ?'), args.push(q.server));
    if (q.since !== undefined) (where.push('ts >= ?'), args.push(q.since));
    if (q.kind !== undefined) (where.push('kind = ?'), args.push(q.kind));
    if (q.afterId !== undefined) (where.push('id > ?'), args.push(q.afterId));
    const limit = eventLimit(q.limit);
    const cond = where.length ? 'WHERE ' + where.join(' AND ') : '';
    // Newest `limit` events, returned oldest first: a timeline reads forward. A reader catching up (afterId) reads the oldest first.
    const sql =
      q.afterId !== undefined
        ? `SELECT * FROM events ${cond} ORDER BY id LIMIT ${limit}`
        : `SELECT * FROM (SELECT * FROM events ${cond} ORDER BY ts DESC, id DESC LIMIT ${limit}) ORDER BY ts, id`;
    return (this.db.prepare(sql).all(...args) as EventRow[]).map(toEvent);
  }

  async pruneEvents(beforeTs: number): Promise<number> {
    // In batches, yielding between them: a first prune of a large backlog in
    // one statement would hold up DHCP and TFTP for its whole length. Oldest
    // ids first: in rowid order the old events are where the scan starts.
    const batch = this.db.prepare('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts < ? ORDER BY id LIMIT 2000)');
    let total = 0;
    for (;;) {
      const n = batch.run(beforeTs).changes;
      total += n;
      if (n < 2000) return total;
      await new Promise((r) => setImmediate(r));
      if (!this.db.open) return total; // closed meanwhile (the server stopped)
    }
  }

  // ---- NFS exports (API-made), settings, servers: as the PostgreSQL store keeps them ----

  private readonly sql: SqlRunner = {
    rows: async <T>(sql: string, params: unknown[]) => this.db.prepare(sql).all(...params) as T[],
    run: async (sql: string, params: unknown[]) => this.db.prepare(sql).run(...params).changes,
    ph: () => '?',
    isUniqueViolation,
  };
  private readonly small = new SmallTables(this.sql);

  listExports = (): Promise<ExportRecord[]> => this.small.listExports();
  getExport = (name: string): Promise<ExportRecord | undefined> => this.small.getExport(name);
  createExport = (e: NewExport): Promise<ExportRecord> => this.small.createExport(e);
  updateExport = (name: string, e: NewExport): Promise<ExportRecord> => this.small.updateExport(name, e);
  deleteExport = (name: string): Promise<boolean> => this.small.deleteExport(name);
  getSetting = (key: string): Promise<string | undefined> => this.small.getSetting(key);
  setSetting = (key: string, value: string): Promise<void> => this.small.setSetting(key, value);
  listSettings = (prefix?: string): Promise<Array<[string, string]>> => this.small.listSettings(prefix);
  heartbeat = (info: Record<string, unknown>): Promise<void> => this.small.heartbeat(this.server, info, this.startedAt, String(Date.now()));
  listServers = (): Promise<ServerRecord[]> => this.small.listServers();

  async now(): Promise<number> {
    return Date.now();
  }

  health(): StoreHealth {
    return this.db.open ? { ok: true, detail: this.describe } : { ok: false, detail: `${this.describe} is closed` };
  }

  /** One server per SQLite file (the data directory lock): no peer ever changes it. */
  onPeerChange(_listener: (c: PeerChange) => void): () => void {
    return () => undefined;
  }

  // ---- store copy --------------------------------------------------------------

  counts = (): Promise<StoreCounts> => countRows(this.sql);
  dump = (): AsyncGenerator<DumpChunk> => dumpRows(this.sql);

  async restore(chunk: DumpChunk): Promise<void> {
    await restoreRows(
      async (table, columns, rows) => {
        const st = this.db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
        this.db.transaction(() => {
          for (const r of rows) st.run(...r);
        })();
      },
      chunk,
      (b) => (b ? 1 : 0),
    );
  }

  async clear(): Promise<void> {
    this.db.transaction(() => {
      for (const t of CLEAR_ORDER) this.db.exec(`DELETE FROM ${t}`);
    })();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
