// `npm run lab`: the paper's cluster booted for real. This module runs one
// lab and returns what it saw; cli.ts prints it, lab.test.ts checks it,
// bench/boot times it.
import { ensureKernel, type Kernel } from './kernel.js';
import { buildReferenceInitrd } from './refinitrd.js';
import { DnsmasqReference } from './dnsmasq.js';
import { LabRun } from './run.js';
import { BladeVm } from './vm.js';
import { firstMilestones, type SerialEvent } from './serial.js';

export type LabServer = 'rackboot' | 'dnsmasq';
export type LabLoader = 'pxelinux' | 'ipxe';

export interface LabOptions {
  blades: number;
  server: LabServer;
  loader: LabLoader;
  /** Seconds each blade may take from power-on to its up marker. */
  bootTimeout: number;
  /** Echo the blades' consoles. */
  verbose: boolean;
  keepWorkDir: boolean;
  log: (line: string) => void;
}

export const DEFAULT_OPTIONS: LabOptions = {
  blades: 2,
  server: 'rackboot',
  loader: 'pxelinux',
  bootTimeout: 240,
  verbose: false,
  keepWorkDir: false,
  log: (l) => console.log(l),
};

export interface BladeBoot {
  name: string;
  /** Seconds from power-on to the blade being up (reference: both NICs addressed). */
  upAfter: number;
  serial: SerialEvent[];
}

export interface LabResult {
  id: string;
  server: LabServer;
  loader: LabLoader;
  kernel: string;
  boots: BladeBoot[];
  workDir: string;
}

/** The console line by which a blade booted from the reference RAM disk says it is up. */
const REFERENCE_UP = /^rblab: up$/;

export async function runReferenceBoot(opts: LabOptions, kernel?: Kernel): Promise<LabResult> {
  const k = kernel ?? ensureKernel(opts.log);
  const run = new LabRun({ blades: opts.blades });
  let ok = false;
  try {
    run.build();
    const initrd = buildReferenceInitrd(k, run.workDir);
    const ref = new DnsmasqReference({ directorNs: run.topo.director, workDir: run.workDir, blades: run.topo.blades, files: { kernel: k.vmlinuz, initrd } });
    await ref.start();
    run.onClose('dnsmasq', () => ref.stop());
    const vms = run.topo.blades.map(
      (b) => new BladeVm({ fabricNs: run.topo.fabric, blade: b, logDir: run.workDir, echo: opts.verbose ? opts.log : undefined }),
    );
    for (const vm of vms) run.onClose(vm.name, () => vm.kill());
    for (const vm of vms) vm.powerOn();
    const boots = await Promise.all(
      vms.map(async (vm) => {
        const up = await vm.waitForLine(REFERENCE_UP, opts.bootTimeout * 1000);
        return { name: vm.name, upAfter: up.t, serial: firstMilestones(vm.events) };
      }),
    );
    ok = true;
    return { id: run.topo.id, server: 'dnsmasq', loader: 'pxelinux', kernel: k.version, boots, workDir: run.workDir };
  } finally {
    await run.close({ keepWorkDir: opts.keepWorkDir || !ok });
    if (!ok) opts.log(`lab: logs kept in ${run.workDir}`);
  }
}
