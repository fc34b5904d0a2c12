// `npm run lab`: the paper's cluster booted for real. A Lab is one running
// cluster (topology, boot server, blades) with the steps the CLI, the tests
// and the benchmarks compose: boot, wait for the pool, load, kill a blade,
// power it on again, read timelines, close.
//
// Servers:
//   rackboot       rackboot does everything (DHCP, TFTP/HTTP, images, NFS, director)
//   dnsmasq        the reference: dnsmasq's DHCP + TFTP; no director (nothing
//                  balances the blades)
//   rackboot-tftp  dnsmasq's DHCP, rackboot's TFTP and director
// Images:
//   web-blade      rackboot's shipped image, built through its API (rackboot only)
//   busybox        the lab's small RAM disk (refinitrd.ts), laid out as static
//                  files in the TFTP root with a static PXELINUX config: the
//                  same files for every server, so their boots compare
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureKernel, type Kernel } from './kernel.js';
import { buildReferenceInitrd } from './refinitrd.js';
import { DnsmasqReference, writeReferenceTftpRoot } from './dnsmasq.js';
import { LabRun } from './run.js';
import { BladeVm, FATAL_CONSOLE } from './vm.js';
import { tarOf, writeSitePage } from './site.js';
import { firstMilestones, type SerialEvent } from './serial.js';
import { API_PORT, RACKBOOT_MAIN, RackbootDirector } from './rackboot.js';
import { buildTimeline, CONSOLE_NOTES, type EventView, type TimelineRow } from './timeline.js';
import { ADDR, type BladeAddr } from './topology.js';
import { runWrk, startProbe, summarize, type ProbeSummary, type WrkResult } from './load.js';
import type { ProbeRecord } from './probe.js';
import { BmcBladeVm, registerBmcs, startBmcs } from './bmc.js';
import { watchBoot } from './progress.js';
import { BIOS, describeFirmware, missingFirmware, type BladeFirmware } from './firmware.js';
import { sh } from '../helpers/netns.js';

export type LabServer = 'rackboot' | 'dnsmasq' | 'rackboot-tftp';
export type LabLoader = 'pxelinux' | 'ipxe' | 'grub';
/** bios: SeaBIOS with iPXE ROMs; uefi: OVMF's own network boot; mixed: odd blades BIOS, even blades UEFI. */
export type LabFirmwareChoice = 'bios' | 'uefi' | 'mixed';
export type LabImage = 'web-blade' | 'busybox';

export interface LabOptions {
  blades: number;
  server: LabServer;
  loader: LabLoader;
  image: LabImage;
  /** Seconds each blade may take from power-on to up (and into the pool). */
  bootTimeout: number;
  firmware: LabFirmwareChoice;
  /** UEFI blades boot by UEFI HTTP boot instead of PXE. */
  httpBoot: boolean;
  /** UEFI blades have Secure Boot on; rackboot's dhcp.secureBoot is on. */
  secureBoot: boolean;
  /** Per blade (by name): its firmware instead of the run's, and a loader of its own (node over group). */
  bladeOverrides?: Record<string, Partial<BladeFirmware> & { loader?: LabLoader }>;
  /** rackboot answers IPv6 router solicitations (dhcp.routerAdvertisements; off: iPXE waits ~16 s, as before issue 17). */
  routerAdvertisements: boolean;
  /** Seconds of wrk through the VIP (0: no load test). */
  loadSeconds: number;
  /** Boot files for the static (busybox) layout instead of the lab's busybox RAM disk. */
  referenceFiles?: { kernel: string; initrd: string; cmdline?: string };
  /** The console line that says a blade booted from referenceFiles is up (default: the busybox RAM disk's). */
  upLine?: RegExp;
  /** Keep the cluster running at the end (or on failure) until Ctrl-C. */
  hold: boolean;
  /** Run the failure drill on the last blade after the load test. */
  drill: boolean;
  /**
   * Give each blade a BMC (ipmi_sim) and power it through rackboot's API
   * (rackboot servers only); otherwise the lab starts QEMU itself.
   */
  bmc: boolean;
  /** Echo the blades' consoles. */
  verbose: boolean;
  keepWorkDir: boolean;
  log: (line: string) => void;
}

export const DEFAULT_OPTIONS: LabOptions = {
  blades: 2,
  server: 'rackboot',
  loader: 'pxelinux',
  image: 'web-blade',
  bootTimeout: 240,
  firmware: 'bios',
  httpBoot: false,
  secureBoot: false,
  routerAdvertisements: true,
  loadSeconds: 10,
  drill: false,
  bmc: false,
  hold: false,
  verbose: false,
  keepWorkDir: false,
  log: (l) => console.log(l),
};

export interface BladeBoot {
  name: string;
  /** Seconds from power-on to up: ready reported (rackboot), or the reference RAM disk's "rblab: up". */
  upAfter: number;
  /** Seconds from power-on to the director's pool; undefined without a director. */
  poolAfter?: number;
  serial: SerialEvent[];
  /** The node's timeline from rackboot's API (empty for the dnsmasq reference). */
  events: EventView[];
  /** Console lines the timeline shows (the init's own words). */
  notes: Array<{ t: number; line: string }>;
  poweredOnAt: number;
  macNames: Map<string, string>;
  rows: TimelineRow[];
}

/** The node body rackboot's REST API takes for a blade: both NICs, both addresses. */
export function nodeBody(b: BladeAddr, group: string | null = 'web', loader?: LabLoader): Record<string, unknown> {
  return {
    name: b.name,
    ...(group ? { group } : {}),
    ...(loader ? { loader } : {}),
    interfaces: [
      { name: 'eth0', mac: b.macs[0], network: 'inside', ipv4: b.ipv4[0] },
      { name: 'eth1', mac: b.macs[1], network: 'inside2', ipv4: b.ipv4[1] },
    ],
  };
}

/** The console line by which a blade booted from the reference RAM disk says it is up. */
const REFERENCE_UP = /^rblab: up$/;

/** Per-request deadline of the failure drill's probe. */
export const DRILL_TIMEOUT_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A blade's firmware: the run's choice (mixed: blade1 BIOS, blade2 UEFI, ...), then its own override. */
export function bladeFirmware(opts: Pick<LabOptions, 'firmware' | 'httpBoot' | 'secureBoot' | 'bladeOverrides'>, b: BladeAddr): BladeFirmware {
  const uefi = opts.firmware === 'uefi' || (opts.firmware === 'mixed' && b.index % 2 === 1);
  const base: BladeFirmware = uefi ? { firmware: 'uefi', httpBoot: opts.httpBoot, secureBoot: opts.secureBoot } : BIOS;
  const { loader: _loader, ...own } = opts.bladeOverrides?.[b.name] ?? {};
  const f = { ...base, ...own };
  return f.firmware === 'bios' ? BIOS : f;
}

/** The loaders the run's nodes use (the group's, and blades' own). */
function loadersInUse(opts: LabOptions): LabLoader[] {
  return [...new Set([opts.loader, ...Object.values(opts.bladeOverrides ?? {}).map((o) => o.loader).filter((l): l is LabLoader => !!l)])];
}

/**
 * GRUB's netboot directory in tftp.root, as docs/boot-flow.md tells an operator
 * (grub-mknetdir, and core.efi as grubx64.efi for UEFI PXE). UEFI HTTP boot and
 * Secure Boot need none of it: rackboot makes the HTTP image, and the signed
 * GRUB has its modules built in.
 */
function grubNetdir(tftpRoot: string): void {
  sh('grub-mknetdir', [`--net-directory=${tftpRoot}`, '--subdir=grub'], { timeoutMs: 120_000 });
  copyFileSync(join(tftpRoot, 'grub', 'x86_64-efi', 'core.efi'), join(tftpRoot, 'grubx64.efi'));
}

export class Lab {
  readonly run: LabRun;
  readonly vms: BladeVm[];
  rb: RackbootDirector | undefined;
  kernel!: Kernel;
  private ok = false;

  private constructor(readonly opts: LabOptions) {
    this.run = new LabRun({ blades: opts.blades });
    this.vms = this.run.topo.blades.map((b) => {
      const o = { fabricNs: this.run.topo.fabric, blade: b, logDir: this.run.workDir, firmware: bladeFirmware(opts, b), echo: opts.verbose ? opts.log : undefined };
      // A BMC blade's QEMU is started by ipmi_sim with BIOS arguments: OVMF's code and vars are not wired there.
      return opts.bmc && o.firmware.firmware === 'bios' ? new BmcBladeVm(o, b.index) : new BladeVm(o);
    });
  }

  /** The blades behind a BMC (all of them with opts.bmc, else none). */
  private get bmcVms(): BmcBladeVm[] {
    return this.vms.filter((v): v is BmcBladeVm => v instanceof BmcBladeVm);
  }

  get id(): string {
    return this.run.topo.id;
  }

  get workDir(): string {
    return this.run.workDir;
  }

  get vipUrl(): string {
    return `http://${ADDR.vip}/`;
  }

  vm(name: string): BladeVm {
    const v = this.vms.find((x) => x.name === name);
    if (!v) throw new Error(`no blade ${name}`);
    return v;
  }

  /** Builds the network and starts the boot server; the blades are still off. */
  static async start(opts: LabOptions, kernel?: Kernel): Promise<Lab> {
    const lab = new Lab(opts);
    try {
      lab.kernel = kernel ?? ensureKernel(opts.log);
      lab.run.build();
      const fws = [...new Set(lab.vms.map((v) => describeFirmware(v.opts.firmware ?? BIOS)))].join(' + ');
      opts.log(`lab ${lab.id}: ${opts.blades} blade(s), ${fws}, server ${opts.server}, loader ${opts.loader}, work dir ${lab.workDir}`);
      const missing = [...new Set(lab.vms.flatMap((v) => missingFirmware(v.opts.firmware ?? BIOS)))];
      if (missing.length) throw new Error(`UEFI blades need ${missing.join(', ')} (Debian package ovmf)`);
      if (opts.bmc && opts.server === 'dnsmasq') throw new Error('--server dnsmasq has no API to power blades through: BMCs need rackboot (drop --bmc)');
      const noBmc = opts.bmc ? lab.vms.filter((v) => !(v instanceof BmcBladeVm)).map((v) => v.name) : [];
      if (noBmc.length) opts.log(`no BMC for the UEFI blade(s) ${noBmc.join(', ')}: ipmi_sim starts QEMU with BIOS arguments (test/lab/bmc.ts); the lab starts them itself`);
      for (const vm of lab.vms) lab.run.onClose(vm.name, () => vm.kill());
      if (lab.bmcVms.length) {
        lab.run.onClose('bmcs', () => Promise.all(lab.bmcVms.map((v) => v.close())).then(() => undefined));
        await startBmcs(lab.run.topo, lab.bmcVms);
        opts.log(`BMCs: ipmi_sim for ${lab.bmcVms.map((v) => `${v.name} at ${v.bmc.o.address}`).join(', ')}`);
      }
      await lab.startServer();
      return lab;
    } catch (e) {
      await lab.close();
      throw e;
    }
  }

  private async startServer(): Promise<void> {
    const { opts, run } = this;
    if (opts.server !== 'rackboot' && opts.image !== 'busybox') throw new Error(`--server ${opts.server} boots the busybox image only`);
    // rackboot's iPXE script boots the node's image; the busybox layout is static TFTP files, no image.
    if (opts.image === 'busybox' && opts.loader !== 'pxelinux') throw new Error('--image busybox boots with PXELINUX over TFTP only (iPXE/HTTP boots an image: --image web-blade)');
    const uefi = this.vms.some((v) => v.opts.firmware?.firmware === 'uefi');
    if (opts.image === 'busybox' && (uefi || opts.server !== 'rackboot' && loadersInUse(opts).length > 1)) {
      throw new Error('UEFI blades and per-blade loaders boot the web-blade image with rackboot only (--image web-blade)');
    }
    if (opts.image === 'web-blade') return this.startWebBlade();
    // The same files for every server: the lab's busybox RAM disk, or files given (bench/boot hands the
    // dnsmasq reference rackboot's own web-blade kernel and RAM disk).
    const files = opts.referenceFiles ?? { kernel: this.kernel.vmlinuz, initrd: buildReferenceInitrd(this.kernel, run.workDir) };
    if (opts.server === 'rackboot' || opts.server === 'rackboot-tftp') {
      const rb = new RackbootDirector({
        directorNs: run.topo.director,
        workDir: run.workDir,
        config: { disable: opts.server === 'rackboot-tftp' ? ['dhcp', 'nfs'] : opts.image === 'busybox' ? ['nfs'] : [], dhcp: this.dhcpConfig() },
      });
      this.rb = rb;
      // Static files in tftp.root, laid out as for dnsmasq (pxelinux.0 and ldlinux.c32 included),
      // plus the per-MAC config names rackboot's DHCP points PXELINUX at (option 209).
      writeReferenceTftpRoot(join(run.workDir, 'tftpboot'), files, run.topo.blades.map((b) => b.macs[0]));
      run.onClose('rackboot', () => rb.stop());
      await rb.start();
      await rb.api.call('POST', '/groups', { name: 'web', loader: opts.loader });
      for (const b of run.topo.blades) await rb.api.call('POST', '/nodes', nodeBody(b));
      await registerBmcs(rb.api, 'web', this.bmcVms);
    }
    if (opts.server === 'dnsmasq' || opts.server === 'rackboot-tftp') {
      const ref = new DnsmasqReference({ directorNs: run.topo.director, workDir: run.workDir, blades: run.topo.blades, files, dhcpOnly: opts.server === 'rackboot-tftp' });
      run.onClose('dnsmasq', () => ref.stop());
      await ref.start();
    }
  }

  /** The dhcp keys this run sets: router advertisements, Secure Boot. */
  private dhcpConfig(): { routerAdvertisements: boolean; secureBoot: boolean } {
    return { routerAdvertisements: this.opts.routerAdvertisements, secureBoot: this.vms.some((v) => v.opts.firmware?.secureBoot) };
  }

  /**
   * rackboot as the paper's director, set up through its API and CLI only:
   * the blades registered (one REST call each, both MACs), the web-blade
   * image built (`rackboot image build`), the shared page synced into the
   * NFS export (a tar to the content API).
   */
  private async startWebBlade(): Promise<void> {
    const { opts, run } = this;
    const rb = new RackbootDirector({ directorNs: run.topo.director, workDir: run.workDir, config: { dhcp: this.dhcpConfig() } });
    this.rb = rb;
    run.onClose('rackboot', () => rb.stop());
    rb.writeConfig();
    if (loadersInUse(opts).includes('grub')) grubNetdir(join(run.workDir, 'tftpboot'));
    await rb.start();
    // Under Secure Boot the kernel says so at KERN_INFO ("secureboot: Secure boot enabled"): loglevel 7 puts it on the console.
    const vars = this.dhcpConfig().secureBoot ? { vars: { kernelArgs: 'loglevel=7' } } : {};
    await rb.api.call('POST', '/groups', { name: 'web', loader: opts.loader, image: 'web-blade', ...vars });
    for (const b of run.topo.blades) await rb.api.call('POST', '/nodes', nodeBody(b, 'web', opts.bladeOverrides?.[b.name]?.loader));
    await registerBmcs(rb.api, 'web', this.bmcVms);
    const t0 = Date.now();
    opts.log('image: building web-blade through the API (rackboot image build; a minute or two)');
    const build = await rb.cli(['image', 'build', 'web-blade'], 600_000);
    if (build.code !== 0) throw new Error(`rackboot image build web-blade failed (${build.code}):\n${(build.stderr + build.stdout).trim().split('\n').slice(-15).join('\n')}`);
    const img = await rb.api.call<{ current: string | null; versions: Array<{ version: string; initrdSize: number; kernelSize: number }> }>('GET', '/images/web-blade');
    const v = img.versions.find((x) => x.version === img.current);
    opts.log(`image web-blade ${img.current} built in ${((Date.now() - t0) / 1000).toFixed(1)} s (kernel ${((v?.kernelSize ?? 0) / 1048576).toFixed(1)} MiB, RAM disk ${((v?.initrdSize ?? 0) / 1048576).toFixed(1)} MiB)`);
    this.page = writeSitePage(join(run.workDir, 'site'), this.id);
    const tar = await tarOf(join(run.workDir, 'site'));
    const sync = await rb.api.call<{ release: string; files: number }>('POST', '/exports/www/content', tar, { 'content-type': 'application/x-tar' });
    opts.log(`content: release ${sync.release} (${sync.files} files) is live in export www`);
  }

  /**
   * A new page synced into the export while the blades serve (the operator's
   * `rackboot content sync`, as a tar to the content API). Returns when the
   * API says the new release is live; `this.page` is the new page.
   */
  async syncNewPage(tag: string): Promise<{ sha: string; at: number; release: string }> {
    if (!this.rb) throw new Error('syncNewPage: only with rackboot and the web-blade image');
    const dir = join(this.run.workDir, `site-${tag}`);
    const page = writeSitePage(dir, `${this.id}-${tag}`);
    const tar = await tarOf(dir);
    const at = Date.now();
    const sync = await this.rb.api.call<{ release: string; files: number }>('POST', '/exports/www/content', tar, { 'content-type': 'application/x-tar' });
    this.opts.log(`content: release ${sync.release} (${sync.files} files) is live in export www`);
    this.page = page;
    return { sha: page.sha, at, release: sync.release };
  }

  /** sha256 (16 hex) and text of the page every blade must serve from NFS (web-blade image). */
  page: { sha: string; text: string } | undefined;

  /** Powers a blade on (through rackboot's API and its BMC, with opts.bmc) and resolves when it is up (and in the pool, with a director). */
  async boot(name: string): Promise<BladeBoot> {
    const vm = this.vm(name);
    const since = Date.now();
    this.opts.log(`${name}: powering on${vm instanceof BmcBladeVm ? ' through its BMC' : ''}`);
    // Each boot stage as the blade's timeline reaches it (rackboot servers: the dnsmasq reference keeps no timeline).
    const watch = this.rb ? watchBoot(name, since, () => this.events(name), this.opts.log) : undefined;
    try {
      vm.powerOn();
      if (vm instanceof BmcBladeVm) await this.rb!.api.call('POST', `/nodes/${name}/power`, { action: 'on' });
      const up =
        this.opts.image === 'busybox' ? await vm.waitForLine(this.opts.upLine ?? REFERENCE_UP, this.opts.bootTimeout * 1000) : await this.waitReady(vm, this.opts.bootTimeout * 1000);
      if (!this.rb) this.opts.log(`${name}: up (+${up.t.toFixed(1)} s, its console says so)`);
      let poolAfter: number | undefined;
      if (this.rb) {
        const { at } = await this.waitInPool(name, true, Math.max(10_000, this.opts.bootTimeout * 1000 - (Date.now() - since)));
        poolAfter = (at - vm.poweredOnAt) / 1000;
      }
      return this.bootRecord(vm, up.t, poolAfter);
    } finally {
      await watch?.stop();
    }
  }

  /** Waits for the blade's own `ready` report on its timeline (after this power-on). */
  private async waitReady(vm: BladeVm, timeoutMs: number): Promise<{ t: number }> {
    const deadline = Date.now() + timeoutMs;
    const since = vm.poweredOnAt;
    for (;;) {
      const ready = (await this.events(vm.name)).find((e) => e.kind === 'ready' && e.ts >= since);
      if (ready) return { t: (ready.ts - since) / 1000 };
      if (!vm.running) throw new Error(`${vm.name} powered off before it reported ready; see ${vm.logFile}`);
      const fatal = vm.lines.find((l) => FATAL_CONSOLE.test(l.line));
      if (fatal) throw new Error(`${vm.name} cannot boot: console says '${fatal.line.trim()}' at ${fatal.t.toFixed(1)} s; see ${vm.logFile}`);
      if (Date.now() > deadline) throw new Error(`${vm.name} did not report ready within ${timeoutMs / 1000} s; see ${vm.logFile} and ${this.rb!.logFile}`);
      await sleep(500);
    }
  }

  /** Powers on every blade (or those named) at once. */
  async bootAll(names?: string[]): Promise<BladeBoot[]> {
    return Promise.all(this.vms.filter((vm) => !names || names.includes(vm.name)).map((vm) => this.boot(vm.name)));
  }

  private async bootRecord(vm: BladeVm, upAfter: number, poolAfter: number | undefined): Promise<BladeBoot> {
    const events = this.rb ? await this.events(vm.name) : [];
    const notes = vm.lines.filter((l) => CONSOLE_NOTES.some(([re]) => re.test(l.line)));
    const macNames = new Map([
      [vm.opts.blade.macs[0], 'eth0'],
      [vm.opts.blade.macs[1], 'eth1'],
    ]);
    const serial = firstMilestones(vm.events);
    const rows = buildTimeline({ poweredOnAt: vm.poweredOnAt, since: vm.poweredOnAt, events, serial, notes, macNames });
    return { name: vm.name, upAfter, poolAfter, serial, events, notes, poweredOnAt: vm.poweredOnAt, macNames, rows };
  }

  async events(name: string): Promise<EventView[]> {
    if (!this.rb) return [];
    return this.rb.api.call<EventView[]>('GET', `/nodes/${name}/events?limit=10000`).catch(() => this.rb!.api.call<EventView[]>('GET', `/nodes/${name}/events`));
  }

  /** The director's view of one blade: in the pool or not. */
  async inPool(name: string): Promise<boolean> {
    const d = await this.rb!.api.call<{ services: Array<{ realServers: Array<{ node: string | null; inPool: boolean }> }> }>('GET', '/director');
    return d.services.some((s) => s.realServers.some((r) => r.node === name && r.inPool));
  }

  /**
   * Waits until the director's rules have (or no longer have) the blade.
   * `at`: when the director decided (its director.up/down event; the poll's
   * time if there is none). `seenAt`: when this poll saw the change in the
   * rules (GET /director reports the applied pool), which is after the
   * nftables apply that follows the decision. Epoch ms.
   */
  async waitInPool(name: string, want: boolean, timeoutMs: number, pollMs = 250): Promise<{ at: number; seenAt: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if ((await this.inPool(name)) === want) {
        const seenAt = Date.now();
        const kind = want ? 'director.up' : 'director.down';
        const ev = (await this.events(name)).filter((e) => e.kind === kind).pop();
        return { at: ev && ev.ts > seenAt - 5000 ? ev.ts : seenAt, seenAt };
      }
      if (Date.now() > deadline) throw new Error(`${name} ${want ? 'did not join' : 'did not leave'} the director's pool within ${timeoutMs / 1000} s`);
      const vm = this.vm(name);
      if (want && !vm.running) throw new Error(`${name} powered off while waiting for the pool; see ${vm.logFile}`);
      await sleep(pollMs);
    }
  }

  /** Requests through the VIP from the outside namespace, one new connection each. */
  probe(seconds: number, o: { concurrency?: number; pauseMs?: number; timeoutMs?: number; onRecord?: (r: ProbeRecord) => void } = {}) {
    return startProbe(this.run.topo.outside, this.vipUrl, { seconds, ...o });
  }

  async load(seconds: number): Promise<{ wrk: WrkResult; spread: ProbeSummary }> {
    // wrk measures; the probe alongside (a few connections) records who answered what.
    const p = this.probe(seconds, { concurrency: 2 });
    const wrk = await runWrk(this.run.topo.outside, this.vipUrl, { seconds, threads: 2, connections: 16 });
    const spread = summarize(await p.done);
    return { wrk, spread };
  }

  /**
   * The failure drill: under a steady probe load, pull one blade's plug; the
   * director must drop it; requests that start after the drop (the director's
   * rules no longer have the blade) must all succeed; then power it on
   * again: it boots and returns to the pool and serves again.
   */
  async drill(name: string): Promise<DrillResult> {
    if (!this.rb) throw new Error('the failure drill needs the director (rackboot)');
    const windowSecs = this.opts.bootTimeout + 60;
    // 10 s per request: on a loaded 2-core host a TCG blade's SYN-ACK can take a retransmission or two
    // (1 s, then 3 s); a request that gets no answer in 10 s, or a reset, has failed.
    const log = (l: string) => this.opts.log(`drill: ${l}`);
    const probe = this.probe(windowSecs, { concurrency: 2, pauseMs: 20, timeoutMs: DRILL_TIMEOUT_MS });
    try {
      log(`probing ${this.vipUrl} from outside (2 connections); ${name} goes down in 3 s`);
      await sleep(3000);
      const killAt = Date.now();
      log(this.vm(name) instanceof BmcBladeVm ? `powering ${name} off through rackboot's API and its BMC` : `pulling ${name}'s plug (SIGKILL of its VM)`);
      await this.cut(name);
      // The drop is decided (director.down) just before the nftables apply: a request that starts in
      // between still goes to the dead blade. The window ends when the rules are seen without the blade
      // (polled every 50 ms), not at a guessed grace.
      const { at: dropAt, seenAt: appliedAt } = await this.waitInPool(name, false, 30_000, 50);
      log(`the director dropped ${name} ${((dropAt - killAt) / 1000).toFixed(1)} s after the cut (its rules without it at +${((appliedAt - killAt) / 1000).toFixed(1)} s); ${name} stays down 4 s`);
      await sleep(4000);
      const boot = await this.boot(name);
      const backAt = boot.poweredOnAt + (boot.poolAfter ?? boot.upAfter) * 1000;
      log(`${name} is back in the pool; probing until it has answered 5 requests (at most 15 s)`);
      // Keep probing until the returned blade has answered a few times (or 15 s).
      const until = Date.now() + 15_000;
      while (Date.now() < until && probe.records.filter((r) => r.at > backAt && r.ok && r.blade === name).length < 5) await sleep(250);
      probe.stop();
      const records = await probe.done;
      log(`done: ${records.length} request(s), ${records.filter((r) => !r.ok).length} failed`);
      return {
        blade: name,
        killAt,
        dropAt,
        appliedAt,
        detectionMs: dropAt - killAt,
        beforeKill: summarize(records, 0, killAt),
        window: summarize(records, killAt, appliedAt),
        afterDrop: summarize(records, appliedAt, backAt),
        afterReturn: summarize(records, backAt),
        failures: records.filter((r) => !r.ok).map((r) => ({ sinceKillMs: r.at - killAt, error: r.error ?? `HTTP ${r.status}`, ms: r.ms })),
        reboot: boot,
        cut: this.vm(name) instanceof BmcBladeVm ? 'bmc' : 'kill',
      };
    } finally {
      probe.stop();
    }
  }

  /** The drill's failure: a hard power off through rackboot's API and the BMC, or (no BMC) the plug pulled. */
  private async cut(name: string): Promise<void> {
    if (this.vm(name) instanceof BmcBladeVm) await this.rb!.api.call('POST', `/nodes/${name}/power`, { action: 'off' });
    else await this.kill(name);
  }

  /** Pulls a blade's plug; with awaitDrop, returns once the director has taken it out of the pool. */
  async kill(name: string, o: { awaitDrop?: boolean } = {}): Promise<void> {
    await this.vm(name).kill();
    if (o.awaitDrop && this.rb && (await this.inPool(name))) await this.waitInPool(name, false, 30_000);
  }

  succeeded(): void {
    this.ok = true;
  }

  async close(): Promise<void> {
    const keep = this.opts.keepWorkDir || !this.ok;
    await this.run.close({ keepWorkDir: keep });
    if (!this.ok) this.opts.log(`lab: logs kept in ${this.workDir}`);
  }
}

export interface DrillResult {
  blade: string;
  killAt: number;
  /** When the director decided to drop the blade (its director.down event). */
  dropAt: number;
  /** When its rules were seen without the blade (the nftables apply is done): the end of the window. */
  appliedAt: number;
  detectionMs: number;
  beforeKill: ProbeSummary;
  /** Requests that started from the kill until the drop was applied: these may fail. */
  window: ProbeSummary;
  /** Requests that started after the drop was applied until the blade returned: none may fail. */
  afterDrop: ProbeSummary;
  afterReturn: ProbeSummary;
  /** Every failed request: when it started relative to the kill, and why. */
  failures: Array<{ sinceKillMs: number; error: string; ms: number }>;
  reboot: BladeBoot;
  /** How the blade was taken down: a power off through rackboot's API and its BMC, or SIGKILL of its VM. */
  cut: 'bmc' | 'kill';
}

export interface LabResult {
  id: string;
  server: LabServer;
  loader: LabLoader;
  kernel: string;
  boots: BladeBoot[];
  load?: { wrk: WrkResult; spread: ProbeSummary };
  drill?: DrillResult;
  workDir: string;
}

/** The whole `npm run lab`: start, boot every blade at once, load through the VIP, close. */
export async function runLab(opts: LabOptions, kernel?: Kernel, onResult?: (r: LabResult) => void): Promise<LabResult> {
  const lab = await Lab.start(opts, kernel);
  try {
    const boots = await lab.bootAll();
    if (lab.rb && opts.loadSeconds > 0) opts.log(`load: ${opts.loadSeconds} s of wrk through ${lab.vipUrl}`);
    const load = lab.rb && opts.loadSeconds > 0 ? await lab.load(opts.loadSeconds) : undefined;
    const drill = lab.rb && opts.drill ? await lab.drill(lab.vms[lab.vms.length - 1]!.name) : undefined;
    lab.succeeded();
    const r = { id: lab.id, server: opts.server, loader: opts.loader, kernel: lab.kernel.version, boots, load, drill, workDir: lab.workDir };
    onResult?.(r);
    if (opts.hold) await holdOpen(lab, opts);
    return r;
  } catch (e) {
    if (opts.hold) {
      opts.log(`lab: FAILED: ${(e as Error).message}`);
      await holdOpen(lab, opts);
    }
    throw e;
  } finally {
    await lab.close();
  }
}

/** --hold: leave the cluster running for a look around until Ctrl-C (the signal handler cleans up). */
async function holdOpen(lab: Lab, opts: LabOptions): Promise<void> {
  const t = lab.run.topo;
  opts.log(
    [
      `lab ${lab.id} is up; Ctrl-C cleans it up. Try:`,
      `  ip netns exec ${t.outside} curl -si ${lab.vipUrl}`,
      ...(lab.rb ? [`  ip netns exec ${t.director} node ${RACKBOOT_MAIN} director status --api http://127.0.0.1:${API_PORT} --token ${lab.rb.token}`, `  tail -f ${lab.rb.logFile}`] : []),
      ...(lab.rb && lab.opts.bmc ? [`  ip netns exec ${t.director} node ${RACKBOOT_MAIN} power status --group web --api http://127.0.0.1:${API_PORT} --token ${lab.rb.token}`] : []),
      `  tail -f ${lab.workDir}/blade1.serial.log`,
    ].join('\n'),
  );
  await new Promise(() => {});
}

/**
 * rackboot's built web-blade kernel and RAM disk (no node overlay, over its
 * public HTTP boot path) and the image's command line, for a reference server
 * to serve the same bytes. `dropQuiet`: without `quiet` (PXELINUX prints its
 * "Loading ... ok" lines only then, bench/boot's clock for "RAM disk loaded").
 */
export async function webBladeFiles(lab: Lab, dir: string, o: { dropQuiet: boolean }): Promise<{ kernel: string; initrd: string; cmdline: string }> {
  const api = lab.rb!.api;
  const out: Record<string, string> = {};
  for (const part of ['kernel', 'initrd']) {
    const r = await api.rawBuffer('GET', `/boot/_image/web-blade/${part}`);
    if (r.status !== 200) throw new Error(`GET /boot/_image/web-blade/${part}: ${r.status}`);
    out[part] = join(dir, `rblab-web-blade-${process.pid}.${part}`);
    writeFileSync(out[part]!, r.body);
  }
  const img = await api.call<{ current: string; versions: Array<{ version: string; cmdline: string }> }>('GET', '/images/web-blade');
  const drop = o.dropQuiet ? /console=\S+|\bquiet\b/g : /console=\S+/g;
  const cmdline = (img.versions.find((v) => v.version === img.current)?.cmdline ?? '').replace(drop, '').replace(/\s+/g, ' ').trim();
  return { kernel: out.kernel!, initrd: out.initrd!, cmdline };
}
