// The batched datagram path against a full send buffer, in a namespace: a
// veth whose queue drains at 2 Mbit/s (tbf) makes sendmmsg() return EAGAIN
// long before 1,000 replies are out. Every datagram must still leave, in
// order, as through Node's dgram (which queues on EAGAIN); none reported lost.
import { strict as assert } from 'node:assert';
import { after, test } from 'node:test';
import { BatchedUdp, loadUdpBatch } from '../../../server/net/udp-batch.js';
import { parseIpv4 } from '../../../server/net/ipv4.js';
import { requireLab } from '../../helpers/env.js';
import { NetLab } from '../../helpers/netns.js';
import { NsSocketBroker } from '../../helpers/ns-sockets.js';

const lab = new NetLab('rbu');
let broker: NsSocketBroker | undefined;
after(async () => {
  await broker?.close();
  await lab.cleanup();
});

test('a full send buffer (EAGAIN): every datagram still leaves, none reported lost', { skip: !loadUdpBatch() && 'udp_batch not built', timeout: 60_000 }, async (t) => {
  if (!requireLab(t, { root: true, commands: ['tc'] })) return;
  const a = lab.addNs('a');
  const b = lab.addNs('b');
  lab.veth({ ns: a, name: 'eth0', addr: '10.9.0.1/24' }, { ns: b, name: 'eth0', addr: '10.9.0.2/24' });
  lab.execSync(a, 'tc', ['qdisc', 'add', 'dev', 'eth0', 'root', 'tbf', 'rate', '2mbit', 'burst', '4kb', 'limit', '2mb']);
  // Resolve the peer first, so the count below is the datagrams only.
  lab.execSync(a, 'ping', ['-c', '1', '-W', '2', '10.9.0.2']);
  broker = await NsSocketBroker.start(lab, a);
  const sock = await broker.open({ interface: 'eth0', port: 40067 });
  const failed: string[] = [];
  const batch = new BatchedUdp(sock, { packet: () => undefined, truncated: () => undefined, sendFailed: (e) => failed.push(e.message), socketError: (e) => failed.push(e.message) });
  sock.close();
  try {
    // Datagrams that reached the peer (nothing listens there: counted as NoPorts), IPv6 and ARP aside.
    const txPackets = () => {
      const rows = lab.execSync(b, 'cat', ['/proc/net/snmp']).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
      const keys = rows[0]!.split(/\s+/);
      return Number(rows[1]!.split(/\s+/)[keys.indexOf('NoPorts')]);
    };
    const before = txPackets();
    const peer = parseIpv4('10.9.0.2')!;
    for (let i = 0; i < 1000; i++) batch.send(Buffer.alloc(548, i & 0xff), 9999, peer);
    let sent = 0;
    for (let i = 0; i < 150 && sent < 1000; i++) {
      await new Promise((r) => setTimeout(r, 100));
      sent = txPackets() - before;
    }
    assert.deepEqual(failed, []);
    assert.equal(sent, 1000, `${sent} of 1000 datagrams reached the peer`);
  } finally {
    batch.close();
  }
});
