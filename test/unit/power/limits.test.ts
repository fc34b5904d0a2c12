// The bound on BMC operations at once, one at a time per node, and the
// backoff after a refused credential.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Limiter } from '../../../server/power/limiter.js';
import { AuthGuard } from '../../../server/power/guard.js';
import type { EffectiveBmc } from '../../../server/power/bmc.js';

test('no more than max operations run at once; all of them run, in order of arrival', async () => {
  const l = new Limiter(3);
  let now = 0;
  let most = 0;
  const started: number[] = [];
  const gates: Array<() => void> = [];
  const all = Array.from({ length: 10 }, (_, i) =>
    l.run(async () => {
      started.push(i);
      most = Math.max(most, ++now);
      await new Promise<void>((r) => gates.push(r));
      now--;
      return i;
    }),
  );
  for (let i = 0; i < 10; i++) {
    while (!gates.length) await new Promise((r) => setImmediate(r));
    assert.ok(l.active <= 3);
    gates.shift()!();
  }
  assert.deepEqual(await Promise.all(all), [...Array(10).keys()]);
  assert.equal(most, 3);
  assert.deepEqual(started, [...Array(10).keys()]);
  assert.equal(l.active, 0);
});

test('per key, one after the other (a failure does not stop the next); other keys meanwhile', async () => {
  const l = new Limiter(10);
  const log: string[] = [];
  const step = (k: string, n: number, fail = false) =>
    l.serial(k, async () => {
      log.push(`${k}${n}+`);
      await new Promise((r) => setTimeout(r, 5));
      log.push(`${k}${n}-`);
      if (fail) throw new Error('x');
    });
  await Promise.allSettled([step('a', 1, true), step('a', 2), step('b', 1)]);
  assert.ok(log.indexOf('a1-') < log.indexOf('a2+'), log.join(' '));
  assert.ok(log.indexOf('b1+') < log.indexOf('a1-'), 'b does not wait for a');
});

test('a refused credential is blocked for the backoff; another password, or the backoff over, is allowed', () => {
  let t = 1000;
  const g = new AuthGuard(60_000, () => t);
  const b = { type: 'ipmi', address: '10.0.2.11', port: 623, username: 'admin' } as EffectiveBmc;
  assert.equal(g.blocked(b, 'pw'), undefined);
  g.noteRefused(b, 'pw');
  t += 10_000;
  assert.deepEqual(g.blocked(b, 'pw'), { sinceMs: 10_000, leftMs: 50_000 });
  assert.equal(g.blocked(b, 'pw2'), undefined, 'a new password is tried at once');
  assert.equal(g.blocked({ ...b, address: '10.0.2.12' }, 'pw'), undefined, 'per BMC');
  t += 50_000;
  assert.equal(g.blocked(b, 'pw'), undefined, 'after the backoff');
  g.noteRefused(b, 'pw');
  g.noteAccepted(b, 'pw');
  assert.equal(g.blocked(b, 'pw'), undefined);
});
