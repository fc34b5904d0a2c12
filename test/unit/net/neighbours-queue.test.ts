// The ARP-table reader the DHCP server asks before it unicasts, and the
// bounded send queue of its Node path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type dgram from 'node:dgram';
import { completeEntries, NeighbourTable } from '../../../server/net/neighbours.js';
import { BoundedSendQueue } from '../../../server/net/send-queue.js';
import { parseIpv4 } from '../../../server/net/ipv4.js';

const ARP = `IP address       HW type     Flags       HW address            Mask     Device
10.0.0.11        0x1         0x2         52:54:00:00:0a:01     *        eth1
10.0.0.12        0x1         0x0         00:00:00:00:00:00     *        eth1
10.0.0.13        0x1         0x6         52:54:00:00:0a:03     *        eth1
10.0.1.11        0x1         0x2         52:54:00:00:0b:01     *        eth2
`;

test('complete ARP entries only, keyed by device', () => {
  const e = completeEntries(ARP);
  assert.deepEqual([...e].sort(), [`eth1|${parseIpv4('10.0.0.11')}`, `eth1|${parseIpv4('10.0.0.13')}`, `eth2|${parseIpv4('10.0.1.11')}`].sort());
  assert.equal(completeEntries('').size, 0);
  assert.equal(completeEntries('header\ngarbage line\n').size, 0);
});

test('the table is re-read when old, and on a miss at most every missRefreshMs', () => {
  let text = ARP;
  const t = new NeighbourTable({ read: () => text, maxAgeMs: 1000, missRefreshMs: 50 });
  const ip = (s: string) => parseIpv4(s)!;
  assert.equal(t.resolved('eth1', ip('10.0.0.11'), 0), true);
  assert.equal(t.resolved('eth2', ip('10.0.0.11'), 1), false, 'another device');
  assert.equal(t.resolved('eth1', ip('10.0.0.12'), 2), false, 'incomplete');
  assert.equal(t.reads, 1, 'misses within 50 ms of a read cost no read');
  text += '10.0.0.99        0x1         0x2         52:54:00:00:0a:99     *        eth1\n';
  for (let now = 3; now < 1000; now += 5) t.resolved('eth1', ip('10.0.0.50'), now);
  assert.ok(t.reads <= 21, `a flood of misses is read at most every 50 ms: ${t.reads} reads`);
  assert.equal(t.resolved('eth1', ip('10.0.0.99'), 1100), true, 'a new entry is seen');
  const broken = new NeighbourTable({ read: () => { throw new Error('no /proc'); } });
  assert.equal(broken.resolved('eth1', ip('10.0.0.11'), 0), false, 'no table: nothing is known (replies are broadcast)');
});

class SlowSocket extends EventEmitter {
  sent: number[] = [];
  pending: Array<(err: Error | null) => void> = [];
  send(b: Buffer, _port: number, _addr: string, cb: (err: Error | null) => void): void {
    this.sent.push(b.readUInt16BE(0));
    this.pending.push(cb);
  }
  complete(n: number): void {
    for (const cb of this.pending.splice(0, n)) cb(null);
  }
}

test('bounded send queue: a stuck socket keeps at most maxInFlight; the oldest waiting are dropped, then the stale', () => {
  const sock = new SlowSocket();
  let now = 0;
  const failures: number[] = [];
  const q = new BoundedSendQueue(sock as unknown as dgram.Socket, { maxInFlight: 2, maxWaiting: 3, maxAgeMs: 1000, failed: (_e, n) => failures.push(n), now: () => now });
  const d = (i: number) => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(i);
    return b;
  };
  for (let i = 0; i < 10; i++) q.send(d(i), 68, '10.0.0.1');
  assert.deepEqual(sock.sent, [0, 1], 'two handed to the socket');
  assert.equal(q.queued, 3);
  assert.equal(q.dropped, 5, 'waiting 2..6 dropped for the newer 7..9');
  sock.complete(1);
  assert.deepEqual(sock.sent, [0, 1, 7], 'the oldest survivor goes next, in order');
  now = 2000;
  sock.complete(1);
  assert.deepEqual(sock.sent, [0, 1, 7], '8 and 9 waited too long: dropped, not sent');
  assert.equal(q.queued, 0);
  assert.equal(failures.reduce((a, b) => a + b, 0), 7);
  q.send(d(42), 68, '10.0.0.1');
  assert.deepEqual(sock.sent.at(-1), 42, 'the queue is empty and a slot free: sent at once');
});
