// The pair drill in `npm test` (issue 20): two disk nodes in namespaces,
// two QEMU blades booting from the pair's floating address, then the
// drill's steps on the one set-up, each a test: disk-a's plug pulled under
// load, the last blade powered on during the outage, disk-a's return as a
// standby, a switchover back. Root, QEMU, keepalived, PostgreSQL and
// conntrackd are needed: outside CI without them it skips with the reason,
// in CI it must run. Figures are printed with each goal met or not, not
// asserted (timing); docs/benchmarks.md has them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { labLacks, requireLab } from '../helpers/env.js';
import { havePostgres } from '../helpers/postgres.js';
import { ensureKernel } from './kernel.js';
import { PairLab } from './pair-lab.js';
import { PairDrill } from './pair-drill.js';
import { formatPairDrill } from './pair-report.js';

const NEEDS = { root: true, commands: ['qemu-system-x86_64', 'ip', 'apt-get', 'dpkg', 'depmod', 'wrk', 'nft', 'ganesha.nfsd', 'tar', 'busybox', 'keepalived', 'conntrackd', 'conntrack', 'setpriv', 'curl'] };
const log = (l: string) => console.log(`# ${l.replace(/\n/g, '\n# ')}`);
/** From power-on to the pool, blades booting together on a loaded 2-core host: well above the ~60-90 s they take. */
const BOOT_BOUND = 360;
const canRun = () => labLacks(NEEDS) === undefined;

describe('lab: a pair of disk nodes, the server drill (disk-a pulled under load, return, switchover)', { concurrency: 1 }, () => {
  let lab: PairLab | undefined;
  let drill: PairDrill | undefined;
  let passed = 0;

  before(async () => {
    if (!canRun() || !havePostgres('the pair drill')) return;
    lab = await PairLab.start({ blades: 2, bootTimeout: BOOT_BOUND, verbose: false, keepWorkDir: false, log }, ensureKernel(log));
    drill = new PairDrill(lab);
  });
  after(async () => {
    if (drill) log(formatPairDrill(drill.finish()));
    if (passed === 5) lab?.succeeded();
    await lab?.close();
  });

  test('two blades boot from the floating service address (disk-a) and serve through the VIP', { timeout: 480_000 }, async (t) => {
    if (!requireLab(t, NEEDS) || !lab) return;
    await drill!.bootAll();
    await drill!.load(3);
    const l = drill!.r.load!;
    // wrk's timeouts (an answer slower than 2 s) are the host's load, printed with the figures; refusals, resets and errors are not.
    const { timeout: _slow, ...errors } = l.wrk.errors;
    assert.ok(l.wrk.requests > 0, 'wrk got answers');
    assert.deepEqual(errors, { connect: 0, read: 0, write: 0, non2xx: 0 }, 'wrk: no socket errors, no non-2xx answers');
    assert.deepEqual(Object.keys(l.spread.bodies), [lab.page!.sha], 'every answer is the synced page');
    assert.deepEqual(Object.keys(l.spread.byBlade).sort(), ['blade1', 'blade2']);
    passed++;
  });

  test("disk-a's plug pulled under load: disk-b answers on the VIP and DHCP, every blade serves its NFS content again, no lease lost or given twice", { timeout: 400_000 }, async (t) => {
    if (!requireLab(t, NEEDS) || passed < 1) return void t.skip('the blades did not boot');
    await drill!.takeover();
    const tk = drill!.r.takeover!;
    log(formatPairDrill(drill!.r));
    // How soon is a figure (printed, with the goal met or not), not a pass mark: on a loaded host the blades' remount takes longer.
    assert.ok(tk.vipBackS !== undefined, 'the VIP answers 200 again');
    assert.ok(tk.dhcpBackS !== undefined, 'DHCP answers again');
    for (const n of tk.nfs) assert.ok(n.servesAgainAfterS !== undefined, `${n.blade} serves through the VIP again`);
    assert.equal(tk.before.failed, 0, `no failure before the kill: ${JSON.stringify(tk.before.byKind)}, started (ms from the kill) ${JSON.stringify(tk.before.starts)}`);
    assert.deepEqual(drill!.r.leases!.lost, [], 'every acknowledged lease is in the promoted database');
    assert.deepEqual(drill!.r.leases!.doubles, [], 'no address acknowledged to two clients');
    passed++;
  });

  test('a blade powered on during the outage boots fully from disk-b', { timeout: 480_000 }, async (t) => {
    if (!requireLab(t, NEEDS) || passed < 2) return void t.skip('no takeover');
    await drill!.outageBoot();
    const o = drill!.r.outageBoot!;
    assert.deepEqual(o.dhcpFrom, ['disk-b'], 'DHCP from the survivor');
    assert.equal(o.content, 'nfs', 'it serves the NFS content');
    assert.ok(o.poolAfter < BOOT_BOUND);
    passed++;
  });

  test('disk-a returns as a standby of disk-b', { timeout: 300_000 }, async (t) => {
    if (!requireLab(t, NEEDS) || passed < 3) return void t.skip('no takeover');
    await drill!.rejoin();
    const r = drill!.r.rejoin!;
    assert.equal(r.role, 'backup', 'nopreempt: it does not take the addresses back');
    assert.equal(r.receiver, 'streaming');
    passed++;
  });

  test('rackboot pair switchover moves the service back to disk-a', { timeout: 300_000 }, async (t) => {
    if (!requireLab(t, NEEDS) || passed < 4) return void t.skip('disk-a did not rejoin');
    await drill!.switchover();
    const w = drill!.r.switchover!;
    assert.deepEqual([w.from, w.to], ['disk-b', 'disk-a']);
    assert.ok(w.web.requests >= 20, `requests across the switchover (${w.web.requests})`);
    passed++;
  });
});
