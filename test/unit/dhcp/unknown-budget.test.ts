// The bound on replies to unknown MACs, and how it tells a MAC asking again
// from a flood's new ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RETRY_WINDOW_MS, UnknownReplyBudget } from '../../../server/dhcp/unknown-budget.js';

test('a token bucket for new MACs and one for MACs asking again', () => {
  const b = new UnknownReplyBudget(10);
  let ok = 0;
  for (let i = 0; i < 100; i++) if (b.take(false, 0)) ok++;
  assert.equal(ok, 10, 'burst = rate');
  assert.equal(b.take(false, 50), false);
  assert.equal(b.take(false, 100), true, 'a token every 100 ms');
  assert.equal(b.take(true, 100), true, 'the other bucket is untouched');
  assert.equal(new UnknownReplyBudget(0).take(false, 0), false, 'rate 0: none');
});

test('a MAC that went unanswered is asking again for one to two windows; a flood of others does not make them all look so', () => {
  const b = new UnknownReplyBudget(10);
  const mac = 0x0200_0000_0801;
  assert.equal(b.askingAgain(mac, 0), false);
  b.unanswered(mac, 0);
  // A flood of 200,000 other MACs, each unanswered once.
  for (let i = 0; i < 200_000; i++) b.unanswered(0x0200_1000_0000 + i * 7919, 1000);
  assert.equal(b.askingAgain(mac, 2000), true);
  let false_ = 0;
  for (let i = 0; i < 100_000; i++) if (b.askingAgain(0x0600_0000_0000 + i * 104729, 3000)) false_++;
  assert.ok(false_ < 100, `new MACs taken for ones asking again: ${false_} of 100,000`);
  assert.equal(b.askingAgain(mac, RETRY_WINDOW_MS + 500), true, 'still known in the next window');
  assert.equal(b.askingAgain(mac, 3 * RETRY_WINDOW_MS), false, 'forgotten after two');
});
