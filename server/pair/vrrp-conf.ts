// keepalived.conf for the pair's VRRP (keepalived -P: VRRP only; the
// director's own keepalived, if any, is a checker-only process of its own).
//
// - One vrrp_instance per interface that carries floating addresses, all in
//   one vrrp_sync_group (when there are two or more): a node that loses any
//   link gives up every address, so the VIP, the NAT router and the service
//   addresses never sit on different nodes.
// - Both nodes start as BACKUP with nopreempt: a node that returns never
//   takes the addresses back by itself (its database would have to become a
//   second primary); a planned `rackboot pair switchover` moves them.
// - Unicast adverts to the peer's own address on each link (no multicast
//   needed on the blade networks), VRRPv3 so the interval may be below 1 s.
// - A track_file adds PRIMARY_BONUS to the priority of the node whose
//   database is the primary (rackboot writes it after promoting, and clears
//   it when the node steps down; keepalived resets it to 0 at each start).
//   A returning node that misses the master's first adverts (a loaded
//   machine, a slow link) and calls itself master too then loses the
//   election at once, to the node holding the data, and the master's
//   gratuitous ARPs (sent on a lower-priority advert) take the addresses
//   back: neither the priorities nor nopreempt would.
// - notify_fifo: keepalived writes each state change ("INSTANCE "x" MASTER
//   150", "GROUP "g" BACKUP 0") to a FIFO rackboot reads: rackboot's role.
import { formatIpv4, type Ipv4 } from '../net/ipv4.js';
import type { ResolvedPair, VrrpLink } from './model.js';

export const SYNC_GROUP = 'rackboot';
export const PRIMARY_TRACK = 'rb_primary';
/** Added to the priority of the node with the primary database (the effective priority is capped at 254). */
export const PRIMARY_BONUS = 100;

/** keepalived takes seconds; 0.2 for 200 ms. */
function secs(ms: number): string {
  return String(Math.round(ms / 10) / 100);
}

export interface VrrpRenderInput {
  pair: ResolvedPair;
  /** This node's own address on each link (by interface), the unicast source. */
  ownAddress: ReadonlyMap<string, Ipv4>;
  fifo: string;
  /** The track_file rackboot writes PRIMARY_BONUS or 0 into. */
  primaryFile: string;
}

const trackPrimary = (indent: string) => [`${indent}track_file {`, `${indent}  ${PRIMARY_TRACK} weight 1`, `${indent}}`];

function instance(l: VrrpLink, p: ResolvedPair, own: Ipv4 | undefined, tracked: boolean): string[] {
  return [
    `vrrp_instance ${l.name} {`,
    '  state BACKUP',
    '  nopreempt',
    `  interface ${l.interface}`,
    `  virtual_router_id ${l.virtualRouterId}`,
    `  priority ${p.priority}`,
    `  advert_int ${secs(p.advertMs)}`,
    ...(own !== undefined ? [`  unicast_src_ip ${formatIpv4(own)}`] : []),
    '  unicast_peer {',
    `    ${formatIpv4(l.peer)}`,
    '  }',
    '  virtual_ipaddress {',
    ...l.floating.map((f) => `    ${formatIpv4(f.address)}/${f.prefix} dev ${f.interface}`),
    '  }',
    ...(tracked ? trackPrimary('  ') : []),
    '}',
  ];
}

export function renderVrrp(i: VrrpRenderInput): string {
  const p = i.pair;
  const out = [
    `! keepalived.conf of rackboot's pair (${p.self} with ${p.peerName}): rewritten at every start, do not edit`,
    'global_defs {',
    `  router_id rackboot_${p.self.replace(/[^A-Za-z0-9_.-]/g, '_')}`,
    `  notify_fifo ${i.fifo}`,
    '  vrrp_version 3',
    // A new master says so at once, again after 1 s, then every minute: switches and
    // blades that missed the first burst (or flushed their tables) learn the new MAC.
    '  vrrp_garp_master_delay 1',
    '  vrrp_garp_master_repeat 3',
    '  vrrp_garp_master_refresh 60',
    // A node that was master too and yields says so with one more advert: the
    // master answers it with gratuitous ARPs, so the last ones heard are its own.
    '  vrrp_higher_prio_send_advert true',
    '}',
  ];
  out.push('', `track_file ${PRIMARY_TRACK} {`, `  file "${i.primaryFile}"`, '  weight 1', '  init_file 0 overwrite', '}');
  // In a sync group the group carries the tracking (keepalived zeroes the weights of its members' own).
  const grouped = p.links.length > 1;
  if (grouped) {
    out.push('', `vrrp_sync_group ${SYNC_GROUP} {`, '  group {', ...p.links.map((l) => `    ${l.name}`), '  }', ...trackPrimary('  '), '}');
  }
  for (const l of p.links) out.push('', ...instance(l, p, i.ownAddress.get(l.interface), !grouped));
  return out.join('\n') + '\n';
}

export type VrrpState = 'init' | 'backup' | 'master' | 'fault' | 'stop';

export interface VrrpNotice {
  kind: 'group' | 'instance';
  name: string;
  state: VrrpState;
  priority: number;
}

/** One notify_fifo line: `INSTANCE "rb_eth1" MASTER 150`; undefined for lines this version does not know. */
export function parseNotice(line: string): VrrpNotice | undefined {
  const m = /^(INSTANCE|GROUP)\s+"([^"]+)"\s+(MASTER|BACKUP|FAULT|STOP|INIT|DELETED)(?:\s+(\d+))?\s*$/.exec(line.trim());
  if (!m) return undefined;
  const state = m[3] === 'DELETED' ? 'stop' : (m[3]!.toLowerCase() as VrrpState);
  return { kind: m[1] === 'GROUP' ? 'group' : 'instance', name: m[2]!, state, priority: Number(m[4] ?? 0) };
}
