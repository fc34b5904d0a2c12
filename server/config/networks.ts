// Networks from the config, parsed once into numbers the DHCP policy and the
// allocator use on every request.
import {
  cidrContains,
  isHostAddress,
  parseCidr,
  parseIpv4,
  parseRange,
  rangeContains,
  rangesOverlap,
  type Cidr,
  type Ipv4,
  type Ipv4Range,
} from '../net/ipv4.js';
import { Type, type Static } from '@sinclair/typebox';
import type { ConfigIssue } from './errors.js';
import { Duration, Name, parseDuration, Section } from './types.js';

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

export interface ResolvedNetwork {
  config: NetworkConfig;
  name: string;
  cidr: Cidr;
  server: Ipv4;
  router: Ipv4 | undefined;
  dns: Ipv4[];
  staticRange: Ipv4Range | undefined;
  dynamicRange: Ipv4Range | undefined;
  /** Lease time in ms; the DHCP section's when the network gives none. */
  leaseMs: number | undefined;
}

/**
 * Parse and cross-check networks; returns issues naming `networks[i].key`.
 * Entries for which `skip(i)` holds (those that failed the schema) are left
 * out, keeping the others' indexes.
 */
export function resolveNetworks(list: NetworkConfig[], skip: (i: number) => boolean = () => false): { networks: ResolvedNetwork[]; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const networks: ResolvedNetwork[] = [];
  const names = new Map<string, number>();
  const deferred: Array<{ i: number; ip: Ipv4; text: string; cidr: string }> = [];
  list.forEach((n, i) => {
    if (skip(i)) return;
    const at = (k: string) => `networks[${i}].${k}`;
    const bad = (k: string, message: string) => issues.push({ path: at(k), message });
    if (names.has(n.name)) bad('name', `'${n.name}' is already the name of networks[${names.get(n.name)}]`);
    names.set(n.name, i);
    const cidr = parseCidr(n.cidr);
    if (!cidr) {
      const loose = parseCidr(n.cidr, false);
      bad('cidr', loose ? `'${n.cidr}' has host bits set; did you mean ${formatNet(loose)}?` : `'${n.cidr}' is not an IPv4 network like 10.0.0.0/24`);
      return;
    }
    const inNet = (k: string, text: string | undefined, host = true): Ipv4 | undefined => {
      if (text === undefined) return undefined;
      const ip = parseIpv4(text);
      if (ip === undefined) return void bad(k, `'${text}' is not an IPv4 address`);
      if (!cidrContains(cidr, ip)) return void bad(k, `${text} is outside the network ${n.cidr}`);
      if (host && !isHostAddress(cidr, ip)) return void bad(k, `${text} is the network or broadcast address of ${n.cidr}`);
      return ip;
    };
    // A network reached only through relays (no interface) is answered from an address on
    // another network: its server address may lie in another configured network (checked below).
    const serverIp = parseIpv4(n.serverAddress);
    const relayedFromElsewhere = n.interface === undefined && serverIp !== undefined && !cidrContains(cidr, serverIp);
    if (relayedFromElsewhere) deferred.push({ i, ip: serverIp, text: n.serverAddress, cidr: n.cidr });
    const server = relayedFromElsewhere ? serverIp : inNet('serverAddress', n.serverAddress);
    const router = inNet('router', n.router);
    const dns: Ipv4[] = [];
    (n.dns ?? []).forEach((d, j) => {
      const ip = parseIpv4(d);
      if (ip === undefined) bad(`dns[${j}]`, `'${d}' is not an IPv4 address`);
      else dns.push(ip);
    });
    const range = (k: 'staticRange' | 'dynamicRange'): Ipv4Range | undefined => {
      const text = n[k];
      if (text === undefined) return undefined;
      const r = parseRange(text);
      if (!r) return void bad(k, `'${text}' is not a range like 10.0.0.10-10.0.0.199 (first <= last)`);
      if (!isHostAddress(cidr, r.start) || !isHostAddress(cidr, r.end)) return void bad(k, `${text} is not inside the hosts of ${n.cidr}`);
      for (const [what, ip] of [['serverAddress', server], ['router', router]] as const) {
        if (ip !== undefined && rangeContains(r, ip)) bad(k, `${text} contains the ${what} ${n[what]}`);
      }
      return r;
    };
    const staticRange = range('staticRange');
    const dynamicRange = range('dynamicRange');
    if (staticRange && dynamicRange && rangesOverlap(staticRange, dynamicRange)) {
      bad('dynamicRange', `${n.dynamicRange} overlaps staticRange ${n.staticRange}`);
    }
    networks.push({
      config: n,
      name: n.name,
      cidr,
      server: server ?? 0,
      router,
      dns,
      staticRange,
      dynamicRange,
      leaseMs: n.leaseTime !== undefined ? parseDuration(n.leaseTime) : undefined,
    });
  });
  // A skipped entry may be the network with an interface that holds the address: judge only a complete list.
  const complete = !list.some((_, i) => skip(i));
  for (const d of complete ? deferred : []) {
    if (!networks.some((n) => n.config.interface !== undefined && cidrContains(n.cidr, d.ip))) {
      issues.push({
        path: `networks[${d.i}].serverAddress`,
        message: `${d.text} is outside the network ${d.cidr} (a network without interface may use an address of another network that has one: the address its relays send to)`,
      });
    }
  }
  for (let a = 0; a < networks.length; a++) {
    for (let b = a + 1; b < networks.length; b++) {
      const x = networks[a]!.cidr;
      const y = networks[b]!.cidr;
      if (cidrContains(x, y.network) || cidrContains(y, x.network)) {
        const ib = list.indexOf(networks[b]!.config);
        issues.push({ path: `networks[${ib}].cidr`, message: `${networks[b]!.config.cidr} overlaps network '${networks[a]!.name}' (${networks[a]!.config.cidr})` });
      }
    }
  }
  return { networks, issues };
}

function formatNet(c: Cidr): string {
  return `${c.network >>> 24}.${(c.network >>> 16) & 255}.${(c.network >>> 8) & 255}.${c.network & 255}/${c.prefix}`;
}

/** The network an address belongs to. */
export function networkOf(networks: readonly ResolvedNetwork[], ip: Ipv4): ResolvedNetwork | undefined {
  return networks.find((n) => cidrContains(n.cidr, ip));
}

/**
 * Why an address cannot be a registered node's on this network, or undefined.
 * One check for the API, the seed at start and `config check`, so all three
 * refuse the same addresses with the same words.
 */
export function nodeAddressProblem(net: ResolvedNetwork, ip: Ipv4, text: string): string | undefined {
  if (!cidrContains(net.cidr, ip)) return `${text} is outside network '${net.name}' (${net.config.cidr})`;
  if (!isHostAddress(net.cidr, ip)) return `${text} is the network or broadcast address of ${net.config.cidr}`;
  if (ip === net.server) return `${text} is this server's address on '${net.name}'`;
  if (ip === net.router) return `${text} is the router of '${net.name}'`;
  if (net.dynamicRange && ip >= net.dynamicRange.start && ip <= net.dynamicRange.end) return `${text} is in the dynamic range of '${net.name}'`;
  return undefined;
}
