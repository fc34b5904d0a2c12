// This node's PostgreSQL in a managed pair (pair.database.mode managed):
// PostgreSQL's own tools, run as its OS user (initdb, pg_basebackup,
// pg_rewind, pg_ctl start/promote/stop, psql on the Unix socket). rackboot
// decides when; PostgreSQL's streaming replication does the copying.
//
// Node-specific settings (port, sockets, addresses) go on pg_ctl's command
// line, because pg_basebackup and pg_rewind copy the configuration files
// from the peer; the shared ones are in rackboot.conf, included by
// postgresql.conf. pg_hba.conf is rewritten at every start.
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CommandRunner, RunResult } from '../director/exec.js';
import type { Logger } from '../log.js';
import { formatIpv4, type Ipv4 } from '../net/ipv4.js';
import type { PairDatabase } from './model.js';

export interface LocalPostgresOptions {
  db: PairDatabase;
  bin: string;
  socketDir: string;
  /** application_name of this node's walreceiver: what the primary's synchronous_standby_names names. */
  appName: string;
  /** Who may connect over the network: both nodes' own addresses and the floating ones. */
  clients: Ipv4[];
}

export interface ControlData {
  /** "in production", "shut down", "in archive recovery", "shut down in recovery", ... */
  state: string;
  timeline: number;
  checkpoint: string;
}

export interface ReplicationRow {
  name: string;
  address: string;
  state: string;
  sync: string;
  replayLagBytes: number;
}

/** The newest installed /usr/lib/postgresql/N/bin. */
export function defaultPgBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  try {
    const v = readdirSync(root).filter((x) => /^\d+$/.test(x) && existsSync(join(root, x, 'bin', 'pg_ctl'))).sort((a, b) => Number(b) - Number(a))[0];
    return v ? join(root, v, 'bin') : undefined;
  } catch {
    return undefined;
  }
}

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;
/** A libpq key=value connection string value. */
const kv = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** Lines of a config file without the keys rackboot sets itself. */
function withoutKeys(text: string, keys: string[]): string {
  return text
    .split('\n')
    .filter((l) => !keys.some((k) => new RegExp(`^\\s*${k}\\s*=`).test(l)))
    .join('\n');
}

export class LocalPostgres {
  readonly dataDir: string;
  readonly logFile: string;
  private readonly asRoot = process.getuid?.() === 0;

  constructor(private readonly o: LocalPostgresOptions, private readonly runner: CommandRunner, private readonly log: Logger) {
    this.dataDir = o.db.dataDir;
    this.logFile = join(dirname(o.db.dataDir), 'postgres.log');
  }

  private get db() {
    return this.o.db;
  }

  /** A PostgreSQL program as its OS user (runuser when rackboot is root). */
  private as(bin: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
    const path = join(this.o.bin, bin);
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const argv = this.asRoot ? ['runuser', '-u', this.db.osUser, '--', 'env', ...envArgs, path, ...args] : ['env', ...envArgs, path, ...args];
    return this.runner.run(argv[0]!, argv.slice(1));
  }

  private async must(bin: string, args: string[], what: string, env: Record<string, string> = {}): Promise<string> {
    const r = await this.as(bin, args, env);
    if (r.code !== 0) throw new Error(`${what}: ${bin} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-4).join(' | ')}`);
    return r.stdout;
  }

  private get pw(): Record<string, string> {
    return this.db.replicationPassword ? { PGPASSWORD: this.db.replicationPassword } : {};
  }

  exists(): boolean {
    return existsSync(join(this.dataDir, 'PG_VERSION'));
  }

  /** Directories this node's PostgreSQL needs, owned by its user. */
  async prepareDirs(): Promise<void> {
    for (const d of [dirname(this.dataDir), this.o.socketDir]) {
      mkdirSync(d, { recursive: true });
      chmodSync(d, 0o755);
    }
    // pg_ctl opens its log as the server's user.
    if (!existsSync(this.logFile)) writeFileSync(this.logFile, '');
    await this.runner.must('chown', [`${this.db.osUser}:`, this.o.socketDir, this.logFile]);
    if (!existsSync(this.dataDir)) {
      mkdirSync(this.dataDir, { mode: 0o700 });
      await this.runner.must('chown', [`${this.db.osUser}:`, this.dataDir]);
    }
    const probe = await this.as('pg_controldata', ['--version']);
    if (probe.code !== 0) throw new Error(`PostgreSQL's programs in ${this.o.bin} do not run as user ${this.db.osUser}: ${(probe.stderr || probe.stdout).trim()}`);
  }

  async control(): Promise<ControlData | undefined> {
    if (!this.exists()) return undefined;
    const r = await this.as('pg_controldata', ['-D', this.dataDir]);
    if (r.code !== 0) return undefined;
    const get = (k: string) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(r.stdout)?.[1]?.trim() ?? '';
    return { state: get('Database cluster state'), timeline: Number(get("Latest checkpoint's TimeLineID")) || 0, checkpoint: get('Latest checkpoint location') };
  }

  /**
   * Whether this data directory's postmaster runs. A postmaster.pid whose
   * process is gone, or is not a PostgreSQL of this directory (a recycled
   * pid), is stale and removed, or PostgreSQL would refuse to start.
   */
  running(): boolean {
    const f = join(this.dataDir, 'postmaster.pid');
    let pid: number;
    try {
      pid = Number(readFileSync(f, 'utf8').split('\n')[0]);
    } catch {
      return false;
    }
    try {
      if (realpathSync(readlinkSync(`/proc/${pid}/cwd`)) === realpathSync(this.dataDir)) return true;
    } catch {
      /* gone */
    }
    rmSync(f, { force: true });
    this.log.info(`pair: removed a stale postmaster.pid (pid ${pid} is not this directory's PostgreSQL)`);
    return false;
  }

  /** SQL as the superuser on the local socket; rows as text lines (fields split by |). */
  async sql(q: string): Promise<string[]> {
    const out = await this.must('psql', ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-h', this.o.socketDir, '-p', String(this.db.port), '-U', this.db.osUser, '-d', 'postgres', '-c', q], 'local SQL');
    return out.split('\n').filter((l) => l.length);
  }

  /** Ask another node's PostgreSQL whether it is a primary: true, false, or undefined when it does not answer. */
  async isPrimaryAt(host: Ipv4, timeoutMs: number): Promise<boolean | undefined> {
    const conn = `host=${formatIpv4(host)} port=${this.db.port} user=${this.db.replicationUser} dbname=postgres connect_timeout=${Math.max(1, Math.ceil(timeoutMs / 1000))}`;
    const r = await this.as('psql', ['-X', '-q', '-t', '-A', '-d', conn, '-c', 'SELECT pg_is_in_recovery()'], this.pw);
    if (r.code !== 0) return undefined;
    return r.stdout.trim() === 'f';
  }

  private writeConfigs(): void {
    const hba = [
      '# rendered by rackboot (pair): rewritten at every start, do not edit',
      `local all ${this.db.osUser} peer`,
      `local replication ${this.db.osUser} peer`,
    ];
    const store = this.db.store;
    for (const a of new Set(this.o.clients.map(formatIpv4))) {
      hba.push(`host replication ${this.db.replicationUser} ${a}/32 ${this.db.auth}`);
      hba.push(`host postgres ${this.db.replicationUser} ${a}/32 ${this.db.auth}`);
      if (store) hba.push(`host ${ident(store.database)} ${ident(store.user)} ${a}/32 ${this.db.auth}`);
    }
    writeFileSync(join(this.dataDir, 'pg_hba.conf'), hba.join('\n') + '\n');
    const conf = [
      '# rendered by rackboot (pair): the settings both nodes share; rewritten at every start',
      'wal_level = replica',
      // pg_rewind needs full-page hints, and WAL back to the last common checkpoint.
      'wal_log_hints = on',
      `wal_keep_size = ${this.db.walKeep}`,
      'max_wal_senders = 10',
      'max_replication_slots = 10',
      'hot_standby = on',
      'hot_standby_feedback = on',
      // A standby that stops answering is let go within seconds, so synchronous commits do not wait long for it.
      'wal_sender_timeout = 3s',
      'wal_receiver_timeout = 5s',
      'wal_receiver_status_interval = 1s',
      'wal_retrieve_retry_interval = 1s',
      'synchronous_commit = on',
      'max_connections = 300',
    ];
    writeFileSync(join(this.dataDir, 'rackboot.conf'), conf.join('\n') + '\n');
    const main = join(this.dataDir, 'postgresql.conf');
    const text = readFileSync(main, 'utf8');
    if (!/^include_if_exists = 'rackboot\.conf'/m.test(text)) writeFileSync(main, `${text}\ninclude_if_exists = 'rackboot.conf'\n`);
  }

  /** primary_conninfo to follow `primary`; synchronous_standby_names never comes along from the peer's files. */
  private writeAutoConf(primary: Ipv4 | undefined): void {
    const f = join(this.dataDir, 'postgresql.auto.conf');
    const old = existsSync(f) ? readFileSync(f, 'utf8') : '';
    const lines = withoutKeys(old, ['primary_conninfo', 'synchronous_standby_names', 'primary_slot_name']).trimEnd().split('\n');
    if (primary !== undefined) {
      const conn = [
        `host=${formatIpv4(primary)}`,
        `port=${this.db.port}`,
        `user=${this.db.replicationUser}`,
        ...(this.db.replicationPassword ? [`password=${kv(this.db.replicationPassword)}`] : []),
        `application_name=${kv(this.o.appName)}`,
        'connect_timeout=2',
        'keepalives_idle=2',
        'keepalives_interval=1',
        'keepalives_count=3',
      ].join(' ');
      lines.push(`primary_conninfo = ${literal(conn)}`);
    }
    writeFileSync(f, lines.join('\n') + '\n', { mode: 0o600 });
  }

  private pgCtlOptions(listen: string): string {
    return `-c port=${this.db.port} -c listen_addresses=${listen} -c unix_socket_directories=${this.o.socketDir} -c cluster_name=rackboot`;
  }

  /**
   * Start as a standby of `primary` (undefined: of nobody yet; it waits).
   * A node's PostgreSQL always starts as a standby: only the VRRP master
   * promotes, so a returning node can never be a second primary.
   */
  async startStandby(primary: Ipv4 | undefined): Promise<void> {
    this.writeConfigs();
    this.writeAutoConf(primary);
    rmSync(join(this.dataDir, 'recovery.signal'), { force: true });
    writeFileSync(join(this.dataDir, 'standby.signal'), '');
    await this.chownData();
    await this.must('pg_ctl', ['-D', this.dataDir, '-l', this.logFile, '-w', '-t', '120', '-o', this.pgCtlOptions("'*'"), 'start'], 'starting PostgreSQL as a standby');
  }

  private async chownData(): Promise<void> {
    await this.runner.must('chown', ['-R', `${this.db.osUser}:`, this.dataDir]);
  }

  async promote(): Promise<void> {
    await this.must('pg_ctl', ['-D', this.dataDir, '-w', '-t', '60', 'promote'], 'promoting PostgreSQL');
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!this.running()) return;
    await this.must('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '60', 'stop'], 'stopping PostgreSQL');
  }

  async isPrimary(): Promise<boolean> {
    return (await this.sql('SELECT pg_is_in_recovery()'))[0] === 'f';
  }

  /**
   * A new cluster: initdb, then on the Unix socket only (no network, so it
   * serves nobody as a primary) the roles and the database rackboot uses,
   * then stopped. startStandby() follows.
   */
  async initialize(): Promise<void> {
    const store = this.db.store;
    if (!store) throw new Error('store.url names no database to create');
    await this.must('initdb', ['-D', this.dataDir, '-U', this.db.osUser, '--auth-local', 'peer', '--auth-host', 'scram-sha-256', '-E', 'UTF8', '--locale', 'C', '--data-checksums'], 'initdb');
    this.writeConfigs();
    await this.must('pg_ctl', ['-D', this.dataDir, '-l', this.logFile, '-w', '-t', '60', '-o', this.pgCtlOptions("''"), 'start'], 'starting the new cluster locally');
    try {
      const rep = ident(this.db.replicationUser);
      const repPw = this.db.replicationPassword ? ` PASSWORD ${literal(this.db.replicationPassword)}` : '';
      const storePw = store.password ? ` PASSWORD ${literal(store.password)}` : '';
      await this.sql(`CREATE ROLE ${rep} LOGIN REPLICATION${repPw}`);
      // pg_rewind's documented grants, and CHECKPOINT before a rewind (PostgreSQL 15's pg_checkpoint).
      for (const fn of ['pg_ls_dir(text, boolean, boolean)', 'pg_stat_file(text, boolean)', 'pg_read_binary_file(text)', 'pg_read_binary_file(text, bigint, bigint, boolean)']) {
        await this.sql(`GRANT EXECUTE ON FUNCTION pg_catalog.${fn} TO ${rep}`);
      }
      await this.sql(`DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pg_checkpoint') THEN EXECUTE 'GRANT pg_checkpoint TO ${rep.replace(/'/g, "''")}'; END IF; END $$`);
      await this.sql(`CREATE ROLE ${ident(store.user)} LOGIN${storePw}`);
      await this.sql(`CREATE DATABASE ${ident(store.database)} OWNER ${ident(store.user)}`);
    } finally {
      await this.must('pg_ctl', ['-D', this.dataDir, '-m', 'fast', '-w', 'stop'], 'stopping the new cluster');
    }
  }

  /** A fresh copy of the peer's cluster (pg_basebackup); what was here is moved aside. */
  async baseBackup(from: Ipv4): Promise<void> {
    if (existsSync(this.dataDir)) {
      const aside = `${this.dataDir}.old`;
      rmSync(aside, { recursive: true, force: true });
      if (this.exists()) renameSync(this.dataDir, aside);
      else rmSync(this.dataDir, { recursive: true, force: true });
    }
    mkdirSync(this.dataDir, { mode: 0o700 });
    await this.runner.must('chown', [`${this.db.osUser}:`, this.dataDir]);
    const conn = `host=${formatIpv4(from)} port=${this.db.port} user=${this.db.replicationUser} connect_timeout=5`;
    await this.must('pg_basebackup', ['-d', conn, '-D', this.dataDir, '-X', 'stream', '-c', 'fast', '--no-sync'], `copying the database from ${formatIpv4(from)}`, this.pw);
  }

  /**
   * Bring a former primary back in line with the peer's timeline: a
   * CHECKPOINT there (so its control file names its new timeline), then
   * pg_rewind (which first finishes the crash recovery of a killed cluster;
   * that runs without the standby signal, single-user, on no socket).
   */
  async rewind(from: Ipv4): Promise<void> {
    for (const s of ['standby.signal', 'recovery.signal']) rmSync(join(this.dataDir, s), { force: true });
    const base = `host=${formatIpv4(from)} port=${this.db.port} user=${this.db.replicationUser} dbname=postgres connect_timeout=5`;
    const cp = await this.as('psql', ['-X', '-q', '-d', base, '-c', 'CHECKPOINT'], this.pw);
    if (cp.code !== 0) this.log.warn(`pair: CHECKPOINT on the peer's database before pg_rewind failed: ${cp.stderr.trim()}`);
    await this.must('pg_rewind', ['-D', this.dataDir, '--source-server', base, '--no-sync'], `pg_rewind from ${formatIpv4(from)}`, this.pw);
  }

  /** One round trip: role, timeline, WAL position, the walsenders (primary) or the walreceiver (standby). */
  async snapshot(): Promise<{ primary: boolean; timeline: number; position: string; replication: ReplicationRow[]; receiver: { status: string; sender: string } | undefined }> {
    const rows = await this.sql(
      [
        "SELECT 'n', CASE WHEN pg_is_in_recovery() THEN 'f' ELSE 't' END, (SELECT timeline_id FROM pg_control_checkpoint())::text, (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text",
        "UNION ALL SELECT 'r', application_name, coalesce(host(client_addr), '') || '|' || state || '|' || sync_state, coalesce(pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn() END, replay_lsn), 0)::bigint::text FROM pg_stat_replication",
        "UNION ALL SELECT 'w', status, coalesce(sender_host, ''), '' FROM pg_stat_wal_receiver",
      ].join(' '),
    );
    const out = { primary: false, timeline: 0, position: '', replication: [] as ReplicationRow[], receiver: undefined as { status: string; sender: string } | undefined };
    for (const l of rows) {
      const f = l.split('|');
      if (f[0] === 'n') Object.assign(out, { primary: f[1] === 't', timeline: Number(f[2]) || 0, position: f[3] ?? '' });
      else if (f[0] === 'r') out.replication.push({ name: f[1] ?? '', address: f[2] ?? '', state: f[3] ?? '', sync: f[4] ?? '', replayLagBytes: Number(f[5]) || 0 });
      else if (f[0] === 'w') out.receiver = { status: f[1] ?? '', sender: f[2] ?? '' };
    }
    return out;
  }

  async walPosition(): Promise<string> {
    return (await this.sql('SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END'))[0] ?? '';
  }

  /** Commits wait for `standby` (its application_name), or for nobody (''). */
  async setSynchronous(standby: string): Promise<void> {
    await this.sql(`ALTER SYSTEM SET synchronous_standby_names = ${literal(standby ? ident(standby) : '')}`);
    await this.sql('SELECT pg_reload_conf()');
  }
}
