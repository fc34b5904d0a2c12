// Ctrl-C during a lab run: the step in flight fails as soon as the signal
// handler stops the server, and the main flow heads for its exit while the
// namespaces are still being deleted. The process must exit only after the
// cleanup, with the signal's code, leaving no namespace behind. A real run
// (namespaces and all, no VMs) in a child process: about a second.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { requireLab } from '../helpers/env.js';
import { sh } from '../helpers/netns.js';
import { REPO } from './rackboot.js';
import { tempDir } from '../helpers/tmp.js';

test('SIGINT mid-step: the process exits after the cleanup (130), its namespaces gone', { timeout: 60_000 }, async (t) => {
  if (!requireLab(t, { root: true, commands: ['ip'] })) return;
  const state = tempDir(t, 'rblab-state-');
  const child = spawn(process.execPath, [join(REPO, 'dist', 'test', 'lab', 'signal-child.js')], {
    env: { ...process.env, RACKBOOT_LAB_STATE: state },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  let made: { namespaces: string[]; workDir: string } | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^ready (.*)$/m.exec(out);
        if (m && !made) {
          made = JSON.parse(m[1]!) as { namespaces: string[]; workDir: string };
          resolve();
        }
      });
      void exited.then((code) => reject(new Error(`the child exited (${code}) before it was ready: ${err}`)));
    });
    const before = sh('ip', ['netns', 'list']).stdout;
    for (const ns of made!.namespaces) assert.match(before, new RegExp(`^${ns}\\b`, 'm'), `${ns} exists before the signal`);
    child.kill('SIGINT');
    const code = await exited;
    assert.match(out, /^stopped$/m, `the slow stop finished before the process exited (stdout: ${out.trim()}; stderr: ${err.trim()})`);
    assert.equal(code, 130, `exit code of SIGINT (stderr: ${err.trim()})`);
    const after = sh('ip', ['netns', 'list']).stdout;
    for (const ns of made!.namespaces) assert.doesNotMatch(after, new RegExp(`^${ns}\\b`, 'm'), `${ns} deleted`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    // Whatever the child left (only on a failure above): its namespaces, kept work directory and claim.
    for (const ns of made?.namespaces ?? []) sh('ip', ['netns', 'del', ns], { check: false });
    if (made) rmSync(made.workDir, { recursive: true, force: true });
  }
});
