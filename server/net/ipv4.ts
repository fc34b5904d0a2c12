// IPv4 addresses as unsigned 32-bit numbers: cheap to compare, range-check and
// increment, which the allocator and the DHCP policy do on every request.

export type Ipv4 = number;

const DOTTED = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Parse dotted-quad; undefined when malformed (leading zeros rejected: ambiguous octal). */
export function parseIpv4(text: string): Ipv4 | undefined {
  if (typeof text !== 'string' || !DOTTED.test(text)) return undefined;
  const p = text.split('.');
  return ((+p[0]! << 24) >>> 0) + (+p[1]! << 16) + (+p[2]! << 8) + +p[3]!;
}

export function formatIpv4(ip: Ipv4): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

export function isIpv4(text: string): boolean {
  return parseIpv4(text) !== undefined;
}

export interface Cidr {
  network: Ipv4;
  prefix: number;
  mask: Ipv4;
  broadcast: Ipv4;
}

export function prefixToMask(prefix: number): Ipv4 {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function maskToPrefix(mask: Ipv4): number | undefined {
  const inv = ~mask >>> 0;
  if ((inv & (inv + 1)) !== 0) return undefined; // not contiguous
  return 32 - Math.log2(inv + 1);
}

/**
 * Parse "a.b.c.d/n". With strict (the default), host bits must be zero so a
 * typo like 10.0.0.1/24 for a network is reported rather than silently masked.
 */
export function parseCidr(text: string, strict = true): Cidr | undefined {
  if (typeof text !== 'string') return undefined;
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  if (!m) return undefined;
  const ip = parseIpv4(m[1]!);
  const prefix = Number(m[2]);
  if (ip === undefined || prefix > 32) return undefined;
  const mask = prefixToMask(prefix);
  const network = (ip & mask) >>> 0;
  if (strict && network !== ip) return undefined;
  return { network, prefix, mask, broadcast: (network | (~mask >>> 0)) >>> 0 };
}

/** Address with prefix, as used for interface addresses: "10.0.0.254/24". */
export function parseIfaceAddress(text: string): { ip: Ipv4; cidr: Cidr } | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text ?? '');
  if (!m) return undefined;
  const ip = parseIpv4(m[1]!);
  const cidr = parseCidr(text, false);
  if (ip === undefined || !cidr) return undefined;
  return { ip, cidr };
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.network)}/${c.prefix}`;
}

export function cidrContains(c: Cidr, ip: Ipv4): boolean {
  return ((ip & c.mask) >>> 0) === c.network;
}

/** True for an address usable by a host in the network (not network/broadcast, except /31 and /32). */
export function isHostAddress(c: Cidr, ip: Ipv4): boolean {
  if (!cidrContains(c, ip)) return false;
  if (c.prefix >= 31) return true;
  return ip !== c.network && ip !== c.broadcast;
}

export interface Ipv4Range {
  start: Ipv4;
  end: Ipv4;
}

/** "a-b" with a <= b. */
export function parseRange(text: string): Ipv4Range | undefined {
  if (typeof text !== 'string') return undefined;
  const parts = text.split('-').map((s) => s.trim());
  if (parts.length !== 2) return undefined;
  const start = parseIpv4(parts[0]!);
  const end = parseIpv4(parts[1]!);
  if (start === undefined || end === undefined || start > end) return undefined;
  return { start, end };
}

export function formatRange(r: Ipv4Range): string {
  return `${formatIpv4(r.start)}-${formatIpv4(r.end)}`;
}

export function rangeContains(r: Ipv4Range, ip: Ipv4): boolean {
  return ip >= r.start && ip <= r.end;
}

export function rangesOverlap(a: Ipv4Range, b: Ipv4Range): boolean {
  return a.start <= b.end && b.start <= a.end;
}

export function rangeSize(r: Ipv4Range): number {
  return r.end - r.start + 1;
}

/** Upper-case 8-digit hex, the form PXELINUX asks for (C0A80001). */
export function ipv4ToHex(ip: Ipv4): string {
  return ip.toString(16).toUpperCase().padStart(8, '0');
}
