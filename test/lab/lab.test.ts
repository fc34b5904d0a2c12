// The lab in `npm test`: the paper's cluster booted for real. rackboot in
// the director namespace, set up through its API and CLI only; QEMU blades
// (TCG) that boot from the network; wrk-style traffic through the VIP from
// the outside namespace. Root and the LAB.md packages are needed: outside CI
// without them the tests skip with the reason, in CI they must run.
//
// Time (2 cores, TCG): a blade boots in 35-50 s alone, both at once in about
// a minute; the whole file takes about 4-6 minutes.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { IN_CI, labLacks, requireLab } from '../helpers/env.js';
import { DEFAULT_OPTIONS, Lab, type BladeBoot, type LabOptions } from './lab.js';
import { formatDrill, formatLoad, formatTimeline, phaseTimes, tftpSent, type EventView } from './timeline.js';
import { ensureKernel, type Kernel } from './kernel.js';
import { existsSync, readFileSync } from 'node:fs';
import { summarize } from './load.js';
import type { ProbeRecord } from './probe.js';
import { bmcAddressOf } from './bmc.js';

const TOOLS = ['qemu-system-x86_64', 'ip', 'apt-get', 'dpkg', 'depmod', 'wrk', 'nft', 'ganesha.nfsd', 'tar', 'busybox', 'ipmi_sim', 'ipmitool'];
/** The UEFI blade's firmware (package ovmf). */
const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const log = (l: string) => console.log(`# ${l.replace(/\n/g, '\n# ')}`);
/** Bound from power-on to the pool for blades booting together: well above the ~60 s they take, far below CI's time. */
const BOOT_BOUND = 180;
// Each blade behind its own BMC (ipmi_sim), powered through rackboot's API.
const opts = (o: Partial<LabOptions>): LabOptions => ({ ...DEFAULT_OPTIONS, log, bootTimeout: BOOT_BOUND, loadSeconds: 0, bmc: true, ...o });

function showBoot(b: BladeBoot): void {
  log(formatTimeline(`${b.name}: up after ${b.upAfter.toFixed(1)} s, in the pool after ${b.poolAfter?.toFixed(1)} s`, b.rows));
}

const files = (events: EventView[], kind: string) => events.filter((e) => e.kind === kind).map((e) => String(e.detail.file ?? e.detail.path).replace(/^\/+/, ''));

const NEEDS = { root: true, commands: TOOLS };
/**
 * Whether before() may start a lab: root and every tool. When not, it starts
 * nothing and each test's requireLab skips with the reason (outside CI) or
 * fails (in CI, which must run the lab).
 */
const canRun = () => labLacks(NEEDS) === undefined;

function checkBoot(lab: Lab, b: BladeBoot, loader: 'pxelinux' | 'ipxe'): void {
  const blade = lab.vm(b.name).opts.blade;
  // Both NICs got their registered addresses from rackboot's DHCP (the ROM on eth0, Linux on both).
  const acks = b.events.filter((e) => e.kind === 'dhcp.ack').map((e) => `${e.mac} ${String(e.detail.address)}`);
  for (const i of [0, 1]) assert.ok(acks.includes(`${blade.macs[i]} ${blade.ipv4[i]}`), `${b.name}: DHCP ack for eth${i} (${acks.join(', ')})`);
  const tftp = tftpSent(b.events);
  const http = files(b.events, 'http.get');
  if (loader === 'pxelinux') {
    const cfg = `pxelinux.cfg/01-${blade.macs[0].replaceAll(':', '-')}`;
    for (const f of ['pxelinux.0', 'ldlinux.c32', cfg, `boot/${b.name}/kernel`, `boot/${b.name}/initrd`]) {
      assert.ok(tftp.includes(f), `${b.name}: rackboot sent ${f} over TFTP (sent: ${tftp.join(', ')})`);
    }
  } else {
    for (const f of [`boot/${b.name}/kernel`, `boot/${b.name}/initrd`]) assert.ok(http.includes(f), `${b.name}: ${f} over HTTP (got: ${http.join(', ')})`);
    assert.ok(http.some((p) => p.startsWith('boot/ipxe/')), `${b.name}: its iPXE script over HTTP`);
    assert.ok(!tftp.some((f) => /kernel|initrd/.test(f)), `${b.name}: no kernel or RAM disk over TFTP with iPXE (${tftp.join(', ')})`);
  }
  // The boot began with rackboot asking the blade's BMC: the first step of its timeline.
  const power = b.events.filter((e) => e.kind.startsWith('power.') && e.ts >= b.poweredOnAt).map((e) => `${e.kind} ${String(e.detail.action)} ${String(e.detail.bmc)}`);
  const bmc = `ipmi ${bmcAddressOf(lab.vm(b.name).opts.blade.index)}:623`;
  assert.deepEqual(power.slice(0, 2), [`power.requested on ${bmc}`, `power.ok on ${bmc}`], `${b.name}: powered on through its BMC`);
  assert.match(b.rows[0]!.what, /^power on requested from ipmi /, `${b.name}: the timeline starts at the power-on request`);
  const ready = b.events.find((e) => e.kind === 'ready' && e.ts >= b.poweredOnAt);
  assert.ok(ready, `${b.name}: reported ready`);
  assert.equal(ready.detail.content, 'nfs', `${b.name}: serves the NFS content`);
  const p = phaseTimes(b.rows);
  assert.ok(p.kernel! < p.initrd! && p.initrd! < p.ready! && p.ready! <= p.pool!, `${b.name}: steps in boot order ${JSON.stringify(p)}`);
  assert.ok(b.poolAfter! < BOOT_BOUND, `${b.name}: in the pool within ${BOOT_BOUND} s`);
}

/** A UEFI blade's DHCP as rackboot recorded it: who asked, on which firmware, and what it was handed. */
function dhcpView(b: BladeBoot): Array<{ client: unknown; firmware: unknown; bootFile: unknown; standIn: unknown; kind: string }> {
  return b.events
    .filter((e) => (e.kind === 'dhcp.ack' || e.kind === 'dhcp.offer') && e.mac === lab0mac(b))
    .map((e) => ({ kind: e.kind, client: e.detail.client, firmware: e.detail.firmware, bootFile: e.detail.bootFile, standIn: e.detail.standIn }));
}
const lab0mac = (b: BladeBoot) => [...b.macNames].find(([, n]) => n === 'eth0')![0];

/** The UEFI blade joins the pool after the two BIOS blades' tests: it boots alone, in the same cluster (no second set-up). */
function checkUefiJoins(b: BladeBoot): void {
  const ready = b.events.find((e) => e.kind === 'ready' && e.ts >= b.poweredOnAt);
  assert.ok(ready, `${b.name}: reported ready`);
  assert.equal(ready.detail.content, 'nfs', `${b.name}: serves the NFS content`);
  assert.ok(b.poolAfter! < BOOT_BOUND, `${b.name}: in the pool within ${BOOT_BOUND} s`);
  // Linux's own DHCP is the OS's: a plain lease, no boot file.
  const os = b.events.filter((e) => e.kind === 'dhcp.ack' && e.detail.client === 'os');
  assert.ok(os.length >= 2 && os.every((e) => e.detail.bootFile === undefined && e.detail.firmware === undefined), JSON.stringify(os.map((e) => e.detail)));
}

/** Boots the cluster's UEFI blade (blade3) once the BIOS blades served, and checks what every UEFI blade must show; undefined when skipped. */
async function bootUefiBlade(t: TestContext, lab: Lab | undefined, passed: number): Promise<{ b: BladeBoot; dhcp: ReturnType<typeof dhcpView> } | undefined> {
  if (!requireLab(t, NEEDS) || !haveOvmf(t)) return undefined;
  if (!passed) return void t.skip('the cluster did not boot');
  const b = await lab!.boot('blade3');
  showBoot(b);
  checkUefiJoins(b);
  return { b, dhcp: dhcpView(b) };
}

/** OVMF is there (CI installs it: a failure there, a skip elsewhere). */
function haveOvmf(t: TestContext): boolean {
  if (existsSync(OVMF_CODE)) return true;
  if (IN_CI) assert.fail(`CI must run the UEFI blade, but ${OVMF_CODE} is missing (package ovmf)`);
  t.skip(`${OVMF_CODE} is missing (package ovmf)`);
  return false;
}

describe('lab: the paper\'s cluster, PXELINUX over TFTP', { concurrency: 1 }, () => {
  let lab: Lab | undefined;
  let kernel: Kernel;
  let passed = 0;

  before(async () => {
    // requireLab (in each test) says why when this cannot run; start only when it can.
    if (!canRun()) return;
    kernel = ensureKernel(log);
    // blade3 is a UEFI machine (OVMF's own PXE client), booted last, alone.
    lab = await Lab.start(opts({ blades: 3, loader: 'pxelinux', bladeOverrides: { blade3: { firmware: 'uefi' } } }), kernel);
  });
  after(async () => {
    // Logs and consoles are kept (and their directory printed) unless every test passed.
    if (passed === 5) lab?.succeeded();
    await lab?.close();
  });

  test('two blades boot (DHCP on both NICs; loader, config, kernel, RAM disk over TFTP; NFS; Apache) and join the pool', { timeout: 300_000 }, async (t) => {
    if (!requireLab(t, NEEDS)) return;
    const boots = await lab!.bootAll(['blade1', 'blade2']);
    for (const b of boots) {
      showBoot(b);
      checkBoot(lab!, b, 'pxelinux');
    }
    passed++;
  });

  test('every answer through the VIP is the NFS-shared page, both blades serve, and a wrk load gets no errors', { timeout: 90_000 }, async (t) => {
    if (!requireLab(t, NEEDS)) return;
    if (!passed) return void t.skip('the blades did not boot');
    const p = lab!.probe(6, { concurrency: 2 });
    const s = summarize(await p.done);
    log(`probe: ${s.ok}/${s.requests} ok, by blade ${JSON.stringify(s.byBlade)}, pages ${JSON.stringify(s.bodies)} (synced page ${lab!.page!.sha})`);
    assert.ok(s.requests >= 20, `enough requests (${s.requests})`);
    assert.equal(s.failed, 0, `no failures: ${JSON.stringify(s.errors)}`);
    assert.deepEqual(Object.keys(s.bodies), [lab!.page!.sha], 'every answer is the page synced into the export');
    assert.deepEqual(Object.keys(s.byBlade).sort(), ['blade1', 'blade2']);
    assert.ok(Math.min(...Object.values(s.byBlade)) >= s.ok / 4, `both blades take a fair share (rr): ${JSON.stringify(s.byBlade)}`);

    // The WebBench-style load npm run lab prints: 3 s of wrk through the VIP, the probe beside it.
    const l = await lab!.load(3);
    log(formatLoad(l));
    assert.ok(l.wrk.requests > 0, `wrk got answers (${l.wrk.requests})`);
    assert.deepEqual(l.wrk.errors, { connect: 0, read: 0, write: 0, timeout: 0, non2xx: 0 }, 'wrk: no socket errors, no non-2xx answers');
    assert.equal(l.spread.failed, 0, `probe under load: no failures: ${JSON.stringify(l.spread.errors)}`);
    assert.deepEqual(Object.keys(l.spread.bodies), [lab!.page!.sha], 'under load too, every answer is the synced page');
    assert.deepEqual(Object.keys(l.spread.byBlade).sort(), ['blade1', 'blade2'], 'under load, both blades answer');
    passed++;
  });

  test('content syncs while the blades serve reach both within seconds, every answer a whole page, none failing', { timeout: 120_000 }, async (t) => {
    if (!requireLab(t, NEEDS)) return;
    if (!passed) return void t.skip('the blades did not boot');
    // Three syncs 7 s apart under a steady probe, each page longer than the
    // one before: a blade that mixed two releases within one answer (the old
    // length with the new bytes, as Apache did serving through the switched
    // link) gives a body that is none of the pages.
    const pages = [lab!.page!.sha];
    const syncs: Array<{ sha: string; at: number }> = [];
    const records: ProbeRecord[] = [];
    const p = lab!.probe(30, { concurrency: 4, onRecord: (r) => records.push(r) });
    for (const tag of ['v2', 'v2-x', 'v2-xxx']) {
      await new Promise((r) => setTimeout(r, syncs.length ? 7000 : 2000));
      const sync = await lab!.syncNewPage(tag);
      syncs.push(sync);
      pages.push(sync.sha);
    }
    await p.done;
    const s = summarize(records);
    assert.equal(s.failed, 0, `no request fails across the switches: ${JSON.stringify(s.errors)}`);
    const excerpt = (sha: string) => records.find((x) => x.sha === sha && x.excerpt !== undefined)?.excerpt;
    const strange = records.filter((r) => r.ok && !pages.includes(r.sha));
    const named = strange.slice(0, 5).map((r) => ({ blade: r.blade, at: new Date(r.at).toISOString(), bytes: r.bytes, sha: r.sha, body: excerpt(r.sha) }));
    assert.equal(strange.length, 0, `every answer is one of the pages, whole (syncs at ${syncs.map((x) => new Date(x.at).toISOString()).join(', ')}); others: ${JSON.stringify(named)}`);
    // After each sync, from the last answer with an earlier page on, both blades serve the new one.
    const lastEarlier = syncs.map((_, i) => Math.max(...records.filter((r) => pages.slice(0, i + 1).includes(r.sha)).map((r) => r.at)));
    const lags = syncs.map((sync, i) => (lastEarlier[i]! - sync.at) / 1000);
    const last = syncs[syncs.length - 1]!;
    const after = summarize(records, lastEarlier[lastEarlier.length - 1]! + 1);
    log(`content syncs: the last answer with an earlier page came ${lags.map((l) => `${l.toFixed(1)} s`).join(', ')} after each; after the last, ${after.ok} answers by blade ${JSON.stringify(after.byBlade)}; ${s.ok} answers, ${Object.keys(s.bodies).length} pages`);
    for (const [i, lag] of lags.entries()) assert.ok(lag < 7, `both blades serve the page of sync ${i + 1} within 7 s (the last earlier page came ${lag.toFixed(1)} s after it)`);
    assert.deepEqual(Object.keys(after.bodies), [last.sha], 'after the last switch only its page');
    assert.deepEqual(Object.keys(after.byBlade).sort(), ['blade1', 'blade2'], 'both blades serve the last page');
    passed++;
  });

  test('failure drill: a blade powered off through rackboot and its BMC leaves the pool, no request fails after that, it boots again and returns', { timeout: 360_000 }, async (t) => {
    if (!requireLab(t, NEEDS)) return;
    if (passed < 2) return void t.skip('the cluster did not serve');
    const d = await lab!.drill('blade2');
    log(formatDrill(d));
    showBoot(d.reboot);
    assert.equal(d.cut, 'bmc');
    const off = d.reboot.events.filter((e) => e.kind === 'power.ok' && e.detail.action === 'off' && e.ts >= d.killAt);
    assert.equal(off.length, 1, 'the blade was powered off through rackboot and its BMC');
    assert.ok(d.detectionMs < 10_000, `dropped within the detection window (${d.detectionMs} ms)`);
    assert.ok(d.afterDrop.requests >= 20, `requests after the drop (${d.afterDrop.requests})`);
    assert.equal(d.afterDrop.failed, 0, `no failure after the drop: ${JSON.stringify(d.afterDrop.errors)}`);
    assert.deepEqual(Object.keys(d.afterDrop.byBlade), ['blade1'], 'only blade1 answers while blade2 is down');
    checkBoot(lab!, d.reboot, 'pxelinux');
    assert.ok((d.afterReturn.byBlade.blade2 ?? 0) > 0, `blade2 serves again after its return (${JSON.stringify(d.afterReturn.byBlade)})`);
    assert.equal(d.afterReturn.failed, 0, `no failure after its return: ${JSON.stringify(d.afterReturn.errors)}`);
    passed++;
  });

  test('a UEFI blade (OVMF PXE) boots syslinux.efi: size probe at INFO, its own DHCP told apart from Linux\'s, ready, in the pool', { timeout: 300_000 }, async (t) => {
    const booted = await bootUefiBlade(t, lab, passed);
    if (!booted) return;
    const { b, dhcp } = booted;
    assert.ok(dhcp.some((d) => d.kind === 'dhcp.ack' && d.client === 'pxe-firmware' && d.firmware === 'efi64' && d.bootFile === 'syslinux.efi'), JSON.stringify(dhcp));
    assert.ok(dhcp.some((d) => d.kind === 'dhcp.ack' && d.client === 'syslinux' && d.firmware === 'efi64' && d.bootFile === 'syslinux.efi'), `syslinux.efi's own DHCP: ${JSON.stringify(dhcp)}`);
    const tftp = tftpSent(b.events);
    for (const f of ['syslinux.efi', 'ldlinux.e64', 'pxelinux.cfg/01-52-54-00-00-0a-03', 'boot/blade3/kernel', 'boot/blade3/initrd']) assert.ok(tftp.includes(f), `${f} over TFTP (${tftp.join(', ')})`);
    // UEFI PXE asks for syslinux.efi's size first and aborts: a probe, not a failure.
    assert.ok(b.events.some((e) => e.kind === 'tftp.probe' && e.detail.file === 'syslinux.efi'), 'a tftp.probe of syslinux.efi');
    assert.ok(!b.events.some((e) => e.kind === 'tftp.failed' && e.detail.outcome === 'client-error'), 'no tftp.failed client-error');
    const warned = readFileSync(lab!.rb!.logFile, 'utf8').split('\n').filter((l) => /"level":40| WARN /.test(l) && /User aborted/.test(l));
    assert.deepEqual(warned, [], 'no WARN for the size probe');
    passed++;
  });
});

describe('lab: the same cluster with iPXE, kernel and RAM disk over HTTP', { concurrency: 1 }, () => {
  let lab: Lab | undefined;
  let passed = 0;
  before(async () => {
    if (!canRun()) return;
    // blade3 is a UEFI machine that boots by UEFI HTTP boot, registered with loader pxelinux (node over group):
    // syslinux.efi cannot run from HTTP boot, so it gets ipxe.efi, which boots its kernel.
    lab = await Lab.start(opts({ blades: 3, loader: 'ipxe', bladeOverrides: { blade3: { firmware: 'uefi', httpBoot: true, loader: 'pxelinux' } } }), ensureKernel(log));
  });
  after(async () => {
    if (passed === 2) lab?.succeeded();
    await lab?.close();
  });

  test('two blades boot over HTTP, join the pool and serve the shared page', { timeout: 300_000 }, async (t) => {
    if (!requireLab(t, NEEDS)) return;
    const boots = await lab!.bootAll(['blade1', 'blade2']);
    for (const b of boots) {
      showBoot(b);
      checkBoot(lab!, b, 'ipxe');
      // The NIC ROM is iPXE: rackboot's router advertisement ended its IPv6 wait.
      assert.ok(b.events.some((e) => e.kind === 'ra.sent' && e.mac === lab0mac(b)), `${b.name}: a router advertisement answered its ROM`);
    }
    const s = summarize(await lab!.probe(3, { concurrency: 2 }).done);
    assert.equal(s.failed, 0, `no failures: ${JSON.stringify(s.errors)}`);
    assert.deepEqual(Object.keys(s.bodies), [lab!.page!.sha]);
    assert.deepEqual(Object.keys(s.byBlade).sort(), ['blade1', 'blade2']);
    passed++;
  });

  test('a UEFI HTTP-boot blade of a pxelinux node gets ipxe.efi (said in the event and once in the log), boots over HTTP, is ready, in the pool', { timeout: 300_000 }, async (t) => {
    const booted = await bootUefiBlade(t, lab, passed);
    if (!booted) return;
    const { b, dhcp } = booted;
    const fw = dhcp.find((d) => d.kind === 'dhcp.ack' && d.client === 'http-firmware');
    assert.ok(fw, JSON.stringify(dhcp));
    assert.equal(fw.firmware, 'efi-http');
    assert.equal(fw.bootFile, 'http://10.0.0.1:8080/boot/files/ipxe.efi');
    assert.match(JSON.stringify(fw.standIn), /syslinux\.efi cannot run from UEFI HTTP boot/);
    assert.ok(dhcp.some((d) => d.kind === 'dhcp.ack' && d.client === 'ipxe' && d.bootFile === 'http://10.0.0.1:8080/boot/ipxe/52:54:00:00:0a:03'), JSON.stringify(dhcp));
    const http = files(b.events, 'http.get');
    for (const f of ['ipxe.efi', 'boot/ipxe/52:54:00:00:0a:03', 'boot/blade3/kernel', 'boot/blade3/initrd']) assert.ok(http.includes(f), `${f} over HTTP (${http.join(', ')})`);
    assert.deepEqual(tftpSent(b.events), [], 'nothing over TFTP');
    const warns = readFileSync(lab!.rb!.logFile, 'utf8').split('\n').filter((l) => /"level":40| WARN /.test(l) && /blade3 .*said once per node/.test(l));
    assert.equal(warns.length, 1, `one WARN for blade3: ${warns.join('\n')}`);
    passed++;
  });
});
