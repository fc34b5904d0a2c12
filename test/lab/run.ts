// One lab run's lifetime: claim, topology, work directory, and cleanup on
// success, failure, SIGINT and SIGTERM. Everything a run starts registers a
// stop function here; stops run in reverse order, each one guarded.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabTopology } from './topology.js';
import { dropClaim, LAB_PREFIX, writeClaim } from './state.js';

/** Every open run of this process: one signal handler cleans them all up (bench/boot holds several). */
const OPEN = new Set<LabRun<RunTopology>>();
let exiting = false;
let signalled: { promise: Promise<void>; code: number } | undefined;

function onSignal(sig: NodeJS.Signals): void {
  if (exiting) return;
  exiting = true;
  const runs = [...OPEN];
  process.stderr.write(`\nlab: ${sig}: cleaning up ${runs.map((r) => r.topo.id).join(', ') || 'nothing'} ...\n`);
  const code = sig === 'SIGINT' ? 130 : 143;
  const promise = Promise.allSettled(runs.map((r) => r.close({ keepWorkDir: true }))).then((results) => {
    // Say that it finished and where the logs are: the namespaces and VMs are gone, the work directory is kept.
    for (const [i, r] of results.entries()) {
      const run = runs[i]!;
      const what = r.status === 'fulfilled' ? 'cleaned up' : `cleanup failed (${String((r.reason as Error)?.message ?? r.reason)})`;
      process.stderr.write(`lab: ${run.topo.id}: ${what}; logs kept in ${run.workDir}\n`);
    }
  });
  signalled = { promise, code };
  void promise.then(() => process.exit(code));
}

/**
 * The cleanup a SIGINT/SIGTERM started, if one did. Stopping rackboot makes
 * the step in flight fail at once, so the main flow reaches its exit while
 * the namespaces are still being deleted: it must await this first.
 */
export function signalCleanup(): Promise<void> | undefined {
  return signalled?.promise;
}

/** Exits the process once a signal's cleanup (if any) has finished, then with the signal's code (130/143). */
export async function exitWhenClean(code: number): Promise<never> {
  if (signalled) {
    await signalled.promise;
    code = signalled.code;
  }
  process.exit(code);
}

/** What a run builds and removes: the lab's own topology, or another (the pair drill's namespaces). */
export interface RunTopology {
  readonly id: string;
  readonly namespaces: string[];
  build(): void;
  destroy(): Promise<void>;
}

export class LabRun<T extends RunTopology = LabTopology> {
  readonly topo: T;
  readonly workDir: string;
  private readonly stops: Array<{ what: string; fn: () => Promise<void> | void }> = [];
  private closing: Promise<void> | undefined;

  /** `topo`: a topology of the run's own, made in its work directory; else the lab's (T is then LabTopology, the default). */
  constructor(opts: { blades: number } | { name: string; topo: (workDir: string) => T }) {
    // Not tempDir(t): a failed run keeps it (the blades' logs) until `--cleanup`, and the lab runs outside node:test.
    if ('topo' in opts) {
      this.workDir = mkdtempSync(join(tmpdir(), `${LAB_PREFIX}-${opts.name}-`));
      this.topo = opts.topo(this.workDir);
    } else {
      this.topo = LabTopology.plan(opts.blades) as unknown as T;
      this.workDir = mkdtempSync(join(tmpdir(), `${LAB_PREFIX}-${this.topo.id}-`));
    }
    writeClaim({ id: this.topo.id, pid: process.pid, started: new Date().toISOString(), namespaces: this.topo.namespaces, workDir: this.workDir });
    if (!OPEN.size) {
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    OPEN.add(this);
  }

  build(): void {
    try {
      this.topo.build();
    } catch (e) {
      // Whoever closes this run next (Lab.start's catch) awaits this same cleanup.
      void this.close({ keepWorkDir: true });
      throw e;
    }
  }

  /** Register something to stop at cleanup (run in reverse order of registration). */
  onClose(what: string, fn: () => Promise<void> | void): void {
    this.stops.push({ what, fn });
  }

  /** Stops everything and deletes the namespaces; a second call (signal handler and main flow both close) awaits the first. */
  close(opts: { keepWorkDir?: boolean } = {}): Promise<void> {
    this.closing ??= this.doClose(opts);
    return this.closing;
  }

  private async doClose(opts: { keepWorkDir?: boolean }): Promise<void> {
    try {
      for (const s of this.stops.reverse()) {
        try {
          await withTimeout(Promise.resolve(s.fn()), 15_000, s.what);
        } catch (e) {
          process.stderr.write(`lab: cleanup of ${s.what}: ${(e as Error).message}\n`);
        }
      }
      await this.topo.destroy();
      // A kept work directory (logs of a failed run) stays claimed: --cleanup removes it once this process is gone.
      if (!opts.keepWorkDir) {
        rmSync(this.workDir, { recursive: true, force: true });
        dropClaim(this.topo.id);
      }
    } finally {
      // Open until now: a signal during this cleanup awaits it (through close()) before the process exits.
      OPEN.delete(this);
      if (!OPEN.size && !exiting) {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    }
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
    }),
  ]);
}
