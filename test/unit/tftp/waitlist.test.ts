// WaitList: requests waiting for a TFTP transfer slot in a boot storm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WaitList } from '../../../server/tftp/waitlist.js';

test('oldest first; a resend keeps its place and replaces its request; full is full', () => {
  const w = new WaitList<string>(3, 10_000);
  assert.equal(w.add('a', 'a1', 0), true);
  assert.equal(w.add('b', 'b1', 1), true);
  assert.equal(w.refresh('a', 'a2', 2), true, 'a waits: refreshed');
  assert.equal(w.refresh('z', 'z1', 2), false, 'z does not wait');
  assert.equal(w.add('c', 'c1', 3), true);
  assert.equal(w.add('d', 'd1', 4), false, 'three wait: the fourth is refused');
  assert.equal(w.size, 3);
  assert.deepEqual(w.take(5), { key: 'a', item: 'a2' });
  assert.deepEqual(w.take(5), { key: 'b', item: 'b1' });
  assert.equal(w.add('d', 'd1', 6), true, 'room again');
  assert.deepEqual(w.take(7), { key: 'c', item: 'c1' });
  assert.deepEqual(w.take(7), { key: 'd', item: 'd1' });
  assert.equal(w.take(7), undefined);
});

test('a request not resent for staleMs is dropped when its turn comes; a refreshed one is not', () => {
  const w = new WaitList<number>(10, 100);
  w.add('gone', 1, 0);
  w.add('alive', 2, 0);
  w.add('late', 3, 50);
  w.refresh('alive', 2, 90);
  assert.deepEqual(w.take(180), { key: 'alive', item: 2 }, 'gone (180 ms old) dropped on the way');
  assert.equal(w.take(180), undefined, 'late (130 ms old) dropped too');
  assert.equal(w.size, 0);
  w.add('x', 4, 200);
  w.clear();
  assert.equal(w.take(200), undefined);
});
