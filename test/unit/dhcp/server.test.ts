// The DHCP server's glue without a network: sockets from a fake opener, so
// start-up failures, socket roles and reply addressing can be checked quickly.
// (Real sockets and real clients: test/integration/dhcp.)
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { decode } from '../../../server/dhcp/codec.js';
import type { DhcpServer } from '../../../server/dhcp/server.js';
import { dhcpService } from '../../../server/dhcp/service.js';
import { MSG, OPT } from '../../../server/dhcp/options.js';
import type { UdpOpener } from '../../../server/net/udp-device.js';
import { startTestServer } from '../../helpers/server.js';
import { fakeOpener } from './fake-socket.js';
import { ip, rawRequest } from './packets.js';

const NETS = [
  { name: 'inside', interface: 'eth1', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', staticRange: '10.0.0.10-10.0.0.10', dynamicRange: '10.0.0.200-10.0.0.210' },
  { name: 'inside2', interface: 'eth2', cidr: '10.0.1.0/24', serverAddress: '10.0.1.1' },
  { name: 'racks', cidr: '10.5.0.0/24', serverAddress: '10.0.0.1', dynamicRange: '10.5.0.100-10.5.0.110' },
  // A dynamic range and no staticRange: a discovered node gets no address.
  { name: 'dyn', interface: 'eth4', cidr: '10.0.4.0/24', serverAddress: '10.0.4.1', dynamicRange: '10.0.4.100-10.0.4.110' },
];

const B1 = [0x52, 0x54, 0, 0, 0x0b, 1];

function typeOf(bytes: Buffer): number | undefined {
  const d = decode(bytes);
  return d.ok ? d.value.options.get(OPT.MESSAGE_TYPE)?.[0] : undefined;
}

/** SELECTING REQUEST for `want` from `mac`, to server 10.0.0.1. */
function selecting(mac: number[], want: string, extra: number[] = []): Buffer {
  return rawRequest({ type: MSG.REQUEST, mac, options: [54, 4, ...ip('10.0.0.1'), 50, 4, ...ip(want), ...extra] });
}

interface LeaseOut {
  network: string;
  ipv4: string;
  mac: string;
  state: string;
}

interface EventOut {
  node: string | null;
  kind: string;
  detail: Record<string, unknown>;
}

async function eventsOf(ts: Awaited<ReturnType<typeof startTestServer>>, q: string): Promise<EventOut[]> {
  await ts.server.events.flush();
  return (await ts.api<EventOut[]>('GET', q)).body;
}

async function withServer(
  opener: UdpOpener,
  extra: Record<string, unknown>,
  fn: (ctx: { dhcp: DhcpServer; ts: Awaited<ReturnType<typeof startTestServer>> }) => Promise<void>,
): Promise<void> {
  let dhcp: DhcpServer | undefined;
  const nodes = [
    { name: 'b1', interfaces: [{ name: 'eth1', mac: '52:54:00:00:0b:01', network: 'inside2', ipv4: '10.0.1.11' }] },
    // Takes the one address of inside's staticRange.
    { name: 'b2', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0a:02', network: 'inside', ipv4: '10.0.0.10' }] },
  ];
  const ts = await startTestServer({ networks: NETS, dhcp: { enabled: true, ...extra }, nodes }, { factories: [dhcpService({ opener, onServer: (s) => (dhcp = s) })] });
  try {
    await fn({ dhcp: dhcp!, ts });
  } finally {
    await ts.stop();
  }
}

describe('dhcp server glue', () => {
  it('a missing interface is skipped with one line; the rest is served; health says which', async () => {
    const opener = fakeOpener(['eth1']);
    await withServer(opener, { relayInterfaces: ['eth9'] }, async ({ ts }) => {
      assert.deepEqual([...opener.sockets.keys()], ['eth1']);
      const h = await ts.api<{ services: Record<string, { ok: boolean; detail: string }> }>('GET', '/healthz');
      assert.match(h.body.services.dhcp!.detail, /serving eth1 \(dgram\); missing interface\(s\): eth2, eth4, eth9/);
    });
  });

  it('a bind refused for lack of privilege is one line with the fix, and the server keeps running', async () => {
    const opener: UdpOpener = {
      open: async () => {
        throw Object.assign(new Error('bind EACCES 0.0.0.0:67'), { code: 'EACCES' });
      },
    };
    const ts = await startTestServer({ networks: NETS, dhcp: { enabled: true } }, { factories: [dhcpService({ opener })] });
    try {
      const line = ts.server.failed.get('dhcp');
      assert.match(line ?? '', /^dhcp: cannot bind UDP port 67: permission denied\. Run as root, or grant the capability/);
      assert.doesNotMatch(line ?? '', /\n/);
      assert.equal((await ts.api('GET', '/api/v1/nodes')).status, 200);
    } finally {
      await ts.stop();
    }
  });

  it('sockets: per network interface with broadcast and the receive buffer; relay interfaces without broadcast', async () => {
    const opener = fakeOpener(['eth1', 'eth2', 'eth3']);
    await withServer(opener, { relayInterfaces: ['eth3'], receiveBuffer: 1 << 20 }, async () => {
      assert.deepEqual(opener.sockets.get('eth1')!.req, { interface: 'eth1', port: 67, broadcast: true, recvBufferSize: 1 << 20 });
      assert.equal(opener.sockets.get('eth3')!.req.broadcast, false);
    });
  });

  it('replies: broadcast on the network interface, to giaddr:67 for relays; a relay interface drops direct requests', async () => {
    const opener = fakeOpener(['eth1', 'eth2', 'eth3']);
    await withServer(opener, { relayInterfaces: ['eth3'] }, async ({ dhcp }) => {
      const eth1 = opener.sockets.get('eth1')!;
      const eth3 = opener.sockets.get('eth3')!;
      eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac: [2, 0, 0, 0, 0, 1] }));
      assert.deepEqual(eth1.sent.map((s) => [s.address, s.port]), [['255.255.255.255', 68]]);
      // Relayed, for the relay-only network, through the relay interface.
      eth3.deliver(rawRequest({ type: MSG.DISCOVER, mac: [2, 0, 0, 0, 0, 2], giaddr: ip('10.5.0.1') }), '10.5.0.1');
      assert.deepEqual(eth3.sent.map((s) => [s.address, s.port]), [['10.5.0.1', 67]]);
      const offer = decode(eth3.sent[0]!.bytes);
      assert.ok(offer.ok && offer.value.yiaddr === 0x0a050064);
      // A direct (not relayed) broadcast on the relay interface: nothing.
      eth3.deliver(rawRequest({ type: MSG.DISCOVER, mac: [2, 0, 0, 0, 0, 3] }));
      assert.equal(eth3.sent.length, 1);
      // The ACK waits for the lease commit.
      const y = offer.ok ? offer.value.yiaddr : 0;
      eth3.deliver(rawRequest({ type: MSG.REQUEST, mac: [2, 0, 0, 0, 0, 2], giaddr: ip('10.5.0.1'), options: [54, 4, ...ip('10.0.0.1'), 50, 4, (y >>> 24) & 255, (y >>> 16) & 255, (y >>> 8) & 255, y & 255] }), '10.5.0.1');
      assert.equal(eth3.sent.length, 1, 'the ACK must not leave before its lease is written');
      await dhcp.settle();
      assert.equal(eth3.sent.length, 2);
      const ack = decode(eth3.sent[1]!.bytes);
      assert.ok(ack.ok && ack.value.options.get(OPT.MESSAGE_TYPE)![0] === MSG.ACK);
    });
  });

  it('a registered MAC on another network: DISCOVER gets nothing, a REQUEST for its address there gets a NAK; its timeline says why', async () => {
    const opener = fakeOpener(['eth1', 'eth2']);
    await withServer(opener, {}, async ({ ts }) => {
      const eth1 = opener.sockets.get('eth1')!;
      eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac: B1 }));
      assert.equal(eth1.sent.length, 0);
      // INIT-REBOOT on the wrong cable: the address it remembers is not on this network.
      eth1.deliver(rawRequest({ type: MSG.REQUEST, mac: B1, xid: 2, options: [50, 4, ...ip('10.0.1.11')] }));
      assert.equal(eth1.sent.length, 1);
      assert.equal(typeOf(eth1.sent[0]!.bytes), MSG.NAK);
      assert.equal(eth1.sent[0]!.address, '255.255.255.255');
      const ev = await eventsOf(ts, '/api/v1/nodes/b1/events');
      const ignored = ev.find((e) => e.kind === 'dhcp.ignored');
      assert.match(String(ignored?.detail.reason), /registered on network 'inside2', but this request came for 'inside'/);
      const nak = ev.find((e) => e.kind === 'dhcp.nak');
      assert.match(String(nak?.detail.reason), /^init-reboot: 10\.0\.1\.11 is not on network 'inside'.*registered on network 'inside2'/);
      const m = await fetch(ts.url + '/metrics').then((r) => r.text());
      assert.match(m, /rackboot_dhcp_packets_total\{type="discover",result="wrong-network"\} 1/);
      assert.match(m, /rackboot_dhcp_packets_total\{type="request",result="nak"\} 1/);
    });
  });

  it('rate limit per MAC: a burst beyond macBurst is dropped and counted', async () => {
    const opener = fakeOpener(['eth1', 'eth2']);
    await withServer(opener, { macRate: 1, macBurst: 5 }, async ({ ts }) => {
      const eth1 = opener.sockets.get('eth1')!;
      for (let i = 0; i < 20; i++) eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac: [2, 0, 0, 0, 0, 9], xid: i }));
      assert.equal(eth1.sent.length, 5);
      const m = await fetch(ts.url + '/metrics').then((r) => r.text());
      assert.match(m, /rackboot_dhcp_packets_total\{type="discover",result="rate-limited"\} 15/);
    });
  });

  it('the bound on pending offers: a flood of new MACs cannot hold more offers than maxPendingOffers', async () => {
    const opener = fakeOpener(['eth1', 'eth2']);
    await withServer(opener, { maxPendingOffers: 3 }, async ({ dhcp }) => {
      const eth1 = opener.sockets.get('eth1')!;
      for (let i = 0; i < 10; i++) eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac: [2, 0, 0, 0, 1, i] }));
      assert.equal(eth1.sent.length, 3);
      assert.equal(dhcp.leases.pendingOffers, 3);
    });
  });

  it('the bound counts dynamic offers only: an offer to a registered client takes no pool address and is not counted', async () => {
    const opener = fakeOpener(['eth1', 'eth2']);
    await withServer(opener, { maxPendingOffers: 1 }, async ({ dhcp }) => {
      opener.sockets.get('eth2')!.deliver(rawRequest({ type: MSG.DISCOVER, mac: B1 }));
      assert.equal(opener.sockets.get('eth2')!.sent.length, 1);
      assert.equal(dhcp.leases.pendingOffers, 0);
      const eth1 = opener.sockets.get('eth1')!;
      eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac: [2, 0, 0, 0, 2, 1] }));
      assert.equal(eth1.sent.length, 1, 'the unknown MAC must still get its offer');
      assert.equal(dhcp.leases.pendingOffers, 1);
    });
  });

  it('a flood of REQUESTs from random MACs without offers binds no more than maxPendingOffers addresses', async () => {
    const opener = fakeOpener(['eth1', 'eth2']);
    await withServer(opener, { maxPendingOffers: 3 }, async ({ dhcp, ts }) => {
      const eth1 = opener.sockets.get('eth1')!;
      for (let i = 0; i < 5; i++) eth1.deliver(selecting([2, 0, 0, 0, 3, i], `10.0.0.${200 + i}`));
      for (let i = 5; i < 10; i++) eth1.deliver(rawRequest({ type: MSG.REQUEST, mac: [2, 0, 0, 0, 4, i], ciaddr: ip(`10.0.0.${200 + i}`) }));
      await dhcp.settle();
      assert.equal(eth1.sent.length, 3);
      assert.ok(eth1.sent.every((x) => typeOf(x.bytes) === MSG.ACK));
      const bound = await ts.api<LeaseOut[]>('GET', '/api/v1/leases?network=inside&state=bound');
      assert.equal(bound.body.length, 3);
    });
  });

  it('stop() sends the last batch of ACKs before it closes the sockets, and nothing throws afterwards', async () => {
    const opener = fakeOpener(['eth1', 'eth2']);
    const rejections: unknown[] = [];
    const onRejection = (r: unknown) => rejections.push(r);
    process.on('unhandledRejection', onRejection);
    try {
      const ts = await startTestServer({ networks: NETS, dhcp: { enabled: true } }, { factories: [dhcpService({ opener })] });
      const eth1 = opener.sockets.get('eth1')!;
      // Delivered and at once stopped: the lease write and its ACK are still queued.
      eth1.deliver(selecting([2, 0, 0, 0, 5, 1], '10.0.0.200'));
      assert.equal(eth1.sent.length, 0);
      await ts.stop();
      assert.equal(eth1.sent.length, 1, 'the ACK of the last batch must leave before the socket closes');
      assert.equal(typeOf(eth1.sent[0]!.bytes), MSG.ACK);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(rejections, []);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });

  it('a send that throws is counted, and later batches are still written and answered', async () => {
    const opener = fakeOpener(['eth1', 'eth2']);
    await withServer(opener, {}, async ({ dhcp, ts }) => {
      const eth1 = opener.sockets.get('eth1')!;
      eth1.throwNext = 1;
      eth1.deliver(selecting([2, 0, 0, 0, 6, 1], '10.0.0.200'));
      await dhcp.settle();
      assert.equal(eth1.sent.length, 0);
      eth1.deliver(selecting([2, 0, 0, 0, 6, 2], '10.0.0.201'));
      await dhcp.settle();
      assert.equal(eth1.sent.length, 1, 'the next batch must still be answered');
      assert.equal(decode(eth1.sent[0]!.bytes).ok && typeOf(eth1.sent[0]!.bytes), MSG.ACK);
      const m = await fetch(ts.url + '/metrics').then((r) => r.text());
      assert.match(m, /rackboot_dhcp_send_errors_total 1/);
      const bound = await ts.api<LeaseOut[]>('GET', '/api/v1/leases?network=inside&state=bound');
      assert.deepEqual(bound.body.map((l) => l.ipv4).sort(), ['10.0.0.200', '10.0.0.201']);
    });
  });

  it('a reply that cannot be encoded leaves no lease behind; options left out for size are on the timeline', async () => {
    const opener = fakeOpener(['eth1', 'eth2']);
    await withServer(opener, {}, async ({ dhcp, ts }) => {
      const eth1 = opener.sockets.get('eth1')!;
      // Option 82 is echoed whole and never dropped: 610 bytes of it (RFC 3396 instances) cannot fit any reply.
      const huge = [82, 255, ...new Array(255).fill(1), 82, 255, ...new Array(255).fill(2), 82, 100, ...new Array(100).fill(3)];
      eth1.deliver(selecting([2, 0, 0, 0, 7, 1], '10.0.0.200', huge));
      await dhcp.settle();
      assert.equal(eth1.sent.length, 0);
      assert.equal(dhcp.leases.get('inside', 0x0a0000c8), undefined, 'no lease for an ACK that was never sent');
      assert.equal((await ts.api<LeaseOut[]>('GET', '/api/v1/leases')).body.length, 0);
      const ev = await eventsOf(ts, '/api/v1/events?mac=02:00:00:00:07:01');
      assert.match(String(ev[0]?.detail.reason), /ack not sent, it cannot be encoded/);
      // 255 bytes of it fit, at the cost of other options: which ones is told.
      const eth2 = opener.sockets.get('eth2')!;
      eth2.deliver(rawRequest({ type: MSG.DISCOVER, mac: B1, options: huge.slice(0, 257) }));
      assert.equal(eth2.sent.length, 1);
      const offer = decode(eth2.sent[0]!.bytes);
      assert.ok(offer.ok && offer.value.options.get(OPT.RELAY_AGENT)!.length === 255);
      const bev = await eventsOf(ts, '/api/v1/nodes/b1/events');
      const dropped = bev.find((e) => e.kind === 'dhcp.offer')?.detail.droppedOptions as number[] | undefined;
      assert.ok(dropped && dropped.length > 0, JSON.stringify(bev));
      for (const code of dropped) assert.ok(offer.ok && !offer.value.options.has(code));
    });
  });

  it('an offer that replaces a bound lease which ran out marks it expired in the store too', async () => {
    const opener = fakeOpener(['eth1', 'eth2']);
    await withServer(opener, {}, async ({ dhcp, ts }) => {
      const eth1 = opener.sockets.get('eth1')!;
      const mac = [2, 0, 0, 0, 8, 1];
      eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac }));
      eth1.deliver(selecting(mac, '10.0.0.200'));
      await dhcp.settle();
      assert.equal((await ts.api<LeaseOut[]>('GET', '/api/v1/leases?network=inside')).body[0]?.state, 'bound');
      // The lease runs out (before the minute's sweep marks it); the client starts over.
      dhcp.leases.get('inside', 0x0a0000c8)!.expiresAt = Date.now() - 1;
      eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac, xid: 9 }));
      assert.equal(dhcp.leases.get('inside', 0x0a0000c8)?.state, 'offered');
      await dhcp.settle();
      const rows = (await ts.api<LeaseOut[]>('GET', '/api/v1/leases?network=inside')).body;
      assert.deepEqual(rows.map((l) => [l.ipv4, l.state]), [['10.0.0.200', 'expired']]);
    });
  });

  it('option 118 from a client on the link picks among that interface\'s networks only, and comes back in the reply', async () => {
    const opener = fakeOpener(['eth1', 'eth2']);
    await withServer(opener, {}, async () => {
      const eth1 = opener.sockets.get('eth1')!;
      // inside2 is served on eth2: a client on eth1 cannot select it.
      eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac: [2, 0, 0, 0, 9, 1], options: [118, 4, ...ip('10.0.1.0')] }));
      assert.equal(eth1.sent.length, 0);
      eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac: [2, 0, 0, 0, 9, 2], options: [118, 4, ...ip('10.0.0.0')] }));
      assert.equal(eth1.sent.length, 1);
      const offer = decode(eth1.sent[0]!.bytes);
      assert.ok(offer.ok);
      if (offer.ok) assert.deepEqual([...offer.value.options.get(OPT.SUBNET_SELECTION)!], ip('10.0.0.0'));
    });
  });

  it('discovery where it cannot succeed is not tried on every bind: no staticRange, or a registration that failed', async () => {
    const opener = fakeOpener(['eth1', 'eth2', 'eth4']);
    await withServer(opener, { discovery: true }, async ({ dhcp, ts }) => {
      // 'dyn' has no staticRange: a discovered node would have no address, so none is registered.
      const eth4 = opener.sockets.get('eth4')!;
      const mac = [2, 0, 0, 0, 0x0a, 1];
      eth4.deliver(rawRequest({ type: MSG.DISCOVER, mac }));
      for (let i = 1; i <= 4; i++) eth4.deliver(rawRequest({ type: MSG.REQUEST, mac, xid: i, options: [54, 4, ...ip('10.0.4.1'), 50, 4, ...ip('10.0.4.100')] }));
      await dhcp.settle();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(eth4.sent.filter((x) => typeOf(x.bytes) === MSG.ACK).length, 4);
      const ev = await eventsOf(ts, '/api/v1/events?mac=02:00:00:00:0a:01');
      assert.deepEqual(ev.filter((e) => e.kind.startsWith('dhcp.discover')), []);
      assert.equal((await ts.api('GET', '/api/v1/nodes/discovered-020000000a01')).status, 404);
      // With discovery on, an unknown PXE client gets a plain lease, no loader: it is registered
      // at its first lease, and the loader's default config would be refused to its dynamic address.
      eth4.deliver(rawRequest({ type: MSG.DISCOVER, mac: [2, 0, 0, 0, 0x0a, 3], options: [60, 32, ...'PXEClient:Arch:00000:UNDI:002001'.split('').map((c) => c.charCodeAt(0))] }));
      await dhcp.settle();
      const pxeOffer = eth4.sent.map((x) => decode(x.bytes)).find((d) => d.ok && d.value.chaddr[5] === 3 && d.value.options.get(OPT.MESSAGE_TYPE)?.[0] === MSG.OFFER);
      assert.ok(pxeOffer?.ok, 'the PXE client got an offer');
      assert.equal(pxeOffer.value.file, '', 'no boot file');
      assert.ok(!pxeOffer.value.options.has(OPT.VENDOR_CLASS));
      // 'inside' has a staticRange of one address, taken: the registration fails once, and is not retried at each renewal.
      const eth1 = opener.sockets.get('eth1')!;
      const m2 = [2, 0, 0, 0, 0x0a, 2];
      for (let i = 1; i <= 4; i++) eth1.deliver(rawRequest({ type: MSG.REQUEST, mac: m2, xid: i, ciaddr: ip('10.0.0.201') }));
      await dhcp.settle();
      let failed = false;
      for (let i = 0; i < 500 && !failed; i++) {
        failed = (await eventsOf(ts, '/api/v1/events?mac=02:00:00:00:0a:02')).some((e) => e.kind === 'dhcp.discovery-failed');
        if (!failed) await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(failed, 'the failed registration is on the timeline');
      for (let i = 5; i <= 8; i++) eth1.deliver(rawRequest({ type: MSG.REQUEST, mac: m2, xid: i, ciaddr: ip('10.0.0.201') }));
      await dhcp.settle();
      let ev2 = await eventsOf(ts, '/api/v1/events?mac=02:00:00:00:0a:02');
      for (let i = 0; i < 500 && ev2.filter((e) => e.kind === 'dhcp.ack').length < 8; i++) {
        await new Promise((r) => setTimeout(r, 10));
        ev2 = await eventsOf(ts, '/api/v1/events?mac=02:00:00:00:0a:02');
      }
      assert.equal(ev2.filter((e) => e.kind === 'dhcp.discovery-failed').length, 1, JSON.stringify(ev2.map((e) => e.kind)));
      assert.equal(ev2.filter((e) => e.kind === 'dhcp.ack').length, 8);
    });
  });
});
