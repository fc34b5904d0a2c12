// A blade: a QEMU VM with two virtio NICs on the fabric's taps, iPXE ROMs
// (package ipxe-qemu), no disk, booting from the network. Its serial console
// is captured to <workDir>/<blade>.serial.log, each line stamped with the
// seconds since power-on, and scanned for boot milestones.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import { classify, cleanLine, LineSplitter, type SerialEvent } from './serial.js';
import type { BladeAddr } from './topology.js';
import { BIOS, firmwareArgs, freshVars, nicProps, type BladeFirmware } from './firmware.js';

export const QEMU = 'qemu-system-x86_64';
/** QEMU's virtio-net boot ROM (efi-virtio.rom, BIOS and EFI iPXE) comes from package ipxe-qemu. */
export const VIRTIO_ROM = '/usr/lib/ipxe/qemu/efi-virtio.rom';

/** Console lines after which a boot cannot succeed any more: fail at once instead of waiting out the timeout. */
export const FATAL_CONSOLE =
  /No bootable device|Kernel panic - not syncing|Boot failed: .*net|PXE-E\d\d|No more network devices|BdsDxe: No bootable option|Failed to locate root device|error: disk .* not found|!!!! X64 Exception|Security Violation|Access Denied/;

export interface VmOptions {
  fabricNs: string;
  blade: BladeAddr;
  logDir: string;
  memoryMb?: number;
  /** BIOS (default) or UEFI, PXE or HTTP boot, Secure Boot. */
  firmware?: BladeFirmware;
  /** Echo console lines to this function (verbose runs). */
  echo?: (line: string) => void;
}

export function qemuArgs(o: { blade: BladeAddr; memoryMb: number; rom?: string; firmware?: BladeFirmware; varsFile?: string }): string[] {
  // -nographic: console on stdio (SeaBIOS, iPXE, OVMF and the loaders print there too); -no-reboot: a
  // guest reboot or panic ends QEMU, so a dead blade is seen at once.
  const fw = o.firmware ?? BIOS;
  const args = ['-accel', 'tcg', '-m', String(o.memoryMb), '-smp', '1', '-nographic', '-no-reboot', '-name', o.blade.name, ...firmwareArgs(fw, o.varsFile ?? '')];
  for (const [i, tap] of o.blade.taps.entries()) {
    args.push('-netdev', `tap,id=n${i},ifname=${tap},script=no,downscript=no`);
    args.push('-device', `virtio-net-pci,netdev=n${i},mac=${o.blade.macs[i]}${o.rom ? `,romfile=${o.rom}` : nicProps(fw, i)}`);
  }
  return args;
}

export class BladeVm extends EventEmitter<{ serial: [SerialEvent]; line: [{ t: number; line: string }]; exit: [number | null] }> {
  private child: ChildProcess | undefined;
  protected log: WriteStream | undefined;
  /** Every milestone seen since the last power-on. */
  events: SerialEvent[] = [];
  lines: Array<{ t: number; line: string }> = [];
  poweredOnAt = 0;
  boots = 0;

  constructor(readonly opts: VmOptions) {
    super();
    this.setMaxListeners(0);
  }

  get name(): string {
    return this.opts.blade.name;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get logFile(): string {
    return join(this.opts.logDir, `${this.name}.serial.log`);
  }

  /** A new boot's record: console lines and milestones from now on, timed from now. */
  protected beginBoot(): void {
    this.boots++;
    this.events = [];
    this.lines = [];
    this.log = createWriteStream(this.logFile, { flags: 'a' });
    this.log.write(`===== power on #${this.boots} ${new Date().toISOString()} =====\n`);
    this.poweredOnAt = Date.now();
  }

  /** The VM is gone: its log closed, 'exit' emitted. */
  protected endBoot(code: number | null | string): void {
    this.log?.write(`===== exited (${code}) after ${this.elapsed().toFixed(2)} s =====\n`);
    this.log?.end();
    this.emit('exit', typeof code === 'number' ? code : null);
  }

  powerOn(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    this.beginBoot();
    // UEFI: fresh vars each power-on (what the firmware wrote last time does not carry over).
    const firmware = this.opts.firmware ?? BIOS;
    const varsFile = join(this.opts.logDir, `${this.name}.vars.fd`);
    freshVars(firmware, varsFile);
    const args = qemuArgs({ blade: this.opts.blade, memoryMb: this.opts.memoryMb ?? 512, firmware, varsFile });
    // `ip netns exec` execs QEMU in place: the child's pid is QEMU's own.
    const child = spawn('ip', ['netns', 'exec', this.opts.fabricNs, QEMU, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const split = new LineSplitter();
    const onText = (chunk: Buffer) => {
      for (const raw of split.push(chunk.toString('latin1'))) this.onLine(raw);
    };
    child.stdout!.on('data', onText);
    child.stderr!.on('data', onText);
    child.on('close', (code) => {
      for (const raw of split.flush()) this.onLine(raw);
      this.endBoot(code ?? child.signalCode);
    });
  }

  private elapsed(): number {
    return (Date.now() - this.poweredOnAt) / 1000;
  }

  protected onLine(raw: string): void {
    const line = cleanLine(raw);
    if (!line.trim()) return;
    const t = this.elapsed();
    this.log?.write(`${t.toFixed(2).padStart(7)} ${line}\n`);
    this.lines.push({ t, line });
    this.emit('line', { t, line });
    this.opts.echo?.(`${this.name} ${t.toFixed(2).padStart(6)} ${line}`);
    const m = classify(line);
    if (m) {
      const e = { t, milestone: m, line };
      this.events.push(e);
      this.emit('serial', e);
    }
  }

  /** Resolves with the first console line (since power-on) matching re; rejects on timeout or VM exit. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<{ t: number; line: string }> {
    const seen = this.lines.find((l) => re.test(l.line));
    if (seen) return Promise.resolve(seen);
    const fatal = this.lines.find((l) => FATAL_CONSOLE.test(l.line));
    if (fatal) return Promise.reject(new Error(`${this.name} cannot boot: console says '${fatal.line.trim()}' at ${fatal.t.toFixed(1)} s; see ${this.logFile}`));
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.off('line', onLine);
        this.off('exit', onExit);
      };
      const onLine = (l: { t: number; line: string }) => {
        if (re.test(l.line)) (done(), resolve(l));
        else if (FATAL_CONSOLE.test(l.line)) {
          done();
          reject(new Error(`${this.name} cannot boot: console says '${l.line.trim()}' at ${l.t.toFixed(1)} s; see ${this.logFile}`));
        }
      };
      const onExit = (code: number | null) => {
        done();
        reject(new Error(`${this.name} powered off (exit ${code}) before its console showed ${re}; see ${this.logFile}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: no ${re} on the console within ${timeoutMs / 1000} s; see ${this.logFile}`));
      }, timeoutMs);
      this.on('line', onLine);
      this.on('exit', onExit);
    });
  }

  /** Pull the plug (SIGKILL): what a failed blade looks like to the director. */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c || !this.running) return;
    const closed = new Promise((r) => c.once('close', r));
    c.kill('SIGKILL');
    await closed;
  }
}
