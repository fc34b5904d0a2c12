// The nanny's state machine and probes against a real HTTP server on loopback.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { initialHealth, inPool, step, type HealthRecord } from '../../../server/director/health/policy.js';
import { probe } from '../../../server/director/health/probe.js';

const P = { retries: 3, reentryMs: 1000 };
function run(rec: HealthRecord, results: Array<[boolean, number]>) {
  const out: Array<string | undefined> = [];
  for (const [ok, at] of results) {
    const r = step(rec, { ok, at, detail: '' }, P);
    rec = r.next;
    out.push(r.transition);
  }
  return { rec, out };
}

describe('nanny policy', () => {
  test('first pass: up at once; retries failures take it down', () => {
    const { rec, out } = run(initialHealth(0), [[true, 10], [false, 20], [false, 30], [true, 40], [false, 50], [false, 60], [false, 70]]);
    assert.deepEqual(out, ['up', undefined, undefined, undefined, undefined, undefined, 'down']);
    assert.equal(rec.state, 'down');
    assert.equal(rec.since, 70);
    assert.equal(inPool(rec), false);
  });

  test('a failing new server is down at once (never was in the pool)', () => {
    const { rec, out } = run(initialHealth(0), [[false, 10]]);
    assert.deepEqual(out, ['down']);
    assert.equal(rec.state, 'down');
  });

  test('reentry: back only after passing for the whole delay; a failure meanwhile starts over', () => {
    let { rec } = run(initialHealth(0), [[false, 0]]);
    const r = run(rec, [[true, 100], [true, 600], [false, 900], [true, 1000], [true, 1500], [true, 1999], [true, 2000]]);
    assert.deepEqual(r.out, [undefined, undefined, undefined, undefined, undefined, undefined, 'up']);
    assert.equal(r.rec.state, 'up');
    rec = r.rec;
    assert.equal(rec.since, 2000);
  });

  test("the up event's time in the previous state is the whole downtime, across recovering and failures while recovering", () => {
    const down = run(initialHealth(0), [[true, 0], [false, 100], [false, 200], [false, 300]]);
    assert.equal(down.rec.state, 'down');
    assert.equal(down.rec.since, 300);
    let rec = down.rec;
    let upAfter: number | undefined;
    for (const [ok, at] of [[true, 400], [false, 900], [true, 1000], [true, 1500], [true, 2000]] as Array<[boolean, number]>) {
      const r = step(rec, { ok, at, detail: '' }, P);
      // What the nanny reports as `after` (afterMs on the event): at - previous since.
      if (r.transition === 'up') upAfter = at - rec.since;
      rec = r.next;
      if (at < 2000) assert.equal(rec.since, 300, `still out of the pool since 300 at ${at} (${rec.state})`);
    }
    assert.equal(rec.state, 'up');
    assert.equal(upAfter, 1700);
    assert.equal(rec.since, 2000);
  });

  test('reentry 0: back at the first pass', () => {
    const rec = step(initialHealth(0), { ok: false, at: 1, detail: '' }, P).next;
    assert.equal(step(rec, { ok: true, at: 2, detail: '' }, { retries: 1, reentryMs: 0 }).transition, 'up');
  });
});

describe('probes', () => {
  let server: Server;
  let port = 0;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/ok') return res.end('all good');
      if (req.url === '/slow') return void setTimeout(() => res.end('late'), 500);
      if (req.url === '/big') {
        res.write('x'.repeat(100_000));
        return res.end('needle');
      }
      res.statusCode = 503;
      res.end('down for maintenance');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  after(() => server.close());
  const t = (extra: Record<string, unknown>) => ({ address: '127.0.0.1', port, type: 'http' as const, path: '/ok', host: undefined, expect: 200 as number | string, timeoutMs: 300, ...extra });

  test('status expected / other status', async () => {
    assert.equal((await probe(t({}))).ok, true);
    const r = await probe(t({ path: '/nope' }));
    assert.equal(r.ok, false);
    assert.match(r.detail, /503, expected 200/);
    assert.equal((await probe(t({ path: '/nope', expect: 503 }))).ok, true);
  });

  test('text in status line, headers or body', async () => {
    assert.equal((await probe(t({ expect: 'good' }))).ok, true);
    assert.equal((await probe(t({ path: '/nope', expect: 'HTTP/1.1 503' }))).ok, true);
    assert.equal((await probe(t({ expect: 'absent' }))).ok, false);
    const big = await probe(t({ path: '/big', expect: 'needle' }));
    assert.equal(big.ok, false);
    assert.match(big.detail, /not in the first 65536 bytes/);
  });

  test('timeout, refused, tcp', async () => {
    const slow = await probe(t({ path: '/slow' }));
    assert.equal(slow.ok, false);
    assert.match(slow.detail, /no answer within 300 ms/);
    const refused = await probe(t({ port: 1 }));
    assert.match(refused.detail, /ECONNREFUSED/);
    assert.equal((await probe(t({ type: 'tcp' }))).ok, true);
    assert.equal((await probe(t({ type: 'tcp', port: 1 }))).ok, false);
  });
});
