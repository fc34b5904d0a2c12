// The pair section resolved once: which addresses float (the VIPs, the NAT
// router, the networks' service addresses), on which interfaces, which of
// the peer's addresses each interface's VRRP instance talks to, and the
// database and conntrackd settings with their defaults. Pure; the problems
// it finds are config errors naming the key (CONFIG_CHECKS).
import { join } from 'node:path';
import type { ConfigIssue } from '../config/errors.js';
import type { ParsedConfig } from '../config/loaded.js';
import { parseDuration } from '../config/types.js';
import { cidrContains, formatCidr, formatIpv4, parseIfaceAddress, parseIpv4, type Cidr, type Ipv4 } from '../net/ipv4.js';
import { DATABASE_URL_ENV } from '../store/url.js';
import { PRIMARY_BONUS } from './vrrp-conf.js';
import { CONNTRACK_DEFAULTS, DATABASE_DEFAULTS, FLOATING_DEFAULTS, REPLICATION_PASSWORD_ENV } from './config.js';

export interface FloatingAddress {
  address: Ipv4;
  prefix: number;
  interface: string;
  /** What it is, for messages: "the VIP of service web". */
  role: string;
}

/** One VRRP instance: an interface that carries floating addresses, and the peer's address there. */
export interface VrrpLink {
  name: string;
  interface: string;
  virtualRouterId: number;
  peer: Ipv4;
  /** The networks this interface is on (from the networks, VIPs and NAT router given for it). */
  subnets: Cidr[];
  floating: FloatingAddress[];
}

export interface PairDatabase {
  mode: 'managed' | 'external';
  bin: string | undefined;
  dataDir: string;
  port: number;
  osUser: string;
  replicationUser: string;
  replicationPassword: string | undefined;
  auth: 'scram-sha-256' | 'md5' | 'trust';
  synchronous: boolean;
  walKeep: string;
  promoteGuardMs: number;
  bootstrap: boolean;
  /** From store.url: where rackboot connects (a floating address in managed mode). */
  store: { host: string; port: number; user: string; password: string | undefined; database: string } | undefined;
}

export interface ResolvedPair {
  enabled: boolean;
  self: string;
  peerName: string;
  peerAddresses: Ipv4[];
  /** undefined: derived at start (the peer's address on the first blade network, the API's port). */
  peerApiUrl: string | undefined;
  priority: number;
  virtualRouterId: number;
  advertMs: number;
  links: VrrpLink[];
  floating: FloatingAddress[];
  keepalivedCommand: string;
  database: PairDatabase;
  conntrack: { enabled: boolean; interface: string | undefined; peer: Ipv4 | undefined; port: number; command: string };
  startTimeoutMs: number;
  /** How long an image build waits for the peer to hold its version (pair.holdImages). */
  holdImagesMs: number;
  /** Where the pair keeps its files (keepalived.conf, the notify FIFO, conntrackd's). */
  stateDir: string;
}

function storeTarget(url: string | undefined): PairDatabase['store'] {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    if (!u.hostname) return undefined;
    return {
      host: u.hostname,
      port: u.port ? Number(u.port) : 5432,
      user: decodeURIComponent(u.username),
      password: u.password ? decodeURIComponent(u.password) : undefined,
      database: decodeURIComponent(u.pathname.replace(/^\//, '')),
    };
  } catch {
    // A Unix-socket URL (no host) does not parse as a WHATWG URL: not a floating address either.
    return undefined;
  }
}

/** Every address that floats, in a stable order: service addresses, NAT router, VIPs, extra. */
export function floatingAddresses(c: ParsedConfig, issues: ConfigIssue[] = []): FloatingAddress[] {
  const f = { ...FLOATING_DEFAULTS, ...c.config.pair.floating };
  const out: FloatingAddress[] = [];
  const seen = new Map<string, string>();
  const add = (a: FloatingAddress, path: string) => {
    const k = formatIpv4(a.address);
    const was = seen.get(k);
    if (was && was !== a.interface) issues.push({ path, message: `${k} (${a.role}) also floats on interface ${was}` });
    if (was) return;
    seen.set(k, a.interface);
    out.push(a);
  };
  if (f.serviceAddresses) {
    c.networks.forEach((n, i) => {
      // A network reached only through relays has no interface here: nothing floats for it.
      if (n.config.interface) add({ address: n.server, prefix: n.cidr.prefix, interface: n.config.interface, role: `the service address of network ${n.name}` }, `networks[${i}].serverAddress`);
    });
  }
  const d = c.config.director;
  if (d.enabled && f.natRouter && d.natRouter) {
    const nat = parseIfaceAddress(d.natRouter.address);
    if (nat) add({ address: nat.ip, prefix: nat.cidr.prefix, interface: d.natRouter.interface, role: 'the NAT router' }, 'director.natRouter');
  }
  if (d.enabled && f.vips) {
    d.services.forEach((s, i) => {
      const vip = parseIfaceAddress(s.vip);
      if (vip) add({ address: vip.ip, prefix: vip.cidr.prefix, interface: s.interface, role: `the VIP of service ${s.name}` }, `director.services[${i}].vip`);
    });
  }
  f.extra.forEach((x, i) => {
    const a = parseIfaceAddress(x.address);
    if (!a) return void issues.push({ path: `pair.floating.extra[${i}].address`, message: `'${x.address}' is not an address with prefix like 10.0.0.5/24` });
    add({ address: a.ip, prefix: a.cidr.prefix, interface: x.interface, role: `extra floating address ${x.address}` }, `pair.floating.extra[${i}]`);
  });
  return out;
}

export function resolvePair(c: ParsedConfig): { pair: ResolvedPair; issues: ConfigIssue[] } {
  const p = c.config.pair;
  const issues: ConfigIssue[] = [];
  const bad = (path: string, message: string) => issues.push({ path: `pair.${path}`, message });
  const db = { ...DATABASE_DEFAULTS, ...p.database };
  const ct = { ...CONNTRACK_DEFAULTS, ...p.conntrack };
  const peerAddresses: Ipv4[] = [];
  p.peer.addresses.forEach((a, i) => {
    const ip = parseIpv4(a);
    if (ip === undefined) bad(`peer.addresses[${i}]`, `'${a}' is not an IPv4 address`);
    else peerAddresses.push(ip);
  });
  const floating = floatingAddresses(c, issues);
  // Each interface with floating addresses is one VRRP instance; its subnets are those of what lives on it.
  const byIface = new Map<string, { subnets: Cidr[]; floating: FloatingAddress[] }>();
  for (const f of floating) {
    const e = byIface.get(f.interface) ?? { subnets: [], floating: [] };
    e.floating.push(f);
    const net = parseIfaceAddress(`${formatIpv4(f.address)}/${f.prefix}`)!.cidr;
    if (!e.subnets.some((s) => s.network === net.network && s.prefix === net.prefix)) e.subnets.push(net);
    byIface.set(f.interface, e);
  }
  for (const n of c.networks) {
    const e = n.config.interface ? byIface.get(n.config.interface) : undefined;
    if (e && !e.subnets.some((s) => s.network === n.cidr.network && s.prefix === n.cidr.prefix)) e.subnets.push(n.cidr);
  }
  const links: VrrpLink[] = [];
  let k = 0;
  for (const [iface, e] of byIface) {
    const peer = peerAddresses.find((a) => e.subnets.some((s) => cidrContains(s, a)));
    if (p.enabled && peer === undefined) {
      bad('peer.addresses', `has no address on interface ${iface}'s network${e.subnets.length > 1 ? 's' : ''} ${e.subnets.map(formatCidr).join(', ')}: VRRP needs the peer's own address there (${iface} carries ${e.floating.map((f) => f.role).join(', ')})`);
    }
    links.push({ name: `rb_${iface}`.replace(/[^A-Za-z0-9_]/g, '_'), interface: iface, virtualRouterId: p.virtualRouterId + k++, peer: peer ?? 0, subnets: e.subnets, floating: e.floating });
  }
  const advertMs = parseDuration(p.advertInterval);
  const store = storeTarget(c.databaseUrl);
  const ctIface = ct.interface ?? links.find((l) => l.peer === peerAddresses[0])?.interface ?? links[0]?.interface;
  const ctPeer = links.find((l) => l.interface === ctIface)?.peer;
  const pair: ResolvedPair = {
    enabled: p.enabled,
    self: c.serverName,
    peerName: p.peer.name ?? '',
    peerAddresses,
    peerApiUrl: p.peer.apiUrl?.replace(/\/+$/, ''),
    priority: p.priority,
    virtualRouterId: p.virtualRouterId,
    advertMs,
    links,
    floating,
    keepalivedCommand: p.keepalived.command ?? 'keepalived',
    database: {
      mode: db.mode,
      bin: db.bin,
      dataDir: db.dataDir ?? join(c.paths.dataDir, 'pair', 'postgres'),
      port: db.port,
      osUser: db.osUser,
      replicationUser: db.replicationUser,
      replicationPassword: db.replicationPassword || process.env[REPLICATION_PASSWORD_ENV] || undefined,
      auth: db.auth,
      synchronous: db.synchronous,
      walKeep: db.walKeep,
      promoteGuardMs: parseDuration(db.promoteGuard),
      bootstrap: db.bootstrap,
      store,
    },
    conntrack: { enabled: ct.enabled, interface: ctIface, peer: ctPeer, port: ct.port, command: ct.command },
    startTimeoutMs: parseDuration(p.startTimeout),
    holdImagesMs: parseDuration(p.holdImages),
    stateDir: join(c.paths.dataDir, 'pair'),
  };
  if (!p.enabled) return { pair, issues };

  if (c.config.store.driver !== 'postgres') {
    bad('enabled', "needs store.driver postgres: the two nodes share one registry and lease table (with pair.database.mode managed each node runs a replica of it)");
  }
  if (!c.config.api.token) {
    bad('enabled', 'needs api.token (or RACKBOOT_API_TOKEN), the same on both nodes: the nodes call each other with it, and the blades\' report tokens are derived from it');
  }
  if (!p.peer.name) bad('peer.name', "is required: the other node's server.name");
  else if (p.peer.name === c.serverName) bad('peer.name', `'${p.peer.name}' is this node's own server.name; give each node its own`);
  if (!peerAddresses.length && !p.peer.addresses.length) bad('peer.addresses', "is required: the other node's own addresses, one on each network where addresses float");
  if (!floating.length) bad('floating', 'nothing floats: enable the director (VIPs, NAT router) or give networks an interface (service addresses), or pair.floating.extra');
  // keepalived caps the effective priority at 254: the primary's bonus must still lift it above the other node.
  if (p.priority > 254 - PRIMARY_BONUS) bad('priority', `${p.priority} is above ${254 - PRIMARY_BONUS}: the node holding the primary database gets +${PRIMARY_BONUS} (capped at 254), which must lift it above the other node's; use e.g. 150 and 100`);
  if (advertMs < 10 || advertMs > 255_000 || Math.round(advertMs) % 10 !== 0) bad('advertInterval', `${p.advertInterval} is not a VRRPv3 advertisement interval: 10ms to 255s in steps of 10ms`);
  if (p.virtualRouterId + Math.max(links.length, 1) - 1 > 255) bad('virtualRouterId', `${p.virtualRouterId} + ${links.length} instances goes past 255`);
  for (const a of peerAddresses) {
    if (floating.some((f) => f.address === a)) bad('peer.addresses', `${formatIpv4(a)} is a floating address; give the peer's own address`);
  }
  if (db.mode === 'managed') {
    const url = c.config.store.url ? 'store.url' : DATABASE_URL_ENV;
    if (c.config.store.driver === 'postgres' && c.databaseUrl) {
      const host = store ? parseIpv4(store.host) : undefined;
      if (!store || host === undefined || !floating.some((f) => f.address === host)) {
        issues.push({
          path: url,
          message: `with pair.database.mode managed must name a floating address as its host (the database follows the master), e.g. postgres://rackboot@${floating[0] ? formatIpv4(floating[0].address) : '10.0.0.1'}/rackboot`,
        });
      } else if (store.port !== db.port) {
        issues.push({ path: url, message: `port ${store.port} is not pair.database.port ${db.port}` });
      }
    }
  }
  if (ct.enabled) {
    if (!ctIface || ctPeer === undefined) bad('conntrack.interface', `${ct.interface ? `'${ct.interface}' carries no floating address` : 'no link'}: conntrackd talks over an interface where the peer has an address (${links.map((l) => l.interface).join(', ') || 'none'})`);
  }
  return { pair, issues };
}


declare module '../config/loaded.js' {
  interface ResolvedSections {
    pair: ResolvedPair;
  }
}
