// Sockets for the DHCP server without a network: what it sends is recorded,
// what a test delivers arrives as a 'message' event, as from node:dgram.
import { EventEmitter } from 'node:events';
import type dgram from 'node:dgram';
import { NoSuchInterfaceError, type UdpOpener, type UdpSocketRequest } from '../../../server/net/udp-device.js';

export interface Sent {
  bytes: Buffer;
  port: number;
  address: string;
}

export class FakeSocket extends EventEmitter {
  readonly sent: Sent[] = [];
  closed = false;
  /** Make the next N sends throw synchronously. */
  throwNext = 0;
  /** Keep what is sent in `sent` (a long run only counts it). */
  keep = true;
  sentCount = 0;
  constructor(readonly req: UdpSocketRequest) {
    super();
  }
  send(bytes: Buffer, port: number, address: string, cb?: (err: Error | null) => void): void {
    // As node:dgram does: a send on a closed socket throws at once.
    if (this.closed) throw Object.assign(new Error('Not running'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
    if (this.throwNext > 0) {
      this.throwNext--;
      throw new Error('fake send failure');
    }
    this.sentCount++;
    if (this.keep) this.sent.push({ bytes, port, address });
    // As node:dgram does: the callback comes later, once the datagram left.
    if (cb) process.nextTick(cb, null);
  }
  close(cb?: () => void): void {
    this.closed = true;
    cb?.();
  }
  deliver(bytes: Buffer, from = '10.0.0.50'): void {
    this.emit('message', bytes, { address: from, port: 68, family: 'IPv4', size: bytes.length });
  }
}

/** @param neighbourFile an ARP table in /proc/net/arp's format (default: one with no entries) */
export function fakeOpener(exists: string[], neighbourFile = '/dev/null'): UdpOpener & { sockets: Map<string, FakeSocket> } {
  const sockets = new Map<string, FakeSocket>();
  return {
    sockets,
    neighbourFile,
    async open(req) {
      if (req.interface && !exists.includes(req.interface)) throw new NoSuchInterfaceError(req.interface);
      const s = new FakeSocket(req);
      sockets.set(req.interface ?? '*', s);
      return s as unknown as dgram.Socket;
    },
  };
}

