// The `power` config section (the `bmc` object of nodes and groups is the
// store's: store/bmc.ts). Keys are documented in docs/configuration.md
// (power) and docs/power.md.
import { Type, type Static } from '@sinclair/typebox';
import { Duration, parseDuration, Section, StringEnum } from '../config/types.js';
import { IpmiOptions } from '../store/bmc.js';

export const IPMI_TOOLS = ['ipmitool', 'freeipmi'] as const;
export type IpmiTool = (typeof IPMI_TOOLS)[number];

export const PowerConfigSchema = Section({
  enabled: Type.Boolean(),
  /** How long one BMC operation (one tool run, one Redfish request) may take. */
  timeout: Duration,
  /** BMC operations running at once, over all nodes. */
  concurrency: Type.Integer({ minimum: 1, maximum: 1024 }),
  /** Pause between nodes of a bulk on, cycle or reset (no inrush, no boot storm); a request may give its own. */
  stagger: Duration,
  /** After a BMC refuses a credential, the same credential is not tried on it again for this long. */
  authBackoff: Duration,
  /** AES-256 key sealing BMC passwords; default <dataDir>/bmc-key (created on first use, mode 0600). */
  keyFile: Type.Optional(Type.String({ minLength: 1 })),
  ipmi: Section({
    tool: StringEnum(IPMI_TOOLS),
    ...IpmiOptions,
    /** Retransmissions inside one tool run (ipmitool -R; FreeIPMI's session timeout is `timeout`). */
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
  }),
  redfish: Section({
    auth: Type.Optional(StringEnum(['session', 'basic'])),
  }),
});
export type PowerConfig = Static<typeof PowerConfigSchema>;

/** The power section with its durations in ms. */
export interface ResolvedPower extends PowerConfig {
  timeoutMs: number;
  staggerMs: number;
  authBackoffMs: number;
}

export function resolvePower(p: PowerConfig): ResolvedPower {
  return { ...p, timeoutMs: parseDuration(p.timeout), staggerMs: parseDuration(p.stagger), authBackoffMs: parseDuration(p.authBackoff) };
}

declare module '../config/loaded.js' {
  interface Config {
    power: PowerConfig;
  }
  interface ResolvedSections {
    power: ResolvedPower;
  }
}

export const POWER_DEFAULTS: PowerConfig = {
  enabled: true,
  timeout: '15s',
  concurrency: 32,
  stagger: '2s',
  authBackoff: '60s',
  ipmi: { tool: 'ipmitool' },
  redfish: {},
};

/** The IPMI defaults a node's bmc.ipmi overrides key by key. */
export const IPMI_DEFAULTS = { interface: 'lanplus', cipherSuite: 3, privilege: 'operator', workaroundFlags: '', retries: 2 } as const;
