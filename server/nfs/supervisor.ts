// Keeps one child process running: start (wait until it says it is ready),
// restart with exponential backoff when it dies, stop with SIGTERM then
// SIGKILL. Knows nothing about NFS; the ganesha backend supplies readiness.
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../log.js';
import { GROUP_SIGNAL_GRACE_MS, GROUP_SIGNALS, processIsStopping } from '../shutdown.js';



export interface SupervisorOptions {
  name: string;
  command: string;
  args: string[];
  log: Logger;
  /** Runs before every spawn (e.g. note where the child's log ends). */
  beforeSpawn?(): Promise<void>;
  /** Resolves when the child is ready to serve; rejects with the reason it is not. */
  ready(child: ChildProcess, exited: () => string | undefined): Promise<void>;
  /** A line or two on why the child exited (e.g. the end of its log). */
  explainExit?(): Promise<string>;
  /** Called after every (re)start that became ready. */
  onReady?(pid: number, restart: boolean): void;
  onExit?(why: string): void;
  backoff?: { initialMs: number; maxMs: number; stableMs: number };
  stopTimeoutMs?: number;
  /** Whether the process is shutting down; default: processIsStopping() (server/shutdown.ts). */
  processStopping?(): boolean;
}

export type SupervisorState = 'stopped' | 'starting' | 'running' | 'backoff';

export class Supervisor {
  state: SupervisorState = 'stopped';
  restarts = 0;
  lastExit: string | undefined;
  private child: ChildProcess | undefined;
  private exitReason: string | undefined;
  private delayMs: number;
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private stopping = false;
  private readonly backoff;

  constructor(private readonly o: SupervisorOptions) {
    this.backoff = o.backoff ?? { initialMs: 500, maxMs: 30_000, stableMs: 60_000 };
    this.delayMs = this.backoff.initialMs;
  }

  get pid(): number | undefined {
    return this.state === 'running' || this.state === 'starting' ? this.child?.pid : undefined;
  }

  /** First start: a child that does not become ready is an error for the caller (no retry loop). */
  async start(): Promise<void> {
    this.stopping = false;
    await this.launch(false);
  }

  private async launch(restart: boolean): Promise<void> {
    const { o } = this;
    this.state = 'starting';
    this.exitReason = undefined;
    await o.beforeSpawn?.();
    const child = spawn(o.command, o.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.startedAt = Date.now();
    let output = '';
    const keep = (d: Buffer) => (output = (output + d.toString()).slice(-4000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.on('error', (e) => (this.exitReason ??= `cannot run ${o.command}: ${e.message}`));
    child.on('exit', (code, signal) => {
      this.exitReason ??= signal ? `killed by ${signal}` : `exited with code ${code}`;
      const extra = output.trim() ? `: ${output.trim().split('\n').slice(-3).join(' | ')}` : '';
      this.exitReason += extra;
      void this.exited(child, signal);
    });
    try {
      await o.ready(child, () => this.exitReason);
    } catch (err) {
      if (this.child === child && child.exitCode === null && child.signalCode === null) await this.kill(child);
      const explain = o.explainExit ? await o.explainExit().catch(() => '') : '';
      this.state = 'stopped';
      throw new Error(`${o.name} did not start: ${(err as Error).message}${explain ? `: ${explain}` : ''}`);
    }
    this.state = 'running';
    o.onReady?.(child.pid!, restart);
  }

  private shuttingDown(): boolean {
    return this.stopping || (this.o.processStopping ?? processIsStopping)();
  }

  private async exited(child: ChildProcess, signal: NodeJS.Signals | null): Promise<void> {
    if (this.child !== child) return;
    const why = this.exitReason ?? 'exited';
    this.lastExit = why;
    if (this.stopping || this.state === 'starting') return; // start() reports it, or we asked for it
    // A group signal may reach the child a moment before our own handler has noted the shutdown.
    if (signal && GROUP_SIGNALS.has(signal)) await delay(GROUP_SIGNAL_GRACE_MS);
    if (this.child !== child) return; // stop() or restart() took over meanwhile
    this.child = undefined;
    if (this.shuttingDown()) {
      this.state = 'stopped';
      this.o.log.info(`${this.o.name}: ${why} while rackboot is stopping; not restarted`);
      return;
    }
    const explain = this.o.explainExit ? await this.o.explainExit().catch(() => '') : '';
    const ranMs = Date.now() - this.startedAt;
    if (ranMs >= this.backoff.stableMs) this.delayMs = this.backoff.initialMs;
    this.o.log.error(`${this.o.name}: ${why}${explain ? `: ${explain}` : ''}; restarting in ${this.delayMs} ms`);
    this.o.onExit?.(why);
    this.schedule();
  }

  private schedule(): void {
    this.state = 'backoff';
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.backoff.maxMs);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.shuttingDown()) return;
      this.restarts++;
      this.launch(true).catch((err: Error) => {
        if (this.stopping) return;
        this.o.log.error(`${this.o.name}: ${err.message}; next try in ${this.delayMs} ms`);
        this.schedule();
      });
    }, delay);
    this.timer.unref();
  }

  /** Send a signal to the running child; false when there is none. */
  signal(sig: NodeJS.Signals): boolean {
    if (this.state !== 'running' || !this.child) return false;
    return this.child.kill(sig);
  }

  /** Stop and start again now (no backoff). */
  async restart(): Promise<void> {
    await this.stop();
    this.stopping = false;
    this.restarts++;
    await this.launch(true);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const child = this.child;
    if (child) await this.kill(child);
    this.child = undefined;
    this.state = 'stopped';
  }

  private async kill(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), this.o.stopTimeoutMs ?? 10_000);
    await gone;
    clearTimeout(t);
  }
}
