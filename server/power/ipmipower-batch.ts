// FreeIPMI's ipmipower drives many BMCs from one process, its sessions in
// parallel. Status reads and power actions asked within a few milliseconds
// of each other (a bulk request, the dashboard's rack view), for BMCs that
// share credentials and session options, go to one ipmipower run instead of
// one process each: starting a process per BMC made a 50-node status read
// ten times slower than ipmipower's own (docs/benchmarks.md, power). Each
// BMC still gets its own result from its "host: word" line.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandRunner } from '../director/exec.js';
import type { EffectiveBmc } from './bmc.js';
import { freeipmiConfig, freeipmiHostsCommand, ipmiFailure, ipmipowerAnswer, ipmipowerLines, type IpmiOp, type IpmiRunOptions } from './ipmi.js';
import type { PowerState } from './types.js';

type BatchOp = Extract<IpmiOp, { kind: 'status' } | { kind: 'power' }>;

interface Job {
  bmc: EffectiveBmc;
  resolve: (s: PowerState | undefined) => void;
  reject: (e: unknown) => void;
}

interface Batch {
  password: string;
  op: BatchOp;
  jobs: Job[];
  timer: NodeJS.Timeout;
}

/**
 * Runs fn with FreeIPMI's config file holding the password, in a private
 * directory (mode 0700, in RAM where /dev/shm is), removed afterwards.
 */
export async function withPasswordFile<T>(password: string, fn: (file: string) => Promise<T>): Promise<T> {
  const text = freeipmiConfig(password);
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'rackboot-ipmi-'));
  try {
    const file = join(dir, 'freeipmi.conf');
    writeFileSync(file, text, { mode: 0o600 });
    return await fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What must be equal for two BMCs to share a run; the password is compared, never printed. */
function batchKey(b: EffectiveBmc, password: string, op: BatchOp): string {
  const i = b.ipmi;
  return JSON.stringify([b.username, password, i.interface, i.cipherSuite, i.privilege, i.workaroundFlags, op.kind === 'status' ? 'stat' : op.action]);
}

export class IpmipowerBatcher {
  private readonly open = new Map<string, Batch>();

  constructor(
    private readonly runner: CommandRunner,
    private readonly o: IpmiRunOptions & {
      /** How long the first request of a batch waits for others. */
      windowMs: number;
      /** Hosts in one run at most (ipmipower's default fanout is 64). */
      maxHosts: number;
    },
  ) {}

  /** ipmipower prints a host by address only: BMCs sharing an address (emulators on ports) and IPv6 ones run alone. */
  static batchable(b: EffectiveBmc): boolean {
    return !b.address.includes(':');
  }

  submit(bmc: EffectiveBmc, password: string, op: BatchOp): Promise<PowerState | undefined> {
    try {
      // Refused before anything runs: a password the config file cannot hold.
      freeipmiConfig(password);
    } catch (e) {
      return Promise.reject(e);
    }
    const key = batchKey(bmc, password, op);
    return new Promise((resolve, reject) => {
      let batch = this.open.get(key);
      if (batch?.jobs.some((j) => j.bmc.address === bmc.address)) {
        this.flush(key);
        batch = undefined;
      }
      if (!batch) {
        batch = { password, op, jobs: [], timer: setTimeout(() => this.flush(key), this.o.windowMs) };
        this.open.set(key, batch);
      }
      batch.jobs.push({ bmc, resolve, reject });
      if (batch.jobs.length >= this.o.maxHosts) this.flush(key);
    });
  }

  private flush(key: string): void {
    const batch = this.open.get(key);
    if (!batch) return;
    this.open.delete(key);
    clearTimeout(batch.timer);
    void this.runBatch(batch);
  }

  private async runBatch({ password, op, jobs }: Batch): Promise<void> {
    try {
      const { c, r } = await withPasswordFile(password, async (file) => {
        const c = freeipmiHostsCommand(
          jobs.map((j) => j.bmc),
          file,
          op,
          this.o,
        );
        return { c, r: await this.runner.run(c.cmd, c.args, { timeoutMs: this.o.timeoutMs }) };
      });
      const said = ipmipowerLines(r.stdout);
      for (const j of jobs) {
        // No host line at all (timed out, not installed, bad option): the run's failure is each BMC's.
        if (said.size === 0) {
          j.reject(ipmiFailure(r.code === 0 ? { ...r, code: 1 } : r, c, j.bmc, this.o.timeoutMs));
          continue;
        }
        try {
          // c.shown names the tool and the flag, no host: it fits each BMC's error as it is.
          j.resolve(ipmipowerAnswer(op, said.get(j.bmc.address), r, c, j.bmc, this.o.timeoutMs));
        } catch (e) {
          j.reject(e);
        }
      }
    } catch (e) {
      for (const j of jobs) j.reject(e);
    }
  }
}
