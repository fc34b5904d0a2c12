// The DHCP server: sockets, the hot path from datagram to reply, lease
// persistence with group commit, timers. Decisions are the policy's; bytes are
// the codec's.
//
// Sockets: one per served interface (networks with `interface`), bound to
// 0.0.0.0:port and to the interface (SO_BINDTOIFINDEX), plus one per
// `dhcp.relayInterfaces` entry that takes only relayed requests. No socket is
// ever opened on any other interface, so a client broadcasting on the
// director's outside interface reaches nothing. Relayed requests (giaddr set)
// choose their network by option 118 or giaddr on any socket; a network
// without `interface` is reached only through relays.
//
// Durability: an ACK is sent only after its lease is committed to the store.
// Leases bound in one event-loop turn are written in one transaction, and
// that turn's ACKs go out when it commits (group commit). With several
// servers on one store, the store may refuse a dynamic lease another server
// gave first: that ACK is not sent (lease-writer.ts). While the store is
// unavailable, writes wait in a journal and their ACKs go out; new dynamic
// addresses are then held back where another live server serves the network.
import type dgram from 'node:dgram';
import { Counter, Gauge, Histogram, type Registry as Metrics } from 'prom-client';
import type { LoadedConfig } from '../config/load.js';
import { parseDuration } from '../config/types.js';
import { httpBase } from '../boot/loaders.js';
import type { EventRecorder } from '../events/recorder.js';
import type { Logger } from '../log.js';
import { cidrContains, formatIpv4, parseIpv4 } from '../net/ipv4.js';
import { NoSuchInterfaceError, type UdpOpener } from '../net/udp-device.js';
import { BatchedUdp, loadUdpBatch, udpBatchUnavailable } from '../net/udp-batch.js';
import { NeighbourTable } from '../net/neighbours.js';
import { BoundedSendQueue } from '../net/send-queue.js';
import { explainBindError, ServiceStartError } from '../service.js';
import type { Registry } from '../store/registry.js';
import type { LeaseWrite, PeerChange, Store } from '../store/types.js';
import type { Presence } from '../store/presence.js';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { LeaseWriter, type Pending } from './lease-writer.js';
import type { Destination } from './addressing.js';
import { decode, encode, type EncodeInput } from './codec.js';
import { LeaseTable, ownerKey, toRecord, type MemLease } from './leases.js';
import { messageName, MSG } from './options.js';
import { decide, policyNetwork, type Decision, type KnownClient, type PolicyNetwork } from './policy.js';
import { MacRateLimiter, WindowCount } from './ratelimit.js';
import { RegistryIndex } from './registry-index.js';
import { ReplyGuard } from './reply-guard.js';
import { ASKER_NAMES, BootStages } from './asker.js';
import type { BootHub } from '../boot/hub.js';
import { readRequest, type DhcpRequest } from './request.js';

export interface DhcpServerDeps {
  cfg: LoadedConfig;
  store: Store;
  registry: Registry;
  events: EventRecorder;
  metrics: Metrics;
  log: Logger;
  opener: UdpOpener;
  /** Loader files on this machine (hub.loaderFiles); absent: every file is assumed present. */
  boot?: BootHub;
  /** Other servers on a shared store (which networks they serve). */
  peers?: Presence;
  /** A pair's backup answers nothing (the master does); see server/pair. */
  gate?: { readonly answersDhcp: boolean; silent(server: string): boolean };
}

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

/** Where a datagram came from: dgram's RemoteInfo fits; the batched path gives the address as a number (formatted only when logged). */
export interface PacketSource {
  address: string | number;
  port: number;
}

interface PendingSend {
  s: ServedSocket;
  bytes: Buffer;
  dest: Destination;
}

const BROADCAST_TEXT = '255.255.255.255';
const sourceText = (from: PacketSource): string => (typeof from.address === 'number' ? formatIpv4(from.address) : from.address);
const sourceNumber = (from: PacketSource): number => (typeof from.address === 'number' ? from.address : (parseIpv4(from.address) ?? 0));
/** A MAC whose registration as a discovered node failed is tried again after this long. */
const DISCOVERY_RETRY_MS = 10 * 60_000;

export class DhcpServer {
  readonly leases = new LeaseTable();
  readonly index: RegistryIndex;
  private readonly nets: PolicyNetwork[];
  private readonly netByName = new Map<string, PolicyNetwork>();
  private readonly sockets: ServedSocket[] = [];
  private readonly skipped: string[] = [];
  private readonly rate: MacRateLimiter;
  private readonly unknownEvents: MacRateLimiter;
  private readonly guard: ReplyGuard;
  private suppressed = 0;
  private readonly offerMs: number;
  /** Dynamic binds without an offer or lease on record, in the last offerTimeout: they share the pending-offer bound. */
  private readonly unrecordedBinds: WindowCount;
  private readonly port: number;
  private readonly cfgDhcp;
  private timers: NodeJS.Timeout[] = [];
  // Group commit: leases to write, each with the reply waiting for it.
  private pending: Array<Pending<PendingSend>> = [];
  private readonly writer: LeaseWriter;
  private offPeers: (() => void) | undefined;
  private flushScheduled = false;
  private flushing: Promise<void> = Promise.resolve();
  /** MAC -> its registration in flight (one at a time per MAC; settle() waits for them). */
  private readonly discovering = new Map<string, Promise<void>>();
  /** MAC -> when its registration as a discovered node failed. */
  private readonly discoveryFailed = new Map<string, number>();
  private readonly log: Logger;
  private badLogged = 0;
  private sendErrorLogged = 0;
  private droppedLogged = 0;
  private readonly m;
  private readonly counterCache = new Map<string, { inc(): void }>();
  private stopped = false;
  private readonly addrCache = new Map<number, string>();
  /** Per MAC, which loader its firmware got: tells a loader's own DHCP from the OS's. */
  private readonly stages = new BootStages();
  /** Nodes whose loader could not boot their machine (a stand-in did), warned about once each. */
  private readonly warnedStandIn = new Set<string>();

  constructor(private readonly deps: DhcpServerDeps) {
    const { cfg } = deps;
    this.cfgDhcp = cfg.config.dhcp;
    this.log = deps.log.child({ svc: 'dhcp' });
    const leaseMs = parseDuration(this.cfgDhcp.leaseTime);
    this.nets = cfg.networks.map((n) => {
      const ntp = (n.config.ntp ?? []).map((t) => parseIpv4(t)).filter((x): x is number => x !== undefined);
      // No HTTP URLs where /boot is not served over HTTP (templates.httpBoot false).
      const http = cfg.config.templates.httpBoot ? httpBase(cfg, n) : undefined;
      return policyNetwork(n, cfg.config.cluster.domain, leaseMs, ntp, http, this.cfgDhcp.bootUnknown && !this.cfgDhcp.discovery);
    });
    for (const n of this.nets) this.netByName.set(n.name, n);
    if (deps.store.kind === 'postgres') {
      // Other servers may answer the same networks: start each range at a place of this server's own.
      const h = createHash('sha256').update(deps.store.server).digest().readUInt32BE(0);
      for (const n of this.nets) if (n.dynamicRange) this.leases.startAt(n.name, n.dynamicRange.start + (h % (n.dynamicRange.end - n.dynamicRange.start + 1)));
    }
    this.rate = new MacRateLimiter(this.cfgDhcp.macRate, this.cfgDhcp.macBurst);
    // One bucket (key 0) for all unknown MACs' events.
    const ur = this.cfgDhcp.unknownEventRate;
    this.unknownEvents = new MacRateLimiter(ur || 1e-9, Math.max(1, ur), 1);
    this.offerMs = parseDuration(this.cfgDhcp.offerTimeout);
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
    this.index = new RegistryIndex(deps.registry, (err) => this.log.error({ err }, 'dhcp: registry index update failed'));
    this.m = this.makeMetrics(deps.metrics);
    this.writer = new LeaseWriter(deps.store, this.leases, this.log, deps.metrics, {
      queueMax: this.cfgDhcp.outageQueue,
      journal: join(cfg.paths.dataDir, 'dhcp-outage-queue.jsonl'),
    });
  }

  private makeMetrics(reg: Metrics) {
    const leases = this.leases;
    const packets = new Counter({
      name: 'rackboot_dhcp_packets_total',
      help: 'DHCP packets received, by message type and what rackboot did with them',
      labelNames: ['type', 'result'] as const,
      registers: [reg],
    });
    const sendErrors = new Counter({ name: 'rackboot_dhcp_send_errors_total', help: 'DHCP socket errors (replies that could not be sent)', registers: [reg] });
    const commit = new Histogram({
      name: 'rackboot_dhcp_lease_commit_seconds',
      help: 'Time to commit one batch of leases (the ACKs of the batch wait for it)',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5],
      registers: [reg],
    });
    const suppressed = new Counter({
      name: 'rackboot_dhcp_events_suppressed_total',
      help: 'Packets from unknown MACs not recorded as events (beyond dhcp.unknownEventRate)',
      registers: [reg],
    });
    const commitErrors = new Counter({ name: 'rackboot_dhcp_lease_commit_errors_total', help: 'Lease batches the store failed to write (their ACKs were not sent)', registers: [reg] });
    new Gauge({
      name: 'rackboot_dhcp_pending_offers',
      help: 'Dynamic-range addresses held by outstanding offers (the ones dhcp.maxPendingOffers bounds)',
      registers: [reg],
      collect() {
        this.set(leases.pendingOffers);
      },
    });
    new Gauge({
      name: 'rackboot_dhcp_leases',
      help: 'Leases in the table, by network and state',
      labelNames: ['network', 'state'] as const,
      registers: [reg],
      collect() {
        this.reset();
        const now = Date.now();
        const counts = new Map<string, number>();
        for (const l of leases.all()) {
          const state = (l.state === 'bound' || l.state === 'offered') && l.expiresAt <= now ? 'expired' : l.state;
          const k = `${l.network}\0${state}`;
          counts.set(k, (counts.get(k) ?? 0) + 1);
        }
        for (const [k, n] of counts) {
          const [network, state] = k.split('\0') as [string, string];
          this.set({ network, state }, n);
        }
      },
    });
    return { packets, sendErrors, commit, commitErrors, suppressed };
  }

  private count(type: string, result: string): void {
    const k = type + '|' + result;
    let c = this.counterCache.get(k);
    if (!c) this.counterCache.set(k, (c = this.m.packets.labels(type, result)));
    c.inc();
  }

  async start(): Promise<void> {
    await this.index.start();
    const loaded = this.leases.load(await this.deps.store.listLeases(), parseIpv4);
    if (loaded) this.log.info(`dhcp: loaded ${loaded} lease(s) from the store`);
    this.writer.start();
    this.offPeers = this.deps.store.onPeerChange((c) => this.peerChange(c));

    const byIface = new Map<string, PolicyNetwork[]>();
    for (const n of this.nets) {
      const iface = n.net.config.interface;
      if (!iface) continue;
      const list = byIface.get(iface);
      if (list) list.push(n);
      else byIface.set(iface, [n]);
    }
    const want: Array<{ iface: string; kind: 'network' | 'relay'; networks: PolicyNetwork[] }> = [...byIface].map(([iface, networks]) => ({
      iface,
      kind: 'network',
      networks,
    }));
    for (const iface of this.cfgDhcp.relayInterfaces) if (!byIface.has(iface)) want.push({ iface, kind: 'relay', networks: [] });

    const batched = this.useBatch();
    for (const w of want) {
      let sock: dgram.Socket;
      try {
        sock = await this.deps.opener.open({ interface: w.iface, port: this.port, broadcast: w.kind === 'network', recvBufferSize: this.cfgDhcp.receiveBuffer || undefined });
      } catch (err) {
        if (err instanceof NoSuchInterfaceError) {
          const what = w.kind === 'network' ? `network${w.networks.length > 1 ? 's' : ''} ${w.networks.map((n) => `'${n.name}'`).join(', ')}` : 'relayed requests';
          this.log.warn(`dhcp: interface ${w.iface} does not exist here: not serving ${what} on it`);
          this.skipped.push(w.iface);
          continue;
        }
        await this.closeSockets();
        throw explainBindError('dhcp', 'UDP', this.port, err) ?? new ServiceStartError('dhcp', `dhcp: cannot open UDP port ${this.port} on ${w.iface}: ${(err as Error).message}`);
      }
      const s: ServedSocket = { sock, iface: w.iface, kind: w.kind, networks: w.networks };
      if (batched) {
        try {
          s.batch = new BatchedUdp(sock, {
            packet: (msg, address, port) => this.onMessage(msg, { address, port }, s),
            truncated: (address, port) => {
              this.count('invalid', 'malformed');
              this.logBad({ address, port }, s, 'longer than 4096 bytes');
            },
            sendFailed: (err, count) => this.sendFailed(w.iface, err, count),
            socketError: (err) => this.log.warn(`dhcp: socket on ${w.iface}: ${err.message}; reading on`),
          });
          // The batch path has its own duplicate of the descriptor; Node's handle is not read from again.
          sock.close();
        } catch (err) {
          if (this.cfgDhcp.io === 'batch') {
            sock.close();
            await this.closeSockets();
            throw new ServiceStartError('dhcp', `dhcp: cannot read ${w.iface} in batches (dhcp.io is batch): ${(err as Error).message}`);
          }
          this.log.warn(`dhcp: ${w.iface}: datagrams through Node's dgram, the batched path failed: ${(err as Error).message}`);
        }
      }
      if (!s.batch) {
        s.queue = new BoundedSendQueue(sock, { failed: (err, count) => this.sendFailed(w.iface, err, count) });
        sock.on('message', (msg, rinfo) => this.onMessage(msg, rinfo, s));
        // Send failures (EHOSTUNREACH, ENOBUFS...) come here; the server goes on.
        sock.on('error', (err) => this.sendFailed(w.iface, err));
      }
      this.sockets.push(s);
    }
    if (this.cfgDhcp.discovery) {
      const cannot = this.nets.filter((n) => n.dynamicRange && !n.net.config.staticRange).map((n) => `'${n.name}'`);
      if (cannot.length) this.log.warn(`dhcp: discovery cannot register nodes on ${cannot.join(', ')}: no staticRange to give them an address from (their unknown MACs get plain dynamic leases)`);
    }
    if (this.sockets.length) {
      this.log.info(
        `dhcp: serving ${this.sockets.map((s) => (s.kind === 'network' ? `${s.iface} (${s.networks.map((n) => n.name).join(', ')})` : `${s.iface} (relays)`)).join(', ')} on port ${this.port}` +
          (this.sockets.some((s) => s.batch)
            ? ', datagrams in batches (recvmmsg/sendmmsg)'
            : `, datagrams through Node's dgram${this.cfgDhcp.io === 'auto' && !loadUdpBatch() ? ` (udp_batch addon not built: ${udpBatchUnavailable()})` : ''}`),
      );
    } else {
      this.log.warn('dhcp: no configured interface exists here: DHCP is idle');
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
    every(10_000, () => this.reportSuppressed());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.index.stop();
    this.offPeers?.();
    this.reportSuppressed();
    // The last batch: its leases written and its ACKs sent before the sockets close.
    await this.drain();
    await this.closeSockets();
    await this.writer.stop();
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
    return this.writer.outage && (this.deps.peers?.peersOn(network).filter((p) => !this.deps.gate?.silent(p.name)).length ?? 0) > 0;
  }

  /** Run flushes until nothing is queued (a scheduled flush that has not started yet is run now). */
  private async drain(): Promise<void> {
    do {
      this.flushing = this.flushing.then(() => this.flush()).catch((err) => this.flushFailed(err));
      await this.flushing;
    } while (this.pending.length);
  }

  private async closeSockets(): Promise<void> {
    await Promise.all(
      this.sockets.splice(0).map((s) => {
        if (s.batch) {
          s.batch.close();
          return Promise.resolve();
        }
        return new Promise<void>((r) => s.sock.close(() => r()));
      }),
    );
  }

  /** dhcp.io: whether datagrams go through the batched path; `batch` without the addon is a start error. */
  private useBatch(): boolean {
    const io = this.cfgDhcp.io;
    if (io === 'node') return false;
    if (loadUdpBatch()) return true;
    if (io === 'batch') throw new ServiceStartError('dhcp', `dhcp: dhcp.io is batch, but the udp_batch addon is not built (${udpBatchUnavailable()}): run npm ci with a C compiler, or set dhcp.io to auto or node`);
    return false;
  }

  health(): { ok: boolean; detail: string } {
    const serving = this.sockets.map((s) => `${s.iface} (${s.batch ? 'batched' : 'dgram'})`).join(', ');
    const skipped = this.skipped.length ? `; missing interface(s): ${this.skipped.join(', ')}` : '';
    const standby = this.deps.gate && !this.deps.gate.answersDhcp ? 'standby (the pair\'s backup: the master answers); ' : '';
    return { ok: true, detail: standby + (serving ? `serving ${serving}` : 'idle: no configured interface exists') + skipped };
  }

  /** The network a request is for, or undefined (then it is not ours to answer). */
  private networkFor(req: DhcpRequest, s: ServedSocket, known: KnownClient | undefined): PolicyNetwork | undefined {
    const p = req.packet;
    if (p.giaddr) return this.networkOf(req.subnetSelection ?? p.giaddr);
    if (req.subnetSelection !== undefined) {
      // RFC 3011 from a client without a relay: honoured among the networks this request can be
      // for (this interface's, or the relayed network of a unicast renewal), else not answered (the
      // client discards a reply without option 118, and no other interface's network is chosen).
      const sel = req.subnetSelection;
      const own = s.kind === 'network' ? s.networks.find((n) => cidrContains(n.net.cidr, sel)) : undefined;
      if (own) return own;
      const viaRelay = p.ciaddr ? this.networkOf(p.ciaddr) : undefined;
      return viaRelay && !viaRelay.net.config.interface && cidrContains(viaRelay.net.cidr, sel) ? viaRelay : undefined;
    }
    if (p.ciaddr) {
      // A client renewing by unicast from a network reached through relays.
      const n = this.networkOf(p.ciaddr);
      if (n && !n.net.config.interface) return n;
    }
    if (s.kind !== 'network') return undefined;
    if (s.networks.length === 1) return s.networks[0];
    // Several networks on one interface: the client's registered one, else the one its address is in.
    if (known) {
      const k = s.networks.find((n) => n.name === known.network);
      if (k) return k;
    }
    const addr = p.ciaddr || req.requestedIp;
    if (addr) {
      const n = s.networks.find((x) => cidrContains(x.net.cidr, addr));
      if (n) return n;
    }
    return s.networks.find((n) => n.dynamicRange) ?? s.networks[0];
  }

  private networkOf(ip: number): PolicyNetwork | undefined {
    for (const n of this.nets) if (cidrContains(n.net.cidr, ip)) return n;
    return undefined;
  }

  private logBad(from: PacketSource, s: ServedSocket, error: string): void {
    // A flood of garbage must not flood the log: the first few, then every 1000th.
    this.badLogged++;
    if (this.badLogged <= 10 || this.badLogged % 1000 === 0) {
      this.log.warn(`dhcp: ignored a malformed packet from ${sourceText(from)}:${from.port} on ${s.iface}: ${error} (${this.badLogged} so far)`);
    }
  }

  /** The hot path. Never throws: a bug with one packet must not stop the server. */
  private onMessage(msg: Buffer, from: PacketSource, s: ServedSocket): void {
    if (this.stopped) return;
    try {
      this.handle(msg, from, s);
    } catch (err) {
      this.count('error', 'exception');
      this.log.error({ err }, `dhcp: error handling a packet from ${sourceText(from)} on ${s.iface}`);
    }
  }

  /** Exposed for tests and the fuzz run: one datagram through decode, policy and encode. */
  handle(msg: Buffer, from: PacketSource, s: ServedSocket): Decision | undefined {
    const d = decode(msg);
    if (!d.ok) {
      this.count('invalid', 'malformed');
      this.logBad(from, s, d.error);
      return undefined;
    }
    const r = readRequest(d.packet);
    if (!r.ok) {
      this.count(d.packet.op === 2 ? 'bootreply' : 'invalid', 'malformed');
      if (d.packet.op !== 2) this.logBad(from, s, r.error);
      return undefined;
    }
    const req = r.request;
    const type = messageName(req.type);
    if (this.deps.gate && !this.deps.gate.answersDhcp) {
      this.count(type, 'standby');
      return undefined;
    }
    const now = Date.now();
    const registered = this.index.get(req.macNum);
    // An unknown MAC asking again after going unanswered (a real machine; a flood's random MACs never do).
    const again = !registered && this.guard.askingAgain(req.macNum, now);
    if (!this.rate.take(req.macNum, now, registered !== undefined || again)) {
      this.count(type, 'rate-limited');
      return undefined;
    }
    if (req.packet.giaddr && !this.guard.relayAllowed(sourceNumber(from), s.iface)) {
      this.count(type, 'relay-refused');
      return undefined;
    }
    const net = this.networkFor(req, s, registered);
    if (!net) {
      this.count(type, 'no-network');
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
    if (dec.boot?.standIn && registered) this.warnStandIn(registered.node, dec);
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
        this.count(type, routed);
        if (!registered) this.guard.unanswered(req.macNum, now);
        return dec;
      }
      dest = routed;
      const enc = encode(dec.reply);
      if (!enc.ok) {
        this.count(type, 'encode-error');
        this.log.error(`dhcp: cannot encode the ${dec.outcome} for ${req.mac}: ${enc.error}`);
        this.recordDecision(req, registered, s, net, { ...dec, outcome: 'ignored', reason: `${dec.outcome} not sent, it cannot be encoded: ${enc.error}` }, undefined, []);
        return dec;
      }
      bytes = enc.bytes;
      dropped = enc.dropped;
      if (dropped.length) this.logDropped(req, dec, dropped);
    }
    this.count(type, elsewhere && dec.outcome === 'ignored' ? 'wrong-network' : dec.outcome);
    if (!registered && !dec.reply) this.guard.unanswered(req.macNum, now);
    const lease = this.apply(dec, req, net, known, now);
    // A registered client's address is the registry's decision: written whoever held it.
    const reserved = known !== undefined && dec.ip === known.ip;
    if (bytes && dest) {
      if (lease) this.queueAfterCommit(lease, { s, bytes, dest }, reserved);
      else this.send(s, bytes, dest);
    } else if (lease) {
      this.queueAfterCommit(lease, undefined, reserved);
    }
    this.recordDecision(req, registered, s, net, dec, dest, dropped);
    if (dec.lease?.op === 'bind' && dec.lease.dynamic) {
      if (dec.lease.unrecorded) this.unrecordedBinds.add(now);
      if (!registered && this.cfgDhcp.discovery) this.maybeDiscover(req, net, dec.lease.ip, now);
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

  private warnStandIn(node: string, dec: Decision): void {
    if (this.warnedStandIn.has(node)) return;
    if (this.warnedStandIn.size >= 10_000) this.warnedStandIn.clear();
    this.warnedStandIn.add(node);
    const s = dec.boot!.standIn!;
    this.log.warn(`dhcp: ${node} (${ASKER_NAMES[dec.who?.asker ?? 'pxe-firmware']}, ${dec.boot!.firmware}): ${s.reason}; handed ${dec.boot!.file} (said once per node)`);
  }

  private logDropped(req: DhcpRequest, dec: Decision, dropped: number[]): void {
    this.droppedLogged++;
    if (this.droppedLogged <= 10 || this.droppedLogged % 1000 === 0) {
      this.log.warn(
        `dhcp: the ${dec.outcome} for ${req.mac} left out option(s) ${dropped.join(', ')}: they do not fit in the ${req.maxSize} bytes the client accepts (${this.droppedLogged} such replies so far)`,
      );
    }
  }

  /** Apply the decision's lease change to the table; returns the lease to persist, if any. */
  private apply(dec: Decision, req: DhcpRequest, net: PolicyNetwork, known: KnownClient | undefined, now: number): MemLease | undefined {
    const c = dec.lease;
    if (!c) return undefined;
    const owner = known ? req.mac : ownerKey(req.mac, req.clientId);
    switch (c.op) {
      case 'offer': {
        const cur = this.leases.get(net.name, c.ip);
        // A client that holds a bound lease and asks again keeps it; the offer is only the reply.
        if (cur && cur.owner === c.owner && cur.state === 'bound' && cur.expiresAt > now) return undefined;
        // The offer replaces a bound lease (one that ran out, or a registered address's lease to an old
        // MAC): the store must not keep calling it bound, so it is written as expired.
        if (cur && cur.state === 'bound') this.queueAfterCommit({ ...cur, state: 'expired', expiresAt: Math.min(cur.expiresAt, now), updatedAt: now }, undefined);
        this.leases.set({
          network: net.name,
          ip: c.ip,
          mac: req.mac,
          owner: c.owner,
          clientId: req.clientId ?? null,
          hostname: req.hostname ?? null,
          state: 'offered',
          expiresAt: c.expiresAt,
          updatedAt: now,
          dynamic: c.dynamic,
        });
        return undefined;
      }
      case 'bind': {
        const l: MemLease = {
          network: net.name,
          ip: c.ip,
          mac: req.mac,
          owner: c.owner,
          clientId: req.clientId ?? null,
          hostname: known?.node ?? req.hostname ?? null,
          state: 'bound',
          expiresAt: c.expiresAt,
          updatedAt: now,
        };
        this.leases.set(l);
        return l;
      }
      case 'release':
      case 'decline': {
        const cur = this.leases.get(net.name, c.ip);
        const l: MemLease = {
          network: net.name,
          ip: c.ip,
          mac: req.mac,
          owner,
          clientId: req.clientId ?? cur?.clientId ?? null,
          hostname: cur?.hostname ?? known?.node ?? null,
          state: c.op === 'release' ? 'released' : 'declined',
          expiresAt: now,
          updatedAt: now,
        };
        this.leases.set(l);
        return l;
      }
      case 'drop-offer': {
        const cur = this.leases.ofOwner(net.name, c.owner);
        if (cur?.state === 'offered') this.leases.delete(net.name, cur.ip);
        return undefined;
      }
    }
  }

  private send(s: ServedSocket, bytes: Buffer, dest: Destination): void {
    // No per-send callback (it costs an allocation per packet): failures arrive as the socket's 'error'.
    // A closed socket throws at once instead: counted the same way, never thrown into the flush.
    try {
      if (s.batch) s.batch.send(bytes, dest.port, dest.address);
      else if (s.queue) s.queue.send(bytes, dest.port, this.addressText(dest.address));
      else s.sock.send(bytes, dest.port, this.addressText(dest.address));
    } catch (err) {
      this.sendFailed(s.iface, err as Error);
    }
  }

  private sendFailed(iface: string, err: Error, count = 1): void {
    this.m.sendErrors.inc(count);
    this.sendErrorLogged++;
    if (this.sendErrorLogged <= 10 || this.sendErrorLogged % 1000 === 0) this.log.warn(`dhcp: socket on ${iface}: ${err.message} (${this.sendErrorLogged} so far)`);
  }

  /** Dotted text of an address, cached: replies go to few distinct relays and to the broadcast address. */
  private addressText(ip: number): string {
    if (ip === 0xffffffff) return BROADCAST_TEXT;
    let t = this.addrCache.get(ip);
    if (t === undefined) {
      if (this.addrCache.size >= 4096) this.addrCache.clear();
      this.addrCache.set(ip, (t = formatIpv4(ip)));
    }
    return t;
  }

  private queueAfterCommit(lease: MemLease, send: PendingSend | undefined, reserved = false): void {
    const record: LeaseWrite = toRecord(lease);
    if (reserved) record.reserved = true;
    this.pending.push(send ? { lease: record, send } : { lease: record });
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After this turn's I/O callbacks: every packet read in this turn joins the batch.
    setImmediate(() => {
      this.flushScheduled = false;
      // Caught here, so one failed flush cannot reject the chain and stop every later one.
      this.flushing = this.flushing.then(() => this.flush()).catch((err) => this.flushFailed(err));
    });
  }

  private flushFailed(err: unknown): void {
    this.m.commitErrors.inc();
    this.log.error({ err }, 'dhcp: a lease flush failed');
  }

  private async flush(): Promise<void> {
    if (!this.pending.length) return;
    const batch = this.pending;
    this.pending = [];
    const end = this.m.commit.startTimer();
    try {
      await this.writer.commit(batch, (p) => this.send(p.s, p.bytes, p.dest));
    } catch (err) {
      // Not durable: send nothing. The clients retry and the next batch writes their leases.
      this.m.commitErrors.inc();
      this.log.error({ err }, `dhcp: could not write ${batch.length} lease(s); their ACKs were not sent`);
    } finally {
      end();
    }
  }

  /** Mark bound leases past their end as expired, in the table and the store. */
  private expireLeases(now: number): void {
    const expired: MemLease[] = [];
    for (const l of this.leases.expiredBound(now)) expired.push(l);
    for (const l of expired) {
      const e = { ...l, state: 'expired' as const, updatedAt: now };
      this.leases.set(e);
      this.queueAfterCommit(e, undefined);
    }
  }

  private reportSuppressed(): void {
    if (!this.suppressed) return;
    this.deps.events.record({ node: null, mac: null, kind: 'dhcp.unknown-suppressed', detail: { packets: this.suppressed, rate: this.cfgDhcp.unknownEventRate } });
    this.suppressed = 0;
  }

  /** Operator action: forget a lease (e.g. a declined address that is free again). Whether there was one, and its MAC when known. */
  async clearLease(network: string, ip: number): Promise<{ cleared: boolean; mac: string | null }> {
    const gone = this.leases.delete(network, ip);
    const inStore = await this.deps.store.deleteLease(network, formatIpv4(ip));
    return { cleared: gone !== undefined || inStore, mac: gone?.mac ?? null };
  }

  /** @param node the MAC's registered interface (on any network): whose timeline */
  private recordDecision(
    req: DhcpRequest,
    node: KnownClient | undefined,
    s: ServedSocket,
    net: PolicyNetwork,
    dec: Decision,
    dest: Destination | undefined,
    dropped: number[],
  ): void {
    if (!node && !this.unknownEvents.take(0, Date.now(), true)) {
      this.suppressed++;
      this.m.suppressed.inc();
      return;
    }
    const kind = `dhcp.${dec.outcome === 'ignored' ? 'ignored' : dec.outcome}`;
    const detail: Record<string, unknown> = {
      request: messageName(req.type),
      interface: s.iface,
      network: net.name,
      reason: dec.reason,
      xid: req.packet.xid,
    };
    if (dec.ip) detail.address = formatIpv4(dec.ip);
    if (req.packet.giaddr) detail.relay = formatIpv4(req.packet.giaddr);
    if (req.arch !== undefined) detail.arch = req.arch;
    if (req.isIpxe) detail.ipxe = true;
    if (req.vendorClass) detail.vendorClass = req.vendorClass;
    if (dec.who) {
      detail.client = dec.who.asker;
      if (dec.who.firmware) detail.firmware = dec.who.firmware;
    }
    // What the reply carries: no boot file for the OS's client.
    if (dec.boot) {
      if (dec.boot.file) detail.bootFile = dec.boot.file;
      if (dec.boot.reason) detail.bootProblem = dec.boot.reason;
      if (dec.boot.standIn) detail.standIn = dec.boot.standIn;
    }
    if (dest) detail.sentTo = dest.via;
    if (dropped.length) detail.droppedOptions = dropped;
    this.deps.events.record({ node: node?.node ?? null, mac: req.mac, kind, detail });
  }

  /**
   * dhcp.discovery, if it can succeed: the node's address comes from the network's staticRange, so
   * where there is none nothing is tried (start() said so once); and a MAC whose registration failed
   * is not tried again for a while (each of its renewals would otherwise cost a store write and an event).
   */
  private maybeDiscover(req: DhcpRequest, net: PolicyNetwork, ip: number, now: number): void {
    if (!net.net.config.staticRange) return;
    const failedAt = this.discoveryFailed.get(req.mac);
    if (failedAt !== undefined && now - failedAt < DISCOVERY_RETRY_MS) return;
    if (this.discovering.has(req.mac)) return;
    this.discovering.set(req.mac, this.discover(req, net, ip).finally(() => this.discovering.delete(req.mac)));
  }

  /** dhcp.discovery: register an unknown MAC that took a dynamic lease as a discovered node. */
  private async discover(req: DhcpRequest, net: PolicyNetwork, dynamicIp: number): Promise<void> {
    const mac = req.mac;
    const name = `discovered-${mac.replaceAll(':', '')}`;
    try {
      const node = await this.deps.registry.createNode({
        name,
        group: null,
        discovered: true,
        interfaces: [{ name: 'eth0', mac, network: net.name }],
      });
      const addr = node.interfaces[0]?.ipv4;
      this.log.info(`dhcp: discovered ${mac} on '${net.name}': registered as ${name} (${addr}); its next DISCOVER gets that address`);
      this.deps.events.record({ node: name, mac, kind: 'dhcp.discovered', detail: { network: net.name, address: addr, dynamicAddress: formatIpv4(dynamicIp) } });
    } catch (err) {
      const why = (err as Error).message;
      this.log.warn(`dhcp: could not register discovered ${mac} on '${net.name}': ${why}`);
      this.deps.events.record({ node: null, mac, kind: 'dhcp.discovery-failed', detail: { network: net.name, reason: why, retryAfterSeconds: DISCOVERY_RETRY_MS / 1000 } });
      if (this.discoveryFailed.size >= 10_000) this.discoveryFailed.clear();
      this.discoveryFailed.set(mac, Date.now());
    }
  }

  /** For tests: wait until queued lease writes, their replies and the registrations they started are done. */
  async settle(): Promise<void> {
    this.scheduleFlush();
    await new Promise((r) => setImmediate(r));
    await this.flushing;
    await Promise.all([...this.discovering.values()]);
  }

  network(name: string): PolicyNetwork | undefined {
    return this.netByName.get(name);
  }
}

export type { EncodeInput };
