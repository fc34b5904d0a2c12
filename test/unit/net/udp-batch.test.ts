// The batched UDP path (native/tftp-pump's udp_batch addon) on loopback
// sockets: what arrives, from where, in batches; replies in one sendmmsg;
// oversized datagrams and refused sends reported; nothing read after close.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { test } from 'node:test';
import { BatchedUdp, loadUdpBatch, udpBatchUnavailable } from '../../../server/net/udp-batch.js';
import { parseIpv4 } from '../../../server/net/ipv4.js';

const LOOPBACK = parseIpv4('127.0.0.1')!;

test('the udp_batch addon is built (CI builds it; elsewhere its absence is only reported)', (t) => {
  if (loadUdpBatch()) return;
  if (process.env.CI) assert.fail(`udp_batch did not load in CI: ${udpBatchUnavailable()}`);
  t.skip(`udp_batch not built here (${udpBatchUnavailable()}); DHCP uses Node's dgram`);
});

async function bound(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

const waitFor = async (what: string, ok: () => boolean) => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), `timed out waiting for ${what}`);
};

test('datagrams arrive whole with their source; a burst is read in few batches; replies come back', { skip: !loadUdpBatch() && 'udp_batch not built', timeout: 30_000 }, async () => {
  const server = await bound();
  const port = server.address().port;
  const got: Array<{ msg: Buffer; address: number; port: number }> = [];
  const truncated: number[] = [];
  const failed: Error[] = [];
  const b = new BatchedUdp(server, {
    packet: (msg, address, p) => got.push({ msg, address, port: p }),
    truncated: (_a, p) => truncated.push(p),
    sendFailed: (e) => failed.push(e),
    socketError: (e) => assert.fail(e),
  });
  server.close();
  const client = await bound();
  const cport = client.address().port;
  const replies: Buffer[] = [];
  client.on('message', (m) => replies.push(m));
  try {
    // The duplicate is close-on-exec: a child process (ganesha, keepalived) must not hold the port.
    const inode = readFileSync('/proc/net/udp', 'utf8')
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .find((f) => f[1]?.toUpperCase() === `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`)?.[9];
    assert.ok(inode, 'the socket is in /proc/net/udp');
    const childFds = spawnSync('sh', ['-c', 'for f in /proc/self/fd/*; do readlink "$f"; done'], { encoding: 'utf8' }).stdout;
    assert.ok(!childFds.includes(`socket:[${inode}]`), `a child inherited the socket:\n${childFds}`);
    // 200 datagrams of different sizes, sent before the event loop turns: batches, not 200 calls.
    for (let i = 0; i < 200; i++) client.send(Buffer.alloc(100 + i, i & 0xff), port, '127.0.0.1');
    await waitFor('200 datagrams', () => got.length === 200);
    for (let i = 0; i < 200; i++) {
      assert.equal(got[i]!.msg.length, 100 + i);
      assert.ok(got[i]!.msg.every((x) => x === (i & 0xff)), `datagram ${i} intact`);
      assert.equal(got[i]!.address, LOOPBACK);
      assert.equal(got[i]!.port, cport);
    }
    // Kept datagrams are copies: the next batch does not overwrite them.
    client.send(Buffer.alloc(300, 0xee), port, '127.0.0.1');
    await waitFor('one more', () => got.length === 201);
    assert.ok(got[0]!.msg.every((x) => x === 0));

    // Replies queued in one task leave together (one sendmmsg when the microtasks run).
    for (let i = 0; i < 100; i++) b.send(Buffer.from(`reply ${i}`), cport, LOOPBACK);
    await waitFor('100 replies', () => replies.length === 100);
    assert.deepEqual(
      replies.map((r) => r.toString()),
      Array.from({ length: 100 }, (_, i) => `reply ${i}`),
    );

    // Longer than a receive slot: reported, not delivered cut short.
    client.send(Buffer.alloc(5000), port, '127.0.0.1');
    await waitFor('the truncated report', () => truncated.length === 1);
    assert.equal(truncated[0], cport);
    assert.equal(got.length, 201);

    // A datagram the kernel refuses (port 0) is counted; the others in its batch still go.
    b.send(Buffer.from('lost'), 0, LOOPBACK);
    b.send(Buffer.from('after'), cport, LOOPBACK);
    await waitFor('the reply after the refused one', () => replies.length === 101);
    assert.equal(replies[100]!.toString(), 'after');
    assert.equal(failed.length, 1);
    assert.match(failed[0]!.message, /^1 datagram\(s\) not sent/);

    // Closed: nothing more is read, and sending says so.
    b.close();
    client.send(Buffer.alloc(10), port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(got.length, 201);
    assert.throws(() => b.send(Buffer.from('x'), cport, LOOPBACK), /closed/);
  } finally {
    b.close();
    client.close();
  }
});
