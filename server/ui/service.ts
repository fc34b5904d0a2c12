// The dashboard as a service: its pages and files (public), the rack
// snapshot and live stream (under /api/v1), and the session cookie as a way
// to authenticate /api/v1 requests from the browser.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { declareService, type Service, type ServiceContext } from '../service.js';
import { loadAssets, type AssetTable } from './assets.js';
import { uiApiRoutes, uiLiveStream, type UiApiDeps } from './api-routes.js';
import { RackStatus } from './rack-status.js';
import { uiPublicRoutes } from './routes.js';
import { CSRF_HEADER, csrfMatches, Sessions } from './sessions.js';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

export class UiService implements Service {
  readonly name = 'ui';
  readonly sessions: Sessions;
  readonly rack: RackStatus;
  readonly apiRoutes: FastifyPluginAsync;
  readonly publicRoutes: FastifyPluginAsync;
  private assets: AssetTable | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly live: UiApiDeps;
  private readonly log: ServiceContext['log'];

  constructor(ctx: ServiceContext) {
    const { cfg } = ctx;
    this.sessions = new Sessions(cfg.resolved.ui.sessionTtlMs);
    const images = ctx.services.get('images');
    this.rack = new RackStatus({
      store: ctx.store,
      registry: ctx.registry,
      events: ctx.events,
      log: ctx.log,
      imageCurrent: (image) => images?.store.current(image) ?? null,
    });
    this.live = { rack: this.rack, registry: ctx.registry, store: ctx.store, jobs: images?.jobs };
    this.log = ctx.log;
    const api = uiApiRoutes(this.live);
    this.apiRoutes = async (app) => {
      await app.register(api);
    };
    this.publicRoutes = uiPublicRoutes({
      sessions: this.sessions,
      assets: () => (this.assets ??= loadAssets()),
      apiToken: ctx.apiToken,
      viewerToken: cfg.config.api.viewerToken,
      cluster: cfg.config.cluster.name,
      ttlMs: cfg.resolved.ui.sessionTtlMs,
      secureCookie: cfg.config.ui.secureCookie,
      // Filled as services start; the dashboard's is the last factory, so all are there.
      services: () => ctx.services.names(),
    });
  }

  async start(): Promise<void> {
    this.assets = loadAssets();
    this.rack.start();
    this.sweeper = setInterval(() => this.sessions.sweep(), 60_000);
    this.sweeper.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    this.rack.stop();
  }

  health() {
    const problem = this.assets?.problem;
    return problem ? { ok: false, detail: problem } : { ok: true, detail: `${this.sessions.size} session(s)` };
  }

  liveStream(send: (type: string, data: unknown) => void, filter: { node?: string }): () => void {
    return uiLiveStream(this.live, send, filter.node, this.log);
  }

  authenticate(req: FastifyRequest) {
    const s = this.sessions.of(req);
    if (!s) return undefined;
    // SameSite=Strict keeps other sites' requests from carrying the cookie; the header is the second lock.
    if (!READS.has(req.method) && !csrfMatches(s, req.headers[CSRF_HEADER])) {
      return { refused: `a change made with a dashboard session needs its CSRF token in the ${CSRF_HEADER} header` };
    }
    return { role: s.role };
  }
}

export const uiService = declareService({ name: 'ui', title: 'the dashboard', enable: 'ui.enabled: true', apiPrefixes: ['/api/v1/rack'] }, (ctx) =>
  ctx.cfg.config.ui.enabled ? new UiService(ctx) : undefined,
);
