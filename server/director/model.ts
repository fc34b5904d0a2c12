// The director section resolved into numbers and defaults once: virtual
// services, the NAT router and health-check parameters. Pure; the issues it
// finds become config errors (CONFIG_CHECKS) naming the key path.
import type { ConfigIssue } from '../config/errors.js';
import type { ResolvedNetwork } from '../config/networks.js';
import { parseDuration } from '../config/types.js';
import { cidrContains, formatIpv4, isHostAddress, parseIfaceAddress, parseIpv4, type Cidr, type Ipv4 } from '../net/ipv4.js';
import { CHECK_DEFAULTS, type BackendName, type DirectorConfig, type HealthCheckConfig, type Scheduler } from './config.js';

export interface ResolvedCheck {
  type: 'http' | 'tcp' | 'none';
  path: string;
  host: string | undefined;
  /** undefined: the real server's port. */
  port: number | undefined;
  /** A status code, or text that must appear in the response. */
  expect: number | string;
  timeoutMs: number;
  intervalMs: number;
  retries: number;
  reentryMs: number;
}

export interface StaticServer {
  name: string;
  address: Ipv4;
  port: number | undefined;
  weight: number | undefined;
}

export interface ResolvedService {
  name: string;
  vip: Ipv4;
  vipPrefix: number;
  interface: string;
  port: number;
  protocol: 'tcp' | 'udp';
  scheduler: Scheduler;
  persistenceSec: number | undefined;
  group: string | undefined;
  nodes: string[] | undefined;
  static: StaticServer[];
  /** Explicit real-server network; otherwise the one holding the NAT router address. */
  network: string | undefined;
  rsPort: number;
  weightVar: string;
  check: ResolvedCheck;
}

export interface ResolvedDirector {
  enabled: boolean;
  backend: BackendName;
  natRouter: { interface: string; address: Ipv4; prefix: number; cidr: Cidr } | undefined;
  systemPrep: boolean;
  masquerade: 'auto' | 'always' | 'never';
  keepRulesOnStop: boolean;
  services: ResolvedService[];
}

/** Schedulers each backend can do; lc/wlc need the kernel's connection counts. */
export const BACKEND_SCHEDULERS: Record<BackendName, readonly Scheduler[]> = {
  nftables: ['rr', 'wrr', 'sh'],
  ipvs: ['rr', 'wrr', 'lc', 'wlc', 'sh'],
  keepalived: ['rr', 'wrr', 'lc', 'wlc', 'sh'],
};

export function resolveCheck(base: HealthCheckConfig, own: HealthCheckConfig | undefined, protocol: 'tcp' | 'udp'): ResolvedCheck {
  const c = { ...base, ...(own ?? {}) };
  // A UDP service has no connection to probe: no check unless one is asked for.
  const type = c.type ?? (protocol === 'udp' ? 'none' : CHECK_DEFAULTS.type);
  const intervalMs = parseDuration(c.interval ?? CHECK_DEFAULTS.interval);
  return {
    type,
    path: c.path ?? CHECK_DEFAULTS.path,
    host: c.host,
    port: c.port,
    expect: c.expect ?? CHECK_DEFAULTS.expect,
    // A check never outlives its interval: the next one would overlap it.
    timeoutMs: Math.min(parseDuration(c.timeout ?? CHECK_DEFAULTS.timeout), intervalMs),
    intervalMs,
    retries: c.retries ?? CHECK_DEFAULTS.retries,
    reentryMs: parseDuration(c.reentry ?? CHECK_DEFAULTS.reentry),
  };
}

export function resolveDirector(d: DirectorConfig, networks: readonly ResolvedNetwork[]): { director: ResolvedDirector; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const bad = (path: string, message: string) => issues.push({ path: `director.${path}`, message });
  let natRouter: ResolvedDirector['natRouter'];
  if (d.natRouter) {
    const a = parseIfaceAddress(d.natRouter.address);
    if (!a) bad('natRouter.address', `'${d.natRouter.address}' is not an address with prefix like 10.0.0.254/24`);
    else if (!isHostAddress(a.cidr, a.ip)) bad('natRouter.address', `${d.natRouter.address} is the network or broadcast address of its prefix`);
    else natRouter = { interface: d.natRouter.interface, address: a.ip, prefix: a.cidr.prefix, cidr: a.cidr };
  }
  const names = new Set<string>();
  const endpoints = new Map<string, string>();
  const services: ResolvedService[] = [];
  d.services.forEach((s, i) => {
    const at = `services[${i}]`;
    if (names.has(s.name)) bad(`${at}.name`, `'${s.name}' is listed twice`);
    names.add(s.name);
    const vip = parseIfaceAddress(s.vip);
    if (!vip) return void bad(`${at}.vip`, `'${s.vip}' is not an address with prefix like 192.168.1.100/24`);
    const protocol = s.protocol ?? 'tcp';
    const key = `${protocol}/${formatIpv4(vip.ip)}:${s.port}`;
    if (endpoints.has(key)) bad(`${at}.port`, `${key} is also service '${endpoints.get(key)}'`);
    endpoints.set(key, s.name);
    if (natRouter && vip.ip === natRouter.address) bad(`${at}.vip`, `${formatIpv4(vip.ip)} is the NAT router address`);
    const scheduler = s.scheduler ?? 'wrr';
    if (!BACKEND_SCHEDULERS[d.backend].includes(scheduler)) {
      const can = (Object.keys(BACKEND_SCHEDULERS) as BackendName[]).filter((b) => BACKEND_SCHEDULERS[b].includes(scheduler));
      bad(
        `${at}.scheduler`,
        `'${scheduler}' needs per-server connection counts the ${d.backend} backend does not have; ` +
          `use ${BACKEND_SCHEDULERS[d.backend].join(', ')}, or set director.backend to ${can.join(' or ')}`,
      );
    }
    const rs = s.realServers;
    if (!rs.group && !rs.nodes?.length && !rs.static?.length) {
      bad(`${at}.realServers`, 'names no real servers: give group, nodes or static');
    }
    if (rs.network && !networks.some((n) => n.name === rs.network)) {
      bad(`${at}.realServers.network`, `no network '${rs.network}' (have: ${networks.map((n) => n.name).join(', ') || 'none'})`);
    }
    const statics: StaticServer[] = [];
    (rs.static ?? []).forEach((x, j) => {
      const ip = parseIpv4(x.address);
      if (ip === undefined) return void bad(`${at}.realServers.static[${j}].address`, `'${x.address}' is not an IPv4 address`);
      statics.push({ name: x.name, address: ip, port: x.port, weight: x.weight });
    });
    const check = resolveCheck(d.check, s.check, protocol);
    if (check.type === 'http' && protocol === 'udp') bad(`${at}.check.type`, "an HTTP check needs a TCP service; use type 'none' for UDP");
    services.push({
      name: s.name,
      vip: vip.ip,
      vipPrefix: vip.cidr.prefix,
      interface: s.interface,
      port: s.port,
      protocol,
      scheduler,
      persistenceSec: s.persistence !== undefined ? Math.ceil(parseDuration(s.persistence) / 1000) : undefined,
      group: rs.group,
      nodes: rs.nodes,
      static: statics,
      network: rs.network,
      rsPort: rs.port,
      weightVar: rs.weightVar ?? 'weight',
      check,
    });
  });
  if (d.keepRulesOnStop && d.backend === 'keepalived' && (d.keepalived.mode ?? 'managed') === 'managed') {
    bad(
      'keepRulesOnStop',
      'cannot keep the rules of a managed keepalived: it is rackboot\'s child, stops with it and removes its virtual servers; ' +
        'run keepalived as a system service with director.keepalived.mode: external to keep the pool through a rackboot restart',
    );
  }
  if (d.enabled && services.length && !natRouter && d.masquerade !== 'always') {
    bad('natRouter', "is required: the address on the inside interface that blades use as default gateway (or masquerade: always)");
  }
  return {
    director: {
      enabled: d.enabled,
      backend: d.backend,
      natRouter,
      systemPrep: d.systemPrep,
      masquerade: d.masquerade,
      keepRulesOnStop: d.keepRulesOnStop,
      services,
    },
    issues,
  };
}

declare module '../config/loaded.js' {
  interface ResolvedSections {
    director: ResolvedDirector;
  }
}

/** The network a service's real servers are reached on: explicit, else the one holding the NAT router address. */
export function serviceNetwork(d: ResolvedDirector, s: ResolvedService, networks: readonly ResolvedNetwork[]): ResolvedNetwork | undefined {
  if (s.network) return networks.find((n) => n.name === s.network);
  if (d.natRouter) return networks.find((n) => cidrContains(n.cidr, d.natRouter!.address));
  return undefined;
}
