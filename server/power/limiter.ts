// Bounds how many BMC operations run at once (tool processes, HTTPS
// exchanges), first come first served, and per node one at a time: a BMC
// given two sessions at once may refuse one, and an off must not overtake
// the on asked before it.

export class Limiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(private readonly max: number, private readonly onChange: (running: number, waiting: number) => void = () => undefined) {}

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Runs fn when a slot is free. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) {
      await new Promise<void>((resolve) => {
        this.waiting.push(resolve);
        this.onChange(this.running, this.waiting.length);
      });
    } else this.running++;
    this.onChange(this.running, this.waiting.length);
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter: running stays the same.
      if (next) next();
      else this.running--;
      this.onChange(this.running, this.waiting.length);
    }
  }

  /** Runs fn after every earlier call for the same key has settled. */
  async serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const mine = before.then(fn, fn);
    const tail = mine.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await mine;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
