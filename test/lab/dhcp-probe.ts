#!/usr/bin/env node
// DHCP clients that measure how long a network goes unanswered: run in a
// namespace with one interface (`ip netns exec NS node dhcp-probe.js
// SECONDS CLIENTS EVERY_MS MAC_PREFIX`). Each client repeats the 4-way
// exchange (DISCOVER, OFFER, REQUEST, ACK) from its own MAC, one exchange
// every EVERY_MS, retrying every second while unanswered with `secs` the
// seconds since its exchange began, as real clients do (Kea's HA counts a
// client as unanswered by that field). One JSON line per ACK or NAK on
// stdout: {at, mac, ip, server, ms, tries, type}.
// Packets are built byte by byte, not with rackboot's codec.
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';

export interface DhcpProbeRecord {
  /** Epoch ms the answer came. */
  at: number;
  type: 'ack' | 'nak';
  mac: string;
  ip: string;
  server: string;
  /** Since the exchange began (its first DISCOVER). */
  ms: number;
  /** Packets sent for this exchange. */
  tries: number;
}

const DISCOVER = 1;
const OFFER = 2;
const REQUEST = 3;
const ACK = 5;
const NAK = 6;

function packet(type: number, mac: Buffer, xid: number, secs: number, extra: number[] = []): Buffer {
  const b = Buffer.alloc(240);
  b[0] = 1;
  b[1] = 1;
  b[2] = 6;
  b.writeUInt32BE(xid, 4);
  b.writeUInt16BE(Math.min(secs, 65535), 8);
  b.writeUInt16BE(0x8000, 10); // broadcast replies: this client has no address
  mac.copy(b, 28);
  b.writeUInt32BE(0x63825363, 236);
  return Buffer.concat([b, Buffer.from([53, 1, type, 61, 7, 1, ...mac, ...extra, 255])]);
}

function parse(b: Buffer): { xid: number; type: number; yiaddr: string; server: string; mac: string } | undefined {
  if (b.length < 241 || b[0] !== 2 || b.readUInt32BE(236) !== 0x63825363) return undefined;
  let type = 0;
  let server = '';
  for (let i = 240; i < b.length; ) {
    const code = b[i]!;
    if (code === 255) break;
    if (code === 0) {
      i++;
      continue;
    }
    const len = b[i + 1] ?? 0;
    const v = b.subarray(i + 2, i + 2 + len);
    if (code === 53 && len === 1) type = v[0]!;
    if (code === 54 && len === 4) server = [...v].join('.');
    i += 2 + len;
  }
  return { xid: b.readUInt32BE(4), type, yiaddr: [...b.subarray(16, 20)].join('.'), server, mac: [...b.subarray(28, 34)].map((x) => x.toString(16).padStart(2, '0')).join(':') };
}

const ipBytes = (s: string) => s.split('.').map(Number);

async function main(): Promise<void> {
  const [secsArg, clientsArg, everyArg, prefix] = process.argv.slice(2);
  const seconds = Number(secsArg);
  const clients = Number(clientsArg ?? 10);
  const every = Number(everyArg ?? 1000);
  if (!(seconds > 0) || !(clients >= 1 && clients <= 250) || !/^([0-9a-f]{2}:){3}[0-9a-f]{2}$/.test(prefix ?? '')) {
    console.error('usage: dhcp-probe SECONDS CLIENTS(<=250) EVERY_MS MAC_PREFIX(4 bytes, aa:bb:cc:dd)');
    process.exit(2);
  }
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((r) => sock.bind(68, '0.0.0.0', () => r()));
  sock.setBroadcast(true);
  let sendErrors = 0;
  // Without an address, a broadcast needs a route out (ip route add default dev IFACE).
  const send = (b: Buffer) =>
    sock.send(b, 67, '255.255.255.255', (e) => {
      if (e && sendErrors++ === 0) console.error(`dhcp-probe: ${e.message} (a device route for the broadcast: ip route add default dev IFACE)`);
    });
  let stop = false;
  process.on('SIGTERM', () => (stop = true));
  process.on('SIGINT', () => (stop = true));
  const deadline = Date.now() + seconds * 1000;
  type Ex = { mac: Buffer; macText: string; xid: number; began: number; tries: number; requests: number; state: 'discover' | 'request'; offer?: { ip: string; server: string }; next: number };
  const ex: Ex[] = Array.from({ length: clients }, (_, i) => {
    const mac = Buffer.from([...prefix!.split(':').map((h) => parseInt(h, 16)), (i >> 8) & 255, i & 255]);
    // Spread the clients over the period so the network sees a steady stream.
    return { mac, macText: [...mac].map((x) => x.toString(16).padStart(2, '0')).join(':'), xid: 0, began: 0, tries: 0, requests: 0, state: 'discover', next: Date.now() + Math.floor((i * every) / clients) };
  });
  const byXid = new Map<number, Ex>();
  const begin = (e: Ex, at: number) => {
    byXid.delete(e.xid);
    e.xid = randomBytes(4).readUInt32BE(0);
    byXid.set(e.xid, e);
    e.began = at;
    e.tries = 0;
    e.requests = 0;
    e.state = 'discover';
    e.offer = undefined;
    e.next = at;
  };
  const transmit = (e: Ex, now: number) => {
    const secs = Math.floor((now - e.began) / 1000);
    e.tries++;
    if (e.state === 'request') e.requests++;
    if (e.state === 'discover') send(packet(DISCOVER, e.mac, e.xid, secs));
    else send(packet(REQUEST, e.mac, e.xid, secs, [50, 4, ...ipBytes(e.offer!.ip), 54, 4, ...ipBytes(e.offer!.server)]));
    e.next = now + 1000;
  };
  sock.on('message', (msg) => {
    const p = parse(msg);
    if (!p) return;
    const e = byXid.get(p.xid);
    if (!e || p.mac !== e.macText) return;
    const now = Date.now();
    if (p.type === OFFER && e.state === 'discover') {
      e.state = 'request';
      e.offer = { ip: p.yiaddr, server: p.server };
      transmit(e, now);
    } else if ((p.type === ACK || p.type === NAK) && e.state === 'request') {
      const rec: DhcpProbeRecord = { at: now, type: p.type === ACK ? 'ack' : 'nak', mac: e.macText, ip: p.yiaddr, server: p.server, ms: now - e.began, tries: e.tries };
      process.stdout.write(JSON.stringify(rec) + '\n');
      byXid.delete(e.xid);
      e.state = 'discover';
      e.next = Math.max(now, e.began + every);
      e.xid = 0;
    }
  });
  while (!stop && Date.now() < deadline) {
    const now = Date.now();
    for (const e of ex) {
      if (now < e.next) continue;
      // A REQUEST unanswered for 4 s starts over, as a client's would (the server that offered may be gone).
      if (e.xid === 0 || (e.state === 'request' && e.requests >= 4)) begin(e, now);
      transmit(e, now);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  sock.close();
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))) void main();
