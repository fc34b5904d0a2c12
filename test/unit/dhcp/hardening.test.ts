// What no unauthenticated packet stream may do to the DHCP server (issue 16),
// through the server's glue with fake sockets: replies to ciaddr only on the
// asking network and unicast only to resolved addresses, relays only from
// configured sources, a bound on replies to unknown MACs that prefers a MAC
// asking again, and the share of a pool offers may hold.
// (The same attacks against real clients in namespaces: test/integration/attacks.)
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { decode } from '../../../server/dhcp/codec.js';
import type { DhcpServer } from '../../../server/dhcp/server.js';
import { dhcpService } from '../../../server/dhcp/service.js';
import { MSG, OPT } from '../../../server/dhcp/options.js';
import { startTestServer } from '../../helpers/server.js';
import { fakeOpener, type FakeSocket } from './fake-socket.js';
import { ip, rawRequest } from './packets.js';

const NETS = [
  { name: 'inside', interface: 'eth1', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', staticRange: '10.0.0.10-10.0.0.99', dynamicRange: '10.0.0.200-10.0.0.209' },
  { name: 'racks', cidr: '10.5.0.0/24', serverAddress: '10.0.0.1', dynamicRange: '10.5.0.100-10.5.0.110' },
];
const BLADE = [0x52, 0x54, 0, 0, 0x0a, 1];
const dir = mkdtempSync(join(tmpdir(), 'rb-dhcp-hard-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function arpFile(entries: Array<[string, string]>): string {
  const f = join(dir, `arp-${Math.random().toString(36).slice(2)}`);
  const rows = entries.map(([addr, dev]) => `${addr.padEnd(17)}0x1         0x2         52:54:00:00:0a:01     *        ${dev}`);
  writeFileSync(f, ['IP address       HW type     Flags       HW address            Mask     Device', ...rows, ''].join('\n'));
  return f;
}

async function withServer(extra: Record<string, unknown>, fn: (c: { eth1: FakeSocket; dhcp: DhcpServer; metrics: () => Promise<string> }) => Promise<void>, arp: Array<[string, string]> = []): Promise<void> {
  const opener = fakeOpener(['eth1'], arpFile(arp));
  let dhcp: DhcpServer | undefined;
  const ts = await startTestServer(
    { networks: NETS, dhcp: { enabled: true, ...extra }, nodes: [{ name: 'blade1', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0a:01', network: 'inside', ipv4: '10.0.0.11' }] }] },
    { factories: [dhcpService({ opener, onServer: (s) => (dhcp = s) })] },
  );
  try {
    await fn({ eth1: opener.sockets.get('eth1')!, dhcp: dhcp!, metrics: () => fetch(ts.url + '/metrics').then((r) => r.text()) });
  } finally {
    await ts.stop();
  }
}

const inform = (mac: number[], ciaddr: string) => rawRequest({ type: MSG.INFORM, mac, ciaddr: ip(ciaddr) });
const typeOf = (b: Buffer) => {
  const d = decode(b);
  return d.ok ? d.value.options.get(OPT.MESSAGE_TYPE)?.[0] : undefined;
};

describe('dhcp hardening', () => {
  it('INFORM: no reply to a ciaddr off the asking network; broadcast when the address has no ARP entry; unicast when it has', async () => {
    await withServer({}, async ({ eth1, metrics }) => {
      eth1.deliver(inform(BLADE, '213.0.0.0'));
      eth1.deliver(inform(BLADE, '0.146.0.0'));
      eth1.deliver(inform(BLADE, '10.0.1.5'));
      assert.equal(eth1.sent.length, 0, 'nothing sent to an address off network inside');
      assert.match(await metrics(), /rackboot_dhcp_packets_total\{type="inform",result="ciaddr-off-network"\} 3/);
      eth1.deliver(inform(BLADE, '10.0.0.77'));
      assert.deepEqual([eth1.sent.at(-1)?.address, eth1.sent.at(-1)?.port], ['255.255.255.255', 68], 'no ARP entry for 10.0.0.77: broadcast, never a wait for ARP');
      eth1.deliver(inform(BLADE, '10.0.0.11'));
      assert.deepEqual([eth1.sent.at(-1)?.address, eth1.sent.at(-1)?.port], ['10.0.0.11', 68], 'the kernel knows 10.0.0.11 on eth1: unicast');
      assert.equal(typeOf(eth1.sent.at(-1)!.bytes), MSG.ACK);
    }, [['10.0.0.11', 'eth1'], ['10.0.0.77', 'eth9']]);
  });

  it('relayed requests: answered from configured networks and dhcp.relays, dropped (and counted) from anywhere else', async () => {
    const relayed = (mac: number[]) => rawRequest({ type: MSG.DISCOVER, mac, giaddr: ip('10.5.0.1') });
    await withServer({ relays: ['192.168.9.0/24'] }, async ({ eth1, metrics }) => {
      eth1.deliver(relayed([2, 0, 0, 0, 9, 1]), '172.16.0.1');
      assert.equal(eth1.sent.length, 0);
      assert.match(await metrics(), /rackboot_dhcp_packets_total\{type="discover",result="relay-refused"\} 1/);
      eth1.deliver(relayed([2, 0, 0, 0, 9, 2]), '192.168.9.4');
      eth1.deliver(relayed([2, 0, 0, 0, 9, 3]), '10.0.0.254');
      assert.deepEqual(eth1.sent.map((s) => [s.address, s.port, typeOf(s.bytes)]), [
        ['10.5.0.1', 67, MSG.OFFER],
        ['10.5.0.1', 67, MSG.OFFER],
      ]);
    });
  });

  it('unknown MACs get at most unknownReplyRate replies; registered MACs and MACs asking again are served beyond it', async () => {
    await withServer({ unknownReplyRate: 3 }, async ({ eth1, dhcp, metrics }) => {
      for (let i = 0; i < 20; i++) eth1.deliver(inform([2, 0, 0, 0, 7, i], '10.0.0.50'));
      assert.equal(eth1.sent.length, 3, 'three replies to twenty unknown MACs');
      assert.match(await metrics(), /rackboot_dhcp_packets_total\{type="inform",result="unknown-budget"\} 17/);
      // The registered blade is not counted against it.
      eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac: BLADE }));
      assert.equal(typeOf(eth1.sent.at(-1)!.bytes), MSG.OFFER);
      // A new machine whose first DISCOVER went unanswered asks again, and is answered: the flood never asks twice.
      const fresh = [2, 0, 0, 0, 8, 1];
      eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac: fresh }));
      const before = eth1.sent.length;
      eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac: fresh }));
      assert.equal(eth1.sent.length, before + 1);
      assert.equal(typeOf(eth1.sent.at(-1)!.bytes), MSG.OFFER);
      // Its REQUEST finishes an exchange on record: not counted either.
      const offer = decode(eth1.sent.at(-1)!.bytes);
      assert.ok(offer.ok);
      eth1.deliver(rawRequest({ type: MSG.REQUEST, mac: fresh, options: [54, 4, ...ip('10.0.0.1'), 50, 4, ...[...Buffer.alloc(4, 0)].map((_, i) => (offer.value.yiaddr >>> (24 - 8 * i)) & 255)] }));
      await dhcp.settle();
      assert.equal(typeOf(eth1.sent.at(-1)!.bytes), MSG.ACK);
    });
  });

  it('offers hold at most maxOfferShare of a dynamic pool; a MAC asking again gets one beyond it', async () => {
    await withServer({ unknownReplyRate: 1000, maxOfferShare: 0.5 }, async ({ eth1, dhcp }) => {
      for (let i = 0; i < 30; i++) eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac: [2, 0, 0, 1, 0, i] }));
      assert.equal(dhcp.leases.pendingOffersIn('inside'), 5, 'half of the ten addresses');
      assert.equal(eth1.sent.length, 5);
      const late = [2, 0, 0, 1, 1, 1];
      eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac: late }));
      assert.equal(eth1.sent.length, 5, 'a new MAC past the share: no offer');
      eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac: late }));
      assert.equal(eth1.sent.length, 6, 'asking again: offered from the other half');
      assert.equal(dhcp.leases.pendingOffersIn('inside'), 6);
    });
  });
});
