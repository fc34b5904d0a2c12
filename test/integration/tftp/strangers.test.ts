// Packets from another address at a transfer's port get ERROR 5 (RFC 1350),
// but only when that address is one TFTP serves: a forged source outside the
// served networks gets nothing reflected. Both data paths: the native pump
// (its `strangers` networks) and the Node one (the server's clientAllowed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encodeAck, encodeRequest } from '../../../server/tftp/codec.js';
import { loadPump, type PumpResult } from '../../../server/tftp/native.js';
import { TftpServer } from '../../../server/tftp/server.js';
import { silentLogger } from '../../../server/log.js';
import { parseIpv4 } from '../../../server/net/ipv4.js';
import { patternFile, RawClient } from '../../helpers/tftp.js';

const LOOP = [parseIpv4('127.0.0.0')!, parseIpv4('255.0.0.0')!];
const OTHER = [parseIpv4('10.0.0.0')!, parseIpv4('255.255.255.0')!];

test('native: ERROR 5 only to strangers in the allowed networks', { skip: !loadPump().pump && 'native data path not built' }, async () => {
  const pump = loadPump().pump!;
  for (const [strangers, answered] of [[LOOP, true], [OTHER, false]] as const) {
    const c = await RawClient.open('127.0.0.1');
    const stranger = await RawClient.open('127.0.0.2');
    let done: (r: PumpResult) => void = () => undefined;
    const ended = new Promise<PumpResult>((r) => (done = r));
    const h = pump.start(
      { local: '127.0.0.1', peer: '127.0.0.1', port: c.port, size: 100, blksize: 512, windowsize: 1, initialRtoMs: 2000, minRtoMs: 50, maxRtoMs: 2000, retries: 3, segments: [{ zero: 100 }], strangers: [...strangers] },
      (r) => done(r),
    );
    try {
      const first = await c.next();
      assert.ok(first);
      stranger.send(encodeAck(1), first.rinfo.port);
      const e = await stranger.next(400);
      if (answered) {
        assert.ok(e, 'ERROR 5 to a stranger in an allowed network');
        const p = decode(e.msg);
        assert.ok(p.ok && p.value.op === 'ERROR' && p.value.code === 5);
      } else {
        assert.equal(e, undefined, 'nothing to a stranger outside them');
      }
      c.send(encodeAck(1), first.rinfo.port);
      const r = await ended;
      assert.equal(r.outcome, 'complete');
      assert.equal(r.unknownTidSent, answered ? 1 : 0);
      assert.equal(r.answered, true);
    } finally {
      pump.abort(h, 'test over', false);
      await c.close();
      await stranger.close();
    }
  }
});

test('node: ERROR 5 only to strangers the server answers', async () => {
  for (const answered of [true, false]) {
    const s = new TftpServer({
      port: 0,
      addresses: ['127.0.0.1'],
      required: ['127.0.0.1'],
      lookup: async () => patternFile(100),
      limits: () => ({ maxBlksize: 1468, maxWindowsize: 16 }),
      maxTransfers: 4,
      initialRtoMs: 2000,
      retries: 3,
      clientRate: 100,
      clientBurst: 100,
      log: silentLogger(),
      clientAllowed: (a) => a === '127.0.0.1' || answered,
    });
    await s.start();
    const c = await RawClient.open('127.0.0.1');
    const stranger = await RawClient.open('127.0.0.2');
    try {
      c.send(encodeRequest('RRQ', 'x', 'octet'), s.bound[0]!.port);
      const first = await c.next();
      assert.ok(first);
      stranger.send(encodeAck(1), first.rinfo.port);
      const e = await stranger.next(400);
      assert.equal(e !== undefined, answered, answered ? 'ERROR 5 to an allowed stranger' : 'nothing to a stranger outside the served networks');
    } finally {
      await c.close();
      await stranger.close();
      await s.stop();
    }
  }
});
