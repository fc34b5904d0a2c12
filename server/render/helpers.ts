// The helpers boot-config templates use: MAC and address forms the loaders
// want, netmask math, kernel command lines, URLs, quoting per config syntax.
// Each helper is a plain function (unit-tested without Handlebars); a helper
// given an undefined required argument throws HelperArgumentError, which the
// engine turns into "file:line: <path> is not defined" like a strict lookup.
import type { HelperDelegate, HelperOptions } from 'handlebars';
import { formatIpv4, ipv4ToHex, maskToPrefix, parseIpv4, prefixToMask } from '../net/ipv4.js';
import { canonicalMac } from '../net/mac.js';

/** A required helper argument was undefined (a missing variable) or unusable. */
export class HelperArgumentError extends Error {
  constructor(
    readonly helper: string,
    /** Zero-based index of the bad argument. */
    readonly index: number,
    readonly reason: 'undefined' | 'invalid',
    message: string,
  ) {
    super(message);
    this.name = 'HelperArgumentError';
  }
}

/** Where a helper call sits in its template (Handlebars passes it as options.loc); the engine sets it. */
export interface HelperLocation {
  line: number;
  column: number;
}

function need<T>(helper: string, index: number, v: T | undefined): T {
  if (v === undefined) throw new HelperArgumentError(helper, index, 'undefined', `${helper}: argument ${index + 1} is not defined`);
  return v;
}

function bad(helper: string, index: number, message: string): never {
  throw new HelperArgumentError(helper, index, 'invalid', `${helper}: ${message}`);
}

function macOf(helper: string, v: unknown): string {
  const m = canonicalMac(String(need(helper, 0, v)));
  if (!m) bad(helper, 0, `'${String(v)}' is not a MAC address`);
  return m;
}

function ipOf(helper: string, index: number, v: unknown): number {
  const ip = parseIpv4(String(need(helper, index, v)));
  if (ip === undefined) bad(helper, index, `'${String(v)}' is not an IPv4 address`);
  return ip;
}

/** A prefix length from 24, "24", "/24", "255.255.255.0" or "10.0.0.0/24". */
function prefixOf(helper: string, index: number, v: unknown): number {
  const s = String(need(helper, index, v)).trim();
  const slash = s.lastIndexOf('/');
  const tail = slash >= 0 ? s.slice(slash + 1) : s;
  if (/^\d{1,2}$/.test(tail) && Number(tail) <= 32) return Number(tail);
  const mask = parseIpv4(tail);
  const p = mask === undefined ? undefined : maskToPrefix(mask);
  if (p === undefined) bad(helper, index, `'${s}' is not a prefix length or netmask`);
  return p;
}

/** 52:54:00:00:0a:01 -> 01-52-54-00-00-0a-01 (PXELINUX and GRUB per-MAC config names). */
export function pxeMac(mac: unknown): string {
  return `01-${macOf('pxemac', mac).replaceAll(':', '-')}`;
}

/** A MAC in canonical form with a chosen separator: ':' (default), '-', '' or '.' (Cisco). */
export function macForm(mac: unknown, sep: unknown = ':'): string {
  const m = macOf('mac', mac);
  const s = typeof sep === 'string' ? sep : ':';
  if (s === '.') return m.replaceAll(':', '').match(/..../g)!.join('.');
  return m.split(':').join(s);
}

/** 192.168.0.11 -> C0A8000B (PXELINUX/GRUB per-address config names). */
export function hexIp(ip: unknown): string {
  return ipv4ToHex(ipOf('hexip', 0, ip));
}

export function netmask(prefixOrCidr: unknown): string {
  return formatIpv4(prefixToMask(prefixOf('netmask', 0, prefixOrCidr)));
}

export function prefixLength(maskOrCidr: unknown): number {
  return prefixOf('prefix', 0, maskOrCidr);
}

/** The network address of an address and prefix: network "10.0.0.11" 24 -> 10.0.0.0. */
export function networkAddress(ip: unknown, prefix: unknown): string {
  const a = ipOf('network', 0, ip);
  return formatIpv4((a & prefixToMask(prefixOf('network', 1, prefix))) >>> 0);
}

export function broadcastAddress(ip: unknown, prefix: unknown): string {
  const a = ipOf('broadcast', 0, ip);
  return formatIpv4((a | ~prefixToMask(prefixOf('broadcast', 1, prefix))) >>> 0);
}

/**
 * One kernel argument: key=value, the value double-quoted when it holds a
 * space (the kernel's own quoting); true gives the bare key; null, undefined,
 * false and '' give nothing (an optional argument left out).
 */
export function kernelArg(key: string, value: unknown): string {
  if (value === undefined || value === null || value === false || value === '') return '';
  if (value === true) return key;
  const v = Array.isArray(value) ? value.join(',') : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (v.includes('"')) bad('karg', 1, `the value of ${key} contains a double quote, which a kernel command line cannot carry`);
  return /[\s]/.test(v) ? `${key}="${v}"` : `${key}=${v}`;
}

/**
 * Join kernel command-line pieces: strings are taken as written (trimmed),
 * objects become key=value arguments, arrays are flattened; empty pieces are
 * skipped so optional parts leave no double spaces.
 */
export function joinCmdline(parts: unknown[]): string {
  const out: string[] = [];
  const add = (p: unknown): void => {
    if (p === undefined || p === null || p === false || p === '') return;
    if (Array.isArray(p)) {
      p.forEach(add);
      return;
    }
    if (typeof p === 'object') {
      for (const [k, v] of Object.entries(p as Record<string, unknown>)) {
        const a = kernelArg(k, v);
        if (a) out.push(a);
      }
      return;
    }
    const s = String(p).replace(/\s+/g, ' ').trim();
    if (s) out.push(s);
  };
  parts.forEach(add);
  return out.join(' ');
}

/** Split a kernel command line into words the way the kernel does (double quotes group). */
export function splitCmdline(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let quoted = false;
  let has = false;
  for (const ch of line) {
    if (ch === '"') {
      quoted = !quoted;
      cur += ch;
      has = true;
    } else if (/\s/.test(ch) && !quoted) {
      if (has) words.push(cur);
      cur = '';
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (has) words.push(cur);
  return words;
}

/** Join URL parts with single slashes; later parts are path segments, each percent-encoded. */
export function joinUrl(base: unknown, parts: unknown[]): string {
  let url = String(need('url', 0, base)).replace(/\/+$/, '');
  parts.forEach((p, i) => {
    need('url', i + 1, p);
    const segs = String(p)
      .split('/')
      .filter((s) => s !== '')
      .map((s) => encodeURIComponent(s));
    if (segs.length) url += '/' + segs.join('/');
  });
  return url;
}

/**
 * A bpbatch string literal's contents: backslash before double quotes and
 * backslashes. A '$' would start a bpbatch variable reference and has no
 * documented escape, so it is refused rather than silently changed.
 */
export function bpbatchQuote(s: string): string {
  if (s.includes('$')) bad('bpbq', 0, `'${s}' contains '$', which bpbatch would read as a variable`);
  if (/[\r\n]/.test(s)) bad('bpbq', 0, 'a bpbatch string cannot span lines');
  return s.replace(/[\\"]/g, (c) => '\\' + c);
}

const GRUB_SAFE = /^[A-Za-z0-9_.,:/=+%@^~-]+$/;

/** One word for a GRUB script: left bare when safe, else single-quoted ('\'' for a quote). */
export function grubWord(w: string): string {
  if (GRUB_SAFE.test(w)) return w;
  return `'${w.replaceAll("'", `'\\''`)}'`;
}

/** A kernel command line as GRUB `linux` arguments: each kernel word quoted for GRUB's parser. */
export function grubCmdline(line: string): string {
  return splitCmdline(line).map(grubWord).join(' ');
}

/** Dotted lookup with a fallback, for optional variables (strict mode throws on a plain {{a.b}}). */
export function getPath(obj: unknown, path: unknown, fallback?: unknown): unknown {
  let cur: unknown = obj;
  for (const k of String(need('get', 1, path)).split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, k)) return fallback;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur === undefined ? fallback : cur;
}

/** Arguments of a helper call without Handlebars' trailing options object. */
function args(a: unknown[]): { params: unknown[]; options: HelperOptions } {
  return { params: a.slice(0, -1), options: a[a.length - 1] as HelperOptions };
}

/** Inline or block: {{bpbq x}} or {{#bpbq}}...{{/bpbq}}. */
function textArg(name: string, a: unknown[], self: unknown): string {
  const { params, options } = args(a);
  if (params.length === 0 && typeof options.fn === 'function') return options.fn(self);
  return String(need(name, 0, params[0]));
}

export const HELPERS: Record<string, HelperDelegate> = {
  pxemac: (mac: unknown) => pxeMac(mac),
  mac: (mac: unknown, ...rest: unknown[]) => macForm(mac, rest.length > 1 ? rest[0] : ':'),
  hexip: (ip: unknown) => hexIp(ip),
  netmask: (p: unknown) => netmask(p),
  prefix: (m: unknown) => prefixLength(m),
  network: (ip: unknown, p: unknown) => networkAddress(ip, p),
  broadcast: (ip: unknown, p: unknown) => broadcastAddress(ip, p),
  karg: (key: unknown, value: unknown) => kernelArg(String(need('karg', 0, key)), value),
  cmdline(this: unknown, ...a: unknown[]) {
    const { params, options } = args(a);
    const inner = typeof options.fn === 'function' ? [options.fn(this)] : [];
    return joinCmdline([...params, ...inner]);
  },
  url: (...a: unknown[]) => {
    const { params } = args(a);
    return joinUrl(params[0], params.slice(1));
  },
  json: (...a: unknown[]) => {
    const { params } = args(a);
    const indent = typeof params[1] === 'number' ? params[1] : undefined;
    return JSON.stringify(params[0] ?? null, null, indent);
  },
  join: (...a: unknown[]) => {
    const { params } = args(a);
    const list = need('join', 0, params[0]);
    const sep = typeof params[1] === 'string' ? params[1] : ' ';
    return (Array.isArray(list) ? list : [list]).filter((x) => x !== undefined && x !== null && x !== '').join(sep);
  },
  default: (...a: unknown[]) => {
    const { params } = args(a);
    return params.find((p) => p !== undefined && p !== null && p !== '') ?? '';
  },
  get: (...a: unknown[]) => {
    const { params } = args(a);
    return getPath(params[0], params[1], params[2]);
  },
  has: (...a: unknown[]) => {
    const { params } = args(a);
    return getPath(params[0], params[1]) !== undefined;
  },
  concat: (...a: unknown[]) =>
    args(a)
      .params.map((p, i) => String(need('concat', i, p)))
      .join(''),
  eq: (x: unknown, y: unknown) => x === y,
  ne: (x: unknown, y: unknown) => x !== y,
  and: (...a: unknown[]) => args(a).params.every(Boolean),
  or: (...a: unknown[]) => args(a).params.some(Boolean),
  not: (x: unknown) => !x,
  upper: (s: unknown) => String(need('upper', 0, s)).toUpperCase(),
  lower: (s: unknown) => String(need('lower', 0, s)).toLowerCase(),
  bpbq(this: unknown, ...a: unknown[]) {
    return bpbatchQuote(textArg('bpbq', a, this));
  },
  grubargs(this: unknown, ...a: unknown[]) {
    return grubCmdline(textArg('grubargs', a, this));
  },
  grubq: (s: unknown) => grubWord(String(need('grubq', 0, s))),
};
