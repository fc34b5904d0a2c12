// What both store drivers share: the rows as the tables hold them and their
// mapping to records, the checks and messages of a registration, and the
// rule for who may take a leased address. One schema shape in two SQL
// dialects, so a record reads the same from SQLite and from PostgreSQL.
import { formatIpv4, parseIpv4, rangeContains, type Ipv4Range } from '../net/ipv4.js';
import {
  ConflictError,
  InvalidError,
  NotFoundError,
  type EventRecord,
  type ExportRecord,
  type GroupRecord,
  type LeaseRecord,
  type LeaseState,
  type Loader,
  type NewExport,
  type NewInterface,
  type NodeRecord,
  type StaticPools,
  type StoredBmc,
} from './types.js';

export interface NodeRow {
  name: string;
  grp: string | null;
  image: string | null;
  loader: string | null;
  vars: string;
  /** SQLite: 0/1; PostgreSQL: boolean. */
  discovered: number | boolean;
  bmc: BmcColumn;
  created_at: string;
  updated_at: string;
}
export interface IfaceRow {
  node: string;
  name: string;
  mac: string;
  network: string;
  ipv4: string;
}
export interface GroupRow {
  name: string;
  loader: string | null;
  image: string | null;
  vars: string;
  bmc: BmcColumn;
  created_at: string;
  updated_at: string;
}
export interface LeaseRow {
  network: string;
  ipv4: string;
  mac: string;
  client_id: string | null;
  hostname: string | null;
  state: string;
  expires_at: number;
  updated_at: number;
}
export interface EventRow {
  id: number;
  server: string | null;
  node: string | null;
  mac: string | null;
  ts: number;
  kind: string;
  detail: string;
}
export interface ExportRow {
  name: string;
  spec: string;
  created_at: string;
  updated_at: string;
}

export function parseJson(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The bmc column: SQLite keeps JSON text, PostgreSQL jsonb (which pg hands over parsed); NULL: none. */
export type BmcColumn = string | StoredBmc | null;

/** A bmc column's value as a record: the store does not look inside (the power subsystem validates it). */
export function parseBmc(v: BmcColumn): StoredBmc | null {
  if (v === null) return null;
  if (typeof v === 'string') return parseJson(v) as StoredBmc;
  return typeof v === 'object' && !Array.isArray(v) ? v : null;
}

/** A BMC as the SQLite column and the PostgreSQL jsonb parameter take it. */
export const bmcText = (b: StoredBmc | null | undefined): string | null => (b ? JSON.stringify(b) : null);

export function toNode(row: NodeRow, ifaces: readonly IfaceRow[]): NodeRecord {
  return {
    name: row.name,
    group: row.grp,
    image: row.image,
    loader: row.loader as Loader | null,
    vars: parseJson(row.vars),
    discovered: row.discovered === 1 || row.discovered === true,
    interfaces: ifaces.map((i) => ({ name: i.name, mac: i.mac, network: i.network, ipv4: i.ipv4 })),
    bmc: parseBmc(row.bmc),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Nodes with their interfaces, from two ordered result sets. */
export function joinNodes(rows: readonly NodeRow[], ifaces: readonly IfaceRow[]): NodeRecord[] {
  const byNode = new Map<string, IfaceRow[]>();
  for (const i of ifaces) {
    let list = byNode.get(i.node);
    if (!list) byNode.set(i.node, (list = []));
    list.push(i);
  }
  return rows.map((r) => toNode(r, byNode.get(r.name) ?? []));
}

export function toGroup(r: GroupRow): GroupRecord {
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

export function toLease(r: LeaseRow): LeaseRecord {
  return {
    network: r.network,
    ipv4: r.ipv4,
    mac: r.mac,
    clientId: r.client_id,
    hostname: r.hostname,
    state: r.state as LeaseState,
    expiresAt: Number(r.expires_at),
    updatedAt: Number(r.updated_at),
  };
}

export function toEvent(r: EventRow): EventRecord {
  return { id: Number(r.id), server: r.server, node: r.node, mac: r.mac, ts: Number(r.ts), kind: r.kind, detail: parseJson(r.detail) };
}

// NFS exports made through the API: the fields live in one JSON column (the
// NFS service validates them, and a field added later needs no migration).
export function toExport(r: ExportRow): ExportRecord {
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

export function exportSpec(e: NewExport): string {
  const { name: _name, ...spec } = e;
  return JSON.stringify(spec);
}

/** parseIpv4 without the regular expression, for the lease batch path (same strictness). */
export function fastIpv4(text: string): number | undefined {
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

/** Each lease's address as a number; InvalidError for the first that is not one (before any write: all or nothing). */
export function leaseNumbers(leases: readonly LeaseRecord[]): number[] {
  return leases.map((l) => {
    const num = fastIpv4(l.ipv4);
    if (num === undefined) throw new InvalidError('ipv4', `'${l.ipv4}' is not an IPv4 address`);
    return num;
  });
}

/**
 * When a dynamic lease write may replace the row at its address (SQL, the
 * row as `cur`, the write as `excluded`): the same client, or a row nobody
 * holds any more (released, expired, or past its end at the write's time).
 * A declined address is taken only by the client that declined it (an
 * operator clears it). The same rule as the DHCP server's isFree.
 */
export const LEASE_TAKEOVER = (cur: string) =>
  `(${cur}.mac = excluded.mac OR (excluded.client_id IS NOT NULL AND ${cur}.client_id = excluded.client_id)
    OR ${cur}.state IN ('released', 'expired')
    OR (${cur}.state IN ('bound', 'offered') AND ${cur}.expires_at <= excluded.updated_at))`;

// ---- registration: checks and messages both drivers give -------------------

/** An interface to insert: `num` undefined means "allocate from the network's static range". */
export interface PlannedInterface {
  pos: number;
  name: string;
  mac: string;
  network: string;
  num: number | undefined;
}

/** Parse the given addresses and check a pool exists for the rest; `reserved` holds the given ones per network. */
export function planInterfaces(ifaces: readonly NewInterface[], pools: StaticPools): { planned: PlannedInterface[]; reserved: Map<string, Set<number>> } {
  const reserved = new Map<string, Set<number>>();
  const planned = ifaces.map((i, pos) => {
    let num: number | undefined;
    if (i.ipv4) {
      num = parseIpv4(i.ipv4);
      if (num === undefined) throw new InvalidError(`interfaces[${pos}].ipv4`, `'${i.ipv4}' is not an IPv4 address`);
      let set = reserved.get(i.network);
      if (!set) reserved.set(i.network, (set = new Set()));
      set.add(num);
    } else if (!pools.get(i.network)) {
      throw new InvalidError(`interfaces[${pos}].ipv4`, `network '${i.network}' has no staticRange: give ipv4`);
    }
    return { pos, name: i.name, mac: i.mac, network: i.network, num };
  });
  return { planned, reserved };
}

/**
 * The first free address of a pool from the hint on (wrapping once), or
 * undefined. `taken` answers for one address; the caller keeps the hint.
 */
export function firstFree(pool: Ipv4Range, hint: number | undefined, taken: (n: number) => boolean): number | undefined {
  const size = pool.end - pool.start + 1;
  let candidate = hint !== undefined && rangeContains(pool, hint) ? hint : pool.start;
  for (let i = 0; i < size; i++) {
    if (!taken(candidate)) return candidate;
    candidate = candidate === pool.end ? pool.start : candidate + 1;
  }
  return undefined;
}

export const nextHint = (pool: Ipv4Range, n: number) => (n === pool.end ? pool.start : n + 1);

export const poolExhausted = (network: string) => new InvalidError('interfaces.ipv4', `network '${network}' has no free address left in its static range`);
export const nodeExists = (name: string) => new ConflictError('name', `a node named '${name}' already exists`);
export const noSuchNode = (name: string) => new NotFoundError('node', `no node named '${name}'`);
export const noGroupToJoin = (group: string) => new InvalidError('group', `no group named '${group}'`);
export const groupExists = (name: string) => new ConflictError('name', `a group named '${name}' already exists`);
export const noSuchGroup = (name: string) => new NotFoundError('group', `no group named '${name}'`);
export const groupInUse = (name: string, n: number) => new ConflictError('name', `group '${name}' still has ${n} node(s): move or delete them first`);
export const exportExists = (name: string) => new ConflictError('name', `an export named '${name}' already exists`);
export const noSuchExport = (name: string) => new NotFoundError('export', `no export named '${name}'`);
export const macTaken = (pos: number, mac: string, holder: { node: string; name: string }) =>
  new ConflictError(`interfaces[${pos}].mac`, `MAC ${mac} is already registered to ${holder.node}/${holder.name}`);
export const addressTaken = (pos: number, network: string, num: number, holder: { node: string; name: string }) =>
  new ConflictError(`interfaces[${pos}].ipv4`, `address ${formatIpv4(num)} on network '${network}' is already assigned to ${holder.node}/${holder.name}`);
export const interfaceClash = (pos: number, name: string) =>
  new ConflictError(`interfaces[${pos}]`, `interface ${name} is listed twice or duplicates a MAC or address`);

/** An interface re-listed without an address on the same network keeps the one it had. */
export function keepAddresses(current: NodeRecord, next: readonly NewInterface[]): NewInterface[] {
  const kept = new Map(current.interfaces.map((i) => [i.mac, i]));
  return next.map((i) => {
    const old = kept.get(i.mac);
    return !i.ipv4 && old && old.network === i.network ? { ...i, ipv4: old.ipv4 } : i;
  });
}

/** Events as a listing returns them: the newest `limit`, oldest first; or, with afterId, the oldest `limit` after it. */
export function eventLimit(limit: number | undefined): number {
  return Math.min(Math.max(limit ?? 1000, 1), 10000);
}

export const DUMP_PAGE = 5000;
