// Embedded SQLite store (better-sqlite3, WAL). better-sqlite3 is synchronous;
// the methods are async only to share the Store interface with PostgreSQL.
// WAL with synchronous=NORMAL: a committed transaction is in the OS page cache
// before the call returns, so a SIGKILLed process loses nothing it reported
// as written (only a machine crash could, which NORMAL trades for speed).

import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { formatIpv4, parseIpv4, rangeContains, type Ipv4Range } from '../net/ipv4.js';
import { SQLITE_MIGRATIONS } from './migrations.js';
import {
  ConflictError,
  InvalidError,
  NotFoundError,
  type EventInput,
  type EventQuery,
  type EventRecord,
  type ExportRecord,
  type NewExport,
  type GroupPatch,
  type GroupRecord,
  type InterfaceRecord,
  type LeaseFilter,
  type LeaseRecord,
  type LeaseState,
  type Loader,
  type NewGroup,
  type NewInterface,
  type NewNode,
  type NodePatch,
  type NodeRecord,
  type StaticPools,
  type Store,
  type StoredBmc,
} from './types.js';

interface NodeRow {
  name: string;
  grp: string | null;
  image: string | null;
  loader: string | null;
  vars: string;
  discovered: number;
  bmc: string | null;
  created_at: string;
  updated_at: string;
}
interface IfaceRow {
  node: string;
  name: string;
  mac: string;
  network: string;
  ipv4: string;
}
interface GroupRow {
  name: string;
  loader: string | null;
  image: string | null;
  vars: string;
  bmc: string | null;
  created_at: string;
  updated_at: string;
}
interface LeaseRow {
  network: string;
  ipv4: string;
  mac: string;
  client_id: string | null;
  hostname: string | null;
  state: string;
  expires_at: number;
  updated_at: number;
}
interface EventRow {
  id: number;
  node: string | null;
  mac: string | null;
  ts: number;
  kind: string;
  detail: string;
}

function parseJson(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** parseIpv4 without the regular expression, for the lease batch path (same strictness). */
function fastIpv4(text: string): number | undefined {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return undefined;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return undefined; // leading zero
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return undefined;
    } else return undefined;
  }
  if (dots !== 3 || digits === 0) return undefined;
  return n * 256 + part;
}

/** The bmc column: JSON or NULL (see StoredBmc). */
function parseBmc(text: string | null): StoredBmc | null {
  return text === null ? null : (parseJson(text) as StoredBmc);
}

const bmcText = (b: StoredBmc | null | undefined): string | null => (b ? JSON.stringify(b) : null);

function isUniqueViolation(e: unknown): e is Error & { code: string } {
  return e instanceof Error && (e as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT') === true;
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;
  /** Next address to try per network: keeps allocation O(1) in the common case. */
  private readonly allocHint = new Map<string, number>();
  private readonly stmt;

  constructor(readonly path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    const db = this.db;
    this.stmt = {
      nodeByName: db.prepare<[string], NodeRow>('SELECT * FROM nodes WHERE name = ?'),
      ifacesOf: db.prepare<[string], IfaceRow>('SELECT node, name, mac, network, ipv4 FROM interfaces WHERE node = ? ORDER BY pos'),
      allNodes: db.prepare<[], NodeRow>('SELECT * FROM nodes ORDER BY name'),
      nodesInGroup: db.prepare<[string], NodeRow>('SELECT * FROM nodes WHERE grp = ? ORDER BY name'),
      allIfaces: db.prepare<[], IfaceRow>('SELECT node, name, mac, network, ipv4 FROM interfaces ORDER BY node, pos'),
      ifacesInGroup: db.prepare<[string], IfaceRow>(
        'SELECT i.node, i.name, i.mac, i.network, i.ipv4 FROM interfaces i JOIN nodes n ON n.name = i.node WHERE n.grp = ? ORDER BY i.node, i.pos',
      ),
      insertNode: db.prepare(
        'INSERT INTO nodes (name, grp, image, loader, vars, discovered, bmc, created_at, updated_at) VALUES (@name, @grp, @image, @loader, @vars, @discovered, @bmc, @now, @now)',
      ),
      updateNode: db.prepare('UPDATE nodes SET grp = @grp, image = @image, loader = @loader, vars = @vars, bmc = @bmc, updated_at = @now WHERE name = @name'),
      deleteNode: db.prepare('DELETE FROM nodes WHERE name = ?'),
      insertIface: db.prepare(
        'INSERT INTO interfaces (node, name, mac, network, ipv4, ipv4_num, pos) VALUES (@node, @name, @mac, @network, @ipv4, @ipv4_num, @pos)',
      ),
      deleteIfaces: db.prepare('DELETE FROM interfaces WHERE node = ?'),
      ifaceByMac: db.prepare<[string], IfaceRow>('SELECT node, name, mac, network, ipv4 FROM interfaces WHERE mac = ?'),
      ifaceByAddr: db.prepare<[string, number], IfaceRow>(
        'SELECT node, name, mac, network, ipv4 FROM interfaces WHERE network = ? AND ipv4_num = ?',
      ),
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
      putLease: db.prepare(
        `INSERT INTO leases (network, ipv4, ipv4_num, mac, client_id, hostname, state, expires_at, updated_at)
         VALUES (@network, @ipv4, @ipv4_num, @mac, @client_id, @hostname, @state, @expires_at, @updated_at)
         ON CONFLICT (network, ipv4_num) DO UPDATE SET mac = excluded.mac, client_id = excluded.client_id,
           hostname = excluded.hostname, state = excluded.state, expires_at = excluded.expires_at, updated_at = excluded.updated_at`,
      ),
      deleteLease: db.prepare('DELETE FROM leases WHERE network = ? AND ipv4_num = ?'),
      // Positional parameters: cheaper than named ones on the hot paths (events, DHCP leases).
      insertEvent: db.prepare('INSERT INTO events (node, mac, ts, kind, detail) VALUES (?, ?, ?, ?, ?)'),
      putLeasePositional: db.prepare(
        `INSERT INTO leases (network, ipv4, ipv4_num, mac, client_id, hostname, state, expires_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (network, ipv4_num) DO UPDATE SET mac = excluded.mac, client_id = excluded.client_id,
           hostname = excluded.hostname, state = excluded.state, expires_at = excluded.expires_at, updated_at = excluded.updated_at`,
      ),
      deleteEventsOf: db.prepare('DELETE FROM events WHERE node = ?'),
      getSetting: db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?'),
      setSetting: db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
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

  private toNode(row: NodeRow, ifaces: IfaceRow[]): NodeRecord {
    return {
      name: row.name,
      group: row.grp,
      image: row.image,
      loader: row.loader as Loader | null,
      vars: parseJson(row.vars),
      discovered: row.discovered === 1,
      interfaces: ifaces.map((i) => ({ name: i.name, mac: i.mac, network: i.network, ipv4: i.ipv4 })),
      bmc: parseBmc(row.bmc),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  private readNode(name: string): NodeRecord | undefined {
    const row = this.stmt.nodeByName.get(name);
    return row ? this.toNode(row, this.stmt.ifacesOf.all(name)) : undefined;
  }

  /** Lowest-effort free address: start at the hint, wrap once. Runs inside a transaction. */
  private allocate(network: string, pool: Ipv4Range, reserved: Set<number>): number {
    const size = pool.end - pool.start + 1;
    let candidate = this.allocHint.get(network) ?? pool.start;
    if (!rangeContains(pool, candidate)) candidate = pool.start;
    for (let i = 0; i < size; i++) {
      if (!reserved.has(candidate) && !this.stmt.addrTaken.get(network, candidate)) {
        this.allocHint.set(network, candidate === pool.end ? pool.start : candidate + 1);
        return candidate;
      }
      candidate = candidate === pool.end ? pool.start : candidate + 1;
    }
    throw new InvalidError('interfaces.ipv4', `network '${network}' has no free address left in its static range`);
  }

  private insertInterfaces(node: string, ifaces: NewInterface[], pools: StaticPools): void {
    // Addresses given explicitly are placed first, so auto-allocation never picks one of them.
    const explicit = new Set<number>();
    for (const i of ifaces) if (i.ipv4) explicit.add(parseIpv4(i.ipv4) ?? -1);
    ifaces.forEach((i, pos) => {
      let num: number;
      if (i.ipv4) {
        const n = parseIpv4(i.ipv4);
        if (n === undefined) throw new InvalidError(`interfaces[${pos}].ipv4`, `'${i.ipv4}' is not an IPv4 address`);
        num = n;
      } else {
        const pool = pools.get(i.network);
        if (!pool) throw new InvalidError(`interfaces[${pos}].ipv4`, `network '${i.network}' has no staticRange: give ipv4`);
        num = this.allocate(i.network, pool, explicit);
        explicit.add(num);
      }
      const holder = this.stmt.ifaceByMac.get(i.mac);
      if (holder) throw new ConflictError(`interfaces[${pos}].mac`, `MAC ${i.mac} is already registered to ${holder.node}/${holder.name}`);
      const addrHolder = this.stmt.ifaceByAddr.get(i.network, num);
      if (addrHolder) {
        throw new ConflictError(
          `interfaces[${pos}].ipv4`,
          `address ${formatIpv4(num)} on network '${i.network}' is already assigned to ${addrHolder.node}/${addrHolder.name}`,
        );
      }
      try {
        this.stmt.insertIface.run({ node, name: i.name, mac: i.mac, network: i.network, ipv4: formatIpv4(num), ipv4_num: num, pos });
      } catch (e) {
        if (isUniqueViolation(e)) throw new ConflictError(`interfaces[${pos}]`, `interface ${i.name} is listed twice or duplicates a MAC or address`);
        throw e;
      }
    });
  }

  private checkGroup(group: string | null | undefined): void {
    if (group && !this.stmt.groupByName.get(group)) throw new InvalidError('group', `no group named '${group}'`);
  }

  async createNode(node: NewNode, pools: StaticPools): Promise<NodeRecord> {
    const now = new Date().toISOString();
    return this.db.transaction(() => {
      if (this.stmt.nodeByName.get(node.name)) throw new ConflictError('name', `a node named '${node.name}' already exists`);
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
    const rows = filter.group !== undefined ? this.stmt.nodesInGroup.all(filter.group) : this.stmt.allNodes.all();
    const ifaces = filter.group !== undefined ? this.stmt.ifacesInGroup.all(filter.group) : this.stmt.allIfaces.all();
    const byNode = new Map<string, IfaceRow[]>();
    for (const i of ifaces) {
      let list = byNode.get(i.node);
      if (!list) byNode.set(i.node, (list = []));
      list.push(i);
    }
    return rows.map((r) => this.toNode(r, byNode.get(r.name) ?? []));
  }

  async updateNode(name: string, patch: NodePatch, pools: StaticPools): Promise<NodeRecord> {
    const now = new Date().toISOString();
    return this.db.transaction(() => {
      const cur = this.readNode(name);
      if (!cur) throw new NotFoundError('node', `no node named '${name}'`);
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
        // Keep an interface's address when it is re-listed without one on the same network.
        const kept = new Map(cur.interfaces.map((i) => [i.mac, i]));
        const next = patch.interfaces.map((i) => {
          const old = kept.get(i.mac);
          return !i.ipv4 && old && old.network === i.network ? { ...i, ipv4: old.ipv4 } : i;
        });
        this.stmt.deleteIfaces.run(name);
        this.insertInterfaces(name, next, pools);
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

  private toGroup(r: GroupRow): GroupRecord {
    return {
      name: r.name,
      loader: r.loader as Loader | null,
      image: r.image,
      vars: parseJson(r.vars),
      bmc: parseBmc(r.bmc),
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  async createGroup(g: NewGroup): Promise<GroupRecord> {
    const now = new Date().toISOString();
    try {
      this.stmt.insertGroup.run({ name: g.name, loader: g.loader ?? null, image: g.image ?? null, vars: JSON.stringify(g.vars ?? {}), bmc: bmcText(g.bmc), now });
    } catch (e) {
      if (isUniqueViolation(e)) throw new ConflictError('name', `a group named '${g.name}' already exists`);
      throw e;
    }
    return this.toGroup(this.stmt.groupByName.get(g.name)!);
  }

  async getGroup(name: string): Promise<GroupRecord | undefined> {
    const r = this.stmt.groupByName.get(name);
    return r ? this.toGroup(r) : undefined;
  }

  async listGroups(): Promise<GroupRecord[]> {
    return this.stmt.allGroups.all().map((r) => this.toGroup(r));
  }

  async updateGroup(name: string, patch: GroupPatch): Promise<GroupRecord> {
    const cur = await this.getGroup(name);
    if (!cur) throw new NotFoundError('group', `no group named '${name}'`);
    this.stmt.updateGroup.run({
      name,
      loader: patch.loader !== undefined ? patch.loader : cur.loader,
      image: patch.image !== undefined ? patch.image : cur.image,
      vars: JSON.stringify(patch.vars !== undefined ? patch.vars : cur.vars),
      bmc: bmcText(patch.bmc !== undefined ? patch.bmc : cur.bmc),
      now: new Date().toISOString(),
    });
    return this.toGroup(this.stmt.groupByName.get(name)!);
  }

  async deleteGroup(name: string): Promise<boolean> {
    const n = this.stmt.groupInUse.get(name)?.n ?? 0;
    if (n > 0) throw new ConflictError('name', `group '${name}' still has ${n} node(s): move or delete them first`);
    return this.stmt.deleteGroup.run(name).changes > 0;
  }

  // ---- leases ------------------------------------------------------------

  private toLease(r: LeaseRow): LeaseRecord {
    return {
      network: r.network,
      ipv4: r.ipv4,
      mac: r.mac,
      clientId: r.client_id,
      hostname: r.hostname,
      state: r.state as LeaseState,
      expiresAt: r.expires_at,
      updatedAt: r.updated_at,
    };
  }

  async getLease(network: string, ipv4: string): Promise<LeaseRecord | undefined> {
    const num = parseIpv4(ipv4);
    if (num === undefined) return undefined;
    const r = this.stmt.leaseByAddr.get(network, num);
    return r ? this.toLease(r) : undefined;
  }

  async listLeases(filter: LeaseFilter = {}): Promise<LeaseRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.network) (where.push('network = ?'), args.push(filter.network));
    if (filter.mac) (where.push('mac = ?'), args.push(filter.mac));
    if (filter.state) (where.push('state = ?'), args.push(filter.state));
    const sql = `SELECT * FROM leases ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY network, ipv4_num`;
    return (this.db.prepare(sql).all(...args) as LeaseRow[]).map((r) => this.toLease(r));
  }

  async putLease(l: LeaseRecord): Promise<void> {
    const num = parseIpv4(l.ipv4);
    if (num === undefined) throw new InvalidError('ipv4', `'${l.ipv4}' is not an IPv4 address`);
    this.stmt.putLease.run({
      network: l.network,
      ipv4: l.ipv4,
      ipv4_num: num,
      mac: l.mac,
      client_id: l.clientId,
      hostname: l.hostname,
      state: l.state,
      expires_at: l.expiresAt,
      updated_at: l.updatedAt,
    });
  }

  private insertLeasesTx: ((leases: readonly LeaseRecord[], nums: number[]) => void) | undefined;

  async putLeases(leases: readonly LeaseRecord[]): Promise<void> {
    if (!leases.length) return;
    // Check every address before the transaction: all or nothing.
    const nums = leases.map((l) => {
      const num = fastIpv4(l.ipv4);
      if (num === undefined) throw new InvalidError('ipv4', `'${l.ipv4}' is not an IPv4 address`);
      return num;
    });
    this.insertLeasesTx ??= this.db.transaction((list: readonly LeaseRecord[], ips: number[]) => {
      const st = this.stmt.putLeasePositional;
      for (let i = 0; i < list.length; i++) {
        const l = list[i]!;
        st.run(l.network, l.ipv4, ips[i]!, l.mac, l.clientId, l.hostname, l.state, l.expiresAt, l.updatedAt);
      }
    });
    this.insertLeasesTx(leases, nums);
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
        this.stmt.insertEvent.run(e.node, e.mac ?? null, e.ts ?? now, e.kind, JSON.stringify(e.detail ?? {}));
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
    if (q.since !== undefined) (where.push('ts >= ?'), args.push(q.since));
    if (q.kind !== undefined) (where.push('kind = ?'), args.push(q.kind));
    const limit = Math.min(Math.max(q.limit ?? 1000, 1), 10000);
    // Newest `limit` events, returned oldest first: a timeline reads forward.
    const sql = `SELECT * FROM (SELECT * FROM events ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
      ORDER BY ts DESC, id DESC LIMIT ${limit}) ORDER BY ts, id`;
    return (this.db.prepare(sql).all(...args) as EventRow[]).map((r) => ({
      id: r.id,
      node: r.node,
      mac: r.mac,
      ts: r.ts,
      kind: r.kind,
      detail: parseJson(r.detail),
    }));
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

  // ---- NFS exports (API-made) ---------------------------------------------
  // The fields live in one JSON column: the NFS service validates them, and
  // a field added later needs no migration.

  private toExport(r: { name: string; spec: string; created_at: string; updated_at: string }): ExportRecord {
    const spec = parseJson(r.spec) as Partial<NewExport>;
    return {
      name: r.name,
      path: String(spec.path ?? ''),
      networks: Array.isArray(spec.networks) ? spec.networks.map(String) : [],
      access: spec.access === 'rw' ? 'rw' : 'ro',
      squash: spec.squash ?? 'root_squash',
      sync: spec.sync ?? true,
      allowRwNetwork: spec.allowRwNetwork ?? false,
      pseudo: String(spec.pseudo ?? `/${r.name}`),
      layout: spec.layout === 'plain' ? 'plain' : 'releases',
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  private exportSpec(e: NewExport): string {
    const { name: _name, ...spec } = e;
    return JSON.stringify(spec);
  }

  async listExports(): Promise<ExportRecord[]> {
    return this.db.prepare<[], { name: string; spec: string; created_at: string; updated_at: string }>('SELECT * FROM nfs_exports ORDER BY name').all().map((r) => this.toExport(r));
  }

  async getExport(name: string): Promise<ExportRecord | undefined> {
    const r = this.db.prepare<[string], { name: string; spec: string; created_at: string; updated_at: string }>('SELECT * FROM nfs_exports WHERE name = ?').get(name);
    return r ? this.toExport(r) : undefined;
  }

  async createExport(e: NewExport): Promise<ExportRecord> {
    const now = new Date().toISOString();
    try {
      this.db.prepare('INSERT INTO nfs_exports (name, spec, created_at, updated_at) VALUES (?, ?, ?, ?)').run(e.name, this.exportSpec(e), now, now);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError('name', `an export named '${e.name}' already exists`);
      throw err;
    }
    return (await this.getExport(e.name))!;
  }

  async updateExport(name: string, e: NewExport): Promise<ExportRecord> {
    const now = new Date().toISOString();
    const r = this.db.prepare('UPDATE nfs_exports SET spec = ?, updated_at = ? WHERE name = ?').run(this.exportSpec({ ...e, name }), now, name);
    if (!r.changes) throw new NotFoundError('export', `no export named '${name}'`);
    return (await this.getExport(name))!;
  }

  async deleteExport(name: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM nfs_exports WHERE name = ?').run(name).changes > 0;
  }

  // ---- settings ----------------------------------------------------------

  async getSetting(key: string): Promise<string | undefined> {
    return this.stmt.getSetting.get(key)?.value;
  }

  async setSetting(key: string, value: string): Promise<void> {
    this.stmt.setSetting.run(key, value);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
