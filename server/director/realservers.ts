// Which machines are real servers of each virtual service, at which address
// and weight, and which are kept out and why (the paper's setup tip: a real
// server whose default gateway is not the NAT router, or that gets a second
// default gateway on another interface, would answer clients directly,
// bypassing the director). Pure: config + registry in, list out.
import type { ResolvedNetwork } from '../config/networks.js';
import { networkOf } from '../config/networks.js';
import { cidrContains, formatIpv4, parseIpv4, type Ipv4 } from '../net/ipv4.js';
import type { InterfaceRecord, Vars } from '../store/types.js';
import type { ResolvedDirector, ResolvedService } from './model.js';

/** A node as the director needs it: its group, interfaces and effective vars (cluster < group < node). */
export interface DirectorNode {
  name: string;
  group: string | null;
  interfaces: Pick<InterfaceRecord, 'name' | 'network' | 'ipv4'>[];
  vars: Vars;
}

export interface Candidate {
  /** Unique per service: "web/blade1". */
  key: string;
  service: string;
  /** Server name: the node's, or a static entry's. */
  name: string;
  /** The registry node, for its timeline; null for static servers. */
  node: string | null;
  address: Ipv4 | undefined;
  port: number;
  weight: number;
  network: string | undefined;
  /** Why the server is kept out of the pool regardless of health. */
  excluded: string | undefined;
}

export const MAX_WEIGHT = 65535;

/** The NAT-router rule for one server on one network; undefined when it holds. */
export function natRouterProblem(d: ResolvedDirector, net: ResolvedNetwork | undefined, server: string): string | undefined {
  if (!d.natRouter || d.masquerade === 'always' || !net) return undefined;
  const nat = formatIpv4(d.natRouter.address);
  if (net.router === undefined) {
    return `real server ${server} is on network '${net.name}', which hands out no router: set networks.${net.name}.router to the NAT router ${nat}, or replies bypass the director`;
  }
  if (net.router !== d.natRouter.address) {
    return `real server ${server} is on network '${net.name}', whose router ${formatIpv4(net.router)} is not the NAT router ${nat}: replies would bypass the director (set networks.${net.name}.router: ${nat})`;
  }
  return undefined;
}

/**
 * The NAT-router rule for a real server's other interfaces: a network that
 * hands out a router other than the NAT router gives the blade a second
 * default gateway by DHCP, and replies may leave through it, bypassing the
 * director. Networks without a router are fine (they add no default route).
 */
export function otherRouterProblem(
  d: ResolvedDirector,
  node: DirectorNode,
  serving: string,
  networks: readonly ResolvedNetwork[],
): string | undefined {
  if (!d.natRouter || d.masquerade === 'always') return undefined;
  const nat = formatIpv4(d.natRouter.address);
  for (const i of node.interfaces) {
    if (i.network === serving) continue;
    const net = networks.find((n) => n.name === i.network);
    if (!net || net.router === undefined || net.router === d.natRouter.address) continue;
    return (
      `real server ${node.name} also has ${i.name} on network '${net.name}', whose router ${formatIpv4(net.router)} is not the NAT router ${nat}: ` +
      `DHCP hands it a second default gateway and replies can bypass the director (remove networks.${net.name}.router)`
    );
  }
  return undefined;
}

function parseWeight(v: unknown): number | undefined {
  if (v === undefined || v === null) return 1;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 0 && n <= MAX_WEIGHT ? n : undefined;
}

function pickInterface(d: ResolvedDirector, s: ResolvedService, node: DirectorNode, networks: readonly ResolvedNetwork[]) {
  if (s.network) return node.interfaces.find((i) => i.network === s.network);
  if (d.natRouter) {
    const inside = node.interfaces.find((i) => {
      const n = networks.find((x) => x.name === i.network);
      return n && cidrContains(n.cidr, d.natRouter!.address);
    });
    if (inside) return inside;
  }
  return s.network === undefined && !d.natRouter ? node.interfaces[0] : undefined;
}

function nodeCandidate(d: ResolvedDirector, s: ResolvedService, node: DirectorNode, networks: readonly ResolvedNetwork[]): Candidate {
  const base = { key: `${s.name}/${node.name}`, service: s.name, name: node.name, node: node.name, port: s.rsPort };
  const iface = pickInterface(d, s, node, networks);
  if (!iface) {
    const where = s.network ? `network '${s.network}'` : d.natRouter ? `a network holding the NAT router ${formatIpv4(d.natRouter.address)}` : 'any network';
    return { ...base, address: undefined, weight: 0, network: undefined, excluded: `node ${node.name} has no interface on ${where}` };
  }
  const net = networks.find((n) => n.name === iface.network);
  const address = parseIpv4(iface.ipv4);
  const weight = parseWeight(node.vars[s.weightVar]);
  // Router problems first: they are config errors, while a missing address
  // (a seed interface that gets one from the static range) is not.
  const excluded =
    natRouterProblem(d, net, node.name) ??
    otherRouterProblem(d, node, iface.network, networks) ??
    (address === undefined
      ? `interface ${iface.name} of node ${node.name} has no IPv4 address`
      : weight === undefined
        ? `vars.${s.weightVar} of node ${node.name} is ${JSON.stringify(node.vars[s.weightVar])}, not a whole number 0-${MAX_WEIGHT}`
        : undefined);
  return { ...base, address, weight: weight ?? 0, network: iface.network, excluded };
}

/** Every real server of every service, in config order, nodes sorted by name. */
export function realServerCandidates(d: ResolvedDirector, networks: readonly ResolvedNetwork[], nodes: readonly DirectorNode[]): Candidate[] {
  const out: Candidate[] = [];
  const byName = new Map(nodes.map((n) => [n.name, n]));
  for (const s of d.services) {
    const members = new Map<string, DirectorNode | undefined>();
    if (s.group) for (const n of nodes) if (n.group === s.group) members.set(n.name, n);
    for (const name of s.nodes ?? []) members.set(name, byName.get(name));
    for (const name of [...members.keys()].sort()) {
      const node = members.get(name);
      if (!node) {
        out.push({ key: `${s.name}/${name}`, service: s.name, name, node: null, address: undefined, port: s.rsPort, weight: 0, network: undefined, excluded: `no node named '${name}' in the registry` });
        continue;
      }
      out.push(nodeCandidate(d, s, node, networks));
    }
    for (const st of s.static) {
      const net = networkOf(networks, st.address);
      out.push({
        key: `${s.name}/${st.name}`,
        service: s.name,
        name: st.name,
        node: null,
        address: st.address,
        port: st.port ?? s.rsPort,
        weight: st.weight ?? 1,
        network: net?.name,
        excluded: natRouterProblem(d, net, st.name),
      });
    }
  }
  return out;
}
