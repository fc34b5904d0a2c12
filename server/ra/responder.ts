// Answers IPv6 router solicitations on one interface (a raw ICMPv6 socket
// from the native addon). iPXE configures IPv4 (DHCP) and IPv6 (router
// solicitations) at once and boots only when both are done; on a link with
// no IPv6 router it waits out its solicitations, 16-19 s of every boot. An
// advertisement that announces nothing ends that wait at once.
//
// Quiet where it is not needed: a link that already has an IPv6 router (its
// advertisements arrive here too) gets no answers from rackboot while that
// router is heard; that router ends iPXE's wait.
import type { Logger } from '../log.js';
import { optionalAddon } from '../net/addon.js';
import { RateLimiter } from '../tftp/ratelimit.js';
import { ALL_NODES, ICMP6, ipv6Text, macOfLinkLocal, readNd, routerAdvertisement } from './codec.js';

export interface Icmp6Addon {
  open(ifindex: number, types: number[], onMessage: (msg: Buffer, from: Buffer, hopLimit: number) => void): object;
  send(handle: object, msg: Buffer, to: Buffer): number;
  close(handle: object): void;
  strerror(errno: number): string;
}

const icmp6 = optionalAddon<Icmp6Addon>('rackboot-tftp-pump/icmp6.cjs');

/** The addon, or undefined when it was not built (the reason in icmp6Unavailable()). */
export const loadIcmp6 = (): Icmp6Addon | undefined => icmp6.load();
export const icmp6Unavailable = (): string => icmp6.unavailable();

/** Another router's advertisements keep rackboot quiet for this long after the last one. */
export const OTHER_ROUTER_QUIET_MS = 30 * 60_000;

export interface ResponderOptions {
  iface: string;
  ifindex: number;
  /** The interface's MAC, for the source link-layer address option. */
  mac: string | undefined;
  addon: Icmp6Addon;
  log: Logger;
  /** This machine's own IPv6 addresses (its kernel solicits too, and hears itself): not answered. */
  ownAddress?: (address: Buffer) => boolean;
  /** An advertisement went out for a solicitation (the asker's MAC: from its link-layer address option, else its EUI-64 address). */
  answered?: (r: { mac: string | undefined; from: string }) => void;
  now?: () => number;
}

export class RaResponder {
  private handle: object | undefined;
  private readonly ra: Buffer;
  /** Per source address, and for the whole interface: a flood of solicitations gets a bounded number of answers. */
  private readonly perSource = new RateLimiter(1, 3, 4096);
  private readonly perLink = new RateLimiter(200, 400, 1);
  private otherRouter: { address: string; at: number } | undefined;
  readonly stats = { solicitations: 0, answered: 0, limited: 0, invalid: 0, quiet: 0, sendErrors: 0 };
  private sendErrorLogged = 0;

  constructor(private readonly o: ResponderOptions) {
    this.ra = routerAdvertisement(o.mac);
  }

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  start(): void {
    this.handle = this.o.addon.open(this.o.ifindex, [ICMP6.ROUTER_SOLICITATION, ICMP6.ROUTER_ADVERTISEMENT], (msg, from, hops) => this.onMessage(msg, from, hops));
  }

  stop(): void {
    if (this.handle) this.o.addon.close(this.handle);
    this.handle = undefined;
  }

  /** What the health line says. */
  get detail(): string {
    const s = this.stats;
    const quiet = this.quietBecause();
    return `${this.o.iface}: ${s.answered} answered${s.limited ? `, ${s.limited} over the rate` : ''}${quiet ? `, quiet (router ${quiet} advertises)` : ''}`;
  }

  private quietBecause(): string | undefined {
    const o = this.otherRouter;
    return o && this.now() - o.at < OTHER_ROUTER_QUIET_MS ? o.address : undefined;
  }

  /** Exposed for tests: one received message. */
  onMessage(msg: Buffer, from: Buffer, hopLimit: number): void {
    const m = readNd(msg, hopLimit);
    const src = ipv6Text(from);
    if (m.kind === 'invalid') {
      this.stats.invalid++;
      this.o.log.debug(`ra: ${this.o.iface}: ignored a message from ${src}: ${m.why}`);
      return;
    }
    if (m.kind === 'advertisement') {
      if (!this.quietBecause()) {
        this.o.log.info(`ra: ${this.o.iface}: IPv6 router ${src} advertises here (router lifetime ${m.routerLifetime} s): not answering solicitations on ${this.o.iface} while it is heard`);
      }
      this.otherRouter = { address: src, at: this.now() };
      return;
    }
    if (this.o.ownAddress?.(from)) return;
    this.stats.solicitations++;
    if (this.quietBecause()) {
      this.stats.quiet++;
      return;
    }
    const now = this.now();
    if (!this.perSource.take(src, now) || !this.perLink.take('', now)) {
      this.stats.limited++;
      return;
    }
    // To the soliciting host when it has an address (RFC 4861 6.2.6 allows unicast): no wait for
    // the 3 s between multicast advertisements; to all nodes when it sent from ::.
    const to = from.equals(Buffer.alloc(16)) ? ALL_NODES : from;
    const err = this.handle ? this.o.addon.send(this.handle, this.ra, to) : 0;
    if (err) {
      this.stats.sendErrors++;
      if (++this.sendErrorLogged <= 5) this.o.log.warn(`ra: ${this.o.iface}: cannot send a router advertisement to ${ipv6Text(to)}: ${this.o.addon.strerror(err)}`);
      return;
    }
    this.stats.answered++;
    this.o.answered?.({ mac: m.mac ?? macOfLinkLocal(from), from: src });
  }
}
