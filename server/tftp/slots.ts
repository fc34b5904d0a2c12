// Who may hold a transfer slot, and who waits for one: the two admission
// rules put together, with no sockets (the server starts what this says).
//
// - admission.ts (#16): a transfer takes one of the maxTransfers slots only
//   once its client has answered; until then it is one of at most
//   maxUnanswered, the oldest making room for a new one, so forged requests
//   crowd out only each other.
// - waitlist.ts (#22): while every slot is taken a request waits its turn
//   (tftp.maxWaiting), since a PXE ROM given "busy" gives up on the boot.
//
// A request started from the wait list has not answered yet, so it does not
// hold a slot: it is promised one (`reserved`), and the list starts no more
// than are free and not promised. A forger's request that reached the head
// of the list never answers: its promise lapses after a few round trips and
// the transfer goes on as any unanswered one.
import { performance } from 'node:perf_hooks';
import { TransferAdmission } from './admission.js';
import { WaitList } from './waitlist.js';

/** How often native transfers waiting for their client's answer are checked for one. */
const ANSWER_POLL_MS = 20;
/** A waiting request whose client has not asked again for this long gave up (ROMs resend every 4 s, PXELINUX sooner). */
const WAIT_STALE_MS = 10_000;

export interface SlotEntry {
  readonly key: string;
  /** The client's address. */
  readonly client: string;
  abort(reason: string, notify?: boolean): void;
  /** Transfers that tell their client's first answer only when asked (the native path): asks. */
  askAnswered?(): boolean;
}

/** A request whose file is being looked up: it waits among the unanswered. */
export class Pending implements SlotEntry {
  constructor(
    readonly key: string,
    readonly client: string,
  ) {}

  /** Evicted: the lookup notices that its key is gone (server.ts open()). */
  abort(): void {}
}

export interface SlotLimits {
  maxTransfers: number;
  maxUnanswered: number;
  maxWaiting: number;
  /** A promised slot lapses after this long without the client's answer. */
  promiseMs: number;
}

/** What became of a request on arrival. */
export type Arrival = 'start' | 'queued' | 'refreshed' | 'busy';

export class TransferSlots<E extends SlotEntry, W> {
  private readonly admission: TransferAdmission<E>;
  private readonly waiting: WaitList<W>;
  /** Keys started from the wait list whose client has not answered: each holds a promised slot (insertion order: oldest first). */
  private readonly reserved = new Map<string, number>();
  private draining = false;
  private stopped = false;
  private answerPoll: NodeJS.Timeout | undefined;
  /** When a request last asked the native transfers (arrive). */
  private askedAt = -Infinity;

  constructor(
    private readonly limits: SlotLimits,
    /** Starts a request taken from the wait list (the server admits it, fromList true). */
    private readonly startWaiting: (key: string, item: W) => void,
    /** An unanswered transfer made room for a newer request. */
    private readonly onEvicted: () => void,
  ) {
    this.admission = new TransferAdmission<E>(limits.maxTransfers, limits.maxUnanswered);
    this.waiting = new WaitList(limits.maxWaiting, WAIT_STALE_MS);
  }

  get answeredCount(): number {
    return this.admission.answeredCount;
  }

  get unansweredCount(): number {
    return this.admission.unansweredCount;
  }

  get waitingCount(): number {
    return this.waiting.size;
  }

  get size(): number {
    return this.admission.size;
  }

  get(key: string): E | undefined {
    return this.admission.get(key);
  }

  values(): E[] {
    return this.admission.values();
  }

  /**
   * A read request arrives: it may start now, or waits its turn while every
   * answered slot is taken (or promised), or others wait already.
   */
  arrive(key: string, item: W, now: number): Arrival {
    // The client asked again while it waits: it keeps its place (a new name from that port replaces the old).
    if (this.waiting.refresh(key, item, now)) {
      this.drain();
      return 'refreshed';
    }
    // Decide on the current count: a native transfer answered since the last poll holds its slot now.
    // Only near the limits can that change the decision (each unanswered one adds at most one
    // answered slot, and a full unanswered pool evicts its oldest): elsewhere the poll does it.
    // A storm's requests come many to a millisecond: they share one look.
    if (this.answerPoll && now - this.askedAt >= 1 && this.nearLimits()) {
      this.askedAt = now;
      this.refreshAnswers();
    }
    if (this.waiting.size > 0 || this.slotsTaken() >= this.limits.maxTransfers) {
      if (!this.waiting.add(key, item, now)) return 'busy';
      this.drain();
      return 'queued';
    }
    return 'start';
  }

  private nearLimits(): boolean {
    const unanswered = this.admission.unansweredCount;
    return unanswered >= this.limits.maxUnanswered || this.slotsTaken() + unanswered >= this.limits.maxTransfers;
  }

  /**
   * Admits a request as an unanswered transfer (entry: its lookup). `fromList`:
   * started from the wait list, it holds a promised slot until its client answers.
   */
  admit(key: string, entry: E, fromList: boolean): 'ok' | 'busy' | 'crowded' {
    const admitted = this.admission.admit(key, entry, entry.client);
    if (!admitted.ok) return admitted.reason;
    if (fromList) this.reserved.set(key, performance.now());
    if (admitted.evicted) this.evict(admitted.evicted);
    return 'ok';
  }

  /** Replace a key's entry (a looked-up request becoming a transfer). */
  update(key: string, entry: E): void {
    this.admission.update(key, entry);
  }

  /** Forgets a transfer (or lookup) and its promised slot; waiting requests take what it freed. */
  release(key: string, e: E): void {
    if (this.admission.release(key, e)) this.reserved.delete(key);
    this.drain();
  }

  /** Stops holding a slot for a transfer that ends a moment later (a native one, superseded). */
  forget(key: string, e: E): void {
    this.admission.release(key, e);
  }

  /** The transfer's client answered: it takes a full slot, or is ended when none is free. */
  answered(e: E): void {
    if (this.admission.isAnswered(e.key) || this.admission.get(e.key) !== e) return;
    // Its address is proven: a flood of forged requests cannot crowd out its next ones.
    this.admission.prove(e.client);
    const promoted = this.admission.promote(e.key);
    // A promised slot is now held (or, when none was free, the transfer ends and frees nothing).
    this.reserved.delete(e.key);
    if (!promoted) e.abort(`server busy: ${this.admission.answeredCount} transfers in progress, try again`);
    this.drain();
  }

  /** Native transfers tell their client's first answer only when asked: polled until none waits. */
  watchAnswers(): void {
    if (this.answerPoll) return;
    this.answerPoll = setInterval(() => {
      if (this.refreshAnswers()) return;
      clearInterval(this.answerPoll);
      this.answerPoll = undefined;
    }, ANSWER_POLL_MS);
    this.answerPoll.unref();
  }

  stop(): void {
    this.stopped = true;
    this.waiting.clear();
    this.reserved.clear();
    clearInterval(this.answerPoll);
    this.answerPoll = undefined;
  }

  /** Asks the unanswered transfers that must be asked (at most maxUnanswered calls); returns how many still wait. */
  private refreshAnswers(): number {
    let waiting = 0;
    let answered: E[] | undefined;
    for (const [, e] of this.admission.unanswered()) {
      if (!e.askAnswered) continue;
      // Collected, not handled in the loop: answered() changes the map being read.
      if (e.askAnswered()) (answered ??= []).push(e);
      else waiting++;
    }
    if (answered) for (const e of answered) this.answered(e);
    return waiting;
  }

  /** Answered slots taken, and promised to requests started from the wait list. */
  private slotsTaken(): number {
    return this.admission.answeredCount + this.reserved.size;
  }

  /**
   * Waiting requests into the answered slots that are free and not promised,
   * oldest first. At most maxUnanswered are promised at once, so the ones
   * started from the list do not evict each other from the unanswered pool.
   */
  private drain(): void {
    // A request that fails at once (not found) frees its promise inside startWaiting(): the loop below takes it.
    if (this.draining) return;
    this.draining = true;
    try {
      const now = performance.now();
      // Promises not answered in time lapse (oldest first: a Map keeps insertion order).
      const lapse = now - this.limits.promiseMs;
      for (const [k, at] of this.reserved) {
        if (at > lapse) break;
        this.reserved.delete(k);
      }
      while (!this.stopped && this.waiting.size > 0 && this.slotsTaken() < this.limits.maxTransfers && this.reserved.size < this.limits.maxUnanswered) {
        const next = this.waiting.take(now);
        if (!next) return;
        if (this.admission.get(next.key)) continue;
        this.startWaiting(next.key, next.item);
      }
    } finally {
      this.draining = false;
    }
  }

  /** An unanswered transfer made room for a newer request: ended without a word to its (perhaps forged) client. */
  private evict(e: E): void {
    this.onEvicted();
    // Its promise (if it came from the wait list) is void: the list may start another.
    this.reserved.delete(e.key);
    // A lookup (Pending) notices in open() that its key is gone.
    e.abort('never answered; made room for a newer request', false);
    this.drain();
  }
}
