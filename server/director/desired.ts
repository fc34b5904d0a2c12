// The desired load-balancer state: a pure function of the resolved config, the
// real-server candidates and their health. Backends render and apply it.
import type { Cidr, Ipv4 } from '../net/ipv4.js';
import type { Scheduler } from './config.js';
import type { ResolvedDirector } from './model.js';
import type { Candidate } from './realservers.js';

export interface DesiredServer {
  name: string;
  node: string | null;
  address: Ipv4;
  port: number;
  weight: number;
}

export interface DesiredService {
  name: string;
  vip: Ipv4;
  vipPrefix: number;
  interface: string;
  port: number;
  protocol: 'tcp' | 'udp';
  scheduler: Scheduler;
  persistenceSec: number | undefined;
  servers: DesiredServer[];
}

export interface DesiredState {
  services: DesiredService[];
  masquerade: 'auto' | 'always' | 'never';
  /** The NAT router's network: connections from it to a VIP are masqueraded in auto mode (hairpin). */
  inside: Cidr | undefined;
}

/**
 * `inPool(candidate)` says whether health lets a server in; excluded
 * candidates and those without an address never are. Servers are sorted by
 * address then port so the same pool always renders the same rules.
 */
export function desiredState(d: ResolvedDirector, candidates: readonly Candidate[], inPool: (c: Candidate) => boolean): DesiredState {
  const services = d.services.map((s): DesiredService => {
    const servers: DesiredServer[] = [];
    const seen = new Set<string>();
    for (const c of candidates) {
      if (c.service !== s.name || c.excluded || c.address === undefined || !inPool(c)) continue;
      const id = `${c.address}:${c.port}`;
      if (seen.has(id)) continue; // the same endpoint listed twice (node and static) counts once
      seen.add(id);
      servers.push({ name: c.name, node: c.node, address: c.address, port: c.port, weight: c.weight });
    }
    servers.sort((a, b) => a.address - b.address || a.port - b.port);
    return {
      name: s.name,
      vip: s.vip,
      vipPrefix: s.vipPrefix,
      interface: s.interface,
      port: s.port,
      protocol: s.protocol,
      scheduler: s.scheduler,
      persistenceSec: s.persistenceSec,
      servers,
    };
  });
  return { services, masquerade: d.masquerade, inside: d.natRouter?.cidr };
}
