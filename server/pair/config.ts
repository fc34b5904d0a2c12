// The `pair` config section: two disk nodes, one taking over from the other.
// Keys are documented in docs/configuration.md (pair). Both nodes run the
// same cluster config; the pair section differs only in `peer` and
// `priority`.
import { Type, type Static } from '@sinclair/typebox';
import { Duration, Name, Port, Section, StringEnum } from '../config/types.js';

const FloatingExtra = Section({
  /** Address with prefix, e.g. 10.0.0.5/24. */
  address: Type.String(),
  interface: Type.String({ minLength: 1, maxLength: 15 }),
});

export const PairConfigSchema = Section({
  enabled: Type.Boolean(),
  peer: Section({
    /** The other node's server.name. */
    name: Type.Optional(Name),
    /** The other node's own (fixed) addresses, one on each network the floating addresses live on. */
    addresses: Type.Array(Type.String()),
    /** How this node reaches the other's API. Default: http://<its address on the first blade network>:<api port>. */
    apiUrl: Type.Optional(Type.String()),
  }),
  /** VRRP priority, 1-254; the two nodes must differ. The higher one takes the addresses at a cold start. */
  priority: Type.Integer({ minimum: 1, maximum: 254 }),
  /** VRRP virtual router id of the first instance; instance k uses this + k. Free on these networks. */
  virtualRouterId: Type.Integer({ minimum: 1, maximum: 255 }),
  /** VRRPv3 advertisement interval (10ms steps); the peer is taken for dead after 3 of them plus a skew. */
  advertInterval: Duration,
  floating: Section({
    /** director.services[].vip */
    vips: Type.Optional(Type.Boolean()),
    /** director.natRouter */
    natRouter: Type.Optional(Type.Boolean()),
    /** networks[].serverAddress: what blades use for DHCP, TFTP, HTTP, NFS and the API. */
    serviceAddresses: Type.Optional(Type.Boolean()),
    extra: Type.Optional(Type.Array(FloatingExtra)),
  }),
  keepalived: Section({
    command: Type.Optional(Type.String({ minLength: 1 })),
  }),
  database: Section({
    /** managed: rackboot runs this node's PostgreSQL (streaming replica, promoted on takeover); external: the site's own HA PostgreSQL, only used. */
    mode: Type.Optional(StringEnum(['managed', 'external'])),
    /** PostgreSQL's bin directory (default: the newest /usr/lib/postgresql/N/bin). */
    bin: Type.Optional(Type.String()),
    /** Default <dataDir>/pair/postgres. */
    dataDir: Type.Optional(Type.String()),
    port: Type.Optional(Port),
    /** The operating-system user PostgreSQL runs as. */
    osUser: Type.Optional(Type.String({ minLength: 1 })),
    replicationUser: Type.Optional(Name),
    /** Default: the environment variable RACKBOOT_REPLICATION_PASSWORD. */
    replicationPassword: Type.Optional(Type.String()),
    /** pg_hba method for the peer, the rackboot servers and replication. */
    auth: Type.Optional(StringEnum(['scram-sha-256', 'md5', 'trust'])),
    /** Commits wait for the standby while it streams (an ACKed lease survives the primary's death). */
    synchronous: Type.Optional(Type.Boolean()),
    /** WAL kept for the returning node's pg_rewind. */
    walKeep: Type.Optional(Type.String({ pattern: '^\\d+(MB|GB)$' })),
    /** This node may create the pair's database: only when its data directory is empty and the peer's database answers nowhere (set it on one node for the first start). */
    bootstrap: Type.Optional(Type.Boolean()),
    /** How long a node that becomes master tries the peer's database (is it still a primary?) before promoting its own. */
    promoteGuard: Type.Optional(Duration),
  }),
  conntrack: Section({
    /** Sync NAT connection state with conntrackd, so established connections through the VIP survive a takeover. */
    enabled: Type.Optional(Type.Boolean()),
    /** The link conntrackd talks over (default: the interface facing the peer's first address). */
    interface: Type.Optional(Type.String({ minLength: 1, maxLength: 15 })),
    port: Type.Optional(Port),
    command: Type.Optional(Type.String({ minLength: 1 })),
  }),
  /** How long a node waits at start for the database (its own promotion or the peer's). */
  startTimeout: Duration,
  /** How long an image build waits for the peer to hold the new version before it completes saying the peer lacks it (0s: no wait). */
  holdImages: Duration,
});
export type PairConfig = Static<typeof PairConfigSchema>;

declare module '../config/loaded.js' {
  interface Config {
    pair: PairConfig;
  }
}

export const PAIR_DEFAULTS: PairConfig = {
  enabled: false,
  peer: { addresses: [] },
  priority: 100,
  virtualRouterId: 51,
  advertInterval: '200ms',
  floating: {},
  keepalived: {},
  database: {},
  conntrack: {},
  startTimeout: '120s',
  holdImages: '120s',
};

/** Defaults of the nested sections (section defaults are merged one level deep). */
export const FLOATING_DEFAULTS = { vips: true, natRouter: true, serviceAddresses: true, extra: [] } as const;
export const DATABASE_DEFAULTS = {
  mode: 'managed',
  port: 5432,
  osUser: 'postgres',
  replicationUser: 'rackboot_replication',
  auth: 'scram-sha-256',
  synchronous: true,
  walKeep: '512MB',
  promoteGuard: '1s',
  bootstrap: false,
} as const;
export const CONNTRACK_DEFAULTS = { enabled: false, port: 3780, command: 'conntrackd' } as const;

export const REPLICATION_PASSWORD_ENV = 'RACKBOOT_REPLICATION_PASSWORD';
