// Every lab run leaves a claim in /run/rackboot-lab/<id>.json naming its
// owner pid, namespaces and work directory, so `npm run lab -- --cleanup`
// removes what a crashed run left behind and only that: a namespace whose
// name does not start with the lab prefix is never touched, and one whose
// owner is still alive is left alone unless forced.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from '../helpers/netns.js';

export const LAB_PREFIX = 'rblab';
export const STATE_DIR = process.env.RACKBOOT_LAB_STATE ?? '/run/rackboot-lab';

export interface RunClaim {
  id: string;
  pid: number;
  started: string;
  namespaces: string[];
  workDir: string;
  keepWorkDir?: boolean;
}

export function claimFile(id: string): string {
  return join(STATE_DIR, `${id}.json`);
}

export function writeClaim(c: RunClaim): void {
  mkdirSync(STATE_DIR, { recursive: true });
  writeFileSync(claimFile(c.id), JSON.stringify(c, null, 2));
}

export function dropClaim(id: string): void {
  rmSync(claimFile(id), { force: true });
}

export function readClaims(): RunClaim[] {
  if (!existsSync(STATE_DIR)) return [];
  const out: RunClaim[] = [];
  for (const f of readdirSync(STATE_DIR)) {
    if (!f.endsWith('.json')) continue;
    try {
      out.push(JSON.parse(readFileSync(join(STATE_DIR, f), 'utf8')) as RunClaim);
    } catch {
      /* a torn claim: its namespaces are still found by prefix */
    }
  }
  return out;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The run id a lab namespace belongs to ("rblab123x0-fabric" -> "rblab123x0"); undefined for foreign names. */
export function runIdOf(ns: string): string | undefined {
  const m = /^(rblab\d+x\d+)-[a-z0-9]+$/.exec(ns);
  return m?.[1];
}

export function listNamespaces(): string[] {
  const r = sh('ip', ['netns', 'list'], { check: false });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

/** Kill what runs inside a namespace (our QEMU, rackboot, dnsmasq, ganesha, wrk), then delete it. */
export function removeNamespace(ns: string): void {
  const pids = sh('ip', ['netns', 'pids', ns], { check: false }).stdout.split(/\s+/).filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  sh('ip', ['netns', 'del', ns], { check: false });
}

/** Mount points at or below `dir` (from /proc/mounts). */
export function mountsUnder(dir: string): string[] {
  const text = existsSync('/proc/mounts') ? readFileSync('/proc/mounts', 'utf8') : '';
  return text
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

export interface CleanupReport {
  removed: string[];
  skipped: Array<{ ns: string; reason: string }>;
  dirs: string[];
}

/** Remove leftovers of lab runs whose owner is gone (or all lab runs with force). */
export function cleanupLeftovers(opts: { force?: boolean } = {}): CleanupReport {
  const claims = new Map(readClaims().map((c) => [c.id, c]));
  const report: CleanupReport = { removed: [], skipped: [], dirs: [] };
  const live = (id: string) => {
    const c = claims.get(id);
    return !!c && c.pid !== process.pid && pidAlive(c.pid);
  };
  for (const ns of listNamespaces()) {
    const id = runIdOf(ns);
    if (!id) continue;
    if (!opts.force && live(id)) {
      report.skipped.push({ ns, reason: `run ${id} is still going (pid ${claims.get(id)!.pid}); --force removes it anyway` });
      continue;
    }
    removeNamespace(ns);
    report.removed.push(ns);
  }
  for (const c of claims.values()) {
    if (!opts.force && live(c.id)) continue;
    if (c.workDir?.includes(LAB_PREFIX) && existsSync(c.workDir)) {
      // The pair drill's disk nodes keep their data on a tmpfs each, mounted inside the work directory.
      for (const m of mountsUnder(c.workDir)) sh('umount', ['-l', m], { check: false });
      rmSync(c.workDir, { recursive: true, force: true });
      report.dirs.push(c.workDir);
    }
    dropClaim(c.id);
  }
  return report;
}
