import { Type, type Static } from '@sinclair/typebox';
import { Duration, Name, Port, Section, StringEnum } from '../config/types.js';

export const HealthCheckSchema = Section({
  path: Type.String(),
  expect: Type.Optional(Type.Union([Type.Integer(), Type.String()])),
  timeout: Type.Optional(Duration),
  interval: Type.Optional(Duration),
  retries: Type.Optional(Type.Integer({ minimum: 1 })),
  reentry: Type.Optional(Duration),
});

export const VirtualServiceSchema = Section({
  name: Name,
  /** VIP with prefix, e.g. 192.168.1.100/24. */
  vip: Type.String(),
  interface: Type.String(),
  port: Port,
  protocol: Type.Optional(StringEnum(['tcp', 'udp'])),
  scheduler: Type.Optional(StringEnum(['rr', 'wrr', 'lc', 'wlc', 'sh'])),
  persistence: Type.Optional(Duration),
  realServers: Section({
    group: Type.Optional(Name),
    nodes: Type.Optional(Type.Array(Name)),
    network: Type.Optional(Name),
    port: Port,
  }),
  check: Type.Optional(HealthCheckSchema),
});

export const DirectorConfigSchema = Section({
  enabled: Type.Boolean(),
  backend: StringEnum(['nftables', 'ipvs', 'keepalived']),
  natRouter: Type.Optional(Section({ interface: Type.String(), address: Type.String() })),
  services: Type.Array(VirtualServiceSchema),
});
export type DirectorConfig = Static<typeof DirectorConfigSchema>;
export const DIRECTOR_DEFAULTS: DirectorConfig = { enabled: false, backend: 'nftables', services: [] };
