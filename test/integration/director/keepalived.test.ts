// The keepalived backend's process side. keepalived cannot run its checker on
// a kernel without IPVS (these machines): the managed child is started for
// real and its failure must surface (health, message); with IPVS it must stay
// up and take a SIGHUP. External mode is driven against a stand-in process
// (not keepalived: it cannot run here) that records the SIGHUP it receives,
// while the config it is told to load is checked by the real `keepalived -t`.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeepalivedBackend } from '../../../server/director/backends/keepalived.js';
import { CommandRunner } from '../../../server/director/exec.js';
import { resolveCheck } from '../../../server/director/model.js';
import type { DesiredState } from '../../../server/director/desired.js';
import { parseIpv4 } from '../../../server/net/ipv4.js';
import { silentLogger } from '../../../server/log.js';
import { requireLab } from '../../helpers/env.js';
import { NetLab } from '../../helpers/netns.js';
import { sleep, waitFor } from './topology.js';
import { tempDir } from '../../helpers/tmp.js';

const state = (weight: number): DesiredState => ({
  masquerade: 'auto',
  inside: undefined,
  services: [
    {
      name: 'web',
      vip: parseIpv4('192.168.1.100')!,
      vipPrefix: 24,
      interface: 'eth0',
      port: 80,
      protocol: 'tcp',
      scheduler: 'wlc',
      persistenceSec: undefined,
      servers: [{ name: 'blade1', node: 'blade1', address: parseIpv4('10.0.0.11')!, port: 80, weight }],
    },
  ],
});
const checks = new Map([['web', resolveCheck({}, { path: '/health' }, 'tcp')]]);

describe('keepalived backend processes', () => {
  test('external: validated with keepalived -t, written, SIGHUP to the pid in the pid file; unchanged state sends none; stop empties it unless keepRulesOnStop', async (t) => {
    if (!requireLab(t, { root: false, commands: ['keepalived'] })) return;
    const dir = tempDir(t, 'rb-ka-ext-');
    const hups = join(dir, 'hups');
    const ready = join(dir, 'ready');
    const standIn = spawn(
      process.execPath,
      ['-e', `const fs = require('fs'); process.on('SIGHUP', () => fs.appendFileSync(${JSON.stringify(hups)}, 'HUP\\n')); fs.writeFileSync(${JSON.stringify(ready)}, ''); setInterval(() => {}, 1000);`],
      { stdio: 'ignore' },
    );
    try {
      // Its SIGHUP handler must be in place before the first reload (a slow start would otherwise be killed by it).
      await waitFor('the stand-in to be ready', async () => (existsSync(ready) ? true : undefined), 10_000, 20);
      const pidFile = join(dir, 'keepalived.pid');
      const b = new KeepalivedBackend(new CommandRunner(), { mode: 'external', command: 'keepalived', configFile: join(dir, 'keepalived.conf'), pidFile, routerId: 'rb' }, checks, silentLogger());
      await assert.rejects(b.apply(state(1)), /keepalived is not running \(no pid file/);
      writeFileSync(pidFile, `${standIn.pid}\n`);
      const r = await b.apply(state(1));
      assert.equal(r.changed, true);
      assert.match(readFileSync(join(dir, 'keepalived.conf'), 'utf8'), /real_server 10\.0\.0\.11 80 \{\n {4}weight 1/);
      await waitFor('one SIGHUP', async () => (existsSync(hups) && readFileSync(hups, 'utf8') === 'HUP\n' ? true : undefined), 3000, 50);
      assert.equal((await b.apply(state(1))).changed, false);
      await b.apply(state(3));
      await waitFor('a second SIGHUP', async () => (readFileSync(hups, 'utf8') === 'HUP\nHUP\n' ? true : undefined), 3000, 50);
      assert.match(readFileSync(join(dir, 'keepalived.conf'), 'utf8'), /weight 3/);
      // keepRulesOnStop: the config and keepalived are left as they are.
      await b.stop(true);
      await sleep(300);
      assert.equal(readFileSync(hups, 'utf8'), 'HUP\nHUP\n');
      assert.match(readFileSync(join(dir, 'keepalived.conf'), 'utf8'), /weight 3/);
      // Otherwise keepalived is reloaded with no virtual servers (a config keepalived -t accepts), so it removes rackboot's.
      await b.stop(false);
      await waitFor('a third SIGHUP', async () => (readFileSync(hups, 'utf8') === 'HUP\nHUP\nHUP\n' ? true : undefined), 3000, 50);
      const emptied = readFileSync(join(dir, 'keepalived.conf'), 'utf8');
      assert.doesNotMatch(emptied, /virtual_server/);
      assert.match(emptied, /router_id rb/);
    } finally {
      standIn.kill('SIGKILL');
    }
  });

  test('managed: keepalived -n -C runs as a child in a namespace; without IPVS its exit is reported, with IPVS it takes a reload', async (t) => {
    if (!requireLab(t, { root: true, commands: ['keepalived', 'ipvsadm'] })) return;
    const lab = new NetLab('rbk');
    const dir = tempDir(t, 'rb-ka-man-');
    try {
      const ns = lab.addNs('k');
      const runner = new CommandRunner(['ip', 'netns', 'exec', ns]);
      const ipvs = (await runner.run('ipvsadm', ['-Sn'])).code === 0;
      const b = new KeepalivedBackend(runner, { mode: 'managed', command: 'keepalived', configFile: join(dir, 'keepalived.conf'), pidFile: join(dir, 'keepalived.pid'), routerId: 'rb' }, checks, silentLogger());
      await b.preflight();
      assert.deepEqual(b.managedArgs().slice(0, 3), ['-n', '-l', '-C']);
      const r = await b.apply(state(1));
      assert.match(r.summary, /started keepalived \d+/);
      if (!ipvs) {
        const why = await waitFor('keepalived to give up without IPVS', async () => b.childError, 10_000, 50);
        assert.match(why, /keepalived exited \(code \d+\); restarting in 5 s/);
      } else {
        await sleep(1000);
        assert.equal(b.childError, undefined);
        assert.match((await runner.must('ipvsadm', ['-Sn'])), /-A -t 192\.168\.1\.100:80 -s wlc/);
        assert.match((await b.apply(state(2))).summary, /SIGHUP to keepalived/);
      }
      await b.stop();
    } finally {
      await lab.cleanup();
    }
  });
});
