// Backend 'ganesha': nfs-ganesha in user space, run and supervised by
// rackboot as a child (`ganesha.nfsd -F`), with its config, pid file, log and
// NFSv4 recovery state under <dataDir>/nfs/ganesha.
//
// Changes are applied with SIGHUP: ganesha (>= 2.8) re-reads the EXPORT
// blocks, adding, removing and updating exports in place, so mounted blades
// see no outage. D-Bus (the other way to add exports) is not needed. ganesha
// writes "Reread exports complete" even when an export failed, so the log
// lines of the reload are read for errors; on one, the previous config is
// put back and reloaded. A reload cannot re-add a pseudo path in the same
// pass that removes it (tried: "Pseudo path (/x) is a duplicate"), so an
// export whose Export_Id changes is removed by a first reload and added by a
// second. Core settings (bind address, port, protocols) are fixed at start.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../log.js';
import { writeFileAtomic } from '../atomic.js';
import { renderGaneshaConf, type GaneshaCoreOptions } from '../ganesha-conf.js';
import { linesSince, logSize, tailLines, waitForLine } from '../log-watch.js';
import type { ResolvedExport } from '../model.js';
import { Supervisor } from '../supervisor.js';
import { BackendError, type BackendStatus, type NfsBackend } from './backend.js';

export interface GaneshaOptions {
  binary: string;
  /** Directory for ganesha.conf, ganesha.pid, ganesha.log and state/. */
  dir: string;
  /** The address ganesha binds (0.0.0.0: all). */
  bind: string;
  port: number;
  nfsv3: boolean;
  attrCacheSeconds: number;
  logLevel: string;
  netns?: string;
  log: Logger;
  onRestart?(): void;
  startTimeoutMs?: number;
  backoff?: { initialMs: number; maxMs: number; stableMs: number };
}

const READY = /NFS SERVER INITIALIZED/;
const RELOADED = /reread_exports .*Reread exports complete/;
/** Log lines that mean a reload (or start) went wrong, minus D-Bus and Kerberos noise that is expected here. */
const ERROR_LINE = /:(CRIT|MAJ|FATAL) :/;
const NOISE = /DBUS|dbus|krb5|keytab|Cannot acquire credentials|__Register_program|Cannot register/;

export class GaneshaBackend implements NfsBackend {
  readonly kind = 'ganesha' as const;
  readonly confFile: string;
  readonly logFile: string;
  readonly pidFile: string;
  readonly stateDir: string;
  private readonly sup: Supervisor;
  private applied: readonly ResolvedExport[] = [];
  private lastApply = 'not started';

  constructor(private readonly o: GaneshaOptions) {
    this.confFile = join(o.dir, 'ganesha.conf');
    this.logFile = join(o.dir, 'ganesha.log');
    this.pidFile = join(o.dir, 'ganesha.pid');
    this.stateDir = join(o.dir, 'state');
    this.core = this.coreFor();
    const args = ['-F', '-f', this.confFile, '-L', this.logFile, '-p', this.pidFile, '-N', o.logLevel];
    const [command, argv] = o.netns ? ['ip', ['netns', 'exec', o.netns, o.binary, ...args]] : [o.binary, args];
    this.sup = new Supervisor({
      name: 'nfs: ganesha',
      command,
      args: argv,
      log: o.log,
      backoff: o.backoff,
      // Each (re)start reads the log from where it ended.
      beforeSpawn: async () => {
        this.startOffset = await logSize(this.logFile);
      },
      ready: async (_child, exited) => {
        const from = this.startOffset;
        const { lines } = await waitForLine(this.logFile, from, (l) => READY.test(l) || /FATAL/.test(l), {
          timeoutMs: o.startTimeoutMs ?? 20_000,
          abort: exited,
        });
        const fatal = lines.filter((l) => ERROR_LINE.test(l) && !NOISE.test(l));
        if (!READY.test(lines.at(-1) ?? '')) throw new Error(fatal.map(shortLine).join(' | ') || 'ganesha stopped before it was ready');
        // An export ganesha could not set up is logged, not fatal: keep the lines to say which (refusedAtStart).
        this.startErrors = fatal;
        if (fatal.length) o.log.warn(`nfs: ganesha started with errors: ${fatal.map(shortLine).join(' | ')}`);
      },
      explainExit: async () => {
        const lines = await tailLines(this.logFile, 40, Math.max(this.startOffset, this.settledAt));
        return lines.filter((l) => ERROR_LINE.test(l) && !NOISE.test(l)).slice(-3).map(shortLine).join(' | ');
      },
      onReady: (pid, restart) => {
        o.log.info(`nfs: ganesha ${restart ? 're' : ''}started (pid ${pid}${o.netns ? `, netns ${o.netns}` : ''}), serving ${this.applied.length} export(s) on ${this.core?.bindAddress}:${this.core?.port}`);
        if (restart) o.onRestart?.();
      },
    });
  }

  private startOffset = 0;
  private startErrors: string[] = [];
  /** Log offset after the last reload settled: older errors do not explain a later exit. */
  private settledAt = 0;

  async start(exports: readonly ResolvedExport[]): Promise<void> {
    await mkdir(this.stateDir, { recursive: true });
    await this.killOrphan();
    // ganesha appends forever: keep one old log beside the current one.
    if ((await logSize(this.logFile)) > 16 * 1024 * 1024) await rename(this.logFile, `${this.logFile}.old`).catch(() => undefined);
    await writeFileAtomic(this.confFile, renderGaneshaConf(exports, this.core));
    this.applied = exports;
    await this.sup.start();
    this.lastApply = `started with ${exports.length} export(s)`;
  }

  /** A ganesha left running by a rackboot that died: ours if its command line names our config file. */
  private async killOrphan(): Promise<void> {
    let pid: number;
    try {
      pid = Number(readFileSync(this.pidFile, 'utf8').trim());
    } catch {
      return;
    }
    if (!Number.isInteger(pid) || pid <= 1) return;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return;
    }
    if (!cmdline.includes(this.confFile)) return;
    this.o.log.warn(`nfs: stopping ganesha pid ${pid} left running with ${this.confFile} by an earlier rackboot`);
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
    if (existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
  }

  private readonly core: GaneshaCoreOptions;

  private coreFor(): GaneshaCoreOptions {
    return {
      bindAddress: this.o.bind,
      port: this.o.port,
      nfsv3: this.o.nfsv3,
      recoveryRoot: this.stateDir,
      attrCacheSeconds: this.o.attrCacheSeconds,
    };
  }

  /** Exports ganesha's start-up log says it could not set up, with its words. */
  refusedAtStart(exports: readonly ResolvedExport[]): Map<string, string> {
    const out = new Map<string, string>();
    for (const e of exports) {
      const marks = [`ExportId=${e.exportId} `, `(${e.pseudo})`, `(${e.realPath})`];
      const lines = this.startErrors.filter((l) => marks.some((m) => l.includes(m)));
      if (lines.length) out.set(e.name, lines.slice(0, 2).map(shortLine).join(' | '));
    }
    return out;
  }

  async apply(exports: readonly ResolvedExport[]): Promise<void> {
    const core = this.core!;
    const previous = this.applied;
    const previousText = await readFile(this.confFile, 'utf8').catch(() => '');
    if (this.sup.state !== 'running') {
      // Down (restarting after a crash): the next start reads the new file.
      await writeFileAtomic(this.confFile, renderGaneshaConf(exports, core));
      this.applied = exports;
      this.lastApply = `written; ganesha is ${this.sup.state}, the next start serves ${exports.length} export(s)`;
      return;
    }
    const kept = new Map(previous.map((e) => [e.exportId, e]));
    const removed = previous.filter((e) => !exports.some((n) => n.exportId === e.exportId));
    const added = exports.filter((e) => !kept.has(e.exportId));
    try {
      if (removed.length && added.length) {
        // First drop what goes, so a pseudo path it frees can be taken by an added export.
        await this.reload(previous.filter((e) => !removed.includes(e)), core);
      }
      await this.reload(exports, core);
    } catch (err) {
      this.o.log.error(`nfs: ganesha refused the change: ${(err as Error).message}; reloading the previous exports`);
      await writeFileAtomic(this.confFile, previousText);
      try {
        await this.signalReload();
      } catch (e2) {
        this.o.log.error(`nfs: ganesha: reloading the previous exports failed too: ${(e2 as Error).message}`);
      }
      throw err instanceof BackendError ? err : new BackendError((err as Error).message);
    }
    this.applied = exports;
    this.lastApply = `reloaded with ${exports.length} export(s)`;
  }

  private async reload(exports: readonly ResolvedExport[], core: GaneshaCoreOptions): Promise<void> {
    await writeFileAtomic(this.confFile, renderGaneshaConf(exports, core));
    const lines = await this.signalReload();
    const errors = lines.filter((l) => ERROR_LINE.test(l) && !NOISE.test(l));
    if (errors.length) throw new BackendError(`ganesha reload: ${errors.slice(0, 3).map(shortLine).join(' | ')}${errors.length > 3 ? ` (+${errors.length - 3} more in ${this.logFile})` : ''}`);
  }

  /** SIGHUP, then wait for ganesha to say the exports were re-read; returns the log lines of the reload. */
  private async signalReload(): Promise<string[]> {
    const from = await logSize(this.logFile);
    if (!this.sup.signal('SIGHUP')) throw new BackendError('ganesha is not running');
    const { lines } = await waitForLine(this.logFile, from, (l) => RELOADED.test(l), {
      timeoutMs: 15_000,
      abort: () => (this.sup.state !== 'running' ? `ganesha ${this.sup.lastExit ?? 'stopped'} during the reload` : undefined),
    });
    // Errors about the config are logged just after the "complete" line.
    await new Promise((r) => setTimeout(r, 50));
    const after = await linesSince(this.logFile, from);
    this.settledAt = after.end;
    return after.lines.length > lines.length ? after.lines : lines;
  }

  async stop(): Promise<void> {
    await this.sup.stop();
  }

  status(): BackendStatus {
    const running = this.sup.state === 'running';
    const where = this.core ? ` on ${this.core.bindAddress}:${this.core.port}${this.o.netns ? ` in netns ${this.o.netns}` : ''}` : '';
    return {
      ok: running,
      detail: running
        ? `ganesha pid ${this.sup.pid}${where}: ${this.lastApply}`
        : `ganesha is ${this.sup.state}${this.sup.lastExit ? ` (last exit: ${this.sup.lastExit})` : ''}`,
      pid: this.sup.pid,
      restarts: this.sup.restarts,
      files: { config: this.confFile, log: this.logFile, pid: this.pidFile, state: this.stateDir },
    };
  }

  render(exports: readonly ResolvedExport[]): string {
    return renderGaneshaConf(exports, this.core);
  }

  mountSource(e: ResolvedExport, serverAddress: string): string {
    const bind = this.core?.bindAddress;
    return `${bind && bind !== '0.0.0.0' ? bind : serverAddress}:${e.pseudo}`;
  }

  mountOptions(): string[] {
    return this.o.port !== 2049 ? [`port=${this.o.port}`] : [];
  }
}

/**
 * bind 'auto': with one cluster network, its server address (ganesha is not
 * reachable from the outside interface); with several, all addresses, since
 * ganesha binds one address only. Fixed at start: a bind change needs a
 * restart, which export changes must never cause.
 */
export function autoBind(networkServerAddresses: readonly string[]): string {
  return networkServerAddresses.length === 1 ? networkServerAddresses[0]! : '0.0.0.0';
}

/** "26/11/2026 15:55:00 : epoch ... : host : nfs-ganesha-1[main] fn :COMP :CRIT :text" -> "fn: text" */
function shortLine(l: string): string {
  const m = /\]\s+(\S+)\s+:[^:]*:[A-Z]+\s+:(.*)$/.exec(l);
  return m ? `${m[1]}: ${m[2]!.trim()}` : l.trim();
}
