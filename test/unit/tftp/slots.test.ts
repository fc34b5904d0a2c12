// TransferSlots: the admission (#16) and the wait list (#22) put together,
// and when the native transfers are asked whether their client answered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TransferSlots, type SlotEntry } from '../../../server/tftp/slots.js';

/** A native-like transfer: it tells its client's answer only when asked (counted). */
class Native implements SlotEntry {
  asked = 0;
  heard = false;
  aborted: string | undefined;
  constructor(
    readonly key: string,
    readonly client: string,
  ) {}
  askAnswered(): boolean {
    this.asked++;
    return this.heard;
  }
  abort(reason: string): void {
    this.aborted = reason;
  }
}

function slots(maxTransfers: number, maxUnanswered: number, maxWaiting = 4) {
  const started: string[] = [];
  const s = new TransferSlots<Native, string>({ maxTransfers, maxUnanswered, maxWaiting, promiseMs: 1000 }, (key) => started.push(key), () => undefined);
  return { s, started };
}

/** Two native transfers waiting for their client's answer, polled. */
function twoUnanswered(maxTransfers: number, maxUnanswered: number) {
  const { s } = slots(maxTransfers, maxUnanswered);
  const a = new Native('a', '10.0.0.1');
  const b = new Native('b', '10.0.0.2');
  s.admit('a', a, false);
  s.admit('b', b, false);
  s.watchAnswers();
  return { s, a, b };
}

test('far from the limits a request does not ask the native transfers; the poll does', async (t) => {
  const { s } = slots(100, 64);
  t.after(() => s.stop());
  const n = [1, 2, 3].map((i) => new Native(`k${i}`, `10.0.0.${i}`));
  for (const e of n) assert.equal(s.admit(e.key, e, false), 'ok');
  s.watchAnswers();
  for (let i = 0; i < 50; i++) assert.equal(s.arrive(`r${i}`, 'x', 0), 'start');
  assert.deepEqual(
    n.map((e) => e.asked),
    [0, 0, 0],
    'no N-API call per request while 3 unanswered cannot fill 100 slots',
  );
  n[0]!.heard = true;
  await waitFor(() => s.answeredCount === 1);
  assert.equal(s.unansweredCount, 2, 'the poll promoted the one that answered');
});

test('near the answered limit a request asks first: an answer since the last poll takes its slot', (t) => {
  const { s, a, b } = twoUnanswered(2, 64);
  t.after(() => s.stop());
  a.heard = true;
  b.heard = true;
  // Both answered (the thread knows, JS not yet): the two slots are taken, the request waits.
  assert.equal(s.arrive('c', 'c', 0), 'queued');
  assert.equal(s.answeredCount, 2);
  assert.ok(a.asked > 0 && b.asked > 0);
});

test('with the unanswered pool full a request asks first, so an answered one is not evicted', (t) => {
  const { s, a, b } = twoUnanswered(100, 2);
  t.after(() => s.stop());
  a.heard = true;
  assert.equal(s.arrive('c', 'c', 0), 'start');
  assert.equal(a.asked, 1, 'the pool is full: asked');
  s.arrive('d', 'd', 0.5);
  assert.equal(b.asked, 1, 'requests within a millisecond share one look');
  const c = new Native('c', '10.0.0.3');
  assert.equal(s.admit('c', c, false), 'ok');
  assert.equal(a.aborted, undefined, 'a answered: it holds a slot, not evicted');
  assert.equal(b.aborted, undefined, 'a left the pool: room for c without evicting b');
  assert.deepEqual([s.answeredCount, s.unansweredCount], [1, 2]);
});

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond());
}
