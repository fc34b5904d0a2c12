// Per-node boot timeline. Protocol handlers record events on their hot path,
// so records are buffered and written in one transaction per flush instead of
// one write per packet; live listeners (SSE, the director) see them at once.
import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import type { EventInput, Store } from '../store/types.js';

export interface RecordedEvent extends Required<Omit<EventInput, 'detail' | 'mac'>> {
  mac: string | null;
  detail: Record<string, unknown>;
}

export class EventRecorder extends EventEmitter<{ event: [RecordedEvent] }> {
  private buffer: EventInput[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  dropped = 0;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly opts: { flushMs: number; maxBuffer: number } = { flushMs: 200, maxBuffer: 100_000 },
  ) {
    super();
    this.setMaxListeners(0);
  }

  record(e: EventInput): void {
    const full: RecordedEvent = { node: e.node, mac: e.mac ?? null, kind: e.kind, detail: e.detail ?? {}, ts: e.ts ?? Date.now() };
    if (this.buffer.length >= this.opts.maxBuffer) {
      // A flood must not grow memory without bound; the counter shows it happened.
      this.dropped++;
    } else {
      this.buffer.push(full);
    }
    this.emit('event', full);
    this.timer ??= setTimeout(() => void this.flush(), this.opts.flushMs);
  }

  async flush(): Promise<void> {
    if (this.timer) (clearTimeout(this.timer), (this.timer = undefined));
    await this.flushing;
    if (!this.buffer.length) return;
    const batch = this.buffer;
    this.buffer = [];
    this.flushing = this.store.addEvents(batch).catch((err: unknown) => {
      this.log.error({ err }, `events: could not write ${batch.length} event(s)`);
    });
    await this.flushing;
    this.flushing = undefined;
  }

  async close(): Promise<void> {
    await this.flush();
  }
}
