// A bounded queue in front of a dgram socket's sends (the DHCP server's Node
// path; the batched path has the same bounds in the udp_batch addon).
//
// dgram hands every send to libuv, which keeps the ones the kernel cannot take
// yet (a full send buffer) in an unbounded queue, in order: a reply waiting
// there delays every reply after it, however long. Here at most `maxInFlight`
// sends are with libuv at once; the rest wait in this queue, which holds at
// most `maxWaiting` and nothing older than `maxAgeMs`. When it is full the
// oldest waiting reply is dropped, not the new one: a DHCP client that waited
// that long has asked again, and the newest replies are the useful ones.
import type dgram from 'node:dgram';

export interface SendQueueOptions {
  maxInFlight?: number;
  maxWaiting?: number;
  maxAgeMs?: number;
  /** Datagrams dropped (queue full or too old) or refused by the kernel. */
  failed(err: Error, count: number): void;
  now?: () => number;
}

interface Waiting {
  bytes: Buffer;
  port: number;
  address: string;
  at: number;
}

export class BoundedSendQueue {
  private inFlight = 0;
  private readonly waiting: Waiting[] = [];
  private head = 0;
  private readonly maxInFlight: number;
  private readonly maxWaiting: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  /** Dropped from the queue (full or too old), for tests and the log. */
  dropped = 0;

  constructor(
    private readonly sock: dgram.Socket,
    private readonly opts: SendQueueOptions,
  ) {
    this.maxInFlight = opts.maxInFlight ?? 64;
    this.maxWaiting = opts.maxWaiting ?? 256;
    this.maxAgeMs = opts.maxAgeMs ?? 2000;
    this.now = opts.now ?? Date.now;
  }

  get queued(): number {
    return this.waiting.length - this.head;
  }

  /** One callback for every send: no closure per datagram. */
  private readonly sent = (err: Error | null): void => {
    this.inFlight--;
    if (err) this.opts.failed(err, 1);
    this.pump();
  };

  send(bytes: Buffer, port: number, address: string): void {
    if (this.inFlight < this.maxInFlight && this.queued === 0) {
      // A closed socket throws here, to the caller, with nothing counted in flight.
      this.sock.send(bytes, port, address, this.sent);
      this.inFlight++;
      return;
    }
    if (this.queued >= this.maxWaiting) this.drop(1, 'the send queue is full');
    this.waiting.push({ bytes, port, address, at: this.now() });
  }

  private drop(n: number, why: string): void {
    this.head += n;
    this.dropped += n;
    this.opts.failed(new Error(`${n} reply(s) dropped: ${why}`), n);
    this.compact();
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    } else if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    }
  }

  private pump(): void {
    const now = this.now();
    let stale = 0;
    while (this.head + stale < this.waiting.length && now - this.waiting[this.head + stale]!.at > this.maxAgeMs) stale++;
    if (stale) this.drop(stale, `waited over ${this.maxAgeMs} ms for the socket`);
    while (this.inFlight < this.maxInFlight && this.queued > 0) {
      const w = this.waiting[this.head++]!;
      try {
        this.sock.send(w.bytes, w.port, w.address, this.sent);
        this.inFlight++;
      } catch (err) {
        this.opts.failed(err as Error, 1);
      }
    }
    this.compact();
  }
}
