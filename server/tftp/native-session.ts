// The native data path's glue (native/tftp-pump): a transfer's options
// for the pump, and its record on the JS side. The thread owns the socket
// and the clock; the JS side keeps its slot and hears how it ended.
import { performance } from 'node:perf_hooks';
import type { BootFile } from '../boot/content.js';
import { encodeOack, ERR } from './codec.js';
import { windowBatch } from './gso.js';
import type { Pump, PumpHandle, PumpResult } from './native.js';
import type { Negotiated } from './options.js';
import { asksSize } from './probe.js';
import { closeAndReport, type SessionHost, type TransferSession } from './records.js';

/** Retransmission clock bounds, the same for both data paths. */
export interface RetransmitClock {
  initialRtoMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  retries: number;
  giveUpMs: number;
  handshakeTries: number;
}

export interface NativeStart {
  pump: Pump;
  host: SessionHost;
  key: string;
  /** The listener's address: the transfer socket's. */
  local: string;
  peer: string;
  port: number;
  path: string;
  file: BootFile;
  neg: Negotiated;
  clock: RetransmitClock;
  busyPoll: boolean;
  threads?: number;
  allowedNets?: number[];
}

/** Starts a transfer on the native path; undefined when it could not (the Node path serves it then). */
export function startNative(o: NativeStart): NativeSession | undefined {
  const { blksize, windowsize, timeoutMs, oack } = o.neg;
  const { clock } = o;
  // As Transfer does: the client's RFC 2349 timeout caps the retransmission timeout.
  const maxRtoMs = Math.min(clock.maxRtoMs, timeoutMs ?? Infinity);
  let session: NativeSession | undefined;
  let handle: PumpHandle;
  try {
    handle = o.pump.start(
      {
        local: o.local,
        peer: o.peer,
        port: o.port,
        size: o.file.size,
        blksize,
        windowsize,
        ...(oack.length ? { oack: encodeOack(oack) } : {}),
        ...clock,
        minRtoMs: Math.min(clock.minRtoMs, maxRtoMs),
        maxRtoMs,
        segments: o.file.segments!,
        busyPoll: o.busyPoll,
        gsoBlocks: o.host.gso ? windowBatch(blksize, windowsize) : 1,
        ...(o.threads !== undefined ? { threads: o.threads } : {}),
        ...(o.allowedNets ? { strangers: o.allowedNets } : {}),
      },
      (r) => session?.finish(r),
    );
  } catch (err) {
    // E.g. no thread could be made (EAGAIN): this transfer runs on the event loop instead.
    o.host.log.warn({ err }, `tftp: cannot start a native transfer for ${o.peer}; using the Node data path`);
    return undefined;
  }
  session = new NativeSession(o.host, o.key, o.pump, handle, o.peer, o.port, o.path, o.file, blksize, windowsize, asksSize(oack));
  return session;
}

/** A transfer on the native data path: this is its record on the JS side. */
export class NativeSession implements TransferSession {
  private done = false;
  private readonly startedWall = performance.now();
  private resolveEnded!: () => void;
  readonly ended = new Promise<void>((r) => (this.resolveEnded = r));

  constructor(
    private readonly host: SessionHost,
    readonly key: string,
    private readonly pump: Pump,
    private readonly handle: PumpHandle,
    private readonly address: string,
    private readonly port: number,
    readonly path: string,
    private readonly file: BootFile,
    private readonly blksize: number,
    private readonly windowsize: number,
    private readonly tsizeAsked: boolean,
  ) {}

  get base(): number {
    return this.done ? Infinity : this.pump.base(this.handle);
  }

  /** The client acknowledged the OACK or DATA 1: the thread says so only when asked (slots.ts polls). */
  askAnswered(): boolean {
    return !this.done && this.pump.answered(this.handle);
  }

  get client(): string {
    return this.address;
  }

  abort(reason: string, notify = true): void {
    if (!this.done) this.pump.abort(this.handle, reason, notify);
  }

  /** The thread's report, on the JS thread. */
  finish(r: PumpResult): void {
    if (this.done) return;
    this.done = true;
    for (let i = 0; i < r.unknownTidSent; i++) this.host.countError(ERR.UNKNOWN_TID);
    for (let i = 0; i < r.errorsSent; i++) this.host.countError(ERR.NOT_DEFINED);
    if (r.outcome === 'read-error') this.host.log.error(`tftp: reading '${this.path}' for ${this.address} failed: ${r.reason ?? ''}`);
    closeAndReport(this.host, this, this.file, {
      client: this.address,
      port: this.port,
      mode: 'octet',
      bytes: r.bytesAcked,
      tsizeAsked: this.tsizeAsked,
      blksize: this.blksize,
      windowsize: this.windowsize,
      startedWall: this.startedWall,
      retransmits: r.retransmits,
      timeouts: r.timeouts,
      outcome: r.outcome,
      answered: r.answered,
      ...(r.reason ? { reason: r.reason } : {}),
    });
    this.resolveEnded();
  }
}
