// Several rackboot servers on one database. Presence records this server
// in the store at each heartbeat, and keeps the list of servers (which
// serve which networks, who is alive); the peer secret lets them fetch
// image files from each other. What other servers change reaches this one
// through the relay (main/peer-relay.ts).
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { LoadedConfig } from '../config/loaded.js';
import type { Logger } from '../log.js';
import type { ServerRecord, Store } from './types.js';
import { VERSION } from '../version.js';

/** What the other servers can learn about this one (GET /servers). */
export interface ServerInfo {
  state: 'running' | 'stopped';
  host: string;
  pid: number;
  version: string;
  peerUrl: string | null;
  store: string;
  networks: Array<{ name: string; cidr: string; serverAddress: string; interface: string | null }>;
  health: { ok: boolean; services: Record<string, { ok: boolean; detail?: string }> };
  [extra: string]: unknown;
}

/**
 * How other servers reach this one's API: server.peerUrl, else the API's own
 * address when it listens on one, else the first network's serverAddress;
 * the port the API really listens on (api.listen may say 0).
 */
export function defaultPeerUrl(cfg: LoadedConfig, boundPort?: number): string | null {
  if (cfg.config.server.peerUrl) return cfg.config.server.peerUrl.replace(/\/+$/, '');
  const listen = cfg.config.api.listen;
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '');
  const port = boundPort ?? Number(listen.slice(i + 1));
  if (host && host !== '0.0.0.0' && host !== '::') return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const net = cfg.networks[0];
  return net ? `http://${net.config.serverAddress}:${port}` : null;
}

export class Presence {
  private timer: NodeJS.Timeout | undefined;
  private servers: ServerRecord[] = [];
  /** The store's clock at the last listing, and this process's clock then. */
  private clock = { store: 0, local: 0 };
  private failing = false;
  private readonly everyMs: number;
  /** Fields subsystems add to what this server reports (e.g. images: versions it holds). */
  readonly extra = new Map<string, () => unknown>();
  /** The services running here, for the health this server reports. */
  services: ReadonlyArray<{ readonly name: string; health?(): { ok: boolean; detail?: string } }> = [];
  /** The port the API listens on, once it does. */
  apiPort: number | undefined;

  constructor(private readonly cfg: LoadedConfig, private readonly store: Store, private readonly log: Logger) {
    this.everyMs = cfg.resolved.server.heartbeatMs;
  }

  get self(): string {
    return this.store.server;
  }

  info(state: ServerInfo['state'] = 'running'): ServerInfo {
    const services = Object.fromEntries(this.services.map((s) => [s.name, s.health?.() ?? { ok: true }]));
    const info: ServerInfo = {
      state,
      host: hostname(),
      pid: process.pid,
      version: VERSION,
      peerUrl: defaultPeerUrl(this.cfg, this.apiPort),
      store: this.store.kind,
      networks: this.cfg.networks.map((n) => ({ name: n.name, cidr: n.config.cidr, serverAddress: n.config.serverAddress, interface: n.config.interface ?? null })),
      health: { ok: Object.values(services).every((h) => h.ok) && this.store.health().ok, services },
    };
    for (const [k, fn] of this.extra) info[k] = fn();
    return info;
  }

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat(), this.everyMs);
    this.timer.unref();
  }

  /** The list of servers as the store has it now. */
  async refresh(): Promise<void> {
    const [list, now] = await Promise.all([this.store.listServers(), this.store.now()]);
    this.servers = list;
    this.clock = { store: now, local: Date.now() };
  }

  /** Record this server, then refresh the list of servers. */
  async beat(state: ServerInfo['state'] = 'running'): Promise<void> {
    try {
      await this.store.heartbeat(this.info(state));
      await this.refresh();
      if (this.failing) this.log.info('peers: heartbeat recorded again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.log.warn(`peers: could not record the heartbeat: ${(err as Error).message}`);
      this.failing = true;
    }
  }

  /** Alive: seen within three heartbeats (by the store's clock) and not stopped. */
  alive(s: ServerRecord, storeNow = this.clock.store + (Date.now() - this.clock.local)): boolean {
    return (s.info as { state?: string }).state !== 'stopped' && storeNow - s.lastSeen <= 3 * this.everyMs;
  }

  /** Other servers that serve the network and were alive at the last heartbeat. */
  peersOn(network: string): ServerRecord[] {
    return this.servers.filter((s) => s.name !== this.self && this.alive(s) && ((s.info as Partial<ServerInfo>).networks ?? []).some((n) => n.name === network));
  }

  /** Other servers alive at the last heartbeat. */
  livePeers(): ServerRecord[] {
    return this.servers.filter((s) => s.name !== this.self && this.alive(s));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.beat('stopped');
  }
}

const SECRET = 'peer.secret';

/** The secret servers on one store show each other to fetch image files: made once, kept in the store, read at each use. */
export async function peerSecret(store: Store): Promise<string> {
  const have = await store.getSetting(SECRET);
  if (have) return have;
  await store.setSetting(SECRET, randomBytes(24).toString('base64url'));
  // Two servers making one at once: whichever was written last is the one both read from now on.
  return (await store.getSetting(SECRET))!;
}
