// What a power action uses of a node's BMC (EffectiveBmc: node over group
// over config defaults, every field settled). What an operator gives, what
// the store keeps and what the API shows are the store's (store/bmc.ts).
import { mergeBmc } from '../store/bmc.js';
import type { BmcType, StoredBmc } from '../store/types.js';
import { IPMI_DEFAULTS, type PowerConfig } from './config.js';

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

export const DEFAULT_PORT: Record<BmcType, number> = { ipmi: 623, redfish: 443 };

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
