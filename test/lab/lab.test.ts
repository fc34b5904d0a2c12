// The lab in `npm test`: real blades (QEMU, TCG) booting from the network in
// namespaces. Root and the LAB.md packages are needed; outside CI without
// them the tests skip with the reason, in CI they must run.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { requireLab } from '../helpers/env.js';
import { DEFAULT_OPTIONS, runLab, type LabOptions } from './lab.js';
import { buildTimeline, formatTimeline, phaseTimes } from './timeline.js';
import { ensureKernel } from './kernel.js';

const TOOLS = ['qemu-system-x86_64', 'dnsmasq', 'ip', 'cpio', 'busybox', 'apt-get', 'dpkg', 'depmod'];
const log = (l: string) => console.log(`# ${l}`);
const opts = (o: Partial<LabOptions>): LabOptions => ({ ...DEFAULT_OPTIONS, log, bootTimeout: 180, ...o });

describe('lab: blades boot from the network in QEMU', { concurrency: 1 }, () => {
  test("rackboot's TFTP boots two blades (PXELINUX, kernel, RAM disk) with the reference's DHCP", { timeout: 300_000 }, async (t) => {
    if (!requireLab(t, { root: true, commands: TOOLS })) return;
    const kernel = ensureKernel(log);
    const r = await runLab(opts({ server: 'rackboot-tftp', blades: 2 }), kernel);
    for (const b of r.boots) {
      const rows = buildTimeline({ poweredOnAt: b.poweredOnAt, events: b.events, serial: b.serial, notes: b.notes, macNames: b.macNames });
      log(formatTimeline(`${b.name}: up after ${b.upAfter.toFixed(1)} s`, rows).replace(/\n/g, '\n# '));
      const p = phaseTimes(rows);
      // rackboot's own record of the boot: the loader, the config, the kernel and the RAM disk it sent.
      const files = b.events.filter((e) => e.kind === 'tftp.transfer').map((e) => String(e.detail.file));
      for (const f of ['pxelinux.0', 'ldlinux.c32', 'pxelinux.cfg/default', 'vmlinuz', 'initrd.img']) assert.ok(files.includes(f), `${b.name}: rackboot sent ${f} (sent: ${files.join(', ')})`);
      assert.ok(p.loader! < p.kernel! && p.kernel! < p.initrd! && p.initrd! < p.linux!, `${b.name}: steps in boot order`);
      assert.ok(b.notes.some((n) => n.line === `rblab: eth0 ${b.name === 'blade1' ? '10.0.0.11' : '10.0.0.12'}/24`), `${b.name}: eth0 addressed`);
    }
  });
});
