// The `power` config section and the `bmc` object of nodes and groups (the
// same schema in the API and in seed entries). Keys are documented in
// docs/configuration.md (power) and docs/power.md.
import { Type, type Static } from '@sinclair/typebox';
import { Duration, parseDuration, Section, StringEnum } from '../config/types.js';
import { BMC_TYPES } from '../store/types.js';

export const IPMI_TOOLS = ['ipmitool', 'freeipmi'] as const;
export type IpmiTool = (typeof IPMI_TOOLS)[number];
export const IPMI_INTERFACES = ['lanplus', 'lan'] as const;
export const IPMI_PRIVILEGES = ['user', 'operator', 'administrator'] as const;

const IpmiOptions = {
  /** lanplus: IPMI 2.0 RMCP+ (encrypted); lan: IPMI 1.5. */
  interface: Type.Optional(StringEnum(IPMI_INTERFACES)),
  /** RMCP+ cipher suite (ipmitool -C, FreeIPMI -I). */
  cipherSuite: Type.Optional(Type.Integer({ minimum: 0, maximum: 17 })),
  privilege: Type.Optional(StringEnum(IPMI_PRIVILEGES)),
  /** FreeIPMI workaround flags (-W), e.g. "opensesspriv" for OpenIPMI's ipmi_sim. */
  workaroundFlags: Type.Optional(Type.String({ pattern: '^[a-z0-9]+(,[a-z0-9]+)*$', description: 'FreeIPMI workaround flags, comma separated (e.g. opensesspriv)' })),
};

const AbsPath = (what: string) => Type.String({ pattern: '^/', minLength: 2, description: `an absolute path to ${what}` });

/**
 * A BMC as an operator gives it (API body or seed entry). Every field is
 * optional here: a node's BMC takes what it lacks from its group's (a group
 * typically holds type, username and password; each node its address).
 */
export const BmcSchema = Type.Object(
  {
    type: Type.Optional(StringEnum(BMC_TYPES, { description: 'ipmi (ipmitool or FreeIPMI) or redfish (HTTPS)' })),
    address: Type.Optional(
      Type.String({ pattern: '^([A-Za-z0-9][A-Za-z0-9.-]{0,252}|[0-9A-Fa-f:]{2,39})$', description: 'a host name or an IPv4/IPv6 address' }),
    ),
    /** Default 623 (IPMI), 443 (Redfish). */
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    username: Type.Optional(Type.String({ maxLength: 64 })),
    /** Write-only: sealed at rest, never returned, never logged. */
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 128, writeOnly: true, description: 'write-only: stored encrypted, never returned' })),
    /** Read at each use (never copied into the store); mode 0600 advised. */
    passwordFile: Type.Optional(AbsPath('a file holding the password')),
    ipmi: Type.Optional(Type.Object(IpmiOptions, { additionalProperties: false })),
    redfish: Type.Optional(
      Type.Object(
        {
          /** The ComputerSystem to drive (default: the first member of /redfish/v1/Systems). */
          systemId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' })),
          /** session: a Redfish session per operation (X-Auth-Token); basic: HTTP basic auth on each request. */
          auth: Type.Optional(StringEnum(['session', 'basic'])),
          /** PEM CA bundle that signs the BMC's certificate. */
          caFile: Type.Optional(AbsPath('a PEM CA bundle')),
          /** Accept any certificate (a self-signed one): must be said explicitly. */
          insecure: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
  },
  // No $id: the schema sits in several bodies compiled by one Ajv (an $id may be added once).
  { additionalProperties: false, description: "a node's BMC; fields it lacks come from its group's bmc" },
);
export type BmcInput = Static<typeof BmcSchema>;

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
