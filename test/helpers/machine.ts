// A machine a test BMC powers: a process (a QEMU VM, or a stand-in such as
// `sleep`) started, stopped and reset through a state directory, so that
// separate processes (ipmi_sim's chassis_control program runs once per BMC
// request) see one machine. The directory holds machine.json (how to start
// it), start.sh (starts it for a boot device: `start.sh pxe|disk|none`),
// pid, boot (the next boot device) and events.log (one line per thing the
// BMC did to it, read by tests: "<epoch ms> start boot=pxe pid=123").
// With a QMP socket, soft off and reset go through QEMU's QMP
// (system_powerdown, system_reset) and off through `quit`.
import { spawn } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { qmpCommand } from './qmp.js';

export interface MachineSpec {
  /** argv of the machine; the boot device's args are appended. */
  argv: string[];
  env?: Record<string, string>;
  /** Extra args per next boot device (e.g. QEMU's -boot n / -boot c); `none`: no override. */
  bootArgs?: Partial<Record<'pxe' | 'disk' | 'none', string[]>>;
  /** QEMU's QMP socket (-qmp unix:PATH,server=on,wait=off). */
  qmp?: string;
  /** reset: a QMP system_reset (default with qmp), or stop and start again (a VM run with -no-reboot exits on a reset). */
  reset?: 'qmp' | 'restart';
  /** Where the machine's stdout and stderr go (default <dir>/machine.log). */
  log?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** start.sh: execs the machine for the boot device in $1 (its boot args appended, BOOTDEV in its environment). */
export function startScript(spec: MachineSpec): string {
  const line = (key: 'pxe' | 'disk' | 'none') => {
    const env = Object.entries({ ...spec.env, BOOTDEV: key }).map(([k, v]) => `${k}=${shq(v)}`);
    return `  ${key === 'none' ? '*' : key}) ${env.join(' ')} exec ${[...spec.argv, ...(spec.bootArgs?.[key] ?? [])].map(shq).join(' ')} ;;`;
  };
  return ['#!/bin/sh', 'case "$1" in', line('pxe'), line('disk'), line('none'), 'esac', ''].join('\n');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie answers kill(0); its state in /proc says it is gone.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

export class Machine {
  readonly spec: MachineSpec;

  constructor(readonly dir: string, spec?: MachineSpec) {
    mkdirSync(dir, { recursive: true });
    if (spec) {
      writeFileSync(join(dir, 'machine.json'), JSON.stringify(spec));
      writeFileSync(join(dir, 'start.sh'), startScript(spec));
      chmodSync(join(dir, 'start.sh'), 0o755);
    }
    this.spec = spec ?? (JSON.parse(readFileSync(join(dir, 'machine.json'), 'utf8')) as MachineSpec);
  }

  private file(name: string): string {
    return join(this.dir, name);
  }

  note(what: string): void {
    appendFileSync(this.file('events.log'), `${Date.now()} ${what}\n`);
  }

  /** Every line of events.log, oldest first. */
  events(): Array<{ at: number; what: string }> {
    if (!existsSync(this.file('events.log'))) return [];
    return readFileSync(this.file('events.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => ({ at: Number(l.slice(0, l.indexOf(' '))), what: l.slice(l.indexOf(' ') + 1) }));
  }

  get pid(): number | undefined {
    if (!existsSync(this.file('pid'))) return undefined;
    const pid = Number(readFileSync(this.file('pid'), 'utf8'));
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
  }

  get on(): boolean {
    return this.pid !== undefined;
  }

  /** The next boot device as a BMC set it: none, pxe, disk (ipmi_sim's names: default = hard disk). */
  get boot(): string {
    return existsSync(this.file('boot')) ? readFileSync(this.file('boot'), 'utf8').trim() || 'none' : 'none';
  }

  set boot(dev: string) {
    writeFileSync(this.file('boot'), dev);
    this.note(`boot ${dev}`);
  }

  /** Starts the machine (detached: it outlives the program that started it), booting `dev` (default: the stored next boot device, then cleared: a one-time override). */
  start(dev?: string): number {
    const running = this.pid;
    if (running) return running;
    const boot = dev ?? this.boot;
    if (dev === undefined && boot !== 'none') writeFileSync(this.file('boot'), 'none');
    const key = boot === 'pxe' ? 'pxe' : boot === 'disk' || boot === 'default' ? 'disk' : 'none';
    if (this.spec.qmp) rmSync(this.spec.qmp, { force: true });
    const out = openSync(this.spec.log ?? this.file('machine.log'), 'a');
    const child = spawn(this.file('start.sh'), [key], { detached: true, stdio: ['ignore', out, out] });
    closeSync(out);
    child.unref();
    writeFileSync(this.file('pid'), String(child.pid));
    this.note(`start boot=${key} pid=${child.pid}`);
    return child.pid!;
  }

  private async qmp(command: string): Promise<boolean> {
    if (!this.spec.qmp) return false;
    try {
      await qmpCommand(this.spec.qmp, command);
      return true;
    } catch {
      return false;
    }
  }

  /** Hard off: QMP quit, else SIGTERM; SIGKILL when it is still there after 3 s. */
  async stop(): Promise<void> {
    const pid = this.pid;
    if (!pid) return;
    this.note(`stop pid=${pid}`);
    if (!(await this.qmp('quit'))) process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 30 && alive(pid); i++) await sleep(100);
    if (alive(pid)) process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 30 && alive(pid); i++) await sleep(100);
    rmSync(this.file('pid'), { force: true });
  }

  async reset(): Promise<void> {
    const pid = this.pid;
    if (!pid) return;
    if (this.spec.reset !== 'restart' && (await this.qmp('system_reset'))) return this.note(`reset pid=${pid} (qmp)`);
    this.note(`reset pid=${pid} (restart)`);
    await this.stop();
    this.start();
  }

  /** Soft off: an ACPI power button press through QMP (the OS decides), else SIGTERM. */
  async soft(): Promise<void> {
    const pid = this.pid;
    if (!pid) return;
    if (await this.qmp('system_powerdown')) return this.note(`soft pid=${pid} (qmp)`);
    this.note(`soft pid=${pid} (sigterm)`);
    process.kill(pid, 'SIGTERM');
  }
}
