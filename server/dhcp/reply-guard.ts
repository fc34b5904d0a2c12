// What the DHCP server checks before anything is sent, so that no stream of
// unauthenticated packets stops it answering others:
//
// - a relayed request (giaddr set) is answered only when it comes from an
//   address in a configured network or in dhcp.relays;
// - unknown MACs get at most dhcp.unknownReplyRate replies a second, all of
//   them together (unknown-budget.ts);
// - a reply to ciaddr goes only to an address on the network the request came
//   for (RFC 2131 4.3.5), and unicast only to an on-link address the kernel
//   has an ARP entry for; otherwise it is broadcast on the interface
//   (neighbours.ts says why: an unresolved address holds the socket's send
//   memory for seconds, and every reply queues behind it);
// - the share of a dynamic pool outstanding offers may hold (dhcp.maxOfferShare).
//
// Each refusal is counted (rackboot_dhcp_packets_total{result}) and logged,
// the first few and then every 1000th per reason.
import { LogThrottle, type Logger } from '../log.js';
import { SourceFilter } from '../config/sources.js';
import type { ResolvedNetwork } from '../config/networks.js';
import { cidrContains, formatIpv4, rangeSize, type Ipv4Range } from '../net/ipv4.js';
import type { NeighbourTable } from '../net/neighbours.js';
import { BROADCAST, CLIENT_PORT, replyDestination, type Destination } from './addressing.js';
import { UnknownReplyBudget } from './unknown-budget.js';

/** Why a reply is not sent; the `result` label of rackboot_dhcp_packets_total. */
export type ReplyRefusal = 'relay-refused' | 'ciaddr-off-network' | 'unknown-budget' | 'no-network';

export interface GuardOptions {
  networks: readonly ResolvedNetwork[];
  /** dhcp.relays */
  relays: readonly string[];
  /** dhcp.unknownReplyRate */
  unknownReplyRate: number;
  /** dhcp.maxOfferShare */
  maxOfferShare: number;
  neighbours: NeighbourTable;
  log: Logger;
}

/** The socket a request came in on, as far as the guard needs it. */
export interface GuardSocket {
  iface: string;
  kind: 'network' | 'relay';
  /** The networks on this interface (their addresses are on-link). */
  networks: ReadonlyArray<{ net: { cidr: ResolvedNetwork['cidr'] } }>;
}

export class ReplyGuard {
  private readonly relays: SourceFilter;
  private readonly budget: UnknownReplyBudget;
  private readonly logged = new Map<string, LogThrottle>();
  /** Replies broadcast because their unicast destination had no ARP entry. */
  fallbacks = 0;

  constructor(private readonly o: GuardOptions) {
    this.relays = new SourceFilter(o.networks, o.relays);
    this.budget = new UnknownReplyBudget(o.unknownReplyRate);
  }

  /** A relayed request from this source is one to answer. */
  relayAllowed(source: number, iface: string): boolean {
    if (this.relays.allows(source)) return true;
    this.note('relay-refused', `a relayed request from ${formatIpv4(source)} on ${iface}: not in a configured network or dhcp.relays`);
    return false;
  }

  /** An unknown MAC that went unanswered recently (it asks again): preferred over a flood's new MACs. */
  askingAgain(mac: number, now: number): boolean {
    return this.budget.askingAgain(mac, now);
  }

  /** An unknown MAC got no reply: its next request counts as asking again. */
  unanswered(mac: number, now: number): void {
    this.budget.unanswered(mac, now);
  }

  /**
   * May a new dynamic offer be made in `range`: outstanding offers hold at
   * most maxOfferShare of it, except for a MAC asking again.
   */
  mayOfferIn(range: Ipv4Range | undefined, pendingInRange: number, again: boolean): boolean {
    if (!range || again) return true;
    return pendingInRange < Math.max(1, Math.floor(rangeSize(range) * this.o.maxOfferShare));
  }

  /**
   * Where the reply goes, or why it is not sent.
   * @param unknown the MAC is registered nowhere and has no offer or lease on record here
   */
  route(
    req: { giaddr: number; ciaddr: number; flags: number },
    mac: string,
    replyType: number,
    relayPort: number,
    s: GuardSocket,
    net: { name: string; net: { cidr: ResolvedNetwork['cidr'] } },
    unknown: { again: boolean } | undefined,
    now: number,
  ): Destination | ReplyRefusal {
    const dest = replyDestination(req, replyType, relayPort, s.kind === 'network');
    // A direct request on a relay-only socket (networkFor lets none through): nothing to send.
    if (!dest) return 'no-network';
    if (dest.via === 'ciaddr' && !cidrContains(net.net.cidr, dest.address)) {
      this.note('ciaddr-off-network', `a reply to ${mac} at ciaddr ${formatIpv4(dest.address)}, which is not on network '${net.name}' (RFC 2131 4.3.5): not sent`);
      return 'ciaddr-off-network';
    }
    if (unknown && !this.budget.take(unknown.again, now)) {
      this.note('unknown-budget', `replies to unknown MACs are over dhcp.unknownReplyRate (${this.o.unknownReplyRate}/s): ${mac} not answered`);
      return 'unknown-budget';
    }
    if (dest.via === 'ciaddr' && s.kind === 'network' && s.networks.some((n) => cidrContains(n.net.cidr, dest.address)) && !this.o.neighbours.resolved(s.iface, dest.address, now)) {
      // Not known to the kernel yet: unicast would wait for ARP and hold the socket's send memory.
      this.fallbacks++;
      return { address: BROADCAST, port: CLIENT_PORT, via: 'broadcast' };
    }
    return dest;
  }

  /** A log line per reason, throttled: the first 10, then every 1000th. */
  private note(reason: string, line: string): void {
    let t = this.logged.get(reason);
    if (!t) this.logged.set(reason, (t = new LogThrottle()));
    if (t.hit()) this.o.log.warn(`dhcp: ${line} (${t.count} so far)`);
  }
}
