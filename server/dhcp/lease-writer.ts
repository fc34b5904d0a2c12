// Where the DHCP server's lease writes go: the store, one transaction per
// batch, the replies of a batch sent once it is durable (group commit).
//
// The store decides who holds a dynamic address (several servers may answer
// one network): a write it refuses gets no reply, and the table in memory
// takes the holder's lease from the store.
//
// While the store is unavailable (PostgreSQL down), writes wait in a bounded
// queue, appended to a journal file in the data directory before their
// replies go out (so a SIGKILL meanwhile loses none), and are written in
// order when the store answers again; the journal is then emptied. Beyond
// the bound, requests get no reply: counted and logged, never acknowledged.
import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { Counter, Gauge, type Registry as Metrics } from 'prom-client';
import { LogThrottle, type Logger } from '../log.js';
import { parseIpv4 } from '../net/ipv4.js';
import { StoreUnavailableError, type LeaseWrite, type Store } from '../store/types.js';
import type { LeaseTable } from './leases.js';

export interface Pending<S> {
  lease: LeaseWrite;
  /** The reply that waits for this write, if any. */
  send?: S;
}

export interface LeaseWriterOptions {
  /** Writes kept while the store is unavailable (dhcp.outageQueue). */
  queueMax: number;
  /** The journal of queued writes (in the data directory). */
  journal: string;
  retryMs?: number;
}

const REPLAY_BATCH = 2000;

export class LeaseWriter {
  private queue: LeaseWrite[] = [];
  private timer: NodeJS.Timeout | undefined;
  private replaying: Promise<void> | undefined;
  private readonly droppedLog = new LogThrottle();
  private stopped = false;
  private readonly m;

  constructor(
    private readonly store: Store,
    private readonly table: LeaseTable,
    private readonly log: Logger,
    metrics: Metrics,
    private readonly opts: LeaseWriterOptions,
  ) {
    const queue = () => this.queue.length;
    this.m = {
      refused: new Counter({ name: 'rackboot_dhcp_lease_refused_total', help: 'Lease writes the store refused: another client holds the address (given by another server); no reply was sent', registers: [metrics] }),
      dropped: new Counter({ name: 'rackboot_dhcp_outage_dropped_total', help: 'Requests not answered while the store was unavailable: the lease queue was full (dhcp.outageQueue)', registers: [metrics] }),
      lost: new Counter({ name: 'rackboot_dhcp_outage_lost_total', help: 'Leases acknowledged while the store was unavailable that another client held when they were written', registers: [metrics] }),
      queued: new Gauge({ name: 'rackboot_dhcp_outage_queue', help: 'Lease writes waiting for the store to answer again', registers: [metrics], collect() { this.set(queue()); } }),
    };
  }

  /** True while writes wait for the store (new dynamic addresses may be held back). */
  get outage(): boolean {
    return this.queue.length > 0;
  }

  /** Writes left in the journal by a server that stopped (or was killed) during an outage: queued for the store again. */
  start(): void {
    if (!existsSync(this.opts.journal)) return;
    const lines = readFileSync(this.opts.journal, 'utf8').split('\n').filter(Boolean);
    for (const line of lines) {
      try {
        this.queue.push(JSON.parse(line) as LeaseWrite);
      } catch {
        // A line cut by a crash mid-write: its reply was never sent.
      }
    }
    if (this.queue.length) {
      this.log.warn(`dhcp: ${this.queue.length} lease write(s) acknowledged while the store was unavailable are in ${this.opts.journal}: writing them to the store`);
      this.scheduleReplay(0);
    } else rmSync(this.opts.journal, { force: true });
  }

  /** Write a batch; `deliver` runs for each write that is durable (in the store, or in the journal during an outage). */
  async commit<S>(batch: Array<Pending<S>>, deliver: (send: S) => void): Promise<void> {
    if (!batch.length) return;
    if (!this.outage) {
      try {
        const refused = await this.store.putLeases(batch.map((p) => p.lease));
        const no = refused.length ? new Set(refused) : undefined;
        for (const p of batch) if (p.send !== undefined && !no?.has(p.lease)) deliver(p.send);
        if (refused.length) this.refused(refused);
        return;
      } catch (err) {
        if (!(err instanceof StoreUnavailableError) || this.opts.queueMax === 0) throw err;
        this.log.error(`dhcp: ${err.message}; lease writes wait in memory and in ${this.opts.journal} (at most ${this.opts.queueMax}) and are written when it is back`);
      }
    }
    this.enqueue(batch, deliver);
  }

  private enqueue<S>(batch: Array<Pending<S>>, deliver: (send: S) => void): void {
    const room = Math.max(0, this.opts.queueMax - this.queue.length);
    const kept = batch.slice(0, room);
    const dropped = batch.length - kept.length;
    if (kept.length) {
      // Journal first: a reply goes out only for a write that survives this process.
      appendFileSync(this.opts.journal, kept.map((p) => JSON.stringify(p.lease)).join('\n') + '\n');
      for (const p of kept) this.queue.push(p.lease);
      for (const p of kept) if (p.send !== undefined) deliver(p.send);
    }
    if (dropped) {
      this.m.dropped.inc(dropped);
      if (this.droppedLog.hit(dropped)) {
        this.log.warn(`dhcp: the store is unavailable and ${this.opts.queueMax} lease write(s) wait already: ${this.droppedLog.count} request(s) not answered so far`);
      }
    }
    this.scheduleReplay(this.opts.retryMs ?? 1000);
  }

  private scheduleReplay(ms: number): void {
    if (this.timer || this.replaying || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.replaying = this.replay().finally(() => {
        this.replaying = undefined;
        // Not all written (the store is still away): try again later.
        if (this.queue.length) this.scheduleReplay(this.opts.retryMs ?? 1000);
      });
    }, ms);
  }

  /** Write the queue in order, a batch at a time; stop at the first failure and try again later. */
  private async replay(): Promise<void> {
    const total = this.queue.length;
    let lost = 0;
    while (this.queue.length) {
      const part = this.queue.slice(0, REPLAY_BATCH);
      let refused: LeaseWrite[];
      try {
        refused = await this.store.putLeases(part);
      } catch {
        return;
      }
      this.queue.splice(0, part.length);
      if (refused.length) {
        lost += refused.length;
        this.m.lost.inc(refused.length);
        this.refused(refused);
      }
    }
    rmSync(this.opts.journal, { force: true });
    this.droppedLog.reset();
    this.log.info(`dhcp: the store answers again: ${total} waiting lease write(s) written` + (lost ? `; ${lost} of them refused (another server gave those addresses to other clients meanwhile)` : ''));
  }

  /** Refused writes: the address is another client's in the store; the table takes the store's lease. */
  private refused(list: LeaseWrite[]): void {
    this.m.refused.inc(list.length);
    void (async () => {
      for (const l of list) {
        const ip = parseIpv4(l.ipv4);
        if (ip === undefined) continue;
        const holder = await this.store.getLease(l.network, l.ipv4).catch(() => undefined);
        const cur = this.table.get(l.network, ip);
        if (cur && cur.mac === l.mac) this.table.delete(l.network, ip);
        if (holder) this.table.merge(holder);
      }
    })();
  }

  /** Try once more to write what waits (at stop); returns how many writes stay only in the journal. */
  async stop(): Promise<number> {
    this.stopped = true;
    if (this.timer) (clearTimeout(this.timer), (this.timer = undefined));
    await this.replaying;
    if (this.queue.length) await this.replay().catch(() => undefined);
    if (this.queue.length) this.log.warn(`dhcp: ${this.queue.length} acknowledged lease write(s) could not reach the store; they stay in ${this.opts.journal} for the next start`);
    return this.queue.length;
  }
}
