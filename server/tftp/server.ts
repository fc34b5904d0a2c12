// The TFTP server: listening sockets and the request handling. Decisions
// come from policy.ts and options.ts; slots.ts says which requests may start
// (admission and the wait list); a transfer runs in session.ts (the Node data
// path) or on a thread of native/tftp-pump (native-session.ts). This file
// only moves requests to them and keeps their records.
import type { RemoteInfo, Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { BootRefused, type BootClient, type BootFile } from '../boot/content.js';
import type { Logger } from '../log.js';
import { encodeError, ERR } from './codec.js';
import type { Pump } from './native.js';
import { NativeSession, startNative, type RetransmitClock } from './native-session.js';
import { netasciiFile } from './netascii.js';
import { negotiate, type OptionLimits } from './options.js';
import { decideRequest, type ListenerDecision } from './policy.js';
import { isSizeProbe } from './probe.js';
import { RateLimiter } from './ratelimit.js';
import type { SessionHost, TftpHooks, TransferRecord } from './records.js';
import { Session } from './session.js';
import { bindSocket, listen, newSocket, type Listener } from './sockets.js';
import { Pending, TransferSlots } from './slots.js';
import { Transfer } from './transfer.js';

export type { RefusalRecord, TftpHooks, TransferRecord } from './records.js';

export interface TftpServerOptions {
  port: number;
  /** Addresses to listen on; '0.0.0.0' is the wildcard. Addresses not on this machine are skipped. */
  addresses: string[];
  /** Addresses whose absence is an error (the configured address); others are skipped with a log line. */
  required: string[];
  lookup(path: string, client: BootClient): Promise<BootFile | undefined>;
  /** blksize/windowsize caps for a client (config maximum, its network's MTU). */
  limits(clientAddress: string): OptionLimits;
  /** Transfers whose client has answered (acknowledged the OACK or DATA 1). */
  maxTransfers: number;
  /** Transfers waiting for their client's first answer; the oldest makes room for a new one (default 64). */
  maxUnanswered?: number;
  /**
   * Requests that may wait for an answered slot when maxTransfers are taken
   * (started oldest first as transfers end); beyond, ERROR 0 busy. 0: busy at once.
   */
  maxWaiting?: number;
  initialRtoMs: number;
  retries: number;
  /** An answered transfer gives up after `retries` timeouts and at least this long without progress (default 0). */
  giveUpMs?: number;
  /** An unanswered transfer is dropped, silently, after this many retransmissions of its first packet (default 3: 15 s at a 1 s timeout). */
  handshakeTries?: number;
  /**
   * Whether requests from this source are answered at all (the served
   * networks, relays, loopback): nothing is ever sent to another address, so
   * a request with a forged source reflects nothing there. Default: all.
   */
  clientAllowed?(address: string): boolean;
  /** The same as networks, for the native data path's answers to strangers: [network, mask, ...]. */
  allowedNets?: number[];
  clientRate: number;
  clientBurst: number;
  log: Logger;
  hooks?: TftpHooks;
  /** Minimum retransmission timeout once the round trip is known (tests lower it). */
  minRtoMs?: number;
  maxRtoMs?: number;
  /** Send windows with UDP segmentation offload where the kernel allows (default true). */
  gso?: boolean;
  /**
   * The native data path (native/tftp-pump): octet transfers of content that
   * has segments run on a thread of their own. Absent: every transfer runs here.
   */
  pump?: Pump;
  /** Native path: poll for fast clients' ACKs (tftp.busyPoll; default true). */
  busyPoll?: boolean;
  /** Native path: transfers on threads of their own before the shared event workers take new ones (tftp.nativeThreads). */
  nativeThreads?: number;
}

const TICK_MS = 10;

type Entry = Session | NativeSession | Pending;

type ReadRequest = Extract<ListenerDecision, { kind: 'read' }>;

/** A read request waiting for a transfer slot. */
interface Waiting {
  l: Listener;
  rinfo: RemoteInfo;
  d: ReadRequest;
}

export class TftpServer {
  private readonly listeners: Listener[] = [];
  private readonly sessions: TransferSlots<Entry, Waiting>;
  private readonly limiter: RateLimiter;
  private readonly host: SessionHost;
  private ticker: NodeJS.Timeout | undefined;
  private warnedWaitAt = 0;
  private foreignLogged = 0;
  private foreignAt = -Infinity;
  private tickQueued = false;
  private stopping = false;
  private readonly warnedRate = new Map<string, number>();
  /** Native transfers until their thread has ended (stop() waits for them; a superseded one is no longer in sessions). */
  private readonly native = new Set<NativeSession>();

  constructor(readonly opts: TftpServerOptions) {
    this.limiter = new RateLimiter(opts.clientRate, opts.clientBurst);
    const limits = { maxTransfers: opts.maxTransfers, maxUnanswered: opts.maxUnanswered ?? 64, maxWaiting: opts.maxWaiting ?? 0, promiseMs: Math.max(1000, 2 * opts.initialRtoMs) };
    this.sessions = new TransferSlots<Entry, Waiting>(
      limits,
      (key, w) => this.begin(w.l, key, w.rinfo, w.d, true),
      () => this.opts.hooks?.evicted?.(),
    );
    this.host = {
      log: opts.log,
      gso: opts.gso !== false,
      answered: (s) => this.sessions.answered(s as Session),
      countError: (code) => this.opts.hooks?.errorSent?.(code),
      allowStranger: (address) => this.allowed(address) && this.limiter.take(address, performance.now()),
      ended: (s, record) => this.ended(s as Session | NativeSession, record),
    };
  }

  /** Transfers (and lookups) waiting for their client's first answer. */
  get unanswered(): number {
    return this.sessions.unansweredCount;
  }

  get active(): number {
    return this.sessions.size;
  }

  /** Bound addresses (after start). */
  get bound(): Array<{ address: string; port: number }> {
    return this.listeners.map((l) => ({ address: l.address, port: l.port }));
  }

  async start(): Promise<void> {
    const { port, addresses, required, log } = this.opts;
    try {
      await listen({ addresses, port, required, log }, this.listeners, (l, msg, rinfo) => this.onRequest(l, msg, rinfo));
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.ticker);
    this.ticker = undefined;
    this.sessions.stop();
    for (const s of this.sessions.values()) s.abort('server shutting down');
    await Promise.all([...[...this.native].map((s) => s.ended), ...this.listeners.map((l) => new Promise<void>((r) => l.sock.close(() => r())))]);
    this.listeners.length = 0;
  }

  private sendError(sock: Socket, rinfo: RemoteInfo, code: number, message: string): void {
    this.opts.hooks?.errorSent?.(code);
    sock.send(encodeError(code, message), rinfo.port, rinfo.address);
  }

  /** @internal whether anything may be sent to this address */
  allowed(address: string): boolean {
    return this.opts.clientAllowed?.(address) ?? true;
  }

  private foreign(address: string, now: number): void {
    this.opts.hooks?.foreignSource?.(address);
    this.foreignLogged++;
    // A forger sends many: one line a minute, with the count since the last.
    if (now - this.foreignAt > 60_000) {
      this.opts.log.warn(`tftp: ignored ${this.foreignLogged} packet(s) from sources outside the served networks (latest ${address}); see docs/operations.md#security`);
      this.foreignAt = now;
      this.foreignLogged = 0;
    }
  }

  private onRequest(l: Listener, msg: Buffer, rinfo: RemoteInfo): void {
    if (this.stopping) return;
    const now = performance.now();
    if (!this.allowed(rinfo.address)) {
      this.foreign(rinfo.address, now);
      return;
    }
    if (!this.limiter.take(rinfo.address, now)) {
      // Dropped without an answer: that is what a rate limit is for. Logged once a minute per client.
      const last = this.warnedRate.get(rinfo.address) ?? -Infinity;
      if (now - last > 60_000) {
        this.warnedRate.set(rinfo.address, now);
        if (this.warnedRate.size > 10_000) this.warnedRate.clear();
        this.opts.log.warn(`tftp: ${rinfo.address} is over ${this.opts.clientRate} requests/s (burst ${this.opts.clientBurst}); dropping its requests`);
      }
      this.opts.hooks?.requestFailed?.({ client: rinfo.address, filename: undefined, code: -1, message: 'rate limited', refusal: false });
      return;
    }
    const d = decideRequest(msg);
    if (d.kind === 'ignore') {
      this.opts.log.debug(`tftp: ${rinfo.address}:${rinfo.port}: ignored: ${d.reason}`);
      return;
    }
    if (d.kind === 'error') {
      const line = `tftp: ${rinfo.address}:${rinfo.port}${d.filename !== undefined ? ` '${printable(d.filename)}'` : ''}: ERROR ${d.code} ${d.message}`;
      if (d.refusal) this.opts.log.warn(line);
      else this.opts.log.info(line);
      this.opts.hooks?.requestFailed?.({ client: rinfo.address, filename: d.filename, code: d.code, message: d.message, refusal: d.refusal });
      this.sendError(l.sock, rinfo, d.code, d.message);
      return;
    }
    const key = `${l.address}:${l.port}|${rinfo.address}:${rinfo.port}`;
    const existing = this.sessions.get(key);
    if (existing instanceof Pending) return; // a retransmitted RRQ while we look the file up
    if (existing) {
      // The same file again: the client's retransmitted RRQ, late (its first one waited in a busy
      // server's queue past the client's timer, PXELINUX's is 110 ms). Its transfer is under way.
      if (existing.path === d.path) return;
      // The client reuses its port for a new request: the old transfer is over for it.
      existing.abort('superseded by a new request from the same client port', false);
      // A native one ends a moment later, on its thread: it stops holding a slot now.
      if (existing instanceof NativeSession) this.sessions.forget(key, existing);
    }
    const arrival = this.sessions.arrive(key, { l, rinfo, d }, now);
    if (arrival === 'queued' && now - this.warnedWaitAt > 10_000) {
      this.warnedWaitAt = now;
      this.opts.log.warn(`tftp: ${this.sessions.answeredCount} transfers in progress (tftp.maxTransfers); ${this.sessions.waitingCount} requests wait for a slot`);
    }
    if (arrival === 'busy') this.busy(l, rinfo, d);
    else if (arrival === 'start') this.begin(l, key, rinfo, d, false);
  }

  private busy(l: Listener, rinfo: RemoteInfo, d: ReadRequest): void {
    const message = `server busy: ${this.sessions.answeredCount} transfers in progress, try again`;
    this.opts.log.warn(`tftp: ${rinfo.address}:${rinfo.port} '${printable(d.path)}': ${message}`);
    this.opts.hooks?.requestFailed?.({ client: rinfo.address, filename: d.filename, code: ERR.NOT_DEFINED, message, refusal: false });
    this.sendError(l.sock, rinfo, ERR.NOT_DEFINED, message);
  }

  /**
   * Starts a request as an unanswered transfer (slots.ts): it takes an
   * answered slot only once its client answers. `fromList`: it was started
   * from the wait list, and holds a promised slot until then.
   */
  private begin(l: Listener, key: string, rinfo: RemoteInfo, d: ReadRequest, fromList: boolean): void {
    const pending = new Pending(key, rinfo.address);
    const admitted = this.sessions.admit(key, pending, fromList);
    // Only transfers of clients that answered before are waiting: this unproven request gets nothing.
    if (admitted === 'crowded') this.opts.hooks?.evicted?.();
    if (admitted === 'busy') this.busy(l, rinfo, d);
    if (admitted !== 'ok') return;
    void this.open(l, key, pending, rinfo, d.path, d.filename, d.mode, d.options).catch((err: unknown) => {
      // open() handles its own errors; this is the last guard so a bug cannot crash the process.
      this.sessions.release(key, pending);
      this.opts.log.error({ err }, `tftp: ${rinfo.address}: internal error`);
    });
  }

  private async open(
    l: Listener,
    key: string,
    pending: Pending,
    rinfo: RemoteInfo,
    path: string,
    filename: string,
    mode: 'octet' | 'netascii',
    options: Array<[string, string]>,
  ): Promise<void> {
    const fail = (code: number, message: string, refusal: boolean, level: 'info' | 'warn' | 'error' = refusal ? 'warn' : 'info', logDetail?: string) => {
      this.sessions.release(key, pending);
      this.opts.log[level](`tftp: ${rinfo.address}:${rinfo.port} '${printable(filename)}': ERROR ${code} ${message}${logDetail ? ` (${logDetail})` : ''}`);
      this.opts.hooks?.requestFailed?.({ client: rinfo.address, filename, code, message, refusal });
      if (!this.stopping) this.sendError(l.sock, rinfo, code, message);
    };
    let file: BootFile | undefined;
    try {
      file = await this.opts.lookup(path, { address: rinfo.address, protocol: 'tftp' });
      if (file && mode === 'netascii') file = await netasciiFile(file);
    } catch (err) {
      await file?.close?.();
      if (err instanceof BootRefused) {
        const denied = err.status === 403;
        return fail(denied ? ERR.ACCESS : ERR.NOT_FOUND, denied ? `access violation: ${err.message}` : `file not found: ${err.message}`, denied, undefined, err.logDetail);
      }
      this.opts.log.error({ err }, `tftp: looking up '${path}' for ${rinfo.address} failed`);
      return fail(ERR.NOT_DEFINED, 'internal error reading the file (see the server log)', false, 'error');
    }
    if (!file) return fail(ERR.NOT_FOUND, `file not found: ${path}`, false);
    // Stopping, or evicted from the unanswered pool while the file was looked up.
    if (this.stopping || this.sessions.get(key) !== pending) return void (await file.close?.());
    const neg = negotiate(options, file.size, this.opts.limits(rinfo.address));
    if (!neg.ok) {
      await file.close?.();
      return fail(ERR.OPTION, `option negotiation failed: ${neg.message}`, false);
    }
    if (neg.value.ignored.length) this.opts.log.debug(`tftp: ${rinfo.address}: ignoring unknown option(s) ${neg.value.ignored.join(', ')}`);
    const started = { client: rinfo.address, path, size: file.size, blksize: neg.value.blksize, windowsize: neg.value.windowsize };
    const pump = this.opts.pump;
    if (pump && mode === 'octet' && file.segments) {
      const { busyPoll = true, nativeThreads: threads, allowedNets } = this.opts;
      const native = startNative({ pump, host: this.host, key, local: l.address, peer: rinfo.address, port: rinfo.port, path, file, neg: neg.value, clock: this.clock(), busyPoll, threads, allowedNets });
      if (native) return this.started(key, pending, native, started);
    }
    const sock = newSocket(false);
    try {
      await bindSocket(sock, l.address, 0);
    } catch (err) {
      sock.close();
      await file.close?.();
      this.opts.log.error({ err }, `tftp: cannot open a transfer socket on ${l.address}`);
      return fail(ERR.NOT_DEFINED, 'cannot open a transfer socket', false, 'error');
    }
    if (this.stopping || this.sessions.get(key) !== pending) {
      sock.close();
      return void (await file.close?.());
    }
    const { blksize, windowsize, timeoutMs, oack } = neg.value;
    const transfer = new Transfer({
      size: file.size,
      blksize,
      windowsize,
      oack: oack.length > 0,
      clientTimeoutMs: timeoutMs,
      ...this.clock(),
    });
    const session = new Session(this.host, key, sock, rinfo.address, rinfo.port, path, mode, file, transfer, oack);
    this.started(key, pending, session, started);
    this.ensureTicker();
    session.start();
  }

  private started(key: string, pending: Pending, s: Session | NativeSession, info: Parameters<NonNullable<TftpHooks['transferStarted']>>[0]): void {
    if (this.sessions.get(key) === pending) this.sessions.update(key, s);
    if (s instanceof NativeSession) {
      this.native.add(s);
      this.sessions.watchAnswers();
    }
    this.opts.hooks?.transferStarted?.(info);
  }

  /** Retransmission clock bounds, the same for both data paths. */
  private clock(): RetransmitClock {
    const { initialRtoMs, minRtoMs = 50, maxRtoMs = 10_000, retries, giveUpMs = 0, handshakeTries = 3 } = this.opts;
    return { initialRtoMs, minRtoMs, maxRtoMs: Math.max(maxRtoMs, initialRtoMs), retries, giveUpMs, handshakeTries };
  }

  private ended(s: Session | NativeSession, record: TransferRecord): void {
    if (s instanceof NativeSession) this.native.delete(s);
    this.sessions.release(s.key, s);
    if (!this.sessions.size && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
    const line = `tftp: ${record.client}:${record.port} '${printable(record.path)}' ${record.outcome}: ${record.bytes}/${record.size} bytes in ${record.durationMs.toFixed(0)} ms, blksize ${record.blksize}, windowsize ${record.windowsize}, ${record.retransmits} retransmitted${record.reason ? ` (${record.reason})` : ''}`;
    // UEFI PXE's size-then-abort is normal, not a failure.
    if (record.outcome === 'complete' || isSizeProbe(record)) this.opts.log.info(line);
    // A client that never answered may be a forged source, hundreds a second: counted, logged at debug.
    else if (!record.answered) this.opts.log.debug(line);
    else this.opts.log.warn(line);
    this.opts.hooks?.transferEnded?.(record);
  }

  private ensureTicker(): void {
    if (this.ticker) return;
    this.ticker = setInterval(() => {
      // Deferred to the check phase: ACKs already waiting in the sockets are
      // read first, so a busy loop does not retransmit what was just acknowledged.
      if (this.tickQueued) return;
      this.tickQueued = true;
      setImmediate(() => {
        this.tickQueued = false;
        const now = performance.now();
        for (const s of this.sessions.values()) if (s instanceof Session && s.transfer.deadline <= now) s.tick(now);
      });
    }, TICK_MS);
  }
}

function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`).slice(0, 200);
}
