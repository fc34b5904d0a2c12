// The images subsystem as a service: the store under <dataDir>/images, the
// build queue, the boot provider for boot/<node>/{kernel,initrd} (also the
// hub's image catalog), the API routes, and optional builds at start and on
// recipe changes.
import { watch, type FSWatcher } from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';
import { Counter, Histogram } from 'prom-client';
import { declareService, type Service, type ServiceContext } from '../service.js';
import { buildImage } from './builder.js';
import { discoverRoutes } from './discover.js';
import { JobQueue } from './jobs.js';
import { DISCOVER_NODE, discoveryToken, ImageBootProvider } from './provider.js';
import { findRecipe, loadRecipe } from './recipe.js';
import { imageRoutes } from './routes.js';
import { ImageStore } from './store.js';
import { ImagePeerSync } from './peers.js';
import { awaitReplicas } from './replicas.js';

declare module '../service.js' {
  interface KnownServices {
    images: ImagesService;
  }
}

export class ImagesService implements Service {
  readonly name = 'images';
  readonly store: ImageStore;
  readonly jobs: JobQueue;
  readonly provider: ImageBootProvider;
  readonly apiRoutes: FastifyPluginAsync;
  readonly publicRoutes: FastifyPluginAsync | undefined;
  private readonly watchers: FSWatcher[] = [];
  private readonly debounce = new Map<string, NodeJS.Timeout>();
  /** The version every server sharing the store serves, fetched from a peer or built here. */
  readonly peers: ImagePeerSync;
  private lastError: string | undefined;

  constructor(private readonly ctx: ServiceContext) {
    const { cfg } = ctx;
    const conf = cfg.config.images;
    this.store = new ImageStore(cfg.paths.imageStore, conf.keep);
    const builds = new Counter({ name: 'rackboot_image_builds_total', help: 'Image builds by result', labelNames: ['image', 'result'], registers: [ctx.metrics] });
    const seconds = new Histogram({
      name: 'rackboot_image_build_seconds',
      help: 'Image build time',
      labelNames: ['image'],
      buckets: [0.5, 1, 2, 5, 10, 30, 60, 120],
      registers: [ctx.metrics],
    });
    this.jobs = new JobQueue(async (job, hooks) => {
      const end = seconds.startTimer({ image: job.image });
      try {
        const recipe = loadRecipe(job.image, cfg.paths.recipeDirs);
        const r = await buildImage(recipe, { store: this.store, cluster: cfg.config.cluster, ...hooks });
        await this.peers.publish(job.image, r.version);
        // A pair's peer boots the blades the moment it takes over: the build is complete when it holds the version too.
        const pair = cfg.config.pair;
        if (pair.enabled && pair.peer.name) {
          await awaitReplicas({ peers: ctx.peers, servers: [pair.peer.name], name: job.image, version: r.version, timeoutMs: cfg.resolved.pair.holdImagesMs, log: hooks.log });
        }
        builds.inc({ image: job.image, result: 'ok' });
        this.lastError = undefined;
        ctx.log.info(`images: built ${job.image} ${r.version}${r.changed ? '' : ' (unchanged)'}`);
        return r;
      } catch (e) {
        builds.inc({ image: job.image, result: 'error' });
        this.lastError = `${job.image}: ${(e as Error).message.split('\n')[0]}`;
        ctx.log.error(`images: build of ${job.image} failed: ${(e as Error).message}`);
        throw e;
      } finally {
        end();
      }
    });
    this.provider = new ImageBootProvider({
      cfg,
      registry: ctx.registry,
      store: this.store,
      apiToken: ctx.apiToken,
      exports: () => ctx.boot.exports,
      discoveryImage: conf.discoveryImage,
      overlayClients: conf.overlayClients,
    });
    this.apiRoutes = imageRoutes({
      store: this.store,
      jobs: this.jobs,
      recipeDirs: cfg.paths.recipeDirs,
      onCurrentChanged: (name) => {
        const v = this.store.current(name);
        if (v) void this.peers.publish(name, v);
      },
    }) as unknown as FastifyPluginAsync;
    this.peers = new ImagePeerSync({
      store: ctx.store,
      images: this.store,
      jobs: this.jobs,
      peers: ctx.peers,
      log: ctx.log,
      hasRecipe: (name) => {
        try {
          return Boolean(findRecipe(name, cfg.paths.recipeDirs));
        } catch {
          return false;
        }
      },
    });
    this.publicRoutes = conf.discoveryImage
      ? (discoverRoutes({ cfg, registry: ctx.registry, events: ctx.events, token: discoveryToken(ctx.apiToken) }) as unknown as FastifyPluginAsync)
      : undefined;
  }

  async start(): Promise<void> {
    await this.store.cleanTemp();
    await this.peers.start();
    this.ctx.boot.addProvider(this.provider);
    this.ctx.boot.images = this.provider;
    const conf = this.ctx.cfg.config.images;
    for (const name of conf.buildOnStart) {
      if (!this.store.current(name)) this.jobs.submit(name, 'start');
    }
    if (conf.watch) this.watchRecipes();
    this.ctx.log.info(
      `images: store ${this.store.root}; recipes in ${this.ctx.cfg.paths.recipeDirs.join(', ')}` +
        (conf.discoveryImage ? `; unknown machines boot ${conf.discoveryImage} from boot/${DISCOVER_NODE}/` : ''),
    );
  }

  /** Rebuild an image shortly after a file under its recipe directory changes. */
  private watchRecipes(): void {
    const names = new Set([...this.ctx.cfg.config.images.buildOnStart]);
    for (const name of names) {
      let dir: string;
      try {
        dir = findRecipe(name, this.ctx.cfg.paths.recipeDirs).replace(/\/recipe\.yaml$/, '');
      } catch {
        continue;
      }
      try {
        const w = watch(dir, { recursive: true }, () => {
          clearTimeout(this.debounce.get(name));
          this.debounce.set(
            name,
            setTimeout(() => {
              this.ctx.log.info(`images: ${dir} changed; rebuilding ${name}`);
              this.jobs.submit(name, 'watch');
            }, 1000),
          );
        });
        w.on('error', () => undefined);
        this.watchers.push(w);
      } catch (e) {
        this.ctx.log.warn(`images: cannot watch ${dir}: ${(e as Error).message}`);
      }
    }
  }

  async stop(): Promise<void> {
    this.peers.stop();
    for (const w of this.watchers.splice(0)) w.close();
    for (const t of this.debounce.values()) clearTimeout(t);
    this.ctx.boot.removeProvider(this.provider);
    if (this.ctx.boot.images === this.provider) this.ctx.boot.images = undefined;
    this.provider.dispose();
    await this.jobs.stop();
  }

  health() {
    return this.lastError ? { ok: true, detail: `last build failed: ${this.lastError}` } : { ok: true };
  }
}

export const imagesService = declareService(
  { name: 'images', title: 'the images service', enable: 'images.enabled: true', apiPrefixes: ['/api/v1/images', '/api/v1/discover'] },
  (ctx) => (ctx.cfg.config.images.enabled ? new ImagesService(ctx) : undefined),
);
