// One disk node of a pair: keepalived says which node is master, and the
// node acts on it. Master: answers DHCP, its database is the primary, its
// conntrack table is the one synced. Backup: answers no DHCP, follows the
// master's database, receives its connection state. Everything else (TFTP,
// HTTP boot, NFS, the director's rules and checks) runs on both nodes all
// the time: it is reached through the floating addresses, so only the
// master is asked, and the backup is ready the moment they move.
//
// prepare() runs before the store opens (the store URL names a floating
// address, which is on one of the nodes only once keepalived has decided).
import pg from 'pg';
import type { LoadedConfig } from '../config/loaded.js';
import type { EventRecorder } from '../events/recorder.js';
import type { Logger } from '../log.js';
import { CommandRunner } from '../director/exec.js';
import { cidrContains, formatIpv4, parseIfaceAddress, type Ipv4 } from '../net/ipv4.js';
import { holds, ownLinkAddresses, readInterfaceAddresses, type InterfaceAddresses } from './addresses.js';
import { ConntrackSync } from './conntrack.js';
import { PairDatabase } from './database.js';
import type { ResolvedPair } from './model.js';
import { lsnValue, PeerClient, PeerError } from './peer.js';
import { defaultPgBin, LocalPostgres } from './postgres.js';
import { renderPairStatus, type PairStatus } from './status.js';
import { Vrrp } from './vrrp.js';
import type { VrrpState } from './vrrp-conf.js';
import { join } from 'node:path';

export type PairRole = 'starting' | 'master' | 'backup' | 'fault' | 'handing-over' | 'stopped';

export interface SwitchoverResult {
  from: string;
  to: string;
  /** Milliseconds: the whole handover, and the part without a master (keepalived stopped until the peer is master). */
  totalMs: number;
  withoutMasterMs: number;
}

export class SwitchoverError extends Error {
  constructor(message: string, readonly status = 409) {
    super(message);
    this.name = 'SwitchoverError';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class PairNode {
  readonly pair: ResolvedPair;
  role: PairRole = 'starting';
  since = Date.now();
  own = new Map<string, Ipv4>();
  vrrp!: Vrrp;
  db!: PairDatabase;
  conntrack: ConntrackSync | undefined;
  peer!: PeerClient;
  lastSwitchover: (SwitchoverResult & { at: number }) | undefined;
  /** What either node lacks (images, content releases); the service fills it in once the server runs. */
  lacksOf: (() => Promise<{ here: string[]; peer: string[] }>) | undefined;
  private events: EventRecorder | undefined;
  private chain: Promise<void> = Promise.resolve();
  private ifaces: InterfaceAddresses = new Map();
  private stopped = false;

  constructor(
    readonly cfg: LoadedConfig,
    private readonly log: Logger,
    private readonly runner = new CommandRunner(),
  ) {
    this.pair = cfg.resolved.pair;
  }

  /** DHCP answers on the master only (the backup would hand out what the master does not know about). */
  get answersDhcp(): boolean {
    return this.role === 'master';
  }

  /** A server known not to answer DHCP now: the peer, while this node is master. */
  silent(server: string): boolean {
    return this.role === 'master' && server === this.pair.peerName;
  }

  private apiPort(): number {
    const l = this.cfg.config.api.listen;
    return Number(l.slice(l.lastIndexOf(':') + 1));
  }

  /** The peer's address on the first link whose network blades use (else its first). */
  private peerAddressFor(host: Ipv4 | undefined): Ipv4 {
    const l = host !== undefined ? this.pair.links.find((x) => x.subnets.some((s) => cidrContains(s, host))) : undefined;
    return l?.peer ?? this.pair.links[0]?.peer ?? this.pair.peerAddresses[0]!;
  }

  async prepare(): Promise<void> {
    const p = this.pair;
    this.ifaces = await readInterfaceAddresses(this.runner);
    const { own, problems } = ownLinkAddresses(p, this.ifaces);
    if (problems.length) throw new Error(`pair: ${problems.join('; ')}`);
    this.own = own;
    // Services bind the floating addresses on both nodes (TFTP replies from the address asked): allowed before they are here.
    await this.runner.must('sysctl', ['-q', '-w', 'net.ipv4.ip_nonlocal_bind=1']);
    const firstNet = this.cfg.networks.find((n) => n.config.interface);
    const apiLink = firstNet ? p.links.find((l) => l.interface === firstNet.config.interface) : p.links[0];
    const ownApi = own.get(apiLink?.interface ?? '') ?? [...own.values()][0]!;
    // Peers fetch image files from this node's own address, never from a floating one (which may be this very node's peer).
    if (!this.cfg.config.server.peerUrl) this.cfg.config.server.peerUrl = `http://${formatIpv4(ownApi)}:${this.apiPort()}`;
    this.peer = new PeerClient(p.peerApiUrl ?? `http://${formatIpv4(apiLink?.peer ?? p.peerAddresses[0]!)}:${this.apiPort()}`, this.cfg.config.api.token);

    const store = p.database.store;
    const storeHost = store ? parseIfaceAddress(`${store.host}/32`)?.ip : undefined;
    const dbPeer = this.peerAddressFor(storeHost);
    let local: LocalPostgres | undefined;
    if (p.database.mode === 'managed') {
      const bin = p.database.bin ?? defaultPgBin();
      if (!bin) throw new Error('pair: pair.database.mode managed needs PostgreSQL (Debian package postgresql), or set pair.database.bin');
      const clients = [...own.values(), ...p.peerAddresses, ...p.floating.map((f) => f.address)];
      local = new LocalPostgres({ db: p.database, bin, socketDir: join(p.stateDir, 'pgsocket'), appName: p.self, clients }, this.runner, this.log);
    }
    this.db = new PairDatabase(p, local, dbPeer, this.log);

    if (p.conntrack.enabled) {
      const ignore = [...own.values(), ...p.peerAddresses, ...p.floating.filter((f) => !f.role.startsWith('the VIP')).map((f) => f.address)];
      const udp = this.cfg.config.director.services.some((s) => s.protocol === 'udp');
      // An entry the peer sent carries the TCP window as of its last event, not of the last packet:
      // strict window tracking would call the connection's next packets invalid (not NATed, reset).
      const liberal = await this.runner.run('sysctl', ['-q', '-w', 'net.netfilter.nf_conntrack_tcp_be_liberal=1']);
      if (liberal.code !== 0) this.log.warn(`pair: conntrack: cannot set net.netfilter.nf_conntrack_tcp_be_liberal=1 (${liberal.stderr.trim()}): connections taken over may be reset`);
      this.conntrack = new ConntrackSync(p, own.get(p.conntrack.interface!)!, ignore, udp, this.runner, this.log);
      await this.conntrack.start();
    }

    await this.db.setup();
    this.vrrp = new Vrrp(p, own, this.runner, this.log);
    this.vrrp.on('state', (s) => this.onVrrp(s));
    await this.vrrp.start();
    this.log.info(`pair: ${p.self} with ${p.peerName} (${this.peer.base}); priority ${p.priority}; floating ${p.floating.map((f) => `${formatIpv4(f.address)} (${f.role})`).join(', ')}`);
    if (this.cfg.databaseUrl) await this.waitForStore(this.cfg.databaseUrl);
  }

  /** Until the store's floating address takes writes: this node's promotion, or the peer's primary. */
  private async waitForStore(url: string): Promise<void> {
    const deadline = Date.now() + this.pair.startTimeoutMs;
    let said = '';
    for (;;) {
      const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000, application_name: `rackboot ${this.pair.self} (pair start)` });
      c.on('error', () => undefined);
      let why: string;
      try {
        await c.connect();
        const r = await c.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
        if (!r.rows[0]!.r) return;
        why = 'it is a standby (not promoted yet)';
      } catch (e) {
        why = (e as Error).message;
      } finally {
        await c.end().catch(() => undefined);
      }
      if (Date.now() > deadline) throw new Error(`pair: the store's database did not take writes within ${this.pair.startTimeoutMs / 1000} s (${why}); this node is ${this.vrrp.state}, the peer ${this.peer.base}`);
      if (why !== said) this.log.info(`pair: waiting for the store's database (this node is ${this.vrrp.state}): ${why}`);
      said = why;
      await sleep(500);
    }
  }

  attach(events: EventRecorder): void {
    this.events = events;
  }

  private record(kind: string, detail: Record<string, unknown>): void {
    this.events?.record({ node: null, kind, detail: { node: this.pair.self, ...detail } });
  }

  private setRole(role: PairRole): void {
    if (role === this.role) return;
    this.role = role;
    this.since = Date.now();
  }

  private onVrrp(state: VrrpState): void {
    if (this.stopped) return;
    // DHCP follows at once; the rest in order, one change at a time.
    if (this.role !== 'handing-over') this.setRole(state === 'master' ? 'master' : state === 'fault' ? 'fault' : state === 'init' ? 'starting' : 'backup');
    this.log.info(`pair: keepalived: ${state}`);
    this.chain = this.chain.then(() => this.act(state)).catch((e: unknown) => this.log.error(`pair: acting on ${state}: ${(e as Error).message}`));
  }

  private async act(state: VrrpState): Promise<void> {
    if (this.stopped || this.role === 'handing-over') return;
    if (state === 'master') {
      const t0 = Date.now();
      this.record('pair.master', { peer: this.pair.peerName });
      if (!(await this.db.promote())) {
        // The peer's database is a primary: give the addresses back, then listen again.
        this.setRole('fault');
        await this.vrrp.stop();
        await sleep(2000);
        if (!this.stopped) await this.vrrp.start();
        return;
      }
      // The node with the data wins any election from now on (see vrrp-conf.ts).
      if (!this.stopped && this.vrrp.state === 'master') this.vrrp.setPrimary(true);
      await this.conntrack?.becameMaster();
      this.record('pair.promoted', { database: this.db.state, ms: Date.now() - t0 });
      return;
    }
    if (state === 'backup' || state === 'fault') {
      this.vrrp.setPrimary(false);
      await this.conntrack?.becameBackup();
      await this.db.demote();
    }
  }

  /**
   * Planned handover to the peer, with nothing lost and nothing answered
   * twice: DHCP stops here, the primary stops cleanly (its WAL all reaches
   * the standby), the peer has replayed it, then keepalived here stops
   * (priority 0: the peer takes over at once and promotes), starts again as
   * backup, and this database follows the peer's.
   */
  async switchover(): Promise<SwitchoverResult> {
    if (this.role === 'backup') {
      // Asked on the backup: the master hands over to this node.
      try {
        return await this.peer.request<SwitchoverResult>('POST', '/pair/switchover', { timeoutMs: 120_000 });
      } catch (e) {
        // The master's refusal (409: the peer is not ready, ...) is the answer here too, not an internal error.
        if (e instanceof PeerError && e.status !== undefined && e.status < 500) throw new SwitchoverError(`${this.pair.peerName} refused: ${e.message}`, e.status);
        throw e;
      }
    }
    if (this.role !== 'master') throw new SwitchoverError(`this node is ${this.role}: only the master can hand over`);
    // A few tries: asked right after the peer rejoined, its API may answer a moment late.
    let asked = await this.peer.statusResult<PairStatus>(5000, true);
    for (let i = 0; !asked.ok && i < 5; i++) {
      await sleep(1000);
      asked = await this.peer.statusResult<PairStatus>(5000, true);
    }
    if (!asked.ok) throw new SwitchoverError(`${asked.error}: there is nobody to hand over to`);
    const ps = asked.value;
    if (ps.role !== 'backup') throw new SwitchoverError(`the peer is ${ps.role}, not backup`);
    if (this.db.managed && (ps.database.state !== 'standby' || ps.database.receiver?.status !== 'streaming')) {
      throw new SwitchoverError(`the peer's database is not a streaming standby (${ps.database.state}${ps.database.receiver ? `, ${ps.database.receiver.status}` : ''})`);
    }
    const t0 = Date.now();
    this.setRole('handing-over');
    this.record('pair.switchover', { to: this.pair.peerName, phase: 'start' });
    let withoutMaster = 0;
    try {
      const checkpoint = lsnValue(await this.db.handOver());
      if (checkpoint !== undefined) {
        for (let i = 0; ; i++) {
          const s = await this.peer.status<PairStatus>(3000, true);
          const at = lsnValue(s?.database.position);
          if (at !== undefined && at >= checkpoint) break;
          if (i > 100) throw new SwitchoverError(`the peer's database did not replay this one's last WAL within 10 s (it is at ${s?.database.position}); this node's database is stopped: run switchover again or restart rackboot here`, 500);
          await sleep(100);
        }
      }
      const t1 = Date.now();
      await this.vrrp.stop();
      for (let i = 0; ; i++) {
        const s = await this.peer.status<PairStatus>(1000);
        if (s?.role === 'master') break;
        if (i > 100) throw new SwitchoverError('the peer did not become master within 10 s of this node stepping down', 500);
        await sleep(100);
      }
      withoutMaster = Date.now() - t1;
      await this.vrrp.start();
      await this.db.rejoin();
    } finally {
      this.setRole(this.vrrp.state === 'master' ? 'master' : 'backup');
    }
    const r = { from: this.pair.self, to: this.pair.peerName, totalMs: Date.now() - t0, withoutMasterMs: withoutMaster };
    this.lastSwitchover = { ...r, at: Date.now() };
    this.record('pair.switchover', { phase: 'done', ...r });
    this.log.info(`pair: handed over to ${this.pair.peerName} in ${r.totalMs} ms (no master for ${withoutMaster} ms)`);
    return r;
  }

  /** Stopping the master: hand over first when the peer can take it. */
  async beforeStop(): Promise<void> {
    if (this.role !== 'master') return;
    try {
      await this.switchover();
    } catch (e) {
      this.log.warn(`pair: stopping without a handover: ${(e as Error).message}`);
    }
  }

  async status(fresh = false): Promise<PairStatus> {
    if (fresh) await this.db.refresh();
    this.ifaces = await readInterfaceAddresses(this.runner).catch(() => this.ifaces);
    return renderPairStatus(this, {
      database: this.db.status(),
      conntrack: this.conntrack ? ((await this.conntrack.stats()) ?? null) : null,
      held: (a: Ipv4) => holds(this.ifaces, a),
      lacks: await this.lacksOf?.().catch(() => undefined),
    });
  }

  health(): { ok: boolean; detail: string } {
    const err = this.vrrp?.error ?? this.conntrack?.error;
    if (err) return { ok: false, detail: err };
    if (this.db?.state === 'failed') return { ok: false, detail: `database: ${this.db.detail}` };
    return { ok: this.role === 'master' || this.role === 'backup' || this.role === 'handing-over', detail: `${this.role} (keepalived ${this.vrrp?.state ?? 'not started'}; database ${this.db?.state ?? 'not started'})` };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.chain;
    await this.vrrp?.stop().catch(() => undefined);
    this.vrrp?.close();
    this.setRole('stopped');
    await this.conntrack?.stop();
    await this.db?.stop();
  }
}
