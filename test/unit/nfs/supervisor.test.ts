// The child supervisor with plain shell children: readiness, restart with
// backoff after a death, no restart loop on a failed first start, stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Supervisor } from '../../../server/nfs/supervisor.js';
import { pino } from 'pino';
import { silentLogger } from '../../../server/log.js';
import { waitUntil } from '../../helpers/wait.js';

const quick = { initialMs: 20, maxMs: 80, stableMs: 60_000 };

test('a child that never becomes ready fails start() with its reason, and is not retried', async () => {
  let launches = 0;
  const sup = new Supervisor({
    name: 'x',
    command: 'sh',
    args: ['-c', 'echo cannot bind >&2; exit 3'],
    log: silentLogger(),
    backoff: quick,
    beforeSpawn: async () => void launches++,
    ready: (_c, exited) =>
      new Promise((_resolve, reject) => {
        const t = setInterval(() => {
          const why = exited();
          if (why) (clearInterval(t), reject(new Error(why)));
        }, 5);
      }),
  });
  await assert.rejects(sup.start(), /x did not start: exited with code 3: cannot bind/);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(launches, 1);
  assert.equal(sup.state, 'stopped');
});

test('a child that dies is restarted with growing delays; stop() ends it all', async () => {
  const starts: number[] = [];
  const exits: string[] = [];
  const sup = new Supervisor({
    name: 'y',
    command: 'sh',
    // Lives 30 ms, then dies: the supervisor must keep bringing it back.
    args: ['-c', 'sleep 0.03; exit 1'],
    log: silentLogger(),
    backoff: quick,
    ready: async () => void starts.push(Date.now()),
    onExit: (why) => void exits.push(why),
  });
  await sup.start();
  const t0 = Date.now();
  while (starts.length < 4 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
  assert.ok(starts.length >= 4, `restarted ${starts.length - 1} times`);
  assert.equal(sup.restarts, starts.length - 1);
  assert.match(exits[0]!, /exited with code 1/);
  // Delays 20, 40, 80 ms (capped): each gap is the child's life (30 ms, less
  // however late its start was noted) plus the delay. Lower bounds only: a
  // loaded machine adds to any gap, so comparing gaps with each other flakes.
  const gaps = starts.slice(1).map((s, i) => s - starts[i]!);
  [20, 40, 80].forEach((delay, i) => assert.ok(gaps[i]! >= delay + 20, `backoff grows: gaps ${gaps.join(', ')} ms`));
  await sup.stop();
  const n = starts.length;
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(starts.length, n, 'no restart after stop()');
  assert.equal(sup.state, 'stopped');
  assert.equal(sup.pid, undefined);
});

test('stop() sends SIGTERM to a running child and waits for it', async () => {
  const sup = new Supervisor({ name: 'z', command: 'sleep', args: ['30'], log: silentLogger(), ready: async () => undefined });
  await sup.start();
  const pid = sup.pid!;
  assert.ok(pid > 0);
  await sup.stop();
  assert.throws(() => process.kill(pid, 0), /ESRCH/);
});

/** A child killed by SIGINT (as Ctrl-C does to the whole process group); the lines logged meanwhile. */
async function killedBySigint(processStopping: boolean): Promise<{ lines: Array<{ level: number; msg: string }>; starts: number; sup: Supervisor }> {
  const lines: Array<{ level: number; msg: string }> = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as { level: number; msg: string }) });
  let starts = 0;
  const sup = new Supervisor({
    name: 'w',
    command: 'sh',
    args: ['-c', 'exec sleep 30'],
    log,
    backoff: quick,
    ready: async () => void starts++,
    processStopping: () => processStopping,
  });
  await sup.start();
  process.kill(sup.pid!, 'SIGINT');
  // Settled once restarted, or once it said it will not restart (that line
  // comes after the group-signal grace period).
  await waitUntil(() => starts >= 2 || lines.some((l) => /not restarted/.test(l.msg)));
  return { lines, starts, sup };
}

test('a child killed by SIGINT while the process is stopping is neither reported as an error nor restarted', async () => {
  const { lines, starts, sup } = await killedBySigint(true);
  try {
    assert.equal(starts, 1, 'not restarted');
    assert.deepEqual(lines.filter((l) => l.level >= 50), [], 'no error logged');
    assert.match(lines.map((l) => l.msg).join('\n'), /w: killed by SIGINT while rackboot is stopping; not restarted/);
    assert.equal(sup.state, 'stopped');
  } finally {
    await sup.stop();
  }
});

test('a child killed by SIGINT while the process runs on is reported and restarted', async () => {
  const { lines, starts, sup } = await killedBySigint(false);
  try {
    assert.equal(starts, 2, 'restarted once');
    assert.match(lines.find((l) => l.level === 50)?.msg ?? '', /w: killed by SIGINT; restarting in 20 ms/);
  } finally {
    await sup.stop();
  }
});
