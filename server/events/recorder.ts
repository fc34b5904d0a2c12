// Per-node boot timeline. Protocol handlers record events on their hot path,
// so records are buffered and written in one transaction per flush instead of
// one write per packet; live listeners (SSE, the director) see them at once,
// and, with several servers on one database, also the events other servers
// recorded (relayed, tagged with their server). While the store is
// unavailable, batches wait and are written when it is back (bounded).
import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import { StoreUnavailableError, type EventInput, type EventRecord, type Store } from '../store/types.js';

export interface RecordedEvent extends Required<Omit<EventInput, 'detail' | 'mac' | 'server'>> {
  /** The server that recorded it (server.name). */
  server: string | null;
  mac: string | null;
  detail: Record<string, unknown>;
  /** Set for events relayed from another server (already stored, by it). */
  id?: number;
}

export class EventRecorder extends EventEmitter<{ event: [RecordedEvent] }> {
  private buffer: EventInput[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private unavailableLogged = false;
  private closed = false;
  dropped = 0;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly opts: { flushMs: number; maxBuffer: number; retryMs?: number } = { flushMs: 200, maxBuffer: 100_000 },
  ) {
    super();
    this.setMaxListeners(0);
  }

  record(e: EventInput): void {
    const full: RecordedEvent = { server: this.store.server, node: e.node, mac: e.mac ?? null, kind: e.kind, detail: e.detail ?? {}, ts: e.ts ?? Date.now() };
    if (this.buffer.length >= this.opts.maxBuffer) {
      // A flood must not grow memory without bound; the counter shows it happened.
      this.dropped++;
    } else {
      this.buffer.push(full);
    }
    this.emit('event', full);
    this.timer ??= setTimeout(() => void this.flush(), this.opts.flushMs);
  }

  /** An event another server recorded and stored: to the live listeners only. */
  relay(e: EventRecord): void {
    this.emit('event', { id: e.id, server: e.server, node: e.node, mac: e.mac, kind: e.kind, detail: e.detail, ts: e.ts });
  }

  async flush(): Promise<void> {
    if (this.timer) (clearTimeout(this.timer), (this.timer = undefined));
    await this.flushing;
    if (!this.buffer.length) return;
    const batch = this.buffer;
    this.buffer = [];
    this.flushing = this.store.addEvents(batch).then(
      () => {
        if (this.unavailableLogged) this.log.info('events: the store is back; waiting events written');
        this.unavailableLogged = false;
      },
      (err: unknown) => this.failed(batch, err),
    );
    await this.flushing;
    this.flushing = undefined;
  }

  private failed(batch: EventInput[], err: unknown): void {
    if (!(err instanceof StoreUnavailableError)) {
      this.log.error({ err }, `events: could not write ${batch.length} event(s)`);
      return;
    }
    // Kept for the next try, oldest first, within the same bound as the buffer.
    const room = Math.max(0, this.opts.maxBuffer - this.buffer.length);
    const kept = batch.slice(Math.max(0, batch.length - room));
    this.dropped += batch.length - kept.length;
    this.buffer = [...kept, ...this.buffer];
    if (!this.unavailableLogged) this.log.warn(`events: ${err.message}; ${this.buffer.length} event(s) wait for it (at most ${this.opts.maxBuffer})`);
    this.unavailableLogged = true;
    if (!this.closed) this.timer ??= setTimeout(() => void this.flush(), this.opts.retryMs ?? 1000);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    if (this.buffer.length) this.log.warn(`events: ${this.buffer.length} event(s) not written: the store is unavailable`);
    if (this.timer) (clearTimeout(this.timer), (this.timer = undefined));
  }
}
