// A real PostgreSQL cluster for tests and benches: initdb into a temporary
// directory (as the `postgres` user when run as root), the server on a Unix
// socket only (no TCP port to collide with), removed afterwards.
//
// sharedCluster(): one cluster for every test file of one `npm test` run
// (files are separate processes; the first one to ask starts it, the others
// find it), each file in its own database. A watchdog process stops and
// removes it when the run's process exits, even after a crash. A test that
// stops the server (outage tests) takes a privateCluster() of its own.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { IN_CI } from './env.js';
import { waitUntil } from './wait.js';

/** The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/N/bin). */
export function pgBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  let versions: string[] = [];
  try {
    versions = readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'initdb')));
  } catch {
    return undefined;
  }
  const best = versions.sort((a, b) => Number(b) - Number(a))[0];
  return best ? join(root, best, 'bin') : undefined;
}

/** Why PostgreSQL tests cannot run here, or undefined. */
export function pgLacks(): string | undefined {
  if (!pgBinDir()) return "needs PostgreSQL's server binaries (Debian package postgresql; .ci/run installs it)";
  if (process.getuid?.() === 0 && spawnSync('id', ['postgres'], { stdio: 'ignore' }).status !== 0) return "needs the 'postgres' user (Debian package postgresql)";
  return undefined;
}

/** For a before() hook: true when PostgreSQL can run; otherwise prints why (outside CI) or throws (in CI). */
export function havePostgres(what: string): boolean {
  const why = pgLacks();
  if (!why) return true;
  if (IN_CI) throw new Error(`CI must run ${what}, but it ${why}`);
  console.log(`# skipped: ${what}: ${why}`);
  return false;
}

const asRoot = () => process.getuid?.() === 0;

/** Run a PostgreSQL binary as the cluster's owner. */
function pgRun(bin: string, args: string[], opts: { check?: boolean; timeoutMs?: number } = {}): { code: number | null; out: string } {
  const path = join(pgBinDir()!, bin);
  const r = asRoot()
    ? spawnSync('runuser', ['-u', 'postgres', '--', path, ...args], { encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000 })
    : spawnSync(path, args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if ((opts.check ?? true) && r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed (${r.status}): ${out.trim()}`);
  return { code: r.status, out };
}

export interface PgCluster {
  /** Data directory; the socket directory is `socketDir`. */
  readonly dir: string;
  readonly socketDir: string;
  /** A connection URL for a database (user postgres, password given only to show it is never logged). */
  url(db: string, password?: string): string;
  /** A fresh, empty database; returns its URL. */
  createDatabase(prefix?: string): Promise<string>;
  /** Run SQL through psql (for set-up and checks); returns its output. */
  psql(db: string, sql: string): string;
  /** Stop the server (fast: disconnects clients); start() brings the same cluster back. */
  stop(): void;
  start(): void;
  /** Stop and remove (private clusters; the shared one is removed by its watchdog). */
  destroy(): void;
}

export interface ClusterOptions {
  /** Test clusters trade durability for speed; a bench keeps PostgreSQL's defaults. */
  durable?: boolean;
  /** Extra postgresql.conf lines. */
  conf?: string[];
}

class Cluster implements PgCluster {
  readonly socketDir: string;
  constructor(readonly dir: string) {
    this.socketDir = join(dir, 'sock');
  }

  url(db: string, password?: string): string {
    return `postgres://postgres${password ? ':' + encodeURIComponent(password) : ''}@/${db}?host=${encodeURIComponent(this.socketDir)}`;
  }

  async createDatabase(prefix = 'rb'): Promise<string> {
    const db = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
    this.psql('postgres', `CREATE DATABASE ${db}`);
    return this.url(db);
  }

  psql(db: string, sql: string): string {
    return pgRun('psql', ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-h', this.socketDir, '-U', 'postgres', '-d', db, '-c', sql]).out;
  }

  stop(): void {
    pgRun('pg_ctl', ['-D', join(this.dir, 'data'), '-m', 'fast', '-w', 'stop'], { check: false });
  }

  start(): void {
    pgRun('pg_ctl', ['-D', join(this.dir, 'data'), '-l', join(this.dir, 'server.log'), '-w', '-t', '60', 'start']);
  }

  destroy(): void {
    pgRun('pg_ctl', ['-D', join(this.dir, 'data'), '-m', 'immediate', '-w', 'stop'], { check: false });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function initCluster(dir: string, opts: ClusterOptions): Cluster {
  mkdirSync(join(dir, 'sock'), { recursive: true });
  chmodSync(dir, 0o755);
  if (asRoot()) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, uid, gid);
    chownSync(join(dir, 'sock'), uid, gid);
  }
  pgRun('initdb', ['-D', join(dir, 'data'), '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale', 'C', '--no-sync']);
  const conf = [
    "listen_addresses = ''",
    `unix_socket_directories = '${join(dir, 'sock')}'`,
    'port = 5432',
    'max_connections = 300',
    'shared_buffers = 64MB',
    "log_min_messages = 'warning'",
    ...(opts.durable ? [] : ['fsync = off', 'synchronous_commit = off', 'full_page_writes = off']),
    ...(opts.conf ?? []),
  ];
  writeFileSync(join(dir, 'data', 'postgresql.auto.conf'), conf.join('\n') + '\n');
  const c = new Cluster(dir);
  c.start();
  return c;
}

/** A cluster of this process's own: destroy() it in an after() hook (a watchdog also removes it when this process exits). */
export function privateCluster(opts: ClusterOptions = {}): PgCluster {
  const dir = join(tmpdir(), `rackboot-pg-p${process.pid}-${randomBytes(3).toString('hex')}`);
  const c = initCluster(dir, opts);
  watchdog(process.pid, dir);
  return c;
}

/**
 * The run's shared cluster. Under `node --test` every file is a child of the
 * runner: the runner's pid keys the cluster, so all files find the same one.
 */
export async function sharedCluster(): Promise<PgCluster> {
  const owner = process.env.NODE_TEST_CONTEXT ? process.ppid : process.pid;
  const dir = join(tmpdir(), `rackboot-pg-s${owner}`);
  const ready = join(dir, 'ready');
  const lock = `${dir}.lock`;
  let mine = false;
  try {
    mkdirSync(lock);
    mine = true;
  } catch {
    /* another file is starting it, or started it */
  }
  if (mine) {
    rmSync(dir, { recursive: true, force: true });
    try {
      initCluster(dir, {});
    } catch (e) {
      rmSync(lock, { recursive: true, force: true });
      throw e;
    }
    writeFileSync(ready, String(process.pid));
    watchdog(owner, dir, lock);
  } else {
    if (!(await waitUntil(() => existsSync(ready), 120_000, 50))) throw new Error(`the shared PostgreSQL cluster in ${dir} did not get ready`);
  }
  return new Cluster(dir);
}

/** Stop and remove the cluster once `pid` is gone (a detached shell: it outlives a crashed test). */
function watchdog(pid: number, dir: string, lock?: string): void {
  const stop = asRoot() ? `runuser -u postgres -- ${join(pgBinDir()!, 'pg_ctl')}` : join(pgBinDir()!, 'pg_ctl');
  const script = `while kill -0 ${pid} 2>/dev/null; do sleep 1; done; ${stop} -D '${join(dir, 'data')}' -m immediate -w stop >/dev/null 2>&1; rm -rf '${dir}' ${lock ? `'${lock}'` : ''}`;
  const w = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  w.unref();
}
