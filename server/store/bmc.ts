// A node's BMC as an operator gives it (BmcInput, with a password), as the
// store keeps it (StoredBmc: the password sealed) and as the API shows it
// (no password, only whether one is set). What a power action makes of it
// is power's (power/bmc.ts). Pure but for the keyring.
import { Type, type Static } from '@sinclair/typebox';
import { StringEnum } from '../config/types.js';
import type { BmcKeyring } from './bmc-keyring.js';
import { BMC_TYPES, InvalidError, type StoredBmc } from './types.js';

export const IPMI_INTERFACES = ['lanplus', 'lan'] as const;
export const IPMI_PRIVILEGES = ['user', 'operator', 'administrator'] as const;

/** The IPMI settings a node's bmc.ipmi and the power.ipmi section share. */
export const IpmiOptions = {
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

/** The BMC as the API shows it: every stored field but the sealed password. */
export type BmcView = Omit<StoredBmc, 'passwordSealed'> & { passwordSet: boolean };

/**
 * The stored form of a BMC given to the API or in a seed entry: the
 * password sealed. A BMC given without password or passwordFile keeps the
 * one `current` has (the field is write-only: a client that changes the
 * address cannot send the password back). undefined: no change; null: none.
 * `at` is the field's path for errors ("bmc", "groups[0].bmc").
 */
export function sealBmc(input: BmcInput | null | undefined, current: StoredBmc | null, keys: BmcKeyring, at = 'bmc'): StoredBmc | null | undefined {
  if (input === undefined || input === null) return input;
  if (input.password !== undefined && input.passwordFile !== undefined) {
    throw new InvalidError(`${at}.passwordFile`, 'give password or passwordFile, not both');
  }
  const { password, ...rest } = input;
  const stored: StoredBmc = { ...rest };
  if (password !== undefined) stored.passwordSealed = keys.seal(password);
  else if (input.passwordFile === undefined && current) {
    if (current.passwordSealed) stored.passwordSealed = current.passwordSealed;
    else if (current.passwordFile) stored.passwordFile = current.passwordFile;
  }
  return stored;
}

export function bmcView(b: StoredBmc | null): BmcView | null {
  if (!b) return null;
  const { passwordSealed, ...rest } = b;
  return { ...rest, passwordSet: !!passwordSealed || !!b.passwordFile };
}

/** Node fields over group fields, the ipmi and redfish parts key by key; the secret comes whole from whichever gives one. */
export function mergeBmc(node: StoredBmc | null, group: StoredBmc | null): StoredBmc | null {
  if (!node && !group) return null;
  const n = node ?? {};
  const g = group ?? {};
  const nodeHasSecret = !!(n.passwordSealed || n.passwordFile);
  const { passwordSealed: _gs, passwordFile: _gf, ...gRest } = g;
  const merged: StoredBmc = { ...gRest, ...n };
  if (!nodeHasSecret) {
    delete merged.passwordSealed;
    delete merged.passwordFile;
    if (g.passwordSealed) merged.passwordSealed = g.passwordSealed;
    else if (g.passwordFile) merged.passwordFile = g.passwordFile;
  }
  if (g.ipmi || n.ipmi) merged.ipmi = { ...g.ipmi, ...n.ipmi };
  if (g.redfish || n.redfish) merged.redfish = { ...g.redfish, ...n.redfish };
  return merged;
}
