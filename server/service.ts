// What a subsystem (DHCP, TFTP, HTTP boot, images, NFS, director) plugs into
// the server: a start/stop lifecycle, optional routes, and a health line.
// A leaf of the import graph: subsystems import it, it imports only the
// low layers (config, store, events, boot), and main/ does the wiring.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Registry as Metrics } from 'prom-client';
import type { BootHub } from './boot/hub.js';
import type { LoadedConfig } from './config/loaded.js';
import type { EventRecorder } from './events/recorder.js';
import type { Logger } from './log.js';
import type { Presence } from './store/presence.js';
import type { Registry } from './store/registry.js';
import type { Store } from './store/types.js';

/** Who may do what: the API token is admin; the viewer token (api.viewerToken) and viewer sessions read only. */
export type Role = 'admin' | 'viewer';

/** What the server makes before any subsystem starts, shared by the API and every service. */
export interface ServerParts {
  cfg: LoadedConfig;
  store: Store;
  registry: Registry;
  events: EventRecorder;
  metrics: Metrics;
  log: Logger;
  /** The API token (from config, env, or generated). */
  apiToken: string;
  /** The other rackboot servers sharing the store (none with SQLite), and what this one reports to them. */
  peers: Presence;
}

export interface ServiceContext extends ServerParts {
  /** Boot file providers and the catalogs subsystems offer each other. */
  boot: BootHub;
  /** Services started before this one, for subsystems that use each other. */
  services: StartedServices;
}

/**
 * The services others use, by name. Each owner adds its entry by
 * declaration merging (`declare module '../service.js' { interface
 * KnownServices { images: ImagesService } }`), so a lookup is typed while
 * this file imports no subsystem.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging, one entry per owner
export interface KnownServices {}

export interface StartedServices {
  /** The service of that name, when it is enabled and started before the asking one. */
  get<K extends keyof KnownServices>(name: K): KnownServices[K] | undefined;
  /** The names of every service started so far. */
  names(): string[];
}

export interface ServiceHealth {
  ok: boolean;
  detail?: string;
}

export interface Service {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Routes under /api/v1, behind the bearer token. */
  apiRoutes?: FastifyPluginAsync;
  /** Routes at the root without auth: boot paths firmware fetches. */
  publicRoutes?: FastifyPluginAsync;
  health?(): ServiceHealth;
  /**
   * Who an /api/v1 request without a bearer token is (the dashboard's
   * session cookie), a refusal (403 with the message), or undefined: not
   * this service's to say.
   */
  authenticate?(req: FastifyRequest): { role: Role } | { refused: string } | undefined;
  /**
   * Messages of its own on GET /events/stream (`send(type, data)`), for a
   * stream that asks for no event filter but `node`; returns the unsubscribe.
   */
  liveStream?(send: (type: string, data: unknown) => void, filter: { node?: string }): () => void;
}

/**
 * What a subsystem says about itself whether it runs or not, so a request
 * for one of its routes while it is off (or failed to start) is answered
 * with its name and the setting that turns it on, not "no route".
 */
export interface ServiceDeclaration {
  /** Service.name of what the factory makes. */
  readonly name: string;
  /** How messages name it: "the DHCP service". */
  readonly title: string;
  /** The config setting that turns it on, as the operator writes it: "dhcp.enabled: true". */
  readonly enable: string;
  /** Paths under /api/v1 it adds: each covers itself and what is under it ('/api/v1/leases/': only what is under it). */
  readonly apiPrefixes?: readonly string[];
  /** Paths it adds inside another's prefix (the renderer's /api/v1/nodes/NAME/render). */
  readonly apiPaths?: RegExp;
}

/** Makes the service from the context, or undefined when its section is off. */
export type ServiceFactory = ((ctx: ServiceContext) => Service | undefined) & {
  /** Every subsystem's factory has one; a test's own factory may leave it out. */
  readonly declared?: ServiceDeclaration;
};

export type DeclaredServiceFactory = ServiceFactory & { readonly declared: ServiceDeclaration };

/** A subsystem's factory, carrying its declaration. */
export function declareService(declared: ServiceDeclaration, create: (ctx: ServiceContext) => Service | undefined): DeclaredServiceFactory {
  return Object.assign((ctx: ServiceContext) => create(ctx), { declared });
}

/**
 * A start failure a service can explain in one line with the fix (no stack
 * trace): the server logs it and keeps the other services running.
 */
export class ServiceStartError extends Error {
  constructor(readonly service: string, message: string) {
    super(message);
    this.name = 'ServiceStartError';
  }
}

/** Turn a bind error into the one-line explanation the operator needs. */
/** @param key the config key that sets the port (api.listen for the API) */
export function explainBindError(service: string, what: string, port: number, err: unknown, key = `${service}.port`): ServiceStartError | undefined {
  const code = (err as { code?: string })?.code;
  if (code === 'EACCES' && port < 1024) {
    return new ServiceStartError(
      service,
      `${service}: cannot bind ${what} port ${port}: permission denied. Run as root, or grant the capability: ` +
        `sudo setcap cap_net_bind_service,cap_net_raw=+ep "$(readlink -f "$(command -v node)")", or set ${key} to a port above 1023 in the config`,
    );
  }
  if (code === 'EADDRINUSE') {
    return new ServiceStartError(service, `${service}: ${what} port ${port} is already in use by another process (stop it, or set ${key})`);
  }
  if (code === 'EADDRNOTAVAIL') {
    return new ServiceStartError(service, `${service}: the address to bind ${what} port ${port} is not on this machine`);
  }
  return undefined;
}
