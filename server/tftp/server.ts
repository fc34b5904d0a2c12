// The TFTP server: listening sockets, one socket (transfer id) per transfer,
// the retransmission clock. Decisions come from policy.ts, options.ts and
// the Transfer state machine; this file only moves bytes and time.
import dgram, { type RemoteInfo, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { asksSize, isSizeProbe } from './probe.js';
import { BootRefused, type BootClient, type BootFile } from '../boot/content.js';
import type { Logger } from '../log.js';
import { BlockSource } from './blocks.js';
import { dataHeader, encodeError, encodeOack, ERR } from './codec.js';
import { setSegmentSize, windowBatch } from './gso.js';
import type { Pump, PumpHandle, PumpResult } from './native.js';
import { netasciiFile } from './netascii.js';
import { negotiate, type Negotiated, type OptionLimits } from './options.js';
import { TransferAdmission } from './admission.js';
import { decideRequest, type ListenerDecision } from './policy.js';
import { RateLimiter } from './ratelimit.js';
import { Transfer, type Action, type Outcome } from './transfer.js';
import { WaitList } from './waitlist.js';

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

export interface TransferRecord {
  client: string;
  port: number;
  /** Confined path asked of the boot hub. */
  path: string;
  kind: BootFile['kind'];
  node: string | undefined;
  mode: 'octet' | 'netascii';
  size: number;
  bytes: number;
  blksize: number;
  windowsize: number;
  durationMs: number;
  retransmits: number;
  timeouts: number;
  outcome: Outcome | 'aborted' | 'read-error';
  reason?: string;
  /** The client acknowledged the OACK or DATA 1 (one that never did may be a forged request). */
  answered: boolean;
  /** The OACK carried tsize: the client asked for the size (isSizeProbe). */
  tsizeAsked: boolean;
}

export interface RefusalRecord {
  client: string;
  filename: string | undefined;
  code: number;
  message: string;
  /** A hostile or forbidden name (logged as a warning) rather than a plain miss. */
  refusal: boolean;
}

export interface TftpHooks {
  transferStarted?(r: { client: string; path: string; size: number; blksize: number; windowsize: number }): void;
  transferEnded?(r: TransferRecord): void;
  /** An ERROR answered a request (not found, refused, bad packet, busy). */
  requestFailed?(r: RefusalRecord): void;
  /** A packet from a source outside clientAllowed: dropped unanswered. */
  foreignSource?(address: string): void;
  /** An unanswered transfer ended to make room for a newer one. */
  evicted?(): void;
  errorSent?(code: number): void;
}

const TICK_MS = 10;
/** How often native transfers waiting for their client's answer are checked for one. */
const ANSWER_POLL_MS = 20;

/** A request whose file is being looked up: it waits among the unanswered. */
class Pending {
  constructor(readonly key: string) {}
}
type Entry = Session | NativeSession | Pending;

/** Addresses here are always literal IPs: skip dgram's per-send dns.lookup tick. */
const literalLookup = (address: string, _family: unknown, cb: (err: Error | null, address: string, family: number) => void): void => cb(null, address, 4);

function newSocket(reuseAddr: boolean): Socket {
  // The lookup callback signature differs between overloads in @types/node; this one is the (address, family) form dgram uses.
  return dgram.createSocket({ type: 'udp4', reuseAddr, lookup: literalLookup as unknown as dgram.SocketOptions['lookup'] });
}

function bindSocket(sock: Socket, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    sock.once('error', onError);
    sock.bind({ address, port, exclusive: true }, () => {
      sock.off('error', onError);
      resolve();
    });
  });
}

interface Listener {
  sock: Socket;
  address: string;
  port: number;
}

/** A read request waiting for a transfer slot. */
interface Waiting {
  l: Listener;
  rinfo: RemoteInfo;
  d: Extract<ListenerDecision, { kind: 'read' }>;
}

/** A waiting request whose client has not asked again for this long gave up (ROMs resend every 4 s, PXELINUX sooner). */
const WAIT_STALE_MS = 10_000;

export class TftpServer {
  private readonly listeners: Listener[] = [];
  private readonly waiting: WaitList<Waiting>;
  /**
   * Keys of transfers started from the wait list whose client has not
   * answered yet: each is promised an answered slot, so the list starts no
   * more than are free. A forger's request that reached the head of the
   * list never answers: its promise lapses after promiseMs (a real client
   * answers within a round trip), and the transfer goes on as any unanswered one.
   */
  private readonly reserved = new Map<string, number>();
  private warnedWaitAt = 0;
  private draining = false;
  private readonly sessions: TransferAdmission<Entry>;
  private readonly limiter: RateLimiter;
  private ticker: NodeJS.Timeout | undefined;
  private answerPoll: NodeJS.Timeout | undefined;
  private foreignLogged = 0;
  private foreignAt = -Infinity;
  private tickQueued = false;
  private stopping = false;
  private readonly warnedRate = new Map<string, number>();
  /** Native transfers until their thread has ended (stop() waits for them; a superseded one is no longer in sessions). */
  private readonly native = new Set<NativeSession>();

  constructor(readonly opts: TftpServerOptions) {
    this.limiter = new RateLimiter(opts.clientRate, opts.clientBurst);
    this.sessions = new TransferAdmission<Entry>(opts.maxTransfers, opts.maxUnanswered ?? 64);
    this.waiting = new WaitList(opts.maxWaiting ?? 0, WAIT_STALE_MS);
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
    const { port, addresses, log } = this.opts;
    const multi = addresses.length > 1;
    if (multi && port !== 0) await this.probe(addresses, port);
    for (const address of addresses) {
      const sock = newSocket(multi);
      try {
        await bindSocket(sock, address, port);
      } catch (err) {
        sock.close();
        if ((err as { code?: string }).code === 'EADDRNOTAVAIL' && !this.opts.required.includes(address)) {
          log.debug(`tftp: ${address} is not an address of this machine; not listening on it`);
          continue;
        }
        await this.stop();
        throw err;
      }
      const l: Listener = { sock, address, port: sock.address().port };
      sock.on('message', (msg, rinfo) => this.onRequest(l, msg, rinfo));
      sock.on('error', (err) => log.error({ err }, `tftp: socket ${address}:${l.port} error`));
      this.listeners.push(l);
    }
  }

  /**
   * The listening sockets share the port (SO_REUSEADDR, so a specific address
   * and the wildcard can both be bound); first make sure no other program
   * holds it, which SO_REUSEADDR would otherwise hide.
   */
  private async probe(addresses: string[], port: number): Promise<void> {
    for (const address of addresses) {
      const probe = newSocket(false);
      try {
        await bindSocket(probe, address, port);
      } catch (err) {
        if ((err as { code?: string }).code !== 'EADDRNOTAVAIL') throw err;
      } finally {
        probe.close();
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.ticker);
    this.ticker = undefined;
    this.waiting.clear();
    this.reserved.clear();
    clearInterval(this.answerPoll);
    this.answerPoll = undefined;
    for (const s of this.sessions.values()) if (!(s instanceof Pending)) s.abort('server shutting down');
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
      if (existing instanceof NativeSession) this.sessions.release(key, existing);
    }
    // The client asked again while it waits: it keeps its place (a new name from that port replaces the old).
    if (this.waiting.refresh(key, { l, rinfo, d }, now)) {
      this.drain();
      return;
    }
    // Decide on the current count: a native transfer answered since the last poll holds its slot now.
    if (this.answerPoll) this.refreshNativeAnswers();
    // A boot storm: while every answered slot is taken (or promised to a request started from the
    // wait list), or others wait already, the request waits its turn: a PXE ROM given ERROR gives up.
    if (this.waiting.size > 0 || this.slotsTaken() >= this.opts.maxTransfers) {
      if (this.waiting.add(key, { l, rinfo, d }, now)) {
        if (now - this.warnedWaitAt > 10_000) {
          this.warnedWaitAt = now;
          this.opts.log.warn(`tftp: ${this.sessions.answeredCount} transfers in progress (tftp.maxTransfers); ${this.waiting.size} requests wait for a slot`);
        }
        this.drain();
        return;
      }
      this.busy(l, rinfo, d);
      return;
    }
    this.begin(l, key, rinfo, d, false);
  }

  /** Answered slots taken, and promised to requests started from the wait list. */
  private slotsTaken(): number {
    return this.sessions.answeredCount + this.reserved.size;
  }

  private busy(l: Listener, rinfo: RemoteInfo, d: Extract<ListenerDecision, { kind: 'read' }>): void {
    const message = `server busy: ${this.sessions.answeredCount} transfers in progress, try again`;
    this.opts.log.warn(`tftp: ${rinfo.address}:${rinfo.port} '${printable(d.path)}': ${message}`);
    this.opts.hooks?.requestFailed?.({ client: rinfo.address, filename: d.filename, code: ERR.NOT_DEFINED, message, refusal: false });
    this.sendError(l.sock, rinfo, ERR.NOT_DEFINED, message);
  }

  /**
   * Starts a request as an unanswered transfer (admission.ts): it takes an
   * answered slot only once its client answers. `fromList`: it was started
   * from the wait list, and holds a promised slot until then.
   */
  private begin(l: Listener, key: string, rinfo: RemoteInfo, d: Extract<ListenerDecision, { kind: 'read' }>, fromList: boolean): void {
    const pending = new Pending(key);
    // A full pool: native transfers whose clients answered since the last poll take their slots first.
    // In a rack's storm (hundreds of RRQs in a second, the poll late on a busy loop) the pool otherwise
    // evicted transfers well under way, and their ROMs gave up (bench/storm N=500: 152 of 500).
    if (this.sessions.unansweredCount >= (this.opts.maxUnanswered ?? 64)) this.refreshNativeAnswers();
    const admitted = this.sessions.admit(key, pending, rinfo.address);
    if (!admitted.ok && admitted.reason === 'crowded') {
      // Only transfers of clients that answered before are waiting: this unproven request gets nothing.
      this.opts.hooks?.evicted?.();
      return;
    }
    if (!admitted.ok) {
      this.busy(l, rinfo, d);
      return;
    }
    if (fromList) this.reserved.set(key, performance.now());
    if (admitted.evicted) this.evict(admitted.evicted);
    void this.open(l, key, pending, rinfo, d.path, d.filename, d.mode, d.options).catch((err: unknown) => {
      // open() handles its own errors; this is the last guard so a bug cannot crash the process.
      this.release(key, pending);
      this.opts.log.error({ err }, `tftp: ${rinfo.address}: internal error`);
    });
  }

  /** Forgets a transfer (or lookup) and its promised slot; waiting requests take what it freed. */
  private release(key: string, e: Entry): void {
    if (this.sessions.release(key, e)) this.reserved.delete(key);
    this.drain();
  }

  /**
   * Waiting requests into the answered slots that are free and not promised,
   * oldest first. At most maxUnanswered are promised at once, so the ones
   * started from the list do not evict each other from the unanswered pool.
   */
  private drain(): void {
    // A request that fails at once (not found) frees its promise inside begin(): the loop below takes it.
    if (this.draining) return;
    this.draining = true;
    try {
      const now = performance.now();
      const maxPromised = this.opts.maxUnanswered ?? 64;
      // Promises not answered in time lapse (oldest first: a Map keeps insertion order).
      const lapse = now - Math.max(1000, 2 * this.opts.initialRtoMs);
      for (const [k, at] of this.reserved) {
        if (at > lapse) break;
        this.reserved.delete(k);
      }
      while (!this.stopping && this.waiting.size > 0 && this.slotsTaken() < this.opts.maxTransfers && this.reserved.size < maxPromised) {
        const next = this.waiting.take(now);
        if (!next) return;
        if (this.sessions.get(next.key)) continue;
        this.begin(next.item.l, next.key, next.item.rinfo, next.item.d, true);
      }
    } finally {
      this.draining = false;
    }
  }

  /** An unanswered transfer made room for a newer request: ended without a word to its (perhaps forged) client. */
  private evict(e: Entry): void {
    this.opts.hooks?.evicted?.();
    // Its promise (if it came from the wait list) is void: the list may start another.
    this.reserved.delete(e.key);
    // A Pending entry notices in open() that its key is gone.
    if (!(e instanceof Pending)) e.abort('never answered; made room for a newer request', false);
    this.drain();
  }

  /** @internal The transfer's client answered: it takes a full slot, or is ended when none is free. */
  answered(s: Session | NativeSession): void {
    if (this.sessions.isAnswered(s.key) || this.sessions.get(s.key) !== s) return;
    // Its address is proven: a flood of forged requests cannot crowd out its next ones.
    this.sessions.prove(s.client);
    const promoted = this.sessions.promote(s.key);
    // A promised slot is now held (or, when none was free, the transfer ends and frees nothing).
    this.reserved.delete(s.key);
    if (!promoted) s.abort(`server busy: ${this.sessions.answeredCount} transfers in progress, try again`);
    this.drain();
  }

  /**
   * Native transfers report their client's first answer only when asked: ask
   * the unanswered ones (at most maxUnanswered calls). Returns how many still wait.
   */
  private refreshNativeAnswers(): number {
    let waiting = 0;
    for (const [, e] of [...this.sessions.unanswered()]) {
      if (!(e instanceof NativeSession)) continue;
      if (e.answered) this.answered(e);
      else waiting++;
    }
    return waiting;
  }

  private ensureAnswerPoll(): void {
    if (this.answerPoll) return;
    this.answerPoll = setInterval(() => {
      if (this.refreshNativeAnswers()) return;
      clearInterval(this.answerPoll);
      this.answerPoll = undefined;
    }, ANSWER_POLL_MS);
    this.answerPoll.unref();
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
      this.release(key, pending);
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
    const pump = this.opts.pump;
    if (pump && mode === 'octet' && file.segments && this.openNative(pump, l, key, pending, rinfo, path, file, neg.value)) return;
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
    const session = new Session(this, key, sock, rinfo.address, rinfo.port, path, mode, file, transfer, oack);
    this.sessions.update(key, session);
    this.opts.hooks?.transferStarted?.({ client: rinfo.address, path, size: file.size, blksize, windowsize });
    this.ensureTicker();
    session.start();
  }

  /** Starts the transfer on the native path; false when it could not (the Node path serves it then). */
  private openNative(pump: Pump, l: Listener, key: string, pending: Pending, rinfo: RemoteInfo, path: string, file: BootFile, neg: Negotiated): boolean {
    const { blksize, windowsize, timeoutMs, oack } = neg;
    const clock = this.clock();
    // As Transfer does: the client's RFC 2349 timeout caps the retransmission timeout.
    const maxRtoMs = Math.min(clock.maxRtoMs, timeoutMs ?? Infinity);
    let session: NativeSession | undefined;
    let handle: PumpHandle;
    try {
      handle = pump.start(
        {
          local: l.address,
          peer: rinfo.address,
          port: rinfo.port,
          size: file.size,
          blksize,
          windowsize,
          ...(oack.length ? { oack: encodeOack(oack) } : {}),
          ...clock,
          minRtoMs: Math.min(clock.minRtoMs, maxRtoMs),
          maxRtoMs,
          segments: file.segments!,
          busyPoll: this.opts.busyPoll !== false,
          gsoBlocks: this.opts.gso === false ? 1 : windowBatch(blksize, windowsize),
          ...(this.opts.nativeThreads !== undefined ? { threads: this.opts.nativeThreads } : {}),
          ...(this.opts.allowedNets ? { strangers: this.opts.allowedNets } : {}),
        },
        (r) => session?.finish(r),
      );
    } catch (err) {
      // E.g. no thread could be made (EAGAIN): this transfer runs on the event loop instead.
      this.opts.log.warn({ err }, `tftp: cannot start a native transfer for ${rinfo.address}; using the Node data path`);
      return false;
    }
    session = new NativeSession(this, key, pump, handle, rinfo.address, rinfo.port, path, file, blksize, windowsize, asksSize(oack));
    if (this.sessions.get(key) === pending) this.sessions.update(key, session);
    this.native.add(session);
    this.ensureAnswerPoll();
    this.opts.hooks?.transferStarted?.({ client: rinfo.address, path, size: file.size, blksize, windowsize });
    return true;
  }

  /** Retransmission clock bounds, the same for both data paths. */
  private clock(): { initialRtoMs: number; minRtoMs: number; maxRtoMs: number; retries: number; giveUpMs: number; handshakeTries: number } {
    const { initialRtoMs, minRtoMs = 50, maxRtoMs = 10_000, retries, giveUpMs = 0, handshakeTries = 3 } = this.opts;
    return { initialRtoMs, minRtoMs, maxRtoMs: Math.max(maxRtoMs, initialRtoMs), retries, giveUpMs, handshakeTries };
  }

  /** @internal */
  ended(s: Session | NativeSession, record: TransferRecord): void {
    if (s instanceof NativeSession) this.native.delete(s);
    this.release(s.key, s);
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

  /** @internal */
  countError(code: number): void {
    this.opts.hooks?.errorSent?.(code);
  }

  /** @internal */
  allowStranger(address: string): boolean {
    return this.allowed(address) && this.limiter.take(address, performance.now());
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

class Session {
  private gen = 0;
  private done = false;
  private readonly source: BlockSource;
  private readonly startedWall = performance.now();
  /** Blocks per sendmsg() with UDP_SEGMENT; 1: one send per block. */
  private batch = 1;

  constructor(
    private readonly server: TftpServer,
    readonly key: string,
    private readonly sock: Socket,
    private readonly address: string,
    private readonly port: number,
    readonly path: string,
    private readonly mode: 'octet' | 'netascii',
    private readonly file: BootFile,
    readonly transfer: Transfer,
    private readonly oack: Array<[string, string]>,
  ) {
    this.source = new BlockSource(file, file.size, transfer.s.blksize, transfer.s.windowsize);
    sock.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    sock.on('error', (err) => this.server.opts.log.debug({ err }, `tftp: transfer socket error for ${address}:${port}`));
    // Windows go out in one system call each. Only for blocks of 512 bytes and
    // more: every packet larger than the segment size is cut, and an OACK or
    // ERROR must never be.
    const batch = server.opts.gso === false ? 1 : windowBatch(transfer.s.blksize, transfer.s.windowsize);
    if (batch > 1 && setSegmentSize(sock, transfer.s.blksize + 4)) this.batch = batch;
  }

  private readonly onBatchSent = (err: Error | null): void => {
    if (!err || this.batch === 1) return;
    // E.g. a segment larger than the route's MTU: go on block by block, resending the window now.
    this.server.opts.log.debug({ err }, `tftp: segmentation offload refused for ${this.address}; sending block by block`);
    this.batch = 1;
    setSegmentSize(this.sock, 0);
    if (!this.done) this.sendRange(this.transfer.base, this.transfer.next - 1, ++this.gen);
  };

  start(): void {
    // Start reading the first window while the OACK is on its way; the read-ahead waits for an answer.
    this.source.get(1, false);
    this.act(this.transfer.start(performance.now()));
  }

  tick(now: number): void {
    if (!this.done) this.act(this.transfer.tick(now));
  }

  get client(): string {
    return this.address;
  }

  get base(): number {
    return this.transfer.base;
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.done) return;
    if (rinfo.port !== this.port || rinfo.address !== this.address) {
      // RFC 1350: a packet from another transfer id gets ERROR 5 and does not disturb this transfer.
      const isError = msg.length >= 2 && msg[0] === 0 && msg[1] === 5;
      if (!isError && this.server.allowStranger(rinfo.address)) {
        this.server.countError(ERR.UNKNOWN_TID);
        this.sock.send(encodeError(ERR.UNKNOWN_TID, 'unknown transfer ID'), rinfo.port, rinfo.address);
      }
      return;
    }
    if (msg.length < 4 || msg[0] !== 0) return;
    if (msg[1] === 4) {
      const before = this.transfer.base;
      const wasAnswered = this.transfer.answered;
      const actions = this.transfer.ack(msg.readUInt16BE(2), performance.now());
      if (this.transfer.base !== before) this.source.release(this.transfer.base);
      if (!wasAnswered && this.transfer.answered) this.server.answered(this);
      this.act(actions);
    } else if (msg[1] === 5) {
      this.clientMessage = msg.subarray(4, Math.max(4, msg.indexOf(0, 4))).toString('latin1').replace(/[^\x20-\x7e]/g, '?');
      this.act(this.transfer.clientError(performance.now()));
    }
    // Anything else from the client (DATA, a second RRQ) is not part of a read transfer: ignored.
  }

  private clientMessage: string | undefined;

  private act(actions: readonly Action[]): void {
    for (const a of actions) {
      if (a.type === 'data') this.sendRange(a.first, a.last, ++this.gen);
      else if (a.type === 'oack') this.sock.send(encodeOack(this.oack), this.port, this.address);
      else this.finish(a.outcome);
    }
  }

  private sendRange(first: number, last: number, gen: number): void {
    for (let b = first; b <= last; ) {
      const payload = this.source.get(b);
      if (!payload) {
        this.source.wait(b).then(
          () => {
            if (!this.done && gen === this.gen) this.sendRange(b, last, gen);
          },
          (err: unknown) => this.readFailed(err),
        );
        return;
      }
      const list = [dataHeader(b), payload];
      let n = 1;
      // Back-to-back full blocks (only the file's last block is short, and it ends a batch).
      for (; n < this.batch && b + n <= last; n++) {
        const p = this.source.get(b + n);
        if (!p) break;
        list.push(dataHeader(b + n), p);
      }
      if (n > 1) this.sock.send(list, this.port, this.address, this.onBatchSent);
      else this.sock.send(list, this.port, this.address);
      b += n;
    }
  }

  private readFailed(err: unknown): void {
    if (this.done) return;
    const reason = (err as Error)?.message ?? String(err);
    this.server.opts.log.error({ err }, `tftp: reading '${this.path}' for ${this.address} failed`);
    this.server.countError(ERR.NOT_DEFINED);
    this.sock.send(encodeError(ERR.NOT_DEFINED, 'error reading the file (see the server log)'), this.port, this.address);
    this.close('read-error', reason);
  }

  private finish(outcome: Outcome): void {
    const t = this.transfer;
    // A client that never answered may be a forged source: nothing more goes there.
    if (outcome === 'timeout' && t.answered) {
      this.server.countError(ERR.NOT_DEFINED);
      this.sock.send(encodeError(ERR.NOT_DEFINED, 'transfer timed out'), this.port, this.address);
    }
    let reason: string | undefined;
    if (outcome === 'client-error') reason = `client sent ERROR: ${this.clientMessage ?? ''}`;
    else if (outcome === 'timeout') reason = t.answered ? `no answer after ${t.timeouts - 1} retransmissions` : `the client never answered (${t.timeouts - 1} retransmissions)`;
    this.close(outcome, reason);
  }

  abort(reason: string, notify = true): void {
    if (this.done) return;
    if (notify) this.server.countError(ERR.NOT_DEFINED);
    if (notify) this.sock.send(encodeError(ERR.NOT_DEFINED, reason), this.port, this.address);
    this.close('aborted', reason);
  }

  private close(outcome: TransferRecord['outcome'], reason?: string): void {
    if (this.done) return;
    this.done = true;
    this.gen++;
    const t = this.transfer;
    // Let queued sends (the ERROR above) leave before the socket goes.
    setImmediate(() => this.sock.close());
    closeAndReport(this.server, this, this.file, {
      client: this.address,
      port: this.port,
      mode: this.mode,
      bytes: t.bytesAcked,
      tsizeAsked: asksSize(this.oack),
      blksize: t.s.blksize,
      windowsize: t.s.windowsize,
      startedWall: this.startedWall,
      retransmits: t.retransmits,
      timeouts: t.timeouts,
      outcome,
      answered: t.answered,
      ...(reason ? { reason } : {}),
    });
  }
}

/** Releases a finished transfer's file and hands the server its record. */
function closeAndReport(
  server: TftpServer,
  s: Session | NativeSession,
  file: BootFile,
  r: Omit<TransferRecord, 'path' | 'kind' | 'node' | 'size' | 'durationMs'> & { startedWall: number },
): void {
  void Promise.resolve(file.close?.()).catch(() => undefined);
  const { startedWall, ...rest } = r;
  server.ended(s, { ...rest, path: s.path, kind: file.kind, node: file.node, size: file.size, durationMs: performance.now() - startedWall });
}

/** A transfer on the native data path: the thread owns the socket and the clock; this is its record. */
class NativeSession {
  private done = false;
  private readonly startedWall = performance.now();
  private resolveEnded!: () => void;
  readonly ended = new Promise<void>((r) => (this.resolveEnded = r));

  constructor(
    private readonly server: TftpServer,
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

  get answered(): boolean {
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
    for (let i = 0; i < r.unknownTidSent; i++) this.server.countError(ERR.UNKNOWN_TID);
    for (let i = 0; i < r.errorsSent; i++) this.server.countError(ERR.NOT_DEFINED);
    if (r.outcome === 'read-error') this.server.opts.log.error(`tftp: reading '${this.path}' for ${this.address} failed: ${r.reason ?? ''}`);
    closeAndReport(this.server, this, this.file, {
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

function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`).slice(0, 200);
}
