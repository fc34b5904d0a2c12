// Which source addresses rackboot answers at all: the networks it serves,
// the relays the operator lists (dhcp.relays) and, for TFTP, loopback. A
// request from anywhere else is dropped unanswered, so a forged source
// address never gets DHCP replies or TFTP data reflected to it.
import { cidrContains, parseCidr, parseIpv4, type Cidr, type Ipv4 } from '../net/ipv4.js';
import type { ResolvedNetwork } from './networks.js';

const LOOPBACK = parseCidr('127.0.0.0/8')!;

/** A dhcp.relays entry: an address (a /32) or a network; undefined when it is neither. */
export function parseRelayEntry(text: string): Cidr | undefined {
  if (typeof text !== 'string') return undefined;
  if (text.includes('/')) return parseCidr(text);
  return parseIpv4(text) === undefined ? undefined : parseCidr(`${text}/32`);
}

/** Issues of a dhcp.relays list, each naming its entry. */
export function relayIssues(relays: string[]): Array<{ path: string; message: string }> {
  const issues: Array<{ path: string; message: string }> = [];
  relays.forEach((r, i) => {
    if (!parseRelayEntry(r)) issues.push({ path: `dhcp.relays[${i}]`, message: `'${r}' is not an IPv4 address or a network like 10.9.0.0/16 (host bits zero)` });
  });
  return issues;
}

export class SourceFilter {
  private readonly cidrs: Cidr[];

  /**
   * @param networks every configured network (those reached through relays included)
   * @param relays dhcp.relays entries (unparsable ones are left out: config check reports them)
   */
  constructor(networks: readonly ResolvedNetwork[], relays: readonly string[], opts: { loopback?: boolean } = {}) {
    this.cidrs = [...networks.map((n) => n.cidr), ...relays.map(parseRelayEntry).filter((c): c is Cidr => c !== undefined)];
    if (opts.loopback) this.cidrs.push(LOOPBACK);
  }

  /** [network, mask, ...] of every allowed network, for native code. */
  flat(): number[] {
    return this.cidrs.flatMap((c) => [c.network, c.mask]);
  }

  allows(ip: Ipv4): boolean {
    for (const c of this.cidrs) if (cidrContains(c, ip)) return true;
    return false;
  }

  allowsText(address: string): boolean {
    const ip = parseIpv4(address);
    return ip !== undefined && this.allows(ip);
  }
}
