// Read requests waiting for a transfer slot (tftp.maxWaiting): in a boot
// storm a PXE ROM answered ERROR gives up on the boot, one whose request
// waits only resends it. Oldest first; a client's resend keeps its place
// and refreshes it; an entry not refreshed for `staleMs` is a client that
// gave up, dropped when its turn comes. Pure bookkeeping: the server starts
// what take() gives it.

export class WaitList<T> {
  /** Oldest first (a Map keeps insertion order). */
  private readonly items = new Map<string, { item: T; at: number }>();

  constructor(
    private readonly max: number,
    private readonly staleMs: number,
  ) {}

  get size(): number {
    return this.items.size;
  }

  /** The client behind `key` asked again while it waits: true (its item replaced, its time refreshed), or false when it does not wait. */
  refresh(key: string, item: T, now: number): boolean {
    const e = this.items.get(key);
    if (!e) return false;
    e.item = item;
    e.at = now;
    return true;
  }

  /** Adds a request at the end; false when the list is full. */
  add(key: string, item: T, now: number): boolean {
    if (this.items.size >= this.max) return false;
    this.items.set(key, { item, at: now });
    return true;
  }

  /** The oldest request still fresh, removed from the list (stale ones dropped on the way). */
  take(now: number): { key: string; item: T } | undefined {
    for (const [key, e] of this.items) {
      this.items.delete(key);
      if (now - e.at <= this.staleMs) return { key, item: e.item };
    }
    return undefined;
  }

  clear(): void {
    this.items.clear();
  }
}
