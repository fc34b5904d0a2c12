// PostgreSQL for the benches: one cluster of the bench's own with
// PostgreSQL's durable defaults (fsync on: a commit is on disk, as in
// production), a fresh database per server run, Kea's schema made by
// kea-admin, and the CPU the database spends (postmaster and backends).
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { privateCluster, type PgCluster } from '../../test/helpers/postgres.js';

export { privateCluster, type PgCluster };

/**
 * durable false (a bench's --pg-fsync off): no fsync at all, to tell the
 * disk's share of a figure from the software's; never a figure to compare.
 */
export function benchCluster(durable = true): PgCluster {
  return privateCluster({ durable, conf: ['max_connections = 100', 'shared_buffers = 128MB'] });
}

/** A database with Kea's lease schema (kea-admin db-init pgsql, over the Unix socket). */
export async function keaDatabase(c: PgCluster): Promise<string> {
  const url = await c.createDatabase('kea');
  const name = /\/([^/?]+)\?/.exec(url)![1]!;
  const r = spawnSync('kea-admin', ['db-init', 'pgsql', '-u', 'postgres', '-n', name, '-h', c.socketDir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`kea-admin db-init pgsql failed: ${r.stdout}${r.stderr}`);
  return name;
}

const CLK_TCK = 100;

/** utime + stime, in seconds, of the cluster's postmaster and every process it started. */
export function databaseCpuSeconds(c: PgCluster): number {
  let postmaster: number;
  try {
    postmaster = Number(readFileSync(join(c.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return 0;
  }
  let total = 0;
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // f[1] is the parent pid; children's time once they exit is in the postmaster's cutime/cstime (f[13], f[14]).
      if (Number(p) === postmaster) total += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK;
      else if (Number(f[1]) === postmaster) total += (Number(f[11]) + Number(f[12])) / CLK_TCK;
    } catch {
      /* gone meanwhile */
    }
  }
  return total;
}
