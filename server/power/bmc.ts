// A node's BMC through its life: what an operator gives (BmcInput, with a
// password), what the store keeps (StoredBmc: the password sealed), what
// the API shows (no password, only whether one is set) and what a power
// action uses (EffectiveBmc: node over group over config defaults, every
// field settled). Pure but for the keyring.
import type { StoredBmc, BmcType } from '../store/types.js';
import { InvalidError } from '../store/types.js';
import { IPMI_DEFAULTS, type BmcInput, type PowerConfig } from './config.js';
import type { BmcKeyring } from './secrets.js';

export type IpmiSettings = { interface: 'lanplus' | 'lan'; cipherSuite: number; privilege: 'user' | 'operator' | 'administrator'; workaroundFlags: string };
export type RedfishSettings = { systemId: string | undefined; auth: 'session' | 'basic'; caFile: string | undefined; insecure: boolean };

/** Where the password comes from: sealed in the store, or a file read at each use. */
export type BmcSecret = { sealed: string } | { file: string };

export interface EffectiveBmc {
  type: BmcType;
  address: string;
  port: number;
  username: string;
  secret: BmcSecret;
  ipmi: IpmiSettings;
  redfish: RedfishSettings;
}

/** The BMC as the API shows it: every stored field but the sealed password. */
export type BmcView = Omit<StoredBmc, 'passwordSealed'> & { passwordSet: boolean };

export const DEFAULT_PORT: Record<BmcType, number> = { ipmi: 623, redfish: 443 };

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

/** What a power action on the node uses, or why it cannot run (naming the missing field). */
export function effectiveBmc(node: StoredBmc | null, group: StoredBmc | null, power: PowerConfig): EffectiveBmc | { problem: string } {
  const b = mergeBmc(node, group);
  if (!b) return { problem: 'has no BMC (set bmc on the node or its group)' };
  const missing = (['type', 'address', 'username'] as const).filter((k) => b[k] === undefined);
  if (!b.passwordSealed && !b.passwordFile) missing.push('password or passwordFile' as never);
  if (missing.length) return { problem: `has an incomplete BMC: no ${missing.join(', ')} (on the node or its group)` };
  const type = b.type!;
  const cfgIpmi = power.ipmi;
  return {
    type,
    address: b.address!,
    port: b.port ?? DEFAULT_PORT[type],
    username: b.username!,
    secret: b.passwordSealed ? { sealed: b.passwordSealed } : { file: b.passwordFile! },
    ipmi: {
      interface: b.ipmi?.interface ?? cfgIpmi.interface ?? IPMI_DEFAULTS.interface,
      cipherSuite: b.ipmi?.cipherSuite ?? cfgIpmi.cipherSuite ?? IPMI_DEFAULTS.cipherSuite,
      privilege: b.ipmi?.privilege ?? cfgIpmi.privilege ?? IPMI_DEFAULTS.privilege,
      workaroundFlags: b.ipmi?.workaroundFlags ?? cfgIpmi.workaroundFlags ?? IPMI_DEFAULTS.workaroundFlags,
    },
    redfish: {
      systemId: b.redfish?.systemId,
      auth: b.redfish?.auth ?? power.redfish.auth ?? 'session',
      caFile: b.redfish?.caFile,
      insecure: b.redfish?.insecure ?? false,
    },
  };
}

/** "ipmi 10.0.2.11:623": how events and messages name a BMC (never with a secret). */
export function bmcLabel(b: Pick<EffectiveBmc, 'type' | 'address' | 'port'>): string {
  const host = b.address.includes(':') ? `[${b.address}]` : b.address;
  return `${b.type} ${host}:${b.port}`;
}
