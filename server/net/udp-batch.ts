// Batched datagram I/O on a socket Node opened (native/tftp-pump's udp_batch
// addon: recvmmsg/sendmmsg on the Node main thread). Node's dgram costs a
// system call and a call into JavaScript per datagram received and a system
// call per datagram sent; here a readable socket is drained in batches of up
// to SLOTS, one JavaScript call per batch, and the replies queued while
// JavaScript runs leave together in one sendmmsg, when the current task's
// microtasks run. Datagrams the socket cannot take yet (a full send buffer)
// wait in the addon, in order, until it is writable.
import type dgram from 'node:dgram';
import { socketFd } from './udp-device.js';
import { optionalAddon } from './addon.js';

interface UdpBatchAddon {
  open(fd: number, buffer: Buffer, slotSize: number, meta: Int32Array, onBatch: (count: number) => void): object;
  send(handle: object, buffer: Buffer, meta: Int32Array, count: number): [failed: number, errno: number];
  close(handle: object): void;
  strerror(errno: number): string;
}

/** Datagrams read per call into JavaScript. */
const SLOTS = 64;
/** Bytes per received datagram; a longer one is reported truncated (DHCP requests are a few hundred bytes). */
const SLOT_SIZE = 4096;
/** Replies queued before they are sent regardless of the microtask. */
const OUT_MAX = 256;
const OUT_BYTES = 256 * 1536;

const udpBatch = optionalAddon<UdpBatchAddon>('rackboot-tftp-pump/udp-batch.cjs');

/** The addon, or undefined when it was not built (the reason in `udpBatchUnavailable()`). */
export const loadUdpBatch = (): UdpBatchAddon | undefined => udpBatch.load();
export const udpBatchUnavailable = (): string => udpBatch.unavailable();

export interface BatchHandlers {
  /** One datagram (a copy: it may be kept), its source address as a 32-bit number and port. */
  packet(msg: Buffer, address: number, port: number): void;
  /** A datagram longer than the receive slot: dropped. */
  truncated(address: number, port: number): void;
  /** `count` datagrams the kernel refused to send (dgram reports each as an 'error' event). */
  sendFailed(err: Error, count: number): void;
  /** The socket reported an error (it is polled again). */
  socketError(err: Error): void;
}

export class BatchedUdp {
  private readonly lib: UdpBatchAddon;
  private readonly handle: object;
  private readonly recvBuf = Buffer.allocUnsafe(SLOTS * SLOT_SIZE);
  private readonly recvMeta = new Int32Array(SLOTS * 3);
  private readonly out = Buffer.allocUnsafe(OUT_BYTES);
  private readonly outMeta = new Int32Array(OUT_MAX * 4);
  private queued = 0;
  private used = 0;
  private flushQueued = false;
  private open = true;

  /**
   * Takes over `sock`'s descriptor (duplicated; the caller closes `sock`
   * afterwards, its options such as the interface binding and broadcast stay).
   */
  constructor(sock: dgram.Socket, private readonly on: BatchHandlers) {
    const lib = loadUdpBatch();
    if (!lib) throw new Error(`the udp_batch addon is not built: ${udpBatchUnavailable()}`);
    this.lib = lib;
    this.handle = lib.open(socketFd(sock), this.recvBuf, SLOT_SIZE, this.recvMeta, (n) => this.onBatch(n));
  }

  private onBatch(count: number): void {
    if (count < 0) {
      this.on.socketError(new Error(`socket error: ${this.lib.strerror(-count)}`));
      return;
    }
    const m = this.recvMeta;
    for (let i = 0; i < count; i++) {
      const len = m[i * 3]!;
      const address = m[i * 3 + 1]! >>> 0;
      const port = m[i * 3 + 2]!;
      if (len < 0) {
        this.on.truncated(address, port);
        continue;
      }
      // A copy: the slot is read into again by the next batch, and a request may outlive this call.
      const msg = Buffer.allocUnsafe(len);
      this.recvBuf.copy(msg, 0, i * SLOT_SIZE, i * SLOT_SIZE + len);
      this.on.packet(msg, address, port);
    }
  }

  /** Queue a datagram; it leaves with the others queued in this task. */
  send(bytes: Buffer, port: number, address: number): void {
    if (!this.open) throw new Error('socket is closed');
    if (bytes.length > OUT_BYTES) throw new Error(`a ${bytes.length}-byte datagram is larger than the send buffer`);
    if (this.queued === OUT_MAX || this.used + bytes.length > OUT_BYTES) this.flush();
    bytes.copy(this.out, this.used);
    const o = this.queued * 4;
    this.outMeta[o] = this.used;
    this.outMeta[o + 1] = bytes.length;
    this.outMeta[o + 2] = address | 0;
    this.outMeta[o + 3] = port;
    this.queued++;
    this.used += bytes.length;
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushQueued = false;
    if (!this.queued || !this.open) return;
    const n = this.queued;
    this.queued = 0;
    this.used = 0;
    const [failed, errno] = this.lib.send(this.handle, this.out, this.outMeta, n);
    if (failed) this.on.sendFailed(new Error(`${failed} datagram(s) not sent: ${this.lib.strerror(errno)}`), failed);
  }

  /** Send what is queued, stop reading, close the descriptor. */
  close(): void {
    if (!this.open) return;
    this.flush();
    this.open = false;
    this.lib.close(this.handle);
  }
}
