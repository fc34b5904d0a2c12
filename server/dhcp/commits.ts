// Group commit: leases changed in one event-loop turn are written to the
// store in one transaction (lease-writer.ts), and the replies waiting for
// them go out once that is durable. An ACK is never sent before its lease
// is committed; a batch the store fails to write sends nothing (the clients
// retry, and the next batch writes their leases).
import { Counter, Histogram, type Registry as Metrics } from 'prom-client';
import type { Logger } from '../log.js';
import type { LeaseWrite, Store } from '../store/types.js';
import { LeaseWriter, type LeaseWriterOptions, type Pending } from './lease-writer.js';
import { toRecord, type LeaseTable, type MemLease } from './leases.js';
import type { OutgoingReply } from './replies.js';

export class GroupCommit {
  private pending: Array<Pending<OutgoingReply>> = [];
  private scheduled = false;
  private flushing: Promise<void> = Promise.resolve();
  private readonly writer: LeaseWriter;
  private readonly m;

  /** @param deliver sends a reply once its lease is durable */
  constructor(
    store: Store,
    leases: LeaseTable,
    private readonly log: Logger,
    metrics: Metrics,
    opts: LeaseWriterOptions,
    private readonly deliver: (r: OutgoingReply) => void,
  ) {
    this.writer = new LeaseWriter(store, leases, log, metrics, opts);
    this.m = {
      commit: new Histogram({
        name: 'rackboot_dhcp_lease_commit_seconds',
        help: 'Time to commit one batch of leases (the ACKs of the batch wait for it)',
        buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5],
        registers: [metrics],
      }),
      errors: new Counter({ name: 'rackboot_dhcp_lease_commit_errors_total', help: 'Lease batches the store failed to write (their ACKs were not sent)', registers: [metrics] }),
    };
  }

  /** True while writes wait for the store (see LeaseWriter.outage). */
  get outage(): boolean {
    return this.writer.outage;
  }

  /** Writes a stopped server left in the outage journal go to the store again. */
  start(): void {
    this.writer.start();
  }

  /** Write `lease` in this turn's batch; `reply` goes out once it is durable. */
  queue(lease: MemLease, reply: OutgoingReply | undefined, reserved = false): void {
    const record: LeaseWrite = toRecord(lease);
    // A registered client's address is the registry's decision: written whoever held it.
    if (reserved) record.reserved = true;
    this.pending.push(reply ? { lease: record, send: reply } : { lease: record });
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // After this turn's I/O callbacks: every packet read in this turn joins the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.chain();
    });
  }

  /** One more flush after the ones running; caught, so one failed flush cannot stop every later one. */
  private chain(): Promise<void> {
    this.flushing = this.flushing
      .then(() => this.flush())
      .catch((err) => {
        this.m.errors.inc();
        this.log.error({ err }, 'dhcp: a lease flush failed');
      });
    return this.flushing;
  }

  private async flush(): Promise<void> {
    if (!this.pending.length) return;
    const batch = this.pending;
    this.pending = [];
    const end = this.m.commit.startTimer();
    try {
      await this.writer.commit(batch, this.deliver);
    } catch (err) {
      // Not durable: send nothing. The clients retry and the next batch writes their leases.
      this.m.errors.inc();
      this.log.error({ err }, `dhcp: could not write ${batch.length} lease(s); their ACKs were not sent`);
    } finally {
      end();
    }
  }

  /** Run flushes until nothing is queued (a scheduled flush that has not started yet is run now). */
  async drain(): Promise<void> {
    do await this.chain();
    while (this.pending.length);
  }

  /** Wait until what is queued now is written and its replies sent (tests). */
  async settle(): Promise<void> {
    this.schedule();
    await new Promise((r) => setImmediate(r));
    await this.flushing;
  }

  /** After drain(): one last try at writes waiting for the store (see LeaseWriter.stop). */
  async stop(): Promise<void> {
    await this.writer.stop();
  }
}
