// The `director` config section: LVS-NAT virtual services in front of the
// blades. Keys are documented in docs/configuration.md (director).
import { Type, type Static } from '@sinclair/typebox';
import { Duration, Name, Port, Section, StringEnum } from '../config/types.js';

export const BACKENDS = ['nftables', 'ipvs', 'keepalived'] as const;
export type BackendName = (typeof BACKENDS)[number];
export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'sh'] as const;
export type Scheduler = (typeof SCHEDULERS)[number];

export const HealthCheckSchema = Section({
  /** http: GET path and compare; tcp: a connect is enough; none: always in the pool. */
  type: Type.Optional(StringEnum(['http', 'tcp', 'none'])),
  path: Type.Optional(Type.String({ pattern: '^/', description: 'request path, starting with /' })),
  /** Host header (default: the real server's address). */
  host: Type.Optional(Type.String({ minLength: 1 })),
  /** Port to check (default: the real server's port). */
  port: Type.Optional(Port),
  /** A status code, or a text that must appear in the response (status line, headers or body). */
  expect: Type.Optional(Type.Union([Type.Integer({ minimum: 100, maximum: 599 }), Type.String({ minLength: 1 })])),
  timeout: Type.Optional(Duration),
  interval: Type.Optional(Duration),
  /** Consecutive failed checks before a server leaves the pool. */
  retries: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  /** How long a recovered server must keep passing before it returns. */
  reentry: Type.Optional(Duration),
});
export type HealthCheckConfig = Static<typeof HealthCheckSchema>;

export const StaticRealServerSchema = Section({
  name: Name,
  address: Type.String(),
  port: Type.Optional(Port),
  weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
});

export const VirtualServiceSchema = Section({
  name: Name,
  /** VIP with prefix, e.g. 192.168.1.100/24. */
  vip: Type.String(),
  /** Outside interface the VIP is added to. */
  interface: Type.String({ minLength: 1, maxLength: 15 }),
  port: Port,
  protocol: Type.Optional(StringEnum(['tcp', 'udp'])),
  scheduler: Type.Optional(StringEnum(SCHEDULERS)),
  /** Client affinity timeout (ipvs -p, keepalived persistence_timeout; nftables: source hashing). */
  persistence: Type.Optional(Duration),
  realServers: Section({
    /** Every node of this group is a real server. */
    group: Type.Optional(Name),
    /** These nodes are real servers. */
    nodes: Type.Optional(Type.Array(Name)),
    /** Servers outside the registry, by address (what `rackboot import lvs.cf` writes). */
    static: Type.Optional(Type.Array(StaticRealServerSchema)),
    /** The network whose interface address the node is reached at (default: the network holding the NAT router address). */
    network: Type.Optional(Name),
    port: Port,
    /** Node variable holding the weight (default `weight`; missing means 1). */
    weightVar: Type.Optional(Type.String({ minLength: 1 })),
  }),
  check: Type.Optional(HealthCheckSchema),
});
export type VirtualServiceConfig = Static<typeof VirtualServiceSchema>;

export const DirectorConfigSchema = Section({
  enabled: Type.Boolean(),
  backend: StringEnum(BACKENDS),
  /** The address on the inside interface the blades use as default gateway. */
  natRouter: Type.Optional(Section({ interface: Type.String({ minLength: 1, maxLength: 15 }), address: Type.String() })),
  /** Set ip_forward and add the VIP and NAT-router addresses (removed again on stop). */
  systemPrep: Type.Boolean(),
  /** auto: masquerade only traffic from the inside network to a VIP (hairpin); always: every balanced connection; never. */
  masquerade: StringEnum(['auto', 'always', 'never']),
  /** Keep the kernel rules when rackboot stops (the pool then no longer follows health). keepalived: external mode only (checked). */
  keepRulesOnStop: Type.Boolean(),
  keepalived: Section({
    /** managed (default): rackboot runs `keepalived -n -C` as its child; external: write `config` and SIGHUP the pid in `pidFile`. */
    mode: Type.Optional(StringEnum(['managed', 'external'])),
    /** Where the rendered keepalived.conf goes (default <dataDir>/director/keepalived.conf). */
    config: Type.Optional(Type.String()),
    /** external mode: keepalived's pid file (default /run/keepalived.pid). */
    pidFile: Type.Optional(Type.String()),
    /** The keepalived program (default `keepalived`). */
    command: Type.Optional(Type.String()),
  }),
  /** Health-check defaults for every service (a service's `check` overrides key by key). */
  check: HealthCheckSchema,
  services: Type.Array(VirtualServiceSchema),
});
export type DirectorConfig = Static<typeof DirectorConfigSchema>;

declare module '../config/loaded.js' {
  interface Config {
    director: DirectorConfig;
  }
}

export const CHECK_DEFAULTS = { type: 'http', path: '/', expect: 200, timeout: '1s', interval: '2s', retries: 3, reentry: '10s' } as const;

export const DIRECTOR_DEFAULTS: DirectorConfig = {
  enabled: false,
  backend: 'nftables',
  systemPrep: true,
  masquerade: 'auto',
  keepRulesOnStop: false,
  keepalived: {},
  check: {},
  services: [],
};
