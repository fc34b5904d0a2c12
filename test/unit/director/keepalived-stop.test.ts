// A managed keepalived that dies of the Ctrl-C which also stops rackboot is
// not reported as a failure nor restarted; one that dies while rackboot runs
// on is. (Its own file: noteProcessStopping() is process-wide.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { KeepalivedBackend } from '../../../server/director/backends/keepalived.js';
import { CommandRunner } from '../../../server/director/exec.js';
import { noteProcessStopping } from '../../../server/shutdown.js';
import { parseCidr } from '../../../server/net/ipv4.js';
import { waitUntil } from '../../helpers/wait.js';
import { tempDir } from '../../helpers/tmp.js';

async function killed(dir: string, signal: NodeJS.Signals): Promise<{ b: KeepalivedBackend; lines: Array<{ level: number; msg: string }> }> {
  const lines: Array<{ level: number; msg: string }> = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as { level: number; msg: string }) });
  const b = new KeepalivedBackend(new CommandRunner(), { mode: 'managed', command: join(dir, 'keepalived'), configFile: join(dir, 'keepalived.conf'), pidFile: join(dir, 'ka.pid'), routerId: 'rb' }, new Map(), log);
  await b.apply({ services: [], masquerade: 'auto', inside: parseCidr('10.0.0.0/24') });
  // The child is private: the test stands in for the terminal that signals it.
  const child = (b as unknown as { child: ChildProcess }).child;
  assert.ok(child?.pid, 'the fake keepalived runs');
  child.kill(signal);
  // Settled once it reported the death, or said it will not restart (after
  // the group-signal grace period).
  await waitUntil(() => b.childError !== undefined || lines.some((l) => /not restarted/.test(l.msg)));
  return { b, lines };
}

test('managed keepalived killed by a group signal: an error and a restart while rackboot runs, neither while it stops', async (t) => {
  const dir = tempDir(t, 'rb-ka-stop-');
  // `-t` (the config check before each install) answers at once; a check
  // that slept would race the command runner's 30 s timeout.
  writeFileSync(join(dir, 'keepalived'), '#!/bin/sh\n[ "$1" = -t ] && exit 0\nexec sleep 30\n');
  chmodSync(join(dir, 'keepalived'), 0o755);
  const running = await killed(dir, 'SIGINT');
  assert.match(running.b.childError ?? '', /keepalived exited \(SIGINT\); restarting in 5 s/);
  assert.ok(running.lines.some((l) => l.level === 50));
  await running.b.stop();

  noteProcessStopping();
  const stopping = await killed(dir, 'SIGINT');
  assert.equal(stopping.b.childError, undefined);
  assert.deepEqual(stopping.lines.filter((l) => l.level >= 50), [], 'no error logged');
  assert.match(stopping.lines.map((l) => l.msg).join('\n'), /keepalived exited \(SIGINT\) while rackboot is stopping; not restarted/);
  await stopping.b.stop();
});
