// A real IPMI BMC for tests and the lab: OpenIPMI's ipmi_sim (Debian package
// openipmi) with IPMI over LAN on its own address, its chassis power and
// boot device handled by bmc-machine.js (which starts and stops a Machine),
// optionally wired to a QEMU VM's KCS interface (-device ipmi-bmc-extern +
// isa-ipmi-kcs over a chardev to the `serial` port here). Runs inside a
// network namespace; stopped by pid, with its machine.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Machine, type MachineSpec } from './machine.js';
import { sh } from './netns.js';

const BMC_MACHINE = join(resolve(dirname(fileURLToPath(import.meta.url))), 'bmc-machine.js');

export interface SimBmcOptions {
  name: string;
  /** The address its LAN interface listens on (port 623 unless `port`). */
  address: string;
  port?: number;
  username: string;
  password: string;
  dir: string;
  machine: MachineSpec;
  /** A TCP port on 127.0.0.1 for a VM's ipmi-bmc-extern chardev (the KCS interface). */
  vmPort?: number;
}

/**
 * ipmi_sim's chassis_control program, in sh: ipmi_sim waits for it (popen)
 * before it answers anything else, and ipmitool resends a request not
 * answered in time, so a slow program (Node starts in 50-400 ms on a busy
 * machine) turns a rack's power-on into a retry storm. It keeps the state
 * format of machine.ts (pid, boot, events.log; start.sh starts the
 * machine); only a soft off of a machine with a QMP socket goes to Node
 * (bmc-machine.js speaks QMP).
 */
export function chassisScript(qmp: boolean): string {
  return [
    '#!/bin/sh',
    'dir="$1"; op="$2"; shift 2',
    "on() { p=$(cat \"$dir/pid\" 2>/dev/null) && [ -n \"$p\" ] && kill -0 \"$p\" 2>/dev/null && ! grep -qs ') Z ' \"/proc/$p/stat\"; }",
    'note() { echo "$(date +%s%3N) $1" >> "$dir/events.log"; }',
    'start() {',
    '  on && return 0',
    '  b=$(cat "$dir/boot" 2>/dev/null); printf none > "$dir/boot"',
    '  case "$b" in pxe) k=pxe ;; disk|default) k=disk ;; *) k=none ;; esac',
    '  setsid "$dir/start.sh" "$k" >> "$dir/machine.log" 2>&1 < /dev/null &',
    // Noted before the pid is written: a reader that sees the machine on finds its start noted.
    '  note "start boot=$k pid=$!"; echo $! > "$dir/pid"',
    '}',
    'stop() {',
    '  on || return 0',
    '  p=$(cat "$dir/pid"); note "stop pid=$p"; kill -TERM "$p"',
    '  i=0; while on && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done',
    '  on && kill -KILL "$p"',
    '  i=0; while on && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done',
    '  rm -f "$dir/pid"',
    '}',
    'case "$op" in',
    'get)',
    '  for p in "$@"; do',
    '    case "$p" in',
    '      power) if on; then echo power:1; else echo power:0; fi ;;',
    '      boot) b=$(cat "$dir/boot" 2>/dev/null); echo "boot:${b:-none}" ;;',
    '      *) echo "Invalid parameter: $p"; exit 1 ;;',
    '    esac',
    '  done ;;',
    'set)',
    '  while [ $# -ge 2 ]; do',
    '    case "$1" in',
    '      power) if [ "$2" = 1 ]; then start; else stop; fi ;;',
    '      reset) on && { note "reset pid=$(cat "$dir/pid") (restart)"; stop; start; } ;;',
    '      boot) printf %s "$2" > "$dir/boot"; note "boot $2" ;;',
    qmp
      ? `      shutdown) on && exec ${process.execPath} ${BMC_MACHINE} "$dir" set shutdown 1 ;;`
      : '      shutdown) on && { note "soft pid=$(cat "$dir/pid") (sigterm)"; kill -TERM "$(cat "$dir/pid")"; } ;;',
    '      identify) ;;',
    '      *) echo "Invalid parameter: $1"; exit 1 ;;',
    '    esac',
    '    shift 2',
    '  done ;;',
    '*) exit 1 ;;',
    'esac',
    'exit 0',
    '',
  ].join('\n');
}

/** lan.conf (ipmi_lan(5)): one MC at 0x20, LAN channel 1, the admin user, the chassis program. */
export function simLanConf(o: SimBmcOptions): string {
  const guid = createHash('md5').update(o.name).digest('hex');
  const q = (s: string) => `"${s.replace(/"/g, '')}"`;
  return [
    `name ${q(o.name)}`,
    'set_working_mc 0x20',
    '  startlan 1',
    `    addr ${o.address} ${o.port ?? 623}`,
    '    priv_limit admin',
    '    allowed_auths_callback none md5 straight',
    '    allowed_auths_user none md5 straight',
    '    allowed_auths_operator none md5 straight',
    '    allowed_auths_admin none md5 straight',
    `    guid ${guid}`,
    '  endlan',
    ...(o.vmPort ? [`  serial 15 127.0.0.1 ${o.vmPort} codec VM`] : []),
    `  chassis_control ${q(`${join(o.dir, 'chassis.sh')} ${join(o.dir, 'machine')}`)}`,
    `  user 2 true ${q(o.username)} ${q(o.password)} admin 10 none md5 straight`,
    '',
  ].join('\n');
}

/** The emulation commands: the BMC itself (ipmi_sim_cmd(5)). */
export const SIM_EMU = ['mc_setbmc 0x20', 'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr', 'sel_enable 0x20 1000 0x0a', 'mc_enable 0x20', ''].join('\n');

export class SimBmc {
  readonly machine: Machine;
  private child: ChildProcess | undefined;

  constructor(readonly o: SimBmcOptions) {
    mkdirSync(join(o.dir, 'state'), { recursive: true });
    writeFileSync(join(o.dir, 'lan.conf'), simLanConf(o));
    writeFileSync(join(o.dir, 'sim.emu'), SIM_EMU);
    writeFileSync(join(o.dir, 'chassis.sh'), chassisScript(!!o.machine.qmp));
    chmodSync(join(o.dir, 'chassis.sh'), 0o755);
    this.machine = new Machine(join(o.dir, 'machine'), o.machine);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts ipmi_sim in the namespace (its answer is awaited with waitListening). */
  start(ns: string): void {
    this.child = spawn('ip', ['netns', 'exec', ns, 'ipmi_sim', '-c', join(this.o.dir, 'lan.conf'), '-f', join(this.o.dir, 'sim.emu'), '-n', '-s', join(this.o.dir, 'state')], {
      stdio: ['ignore', 'ignore', 'ignore'],
    });
  }

  get exited(): boolean {
    return !this.child || this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Stops ipmi_sim (by its pid) and the machine it powers. */
  async stop(): Promise<void> {
    const c = this.child;
    if (c && !this.exited) {
      const closed = new Promise((r) => c.once('close', r));
      c.kill('SIGKILL');
      await closed;
    }
    await this.machine.stop();
  }
}

/** Waits until every address has a UDP socket bound on its port in the namespace (ipmi_sim is listening). */
export async function waitListening(ns: string, bmcs: readonly SimBmc[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const bound = sh('ip', ['netns', 'exec', ns, 'ss', '-Hunl'], { check: false }).stdout;
    const missing = bmcs.filter((b) => !bound.includes(`${b.o.address}:${b.o.port ?? 623}`));
    const dead = missing.filter((b) => b.exited);
    if (dead.length) throw new Error(`ipmi_sim exited for ${dead.map((b) => b.o.name).join(', ')}; see ${dead[0]!.o.dir}/lan.conf`);
    if (!missing.length) return;
    if (Date.now() > deadline) throw new Error(`ipmi_sim does not listen for ${missing.map((b) => `${b.o.name} (${b.o.address})`).join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
