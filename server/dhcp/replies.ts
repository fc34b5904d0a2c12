// How the DHCP server's replies leave: on the socket the request came in on,
// through the batched path or Node's bounded send queue. A send that fails
// is counted and logged (throttled), never thrown into the caller: the
// server answers the next client.
import type dgram from 'node:dgram';
import { Counter, type Registry as Metrics } from 'prom-client';
import { LogThrottle, type Logger } from '../log.js';
import { formatIpv4 } from '../net/ipv4.js';
import type { BatchedUdp } from '../net/udp-batch.js';
import type { BoundedSendQueue } from '../net/send-queue.js';
import { BROADCAST, type Destination } from './addressing.js';
import type { PolicyNetwork } from './policy.js';

export interface ServedSocket {
  sock: dgram.Socket;
  /** Set when the socket's datagrams go through the batched path (dhcp.io); `sock` is then closed. */
  batch?: BatchedUdp;
  /** Node's path: sends go through a bounded queue (the batched path bounds its own). */
  queue?: BoundedSendQueue;
  iface: string;
  /** 'network': a network's own interface (may broadcast); 'relay': relayed requests only. */
  kind: 'network' | 'relay';
  networks: PolicyNetwork[];
}

/** A reply ready to go: its bytes, the socket, where to. */
export interface OutgoingReply {
  s: ServedSocket;
  bytes: Buffer;
  dest: Destination;
}

const BROADCAST_TEXT = '255.255.255.255';

export class ReplySender {
  private readonly errors: Counter;
  private readonly errorLog = new LogThrottle();
  private readonly addrCache = new Map<number, string>();

  constructor(
    private readonly log: Logger,
    metrics: Metrics,
  ) {
    this.errors = new Counter({ name: 'rackboot_dhcp_send_errors_total', help: 'DHCP socket errors (replies that could not be sent)', registers: [metrics] });
  }

  send(r: OutgoingReply): void {
    const { s, bytes, dest } = r;
    // No per-send callback (it costs an allocation per packet): failures arrive as the socket's 'error'.
    // A closed socket throws at once instead: counted the same way, never thrown into the flush.
    try {
      if (s.batch) s.batch.send(bytes, dest.port, dest.address);
      else if (s.queue) s.queue.send(bytes, dest.port, this.addressText(dest.address));
      else s.sock.send(bytes, dest.port, this.addressText(dest.address));
    } catch (err) {
      this.failed(s.iface, err as Error);
    }
  }

  /** `count` replies on `iface` could not be sent (EHOSTUNREACH, ENOBUFS, a full queue...). */
  failed(iface: string, err: Error, count = 1): void {
    this.errors.inc(count);
    if (this.errorLog.hit()) this.log.warn(`dhcp: socket on ${iface}: ${err.message} (${this.errorLog.count} so far)`);
  }

  /** Dotted text of an address, cached: replies go to few distinct relays and to the broadcast address. */
  private addressText(ip: number): string {
    if (ip === BROADCAST) return BROADCAST_TEXT;
    let t = this.addrCache.get(ip);
    if (t === undefined) {
      if (this.addrCache.size >= 4096) this.addrCache.clear();
      this.addrCache.set(ip, (t = formatIpv4(ip)));
    }
    return t;
  }
}
