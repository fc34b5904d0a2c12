// Which transfers may hold a slot. Pure bookkeeping, no sockets or time.
//
// A read request costs nothing to forge: 700 RRQs from spoofed sources once
// held all 512 slots (tftp.maxTransfers) and real clients got "server busy"
// for as long as the forger kept sending. So a transfer holds one of the
// maxTransfers slots only once its client has answered (acknowledged the
// OACK or DATA 1), which a forger whose replies go elsewhere cannot do.
// Until then it waits in a small pool of its own (maxUnanswered); when that
// pool is full the oldest waiting transfer makes room (a real client answers
// within a round trip; a forged one never does), so forged requests crowd out
// only each other, never an answered transfer.
//
// A loaded client may take longer than a flood leaves a waiting transfer
// (64 waiting, 500 forged requests a second: 130 ms). So a request from a
// "proven" source, one whose transfers have been answered before, is never
// dropped for one from an unproven source: the oldest unproven one makes
// room, and when only proven ones wait, a new unproven request is refused
// (silently) instead.

/** Client addresses remembered as having answered a transfer (the least recent are forgotten first). */
const MAX_PROVEN = 65_536;

export type Admit<T> = { ok: true; evicted?: T } | { ok: false; reason: 'busy' | 'crowded' };

export class TransferAdmission<T> {
  /** Insertion order is age: the first entry is the oldest. */
  private readonly waiting = new Map<string, T>();
  /** Keys of waiting entries from proven sources. */
  private readonly provenKeys = new Set<string>();
  /** Source addresses whose transfers were answered (insertion order: least recent first). */
  private readonly provenSources = new Set<string>();
  private readonly answered = new Map<string, T>();

  constructor(
    readonly maxAnswered: number,
    readonly maxUnanswered: number,
  ) {}

  get answeredCount(): number {
    return this.answered.size;
  }

  get unansweredCount(): number {
    return this.waiting.size;
  }

  get size(): number {
    return this.answered.size + this.waiting.size;
  }

  get(key: string): T | undefined {
    return this.answered.get(key) ?? this.waiting.get(key);
  }

  isAnswered(key: string): boolean {
    return this.answered.has(key);
  }

  /**
   * A new transfer, not answered yet. Refused only when every answered slot
   * is taken; when the waiting pool is full its oldest entry is evicted (the
   * caller ends it, without a word to its client).
   */
  /** A transfer from `source` was answered: its later requests are not crowded out by unproven ones. */
  prove(source: string): void {
    this.provenSources.delete(source);
    if (this.provenSources.size >= MAX_PROVEN) this.provenSources.delete(this.provenSources.keys().next().value!);
    this.provenSources.add(source);
  }

  admit(key: string, item: T, source?: string): Admit<T> {
    if (this.answered.size >= this.maxAnswered) return { ok: false, reason: 'busy' };
    const proven = source !== undefined && this.provenSources.has(source);
    let evicted: T | undefined;
    if (!this.waiting.has(key) && this.waiting.size >= this.maxUnanswered) {
      const victim = this.victim(proven);
      if (victim === undefined) return { ok: false, reason: 'crowded' };
      evicted = this.waiting.get(victim)!;
      this.waiting.delete(victim);
      this.provenKeys.delete(victim);
    }
    this.waiting.delete(key);
    this.waiting.set(key, item);
    if (proven) this.provenKeys.add(key);
    else this.provenKeys.delete(key);
    return evicted === undefined ? { ok: true } : { ok: true, evicted };
  }

  /** The oldest waiting key from an unproven source; for a proven newcomer, else the oldest of all. */
  private victim(proven: boolean): string | undefined {
    for (const k of this.waiting.keys()) if (!this.provenKeys.has(k)) return k;
    return proven ? this.waiting.keys().next().value : undefined;
  }

  /** Replace the item of a waiting or answered key (e.g. a looked-up request becoming a transfer). */
  update(key: string, item: T): void {
    if (this.answered.has(key)) this.answered.set(key, item);
    else if (this.waiting.has(key)) this.waiting.set(key, item);
  }

  /**
   * The client answered: the transfer takes a full slot. False when none is
   * free any more (answered transfers filled them meanwhile): the caller ends it.
   */
  promote(key: string): boolean {
    const item = this.waiting.get(key);
    if (item === undefined) return this.answered.has(key);
    this.waiting.delete(key);
    this.provenKeys.delete(key);
    if (this.answered.size >= this.maxAnswered) return false;
    this.answered.set(key, item);
    return true;
  }

  /** Forget a key; true when it was there. */
  release(key: string, item?: T): boolean {
    for (const m of [this.waiting, this.answered]) {
      const cur = m.get(key);
      if (cur !== undefined && (item === undefined || cur === item)) {
        m.delete(key);
        this.provenKeys.delete(key);
        return true;
      }
    }
    return false;
  }

  /** Waiting entries, oldest first. */
  unanswered(): IterableIterator<[string, T]> {
    return this.waiting.entries();
  }

  values(): T[] {
    return [...this.answered.values(), ...this.waiting.values()];
  }
}
