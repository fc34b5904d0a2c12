// The NFS service: picks the backend, starts the export manager, fills
// ctx.boot.exports, and adds the /exports and /nfs API routes.
import { join, resolve } from 'node:path';
import { Counter, Gauge } from 'prom-client';
import { declareService, ServiceStartError, type Service, type ServiceContext } from '../service.js';
import type { NfsBackend } from './backends/backend.js';
import { GaneshaBackend, autoBind } from './backends/ganesha.js';
import { formatIpv4 } from '../net/ipv4.js';
import { KernelBackend } from './backends/kernel.js';
import { NoneBackend } from './backends/none.js';
import { GANESHA_DEFAULTS, KERNEL_DEFAULTS } from './config.js';
import { hostProbe, pickBackend, rpcbindRunning, type HostProbe, type Pick } from './detect.js';
import { ExportManager } from './manager.js';
import { configExports } from './model.js';
import { nfsRoutes } from './routes.js';
import { runCommand, type CommandRunner } from './run.js';

export interface NfsServiceOptions {
  /** Host probe for backend 'auto' (tests inject one). */
  probe?: HostProbe;
  /** Runs exportfs (tests inject one). */
  run?: CommandRunner;
}

declare module '../service.js' {
  interface KnownServices {
    nfs: NfsService;
  }
}

export interface NfsService extends Service {
  readonly manager: ExportManager;
  readonly pick: Pick | undefined;
  backend(): NfsBackend | undefined;
}

export function createNfsService(ctx: ServiceContext, opts: NfsServiceOptions = {}): NfsService | undefined {
  const { cfg, log, store, metrics, events } = ctx;
  const nfs = cfg.config.nfs;
  if (!nfs.enabled) return undefined;
  const kernel = { ...KERNEL_DEFAULTS, ...nfs.kernel };
  const ganesha = { ...GANESHA_DEFAULTS, ...nfs.ganesha };
  const manager = new ExportManager({ networks: cfg.networkByName, contentRoots: nfs.contentRoots, store, log });
  let backend: NfsBackend | undefined;
  let pick: Pick | undefined;

  const restarts = new Counter({ name: 'rackboot_nfs_ganesha_restarts_total', help: 'ganesha restarts after it died', registers: [metrics] });
  const applies = new Counter({ name: 'rackboot_nfs_applies_total', help: 'export changes applied to the NFS server', labelNames: ['result'], registers: [metrics] });
  new Gauge({
    name: 'rackboot_nfs_exports',
    help: 'exports served',
    registers: [metrics],
    collect() {
      this.set(manager.active().length);
    },
  });

  async function makeBackend(): Promise<NfsBackend> {
    let kind = nfs.backend;
    if (kind === 'auto') {
      pick = pickBackend(opts.probe ?? hostProbe, { exportfs: kernel.exportfs, ganesha: ganesha.binary });
      kind = pick.backend;
      log.info(`nfs: backend auto -> ${pick.backend}: ${pick.why}`);
    } else {
      log.info(`nfs: backend ${kind} (from the config)`);
    }
    switch (kind) {
      case 'kernel':
        return new KernelBackend({ exportsFile: resolve(kernel.exportsFile), exportfs: kernel.exportfs, run: opts.run ?? runCommand, log });
      case 'ganesha': {
        const nfsv3 = ganesha.nfsv3 === 'on' || (ganesha.nfsv3 === 'auto' && !ganesha.netns && (await rpcbindRunning()));
        return new GaneshaBackend({
          binary: ganesha.binary,
          dir: join(cfg.paths.dataDir, 'nfs', 'ganesha'),
          bind: ganesha.bind === 'auto' ? autoBind(cfg.networks.map((n) => formatIpv4(n.server))) : ganesha.bind,
          port: ganesha.port,
          nfsv3,
          attrCacheSeconds: ganesha.attrCacheSeconds,
          logLevel: ganesha.logLevel,
          netns: ganesha.netns,
          log,
          onRestart: () => restarts.inc(),
        });
      }
      case 'none':
        return new NoneBackend(resolve(nfs.none?.file ?? join(cfg.paths.dataDir, 'nfs', 'exports')), log);
    }
  }

  const service: NfsService = {
    name: 'nfs',
    manager,
    get pick() {
      return pick;
    },
    backend: () => backend,
    async start() {
      backend = await makeBackend();
      try {
        await manager.start(configExports(cfg), backend);
      } catch (err) {
        throw new ServiceStartError('nfs', `nfs: ${backend.kind} backend could not start: ${(err as Error).message}`);
      }
      ctx.boot.exports = manager;
      const served = manager.active();
      log.info(`nfs: serving ${served.length} export(s) with backend ${backend.kind}${served.length ? `: ${served.map((e) => e.name).join(', ')}` : ''}`);
    },
    async stop() {
      if (ctx.boot.exports === manager) ctx.boot.exports = undefined;
      await backend?.stop();
    },
    health() {
      if (!backend) return { ok: false, detail: 'not started' };
      const s = backend.status();
      const invalid = manager.list().filter((e) => e.state === 'invalid');
      const bad = invalid.length ? `; not served: ${invalid.map((e) => `${e.name} (${e.problems.join('; ')})`).join(', ')}` : '';
      return { ok: s.ok && !invalid.length, detail: `${s.detail}${bad}` };
    },
    apiRoutes: nfsRoutes({ manager, backend: () => backend, pick: () => pick, mirror: () => ctx.boot.contentMirror, cfg, events, applies, log }),
  };
  return service;
}

export const nfsService = declareService({ name: 'nfs', title: 'the NFS service', enable: 'nfs.enabled: true', apiPrefixes: ['/api/v1/exports', '/api/v1/nfs'] }, createNfsService);
