import { Type, type Static } from '@sinclair/typebox';
import { Duration, Port, Section } from '../config/types.js';

export const DhcpConfigSchema = Section(
  {
    enabled: Type.Boolean({ default: true }),
    port: Port,
    /** Register unknown MACs that get a dynamic lease as discovered nodes. */
    discovery: Type.Boolean({ default: false }),
    leaseTime: Duration,
  },
  { default: {} },
);
export type DhcpConfig = Static<typeof DhcpConfigSchema>;
export const DHCP_DEFAULTS: DhcpConfig = { enabled: true, port: 67, discovery: false, leaseTime: '1h' };
