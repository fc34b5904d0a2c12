// The lab in `npm test`: real blades (QEMU, TCG) booting from the network in
// namespaces, behind rackboot's director. Root and the LAB.md packages are
// needed; outside CI without them the tests skip with the reason, in CI they
// must run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { requireLab } from '../helpers/env.js';
import { DEFAULT_OPTIONS, Lab, type BladeBoot, type LabOptions } from './lab.js';
import { formatDrill, formatTimeline, phaseTimes } from './timeline.js';
import { ensureKernel, type Kernel } from './kernel.js';
import { summarize } from './load.js';

const TOOLS = ['qemu-system-x86_64', 'dnsmasq', 'ip', 'cpio', 'busybox', 'apt-get', 'dpkg', 'depmod', 'wrk', 'nft'];
const log = (l: string) => console.log(`# ${l.replace(/\n/g, '\n# ')}`);
const opts = (o: Partial<LabOptions>): LabOptions => ({ ...DEFAULT_OPTIONS, log, bootTimeout: 150, ...o });

function showBoot(b: BladeBoot): void {
  log(formatTimeline(`${b.name}: up after ${b.upAfter.toFixed(1)} s, in the pool after ${b.poolAfter?.toFixed(1)} s`, b.rows));
}

describe("lab: two blades boot from rackboot (DHCP, TFTP) and serve behind its director", { concurrency: 1 }, () => {
  let lab: Lab | undefined;
  let kernel: Kernel;
  let boots: BladeBoot[] = [];
  let skip = false;

  before(async () => {
    // requireLab needs a test context: checked in the first test; start here only when it will pass.
    if (process.getuid?.() !== 0) return;
    kernel = ensureKernel(log);
    lab = await Lab.start(opts({ server: 'rackboot', image: 'busybox', blades: 2 }), kernel);
  });
  let passed = 0;
  after(async () => {
    // Logs and consoles are kept (and their directory printed) unless every test passed.
    if (passed === 3) lab?.succeeded();
    await lab?.close();
  });

  test('both blades boot (DHCP on both NICs; loader, config, kernel, RAM disk over TFTP) and join the pool', { timeout: 240_000 }, async (t) => {
    if (!requireLab(t, { root: true, commands: TOOLS })) return void (skip = true);
    boots = await lab!.bootAll();
    for (const b of boots) {
      showBoot(b);
      const files = b.events.filter((e) => e.kind === 'tftp.transfer').map((e) => String(e.detail.file));
      const mac = lab!.vm(b.name).opts.blade.macs[0].replaceAll(':', '-');
      for (const f of ['pxelinux.0', 'ldlinux.c32', `pxelinux.cfg/01-${mac}`, 'vmlinuz', 'initrd.img']) assert.ok(files.includes(f), `${b.name}: rackboot sent ${f} (sent: ${files.join(', ')})`);
      // Both NICs got their registered addresses from rackboot's DHCP: the ROM on eth0, Linux on eth0 and eth1.
      const acks = b.events.filter((e) => e.kind === 'dhcp.ack').map((e) => `${e.mac} ${String(e.detail.address)}`);
      const blade = lab!.vm(b.name).opts.blade;
      for (const i of [0, 1]) assert.ok(acks.includes(`${blade.macs[i]} ${blade.ipv4[i]}`), `${b.name}: DHCP ack for eth${i} (${acks.join(', ')})`);
      const p = phaseTimes(b.rows);
      assert.ok(p.loader! < p.kernel! && p.kernel! < p.initrd! && p.initrd! < p.linux!, `${b.name}: steps in boot order`);
      assert.ok(p.pool !== undefined && p.pool > p.linux!, `${b.name}: in the pool after it booted`);
      assert.ok(b.events.some((e) => e.kind === 'director.up'), `${b.name}: director.up on its timeline`);
    }
    passed++;
  });

  test('every request through the VIP is answered, by both blades', { timeout: 60_000 }, async (t) => {
    if (skip || !requireLab(t, { root: true, commands: TOOLS })) return;
    const p = lab!.probe(5, { concurrency: 2 });
    const s = summarize(await p.done);
    log(`probe: ${s.ok}/${s.requests} ok, by blade ${JSON.stringify(s.byBlade)}`);
    assert.ok(s.requests >= 20, `enough requests (${s.requests})`);
    assert.equal(s.failed, 0, `no failures: ${JSON.stringify(s.errors)}`);
    assert.deepEqual(Object.keys(s.byBlade).sort(), ['blade1', 'blade2']);
    passed++;
  });

  test('failure drill: a killed blade leaves the pool, no request fails after that, it boots again and returns', { timeout: 300_000 }, async (t) => {
    if (skip || !requireLab(t, { root: true, commands: TOOLS })) return;
    const d = await lab!.drill('blade2');
    log(formatDrill(d));
    showBoot(d.reboot);
    assert.ok(d.detectionMs < 10_000, `dropped within the detection window (${d.detectionMs} ms)`);
    assert.ok(d.afterDrop.requests >= 20, `requests after the drop (${d.afterDrop.requests})`);
    assert.equal(d.afterDrop.failed, 0, `no failure after the drop: ${JSON.stringify(d.afterDrop.errors)}`);
    assert.deepEqual(Object.keys(d.afterDrop.byBlade), ['blade1'], 'only blade1 answers while blade2 is down');
    assert.ok((d.afterReturn.byBlade.blade2 ?? 0) > 0, `blade2 serves again after its return (${JSON.stringify(d.afterReturn.byBlade)})`);
    assert.equal(d.afterReturn.failed, 0, `no failure after its return: ${JSON.stringify(d.afterReturn.errors)}`);
    passed++;
  });
});
