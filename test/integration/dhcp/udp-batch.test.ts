// The batched datagram path against a full send buffer, in a namespace: a
// veth whose queue drains at 2 Mbit/s (tbf) makes sendmmsg() return EAGAIN
// long before 1,000 replies are out. What the socket cannot take waits, in
// order, in a bounded queue (256 datagrams, 2 s): beyond it the OLDEST
// waiting datagrams are dropped and reported, never the newest, so one slow
// stretch cannot delay every later reply without end.
import { strict as assert } from 'node:assert';
import { after, test } from 'node:test';
import { BatchedUdp, loadUdpBatch } from '../../../server/net/udp-batch.js';
import { parseIpv4 } from '../../../server/net/ipv4.js';
import { requireLab } from '../../helpers/env.js';
import { NetLab } from '../../helpers/netns.js';
import { NsSocketBroker } from '../../helpers/ns-sockets.js';
import { waitUntil } from '../../helpers/wait.js';

const lab = new NetLab('rbu');
let broker: NsSocketBroker | undefined;
after(async () => {
  await broker?.close();
  await lab.cleanup();
});

test('a full send buffer (EAGAIN): datagrams wait in a bounded queue; the oldest are dropped and reported, the newest leave', { skip: !loadUdpBatch() && 'udp_batch not built', timeout: 60_000 }, async (t) => {
  if (!requireLab(t, { root: true, commands: ['tc'] })) return;
  const a = lab.addNs('a');
  const b = lab.addNs('b');
  lab.veth({ ns: a, name: 'eth0', addr: '10.9.0.1/24' }, { ns: b, name: 'eth0', addr: '10.9.0.2/24' });
  lab.execSync(a, 'tc', ['qdisc', 'add', 'dev', 'eth0', 'root', 'tbf', 'rate', '2mbit', 'burst', '4kb', 'limit', '2mb']);
  // Resolve the peer first, so the count below is the datagrams only.
  lab.execSync(a, 'ping', ['-c', '1', '-W', '2', '10.9.0.2']);
  broker = await NsSocketBroker.start(lab, a);
  const peerBroker = await NsSocketBroker.start(lab, b);
  const rx = await peerBroker.open({ port: 9999, recvBufferSize: 8 << 20 });
  const got: number[] = [];
  rx.on('message', (m) => got.push(m.readUInt16BE(0)));
  const sock = await broker.open({ interface: 'eth0', port: 40067 });
  let failed = 0;
  const errors: string[] = [];
  const batch = new BatchedUdp(sock, {
    packet: () => undefined,
    truncated: () => undefined,
    sendFailed: (e, n) => ((failed += n), errors.push(e.message)),
    socketError: (e) => errors.push(e.message),
  });
  sock.close();
  try {
    const peer = parseIpv4('10.9.0.2')!;
    for (let i = 0; i < 1000; i++) {
      const d = Buffer.alloc(548, 0);
      d.writeUInt16BE(i, 0);
      batch.send(d, 9999, peer);
    }
    // Until the queue has drained; failures of dropped datagrams are reported with the next send.
    await waitUntil(() => got.includes(999), 20_000, 50);
    batch.send(Buffer.alloc(548), 9999, peer);
    await new Promise((r) => setTimeout(r, 50));
    await waitUntil(() => got.length + failed >= 1001, 5000, 50);
    assert.ok(failed > 0, 'the queue is bounded: some waiting datagrams were dropped');
    assert.ok(got.includes(999), 'the newest datagram of the burst left');
    assert.equal(got.length + failed, 1001, `every datagram left or was reported: ${got.length} + ${failed} (${errors.join('; ')})`);
    // In order, and what is missing is a stretch of old waiting ones, not the newest.
    const burst = got.filter((x, i) => i < got.length - 1 || x !== 0);
    assert.deepEqual(burst, [...burst].sort((x, y) => x - y), 'in order');
    const missing = Array.from({ length: 1000 }, (_, i) => i).filter((i) => !burst.includes(i));
    assert.ok(missing.every((i) => i < 1000 - 256), `only datagrams older than the last 256 were dropped: ${missing.slice(-5).join(',')}`);
  } finally {
    batch.close();
    await peerBroker.close();
  }
});
