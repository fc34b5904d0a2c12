// A daemon the pair runs as its child (keepalived for VRRP, conntrackd):
// started in the foreground with its own pid file, its output in rackboot's
// log, restarted 2 s after an unexpected exit, stopped with SIGTERM.
//
// Started under `setpriv --pdeathsig TERM`: if rackboot dies (a crash, an
// OOM kill), the daemon gets SIGTERM at once. For keepalived that is a
// clean exit (its addresses removed, priority 0 sent), so the peer takes
// over within milliseconds instead of a node holding the addresses with
// nothing behind them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../log.js';
import { processIsStopping } from '../shutdown.js';

export interface DaemonOptions {
  /** For messages: "keepalived". */
  name: string;
  argv: string[];
  /** Pid files it writes (a stale process named in them is stopped before a start). */
  pidFiles: string[];
  log: Logger;
  /** Output lines worth an info line (the rest go to debug). */
  interesting?: RegExp;
  onExit?: (why: string) => void;
}

let setprivKnown: boolean | undefined;

function haveSetpriv(): boolean {
  setprivKnown ??= spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).status === 0;
  return setprivKnown;
}

/** Whether pid is alive and its command line mentions `needle` (a pid file may name a recycled pid). */
export function pidRuns(pid: number, needle: string): boolean {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    return cmd.includes(needle);
  } catch {
    return false;
  }
}

export class Daemon {
  private child: ChildProcess | undefined;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Set while the daemon is down against rackboot's will. */
  error: string | undefined;

  constructor(private readonly o: DaemonOptions) {}

  private get program(): string {
    return this.o.argv[0]!.split('/').pop()!;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Stop a process a previous rackboot left (by its pid files), then start. */
  async start(): Promise<void> {
    this.stopping = false;
    await this.stopStale();
    this.spawn();
  }

  private async stopStale(): Promise<void> {
    for (const f of this.o.pidFiles) {
      if (!existsSync(f)) continue;
      const pid = Number(readFileSync(f, 'utf8').trim());
      rmSync(f, { force: true });
      if (!Number.isInteger(pid) || pid <= 1 || !pidRuns(pid, this.program)) continue;
      this.o.log.warn(`pair: stopping ${this.o.name} pid ${pid}, left running by an earlier rackboot`);
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        continue;
      }
      for (let i = 0; i < 30 && pidRuns(pid, this.program); i++) await delay(100);
      if (pidRuns(pid, this.program)) process.kill(pid, 'SIGKILL');
    }
  }

  private spawn(): void {
    const argv = haveSetpriv() ? ['setpriv', '--pdeathsig', 'TERM', '--', ...this.o.argv] : this.o.argv;
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.error = undefined;
    const onText = (d: Buffer) => {
      for (const raw of d.toString().split('\n')) {
        const line = raw.replace(/^\w{3} \w{3} +\d+ [\d:]+ \d{4}: /, '').trim();
        if (!line) continue;
        if (this.o.interesting?.test(line)) this.o.log.info(`pair: ${this.o.name}: ${line}`);
        else this.o.log.debug(`pair: ${this.o.name}: ${line}`);
      }
    };
    child.stdout!.on('data', onText);
    child.stderr!.on('data', onText);
    child.on('error', (e) => (this.error = `${this.o.name} could not start: ${e.message}`));
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopping || processIsStopping()) return;
      const why = `${this.o.name} exited (${signal ?? `code ${code}`})`;
      this.error = `${why}; restarting in 2 s`;
      this.o.log.error(`pair: ${this.error}`);
      this.o.onExit?.(why);
      this.restartTimer = setTimeout(() => {
        if (!this.stopping && !processIsStopping()) this.spawn();
      }, 2000);
      this.restartTimer.unref();
    });
  }

  /** SIGTERM, SIGKILL after `graceMs`; resolves once it has exited. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const c = this.child;
    this.child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  }
}
