// `npm run lab`: the paper's cluster booted for real. This module runs one
// lab and returns what it saw; cli.ts prints it, lab.test.ts checks it,
// bench/boot times it.
//
// Servers:
//   rackboot       rackboot does everything (DHCP, TFTP/HTTP, images, NFS, director)
//   dnsmasq        the reference: dnsmasq's DHCP + TFTP boot the same kernel and RAM disk
//   rackboot-tftp  dnsmasq's DHCP, rackboot's TFTP: the TFTP servers compared alone
import { join } from 'node:path';
import { ensureKernel, type Kernel } from './kernel.js';
import { buildReferenceInitrd } from './refinitrd.js';
import { DnsmasqReference, writeReferenceTftpRoot } from './dnsmasq.js';
import { LabRun } from './run.js';
import { BladeVm } from './vm.js';
import { firstMilestones, type SerialEvent } from './serial.js';
import { RackbootDirector } from './rackboot.js';
import { CONSOLE_NOTES, type EventView } from './timeline.js';
import type { BladeAddr } from './topology.js';

/** The node body rackboot's REST API takes for a blade: both NICs, both addresses. */
export function nodeBody(b: BladeAddr, group: string | null = 'web'): Record<string, unknown> {
  return {
    name: b.name,
    ...(group ? { group } : {}),
    interfaces: [
      { name: 'eth0', mac: b.macs[0], network: 'inside', ipv4: b.ipv4[0] },
      { name: 'eth1', mac: b.macs[1], network: 'inside2', ipv4: b.ipv4[1] },
    ],
  };
}

function notesOf(vm: BladeVm): Array<{ t: number; line: string }> {
  return vm.lines.filter((l) => CONSOLE_NOTES.some(([re]) => re.test(l.line)));
}

function macNames(b: BladeAddr): Map<string, string> {
  return new Map([
    [b.macs[0], 'eth0'],
    [b.macs[1], 'eth1'],
  ]);
}

export type LabServer = 'rackboot' | 'dnsmasq' | 'rackboot-tftp';
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
  /** Seconds from power-on to the blade being up (reference RAM disk: both NICs addressed; rackboot: ready reported). */
  upAfter: number;
  serial: SerialEvent[];
  /** The node's timeline from rackboot's API (empty for the dnsmasq reference). */
  events: EventView[];
  /** Console lines the timeline shows (the init's own words). */
  notes: Array<{ t: number; line: string }>;
  poweredOnAt: number;
  macNames: Map<string, string>;
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

export async function runLab(opts: LabOptions, kernel?: Kernel): Promise<LabResult> {
  const k = kernel ?? ensureKernel(opts.log);
  const run = new LabRun({ blades: opts.blades });
  let ok = false;
  try {
    run.build();
    opts.log(`lab ${run.topo.id}: ${opts.blades} blade(s), server ${opts.server}, loader ${opts.loader}, work dir ${run.workDir}`);
    const vms = run.topo.blades.map(
      (b) => new BladeVm({ fabricNs: run.topo.fabric, blade: b, logDir: run.workDir, echo: opts.verbose ? opts.log : undefined }),
    );
    let rb: RackbootDirector | undefined;
    if (opts.server === 'dnsmasq' || opts.server === 'rackboot-tftp') {
      const initrd = buildReferenceInitrd(k, run.workDir);
      const files = { kernel: k.vmlinuz, initrd };
      if (opts.server === 'rackboot-tftp') {
        rb = new RackbootDirector({ directorNs: run.topo.director, workDir: run.workDir, config: { disable: ['dhcp', 'nfs', 'director'] } });
        // Static files in tftp.root, laid out as for dnsmasq (pxelinux.0 and ldlinux.c32 included).
        writeReferenceTftpRoot(join(run.workDir, 'tftpboot'), files);
        run.onClose('rackboot', () => rb!.stop());
        await rb.start();
        for (const b of run.topo.blades) await rb.api.call('POST', '/nodes', nodeBody(b, null));
      }
      const ref = new DnsmasqReference({ directorNs: run.topo.director, workDir: run.workDir, blades: run.topo.blades, files, dhcpOnly: opts.server === 'rackboot-tftp' });
      run.onClose('dnsmasq', () => ref.stop());
      await ref.start();
    } else {
      throw new Error('rackboot mode: DHCP, templates, images and director have not landed in main yet');
    }
    for (const vm of vms) run.onClose(vm.name, () => vm.kill());
    for (const vm of vms) vm.powerOn();
    const boots = await Promise.all(
      vms.map(async (vm): Promise<BladeBoot> => {
        const up = await vm.waitForLine(REFERENCE_UP, opts.bootTimeout * 1000);
        return {
          name: vm.name,
          upAfter: up.t,
          serial: firstMilestones(vm.events),
          events: [],
          notes: notesOf(vm),
          poweredOnAt: vm.poweredOnAt,
          macNames: macNames(vm.opts.blade),
        };
      }),
    );
    if (rb) {
      for (const b of boots) b.events = await rb.api.call<EventView[]>('GET', `/nodes/${b.name}/events`).catch(() => []);
    }
    ok = true;
    return { id: run.topo.id, server: opts.server, loader: opts.loader, kernel: k.version, boots, workDir: run.workDir };
  } finally {
    await run.close({ keepWorkDir: opts.keepWorkDir || !ok });
    if (!ok) opts.log(`lab: logs kept in ${run.workDir}`);
  }
}

