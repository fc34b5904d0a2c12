// The sending side of one read transfer as a pure state machine: events in
// (start, ACK, ERROR, clock tick), actions out (send the OACK, send blocks
// a..b, finish). Time is a parameter, so it is unit-tested and fuzzed without
// sockets or timers.
//
// Blocks are numbered absolutely from 1 (block numbers on the wire wrap to 0
// after 65535, see wireBlock). The sender keeps RFC 7440 windows: W blocks
// out, then wait for the ACK of the last; an ACK of an earlier block restarts
// the window after it. A duplicate ACK (of the block before the window) never
// sends anything: only the retransmission timer resends, so a duplicated
// packet cannot double the traffic forever (the Sorcerer's Apprentice bug).

export interface TransferSettings {
  size: number;
  blksize: number;
  windowsize: number;
  /** Options were acknowledged: the transfer opens with an OACK answered by ACK 0. */
  oack: boolean;
  /**
   * RFC 2349 timeout the client asked for: the longest we wait before sending
   * again. We may resend sooner (the measured round trip): the client drops a
   * duplicate block, and a lost block costs a round trip instead of up to
   * 255 s (curl asks for 72 s by default).
   */
  clientTimeoutMs?: number;
  /** Retransmission timeout before a round trip has been measured. */
  initialRtoMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  /** Consecutive timeouts without progress before giving up (at least; see giveUpMs). */
  retries: number;
  /**
   * Once the client has answered: the shortest time without progress before
   * giving up, however many timeouts that took. Clients retry on their own
   * schedule (tftp-hpa and atftp every 5 s, PXE ROMs and iPXE with backoff over
   * tens of seconds): a sender that gives up after its own few fast retries
   * ends transfers a lost ACK would only have delayed. Default 0.
   */
  giveUpMs?: number;
  /**
   * Before the client has answered (no ACK of the OACK or of DATA 1): timeouts
   * before the transfer is dropped. An unanswered transfer may be a spoofed
   * request; it is kept short. Default: retries.
   */
  handshakeTries?: number;
}

export type Outcome = 'complete' | 'timeout' | 'client-error';

export type Action =
  | { type: 'oack'; retransmit: boolean }
  | { type: 'data'; first: number; last: number; retransmit: boolean }
  | { type: 'finish'; outcome: Outcome };

export const NO_ACTIONS: readonly Action[] = Object.freeze([]);

export function wireBlock(absolute: number): number {
  return absolute & 0xffff;
}

export class Transfer {
  readonly blocks: number;
  phase: 'new' | 'oack' | 'data' | 'done' = 'new';
  outcome: Outcome | undefined;
  /** Lowest block not yet acknowledged. */
  base = 1;
  /** One past the last block sent in the current window. */
  next = 1;
  /** When the next retransmission is due (ms, same clock as the events). */
  deadline = Infinity;
  /** Blocks (and OACKs) sent again. */
  retransmits = 0;
  /** Timer expiries. */
  timeouts = 0;
  duplicateAcks = 0;
  startedAt = 0;
  finishedAt = 0;
  rto: number;
  private srtt: number | undefined;
  private rttvar = 0;
  private tries = 0;
  private sentAt = 0;
  /** Karn: no RTT sample from a window that was sent more than once. */
  private resent = false;
  /** When the client last moved the transfer on (start, ACK of the OACK, an ACK that advanced). */
  private progressAt = 0;
  /**
   * The client has answered: it acknowledged the OACK or DATA 1, or ended the
   * transfer with an ERROR from its port (a UEFI size probe), which only a
   * client that got the OACK or DATA 1 knows.
   */
  answered = false;

  constructor(readonly s: TransferSettings) {
    this.blocks = Math.floor(s.size / s.blksize) + 1;
    this.maxRto = Math.min(s.maxRtoMs, s.clientTimeoutMs ?? Infinity);
    this.rto = Math.min(s.initialRtoMs, this.maxRto);
  }

  private readonly maxRto: number;

  /** Bytes in block b (the last block is short, possibly empty). */
  blockLength(b: number): number {
    return b < this.blocks ? this.s.blksize : this.s.size - (this.blocks - 1) * this.s.blksize;
  }

  /** Bytes the client has acknowledged. */
  get bytesAcked(): number {
    return this.phase === 'done' && this.outcome === 'complete' ? this.s.size : Math.min(this.s.size, (this.base - 1) * this.s.blksize);
  }

  start(now: number): readonly Action[] {
    if (this.phase !== 'new') return NO_ACTIONS;
    this.startedAt = now;
    this.progressAt = now;
    if (this.s.oack) {
      this.phase = 'oack';
      this.arm(now, false);
      return [{ type: 'oack', retransmit: false }];
    }
    this.phase = 'data';
    return [this.sendWindow(1, now, false)];
  }

  ack(block: number, now: number): readonly Action[] {
    if (this.phase === 'oack') {
      if (block !== 0) return NO_ACTIONS;
      this.sample(now);
      this.phase = 'data';
      this.answered = true;
      this.progressAt = now;
      this.tries = 0;
      return [this.sendWindow(1, now, false)];
    }
    if (this.phase !== 'data') return NO_ACTIONS;
    // The absolute block this ACK names, looked for in [base-1, next-1]: the window is < 65536 blocks, so it is unique.
    const acked = this.base - 1 + ((block - wireBlock(this.base - 1)) & 0xffff);
    if (acked > this.next - 1) return NO_ACTIONS; // not a block we sent in this window: stale or bogus
    if (acked === this.base - 1) {
      this.duplicateAcks++;
      return NO_ACTIONS;
    }
    const wholeWindow = acked === this.next - 1;
    if (wholeWindow) this.sample(now);
    this.base = acked + 1;
    this.tries = 0;
    this.answered = true;
    this.progressAt = now;
    if (this.base > this.blocks) return this.finish('complete', now);
    // A partial ACK: the client lost a block of the window; go back to the one after what it has.
    return [this.sendWindow(this.base, now, !wholeWindow)];
  }

  /** The client sent an ERROR: the transfer ends without a reply (errors are not acknowledged). */
  clientError(now: number): readonly Action[] {
    if (this.phase === 'done') return NO_ACTIONS;
    this.answered = true;
    return this.finish('client-error', now);
  }

  tick(now: number): readonly Action[] {
    if (this.phase === 'done' || this.phase === 'new' || now < this.deadline) return NO_ACTIONS;
    this.timeouts++;
    this.tries++;
    if (!this.answered) {
      if (this.tries > (this.s.handshakeTries ?? this.s.retries)) return this.finish('timeout', now);
    } else if (this.tries > this.s.retries && now - this.progressAt >= (this.s.giveUpMs ?? 0)) {
      return this.finish('timeout', now);
    }
    this.rto = Math.min(this.rto * 2, this.maxRto);
    this.resent = true;
    this.deadline = now + this.rto;
    if (this.phase === 'oack') {
      this.retransmits++;
      return [{ type: 'oack', retransmit: true }];
    }
    this.retransmits += this.next - this.base;
    return [{ type: 'data', first: this.base, last: this.next - 1, retransmit: true }];
  }

  private sendWindow(first: number, now: number, retransmit: boolean): Action {
    const last = Math.min(first + this.s.windowsize - 1, this.blocks);
    if (retransmit) this.retransmits += Math.max(0, Math.min(last, this.next - 1) - first + 1);
    this.next = last + 1;
    this.arm(now, retransmit);
    return { type: 'data', first, last, retransmit };
  }

  private arm(now: number, resent: boolean): void {
    this.sentAt = now;
    this.resent = resent;
    this.deadline = now + this.rto;
  }

  /** RFC 6298 smoothing, within [minRtoMs, the client's timeout or maxRtoMs]. */
  private sample(now: number): void {
    if (this.resent) return;
    const r = Math.max(0, now - this.sentAt);
    if (this.srtt === undefined) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.rto = Math.min(this.maxRto, Math.max(this.s.minRtoMs, this.srtt + 4 * this.rttvar));
  }

  private finish(outcome: Outcome, now: number): readonly Action[] {
    this.phase = 'done';
    this.outcome = outcome;
    this.finishedAt = now;
    this.deadline = Infinity;
    return [{ type: 'finish', outcome }];
  }
}
