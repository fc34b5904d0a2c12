// The server asks a MachineSource who a MAC is and tells it of unknown
// machines that took a lease; it never registers nodes itself. A source
// that is not the registry shows it: its answers are what the server acts
// on, and with dhcp.discovery on nothing appears in the registry.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { decode } from '../../../server/dhcp/codec.js';
import type { MachineSource, UnknownMachine } from '../../../server/dhcp/machines.js';
import { MSG, OPT } from '../../../server/dhcp/options.js';
import type { KnownClient } from '../../../server/dhcp/policy.js';
import { macTextToNumber } from '../../../server/dhcp/request.js';
import { DhcpServer } from '../../../server/dhcp/server.js';
import { formatIpv4 } from '../../../server/net/ipv4.js';
import { startTestServer } from '../../helpers/server.js';
import { fakeOpener } from './fake-socket.js';
import { ip, rawRequest } from './packets.js';

const NETS = [{ name: 'inside', interface: 'eth1', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', staticRange: '10.0.0.10-10.0.0.20', dynamicRange: '10.0.0.200-10.0.0.210' }];

class ListedMachines implements MachineSource {
  readonly asked: number[] = [];
  readonly unknown: UnknownMachine[] = [];
  constructor(private readonly known: Map<number, KnownClient>) {}
  async start(): Promise<void> {}
  stop(): void {}
  lookup(macNum: number): KnownClient | undefined {
    this.asked.push(macNum);
    return this.known.get(macNum);
  }
  unknownLeased(m: UnknownMachine): void {
    this.unknown.push(m);
  }
  async settle(): Promise<void> {}
}

function offered(bytes: Buffer): { type: number | undefined; yiaddr: string } {
  const d = decode(bytes);
  assert.ok(d.ok);
  return { type: d.value.options.get(OPT.MESSAGE_TYPE)?.[0], yiaddr: formatIpv4(d.value.yiaddr) };
}

describe('dhcp machine source', () => {
  it("the server answers from the source's lookups and hands unknown machines to it, registering none itself", async () => {
    const opener = fakeOpener(['eth1']);
    const listed = '52:54:00:00:0c:01';
    const machines = new ListedMachines(new Map([[macTextToNumber(listed), { node: 'c1', iface: 'eth0', mac: listed, network: 'inside', ip: 0x0a00000f, loader: 'ipxe' }]]));
    let dhcp: DhcpServer | undefined;
    const ts = await startTestServer(
      { networks: NETS, dhcp: { enabled: true, io: 'node', discovery: true } },
      {
        factories: [
          (ctx) => {
            const server = new DhcpServer({ ...ctx, opener, machines });
            dhcp = server;
            return { name: 'dhcp', start: () => server.start(), stop: () => server.stop() };
          },
        ],
      },
    );
    try {
      const eth1 = opener.sockets.get('eth1')!;
      // Known to the source only (the registry has no node c1): offered the source's address.
      eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac: [0x52, 0x54, 0, 0, 0x0c, 1] }));
      assert.deepEqual(offered(eth1.sent.at(-1)!.bytes), { type: MSG.OFFER, yiaddr: '10.0.0.15' });
      assert.deepEqual(machines.asked, [macTextToNumber(listed)]);
      // Unknown: a dynamic lease, and the source hears of it once bound.
      const unk = [2, 0, 0, 0, 0x0c, 2];
      eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac: unk }));
      const offer = offered(eth1.sent.at(-1)!.bytes);
      assert.equal(offer.type, MSG.OFFER);
      eth1.deliver(rawRequest({ type: MSG.REQUEST, mac: unk, options: [54, 4, ...ip('10.0.0.1'), 50, 4, ...ip(offer.yiaddr)] }));
      await dhcp!.settle();
      assert.equal(offered(eth1.sent.at(-1)!.bytes).type, MSG.ACK);
      assert.deepEqual(
        machines.unknown.map((m) => ({ mac: m.mac, net: m.net.name, ip: formatIpv4(m.ip) })),
        [{ mac: '02:00:00:00:0c:02', net: 'inside', ip: offer.yiaddr }],
      );
      // dhcp.discovery is on, but registering is the source's business: the registry has no node.
      const nodes = await ts.api<Array<{ name: string }>>('GET', '/api/v1/nodes');
      assert.deepEqual(nodes.body, []);
    } finally {
      await ts.stop();
    }
  });
});
