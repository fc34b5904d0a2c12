// The transfer state machine, driven by hand and by a simulated lossy,
// duplicating, reordering network with a fake clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Transfer, wireBlock, type Action, type TransferSettings } from '../../../server/tftp/transfer.js';

const base: TransferSettings = { size: 0, blksize: 512, windowsize: 1, oack: false, initialRtoMs: 1000, minRtoMs: 50, maxRtoMs: 8000, retries: 5 };
const data = (first: number, last: number, retransmit = false): Action => ({ type: 'data', first, last, retransmit });

test('lockstep: DATA 1..n, short last block, complete on the last ACK', () => {
  const t = new Transfer({ ...base, size: 1100 });
  assert.equal(t.blocks, 3);
  assert.deepEqual(t.start(0), [data(1, 1)]);
  assert.deepEqual(t.ack(1, 1), [data(2, 2)]);
  assert.deepEqual(t.ack(2, 2), [data(3, 3)]);
  assert.equal(t.blockLength(3), 76);
  assert.deepEqual(t.ack(3, 3), [{ type: 'finish', outcome: 'complete' }]);
  assert.equal(t.bytesAcked, 1100);
});

test('a size that is a multiple of blksize ends with an empty block; an empty file is one empty block', () => {
  const t = new Transfer({ ...base, size: 1024 });
  assert.equal(t.blocks, 3);
  assert.equal(t.blockLength(3), 0);
  const e = new Transfer({ ...base, size: 0 });
  assert.deepEqual(e.start(0), [data(1, 1)]);
  assert.equal(e.blockLength(1), 0);
  assert.deepEqual(e.ack(1, 1), [{ type: 'finish', outcome: 'complete' }]);
});

test('OACK first, DATA 1 after ACK 0; other ACKs before that are ignored', () => {
  const t = new Transfer({ ...base, size: 10, oack: true });
  assert.deepEqual(t.start(0), [{ type: 'oack', retransmit: false }]);
  assert.deepEqual(t.ack(5, 1), []);
  assert.deepEqual(t.tick(1001), [{ type: 'oack', retransmit: true }]);
  assert.deepEqual(t.ack(0, 1002), [data(1, 1)]);
});

test("Sorcerer's Apprentice: duplicate ACKs send nothing; only the timer resends", () => {
  const t = new Transfer({ ...base, size: 5000 });
  t.start(0);
  assert.deepEqual(t.ack(1, 10), [data(2, 2)]);
  for (let i = 0; i < 5; i++) assert.deepEqual(t.ack(1, 11 + i), [], 'duplicate ACK 1');
  assert.equal(t.duplicateAcks, 5);
  assert.deepEqual(t.ack(0, 20), [], 'an ACK of a block before the window');
  assert.deepEqual(t.ack(7, 20), [], 'an ACK of a block never sent');
  assert.deepEqual(t.tick(t.deadline - 1), []);
  assert.deepEqual(t.tick(t.deadline), [data(2, 2, true)]);
  assert.equal(t.retransmits, 1);
});

test('retransmission backs off and gives up after `retries` timeouts', () => {
  const t = new Transfer({ ...base, size: 5000, retries: 3 });
  t.start(0);
  const gaps: number[] = [];
  let now = 0;
  for (;;) {
    const due = t.deadline;
    gaps.push(due - now);
    now = due;
    const a = t.tick(now);
    if (a[0]?.type === 'finish') {
      assert.deepEqual(a, [{ type: 'finish', outcome: 'timeout' }]);
      break;
    }
  }
  assert.deepEqual(gaps, [1000, 2000, 4000, 8000]);
  assert.equal(t.timeouts, 4);
});

test('RTT is measured (Karn: not from resent windows) and sets the timeout; an RFC 2349 timeout caps it', () => {
  const t = new Transfer({ ...base, size: 100_000 });
  t.start(0);
  let now = 0;
  for (let b = 1; b <= 20; b++) {
    now += 2;
    t.ack(wireBlock(b), now);
  }
  assert.equal(t.rto, 50, 'floored at minRtoMs');
  const f = new Transfer({ ...base, size: 100_000, clientTimeoutMs: 3000, initialRtoMs: 5000 });
  assert.equal(f.rto, 3000, 'never longer than the client asked');
  f.start(0);
  f.tick(f.deadline);
  assert.equal(f.rto, 3000, 'backoff stops at the client timeout');
  f.ack(1, 3002); // a resent window: no sample
  assert.equal(f.rto, 3000);
  f.ack(2, 3004);
  assert.equal(f.rto, 50, 'then follows the round trip');
});

test('windowsize: whole windows, a partial ACK restarts after the acknowledged block', () => {
  const t = new Transfer({ ...base, size: 512 * 10, windowsize: 4 });
  assert.equal(t.blocks, 11);
  assert.deepEqual(t.start(0), [data(1, 4)]);
  assert.deepEqual(t.ack(4, 1), [data(5, 8)]);
  assert.deepEqual(t.ack(6, 2), [data(7, 10, true)], 'client lost 7');
  assert.equal(t.retransmits, 2);
  assert.deepEqual(t.ack(6, 3), [], 'duplicate of the partial ACK');
  assert.deepEqual(t.ack(10, 4), [data(11, 11)]);
  assert.deepEqual(t.tick(t.deadline), [data(11, 11, true)]);
  assert.deepEqual(t.ack(11, 5000), [{ type: 'finish', outcome: 'complete' }]);
});

test('block numbers roll over to 0 past 65535 and ACKs map back to absolute blocks', () => {
  const blocks = 200_000;
  const t = new Transfer({ ...base, size: 512 * (blocks - 1) + 1, windowsize: 7 });
  let a = t.start(0);
  let now = 0;
  let seen = 0;
  while (a[0]?.type === 'data') {
    const { last } = a[0];
    seen = last;
    a = t.ack(wireBlock(last), ++now);
  }
  assert.deepEqual(a, [{ type: 'finish', outcome: 'complete' }]);
  assert.equal(seen, blocks);
  assert.equal(wireBlock(65536), 0);
  assert.equal(t.retransmits, 0);
});

/** A deterministic pseudo-random source (tests must be repeatable). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

for (const reorder of [false, true]) {
test(`fuzz: a lossy, duplicating${reorder ? ', reordering' : ''} network; every transfer completes in order, sends are bounded`, () => {
  for (let seed = 1; seed <= 60; seed++) {
    const r = rng(seed);
    const windowsize = [1, 2, 4, 16][seed % 4]!;
    const size = Math.floor(r() * 300) * 64 + Math.floor(r() * 64);
    const t = new Transfer({ ...base, size, blksize: 64, windowsize, oack: seed % 3 === 0, retries: 1000 });
    // In flight: [arrival time, to client?, block/ack]
    type Msg = { at: number; toClient: boolean; block: number; oack?: boolean };
    let flight: Msg[] = [];
    let now = 0;
    let expected = 1; // client: next block it wants
    let delivered = 0;
    let sent = 0;
    let lost = 0; // lost or duplicated packets: each may cost one window
    let clientDone = false;
    // A steady delay (FIFO), or one packet in 20 late enough to arrive out of order.
    let last = 0;
    const delay = () => (reorder ? 5 + (r() < 0.05 ? r() * 20 : r() * 0.5) : Math.max(5, last - now + 0.01));
    const stamp = (at: number) => ((last = at), at);
    const send = (actions: readonly Action[]) => {
      for (const a of actions) {
        if (a.type === 'finish') continue;
        const blocks = a.type === 'oack' ? [0] : Array.from({ length: a.last - a.first + 1 }, (_, i) => a.first + i);
        for (const b of blocks) {
          sent++;
          if (r() < 0.1) {
            lost++;
            continue;
          }
          const copies = r() < 0.05 ? 2 : 1; // duplicated
          if (copies === 2) lost++;
          for (let c = 0; c < copies; c++) flight.push({ at: stamp(now + delay()), toClient: true, block: b, oack: a.type === 'oack' });
        }
      }
    };
    const ack = (b: number) => {
      if (r() < 0.1) return void lost++;
      const copies = r() < 0.05 ? 2 : 1;
      if (copies === 2) lost++;
      for (let c = 0; c < copies; c++) flight.push({ at: now + 5, toClient: false, block: wireBlock(b) });
    };
    send(t.start(now));
    let sinceAck = 0;
    for (let steps = 0; t.phase !== 'done' && steps < 2_000_000; steps++) {
      flight.sort((x, y) => x.at - y.at);
      const next = flight[0];
      if (!next || next.at > t.deadline) {
        now = t.deadline;
        send(t.tick(now));
        continue;
      }
      flight = flight.slice(1);
      now = next.at;
      if (next.toClient) {
        if (next.oack) {
          if (expected === 1) ack(0);
          continue;
        }
        if (next.block === expected) {
          delivered += t.blockLength(next.block);
          expected++;
          sinceAck++;
          if (expected > t.blocks) clientDone = true;
          // RFC 7440 client: ACK at the end of a window or the last block.
          if (sinceAck === windowsize || expected > t.blocks) {
            ack(expected - 1);
            sinceAck = 0;
          }
        } else {
          // Out of order or duplicate: ACK what we have (RFC 7440 says so for a gap).
          ack(expected - 1);
          sinceAck = 0;
        }
      } else {
        send(t.ack(next.block, now));
      }
    }
    assert.ok(clientDone, `seed ${seed}: client got everything`);
    assert.equal(delivered, size, `seed ${seed}`);
    assert.ok(t.phase === 'done' || t.base > t.blocks - windowsize, `seed ${seed}: server finished or is waiting for the last ACK`);
    // Bounded: nothing like the exponential blow-up of the Sorcerer's Apprentice. In order,
    // a loss costs a window; reordered, each ACK that advances can restart a window (RFC 7440 go-back).
    const bound = reorder ? t.blocks * (windowsize + 1) : t.blocks + 1 + (lost + 1) * windowsize;
    assert.ok(sent <= bound, `seed ${seed}: ${sent} sends for ${t.blocks} blocks, windowsize ${windowsize}, ${lost} lost or duplicated`);
  }
});
}

test('answered: a transfer outlasts `retries` until giveUpMs without progress; backoff keeps doubling to maxRto', () => {
  const t = new Transfer({ ...base, size: 5000, retries: 3, giveUpMs: 30_000, maxRtoMs: 5000 });
  t.start(0);
  assert.equal(t.answered, false);
  t.ack(1, 2); // answered; RTT 2 ms -> RTO at its floor
  assert.equal(t.answered, true);
  const progress = 2;
  const gaps: number[] = [];
  let now = progress;
  for (;;) {
    const due = t.deadline;
    gaps.push(due - now);
    now = due;
    const a = t.tick(now);
    if (a[0]?.type === 'finish') break;
  }
  // 50 ms doubling to the 5 s cap; given up at the first timeout 30 s after the last progress.
  assert.deepEqual(gaps.slice(0, 8), [50, 100, 200, 400, 800, 1600, 3200, 5000]);
  assert.ok(now - progress >= 30_000 && now - progress < 35_000, `gave up ${now - progress} ms after the last ACK`);
  assert.equal(t.outcome, 'timeout');
  // Progress resets the clock: an ACK at 29 s keeps the transfer going.
  const u = new Transfer({ ...base, size: 50_000, retries: 3, giveUpMs: 30_000, maxRtoMs: 5000 });
  u.start(0);
  u.ack(1, 2);
  let clock = 2;
  while (u.deadline < 29_000) u.tick((clock = u.deadline));
  assert.notEqual(u.phase, 'done');
  const acked = clock + 1;
  u.ack(2, acked);
  while (u.deadline - acked < 29_000) u.tick(u.deadline);
  assert.notEqual(u.phase, 'done', 'still running 29 s after the second ACK');
});

test('unanswered: dropped after handshakeTries timeouts (the OACK or DATA 1 never acknowledged)', () => {
  const t = new Transfer({ ...base, size: 5000, oack: true, retries: 6, giveUpMs: 30_000, handshakeTries: 3 });
  t.start(0);
  let now = 0;
  const sent: string[] = [];
  for (;;) {
    now = t.deadline;
    const a = t.tick(now);
    sent.push(a[0]!.type);
    if (a[0]?.type === 'finish') break;
  }
  assert.deepEqual(sent, ['oack', 'oack', 'oack', 'finish']);
  assert.equal(now, 1000 + 2000 + 4000 + 8000);
  assert.equal(t.answered, false);
  // ACK 0 answers: from then on giveUpMs applies.
  const u = new Transfer({ ...base, size: 5000, oack: true, retries: 6, giveUpMs: 30_000, handshakeTries: 1 });
  u.start(0);
  u.tick(1000);
  u.ack(0, 1500);
  assert.equal(u.answered, true);
  for (let i = 0; i < 3; i++) u.tick(u.deadline);
  assert.notEqual(u.phase, 'done');
});

test("a client's ERROR before any ACK (a UEFI size probe) ends the transfer and counts as its answer", () => {
  const t = new Transfer({ ...base, size: 5000, oack: true });
  assert.deepEqual(t.start(0), [{ type: 'oack', retransmit: false }]);
  assert.equal(t.answered, false);
  assert.deepEqual(t.clientError(1), [{ type: 'finish', outcome: 'client-error' }]);
  assert.equal(t.answered, true, 'only a client that got the OACK knows the port the ERROR came to');
  assert.equal(t.bytesAcked, 0);
});
