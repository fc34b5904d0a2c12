// The sections no subsystem owns: the cluster, this server, the store's
// connection, the API and the event log's retention. The wiring puts them
// beside the subsystems' sections (main/config-schema.ts).
import { Type, type Static } from '@sinclair/typebox';
import { MAX_VARS_DEPTH } from './depth.js';
import { Duration, Listen, Name, parseDuration, Section, StringEnum } from './types.js';

/** Variables for templates: cluster, group and node vars. */
export const Vars = Type.Record(Type.String(), Type.Unknown(), { maxDepth: MAX_VARS_DEPTH });

export const CORE_SECTIONS = {
  cluster: Section({
    name: Name,
    domain: Type.String(),
    vars: Vars,
  }),
  /** Relative paths in the config resolve against the working directory. */
  dataDir: Type.String(),
  /** This rackboot server, one of several when they share a PostgreSQL store. */
  server: Section({
    /** Unique among the servers on one database: tags their events and leases. Default: the host name. */
    name: Type.Optional(Name),
    /** How the other servers reach this one's API (to fetch image files). Default: http://<first network's serverAddress>:<api port>. */
    peerUrl: Type.Optional(Type.String()),
    /** How often the server records itself as alive in the store (GET /servers: last-seen). */
    heartbeat: Duration,
  }),
  store: Section({
    driver: StringEnum(['sqlite', 'postgres']),
    /** SQLite file; default <dataDir>/rackboot.db. */
    path: Type.Optional(Type.String()),
    /** PostgreSQL connection URL; default: the environment variable RACKBOOT_DATABASE_URL. */
    url: Type.Optional(Type.String()),
    /** PostgreSQL connections this server keeps at most. */
    poolSize: Type.Integer({ minimum: 1, maximum: 200 }),
  }),
  api: Section({
    listen: Listen,
    /** Bearer token; empty means: generate one into <dataDir>/api-token on first start. */
    token: Type.String(),
    /** Base URL blades use to reach this server over HTTP (iPXE, ready reports). Default: http://<serverAddress>:<port> per network. */
    publicUrl: Type.Optional(Type.String()),
    /** A second, read-only token (viewer role: GET only), for the dashboard and the API; empty: none. */
    viewerToken: Type.String(),
  }),
  events: Section({
    /** Events older than this are pruned. */
    retention: Duration,
  }),
};

type Core = { [K in keyof typeof CORE_SECTIONS]: Static<(typeof CORE_SECTIONS)[K]> };

/** The core sections' durations in ms. */
export interface ResolvedCore {
  server: { heartbeatMs: number };
  events: { retentionMs: number };
}

export function resolveCore(c: Pick<Core, 'server' | 'events'>): ResolvedCore {
  return { server: { heartbeatMs: parseDuration(c.server.heartbeat) }, events: { retentionMs: parseDuration(c.events.retention) } };
}

declare module './loaded.js' {
  interface Config extends Core {}
  interface ResolvedSections extends ResolvedCore {}
}

export const CORE_DEFAULTS = {
  cluster: { name: 'cluster', domain: 'cluster.local', vars: {} },
  server: { heartbeat: '10s' },
  store: { driver: 'sqlite', poolSize: 10 },
  // served: loopback and each network's serverAddress (server/config/bind.ts); never the outside unless named.
  api: { listen: 'served:8080', token: '', viewerToken: '' },
  events: { retention: '30d' },
} as const;
