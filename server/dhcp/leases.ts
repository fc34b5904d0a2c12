// The lease table in memory: the store holds the durable copy, this holds
// what the hot path reads (by address and by owner) and the dynamic-range
// allocator. Offers live only here (they are promises, not leases); bound,
// released, declined and expired leases are written to the store by the
// server before it acknowledges them.
import { formatIpv4, parseIpv4, type Ipv4Range } from '../net/ipv4.js';
import type { LeaseRecord, LeaseState } from '../store/types.js';

export interface MemLease {
  network: string;
  ip: number;
  /** Canonical MAC text. */
  mac: string;
  /** Owner key: the MAC, or "id:<hex>" when the client sent option 61. */
  owner: string;
  clientId: string | null;
  hostname: string | null;
  state: LeaseState;
  expiresAt: number;
  updatedAt: number;
  /** An offer from the dynamic range (counts against dhcp.maxPendingOffers); offers of registered addresses do not. */
  dynamic?: boolean;
}

/** Read-only queries the policy makes. */
export interface LeaseView {
  get(network: string, ip: number): MemLease | undefined;
  ofOwner(network: string, owner: string): MemLease | undefined;
  /** A free address in the range for this owner (its own first, then the requested one, then the next free). */
  pick(network: string, range: Ipv4Range, owner: string, requested: number | undefined, now: number): number | undefined;
}

/** Free for anyone: no lease, or one that was released, or ran out. Declined addresses never are. */
export function isFree(l: MemLease | undefined, now: number): boolean {
  if (!l) return true;
  switch (l.state) {
    case 'declined':
      return false;
    case 'released':
    case 'expired':
      return true;
    default:
      return l.expiresAt <= now;
  }
}

export function ownerKey(mac: string, clientId: string | undefined): string {
  return clientId ? `id:${clientId}` : mac;
}

interface NetTable {
  byIp: Map<number, MemLease>;
  byOwner: Map<string, MemLease>;
  cursor: number;
  /** After a full scan found nothing: skip scanning until then (ms) unless an address is freed. */
  exhaustedUntil: number;
  /** False once every address in the range has been leased at least once: skip the never-used pass. */
  fresh: boolean;
}

export class LeaseTable implements LeaseView {
  private readonly nets = new Map<string, NetTable>();
  /** Outstanding offers (swept when they lapse). */
  private readonly offers = new Set<MemLease>();
  /** The dynamic ones among them, for the bound on pending offers. */
  private readonly dynamicOffers = new Set<MemLease>();
  /** Network -> how many of dynamicOffers are in it (dhcp.maxOfferShare bounds it per pool). */
  private readonly dynamicByNet = new Map<string, number>();

  private net(name: string): NetTable {
    let t = this.nets.get(name);
    if (!t) this.nets.set(name, (t = { byIp: new Map(), byOwner: new Map(), cursor: -1, exhaustedUntil: 0, fresh: true }));
    return t;
  }

  /** Outstanding offers of dynamic addresses (registered clients' offers are not counted: they take no pool address). */
  get pendingOffers(): number {
    return this.dynamicOffers.size;
  }

  /** Outstanding offers of dynamic addresses on one network. */
  pendingOffersIn(network: string): number {
    return this.dynamicByNet.get(network) ?? 0;
  }

  private addDynamic(l: MemLease): void {
    if (this.dynamicOffers.has(l)) return;
    this.dynamicOffers.add(l);
    this.dynamicByNet.set(l.network, (this.dynamicByNet.get(l.network) ?? 0) + 1);
  }

  private removeDynamic(l: MemLease): void {
    if (!this.dynamicOffers.delete(l)) return;
    this.dynamicByNet.set(l.network, (this.dynamicByNet.get(l.network) ?? 1) - 1);
  }

  /**
   * Where the allocator starts in a network's dynamic range (before its first
   * pick). Servers sharing a store start at different places, so two that
   * answer one network rarely offer the same free address at once.
   */
  startAt(network: string, ip: number): void {
    const t = this.net(network);
    if (t.cursor === -1) t.cursor = ip;
  }

  /** Load persisted leases (at start). */
  load(records: readonly LeaseRecord[], parse: (ip: string) => number | undefined): number {
    let n = 0;
    for (const r of records) {
      const ip = parse(r.ipv4);
      if (ip === undefined) continue;
      this.set(fromRecord(r, ip));
      n++;
    }
    return n;
  }

  /**
   * A lease from the store that this table may not know (another server
   * wrote it, or the store refused ours for it): taken unless the table's
   * own is newer, or is an outstanding offer and the store's lease is free.
   */
  merge(r: LeaseRecord): boolean {
    const ip = parseIpv4(r.ipv4);
    if (ip === undefined) return false;
    const l = fromRecord(r, ip);
    const cur = this.get(r.network, ip);
    if (cur?.state === 'offered' ? isFree(l, Date.now()) : cur && cur.updatedAt > r.updatedAt) return false;
    this.set(l);
    return true;
  }

  get(network: string, ip: number): MemLease | undefined {
    return this.nets.get(network)?.byIp.get(ip);
  }

  ofOwner(network: string, owner: string): MemLease | undefined {
    return this.nets.get(network)?.byOwner.get(owner);
  }

  /** Insert or replace the lease at (network, ip); moves the owner off any older address. */
  set(l: MemLease): void {
    const t = this.net(l.network);
    const prevAtIp = t.byIp.get(l.ip);
    if (prevAtIp && prevAtIp !== l) {
      this.dropOffer(prevAtIp);
      if (t.byOwner.get(prevAtIp.owner) === prevAtIp) t.byOwner.delete(prevAtIp.owner);
    }
    const prevOfOwner = t.byOwner.get(l.owner);
    if (prevOfOwner && prevOfOwner !== l && prevOfOwner.ip !== l.ip) {
      // The owner moves: its old offer is void; an old bound lease stays on record (it expires).
      if (prevOfOwner.state === 'offered') {
        t.byIp.delete(prevOfOwner.ip);
        this.dropOffer(prevOfOwner);
      }
    }
    t.byIp.set(l.ip, l);
    t.byOwner.set(l.owner, l);
    if (l.state === 'offered') {
      this.offers.add(l);
      if (l.dynamic) this.addDynamic(l);
      else this.removeDynamic(l);
    } else {
      this.dropOffer(l);
    }
    if (isFree(l, Date.now())) t.exhaustedUntil = 0;
  }

  /** Forget the lease at (network, ip) (operator cleared it, or an offer lapsed). */
  delete(network: string, ip: number): MemLease | undefined {
    const t = this.nets.get(network);
    const l = t?.byIp.get(ip);
    if (!t || !l) return undefined;
    t.byIp.delete(ip);
    if (t.byOwner.get(l.owner) === l) t.byOwner.delete(l.owner);
    this.dropOffer(l);
    t.exhaustedUntil = 0;
    t.fresh = true;
    return l;
  }

  private dropOffer(l: MemLease): void {
    this.offers.delete(l);
    this.removeDynamic(l);
  }

  /** Drop offers that ran out; returns how many. */
  sweepOffers(now: number): number {
    let n = 0;
    for (const l of this.offers) {
      if (l.expiresAt <= now) {
        this.delete(l.network, l.ip);
        n++;
      }
    }
    return n;
  }

  /** Bound leases past their end, for the periodic sweep that marks them expired. */
  *expiredBound(now: number): Generator<MemLease> {
    for (const t of this.nets.values()) for (const l of t.byIp.values()) if (l.state === 'bound' && l.expiresAt <= now) yield l;
  }

  all(): Generator<MemLease> {
    const nets = this.nets;
    return (function* () {
      for (const t of nets.values()) yield* t.byIp.values();
    })();
  }

  pick(network: string, range: Ipv4Range, owner: string, requested: number | undefined, now: number): number | undefined {
    const t = this.net(network);
    const inRange = (ip: number) => ip >= range.start && ip <= range.end;
    const own = t.byOwner.get(owner);
    if (own && own.state !== 'declined' && inRange(own.ip)) return own.ip;
    if (requested !== undefined && inRange(requested)) {
      const l = t.byIp.get(requested);
      if (isFree(l, now)) return requested;
    }
    if (t.exhaustedUntil > now) return undefined;
    const size = range.end - range.start + 1;
    let ip = inRange(t.cursor) ? t.cursor : range.start;
    // First pass prefers addresses nobody held (a released address goes back to its old owner if it returns);
    // the second takes any free one.
    for (let pass = t.fresh ? 0 : 1; pass < 2; pass++) {
      if (pass === 1) t.fresh = false;
      for (let i = 0; i < size; i++) {
        const l = t.byIp.get(ip);
        const next = ip === range.end ? range.start : ip + 1;
        if (pass === 0 ? l === undefined : isFree(l, now)) {
          t.cursor = next;
          return ip;
        }
        ip = next;
      }
    }
    t.exhaustedUntil = now + 1000;
    return undefined;
  }
}

function fromRecord(r: LeaseRecord, ip: number): MemLease {
  return {
    network: r.network,
    ip,
    mac: r.mac,
    owner: ownerKey(r.mac, r.clientId ?? undefined),
    clientId: r.clientId,
    hostname: r.hostname,
    state: r.state,
    expiresAt: r.expiresAt,
    updatedAt: r.updatedAt,
  };
}

export function toRecord(l: MemLease): LeaseRecord {
  return {
    network: l.network,
    ipv4: formatIpv4(l.ip),
    mac: l.mac,
    clientId: l.clientId,
    hostname: l.hostname,
    state: l.state,
    expiresAt: l.expiresAt,
    updatedAt: l.updatedAt,
  };
}
