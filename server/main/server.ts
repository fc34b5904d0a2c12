// One rackboot process: store, registry, events, the subsystems, and the
// HTTP API, started in that order and stopped in reverse.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { resolveApiToken, type TokenSource } from '../api/auth.js';
import { buildApp } from '../api/app.js';
import { SERVED, servedAddresses } from '../config/bind.js';
import { formatIpv4 } from '../net/ipv4.js';
import type { LoadedConfig } from '../config/loaded.js';
import { createMetrics, type RackbootMetrics } from '../events/metrics.js';
import { EventRecorder } from '../events/recorder.js';
import type { Logger } from '../log.js';
import { openStore } from '../store/open.js';
import { Registry, SeedError } from '../store/registry.js';
import type { Store } from '../store/types.js';
import { VERSION } from '../version.js';
import { BootHub } from '../boot/hub.js';
import { ServiceStartError, explainBindError, type Service, type ServiceContext, type ServiceFactory } from '../service.js';
import { SERVICE_FACTORIES, serviceDeclarations } from './services.js';
import { lockDataDir, type DataDirLock } from './datadir-lock.js';
import { Presence } from '../store/presence.js';
import { PeerRelay } from './peer-relay.js';
import { PairNode } from '../pair/node.js';
import { PairService } from '../pair/service.js';

export interface ServerOptions {
  /** Override the subsystems (tests start only what they test). */
  factories?: ServiceFactory[];
  env?: NodeJS.ProcessEnv;
}

export class RackbootServer {
  store!: Store;
  registry!: Registry;
  events!: EventRecorder;
  metrics!: RackbootMetrics;
  app!: FastifyInstance;
  token!: TokenSource;
  readonly services: Service[] = [];
  readonly boot = new BootHub();
  presence!: Presence;
  private relay: PeerRelay | undefined;
  /** Services that could not start, with the one-line reason. */
  readonly failed = new Map<string, string>();
  private pruneTimer: NodeJS.Timeout | undefined;
  /** The API on the served addresses beyond the first (api.listen served:PORT). */
  private readonly extraListeners: http.Server[] = [];
  private started = false;
  private lock: DataDirLock | undefined;
  /** This disk node of a pair (pair.enabled): prepared before the store opens, stopped after it closes. */
  pair: PairNode | undefined;

  constructor(readonly cfg: LoadedConfig, readonly log: Logger, private readonly opts: ServerOptions = {}) {}

  /** Address the API listens on, after start. */
  get apiUrl(): string {
    const a = this.app.server.address();
    if (!a || typeof a === 'string') throw new Error('api not listening');
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address === '0.0.0.0' ? '127.0.0.1' : a.address;
    return `http://${host}:${a.port}`;
  }

  async start(): Promise<void> {
    // Before anything else: a second serve on this data directory must not touch what the first runs.
    this.lock = lockDataDir(this.cfg.paths.dataDir);
    try {
      await this.startLocked();
    } catch (err) {
      // In-process callers (tests, embedding) may start again: leave nothing open.
      this.metrics?.dispose();
      await this.store?.close().catch(() => undefined);
      await this.pair?.stop().catch(() => undefined);
      this.lock.release();
      throw err;
    }
  }

  private async startLocked(): Promise<void> {
    const { cfg, log } = this;
    if (cfg.config.pair.enabled) {
      // The store's address floats: keepalived and the database decide where it is before it can open.
      this.pair = new PairNode(cfg, log);
      await this.pair.prepare();
    }
    this.store = await openStore(cfg, {
      onState: (up, why) => (up ? log.info(`store: ${this.store?.describe ?? 'the store'} ${why}`) : log.error(`store: ${this.store?.describe ?? 'the store'} is unavailable: ${why}`)),
    });
    log.info(`store: ${this.store.describe}; this server is '${this.store.server}'`);
    this.registry = new Registry(this.store, cfg);
    let seeded;
    try {
      seeded = await this.registry.seed();
    } catch (err) {
      // Name the config key: the operator fixes the seed entry, not an API call.
      if (err instanceof SeedError) throw new Error(`${cfg.file ?? 'config'}: ${err.field}: ${err.message}`);
      throw err;
    }
    if (seeded.groups || seeded.nodes) log.info(`registry: seeded ${seeded.groups} group(s) and ${seeded.nodes} node(s) from the config`);
    for (const line of seeded.skipped) log.warn(`registry: ${line}`);
    this.events = new EventRecorder(this.store, log);
    this.presence = new Presence(cfg, this.store, log);
    this.relay = new PeerRelay(this.store, this.registry, this.events, log);
    this.relay.start();
    // Who else shares the store, before the services start (images fetch from them).
    await this.presence.refresh();
    this.metrics = createMetrics();
    this.token = resolveApiToken(cfg.config.api.token, cfg.paths.tokenFile, this.opts.env);
    if (this.token.from === 'generated') log.info(`api: generated an API token into ${this.token.generatedFile} (mode 0600)`);
    else if (this.token.from === 'file') log.info(`api: API token is in ${this.token.generatedFile}`);

    const byName = new Map<string, Service>();
    const ctx: ServiceContext = {
      cfg,
      store: this.store,
      registry: this.registry,
      events: this.events,
      metrics: this.metrics,
      log,
      apiToken: this.token.token,
      boot: this.boot,
      services: {
        // byName holds what each factory made under its declared name: the owner's type in KnownServices.
        get: (name) => byName.get(name) as never,
        names: () => [...byName.keys()],
      },
      peers: this.presence,
    };
    if (this.pair) {
      // First: the DHCP server asks it whether to answer, and it is stopped last.
      const svc = new PairService(this.pair, ctx);
      await svc.start();
      this.services.push(svc);
      byName.set(svc.name, svc);
    }
    const factories = this.opts.factories ?? SERVICE_FACTORIES;
    for (const factory of factories) {
      const svc = factory(ctx);
      if (!svc) continue;
      try {
        await svc.start();
        this.services.push(svc);
        byName.set(svc.name, svc);
      } catch (err) {
        // One line with the fix, not a stack trace; the other services go on.
        const line = err instanceof ServiceStartError ? err.message : `${svc.name}: could not start: ${(err as Error).message}`;
        this.failed.set(svc.name, line);
        log.error(line);
        await svc.stop().catch(() => undefined);
      }
    }
    this.services.push(...[...this.failed.keys()].map((name) => failedService(name, this.failed.get(name)!)));
    this.presence.services = this.services;

    this.app = await buildApp({ ...ctx, services: this.services, declared: serviceDeclarations(factories), version: VERSION });
    const [host, port] = splitListen(cfg.config.api.listen);
    // served: loopback (must bind: the CLI's address), then each network's serverAddress on this machine.
    // A pair node also on its own link addresses: the other node calls its API there (peerUrl, content copies).
    const pairOwn = [...(this.pair?.own.values() ?? [])].map(formatIpv4);
    const hosts = host === SERVED ? [...new Set([...servedAddresses(cfg.networks, { loopback: true }), ...pairOwn])] : [host];
    let bound: string[];
    try {
      await this.app.listen({ host: hosts[0]!, port });
      bound = [`${hosts[0]}:${(this.app.server.address() as AddressInfo).port}`];
      bound.push(...(await this.listenAlso(hosts.slice(1), (this.app.server.address() as AddressInfo).port)));
    } catch (err) {
      const why = explainBindError('api', 'HTTP', port, err, 'api.listen');
      await this.closeExtraListeners();
      await this.app.close().catch(() => undefined);
      await this.stopServices();
      await this.store.close();
      throw why ?? err;
    }
    log.info(`api: listening on ${bound.map((b) => `http://${b}`).join(', ')} (API /api/v1, docs /api/v1/docs, metrics /metrics)`);
    const skipped = hosts.filter((h) => !bound.some((b) => b.startsWith(`${h}:`)));
    if (skipped.length) log.warn(`api: ${skipped.join(', ')} ${skipped.length > 1 ? 'are not addresses' : 'is not an address'} of this machine: no API or HTTP boot there`);
    const retention = cfg.resolved.events.retentionMs;
    // Once now (a server restarted more often than hourly would never prune), then hourly.
    const prune = () => void this.store.pruneEvents(Date.now() - retention).catch((e: unknown) => log.warn(`events: pruning failed: ${e instanceof Error ? e.message : String(e)}`));
    prune();
    this.pruneTimer = setInterval(prune, 3_600_000);
    this.pruneTimer.unref();
    const apiAddr = this.app.server.address();
    this.presence.apiPort = apiAddr && typeof apiAddr === 'object' ? apiAddr.port : undefined;
    await this.presence.start();
    this.started = true;
  }

  /** More listening addresses for the same app (Fastify listens on one): an address not on this machine is skipped. */
  private async listenAlso(hosts: string[], port: number): Promise<string[]> {
    const bound: string[] = [];
    for (const h of hosts) {
      const srv = http.createServer((req, res) => this.app.routing(req, res));
      srv.keepAliveTimeout = this.app.server.keepAliveTimeout;
      try {
        await new Promise<void>((resolve, reject) => {
          srv.once('error', reject);
          srv.listen({ host: h, port }, () => (srv.off('error', reject), resolve()));
        });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL') continue;
        throw err;
      }
      this.extraListeners.push(srv);
      bound.push(`${h}:${port}`);
    }
    return bound;
  }

  private async closeExtraListeners(): Promise<void> {
    await Promise.all(
      this.extraListeners.splice(0).map(
        (srv) =>
          new Promise<void>((r) => {
            srv.close(() => r());
            srv.closeAllConnections();
          }),
      ),
    );
  }

  private async stopServices(): Promise<void> {
    for (const s of [...this.services].reverse()) {
      try {
        await s.stop();
      } catch (err) {
        this.log.error({ err }, `${s.name}: error while stopping`);
      }
    }
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    clearInterval(this.pruneTimer);
    // A master hands over to its peer while everything here still serves.
    await this.pair?.beforeStop();
    try {
      await this.closeExtraListeners();
      await this.app.close();
      this.relay?.stop();
      await this.stopServices();
      await this.presence.stop();
      await this.events.close();
      await this.store.close();
      await this.pair?.stop();
    } finally {
      this.metrics.dispose();
      this.lock?.release();
    }
  }
}

function failedService(name: string, reason: string): Service {
  return { name, start: async () => undefined, stop: async () => undefined, health: () => ({ ok: false, detail: reason }) };
}

export function splitListen(listen: string): [string, number] {
  const i = listen.lastIndexOf(':');
  return [listen.slice(0, i).replace(/^\[|\]$/g, ''), Number(listen.slice(i + 1))];
}
