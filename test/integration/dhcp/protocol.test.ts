// Protocol cases no stock client produces on demand, with hand-built packets
// from sockets opened inside the client namespace: INFORM, a REQUEST for
// another server (silence), a relayed DISCOVER with option 82 (echoed to the
// relay), a garbage flood (the server stays up and still answers). And the
// director's outside interface: a client there, broadcasting or unicasting,
// never gets a single packet back (counted by dumpcap on that side).
import { strict as assert } from 'node:assert';
import type dgram from 'node:dgram';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { decode, type DhcpPacket } from '../../../server/dhcp/codec.js';
import { MSG, OPT } from '../../../server/dhcp/options.js';
import { requireLab } from '../../helpers/env.js';
import { NsSocketBroker } from '../../helpers/ns-sockets.js';
import { ip, rawRequest, str } from '../../unit/dhcp/packets.js';
import { eventsOf, INSIDE, startDhcpLab, udhcpc, type DhcpLab } from './setup.js';

const MAC = [0x52, 0x54, 0, 0, 0x0a, 0x01];

/** Replies arriving on a socket, waited for by predicate. */
class Inbox {
  readonly got: Array<{ p: DhcpPacket; from: string }> = [];
  constructor(readonly sock: dgram.Socket) {
    sock.on('message', (m, r) => {
      const d = decode(m);
      if (d.ok) this.got.push({ p: d.value, from: `${r.address}:${r.port}` });
    });
  }
  async wait(pred: (p: DhcpPacket) => boolean, ms = 3000): Promise<{ p: DhcpPacket; from: string } | undefined> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.got.findIndex((g) => pred(g.p));
      if (i >= 0) return this.got.splice(i, 1)[0];
      if (Date.now() > end) return undefined;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  send(buf: Buffer, address: string, port: number): Promise<void> {
    return new Promise((res, rej) => this.sock.send(buf, port, address, (e) => (e ? rej(e) : res())));
  }
}

const typeOf = (p: DhcpPacket) => p.options.get(OPT.MESSAGE_TYPE)?.[0];

describe('dhcp: protocol cases with hand-built packets', () => {
  let L: DhcpLab | undefined;
  let client: NsSocketBroker | undefined;
  after(async () => {
    await client?.close();
    await L?.close();
  });

  it('INFORM gets an ACK with configuration and no address or lease; a REQUEST for another server gets silence', async (t) => {
    if (!requireLab(t, { root: true })) return;
    L = await startDhcpLab(
      {
        networks: [{ ...INSIDE, dynamicRange: '10.0.0.200-10.0.0.210' }, { name: 'racks', cidr: '10.5.0.0/24', serverAddress: '10.0.0.1', router: '10.5.0.1', dynamicRange: '10.5.0.100-10.5.0.110' }],
        dhcp: { enabled: true },
        nodes: [{ name: 'blade1', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0a:01', network: 'inside', ipv4: '10.0.0.11' }] }],
      },
      [{ srv: 'eth1', srvAddr: '10.0.0.1/24', cli: 'eth0', mac: '52:54:00:00:0a:01', cliAddr: '10.0.0.11/24' }],
    );
    client = await NsSocketBroker.start(L.lab, L.cli);
    const c68 = new Inbox(await client.open({ interface: 'eth0', port: 68, broadcast: true }));

    await c68.send(rawRequest({ type: MSG.INFORM, mac: MAC, ciaddr: ip('10.0.0.11'), options: [55, 3, 1, 3, 15] }), '10.0.0.1', 67);
    const ack = await c68.wait((p) => typeOf(p) === MSG.ACK);
    assert.ok(ack, 'no ACK for the INFORM');
    assert.equal(ack.p.yiaddr, 0);
    assert.equal(ack.p.ciaddr, 0x0a00000b);
    assert.ok(!ack.p.options.has(OPT.LEASE_TIME));
    assert.deepEqual([...ack.p.options.get(OPT.ROUTER)!], [10, 0, 0, 254]);
    assert.equal(ack.from, '10.0.0.1:67');

    // SELECTING a different server's offer: no reply at all.
    c68.got.length = 0;
    await c68.send(rawRequest({ type: MSG.REQUEST, mac: MAC, xid: 77, flags: 0x8000, options: [54, 4, ...ip('10.0.0.99'), 50, 4, ...ip('10.0.0.11')] }), '255.255.255.255', 67);
    assert.equal(await c68.wait(() => true, 1500), undefined, 'a REQUEST for another server must get no reply');
    const ev = await eventsOf(L.ts, { node: 'blade1' });
    assert.ok(ev.some((e) => e.kind === 'dhcp.ignored' && /another server/.test(String(e.detail.reason))));
  });

  it('a relayed DISCOVER (giaddr, option 82) for a relay-only network is answered to the relay on port 67 with 82 echoed', async (t) => {
    if (!L || !client) return t.skip('needs the first test');
    // The client namespace plays the relay: its address 10.5.0.1 on the relayed network's side.
    L.lab.execSync(L.cli, 'ip', ['addr', 'add', '10.5.0.1/24', 'dev', 'eth0']);
    L.lab.execSync(L.srv, 'ip', ['route', 'add', '10.5.0.0/24', 'via', '10.0.0.11']);
    const relay = new Inbox(await client.open({ port: 67 }));
    const agent = [1, 6, ...str('port-7'), 2, 4, 0xde, 0xad, 0xbe, 0xef];
    await relay.send(rawRequest({ type: MSG.DISCOVER, mac: [2, 0, 0, 0, 5, 1], giaddr: ip('10.5.0.1'), options: [82, agent.length, ...agent] }), '10.0.0.1', 67);
    const offer = await relay.wait((p) => typeOf(p) === MSG.OFFER);
    assert.ok(offer, 'no OFFER to the relay');
    assert.match(offer.from, /^10\.0\.0\.1:67$/);
    assert.equal(offer.p.giaddr, 0x0a050001);
    assert.equal(offer.p.yiaddr, 0x0a050064); // 10.5.0.100, from the relay-only network's range
    assert.deepEqual([...offer.p.options.get(OPT.RELAY_AGENT)!], agent);
    assert.deepEqual([...offer.p.options.get(OPT.ROUTER)!], [10, 5, 0, 1]);
    // Option 118 overrides giaddr for the network choice.
    await relay.send(rawRequest({ type: MSG.DISCOVER, mac: [2, 0, 0, 0, 5, 2], giaddr: ip('10.5.0.1'), options: [118, 4, ...ip('10.0.0.0')] }), '10.0.0.1', 67);
    const o2 = await relay.wait((p) => typeOf(p) === MSG.OFFER);
    assert.equal(o2?.p.yiaddr, 0x0a0000c8); // 10.0.0.200: inside's dynamic range
    // giaddr in no configured network: ignored.
    await relay.send(rawRequest({ type: MSG.DISCOVER, mac: [2, 0, 0, 0, 5, 3], giaddr: ip('172.16.0.1') }), '10.0.0.1', 67);
    assert.equal(await relay.wait(() => true, 1000), undefined);
  });

  it('20,000 malformed packets: the server logs, counts, stays up and still answers udhcpc', async (t) => {
    if (!L || !client) return t.skip('needs the first test');
    const s = await client.open({ port: 0 });
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 255;
    const base = rawRequest({ type: MSG.DISCOVER, mac: MAC, options: [55, 4, 1, 3, 6, 15, 61, 7, 1, ...MAC] });
    for (let i = 0; i < 20_000; i++) {
      const b = i % 3 === 0 ? Buffer.from(Array.from({ length: rnd() * 2 }, rnd)) : Buffer.from(base);
      if (i % 3 !== 0) for (let k = 0; k < 4; k++) b[240 + (rnd() % (b.length - 240))] = rnd();
      s.send(b, 67, '10.0.0.1');
      if (i % 500 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 500));
    const metrics = await fetch(L.ts.url + '/metrics').then((r) => r.text());
    assert.match(metrics, /rackboot_dhcp_packets_total\{type="invalid",result="malformed"\} \d+/);
    assert.doesNotMatch(metrics, /result="exception"/);
    const r = await udhcpc(L, L.cli, 'eth0');
    assert.equal(r.env?.ip, '10.0.0.11', r.output);
  });
});

describe('dhcp: the outside interface', () => {
  let L: DhcpLab | undefined;
  after(async () => {
    await L?.close();
  });

  it('a client on the outside interface never gets a packet back, while the same client inside does', async (t) => {
    if (!requireLab(t, { root: true, commands: ['udhcpc', 'dumpcap', 'tshark'] })) return;
    L = await startDhcpLab(
      {
        networks: [{ ...INSIDE, dynamicRange: '10.0.0.200-10.0.0.210' }],
        dhcp: { enabled: true },
        nodes: [{ name: 'blade1', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0a:01', network: 'inside', ipv4: '10.0.0.11' }] }],
      },
      [{ srv: 'eth1', srvAddr: '10.0.0.1/24', cli: 'eth0', mac: '52:54:00:00:0a:01' }],
      (lab, srv) => {
        // The director's outside link: an interface of the server that is no network's.
        const out = lab.addNs('out');
        lab.veth({ ns: srv, name: 'eth0', addr: '192.168.1.1/24' }, { ns: out, name: 'eth0', mac: '52:54:00:00:0a:01', addr: '192.168.1.10/24' });
        routeViaDirector(out, lab);
      },
    );
    const out = L.lab.ns('out');
    const capOut = capture(L, out, 'eth0', 'out');
    const capIn = capture(L, L.cli, 'eth0', 'in');
    await Promise.all([capOut.ready, capIn.ready]);

    // Outside: a relayed DISCOVER for the inside network and an INFORM unicast to the inside
    // address through the director, then the blade's own (registered) MAC broadcasting DISCOVERs.
    const broker = await NsSocketBroker.start(L.lab, out);
    try {
      const s = await broker.open({ port: 67 });
      const s68 = await broker.open({ port: 68 });
      const relayed = rawRequest({ type: MSG.DISCOVER, mac: MAC, giaddr: ip('10.0.0.5') });
      const inform = rawRequest({ type: MSG.INFORM, mac: MAC, ciaddr: ip('192.168.1.10') });
      for (let i = 0; i < 20; i++) {
        s.send(relayed, 67, '192.168.1.1');
        s.send(relayed, 67, '10.0.0.1');
        s68.send(inform, 67, '10.0.0.1');
      }
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      await broker.close();
    }
    const bad = await udhcpc(L, out, 'eth0', [], 3);
    assert.equal(bad.env, undefined, 'the outside client must get no lease');
    // Inside: the same MAC gets its lease (the control: the server is answering).
    const good = await udhcpc(L, L.cli, 'eth0');
    assert.equal(good.env?.ip, '10.0.0.11', good.output);

    const [fromServerOut, fromServerIn] = await Promise.all([capOut.stop(), capIn.stop()]);
    assert.equal(fromServerOut, 0, 'no packet from port 67 may leave by the outside interface');
    assert.ok(fromServerIn >= 2, `the inside client should have seen the OFFER and ACK (saw ${fromServerIn})`);
    const metrics = await fetch(L.ts.url + '/metrics').then((r) => r.text());
    // Nothing from the outside even reached rackboot: no socket listens there.
    assert.doesNotMatch(metrics, /result="no-network"/);
  });
});

function routeViaDirector(ns: string, lab: DhcpLab['lab']): void {
  // Packets for the inside network from outside go to the director (as a router would send them).
  lab.execSync(ns, 'ip', ['route', 'add', '10.0.0.0/24', 'via', '192.168.1.1']);
}

/** dumpcap on a namespace's interface: packets from UDP port 67 not sent by the client itself (its MAC is the blade's). */
function capture(L: DhcpLab, ns: string, iface: string, name: string): { ready: Promise<void>; stop: () => Promise<number> } {
  const file = join(L.tmp, `${name}.pcap`);
  const child = L.lab.spawn(ns, 'dumpcap', ['-i', iface, '-f', 'udp src port 67 and not ether src 52:54:00:00:0a:01', '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const ready = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`dumpcap did not start: ${err}`)), 15_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (/Capturing on/.test(err)) (clearTimeout(t), resolve());
    });
    child.once('exit', () => (clearTimeout(t), reject(new Error(`dumpcap exited: ${err}`))));
  });
  return {
    ready,
    async stop() {
      // dumpcap reads the kernel's buffer in batches: give the last packets time to reach the file.
      await new Promise((r) => setTimeout(r, 700));
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
      const r = await L.lab.exec(ns, 'tshark', ['-r', file, '-T', 'fields', '-e', 'frame.number']);
      if (r.code !== 0) throw new Error(`tshark -r ${file}: ${r.stderr}\ndumpcap said: ${err}`);
      return r.stdout.split('\n').filter((l) => l.trim()).length;
    },
  };
}
