// piranha's primary/backup directors (lvs.cf `backup_active`, `backup`,
// `backup_private`, `heartbeat`, `keepalive`, `deadtime`) -> rackboot's
// pair section. pulse moved the VIPs and the NAT router to the backup; the
// pair moves the same addresses with keepalived VRRP (and the database with
// them). `primary_private` stays the node's own address, so the networks'
// service addresses do not float (lvs.cf has no address for that).
import { cidrContains, parseIfaceAddress, parseIpv4 } from '../../net/ipv4.js';
import type { Entry } from './parse.js';

export interface PairImport {
  /** Config sections to merge at the top level: server, store, pair. */
  sections: Record<string, unknown>;
  /** Keys carried over (their notes are not "not carried over"). */
  mapped: string[];
}

const firstAddress = (e: Entry | undefined): string | undefined => {
  const a = e?.value.trim().split(/\s+/)[0];
  return a && parseIpv4(a) !== undefined && a !== '0.0.0.0' ? a : undefined;
};

/**
 * The pair section for a file with an active backup director, else
 * undefined. `floating`: the imported NAT router and VIPs (address with
 * prefix, interface). Notes go through `note` (keys with no counterpart,
 * what the backup's own config needs).
 */
export function pairFromLvsCf(
  g: ReadonlyMap<string, Entry>,
  floating: Array<{ address: string; interface: string }>,
  note: (e: Entry | undefined, text: string) => void,
): PairImport | undefined {
  const active = g.get('backup_active');
  const backup = firstAddress(g.get('backup'));
  if (active?.value.trim() !== '1' || !backup || g.get('heartbeat')?.value.trim() === '0') return undefined;
  const peer = [backup, firstAddress(g.get('backup_private')), firstAddress(g.get('backup_shared'))].filter((a): a is string => !!a);
  const primary = [firstAddress(g.get('primary')), firstAddress(g.get('primary_private'))].filter((a): a is string => !!a);
  const mapped = ['backup_active', 'backup', 'backup_private', 'backup_shared', 'heartbeat', 'heartbeat_port', 'keepalive', 'deadtime', 'primary_shared'];

  const keepalive = g.get('keepalive');
  const deadtime = g.get('deadtime');
  if (keepalive || deadtime) {
    const dead = Number(deadtime?.value.trim());
    const keep = Number.isFinite(dead) && dead > 0 ? ` (pair.advertInterval: ${Math.max(1, Math.round(dead / 3))}s keeps pulse's timing)` : '';
    note(deadtime ?? keepalive, `keepalive/deadtime: pulse took the backup over after deadtime seconds; VRRP's pair.advertInterval (default 200ms) does it after about 3.5 adverts, under a second${keep}`);
  }
  if (g.has('heartbeat_port')) note(g.get('heartbeat_port'), `heartbeat_port = ${g.get('heartbeat_port')!.value}: VRRP is IP protocol 112, no port; let it through between the two directors`);
  if (g.has('primary_shared')) note(g.get('primary_shared'), `primary_shared = ${g.get('primary_shared')!.value}: this node's own address on the shared network (nothing to set)`);

  // Every interface with floating addresses needs the backup's own address in one of its networks (VRRP runs there).
  const byIface = new Map<string, string[]>();
  for (const f of floating) byIface.set(f.interface, [...(byIface.get(f.interface) ?? []), f.address]);
  const uncovered = [...byIface].filter(([, addrs]) => !peer.some((p) => addrs.some((a) => cidrContains(parseIfaceAddress(a)!.cidr, parseIpv4(p)!))));
  const dbHost = floating[0]?.address.split('/')[0];
  const enabled = !uncovered.length && !!dbHost;
  if (!enabled) {
    const why = !dbHost
      ? 'nothing floats (no nat_router, no virtual server)'
      : uncovered.map(([i, a]) => `interface ${i} (${a.join(', ')}) has none of the backup's addresses (${peer.join(', ')}) in its network${a.some((x) => x.endsWith('/32')) ? ': give vip_nmask the real netmask' : ''}`).join('; ');
    note(active, `backup_active = 1: the pair is written with enabled: false: ${why}`);
  }
  note(active, `the backup director's config: this file imported the same way, then server.name backup, pair.peer { name: primary, addresses: [${primary.join(', ')}] }, pair.priority 100, no pair.database.bootstrap; both with the same api.token (or RACKBOOT_API_TOKEN)`);
  const pair: Record<string, unknown> = {
    enabled,
    peer: { name: 'backup', addresses: peer },
    priority: 150,
    floating: { serviceAddresses: false },
    database: { bootstrap: true },
  };
  const sections: Record<string, unknown> = { server: { name: 'primary' }, pair };
  // The store follows the master: a floating address (the NAT router's, else the first VIP's).
  if (enabled) sections.store = { driver: 'postgres', url: `postgres://rackboot@${dbHost}/rackboot` };
  return { sections, mapped };
}
