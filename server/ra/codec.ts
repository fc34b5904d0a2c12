// IPv6 neighbor discovery messages rackboot reads and writes (RFC 4861):
// the router solicitation a host (iPXE) sends, and the router advertisement
// rackboot answers with. Pure and bounds-checked; the kernel fills in the
// ICMPv6 checksum of what a raw socket sends.

export const ICMP6 = { ROUTER_SOLICITATION: 133, ROUTER_ADVERTISEMENT: 134 } as const;
/** Neighbor discovery messages are accepted only with this hop limit: they never crossed a router (RFC 4861 6.1). */
export const ND_HOP_LIMIT = 255;
const OPT_SOURCE_LLADDR = 1;

export const ALL_NODES = Buffer.from('ff020000000000000000000000000001', 'hex');

export type NdMessage =
  | { kind: 'solicitation'; mac: string | undefined }
  | { kind: 'advertisement'; routerLifetime: number }
  | { kind: 'invalid'; why: string };

function macText(b: Buffer, at: number): string {
  return [...b.subarray(at, at + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The MAC of a source link-layer address option (type 1, 8 bytes on Ethernet), when the options carry one. */
function sourceMac(msg: Buffer, at: number): string | undefined | 'bad' {
  for (let i = at; i < msg.length; ) {
    if (i + 2 > msg.length) return 'bad';
    const len = msg[i + 1]! * 8;
    if (len === 0 || i + len > msg.length) return 'bad';
    if (msg[i] === OPT_SOURCE_LLADDR && len === 8) return macText(msg, i + 2);
    i += len;
  }
  return undefined;
}

/** One received ICMPv6 message and the hop limit it came with. */
export function readNd(msg: Buffer, hopLimit: number): NdMessage {
  if (msg.length < 8) return { kind: 'invalid', why: `${msg.length} bytes is shorter than an ICMPv6 header` };
  if (hopLimit !== ND_HOP_LIMIT) return { kind: 'invalid', why: `hop limit ${hopLimit}, not 255 (it crossed a router)` };
  if (msg[1] !== 0) return { kind: 'invalid', why: `ICMPv6 code ${msg[1]}, not 0` };
  if (msg[0] === ICMP6.ROUTER_SOLICITATION) {
    const mac = sourceMac(msg, 8);
    if (mac === 'bad') return { kind: 'invalid', why: 'malformed options' };
    return { kind: 'solicitation', mac };
  }
  if (msg[0] === ICMP6.ROUTER_ADVERTISEMENT) {
    if (msg.length < 16) return { kind: 'invalid', why: 'router advertisement shorter than 16 bytes' };
    return { kind: 'advertisement', routerLifetime: msg.readUInt16BE(6) };
  }
  return { kind: 'invalid', why: `ICMPv6 type ${msg[0]}` };
}

/**
 * The advertisement rackboot sends: no prefix, router lifetime 0 (not a
 * default router), no managed or other-configuration flag, hop limit,
 * reachable time and retransmission timer unspecified (0), so a host
 * changes nothing; only its wait for a router ends. With the interface's
 * MAC as source link-layer address when known.
 */
export function routerAdvertisement(mac?: string): Buffer {
  const b = Buffer.alloc(mac ? 24 : 16);
  b[0] = ICMP6.ROUTER_ADVERTISEMENT;
  // code 0, checksum (kernel), cur hop limit 0, flags 0, router lifetime 0, reachable 0, retrans 0: all zero.
  if (mac) {
    b[16] = OPT_SOURCE_LLADDR;
    b[17] = 1;
    Buffer.from(mac.replaceAll(':', ''), 'hex').copy(b, 18);
  }
  return b;
}

/** Text of a 16-byte IPv6 address (for logs). */
export function ipv6Text(a: Buffer): string {
  const words = Array.from({ length: 8 }, (_, i) => a.readUInt16BE(i * 2).toString(16));
  return words.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::');
}

/** The MAC inside an EUI-64 link-local address (fe80::5054:ff:fe00:a01 -> 52:54:00:00:0a:01), when it has one. */
export function macOfLinkLocal(a: Buffer): string | undefined {
  if (a.length !== 16 || a[0] !== 0xfe || (a[1]! & 0xc0) !== 0x80 || a[11] !== 0xff || a[12] !== 0xfe) return undefined;
  const m = Buffer.from([a[8]! ^ 0x02, a[9]!, a[10]!, a[13]!, a[14]!, a[15]!]);
  return macText(m, 0);
}
