// Nodes and groups in PostgreSQL. The unique constraints decide (a name, a
// MAC, an address is taken once, whichever server registers it); the
// friendly "already registered to" message is looked up only after a
// violation. An address allocated from a static range is the first free one
// from this server's hint; another server taking it in the meantime shows as
// a violation, and the allocation is tried again. Every change notifies the
// other servers in its own statement or transaction.
import type pg from 'pg';
import { formatIpv4, parseIpv4, type Ipv4Range } from '../../net/ipv4.js';
import {
  addressTaken, groupExists, groupInUse, interfaceClash, joinNodes, keepAddresses, macTaken, nextHint, noGroupToJoin, nodeExists, noSuchGroup,
  noSuchNode, planInterfaces, poolExhausted, bmcText, toGroup, toNode, type GroupRow, type IfaceRow, type NodeRow, type PlannedInterface,
} from '../rows.js';
import { StoreUnavailableError, type GroupPatch, type GroupRecord, type InterfaceRecord, type NewGroup, type NewInterface, type NewNode, type NodePatch, type NodeRecord, type StaticPools } from '../types.js';
import type { PgDb } from './db.js';
import { isForeignKey, isUnique, type PgError } from './errors.js';
import { GroupCommit } from './group-commit.js';
import { CHANNEL, note } from './listener.js';

type Q = Pick<pg.PoolClient, 'query'>;
const IFACE = 'SELECT node, name, mac, network, ipv4 FROM interfaces';
const ALLOC_TRIES = 20;
const NODE_BY_NAME = `SELECT n.*, (SELECT json_agg(json_build_object('node', i.node, 'name', i.name, 'mac', i.mac, 'network', i.network, 'ipv4', i.ipv4) ORDER BY i.pos)
  FROM interfaces i WHERE i.node = n.name) AS ifaces FROM nodes n WHERE n.name = $1`;

/**
 * The first address of [lo, hi] on the network that no interface holds and
 * the skip list (network, address pairs) does not name. It is lo itself or
 * one past a held (or skipped) address, so only those candidates are looked
 * at: an index range scan from the hint, not a walk over the pool.
 */
const firstFree = (lo: string, hi: string) => `(SELECT c FROM (
    SELECT ${lo} AS c
    UNION ALL SELECT ipv4_num + 1 FROM interfaces i WHERE i.network = r.network AND i.ipv4_num >= ${lo} AND i.ipv4_num < ${hi}
    UNION ALL SELECT s.num + 1 FROM unnest($5::text[], $6::bigint[]) AS s(net, num) WHERE s.net = r.network AND s.num >= ${lo} AND s.num < ${hi}
  ) AS cand
  WHERE ${lo} <= ${hi}
    AND NOT EXISTS (SELECT 1 FROM interfaces i WHERE i.network = r.network AND i.ipv4_num = cand.c)
    AND NOT EXISTS (SELECT 1 FROM unnest($5::text[], $6::bigint[]) AS s(net, num) WHERE s.net = r.network AND s.num = cand.c)
  ORDER BY c LIMIT 1)`;

/**
 * A block of free addresses of one network ($2), ascending from the first
 * free one at the hint ($3) or, wrapping, from the pool's start ($7), within
 * 256 addresses of it: at most $1 of them. Registrations take addresses
 * from the block without a round trip each.
 */
const FREE_BLOCK = `WITH r AS (SELECT $2::text AS network, $3::bigint AS a, $4::bigint AS b, $7::bigint AS s),
  f AS (SELECT coalesce(${firstFree('r.a', 'r.b')}, ${firstFree('r.s', 'r.a - 1')}) AS c FROM r)
  SELECT n FROM r, f, generate_series(f.c, LEAST(CASE WHEN f.c >= r.a THEN r.b ELSE r.a - 1 END, f.c + 255)) AS n
  WHERE NOT EXISTS (SELECT 1 FROM interfaces i WHERE i.network = r.network AND i.ipv4_num = n)
    AND NOT EXISTS (SELECT 1 FROM unnest($5::text[], $6::bigint[]) AS s(net, num) WHERE s.net = r.network AND s.num = n)
  ORDER BY n LIMIT $1`;
const BLOCK = 64;

const INSERT_IFACES = `INSERT INTO interfaces (node, name, mac, network, ipv4, ipv4_num, pos)
  SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::int[])`;

/** Several registrations in one statement (group commit): the nodes, their interfaces, a note each. */
const CREATE_NODES = `WITH n AS (INSERT INTO nodes (name, grp, image, loader, vars, discovered, bmc, created_at, updated_at)
    SELECT t.name, t.grp, t.image, t.loader, t.vars, t.discovered, t.bmc::jsonb, $8, $8
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[]) AS t(name, grp, image, loader, vars, discovered, bmc)),
  i AS (INSERT INTO interfaces (node, name, mac, network, ipv4, ipv4_num, pos)
    SELECT * FROM unnest($9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[], $15::int[])),
  x AS (SELECT pg_notify('${CHANNEL}', m) FROM unnest($16::text[]) AS m)
  SELECT count(*) AS told FROM x`;

interface Registration {
  node: NewNode;
  pools: StaticPools;
}

export class PgRegistry {
  private readonly hint = new Map<string, number>();
  /** Addresses believed free, per network, ascending from the hint: taken one by one, fetched a block at a time. */
  private readonly cache = new Map<string, number[]>();
  /** Allocations one at a time per process: two of its calls never take the same address. */
  private allocating: Promise<unknown> = Promise.resolve();
  /** Queries outside a transaction, through the pool (errors mapped by PgDb). */
  private readonly direct = { query: (t: string | pg.QueryConfig, v?: unknown[]) => this.db.q(t, v) } as unknown as Q;

  /**
   * Registrations that arrive while others are being written go together in
   * the next statement: concurrent API requests share a commit (a disk sync)
   * instead of each waiting for its own.
   */
  private readonly registrations = new GroupCommit<Registration, NodeRecord>(
    (r) => this.createOne(r.node, r.pools),
    (rs) => this.createMany(rs),
    (err) => err instanceof StoreUnavailableError,
  );

  constructor(private readonly db: PgDb, private readonly server: string) {}

  private notifyNode(name: string, deleted = false): string {
    return note({ s: this.server, k: 'node', n: name, ...(deleted ? { d: 1 as const } : {}) });
  }

  /** A node and its interfaces in one round trip (a prepared statement: the boot paths ask for nodes often). */
  private async readNode(c: Q, name: string): Promise<NodeRecord | undefined> {
    const r = await c.query<NodeRow & { ifaces: IfaceRow[] | null }>({ name: 'rackboot_node', text: NODE_BY_NAME, values: [name] });
    const row = r.rows[0];
    return row ? toNode(row, row.ifaces ?? []) : undefined;
  }

  /** Fill in the addresses to allocate (from the hint on, wrapping once); giveBack() what a failed write did not use. */
  private allocate(c: Q, planned: PlannedInterface[], reserved: Map<string, Set<number>>, pools: StaticPools): Promise<Map<number, number>> {
    const run = this.allocating.then(() => this.allocateNow(c, planned, reserved, pools));
    this.allocating = run.catch(() => undefined);
    return run;
  }

  /** Addresses a write did not use (it failed for another reason than the address): back to the front of the block. */
  private giveBack(planned: PlannedInterface[], got: Map<number, number>): void {
    for (const p of [...planned].reverse()) {
      const n = got.get(p.pos);
      if (n !== undefined && p.num === undefined) this.cache.get(p.network)?.unshift(n);
    }
  }

  private async allocateNow(c: Q, planned: PlannedInterface[], reserved: Map<string, Set<number>>, pools: StaticPools): Promise<Map<number, number>> {
    const got = new Map<number, number>();
    for (const i of planned) {
      if (i.num !== undefined) continue;
      const skip = reserved.get(i.network) ?? new Set<number>();
      reserved.set(i.network, skip);
      const n = await this.take(c, i.network, pools.get(i.network)!, skip);
      skip.add(n);
      got.set(i.pos, n);
    }
    return got;
  }

  private async take(c: Q, network: string, pool: Ipv4Range, skip: Set<number>): Promise<number> {
    for (let refills = 0; refills < 2; refills++) {
      const list = this.cache.get(network) ?? [];
      while (list.length) {
        const n = list.shift()!;
        if (!skip.has(n) && n >= pool.start && n <= pool.end) return n;
      }
      const h = this.hint.get(network);
      const from = h !== undefined && h >= pool.start && h <= pool.end ? h : pool.start;
      const r = await c.query<{ n: number }>({
        name: 'rackboot_free_block',
        text: FREE_BLOCK,
        values: [BLOCK, network, from, pool.end, [...skip].map(() => network), [...skip], pool.start],
      });
      const block = r.rows.map((x) => x.n);
      this.cache.set(network, block);
      if (!block.length) break;
      this.hint.set(network, nextHint(pool, block[block.length - 1]!));
    }
    throw poolExhausted(network);
  }

  private ifaceValues(node: string, planned: PlannedInterface[], got: Map<number, number>): unknown[] {
    const num = (i: PlannedInterface) => i.num ?? got.get(i.pos)!;
    return [node, planned.map((i) => i.name), planned.map((i) => i.mac), planned.map((i) => i.network), planned.map((i) => formatIpv4(num(i))), planned.map(num), planned.map((i) => i.pos)];
  }

  /** After a unique violation on interfaces: the same error SQLite gives (first interface in order, MAC before address). */
  private async explain(err: unknown, node: string, planned: PlannedInterface[], got: Map<number, number>): Promise<Error> {
    for (const i of planned) {
      const num = i.num ?? got.get(i.pos);
      const m = await this.db.q<IfaceRow>(`${IFACE} WHERE mac = $1 AND node <> $2`, [i.mac, node]);
      if (m.rows[0]) return macTaken(i.pos, i.mac, m.rows[0]);
      if (num === undefined) continue;
      const a = await this.db.q<IfaceRow>(`${IFACE} WHERE network = $1 AND ipv4_num = $2 AND node <> $3`, [i.network, num, node]);
      if (a.rows[0]) return addressTaken(i.pos, i.network, num, a.rows[0]);
    }
    const pos = planned.find((p) => (err as PgError).detail?.includes(p.name))?.pos ?? 0;
    return interfaceClash(pos, planned[pos]?.name ?? '');
  }

  /** Was the violated address one this call allocated (another server took it meanwhile)? */
  private lostAllocation(err: unknown, planned: PlannedInterface[], got: Map<number, number>): boolean {
    if (!isUnique(err, 'interfaces_addr_key')) return false;
    const detail = (err as PgError).detail ?? '';
    return planned.some((p) => p.num === undefined && detail.includes(`, ${got.get(p.pos)})`));
  }

  createNode(node: NewNode, pools: StaticPools): Promise<NodeRecord> {
    return this.registrations.run({ node, pools });
  }

  /** The record as written (no row comes back: building JSON in the database cost more than the insert). */
  private written(node: NewNode, now: string, names: string[], macs: string[], nets: string[], addrs: string[]): NodeRecord {
    const vars = JSON.stringify(node.vars ?? {});
    const row: NodeRow = { name: node.name, grp: node.group ?? null, image: node.image ?? null, loader: node.loader ?? null, vars, discovered: node.discovered === true, bmc: bmcText(node.bmc), created_at: now, updated_at: now };
    return toNode(row, names.map((name, k) => ({ node: node.name, name, mac: macs[k]!, network: nets[k]!, ipv4: addrs[k]! })));
  }

  /**
   * Several registrations in one statement. Any refusal (a taken name, MAC or
   * address, a missing group, a bad address) fails the whole statement: the
   * addresses go back and GroupCommit tries each on its own (createOne), which
   * gives each its own answer.
   */
  private async createMany(rs: Registration[]): Promise<NodeRecord[]> {
    const pools = rs[0]!.pools;
    if (rs.some((r) => r.pools !== pools)) throw new Error('registrations against different pools are not written together');
    const now = new Date().toISOString();
    const plans = rs.map((r) => planInterfaces(r.node.interfaces, pools));
    // Every given address is off limits to every allocation of the batch.
    const reserved = new Map<string, Set<number>>();
    for (const p of plans) for (const [net, set] of p.reserved) for (const n of set) (reserved.get(net) ?? reserved.set(net, new Set()).get(net)!).add(n);
    const gots: Array<Map<number, number>> = [];
    try {
      for (const p of plans) gots.push(await this.allocate(this.direct, p.planned, reserved, pools));
      const ifaces = plans.map((p, k) => this.ifaceValues(rs[k]!.node.name, p.planned, gots[k]!) as [string, string[], string[], string[], string[], number[], number[]]);
      const col = (c: number) => ifaces.flatMap((v) => (v[c] as unknown[]));
      const nodes = rs.map((r) => r.node);
      await this.db.q({
        name: 'rackboot_create_nodes',
        text: CREATE_NODES,
        values: [
          nodes.map((n) => n.name), nodes.map((n) => n.group ?? null), nodes.map((n) => n.image ?? null), nodes.map((n) => n.loader ?? null),
          nodes.map((n) => JSON.stringify(n.vars ?? {})), nodes.map((n) => n.discovered === true), nodes.map((n) => bmcText(n.bmc)), now,
          ifaces.flatMap((v) => v[1].map(() => v[0])), col(1), col(2), col(3), col(4), col(5), col(6),
          nodes.map((n) => this.notifyNode(n.name)),
        ],
      });
      return rs.map((r, k) => this.written(r.node, now, ...(ifaces[k]!.slice(1, 5) as [string[], string[], string[], string[]])));
    } catch (e) {
      for (let k = gots.length - 1; k >= 0; k--) this.giveBack(plans[k]!.planned, gots[k]!);
      throw e;
    }
  }

  private async createOne(node: NewNode, pools: StaticPools): Promise<NodeRecord> {
    const { planned, reserved } = planInterfaces(node.interfaces, pools);
    const now = new Date().toISOString();
    for (let attempt = 1; ; attempt++) {
      const skip = new Map([...reserved].map(([k, v]) => [k, new Set(v)]));
      const got = await this.allocate(this.direct, planned, skip, pools);
      try {
        const values = this.ifaceValues(node.name, planned, got);
        await this.db.q({
          name: 'rackboot_create_node',
          text: `WITH n AS (INSERT INTO nodes (name, grp, image, loader, vars, discovered, bmc, created_at, updated_at) VALUES ($8, $9, $10, $11, $12, $13, $16, $14, $14)),
           i AS (${INSERT_IFACES}),
           x AS (SELECT pg_notify('${CHANNEL}', $15))
           SELECT count(*) AS told FROM x`,
          values: [...values, node.name, node.group ?? null, node.image ?? null, node.loader ?? null, JSON.stringify(node.vars ?? {}), node.discovered === true, now, this.notifyNode(node.name), bmcText(node.bmc)],
        });
        const [, names, macs, nets, addrs] = values as [string, string[], string[], string[], string[]];
        return this.written(node, now, names, macs, nets, addrs);
      } catch (e) {
        // An address another server took meanwhile is not given back: the next one is tried.
        if (this.lostAllocation(e, planned, got) && attempt < ALLOC_TRIES) continue;
        this.giveBack(planned, got);
        // The statement's inserts run in no set order: a taken name may show as its interfaces' key.
        if (isUnique(e, 'nodes_pkey') || (isUnique(e, 'interfaces_pkey') && (await this.getNode(node.name)))) throw nodeExists(node.name);
        if (isForeignKey(e)) throw noGroupToJoin(node.group ?? '');
        if (isUnique(e)) throw await this.explain(e, node.name, planned, got);
        throw this.db.error(e);
      }
    }
  }

  async getNode(name: string): Promise<NodeRecord | undefined> {
    return this.readNode(this.direct, name);
  }

  async listNodes(filter: { group?: string } = {}): Promise<NodeRecord[]> {
    if (filter.group !== undefined) {
      const [n, i] = await Promise.all([
        this.db.q<NodeRow>('SELECT * FROM nodes WHERE grp = $1 ORDER BY name', [filter.group]),
        this.db.q<IfaceRow>('SELECT i.node, i.name, i.mac, i.network, i.ipv4 FROM interfaces i JOIN nodes n ON n.name = i.node WHERE n.grp = $1 ORDER BY i.node, i.pos', [filter.group]),
      ]);
      return joinNodes(n.rows, i.rows);
    }
    const [n, i] = await Promise.all([this.db.q<NodeRow>('SELECT * FROM nodes ORDER BY name'), this.db.q<IfaceRow>(`${IFACE} ORDER BY node, pos`)]);
    return joinNodes(n.rows, i.rows);
  }

  async updateNode(name: string, patch: NodePatch, pools: StaticPools): Promise<NodeRecord> {
    const now = new Date().toISOString();
    for (let attempt = 1; ; attempt++) {
      let planned: PlannedInterface[] = [];
      let got = new Map<number, number>();
      try {
        return await this.db.tx(async (c) => {
          const locked = await c.query('SELECT 1 FROM nodes WHERE name = $1 FOR UPDATE', [name]);
          const cur = locked.rowCount ? await this.readNode(c, name) : undefined;
          if (!cur) throw noSuchNode(name);
          await c.query('UPDATE nodes SET grp = $2, image = $3, loader = $4, vars = $5, updated_at = $6, bmc = $7 WHERE name = $1', [
            name,
            patch.group !== undefined ? patch.group : cur.group,
            patch.image !== undefined ? patch.image : cur.image,
            patch.loader !== undefined ? patch.loader : cur.loader,
            JSON.stringify(patch.vars !== undefined ? patch.vars : cur.vars),
            now,
            bmcText(patch.bmc !== undefined ? patch.bmc : cur.bmc),
          ]);
          if (patch.interfaces) {
            const plan = planInterfaces(keepAddresses(cur, patch.interfaces), pools);
            planned = plan.planned;
            await c.query('DELETE FROM interfaces WHERE node = $1', [name]);
            got = await this.allocate(c, planned, plan.reserved, pools);
            await c.query(INSERT_IFACES, this.ifaceValues(name, planned, got));
          }
          await c.query('SELECT pg_notify($1, $2)', [CHANNEL, this.notifyNode(name)]);
          return (await this.readNode(c, name))!;
        });
      } catch (e) {
        if (this.lostAllocation(e, planned, got) && attempt < ALLOC_TRIES) continue;
        this.giveBack(planned, got);
        if (isForeignKey(e)) throw noGroupToJoin(String(patch.group));
        if (isUnique(e)) throw await this.explain(e, name, planned, got);
        throw e;
      }
    }
  }

  async deleteNode(name: string): Promise<boolean> {
    const r = await this.db.q<{ n: number }>(
      `WITH d AS (DELETE FROM nodes WHERE name = $1 RETURNING name),
       e AS (DELETE FROM events WHERE node IN (SELECT name FROM d)),
       x AS (SELECT pg_notify('${CHANNEL}', $2) FROM d)
       SELECT (SELECT count(*) FROM d) + 0 * (SELECT count(*) FROM x) AS n`,
      [name, this.notifyNode(name, true)],
    );
    return Number(r.rows[0]?.n) > 0;
  }

  private async found(row: IfaceRow | undefined): Promise<{ node: NodeRecord; iface: InterfaceRecord } | undefined> {
    if (!row) return undefined;
    const node = await this.getNode(row.node);
    const iface = node?.interfaces.find((i) => i.mac === row.mac);
    return node && iface ? { node, iface } : undefined;
  }

  async findByMac(mac: string): Promise<{ node: NodeRecord; iface: InterfaceRecord } | undefined> {
    return this.found((await this.db.q<IfaceRow>({ name: 'rackboot_iface_by_mac', text: `${IFACE} WHERE mac = $1`, values: [mac] })).rows[0]);
  }

  async findByAddress(network: string, ipv4: string): Promise<{ node: NodeRecord; iface: InterfaceRecord } | undefined> {
    const num = parseIpv4(ipv4);
    if (num === undefined) return undefined;
    return this.found((await this.db.q<IfaceRow>({ name: 'rackboot_iface_by_addr', text: `${IFACE} WHERE network = $1 AND ipv4_num = $2`, values: [network, num] })).rows[0]);
  }

  // ---- groups ------------------------------------------------------------

  private notifyGroup(name: string): string {
    return note({ s: this.server, k: 'group', n: name });
  }

  async createGroup(g: NewGroup): Promise<GroupRecord> {
    const now = new Date().toISOString();
    try {
      const r = await this.db.q<GroupRow>(
        `WITH g AS (INSERT INTO groups (name, loader, image, vars, bmc, created_at, updated_at) VALUES ($1, $2, $3, $4, $7, $5, $5) RETURNING *),
         x AS (SELECT pg_notify('${CHANNEL}', $6) FROM g)
         SELECT g.* FROM g, (SELECT count(*) FROM x) AS told`,
        [g.name, g.loader ?? null, g.image ?? null, JSON.stringify(g.vars ?? {}), now, this.notifyGroup(g.name), bmcText(g.bmc)],
      );
      return toGroup(r.rows[0]!);
    } catch (e) {
      if (isUnique(e)) throw groupExists(g.name);
      throw e;
    }
  }

  async getGroup(name: string): Promise<GroupRecord | undefined> {
    const r = await this.db.q<GroupRow>('SELECT * FROM groups WHERE name = $1', [name]);
    return r.rows[0] ? toGroup(r.rows[0]) : undefined;
  }

  async listGroups(): Promise<GroupRecord[]> {
    return (await this.db.q<GroupRow>('SELECT * FROM groups ORDER BY name')).rows.map(toGroup);
  }

  async updateGroup(name: string, patch: GroupPatch): Promise<GroupRecord> {
    // One statement: the fields not in the patch keep their value ($5.. say which are given).
    const r = await this.db.q<GroupRow>(
      `WITH g AS (UPDATE groups SET loader = CASE WHEN $5 THEN $2 ELSE loader END, image = CASE WHEN $6 THEN $3 ELSE image END,
         vars = CASE WHEN $7 THEN $4 ELSE vars END, bmc = CASE WHEN $10 THEN $11::jsonb ELSE bmc END, updated_at = $8 WHERE name = $1 RETURNING *),
       x AS (SELECT pg_notify('${CHANNEL}', $9) FROM g)
       SELECT g.* FROM g, (SELECT count(*) FROM x) AS told`,
      [name, patch.loader ?? null, patch.image ?? null, JSON.stringify(patch.vars ?? {}), patch.loader !== undefined, patch.image !== undefined, patch.vars !== undefined, new Date().toISOString(), this.notifyGroup(name), patch.bmc !== undefined, bmcText(patch.bmc)],
    );
    if (!r.rows[0]) throw noSuchGroup(name);
    return toGroup(r.rows[0]);
  }

  async deleteGroup(name: string): Promise<boolean> {
    const used = await this.db.q<{ n: number }>('SELECT count(*)::int AS n FROM nodes WHERE grp = $1', [name]);
    const n = used.rows[0]?.n ?? 0;
    if (n > 0) throw groupInUse(name, n);
    try {
      const r = await this.db.q<{ n: number }>(
        `WITH d AS (DELETE FROM groups WHERE name = $1 RETURNING name), x AS (SELECT pg_notify('${CHANNEL}', $2) FROM d)
         SELECT (SELECT count(*) FROM d) + 0 * (SELECT count(*) FROM x) AS n`,
        [name, this.notifyGroup(name)],
      );
      return Number(r.rows[0]?.n) > 0;
    } catch (e) {
      // A node joined the group between the count and the delete.
      if (isForeignKey(e)) throw groupInUse(name, 1);
      throw e;
    }
  }
}
