// How many replies per second unknown MACs get, all of them together
// (dhcp.unknownReplyRate). A flood of requests from random MACs, a new MAC
// per packet, passes any per-MAC limit; bounded here, it costs the server and
// the wire at most this many replies a second.
//
// A real new machine asks again when it gets no answer; a flood's random MAC
// never does. So a MAC that went unanswered in the last RETRY_WINDOW_MS is
// remembered (in two rotating Bloom filters: bounded memory whatever the
// flood's size) and its next request draws on a bucket of its own, which the
// flood does not drain, and may take an offer beyond the share of the pool
// new MACs may hold (dhcp.maxOfferShare). A forger who repeats each MAC gets
// that preference too, but only at the same bounded rate.

/** A MAC that went unanswered is recognised as asking again for 10-20 s. */
export const RETRY_WINDOW_MS = 10_000;
/** 2^23 bits (1 MiB) per filter: at 20,000 new MACs/s for a window, about 1 in 15,000 is taken for a retry. */
const BLOOM_BITS_LOG2 = 23;
const HASHES = 4;
const MASK = (1 << BLOOM_BITS_LOG2) - 1;

class Bucket {
  private tokens: number;
  private last = -Infinity;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(now: number): boolean {
    if (this.last !== -Infinity) this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** A set of 48-bit MACs with false positives and no false negatives. */
class Bloom {
  private readonly bits = new Uint32Array(1 << (BLOOM_BITS_LOG2 - 5));

  private h1 = 0;
  private h2 = 0;

  /** Two 32-bit hashes of the MAC's halves; slot i is h1 + i*h2 (Kirsch-Mitzenmacher double hashing). */
  private hash(mac: number): void {
    const lo = mac >>> 0;
    const hi = Math.floor(mac / 0x100000000) >>> 0;
    this.h1 = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b) >>> 0;
    this.h2 = (Math.imul(hi ^ Math.imul(lo, 0xc2b2ae35), 0x27d4eb2f) | 1) >>> 0;
  }

  add(mac: number): void {
    this.hash(mac);
    for (let i = 0; i < HASHES; i++) {
      const s = (this.h1 + Math.imul(i, this.h2)) & MASK;
      this.bits[s >>> 5]! |= 1 << (s & 31);
    }
  }

  has(mac: number): boolean {
    this.hash(mac);
    for (let i = 0; i < HASHES; i++) {
      const s = (this.h1 + Math.imul(i, this.h2)) & MASK;
      if (!(this.bits[s >>> 5]! & (1 << (s & 31)))) return false;
    }
    return true;
  }

  clear(): void {
    this.bits.fill(0);
  }
}

export class UnknownReplyBudget {
  private readonly fresh: Bucket;
  private readonly again: Bucket;
  private current = new Bloom();
  private previous = new Bloom();
  private rotatedAt: number | undefined;

  /** @param rate replies per second to unknown MACs (and as many again to those asking again); 0: none */
  constructor(private readonly rate: number) {
    this.fresh = new Bucket(rate, Math.max(1, rate));
    this.again = new Bucket(rate, Math.max(1, rate));
  }

  private rotate(now: number): void {
    if (this.rotatedAt === undefined) this.rotatedAt = now;
    if (now - this.rotatedAt < RETRY_WINDOW_MS) return;
    // More than two windows idle: both filters are stale.
    if (now - this.rotatedAt >= 2 * RETRY_WINDOW_MS) this.current.clear();
    [this.previous, this.current] = [this.current, this.previous];
    this.current.clear();
    this.rotatedAt = now;
  }

  /** The MAC went unanswered recently: it is asking again. */
  askingAgain(mac: number, now: number): boolean {
    this.rotate(now);
    return this.current.has(mac) || this.previous.has(mac);
  }

  /** May a reply go to this unknown MAC now; `again` from askingAgain(). */
  take(again: boolean, now: number): boolean {
    if (this.rate <= 0) return false;
    return (again ? this.again : this.fresh).take(now);
  }

  /** The MAC got no answer (budget, pool share or policy): its next request counts as asking again. */
  unanswered(mac: number, now: number): void {
    this.rotate(now);
    this.current.add(mac);
  }
}
