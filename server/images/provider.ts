// Serves boot/<node>/kernel and boot/<node>/initrd (TFTP and HTTP, through
// the boot hub): the node's image's current kernel, and its RAM disk with
// the node's overlay appended. Overlays are cached per node and dropped on a
// registry change; a new image version or a TTL also renews them. Unknown
// machines boot boot/_discover/{kernel,initrd} (DISCOVER_BOOT in
// boot/loaders.ts): the discovery image with an overlay that carries no
// node, only the API URL for the client's network and the discovery token.
// boot/_image/<image>/... serves any image that way (without the token
// unless it is the discovery image).
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import type { BootClient, BootContentProvider, BootFile } from '../boot/content.js';
import { BootRefused } from '../boot/content.js';
import { openedFile, openRegularFile } from '../boot/descriptor.js';
import type { ExportCatalog, ImageCatalog, ImageDescription } from '../boot/hub.js';
import { httpBase } from '../boot/loaders.js';
import type { LoadedConfig } from '../config/loaded.js';
import { nodeReportToken } from '../boot/report-token.js';
import { cidrContains, formatIpv4, parseIpv4 } from '../net/ipv4.js';
import type { EffectiveNode, Registry, RegistryChange } from '../store/registry.js';
import type { NodeRecord } from '../store/types.js';
import { bufferPart, filePart, partsFile, zeroPart, type Part } from './bootfile.js';
import { buildOverlay, type Overlay, type OverlayInput } from './overlay.js';
import type { ImageManifest, ImageStore } from './store.js';

/** The path segment that stands for "an unknown machine" ('_' cannot start a node name). */
export const DISCOVER_NODE = '_discover';
const DISCOVER_PATH = /^boot\/_discover\/(kernel|initrd)$/;
/** boot/_image/<image>/...: an image for a machine that is not a node. */
export const imageBootPath = { kernel: (image: string) => `boot/_image/${image}/kernel`, initrd: (image: string) => `boot/_image/${image}/initrd` };
const NODE_PATH = /^boot\/([A-Za-z0-9][A-Za-z0-9_.-]{0,62})\/(kernel|initrd)$/;
const IMAGE_PATH = /^boot\/_image\/([A-Za-z0-9][A-Za-z0-9_.-]{0,62})\/(kernel|initrd)$/;

/** Token the discovery image uses to register a machine: HMAC(API token, "discover"). */
export function discoveryToken(apiToken: string): string {
  return 'discover.' + createHmac('sha256', apiToken).update('discover').digest('base64url').slice(0, 32);
}

interface CachedOverlay {
  key: string;
  overlay: Overlay;
  at: number;
}

export interface ProviderDeps {
  cfg: LoadedConfig;
  registry: Registry;
  store: ImageStore;
  apiToken: string;
  /** The boot hub's export catalog slot (read at lookup: the NFS service may fill it later). */
  exports: () => ExportCatalog | undefined;
  discoveryImage: string | null;
  /** Overlays older than this are rebuilt (templates or exports may have changed). */
  ttlMs?: number;
  /** 'node': boot/<node>/initrd only to the node's own addresses (the overlay holds its report token). */
  overlayClients?: 'any' | 'node';
}

export class ImageBootProvider implements BootContentProvider, ImageCatalog {
  readonly name = 'images';
  private readonly overlays = new Map<string, CachedOverlay>();
  private readonly manifests = new Map<string, ImageManifest>();
  /** Node record and its effective settings, so a cached overlay costs no database query. */
  private readonly nodes = new Map<string, { node: NodeRecord; effective: EffectiveNode; at: number }>();
  private readonly onChange = (c: RegistryChange) => {
    if (c.kind === 'group-changed') {
      this.overlays.clear();
      this.nodes.clear();
    } else {
      const name = c.kind === 'node-deleted' ? c.name : c.node.name;
      this.overlays.delete(name);
      this.nodes.delete(name);
    }
  };
  stats = { overlayBuilds: 0, overlayHits: 0 };

  constructor(private readonly d: ProviderDeps) {
    d.registry.on('change', this.onChange);
  }

  dispose(): void {
    this.d.registry.off('change', this.onChange);
    this.overlays.clear();
    this.nodes.clear();
  }

  private async nodeInfo(name: string): Promise<{ node: NodeRecord; effective: EffectiveNode } | undefined> {
    const hit = this.nodes.get(name);
    if (hit && Date.now() - hit.at < (this.d.ttlMs ?? 60_000)) return hit;
    const node = await this.d.registry.store.getNode(name);
    if (!node) {
      this.nodes.delete(name);
      return undefined;
    }
    const entry = { node, effective: await this.d.registry.effectiveOf(node), at: Date.now() };
    if (this.nodes.size > 100_000) this.nodes.clear();
    this.nodes.set(name, entry);
    return entry;
  }

  async manifest(image: string, version: string): Promise<ImageManifest> {
    const key = `${image}/${version}`;
    let m = this.manifests.get(key);
    if (!m) {
      m = await this.d.store.manifest(image, version);
      if (this.manifests.size > 256) this.manifests.clear();
      this.manifests.set(key, m);
    }
    return m;
  }

  async describe(image: string): Promise<ImageDescription | undefined> {
    const version = this.d.store.current(image);
    if (!version) return { name: image, version: null, cmdline: '', kernelSize: null, initrdSize: null };
    const m = await this.manifest(image, version);
    return { name: image, version, cmdline: m.cmdline, kernelSize: m.kernel.size, initrdSize: m.initrd.size };
  }

  async lookup(path: string, client: BootClient): Promise<BootFile | undefined> {
    const disc = DISCOVER_PATH.exec(path);
    if (disc) {
      if (!this.d.discoveryImage) throw new BootRefused('discovery is off (images.discoveryImage is null)');
      path = (disc[1] === 'kernel' ? imageBootPath.kernel : imageBootPath.initrd)(this.d.discoveryImage);
    }
    const im = IMAGE_PATH.exec(path);
    const m = im ?? NODE_PATH.exec(path);
    if (!m) return undefined;
    const [, who, what] = m as unknown as [string, string, 'kernel' | 'initrd'];
    let image: string;
    let node: NodeRecord | undefined;
    if (im) {
      image = who;
      if (!this.d.store.current(image) && !this.d.store.versions(image).length) throw new BootRefused(`no image '${image}'`);
    } else {
      const n = await this.nodeInfo(who);
      if (!n) throw new BootRefused(`no node named '${who}'`);
      if (!n.effective.image) throw new BootRefused(`node '${who}' has no image (set image on the node or its group)`);
      node = n.node;
      image = n.effective.image;
      if (what === 'initrd' && this.d.overlayClients === 'node' && !node.interfaces.some((i) => i.ipv4 === client.address)) {
        throw new BootRefused(`boot/${who}/initrd goes only to ${who}'s own addresses (images.overlayClients: node); ${client.address} is not one`, 403);
      }
    }
    const version = this.d.store.current(image);
    if (!version) throw new BootRefused(`image '${image}' has no build yet (rackboot image build ${image})`);
    const dir = this.d.store.versionDir(image, version);
    // Synchronous open and fstat, as the static provider's: two thread-pool round trips per request
    // queue behind each other when many blades boot at once (server/boot/descriptor.ts).
    let opened: ReturnType<typeof openRegularFile>;
    try {
      opened = openRegularFile(join(dir, what));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new BootRefused(`image '${image}' version ${version}: cannot open ${what}: ${err.code ?? err.message}`);
    }
    if (!opened) throw new BootRefused(`image '${image}' version ${version}: ${what} is not a regular file`);
    const file = openedFile(opened.fd);
    try {
      const size = opened.stat.size;
      const base = filePart(file, size);
      const nodeName = node?.name;
      if (what === 'kernel') return partsFile([base], { kind: 'kernel', etag: `"${version}"`, node: nodeName }, () => file.close());
      const ov = await this.overlayFor(node, image, version, client);
      // The kernel unpacks an uncompressed cpio only at a 4-byte aligned offset; zeros between archives are skipped.
      const pad = (4 - (size & 3)) & 3;
      const parts: Part[] = [base, zeroPart(pad), bufferPart(ov.data)];
      return partsFile(parts, { kind: 'initrd', etag: `"${version}-${ov.hash}"`, node: nodeName }, () => file.close());
    } catch (e) {
      await file.close();
      throw e;
    }
  }

  /** The overlay a node (or, with node undefined, an unknown machine on the client's network) gets. */
  async overlayFor(node: NodeRecord | undefined, image: string, version: string, client: BootClient): Promise<Overlay> {
    const net = node ? undefined : this.networkOf(client.address);
    const cacheName = node ? node.name : `_image/${image}/${net?.name ?? ''}`;
    const key = `${image}/${version}`;
    const hit = this.overlays.get(cacheName);
    const ttl = this.d.ttlMs ?? 60_000;
    if (hit && hit.key === key && Date.now() - hit.at < ttl) {
      this.stats.overlayHits++;
      return hit.overlay;
    }
    const overlay = await buildOverlay(await this.overlayInput(node, image, version, client));
    this.stats.overlayBuilds++;
    this.overlays.set(cacheName, { key, overlay, at: Date.now() });
    return overlay;
  }

  private networkOf(address: string) {
    const ip = parseIpv4(address);
    return ip === undefined ? undefined : this.d.cfg.networks.find((n) => cidrContains(n.cidr, ip));
  }

  async overlayInput(node: NodeRecord | undefined, image: string, version: string, client: BootClient): Promise<OverlayInput> {
    const { cfg } = this.d;
    const m = await this.manifest(image, version);
    const cluster = cfg.config.cluster;
    const firstNet = node ? cfg.networkByName.get(node.interfaces[0]?.network ?? '') : this.networkOf(client.address);
    const catalog = this.d.exports();
    const exports: OverlayInput['exports'] = [];
    if (catalog) {
      for (const name of catalog.names()) {
        // The first of the node's networks that may mount it.
        const nets = node ? node.interfaces.map((i) => i.network) : firstNet ? [firstNet.name] : [];
        for (const n of nets) {
          const mnt = catalog.mountFor(name, n);
          if (mnt) {
            exports.push({ name, source: mnt.source, options: mnt.options, ...(mnt.contentDir ? { contentDir: mnt.contentDir } : {}) });
            break;
          }
        }
      }
    }
    const eff = node ? (await this.nodeInfo(node.name))?.effective : undefined;
    return {
      node: node
        ? {
            name: node.name,
            group: node.group,
            vars: eff?.vars ?? node.vars,
            interfaces: node.interfaces.map((i) => {
              const net = cfg.networkByName.get(i.network);
              return {
                name: i.name,
                mac: i.mac,
                network: i.network,
                ipv4: i.ipv4,
                prefix: net?.cidr.prefix ?? 24,
                router: net?.router !== undefined ? formatIpv4(net.router) : null,
                dns: (net?.dns ?? []).map(formatIpv4),
              };
            }),
          }
        : null,
      image: { name: image, version, cmdline: m.cmdline },
      cluster: { name: cluster.name, domain: cluster.domain, vars: cluster.vars },
      domain: firstNet?.config.domain ?? cluster.domain,
      apiUrl: httpBase(cfg, firstNet),
      token: node ? nodeReportToken(this.d.apiToken, node.name) : image === this.d.discoveryImage ? discoveryToken(this.d.apiToken) : '',
      exports,
      templatesDir: node ? m.nodeOverlay : null,
    };
  }
}
