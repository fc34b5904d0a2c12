// piranha lvs.cf -> rackboot config (networks + director section), and the
// list of what could not be carried over, each naming the lvs.cf key and line.
// Real servers become `realServers.static` entries (lvs.cf knows addresses,
// not MACs); register them as nodes later to manage them as blades.
import YAML from 'yaml';
import { formatCidr, formatIpv4, maskToPrefix, parseCidr, parseIpv4 } from '../../net/ipv4.js';
import type { BackendName } from '../config.js';
import { BACKEND_SCHEDULERS } from '../model.js';
import { parseLvsCf, type Block, type Entry, type LvsCf } from './parse.js';
import { pairFromLvsCf } from './pair.js';

export interface ImportResult {
  /** A rackboot config fragment: networks (when the NAT network is known) and director. */
  config: Record<string, unknown>;
  /** What was not carried over, one line each. */
  notes: string[];
  /** Parse errors and values that make the file unusable. */
  errors: string[];
}

const FAILOVER_KEYS = ['backup', 'backup_active', 'backup_private', 'heartbeat', 'heartbeat_port', 'keepalive', 'deadtime', 'primary_shared', 'backup_shared'];
const NO_COUNTERPART = ['serial_no', 'debug_level', 'monitor_links', 'syncdaemon', 'syncd_iface', 'syncd_id', 'rsh_command', 'tcp_timeout', 'tcpfin_timeout', 'udp_timeout', 'hard_shutdown'];
const KNOWN_GLOBALS = new Set(['service', 'primary', 'primary_private', 'network', 'nat_router', 'nat_nmask', ...FAILOVER_KEYS, ...NO_COUNTERPART]);
const KNOWN_VIRTUAL = new Set([
  'active', 'address', 'vip_nmask', 'port', 'protocol', 'scheduler', 'persistent', 'pmask', 'send', 'expect', 'use_regex',
  'send_program', 'load_monitor', 'timeout', 'reentry', 'quiesce_server', 'sorry_server', 'fwmark',
]);
const KNOWN_SERVER = new Set(['address', 'active', 'weight', 'port']);

/** Check interval rackboot uses for imported services: piranha's `timeout` (dead after N s) becomes interval x retries. */
const IMPORT_INTERVAL_S = 2;

/** The schema's limits (director.check.retries; Linux's IFNAMSIZ - 1 for interface names). */
const MAX_RETRIES = 100;
const MAX_IFNAME = 15;

const NAME_OK = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

function cleanName(name: string): string {
  const n = name.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return (n || 'unnamed').slice(0, 63);
}

/** "10.0.0.254 eth1:1" -> address and base device (the alias suffix was 2.2's way to add a second address). */
function addressAndDevice(v: string): { ip: string | undefined; dev: string | undefined; alias: boolean } {
  const [ip, dev] = v.trim().split(/\s+/);
  const base = dev?.split(':')[0];
  return { ip: ip && parseIpv4(ip) !== undefined ? ip : undefined, dev: base, alias: !!dev?.includes(':') };
}

function prefixOf(mask: string | undefined, fallback: number): number | undefined {
  if (mask === undefined) return fallback;
  const m = parseIpv4(mask);
  return m === undefined ? undefined : maskToPrefix(m);
}

function num(e: Entry | undefined): number | undefined {
  if (!e) return undefined;
  return /^\d+$/.test(e.value.trim()) ? Number(e.value.trim()) : NaN;
}

export function convertLvsCf(parsed: LvsCf, opts: { backend?: BackendName; source?: string } = {}): ImportResult {
  const backend = opts.backend ?? 'ipvs';
  const notes: string[] = [...parsed.notes];
  const errors = [...parsed.errors];
  const g = parsed.globals;
  const at = (e: Entry) => `line ${e.line}`;
  const note = (e: Entry | Block | undefined, text: string) => notes.push(e ? `line ${e.line}: ${text}` : text);

  const service = g.get('service');
  if (service && service.value !== 'lvs') errors.push(`${at(service)}: service = ${service.value}: only LVS virtual servers can be imported ('fos' failover services have no rackboot counterpart)`);
  for (const f of parsed.failovers) note(f, `failover ${f.name}: failover services (fos) have no rackboot counterpart; not imported`);

  const network = g.get('network');
  if (network && network.value !== 'nat') {
    note(network, `network = ${network.value}: rackboot's director does LVS-NAT only; imported as NAT with masquerade: always, so replies come back through the director whatever the real servers' gateway (they then see the director's address, not the client's)`);
  }
  const none = NO_COUNTERPART.filter((k) => g.has(k));
  if (none.length) note(g.get(none[0]!), `${none.join(', ')}: no rackboot counterpart; ignored`);
  for (const [k, e] of g) if (!KNOWN_GLOBALS.has(k)) note(e, `${k} = ${e.value}: unknown setting; ignored`);

  // The NAT router and, when the director's own inside address is known, the NAT network.
  let natRouter: { interface: string; address: string } | undefined;
  const networks: Record<string, unknown>[] = [];
  const nat = g.get('nat_router');
  if (nat) {
    const { ip, dev } = addressAndDevice(nat.value);
    const prefix = prefixOf(g.get('nat_nmask')?.value, 24);
    if (!ip || !dev) errors.push(`${at(nat)}: nat_router = ${nat.value}: expected 'ADDRESS DEVICE' like '10.0.0.254 eth1:1'`);
    else if (dev.length > MAX_IFNAME) errors.push(`${at(nat)}: nat_router = ${nat.value}: device '${dev}' is longer than Linux's ${MAX_IFNAME} characters`);
    else if (prefix === undefined) errors.push(`line ${g.get('nat_nmask')!.line}: nat_nmask = ${g.get('nat_nmask')!.value} is not a netmask`);
    else {
      natRouter = { interface: dev, address: `${ip}/${prefix}` };
      const cidr = parseCidr(`${ip}/${prefix}`, false)!;
      const priv = g.get('primary_private');
      const privIp = priv ? parseIpv4(priv.value.trim().split(/\s+/)[0]!) : undefined;
      if (privIp !== undefined && ((privIp & cidr.mask) >>> 0) === cidr.network && privIp !== parseIpv4(ip)) {
        networks.push({ name: 'nat', interface: dev, cidr: formatCidr(cidr), serverAddress: formatIpv4(privIp), router: ip });
      } else {
        note(priv ?? nat, `no network written for ${formatCidr(cidr)}: lvs.cf does not give the director's own address in it (primary_private); add a networks entry with router: ${ip} before blades are registered there`);
      }
    }
  } else if (!network || network.value === 'nat') {
    note(undefined, 'no nat_router in the file: masquerade: always set until you give director.natRouter (the address blades use as default gateway)');
  }
  if (g.has('primary')) note(g.get('primary'), `primary = ${g.get('primary')!.value}: the director's own public address; rackboot runs on it (nothing to set)`);

  const services: Record<string, unknown>[] = [];
  const usedNames = new Set<string>();
  const endpoints = new Map<string, string>();
  for (const v of parsed.virtuals) {
    const k = v.keys;
    const label = `virtual ${v.name}`;
    if (k.get('active')?.value === '0') {
      note(v, `${label} is inactive (active = 0): not imported`);
      continue;
    }
    if (k.has('fwmark')) {
      note(k.get('fwmark'), `${label}: firewall-mark services (fwmark) are not supported: not imported`);
      continue;
    }
    for (const [key, e] of k) if (!KNOWN_VIRTUAL.has(key)) note(e, `${label}: ${key} = ${e.value}: unknown setting; ignored`);
    let name = cleanName(v.name);
    if (!NAME_OK.test(v.name)) note(v, `${label}: name changed to '${name}' (rackboot names: letters, digits, _ . -)`);
    while (usedNames.has(name)) name = `${name}_`;
    usedNames.add(name);

    const addr = k.get('address');
    const { ip: vip, dev: vipDev } = addressAndDevice(addr?.value ?? '');
    if (!addr || !vip) {
      errors.push(`line ${addr?.line ?? v.line}: ${label}: address = '${addr?.value ?? ''}': expected 'ADDRESS DEVICE' like '192.168.1.100 eth0:1'`);
      continue;
    }
    const vipPrefix = prefixOf(k.get('vip_nmask')?.value, 32);
    if (vipPrefix === undefined) {
      errors.push(`line ${k.get('vip_nmask')!.line}: ${label}: vip_nmask = ${k.get('vip_nmask')!.value} is not a netmask`);
      continue;
    }
    if (!vipDev) note(addr, `${label}: address gives no device; interface set to eth0, check it`);
    else if (vipDev.length > MAX_IFNAME) {
      errors.push(`line ${addr.line}: ${label}: address = ${addr.value}: device '${vipDev}' is longer than Linux's ${MAX_IFNAME} characters`);
      continue;
    }
    if (natRouter?.address.startsWith(`${vip}/`)) {
      errors.push(`line ${addr.line}: ${label}: address ${vip} is also the nat_router address (line ${nat!.line}): a VIP must be another address`);
      continue;
    }
    const port = num(k.get('port')) ?? 80;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      errors.push(`line ${k.get('port')!.line}: ${label}: port = ${k.get('port')!.value} is not a port number (1-65535)`);
      continue;
    }
    const protocol = (k.get('protocol')?.value ?? 'tcp').toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp') {
      errors.push(`line ${k.get('protocol')!.line}: ${label}: protocol = ${protocol}: expected tcp or udp`);
      continue;
    }
    const endpoint = `${protocol}/${vip}:${port}`;
    const twin = endpoints.get(endpoint);
    if (twin) {
      errors.push(`line ${v.line}: ${label}: ${endpoint} is also ${twin}: one virtual server per address, port and protocol`);
      continue;
    }
    endpoints.set(endpoint, `${label} (line ${v.line})`);
    let scheduler = k.get('scheduler')?.value ?? 'wlc';
    if (!['rr', 'wrr', 'lc', 'wlc', 'sh'].includes(scheduler)) {
      note(k.get('scheduler'), `${label}: scheduler ${scheduler} is not offered by rackboot; wlc used`);
      scheduler = 'wlc';
    }
    if (!(BACKEND_SCHEDULERS[backend] as readonly string[]).includes(scheduler)) {
      note(k.get('scheduler'), `${label}: scheduler ${scheduler} needs connection counts the ${backend} backend does not have; wrr used (import with --backend ipvs or keepalived to keep it)`);
      scheduler = 'wrr';
    }
    const svc: Record<string, unknown> = { name, vip: `${vip}/${vipPrefix}`, interface: vipDev ?? 'eth0', port };
    if (protocol !== 'tcp') svc.protocol = protocol;
    svc.scheduler = scheduler;
    const persistent = num(k.get('persistent'));
    if (persistent !== undefined && Number.isInteger(persistent) && persistent > 0) svc.persistence = `${persistent}s`;
    if (k.has('pmask')) note(k.get('pmask'), `${label}: pmask = ${k.get('pmask')!.value}: persistence granularity is per client address only; ignored`);

    // The nanny's check.
    const check: Record<string, unknown> = {};
    const send = k.get('send')?.value;
    const expect = k.get('expect')?.value;
    const get = send ? /^GET\s+(\S+)\s+HTTP\/1\.[01]/.exec(send) : null;
    if (k.has('send_program')) {
      note(k.get('send_program'), `${label}: send_program (an external check program) is not carried over: a TCP connect check instead`);
      check.type = 'tcp';
    } else if (get) {
      check.path = get[1];
      // piranha matched expect against the raw response; rackboot's text expect does the same.
      check.expect = expect?.length ? expect : 200;
      const host = /\\r\\nHost:\s*([^\\\s]+)/i.exec(send!);
      if (host) check.host = host[1];
    } else if (send || expect) {
      if (protocol === 'udp') {
        note(k.get('send') ?? k.get('expect'), `${label}: a UDP send/expect dialogue is not carried over: no check`);
        check.type = 'none';
      } else {
        note(k.get('send') ?? k.get('expect'), `${label}: send/expect dialogue ${JSON.stringify(send ?? '')} -> ${JSON.stringify(expect ?? '')} is not HTTP: a TCP connect check instead`);
        check.type = 'tcp';
      }
    } else {
      check.type = protocol === 'udp' ? 'none' : 'tcp';
    }
    if (k.get('use_regex')?.value === '1') note(k.get('use_regex'), `${label}: use_regex = 1: expect is matched as plain text, not as a regular expression`);
    const timeout = num(k.get('timeout'));
    if (timeout !== undefined && Number.isInteger(timeout) && timeout > 0) {
      // piranha: "timeout" = seconds without an answer before the server is removed.
      // A long one checks less often rather than exceed rackboot's retries limit.
      const every = Math.max(Math.min(IMPORT_INTERVAL_S, timeout), Math.ceil(timeout / MAX_RETRIES));
      check.interval = `${every}s`;
      check.timeout = `${Math.min(IMPORT_INTERVAL_S, every)}s`;
      check.retries = Math.min(MAX_RETRIES, Math.max(1, Math.round(timeout / every)));
    }
    const reentry = num(k.get('reentry'));
    if (reentry !== undefined && Number.isInteger(reentry)) check.reentry = `${reentry}s`;
    if (check.type === 'none' || check.type === 'tcp') {
      for (const key of ['path', 'expect'] as const) delete check[key];
    }
    svc.check = check;
    if (k.has('load_monitor') && !['none', ''].includes(k.get('load_monitor')!.value)) {
      note(k.get('load_monitor'), `${label}: load_monitor = ${k.get('load_monitor')!.value} (weights from the servers' load) is not carried over; weights stay as given`);
    }
    if (k.get('quiesce_server')?.value === '1') note(k.get('quiesce_server'), `${label}: quiesce_server = 1 (reset connection counts when a server returns) has no counterpart`);
    if (k.has('sorry_server')) note(k.get('sorry_server'), `${label}: sorry_server ${k.get('sorry_server')!.value} is not carried over (an empty pool refuses connections)`);

    const statics: Record<string, unknown>[] = [];
    const usedServer = new Set<string>();
    for (const s of v.servers) {
      const sk = s.keys;
      const slabel = `${label}, server ${s.name}`;
      for (const [key, e] of sk) if (!KNOWN_SERVER.has(key)) note(e, `${slabel}: ${key} = ${e.value}: unknown setting; ignored`);
      if (sk.get('active')?.value === '0') {
        note(s, `${slabel} is inactive (active = 0): not imported`);
        continue;
      }
      const a = sk.get('address');
      const ip = a ? a.value.trim().split(/\s+/)[0]! : '';
      if (!a || parseIpv4(ip) === undefined) {
        errors.push(`line ${a?.line ?? s.line}: ${slabel}: address = '${a?.value ?? ''}' is not an IPv4 address`);
        continue;
      }
      let sname = cleanName(s.name);
      if (!NAME_OK.test(s.name)) note(s, `${slabel}: name changed to '${sname}'`);
      while (usedServer.has(sname)) sname = `${sname}_`;
      usedServer.add(sname);
      const entry: Record<string, unknown> = { name: sname, address: ip };
      const sport = num(sk.get('port'));
      if (sport !== undefined) {
        if (!Number.isInteger(sport) || sport < 1 || sport > 65535) {
          errors.push(`line ${sk.get('port')!.line}: ${slabel}: port = ${sk.get('port')!.value} is not a port number (1-65535)`);
        }
        else if (sport !== port) entry.port = sport;
      }
      const weight = num(sk.get('weight'));
      if (weight !== undefined) {
        if (!Number.isInteger(weight) || weight > 65535) errors.push(`line ${sk.get('weight')!.line}: ${slabel}: weight = ${sk.get('weight')!.value} is not a whole number 0-65535`);
        else if (weight !== 1) entry.weight = weight;
      }
      statics.push(entry);
    }
    if (!statics.length) {
      note(v, `${label} has no active real server: not imported`);
      continue;
    }
    svc.realServers = { port, static: statics };
    services.push(svc);
  }

  // The primary/backup pair: pulse's keys onto the pair section (the same addresses float).
  const floating = [...(natRouter ? [natRouter] : []), ...services.map((x) => ({ address: x.vip as string, interface: x.interface as string }))];
  const pair = pairFromLvsCf(g, floating, note);
  const failover = FAILOVER_KEYS.filter((k) => g.has(k) && !pair?.mapped.includes(k) && !(k === 'backup_active' && g.get(k)!.value === '0') && !(k === 'backup' && g.get(k)!.value === '0.0.0.0'));
  if (failover.length) {
    note(g.get(failover[0]!), `${failover.join(', ')}: the primary/backup pair (pulse heartbeat) is not carried over: this file has no active backup director (backup_active = 1 and a backup address make it a rackboot pair)`);
  }

  const director: Record<string, unknown> = { enabled: true, backend };
  if (natRouter) director.natRouter = natRouter;
  if (!natRouter || (network && network.value !== 'nat')) director.masquerade = 'always';
  director.services = services;
  const config: Record<string, unknown> = { ...pair?.sections };
  if (networks.length) config.networks = networks;
  config.director = director;
  return { config, notes, errors };
}

export function importLvsCf(text: string, opts: { backend?: BackendName; source?: string } = {}): ImportResult {
  return convertLvsCf(parseLvsCf(text), opts);
}

/** The YAML a user gets: a header naming the source and every note, then the config. */
export function importToYaml(r: ImportResult, source: string): string {
  const head = [
    `# Imported from ${source} by \`rackboot import lvs.cf\`.`,
    '# Real servers are static entries (lvs.cf has addresses, not MACs): to manage',
    '# them as blades, register them as nodes in a group and use realServers.group.',
  ];
  if (r.notes.length) head.push('#', '# Not carried over:', ...r.notes.map((n) => `#   - ${n}`));
  return head.join('\n') + '\n' + YAML.stringify(r.config, { lineWidth: 0 });
}
