// The DHCP fuzz run: random and mutated packets through decode, readRequest,
// the policy and encode. Any exception fails; so does a codec result marked
// internal (the codec's own catch-all), a reply that does not encode, or one
// that breaks the size rules. Deterministic for a seed.
import { resolveConfig } from '../../../server/main/config.js';
import { decode, encode, MIN_REPLY_SIZE } from '../../../server/dhcp/codec.js';
import { LeaseTable } from '../../../server/dhcp/leases.js';
import { decide, policyNetwork, type KnownClient } from '../../../server/dhcp/policy.js';
import { readRequest } from '../../../server/dhcp/request.js';
import { ip, rawRequest, str } from './packets.js';

/** xorshift32: fast and reproducible. */
export function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function seeds(): Buffer[] {
  const mac = [0x52, 0x54, 0, 0, 0x0a, 1];
  const unk = [2, 0, 0, 0, 0, 7];
  const pxe = [60, 32, ...str('PXEClient:Arch:00000:UNDI:002001'), 93, 2, 0, 0, 77, 4, ...str('iPXE'), 175, 3, 1, 1, 1, 97, 17, ...new Array(17).fill(3)];
  const list = [
    rawRequest({ type: 1, mac, options: [55, 8, 1, 3, 6, 12, 15, 66, 67, 209, ...pxe, 57, 2, 5, 220] }),
    rawRequest({ type: 1, mac: unk, options: [61, 7, 1, ...unk, 12, 4, ...str('host')] }),
    rawRequest({ type: 3, mac, options: [54, 4, ...ip('10.0.0.1'), 50, 4, ...ip('10.0.0.11'), 55, 3, 1, 3, 6] }),
    rawRequest({ type: 3, mac: unk, options: [50, 4, ...ip('10.0.0.201')] }),
    rawRequest({ type: 3, mac, ciaddr: ip('10.0.0.11') }),
    rawRequest({ type: 4, mac, options: [54, 4, ...ip('10.0.0.1'), 50, 4, ...ip('10.0.0.11')] }),
    rawRequest({ type: 7, mac, ciaddr: ip('10.0.0.11'), options: [54, 4, ...ip('10.0.0.1')] }),
    rawRequest({ type: 8, mac, ciaddr: ip('10.0.0.11') }),
    rawRequest({ type: 1, mac, giaddr: ip('10.0.0.5'), options: [82, 12, 1, 4, 0, 0, 0, 1, 2, 4, 9, 9, 9, 9, 118, 4, ...ip('10.0.0.0')] }),
    rawRequest({ type: 1, mac, options: [52, 1, 3], file: [60, 3, 97, 98, 99, 255], sname: [12, 2, 104, 105, 255] }),
    rawRequest({ type: 1, mac, options: [93, 2, 0, 16, 60, 10, ...str('HTTPClient'), 43, 255, ...new Array(255).fill(1), 43, 10, ...new Array(10).fill(2)] }),
  ];
  return list;
}

/** One fuzz packet: noise (r & 7 == 0), a valid header with random options (1), or a base packet mutated. */
export function mutated(next: () => number, r: number, base: readonly Buffer[]): Buffer {
  let buf: Buffer;
  const mode = r & 7;
  if (mode === 0) {
    // Pure noise, any length.
    buf = Buffer.allocUnsafe(next() % 700);
    for (let i = 0; i < buf.length; i++) buf[i] = next() & 255;
  } else if (mode === 1) {
    // Valid header and cookie, random option bytes: reaches the option parser every time.
    const s = base[next() % base.length]!;
    const tail = Buffer.allocUnsafe(next() % 400);
    for (let i = 0; i < tail.length; i++) tail[i] = next() & 255;
    buf = Buffer.concat([s.subarray(0, 240), tail]);
  } else {
    // A real packet with a few byte flips, truncation or extension.
    const s = base[next() % base.length]!;
    buf = Buffer.from(s);
    const flips = 1 + (next() % 6);
    for (let k = 0; k < flips; k++) {
      const at = mode & 1 && buf.length > 240 ? 240 + (next() % (buf.length - 240)) : next() % buf.length;
      buf[at] = next() & 255;
    }
    if ((next() & 15) === 0) buf = buf.subarray(0, next() % buf.length);
    if ((next() & 15) === 1) {
      const extra = Buffer.allocUnsafe(next() % 300);
      for (let i = 0; i < extra.length; i++) extra[i] = next() & 255;
      buf = Buffer.concat([buf, extra]);
    }
  }
  return buf;
}

export interface FuzzResult {
  packets: number;
  decoded: number;
  replies: number;
  ms: number;
}

export function fuzz(count: number, seed = 0x5eed): FuzzResult {
  const next = rng(seed);
  const cfg = resolveConfig(
    {
      networks: [
        { name: 'inside', interface: 'eth1', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', router: '10.0.0.254', dns: ['10.0.0.1'], ntp: ['10.0.0.1'], mtu: 1500, staticRange: '10.0.0.10-10.0.0.199', dynamicRange: '10.0.0.200-10.0.0.220' },
      ],
    },
    null,
    {},
  );
  const net = policyNetwork(cfg.networkByName.get('inside')!, 'cluster.local', 3_600_000, [0x0a000001], 'http://10.0.0.1:8080');
  const loaders = ['pxelinux', 'ipxe', 'grub', 'bpbatch'] as const;
  const leases = new LeaseTable();
  const base = seeds();
  let decoded = 0;
  let replies = 0;
  const t0 = Date.now();
  let now = 1_700_000_000_000;
  for (let n = 0; n < count; n++) {
    const r = next();
    const buf = mutated(next, r, base);
    const d = decode(buf);
    if (!d.ok) {
      if (d.error.startsWith('internal')) throw new Error(`decode threw inside on packet ${n} (seed ${seed}): ${d.error}\n${buf.toString('hex')}`);
      continue;
    }
    decoded++;
    const rr = readRequest(d.value);
    if (!rr.ok) continue;
    const req = rr.value;
    const known: KnownClient | undefined =
      (r >>> 8) & 1 ? { node: 'blade1', iface: 'eth0', mac: req.mac, network: 'inside', ip: 0x0a00000b + ((r >>> 9) & 3), loader: loaders[(r >>> 11) & 3]! } : undefined;
    now += next() % 2000;
    const dec = decide({ req, net, known, leases, now, offerMs: 30_000, mayOffer: ((r >>> 13) & 7) !== 0 });
    const c = dec.lease;
    if (c && (c.op === 'offer' || c.op === 'bind')) {
      leases.set({ network: 'inside', ip: c.ip, mac: req.mac, owner: c.owner, clientId: null, hostname: null, state: c.op === 'offer' ? 'offered' : 'bound', expiresAt: c.expiresAt, updatedAt: now });
    } else if (c && (c.op === 'release' || c.op === 'decline')) {
      leases.set({ network: 'inside', ip: c.ip, mac: req.mac, owner: req.mac, clientId: null, hostname: null, state: c.op === 'release' ? 'released' : 'declined', expiresAt: now, updatedAt: now });
    }
    if ((n & 1023) === 0) leases.sweepOffers(now);
    if (dec.reply) {
      const e = encode(dec.reply, dec.fit);
      if (!e.ok) throw new Error(`reply did not encode on packet ${n} (seed ${seed}): ${e.error}\n${buf.toString('hex')}`);
      const max = Math.max(req.maxSize, 548);
      if (e.value.length < MIN_REPLY_SIZE || e.value.length > Math.max(max, MIN_REPLY_SIZE)) {
        throw new Error(`reply of ${e.value.length} bytes outside [300, ${max}] on packet ${n} (seed ${seed})`);
      }
      const back = decode(e.value);
      if (!back.ok) throw new Error(`own reply does not decode on packet ${n} (seed ${seed}): ${back.error}`);
      replies++;
    }
  }
  return { packets: count, decoded, replies, ms: Date.now() - t0 };
}
