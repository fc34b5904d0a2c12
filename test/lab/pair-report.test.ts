// The pair drill's pure parts: a failed request's kind, the failures of a
// window with their times, and the goals read from a drill's result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failureKind, failures, type PairDrillResult } from './pair-drill.js';
import { formatPairDrill, pairGoals } from './pair-report.js';
import type { ProbeRecord } from './probe.js';

const rec = (at: number, o: Partial<ProbeRecord> = {}): ProbeRecord => ({ t: at, at, ok: true, status: 200, blade: 'blade1', bytes: 10, ms: 5, sha: 'x', ...o }) as ProbeRecord;

test('failure kinds: reset, timeout, refused, HTTP status, other codes as they are', () => {
  assert.equal(failureKind({ ok: false, status: 0, error: 'ECONNRESET' }), 'reset');
  assert.equal(failureKind({ ok: false, status: 0, error: 'socket hang up' }), 'reset');
  assert.equal(failureKind({ ok: false, status: 0, error: 'timeout 10000 ms' }), 'timeout');
  assert.equal(failureKind({ ok: false, status: 0, error: 'ECONNREFUSED' }), 'refused');
  assert.equal(failureKind({ ok: false, status: 404 }), 'http 404');
  assert.equal(failureKind({ ok: false, status: 0, error: 'EHOSTUNREACH' }), 'EHOSTUNREACH');
});

test('failures of a window: only requests started in it, counted by kind, timed from its start', () => {
  const records = [rec(900), rec(1000, { ok: false, status: 0, error: 'ECONNRESET' }), rec(1500, { ok: false, status: 404, blade: 'blade2' }), rec(1600), rec(2500, { ok: false, status: 0, error: 'timeout 10000 ms' })];
  const f = failures(records, 1000, 2000);
  assert.deepEqual({ requests: f.requests, failed: f.failed, byKind: f.byKind }, { requests: 3, failed: 2, byKind: { reset: 1, 'http 404': 1 } });
  assert.deepEqual(f.starts, [
    { ms: 0, kind: 'reset', blade: 'blade1' },
    { ms: 500, kind: 'http 404', blade: 'blade2' },
  ]);
  assert.deepEqual(failures(records, 0, Infinity, 2000).starts.map((s) => s.ms), [-1000, -500, 500]);
});

test('goals: met and not met, read from the figures', () => {
  const none = { requests: 50, failed: 0, byKind: {}, starts: [] };
  const r: PairDrillResult = {
    id: 'x',
    blades: 2,
    boots: [],
    seconds: 200,
    takeover: {
      masterAfterS: 0.7,
      vipBackS: 1.8,
      dhcpBackS: 0.8,
      before: none,
      window: { requests: 15, failed: 13, byKind: { 'http 404': 13 }, starts: [] },
      after: none,
      nfs: [{ blade: 'blade1', remountedAfterS: 3.2, servesAgainAfterS: 1.8 }],
      connections: { established: 3, survived: 1, errors: ['curl: (18)'] },
    },
    switchover: { from: 'disk-b', to: 'disk-a', totalMs: 3000, withoutMasterMs: 1400, web: { requests: 100, failed: 3, byKind: { refused: 3 }, starts: [] }, longestDhcpGapMs: 900, remounts: 2 },
  };
  const g = Object.fromEntries(pairGoals(r).map((x) => [x.goal, x.met]));
  assert.equal(g['VIP answers again within 3 s'], true);
  assert.equal(g['no failed request once the VIP answers again'], true);
  assert.equal(g['established connections survive (conntrackd; measured)'], false);
  assert.equal(g['switchover back with no failed request'], false);
  const text = formatPairDrill(r);
  assert.match(text, /VIP answers again after +1\.80 s/);
  assert.match(text, /kill -> VIP back +13\/15 failed \(http 404 13\)/);
  assert.match(text, /\[NOT met\] switchover back with no failed request: disk-b -> disk-a, 3\/100 failed \(refused 3\)/);
});
