// The DHCP server: sockets, the hot path from datagram to reply, timers.
// Decisions are the policy's (policy.ts), bytes the codec's (codec.ts), who
// a MAC is the machine source's (machines.ts), lease writes and the replies
// waiting for them the group commit's (commits.ts), sends the reply
// sender's (replies.ts), events decision-events.ts's.
//
// Sockets: one per served interface (networks with `interface`), bound to
// 0.0.0.0:port and to the interface (SO_BINDTOIFINDEX), plus one per
// `dhcp.relayInterfaces` entry that takes only relayed requests. No socket is
// ever opened on any other interface, so a client broadcasting on the
// director's outside interface reaches nothing. Relayed requests (giaddr set)
// choose their network by option 118 or giaddr on any socket; a network
// without `interface` is reached only through relays (network-choice.ts).
//
// Durability: an ACK is sent only after its lease is committed to the store
// (commits.ts). With several servers on one store, the store may refuse a
// dynamic lease another server gave first: that ACK is not sent
// (lease-writer.ts). While the store is unavailable, writes wait in a journal
// and their ACKs go out; new dynamic addresses are then held back where
// another live server serves the network.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { LogThrottle, type Logger } from '../log.js';
import { formatIpv4, parseIpv4 } from '../net/ipv4.js';
import { NeighbourTable } from '../net/neighbours.js';
import type { UdpOpener } from '../net/udp-device.js';
import type { PeerChange } from '../store/types.js';
import type { Destination } from './addressing.js';
import { BootStages } from './asker.js';
import { decode, encode } from './codec.js';
import { GroupCommit } from './commits.js';
import type { ServiceContext } from './contract.js';
import { DecisionEvents } from './decision-events.js';
import { applyLeaseChange } from './lease-change.js';
import { LeaseTable, ownerKey, type MemLease } from './leases.js';
import { RegistryMachines, type MachineSource } from './machines.js';
import { leaseGauges, PacketCounter } from './metrics.js';
import { NetworkChooser, servedNetworks } from './network-choice.js';
import { messageName, MSG } from './options.js';
import { decide, type Decision, type PolicyNetwork } from './policy.js';
import { MacRateLimiter, WindowCount } from './ratelimit.js';
import { ReplySender, type ServedSocket } from './replies.js';
import { ReplyGuard } from './reply-guard.js';
import { readRequest } from './request.js';
import { closeSockets, openSockets, type PacketSource } from './sockets.js';

export type { PacketSource, ServedSocket };

/** What the server takes from the service context, and what only DHCP needs. */
export type DhcpServerDeps = Pick<ServiceContext, 'cfg' | 'store' | 'registry' | 'events' | 'metrics' | 'log'> &
  Partial<Pick<ServiceContext, 'boot' | 'peers'>> & {
    opener: UdpOpener;
    /** A pair's backup answers nothing (the master does); see server/pair. */
    gate?: { readonly answersDhcp: boolean; silent(server: string): boolean } | undefined;
    /** Who a MAC is and what becomes of unknown machines; default: the registry, with dhcp.discovery. */
    machines?: MachineSource;
  };

const sourceText = (from: PacketSource): string => (typeof from.address === 'number' ? formatIpv4(from.address) : from.address);
const sourceNumber = (from: PacketSource): number => (typeof from.address === 'number' ? from.address : (parseIpv4(from.address) ?? 0));

export class DhcpServer {
  readonly leases = new LeaseTable();
  private readonly machines: MachineSource;
  private readonly networks: NetworkChooser;
  private readonly sockets: ServedSocket[] = [];
  private readonly skipped: string[] = [];
  private readonly rate: MacRateLimiter;
  private readonly guard: ReplyGuard;
  private readonly offerMs: number;
  /** Dynamic binds without an offer or lease on record, in the last offerTimeout: they share the pending-offer bound. */
  private readonly unrecordedBinds: WindowCount;
  private readonly port: number;
  private readonly cfgDhcp;
  private timers: NodeJS.Timeout[] = [];
  private readonly commits: GroupCommit;
  private readonly replies: ReplySender;
  private readonly decisions: DecisionEvents;
  private readonly packets: PacketCounter;
  private readonly log: Logger;
  private readonly badLog = new LogThrottle();
  private offPeers: (() => void) | undefined;
  private stopped = false;
  /** Per MAC, which loader its firmware got: tells a loader's own DHCP from the OS's. */
  private readonly stages = new BootStages();

  constructor(private readonly deps: DhcpServerDeps) {
    const { cfg } = deps;
    this.cfgDhcp = cfg.resolved.dhcp;
    this.log = deps.log.child({ svc: 'dhcp' });
    this.networks = new NetworkChooser(servedNetworks(cfg));
    if (deps.store.kind === 'postgres') {
      // Other servers may answer the same networks: start each range at a place of this server's own.
      const h = createHash('sha256').update(deps.store.server).digest().readUInt32BE(0);
      for (const n of this.networks.all) if (n.dynamicRange) this.leases.startAt(n.name, n.dynamicRange.start + (h % (n.dynamicRange.end - n.dynamicRange.start + 1)));
    }
    this.rate = new MacRateLimiter(this.cfgDhcp.macRate, this.cfgDhcp.macBurst);
    this.offerMs = this.cfgDhcp.offerMs;
    this.guard = new ReplyGuard({
      networks: cfg.networks,
      relays: this.cfgDhcp.relays,
      unknownReplyRate: this.cfgDhcp.unknownReplyRate,
      maxOfferShare: this.cfgDhcp.maxOfferShare,
      neighbours: new NeighbourTable({ file: deps.opener.neighbourFile }),
      log: this.log,
    });
    this.unrecordedBinds = new WindowCount(this.offerMs);
    this.port = this.cfgDhcp.port;
    this.machines = deps.machines ?? new RegistryMachines({ registry: deps.registry, events: deps.events, log: this.log, discovery: this.cfgDhcp.discovery });
    this.packets = new PacketCounter(deps.metrics);
    leaseGauges(deps.metrics, this.leases);
    this.replies = new ReplySender(this.log, deps.metrics);
    this.decisions = new DecisionEvents(deps.events, this.log, deps.metrics, this.cfgDhcp.unknownEventRate);
    const journal = join(cfg.paths.dataDir, 'dhcp-outage-queue.jsonl');
    this.commits = new GroupCommit(deps.store, this.leases, this.log, deps.metrics, { queueMax: this.cfgDhcp.outageQueue, journal }, (r) => this.replies.send(r));
  }

  async start(): Promise<void> {
    await this.machines.start();
    const loaded = this.leases.load(await this.deps.store.listLeases(), parseIpv4);
    if (loaded) this.log.info(`dhcp: loaded ${loaded} lease(s) from the store`);
    this.commits.start();
    this.offPeers = this.deps.store.onPeerChange((c) => this.peerChange(c));

    const opened = await openSockets(this.networks.all, this.cfgDhcp, this.deps.opener, this.log, {
      message: (msg, from, s) => this.onMessage(msg, from, s),
      truncated: (from, s) => {
        this.packets.count('invalid', 'malformed');
        this.logBad(from, s, 'longer than 4096 bytes');
      },
      sendFailed: (iface, err, count) => this.replies.failed(iface, err, count),
    });
    this.sockets.push(...opened.sockets);
    this.skipped.push(...opened.skipped);
    if (this.cfgDhcp.discovery) {
      const cannot = this.networks.all.filter((n) => n.dynamicRange && !n.net.config.staticRange).map((n) => `'${n.name}'`);
      if (cannot.length) this.log.warn(`dhcp: discovery cannot register nodes on ${cannot.join(', ')}: no staticRange to give them an address from (their unknown MACs get plain dynamic leases)`);
    }
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(fn, ms);
      t.unref();
      this.timers.push(t);
    };
    every(5_000, () => {
      const now = Date.now();
      this.leases.sweepOffers(now);
      this.rate.sweep(now);
    });
    every(60_000, () => this.expireLeases(Date.now()));
    every(10_000, () => this.decisions.reportSuppressed());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.machines.stop();
    this.offPeers?.();
    this.decisions.reportSuppressed();
    // The last batch: its leases written and its ACKs sent before the sockets close.
    await this.commits.drain();
    await closeSockets(this.sockets);
    await this.commits.stop();
  }

  /** Leases another server wrote go into the table; after a lost feed, every lease from the store again. */
  private peerChange(c: PeerChange): void {
    if (c.kind === 'leases') for (const l of c.leases) this.leases.merge(l);
    else if (c.kind === 'resync') {
      this.deps.store.listLeases().then(
        (list) => list.forEach((l) => this.leases.merge(l)),
        (err: unknown) => this.log.warn(`dhcp: could not reload the leases after the store's change feed came back: ${(err as Error).message}`),
      );
    }
  }

  /**
   * While the store cannot decide (unavailable), no new dynamic address is
   * handed out on a network another live server also serves: both could pick
   * the same one. Reserved addresses and leases on record go on.
   */
  private holdDynamic(network: string): boolean {
    // A pair's backup answers nothing while this node is its master: it cannot give an address away.
    return this.commits.outage && (this.deps.peers?.peersOn(network).filter((p) => !this.deps.gate?.silent(p.name)).length ?? 0) > 0;
  }

  health(): { ok: boolean; detail: string } {
    const serving = this.sockets.map((s) => `${s.iface} (${s.batch ? 'batched' : 'dgram'})`).join(', ');
    const skipped = this.skipped.length ? `; missing interface(s): ${this.skipped.join(', ')}` : '';
    const standby = this.deps.gate && !this.deps.gate.answersDhcp ? "standby (the pair's backup: the master answers); " : '';
    return { ok: true, detail: standby + (serving ? `serving ${serving}` : 'idle: no configured interface exists') + skipped };
  }

  private logBad(from: PacketSource, s: ServedSocket, error: string): void {
    // A flood of garbage must not flood the log.
    if (this.badLog.hit()) this.log.warn(`dhcp: ignored a malformed packet from ${sourceText(from)}:${from.port} on ${s.iface}: ${error} (${this.badLog.count} so far)`);
  }

  /** The hot path. Never throws: a bug with one packet must not stop the server. */
  private onMessage(msg: Buffer, from: PacketSource, s: ServedSocket): void {
    if (this.stopped) return;
    try {
      this.handle(msg, from, s);
    } catch (err) {
      this.packets.count('error', 'exception');
      this.log.error({ err }, `dhcp: error handling a packet from ${sourceText(from)} on ${s.iface}`);
    }
  }

  /** Exposed for tests and the fuzz run: one datagram through decode, policy and encode. */
  handle(msg: Buffer, from: PacketSource, s: ServedSocket): Decision | undefined {
    const d = decode(msg);
    if (!d.ok) {
      this.packets.count('invalid', 'malformed');
      this.logBad(from, s, d.error);
      return undefined;
    }
    const r = readRequest(d.value);
    if (!r.ok) {
      this.packets.count(d.value.op === 2 ? 'bootreply' : 'invalid', 'malformed');
      if (d.value.op !== 2) this.logBad(from, s, r.error);
      return undefined;
    }
    const req = r.value;
    const type = messageName(req.type);
    if (this.deps.gate && !this.deps.gate.answersDhcp) {
      this.packets.count(type, 'standby');
      return undefined;
    }
    const now = Date.now();
    const registered = this.machines.lookup(req.macNum);
    // An unknown MAC asking again after going unanswered (a real machine; a flood's random MACs never do).
    const again = !registered && this.guard.askingAgain(req.macNum, now);
    if (!this.rate.take(req.macNum, now, registered !== undefined || again)) {
      this.packets.count(type, 'rate-limited');
      return undefined;
    }
    if (req.packet.giaddr && !this.guard.relayAllowed(sourceNumber(from), s.iface)) {
      this.packets.count(type, 'relay-refused');
      return undefined;
    }
    const net = this.networks.forRequest(req, s, registered);
    if (!net) {
      this.packets.count(type, 'no-network');
      return undefined;
    }
    const elsewhere = registered && registered.network !== net.name ? registered : undefined;
    const known = elsewhere ? undefined : registered;
    const dec = decide({
      req,
      net,
      known,
      elsewhere,
      leases: this.leases,
      now,
      offerMs: this.offerMs,
      mayOffer:
        this.leases.pendingOffers + this.unrecordedBinds.count(now) < this.cfgDhcp.maxPendingOffers &&
        !this.holdDynamic(net.name) &&
        this.guard.mayOfferIn(net.dynamicRange, this.leases.pendingOffersIn(net.name), again || registered !== undefined),
      stage: this.stages.get(req.macNum),
      loaders: this.loaderContext(),
    });
    if (dec.who) this.stages.note(req.macNum, req.packet.xid, dec.who, dec.boot?.file, now);
    if (registered) this.decisions.standIn(registered.node, dec);
    // Unknown and nothing on record here: its reply counts against dhcp.unknownReplyRate.
    const unknown = !registered && !this.leases.ofOwner(net.name, ownerKey(req.mac, req.clientId)) ? { again } : undefined;
    // Encode before the lease changes: a reply that cannot be sent must not leave a lease behind.
    let dest: Destination | undefined;
    let bytes: Buffer | undefined;
    let dropped: number[] = [];
    if (dec.reply) {
      const routed = this.guard.route(req.packet, req.mac, dec.outcome === 'nak' ? MSG.NAK : MSG.ACK, this.port, s, net, unknown, now);
      if (typeof routed === 'string') {
        // Not sent, so nothing changes (no offer holds an address for it).
        this.packets.count(type, routed);
        if (!registered) this.guard.unanswered(req.macNum, now);
        return dec;
      }
      dest = routed;
      const enc = encode(dec.reply, dec.fit);
      if (!enc.ok) {
        this.packets.count(type, 'encode-error');
        this.log.error(`dhcp: cannot encode the ${dec.outcome} for ${req.mac}: ${enc.error}`);
        this.decisions.record(req, registered, s.iface, net, { ...dec, outcome: 'ignored', reason: `${dec.outcome} not sent, it cannot be encoded: ${enc.error}` }, undefined, []);
        return dec;
      }
      bytes = enc.value;
      dropped = enc.dropped;
      if (dropped.length) this.decisions.droppedOptions(req, dec, dropped);
    }
    this.packets.count(type, elsewhere && dec.outcome === 'ignored' ? 'wrong-network' : dec.outcome);
    if (!registered && !dec.reply) this.guard.unanswered(req.macNum, now);
    const lease = applyLeaseChange(this.leases, dec, req, net, known, now, (l) => this.commits.queue(l, undefined));
    // A registered client's address is the registry's decision: written whoever held it.
    const reserved = known !== undefined && dec.ip === known.ip;
    if (bytes && dest) {
      if (lease) this.commits.queue(lease, { s, bytes, dest }, reserved);
      else this.replies.send({ s, bytes, dest });
    } else if (lease) {
      this.commits.queue(lease, undefined, reserved);
    }
    this.decisions.record(req, registered, s.iface, net, dec, dest, dropped);
    if (dec.lease?.op === 'bind' && dec.lease.dynamic) {
      if (dec.lease.unrecorded) this.unrecordedBinds.add(now);
      if (!registered) this.machines.unknownLeased({ mac: req.mac, net, ip: dec.lease.ip, now });
    }
    return dec;
  }

  /** dhcp.secureBoot and the loader files' presence (LoaderFiles caches its answers), made once the hub has them. */
  private loaders: { secureBoot: boolean; has?: (file: string) => boolean } | undefined;
  private loaderContext(): { secureBoot: boolean; has?: (file: string) => boolean } {
    if (this.loaders) return this.loaders;
    const files = this.deps.boot?.loaderFiles;
    const ctx = { secureBoot: this.cfgDhcp.secureBoot, ...(files ? { has: (f: string) => files.has(f) } : {}) };
    if (files || !this.deps.boot) this.loaders = ctx;
    return ctx;
  }

  /** Mark bound leases past their end as expired, in the table and the store. */
  private expireLeases(now: number): void {
    const expired: MemLease[] = [...this.leases.expiredBound(now)];
    for (const l of expired) {
      const e = { ...l, state: 'expired' as const, updatedAt: now };
      this.leases.set(e);
      this.commits.queue(e, undefined);
    }
  }

  /** Operator action: forget a lease (e.g. a declined address that is free again). Whether there was one, and its MAC when known. */
  async clearLease(network: string, ip: number): Promise<{ cleared: boolean; mac: string | null }> {
    const gone = this.leases.delete(network, ip);
    const inStore = await this.deps.store.deleteLease(network, formatIpv4(ip));
    return { cleared: gone !== undefined || inStore, mac: gone?.mac ?? null };
  }

  /** For tests: wait until queued lease writes, their replies and the registrations they started are done. */
  async settle(): Promise<void> {
    await this.commits.settle();
    await this.machines.settle();
  }

  network(name: string): PolicyNetwork | undefined {
    return this.networks.named(name);
  }
}
