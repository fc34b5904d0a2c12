// A token bucket per MAC. The table is bounded: when a flood of random MACs
// fills it, new unknown MACs are refused until idle entries are swept, while
// registered MACs are always tracked (a flood cannot lock out the blades).
export class MacRateLimiter {
  private readonly buckets = new Map<number, { tokens: number; last: number }>();
  limited = 0;

  constructor(private readonly rate: number, private readonly burst: number, private readonly maxEntries = 100_000) {}

  /** True when the MAC may send this packet. */
  take(mac: number, now: number, known: boolean): boolean {
    let b = this.buckets.get(mac);
    if (!b) {
      if (!known && this.buckets.size >= this.maxEntries) {
        this.limited++;
        return false;
      }
      b = { tokens: this.burst, last: now };
      this.buckets.set(mac, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.last) * this.rate) / 1000);
      b.last = now;
    }
    if (b.tokens < 1) {
      this.limited++;
      return false;
    }
    b.tokens -= 1;
    return true;
  }

  /** Drop buckets that have refilled completely (idle MACs). */
  sweep(now: number): void {
    const full = (this.burst / this.rate) * 1000;
    for (const [k, b] of this.buckets) if (now - b.last >= full) this.buckets.delete(k);
  }

  get size(): number {
    return this.buckets.size;
  }
}

/** How many events happened in the last `windowMs` (a FIFO of their times). */
export class WindowCount {
  private times: number[] = [];
  private head = 0;

  constructor(private readonly windowMs: number) {}

  add(now: number): void {
    this.times.push(now);
  }

  count(now: number): number {
    const t = this.times;
    const from = now - this.windowMs;
    while (this.head < t.length && t[this.head]! <= from) this.head++;
    // Compact now and then, so the array does not grow without end.
    if (this.head > 1024 && this.head * 2 > t.length) {
      this.times = t.slice(this.head);
      this.head = 0;
    }
    return this.times.length - this.head;
  }
}
