// The DHCP server's glue without a network: sockets from a fake opener, so
// start-up failures, socket roles and reply addressing can be checked quickly.
// (Real sockets and real clients: test/integration/dhcp.)
import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import type dgram from 'node:dgram';
import { describe, it } from 'node:test';
import { decode } from '../../../server/dhcp/codec.js';
import type { DhcpServer } from '../../../server/dhcp/server.js';
import { dhcpServiceFactory } from '../../../server/dhcp/service.js';
import { MSG, OPT } from '../../../server/dhcp/options.js';
import { NoSuchInterfaceError, type UdpOpener, type UdpSocketRequest } from '../../../server/net/udp-device.js';
import { startTestServer } from '../../helpers/server.js';
import { ip, rawRequest } from './packets.js';

interface Sent {
  bytes: Buffer;
  port: number;
  address: string;
}

class FakeSocket extends EventEmitter {
  readonly sent: Sent[] = [];
  constructor(readonly req: UdpSocketRequest) {
    super();
  }
  send(bytes: Buffer, port: number, address: string): void {
    this.sent.push({ bytes, port, address });
  }
  close(cb?: () => void): void {
    cb?.();
  }
  deliver(bytes: Buffer, from = '10.0.0.50'): void {
    this.emit('message', bytes, { address: from, port: 68, family: 'IPv4', size: bytes.length });
  }
}

function fakeOpener(exists: string[]): UdpOpener & { sockets: Map<string, FakeSocket> } {
  const sockets = new Map<string, FakeSocket>();
  return {
    sockets,
    async open(req) {
      if (req.interface && !exists.includes(req.interface)) throw new NoSuchInterfaceError(req.interface);
      const s = new FakeSocket(req);
      sockets.set(req.interface ?? '*', s);
      return s as unknown as dgram.Socket;
    },
  };
}

const NETS = [
  { name: 'inside', interface: 'eth1', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', dynamicRange: '10.0.0.200-10.0.0.210' },
  { name: 'inside2', interface: 'eth2', cidr: '10.0.1.0/24', serverAddress: '10.0.1.1' },
  { name: 'racks', cidr: '10.5.0.0/24', serverAddress: '10.0.0.1', dynamicRange: '10.5.0.100-10.5.0.110' },
];

async function withServer(
  opener: UdpOpener,
  extra: Record<string, unknown>,
  fn: (ctx: { dhcp: DhcpServer; ts: Awaited<ReturnType<typeof startTestServer>> }) => Promise<void>,
): Promise<void> {
  let dhcp: DhcpServer | undefined;
  const ts = await startTestServer({ networks: NETS, dhcp: { enabled: true, ...extra }, nodes: [{ name: 'b1', interfaces: [{ name: 'eth1', mac: '52:54:00:00:0b:01', network: 'inside2', ipv4: '10.0.1.11' }] }] }, { factories: [dhcpServiceFactory({ opener, onServer: (s) => (dhcp = s) })] });
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
      assert.match(h.body.services.dhcp!.detail, /serving eth1; missing interface\(s\): eth2, eth9/);
    });
  });

  it('a bind refused for lack of privilege is one line with the fix, and the server keeps running', async () => {
    const opener: UdpOpener = {
      open: async () => {
        throw Object.assign(new Error('bind EACCES 0.0.0.0:67'), { code: 'EACCES' });
      },
    };
    const ts = await startTestServer({ networks: NETS, dhcp: { enabled: true } }, { factories: [dhcpServiceFactory({ opener })] });
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
      assert.ok(offer.ok && offer.packet.yiaddr === 0x0a050064);
      // A direct (not relayed) broadcast on the relay interface: nothing.
      eth3.deliver(rawRequest({ type: MSG.DISCOVER, mac: [2, 0, 0, 0, 0, 3] }));
      assert.equal(eth3.sent.length, 1);
      // The ACK waits for the lease commit.
      const y = offer.ok ? offer.packet.yiaddr : 0;
      eth3.deliver(rawRequest({ type: MSG.REQUEST, mac: [2, 0, 0, 0, 0, 2], giaddr: ip('10.5.0.1'), options: [54, 4, ...ip('10.0.0.1'), 50, 4, (y >>> 24) & 255, (y >>> 16) & 255, (y >>> 8) & 255, y & 255] }), '10.5.0.1');
      assert.equal(eth3.sent.length, 1, 'the ACK must not leave before its lease is written');
      await dhcp.settle();
      assert.equal(eth3.sent.length, 2);
      const ack = decode(eth3.sent[1]!.bytes);
      assert.ok(ack.ok && ack.packet.options.get(OPT.MESSAGE_TYPE)![0] === MSG.ACK);
    });
  });

  it('a registered MAC asking on another network gets nothing, and its timeline says why', async () => {
    const opener = fakeOpener(['eth1', 'eth2']);
    await withServer(opener, {}, async ({ ts }) => {
      const eth1 = opener.sockets.get('eth1')!;
      eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac: [0x52, 0x54, 0, 0, 0x0b, 1] }));
      assert.equal(eth1.sent.length, 0);
      await ts.server.events.flush();
      const ev = await ts.api<Array<{ kind: string; detail: { reason: string } }>>('GET', '/api/v1/nodes/b1/events');
      assert.match(ev.body[0]!.detail.reason, /registered on network 'inside2', but this request came for 'inside'/);
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
});
