// A small cluster for the renderer's tests: the paper's two inside networks,
// a web group with an image, a blade with kernel arguments of its own, a
// blade without an image, and stand-ins for the image catalog and the NFS
// export catalog (the images and NFS services fill those hub slots in a real
// server; here they are fixed so golden renders do not depend on builds).
import { join } from 'node:path';
import type { ExportCatalog, ImageCatalog, ImageDescription } from '../../../server/boot/hub.js';
import { BootHub } from '../../../server/boot/hub.js';
import { resolveConfig } from '../../../server/main/config.js';
import type { LoadedConfig } from '../../../server/config/loaded.js';
import { EventRecorder } from '../../../server/events/recorder.js';
import { silentLogger } from '../../../server/log.js';
import { TemplateEngine } from '../../../server/render/engine.js';
import { BootRenderer } from '../../../server/render/renderer.js';
import { Registry } from '../../../server/store/registry.js';
import { SqliteStore } from '../../../server/store/sqlite.js';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.js';

export const TOKEN = 'golden-api-token';

export const CLUSTER = {
  cluster: { name: 'cgws', domain: 'cluster.local', vars: { webroot: '/var/www' } },
  api: { listen: '0.0.0.0:8080', token: TOKEN },
  networks: [
    { name: 'inside', interface: 'eth1', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', router: '10.0.0.254', dns: ['10.0.0.1'], staticRange: '10.0.0.10-10.0.0.199', dynamicRange: '10.0.0.200-10.0.0.250' },
    { name: 'inside2', interface: 'eth2', cidr: '10.0.1.0/24', serverAddress: '10.0.1.1', staticRange: '10.0.1.10-10.0.1.199' },
  ],
  dhcp: { enabled: false },
  tftp: { enabled: false },
  groups: [{ name: 'web', loader: 'pxelinux', image: 'web-blade', vars: { tier: 'web' } }],
  nodes: [
    {
      name: 'blade1',
      group: 'web',
      vars: { kernelArgs: ['panic=10', { motd: 'hello from blade1' }] },
      interfaces: [
        { name: 'eth0', mac: '52:54:00:00:0a:01', network: 'inside', ipv4: '10.0.0.11' },
        { name: 'eth1', mac: '52:54:00:00:0b:01', network: 'inside2', ipv4: '10.0.1.11' },
      ],
    },
    { name: 'blade2', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0a:02', network: 'inside', ipv4: '10.0.0.12' }] },
  ],
};

export const IMAGES: Record<string, ImageDescription> = {
  'web-blade': { name: 'web-blade', version: 'b3f1c2', cmdline: 'console=ttyS0,115200n8 quiet', kernelSize: 7_000_000, initrdSize: 30_000_000 },
  discovery: { name: 'discovery', version: 'd15c0', cmdline: 'console=ttyS0,115200n8', kernelSize: 7_000_000, initrdSize: 9_000_000 },
};

/** The image catalog stand-in; `discoveryBuilt` toggles whether the discovery image has a build. */
export function imageCatalog(state: { discoveryBuilt: boolean }): ImageCatalog {
  return {
    describe: async (name) => {
      const d = IMAGES[name];
      // Like the images service: a name it has no build of is described with version null.
      if (!d) return { name, version: null, cmdline: '', kernelSize: null, initrdSize: null };
      return name === 'discovery' && !state.discoveryBuilt ? { ...d, version: null } : d;
    },
  };
}

/** The export catalog stand-in: www, mountable from the inside network only. */
export const EXPORTS: ExportCatalog = {
  names: () => ['www'],
  mountFor: (name, network) => (name === 'www' && network === 'inside' ? { source: '10.0.0.1:/www', options: 'vers=4,ro', contentDir: 'current' } : undefined),
};

export interface RenderFixture {
  cfg: LoadedConfig;
  store: SqliteStore;
  registry: Registry;
  boot: BootHub;
  engine: TemplateEngine;
  renderer: BootRenderer;
  events: EventRecorder;
  images: { discoveryBuilt: boolean };
  close(): Promise<void>;
}

export async function renderFixture(extra: Record<string, unknown> = {}): Promise<RenderFixture> {
  const dir = makeTempDir('rackboot-render-');
  const cfg = resolveConfig({ dataDir: dir, ...CLUSTER, ...extra }, null, {});
  const store = new SqliteStore(join(dir, 'rackboot.db'));
  const registry = new Registry(store, cfg);
  await registry.seed();
  const boot = new BootHub();
  const images = { discoveryBuilt: true };
  boot.images = imageCatalog(images);
  boot.exports = EXPORTS;
  const engine = new TemplateEngine(cfg.paths.userTemplates, cfg.paths.shippedTemplates);
  const renderer = new BootRenderer({ cfg, store, registry, boot, apiToken: TOKEN, engine });
  const events = new EventRecorder(store, silentLogger());
  return {
    cfg,
    store,
    registry,
    boot,
    engine,
    renderer,
    events,
    images,
    async close() {
      await events.close();
      await store.close();
      removeTempDir(dir);
    },
  };
}
