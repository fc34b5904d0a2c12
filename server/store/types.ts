// The registry and lease store behind one async interface, so the embedded
// SQLite store and a PostgreSQL store (several rackboot servers sharing state)
// are interchangeable for every caller.

import type { Ipv4Range } from '../net/ipv4.js';

export const LOADERS = ['pxelinux', 'ipxe', 'grub', 'bpbatch'] as const;
export type Loader = (typeof LOADERS)[number];
/** The loader of a node (and group) that names none, and of an unknown machine's network boot. */
export const DEFAULT_LOADER: Loader = 'pxelinux';

export type Vars = Record<string, unknown>;

export const BMC_TYPES = ['ipmi', 'redfish'] as const;
export type BmcType = (typeof BMC_TYPES)[number];

/**
 * A node's or group's BMC as stored: the API's fields with the password
 * replaced by `passwordSealed` (AES-256-GCM under the data directory's
 * bmc-key, see server/store/bmc-keyring.ts); never the password itself. The
 * store keeps it as one JSON value (SQLite: the `bmc` column of nodes and
 * groups) and does not look inside: the power subsystem validates it.
 */
export interface StoredBmc {
  type?: BmcType;
  address?: string;
  port?: number;
  username?: string;
  passwordSealed?: string;
  passwordFile?: string;
  ipmi?: { interface?: 'lanplus' | 'lan'; cipherSuite?: number; privilege?: 'user' | 'operator' | 'administrator'; workaroundFlags?: string };
  redfish?: { systemId?: string; auth?: 'session' | 'basic'; caFile?: string; insecure?: boolean };
}

export interface InterfaceRecord {
  name: string;
  /** Canonical lower-case colon form. */
  mac: string;
  network: string;
  ipv4: string;
}

export interface NodeRecord {
  name: string;
  group: string | null;
  image: string | null;
  loader: Loader | null;
  vars: Vars;
  /** Registered by DHCP discovery rather than by an operator. */
  discovered: boolean;
  interfaces: InterfaceRecord[];
  /** Its BMC (fields missing here come from the group's). */
  bmc: StoredBmc | null;
  createdAt: string;
  updatedAt: string;
}

export interface NewInterface {
  name: string;
  mac: string;
  network: string;
  ipv4?: string | null;
}

export interface NewNode {
  name: string;
  group?: string | null;
  image?: string | null;
  loader?: Loader | null;
  vars?: Vars;
  discovered?: boolean;
  interfaces: NewInterface[];
  bmc?: StoredBmc | null;
}

export interface NodePatch {
  group?: string | null;
  image?: string | null;
  loader?: Loader | null;
  vars?: Vars;
  /** Replaces the whole interface list when given. */
  interfaces?: NewInterface[];
  /** Replaces the BMC when given; null removes it. */
  bmc?: StoredBmc | null;
}

export interface GroupRecord {
  name: string;
  loader: Loader | null;
  image: string | null;
  vars: Vars;
  /** The default BMC fields of its nodes (typically type, username and password). */
  bmc: StoredBmc | null;
  createdAt: string;
  updatedAt: string;
}

export interface NewGroup {
  name: string;
  loader?: Loader | null;
  image?: string | null;
  vars?: Vars;
  bmc?: StoredBmc | null;
}

export type GroupPatch = Partial<Omit<NewGroup, 'name'>>;

export const LEASE_STATES = ['offered', 'bound', 'released', 'declined', 'expired'] as const;
export type LeaseState = (typeof LEASE_STATES)[number];

export interface LeaseRecord {
  network: string;
  ipv4: string;
  mac: string;
  /** Option 61 as lower-case hex, when the client sent one. */
  clientId: string | null;
  hostname: string | null;
  state: LeaseState;
  /** Epoch milliseconds. */
  expiresAt: number;
  updatedAt: number;
}

/**
 * A lease to write. A dynamic lease (reserved false) is written only where the
 * address is free in the store or already this client's: with several servers
 * on one database, the database decides who holds an address. A registered
 * address (reserved) is the registry's decision and always written.
 */
export interface LeaseWrite extends LeaseRecord {
  reserved?: boolean;
}

export interface LeaseFilter {
  network?: string;
  mac?: string;
  state?: LeaseState;
}

export interface EventInput {
  /** The server that recorded it; the store's own name when absent. */
  server?: string | null;
  node: string | null;
  mac?: string | null;
  kind: string;
  detail?: Record<string, unknown>;
  /** Epoch milliseconds; defaults to now. */
  ts?: number;
}

export interface EventRecord {
  id: number;
  /** The rackboot server (server.name) that recorded it. */
  server: string | null;
  node: string | null;
  mac: string | null;
  ts: number;
  kind: string;
  detail: Record<string, unknown>;
}

export interface EventQuery {
  node?: string;
  server?: string;
  /** Only events with a larger id (a reader catching up), oldest first. */
  afterId?: number;
  mac?: string;
  since?: number;
  kind?: string;
  limit?: number;
}

/**
 * An NFS export made through the API (config-file exports are not stored).
 * The store keeps the fields as given; the NFS service validates them.
 */
export interface ExportRecord {
  name: string;
  path: string;
  networks: string[];
  access: 'ro' | 'rw';
  squash: 'root_squash' | 'all_squash' | 'no_root_squash';
  sync: boolean;
  allowRwNetwork: boolean;
  pseudo: string;
  layout: 'releases' | 'plain';
  createdAt: string;
  updatedAt: string;
}

export type NewExport = Omit<ExportRecord, 'createdAt' | 'updatedAt'>;

/**
 * Address pools the store allocates from when an interface is registered
 * without an address: the network's static range.
 */
export type StaticPools = ReadonlyMap<string, Ipv4Range>;

/** One rackboot server sharing the store, as it last reported itself. */
export interface ServerRecord {
  name: string;
  /** What the server reports (networks, health, peer URL, images): the store keeps it as given. */
  info: Record<string, unknown>;
  /** Epoch ms, by the store's clock. */
  startedAt: number;
  lastSeen: number;
}

/** The store's view of its database: ok, or why not (the message names the store, never a password). */
export interface StoreHealth {
  ok: boolean;
  detail: string;
}

/**
 * A change another server made, as the store tells it (PostgreSQL's
 * LISTEN/NOTIFY). 'resync': notifications may have been missed (the listening
 * connection was lost and is back): reload what is cached.
 */
export type PeerChange =
  | { kind: 'node'; server: string; name: string; deleted: boolean }
  | { kind: 'group'; server: string; name: string }
  | { kind: 'leases'; server: string; leases: LeaseRecord[] }
  | { kind: 'events'; server: string; fromId: number; toId: number }
  | { kind: 'setting'; server: string; key: string }
  | { kind: 'server'; server: string }
  | { kind: 'resync' };

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** This server's name (server.name): events and leases it writes are tagged with it. */
  readonly server: string;
  /** A short description for logs and errors, never with a password. */
  readonly describe: string;

  createNode(node: NewNode, pools: StaticPools): Promise<NodeRecord>;
  getNode(name: string): Promise<NodeRecord | undefined>;
  listNodes(filter?: { group?: string }): Promise<NodeRecord[]>;
  updateNode(name: string, patch: NodePatch, pools: StaticPools): Promise<NodeRecord>;
  deleteNode(name: string): Promise<boolean>;
  findByMac(mac: string): Promise<{ node: NodeRecord; iface: InterfaceRecord } | undefined>;
  findByAddress(network: string, ipv4: string): Promise<{ node: NodeRecord; iface: InterfaceRecord } | undefined>;

  createGroup(group: NewGroup): Promise<GroupRecord>;
  getGroup(name: string): Promise<GroupRecord | undefined>;
  listGroups(): Promise<GroupRecord[]>;
  updateGroup(name: string, patch: GroupPatch): Promise<GroupRecord>;
  deleteGroup(name: string): Promise<boolean>;

  getLease(network: string, ipv4: string): Promise<LeaseRecord | undefined>;
  listLeases(filter?: LeaseFilter): Promise<LeaseRecord[]>;
  /** Insert or replace the lease for (network, ipv4), whoever holds it. Durable when the promise resolves. */
  putLease(lease: LeaseRecord): Promise<void>;
  /**
   * Many leases in one transaction (DHCP group commit), in order. Durable
   * when the promise resolves. Returns the writes refused because another
   * client holds the address (see LeaseWrite); the rest are written.
   */
  putLeases(leases: readonly LeaseWrite[]): Promise<LeaseWrite[]>;
  deleteLease(network: string, ipv4: string): Promise<boolean>;

  addEvents(events: EventInput[]): Promise<void>;
  listEvents(query: EventQuery): Promise<EventRecord[]>;
  /** Drop events older than the timestamp; returns how many went. */
  pruneEvents(beforeTs: number): Promise<number>;

  listExports(): Promise<ExportRecord[]>;
  getExport(name: string): Promise<ExportRecord | undefined>;
  /** ConflictError('name') when the name is taken. */
  createExport(e: NewExport): Promise<ExportRecord>;
  /** Replace every field but the name; NotFoundError when missing. */
  updateExport(name: string, e: NewExport): Promise<ExportRecord>;
  deleteExport(name: string): Promise<boolean>;

  /** Key/value settings that must survive restarts (schema-free). */
  getSetting(key: string): Promise<string | undefined>;
  setSetting(key: string, value: string): Promise<void>;
  /** Every setting whose key starts with the prefix. */
  listSettings(prefix?: string): Promise<Array<[string, string]>>;

  /** Record this server as alive, with what it reports (the store stamps the time). */
  heartbeat(info: Record<string, unknown>): Promise<void>;
  listServers(): Promise<ServerRecord[]>;
  /** The store's clock, epoch ms (servers' last-seen times are by it). */
  now(): Promise<number>;

  health(): StoreHealth;
  /** Changes other servers make; returns the unsubscribe function. A store no other server shares never calls it. */
  onPeerChange(listener: (c: PeerChange) => void): () => void;

  /** Rows of each table (store copy checks them). */
  counts(): Promise<StoreCounts>;
  /** Every row, table by table, in pages (store copy). */
  dump(): AsyncGenerator<DumpChunk>;
  /** Write dumped rows as they are (timestamps, ids and tags kept); empty tables only. */
  restore(chunk: DumpChunk): Promise<void>;
  /** Remove every row (store copy --force). */
  clear(): Promise<void>;

  close(): Promise<void>;
}

export const DUMP_TABLES = ['groups', 'nodes', 'leases', 'events', 'settings', 'exports', 'servers'] as const;
export type DumpTable = (typeof DUMP_TABLES)[number];
export type StoreCounts = Record<DumpTable, number>;

export type DumpChunk =
  | { table: 'groups'; rows: GroupRecord[] }
  | { table: 'nodes'; rows: NodeRecord[] }
  | { table: 'leases'; rows: LeaseRecord[] }
  | { table: 'events'; rows: EventRecord[] }
  | { table: 'settings'; rows: Array<[string, string]> }
  | { table: 'exports'; rows: ExportRecord[] }
  | { table: 'servers'; rows: ServerRecord[] };

/**
 * The store cannot be reached (PostgreSQL down or unreachable). 503 in the
 * API; the DHCP server queues lease writes while it lasts.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

/** A record that would duplicate a unique field (name, MAC, address). 409 in the API. */
export class ConflictError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

export class NotFoundError extends Error {
  constructor(readonly what: string, message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** A value the store cannot accept (e.g. a pool with no free address). 400 in the API. */
export class InvalidError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
    this.name = 'InvalidError';
  }
}
