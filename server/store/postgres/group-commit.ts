// Group commit: calls that arrive while a batch is being written wait and
// are written together in the next one, one statement and one commit (one
// disk sync) for all of them; each caller is answered once that commit is
// durable. A call alone is written alone, at once: nothing waits for company.
// When a batch fails for one member's sake (a taken name, MAC or address),
// each member is tried again on its own, so each gets its own answer.

interface Waiting<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

export class GroupCommit<I, O> {
  private queue: Waiting<I, O>[] = [];
  private running = false;

  /**
   * one: write one item. many: write several in one commit (results in
   * order). fatal: an error of `many` that `one` would meet too (the
   * database unavailable): every member gets it without a retry.
   */
  constructor(
    private readonly one: (item: I) => Promise<O>,
    private readonly many: (items: I[]) => Promise<O[]>,
    private readonly fatal: (err: unknown) => boolean,
    private readonly max = 100,
  ) {}

  run(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, this.max);
        if (batch.length === 1) {
          const w = batch[0]!;
          await this.one(w.item).then(w.resolve, w.reject);
          continue;
        }
        try {
          const out = await this.many(batch.map((w) => w.item));
          batch.forEach((w, k) => w.resolve(out[k]!));
        } catch (err) {
          if (this.fatal(err)) batch.forEach((w) => w.reject(err));
          else await Promise.all(batch.map((w) => this.one(w.item).then(w.resolve, w.reject)));
        }
      }
    } finally {
      this.running = false;
    }
  }
}
