// This node's own (fixed) address on each link, read from its interfaces:
// the VRRP unicast source, conntrackd's address, where the peer reaches
// this node's API and database. The floating addresses never count.
import type { CommandRunner } from '../director/exec.js';
import { cidrContains, formatIpv4, parseIfaceAddress, type Ipv4 } from '../net/ipv4.js';
import type { ResolvedPair } from './model.js';

export type InterfaceAddresses = Map<string, Array<{ ip: Ipv4; prefix: number }>>;

export async function readInterfaceAddresses(runner: CommandRunner): Promise<InterfaceAddresses> {
  const out = await runner.must('ip', ['-j', '-4', 'addr', 'show']);
  const parsed = JSON.parse(out || '[]') as Array<{ ifname?: string; addr_info?: Array<{ local?: string; prefixlen?: number }> }>;
  const map: InterfaceAddresses = new Map();
  for (const l of parsed) {
    if (!l.ifname) continue;
    const list = (l.addr_info ?? []).flatMap((a) => {
      const p = a.local && a.prefixlen !== undefined ? parseIfaceAddress(`${a.local}/${a.prefixlen}`) : undefined;
      return p ? [{ ip: p.ip, prefix: p.cidr.prefix }] : [];
    });
    map.set(l.ifname, list);
  }
  return map;
}

/** Own address per link interface, or the problems (one line each, naming the interface). */
export function ownLinkAddresses(pair: ResolvedPair, ifaces: InterfaceAddresses): { own: Map<string, Ipv4>; problems: string[] } {
  const floating = new Set(pair.floating.map((f) => f.address));
  const own = new Map<string, Ipv4>();
  const problems: string[] = [];
  for (const l of pair.links) {
    const list = ifaces.get(l.interface);
    if (!list) {
      problems.push(`interface ${l.interface} (${l.floating.map((f) => f.role).join(', ')}) does not exist on this node`);
      continue;
    }
    const mine = list.find((a) => !floating.has(a.ip) && cidrContains(parseIfaceAddress(`${formatIpv4(a.ip)}/${a.prefix}`)!.cidr, l.peer));
    if (!mine) {
      problems.push(`interface ${l.interface} has no address of this node's own in the network of the peer's ${formatIpv4(l.peer)} (add one, e.g. with ip addr add; the floating addresses do not count)`);
      continue;
    }
    own.set(l.interface, mine.ip);
  }
  return { own, problems };
}

/** The addresses that are on an interface now (which floating addresses this node holds). */
export function holds(ifaces: InterfaceAddresses, address: Ipv4): boolean {
  for (const list of ifaces.values()) if (list.some((a) => a.ip === address)) return true;
  return false;
}
