// The whole config file: one closed schema per section, each owned by its
// subsystem folder. Defaults are merged per section before validation, so the
// validated Config type has every field.
import { Type, type Static } from '@sinclair/typebox';
import { MAX_VARS_DEPTH } from './depth.js';
import { Duration, Listen, Name, Section, StringEnum } from './types.js';
import { DhcpConfigSchema, DHCP_DEFAULTS } from '../dhcp/config.js';
import { TftpConfigSchema, TFTP_DEFAULTS } from '../tftp/config.js';
import { TemplatesConfigSchema, TEMPLATES_DEFAULTS } from '../render/config.js';
import { ImagesConfigSchema, IMAGES_DEFAULTS } from '../images/config.js';
import { NfsConfigSchema, NFS_DEFAULTS } from '../nfs/config.js';
import { DirectorConfigSchema, DIRECTOR_DEFAULTS } from '../director/config.js';
import { PairConfigSchema, PAIR_DEFAULTS } from '../pair/config.js';
import { UiConfigSchema, UI_DEFAULTS } from '../ui/config.js';
import { PowerConfigSchema, POWER_DEFAULTS } from '../power/config.js';
import { BmcSchema } from '../store/bmc.js';
import { LOADERS } from '../store/types.js';
import { LOG_FORMATS, LOG_LEVELS } from '../log.js';

export const LoaderSchema = StringEnum(LOADERS);
const Vars = Type.Record(Type.String(), Type.Unknown(), { maxDepth: MAX_VARS_DEPTH });

export const NetworkSchema = Section({
  name: Name,
  /** Server interface facing this network; omit for a network reached only through relays. */
  interface: Type.Optional(Type.String({ minLength: 1, maxLength: 15 })),
  cidr: Type.String(),
  /** This server's address on the network: DHCP server id and next-server. */
  serverAddress: Type.String(),
  router: Type.Optional(Type.String()),
  dns: Type.Optional(Type.Array(Type.String())),
  /** NTP servers handed to blades (DHCP option 42). */
  ntp: Type.Optional(Type.Array(Type.String())),
  domain: Type.Optional(Type.String()),
  staticRange: Type.Optional(Type.String()),
  dynamicRange: Type.Optional(Type.String()),
  leaseTime: Type.Optional(Duration),
  mtu: Type.Optional(Type.Integer({ minimum: 576, maximum: 65535 })),
});
export type NetworkConfig = Static<typeof NetworkSchema>;

const SeedInterface = Section({
  name: Type.String({ minLength: 1, maxLength: 15 }),
  mac: Type.String(),
  network: Name,
  ipv4: Type.Optional(Type.String()),
});

export const SeedNodeSchema = Section({
  name: Name,
  group: Type.Optional(Name),
  image: Type.Optional(Name),
  loader: Type.Optional(LoaderSchema),
  vars: Type.Optional(Vars),
  interfaces: Type.Array(SeedInterface, { minItems: 1 }),
  bmc: Type.Optional(BmcSchema),
});

export const SeedGroupSchema = Section({
  name: Name,
  loader: Type.Optional(LoaderSchema),
  image: Type.Optional(Name),
  vars: Type.Optional(Vars),
  bmc: Type.Optional(BmcSchema),
});

export const ConfigSchema = Section({
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
  log: Section({
    level: StringEnum(LOG_LEVELS),
    /** auto: one readable line per record on a terminal, JSON lines otherwise; pretty or json: always that. */
    format: StringEnum(LOG_FORMATS),
  }),
  events: Section({
    /** Events older than this are pruned. */
    retention: Duration,
  }),
  networks: Type.Array(NetworkSchema),
  dhcp: DhcpConfigSchema,
  tftp: TftpConfigSchema,
  templates: TemplatesConfigSchema,
  images: ImagesConfigSchema,
  nfs: NfsConfigSchema,
  director: DirectorConfigSchema,
  /** Two disk nodes, the second taking over when the first dies (keepalived VRRP, PostgreSQL replication). */
  pair: PairConfigSchema,
  ui: UiConfigSchema,
  power: PowerConfigSchema,
  /** Seed data: created on start when missing, never overwriting registry changes. */
  groups: Type.Array(SeedGroupSchema),
  nodes: Type.Array(SeedNodeSchema),
});

export type Config = Static<typeof ConfigSchema>;

/** Section defaults, merged shallowly under what the file gives. */
export const SECTION_DEFAULTS = {
  cluster: { name: 'cluster', domain: 'cluster.local', vars: {} },
  server: { heartbeat: '10s' },
  store: { driver: 'sqlite', poolSize: 10 },
  // served: loopback and each network's serverAddress (server/config/bind.ts); never the outside unless named.
  api: { listen: 'served:8080', token: '', viewerToken: '' },
  log: { level: 'info', format: 'auto' },
  events: { retention: '30d' },
  dhcp: DHCP_DEFAULTS,
  tftp: TFTP_DEFAULTS,
  templates: TEMPLATES_DEFAULTS,
  images: IMAGES_DEFAULTS,
  nfs: NFS_DEFAULTS,
  director: DIRECTOR_DEFAULTS,
  pair: PAIR_DEFAULTS,
  ui: UI_DEFAULTS,
  power: POWER_DEFAULTS,
} as const;

export const TOP_DEFAULTS = {
  dataDir: './var',
  networks: [] as unknown[],
  groups: [] as unknown[],
  nodes: [] as unknown[],
};
