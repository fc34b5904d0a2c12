// The database side of a node's role (pair.database.mode managed):
//
//   start     the local PostgreSQL always comes up as a standby: a copy of
//             the peer's (pg_basebackup) when it has none, brought back to
//             the peer's timeline (pg_rewind) when it was a primary, or a
//             new cluster on the one node allowed to bootstrap when no peer
//             database answers;
//   master    promoted, after making sure the peer's database is not a
//             primary (keepalived could be wrong about a peer it cannot
//             hear); commits then wait for the standby while it streams;
//   backup    a primary here is stopped and rewound to follow the peer.
//
// With mode external the site's own HA PostgreSQL does all this; the node
// only uses it.
import type { Logger } from '../log.js';
import { formatIpv4, type Ipv4 } from '../net/ipv4.js';
import type { ResolvedPair } from './model.js';
import type { LocalPostgres, ReplicationRow } from './postgres.js';

export type DbState = 'external' | 'starting' | 'copying' | 'rewinding' | 'standby' | 'promoting' | 'primary' | 'stopped' | 'failed';

export interface DbStatus {
  mode: 'managed' | 'external';
  state: DbState;
  detail: string | null;
  timeline: number | null;
  position: string | null;
  /** On a primary: its standbys. */
  replication: ReplicationRow[];
  /** On a standby: its walreceiver. */
  receiver: { status: string; sender: string } | null;
  synchronous: string | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class PairDatabase {
  state: DbState;
  detail: string | null = null;
  private synchronous: string | null = null;
  private loop: NodeJS.Timeout | undefined;
  private busy: Promise<void> = Promise.resolve();
  private notStreamingSince: number | undefined;
  private stopped = false;
  /** The last look at the local PostgreSQL (every second), what GET /pair shows. */
  private snap: Awaited<ReturnType<LocalPostgres['snapshot']>> | undefined;

  constructor(
    private readonly pair: ResolvedPair,
    private readonly pg: LocalPostgres | undefined,
    /** The peer's address where its database listens (the link of the store's floating address). */
    private readonly peer: Ipv4,
    private readonly log: Logger,
  ) {
    this.state = pg ? 'starting' : 'external';
  }

  get managed(): boolean {
    return !!this.pg;
  }

  private set(state: DbState, detail: string | null = null): void {
    this.state = state;
    this.detail = detail;
  }

  /** One database operation at a time (a takeover must not race a rejoin). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.busy.then(fn);
    this.busy = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  /** Bring the local PostgreSQL up as a standby (see the header). */
  setup(): Promise<void> {
    return this.serial(async () => {
      const pg = this.pg;
      if (!pg) return;
      await pg.prepareDirs();
      let wasPrimary = false;
      if (pg.running()) {
        // Left running by an earlier rackboot: restarted under this node's rules.
        wasPrimary = await pg.isPrimary().catch(() => false);
        this.log.info(`pair: PostgreSQL was running (${wasPrimary ? 'as a primary' : 'as a standby'}); restarting it as a standby`);
        await pg.stop('fast');
      }
      for (;;) {
        const peerPrimary = await pg.isPrimaryAt(this.peer, 2000);
        if (!pg.exists()) {
          if (peerPrimary) {
            this.set('copying', `pg_basebackup from ${formatIpv4(this.peer)}`);
            this.log.info(`pair: no database here: copying the peer's (${formatIpv4(this.peer)})`);
            await pg.baseBackup(this.peer);
            break;
          }
          if (peerPrimary === undefined && this.pair.database.bootstrap) {
            this.log.info("pair: no database here and none answers at the peer: creating the pair's database (pair.database.bootstrap)");
            await pg.initialize();
            break;
          }
          this.set('starting', `waiting for the peer's database at ${formatIpv4(this.peer)} to be a primary to copy it (${peerPrimary === undefined ? 'it does not answer' : 'it is a standby'})`);
          if (this.stopped) throw new Error('stopped');
          await sleep(2000);
          continue;
        }
        const ctl = await pg.control();
        wasPrimary ||= !!ctl && (ctl.state === 'in production' || ctl.state === 'shut down');
        if (peerPrimary && wasPrimary) await this.rewindOrCopy();
        break;
      }
      await pg.startStandby(this.peer);
      this.set('standby', `following ${formatIpv4(this.peer)}`);
      this.startLoop();
    });
  }

  private async rewindOrCopy(): Promise<void> {
    const pg = this.pg!;
    if (pg.running()) await pg.stop('fast');
    this.set('rewinding', `pg_rewind from ${formatIpv4(this.peer)}`);
    try {
      await pg.rewind(this.peer);
      this.log.info(`pair: database rewound to the peer's timeline (${formatIpv4(this.peer)})`);
    } catch (e) {
      this.log.warn(`pair: ${(e as Error).message}; taking a fresh copy instead (the old data directory is kept as ${pg.dataDir}.old)`);
      this.set('copying', `pg_basebackup from ${formatIpv4(this.peer)}`);
      await pg.baseBackup(this.peer);
    }
  }

  /**
   * This node became master. Refuses (returns false) when the peer's
   * database still answers as a primary: two primaries would each take
   * writes the other never sees.
   */
  promote(): Promise<boolean> {
    return this.serial(async () => {
      const pg = this.pg;
      if (!pg) return true;
      if (await pg.isPrimary().catch(() => false)) {
        this.set('primary');
        return true;
      }
      const peer = await pg.isPrimaryAt(this.peer, this.pair.database.promoteGuardMs);
      if (peer) {
        this.log.error(`pair: keepalived made this node master, but the peer's database (${formatIpv4(this.peer)}) is a primary: not promoting this one`);
        return false;
      }
      this.set('promoting');
      const t0 = Date.now();
      await pg.promote();
      // Nobody to wait for until the peer streams again (the sync loop sets it then).
      await pg.setSynchronous('');
      this.synchronous = '';
      this.set('primary');
      this.log.info(`pair: database promoted in ${Date.now() - t0} ms (the peer's did not answer as a primary within ${this.pair.database.promoteGuardMs} ms)`);
      return true;
    });
  }

  /** This node is backup: a primary here must go (stopped, rewound to follow the peer). */
  demote(): Promise<void> {
    return this.serial(async () => {
      const pg = this.pg;
      if (!pg || this.stopped || !pg.running() || !(await pg.isPrimary().catch(() => false))) return;
      this.log.warn('pair: this node is backup but its database is a primary: stopping it and following the peer');
      await pg.stop('fast');
      await this.rewindOrCopy();
      await pg.startStandby(this.peer);
      this.set('standby', `following ${formatIpv4(this.peer)}`);
    });
  }

  /** Planned handover, on the master: stop the primary cleanly (every WAL record reaches the standby first). Returns its last checkpoint. */
  handOver(): Promise<string | undefined> {
    return this.serial(async () => {
      const pg = this.pg;
      if (!pg) return undefined;
      this.set('stopped', 'handing over to the peer');
      await pg.stop('fast');
      return (await pg.control())?.checkpoint;
    });
  }

  /** After a handover: follow the peer's new primary. */
  rejoin(): Promise<void> {
    return this.serial(async () => {
      const pg = this.pg;
      if (!pg) return;
      await this.rewindOrCopy();
      await pg.startStandby(this.peer);
      this.set('standby', `following ${formatIpv4(this.peer)}`);
    });
  }

  /** Every second: on a primary, whom commits wait for; on a standby, whether it still follows. */
  private startLoop(): void {
    clearInterval(this.loop);
    this.loop = setInterval(() => void this.tick().catch((e: unknown) => this.log.debug(`pair: database check: ${(e as Error).message}`)), 1000);
    this.loop.unref();
  }

  private async tick(): Promise<void> {
    const pg = this.pg;
    if (!pg || this.stopped) return;
    this.snap = pg.running() ? await pg.snapshot().catch(() => undefined) : undefined;
    if (this.state === 'primary' && this.pair.database.synchronous) {
      const rows = this.snap?.replication ?? [];
      const peerStreams = rows.some((r) => r.name === this.pair.peerName && r.state === 'streaming');
      const want = peerStreams ? this.pair.peerName : '';
      if (want !== this.synchronous) {
        await pg.setSynchronous(want);
        this.synchronous = want;
        this.log.info(want ? `pair: the peer's database streams: commits wait for it again (synchronous)` : `pair: the peer's database does not stream: commits no longer wait for it`);
      }
      return;
    }
    if (this.state === 'standby') {
      const r = this.snap?.receiver;
      if (r?.status === 'streaming') return void (this.notStreamingSince = undefined);
      this.notStreamingSince ??= Date.now();
      // Not following for a while, and the peer is a primary: this node's history went elsewhere (it was a primary).
      if (Date.now() - this.notStreamingSince > 10_000 && (await pg.isPrimaryAt(this.peer, 2000))) {
        this.notStreamingSince = undefined;
        await this.serial(async () => {
          this.log.warn(`pair: this standby does not follow the peer's primary (${formatIpv4(this.peer)}); rewinding it`);
          await pg.stop('fast');
          await this.rewindOrCopy();
          await pg.startStandby(this.peer);
          this.set('standby', `following ${formatIpv4(this.peer)}`);
        });
      }
    }
  }

  /** Look at the local PostgreSQL now (GET /pair?fresh=true: a switchover waits on the peer's position). */
  async refresh(): Promise<void> {
    if (this.pg?.running()) this.snap = await this.pg.snapshot().catch(() => this.snap);
  }

  /** As of the last check (at most a second old): GET /pair answers at once, also under load. */
  status(): DbStatus {
    const s = this.pg && (this.state === 'primary' || this.state === 'standby') ? this.snap : undefined;
    return {
      mode: this.pg ? 'managed' : 'external',
      state: this.state,
      detail: this.detail,
      timeline: s?.timeline ?? null,
      position: s?.position || null,
      replication: s?.replication ?? [],
      receiver: s?.receiver ?? null,
      synchronous: this.synchronous,
    };
  }

  /** The position a standby has replayed to (switchover waits for it). */
  async position(): Promise<string | undefined> {
    return this.pg?.walPosition().catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.loop);
    await this.busy;
    await this.pg?.stop('fast').catch((e: unknown) => this.log.warn(`pair: stopping PostgreSQL: ${(e as Error).message}`));
    if (this.pg) this.set('stopped');
  }
}
