// The renderer as a boot-file provider on the hub: TFTP and HTTP ask for
// pxelinux.cfg/01-<mac>, grub/grub.cfg-<HEXIP>, boot/ipxe/<mac>, bpb-<mac>.bpb
// ..., and get the config rendered on request for the node that asks.
import { createHash } from 'node:crypto';
import { Counter, Histogram, type Registry as Metrics } from 'prom-client';
import { BootRefused, bufferFile, type BootClient, type BootContentProvider, type BootFile } from '../boot/content.js';
import type { LoadedConfig } from '../config/loaded.js';
import { networkOf } from '../config/networks.js';
import type { EventRecorder } from '../events/recorder.js';
import type { Logger } from '../log.js';
import { parseIpv4 } from '../net/ipv4.js';
import type { InterfaceRecord, NodeRecord } from '../store/types.js';
import { TemplateError } from './errors.js';
import { parseConfigPath, type ConfigRequest } from './names.js';
import type { BootRenderer, RenderOutput } from './renderer.js';

/** A config the renderer could not produce (template error): refused with the reason. */
export class RenderRefused extends BootRefused {
  constructor(readonly error: TemplateError) {
    super(error.message, 404);
    this.name = 'RenderRefused';
  }
}

export interface RenderMetrics {
  renders: Counter<'loader' | 'result'>;
  seconds: Histogram<'loader'>;
}

export function renderMetrics(metrics: Metrics): RenderMetrics {
  return {
    renders: new Counter({
      name: 'rackboot_render_total',
      help: 'Boot configs rendered, by loader and result (node, discovery, error)',
      labelNames: ['loader', 'result'],
      registers: [metrics],
    }),
    seconds: new Histogram({
      name: 'rackboot_render_seconds',
      help: 'Time to render a boot config (registry lookups included)',
      labelNames: ['loader'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.02, 0.1],
      registers: [metrics],
    }),
  };
}

/** PXELINUX and GRUB ask for more names after a per-MAC or per-address one. */
function hasFallback(req: ConfigRequest): boolean {
  return (req.by === 'mac' || req.by === 'hexip') && (req.loader === 'pxelinux' || req.loader === 'grub');
}

export function etagOf(body: string | Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
}

/** How long after a failed render the config walk's fallback names are refused to that client. */
const FALLBACK_HOLD_MS = 60_000;

/** Names a PXELINUX or GRUB config walk tries: pxelinux.cfg/..., grub.cfg and grub.cfg-... */
function isConfigWalkName(path: string): boolean {
  return path.startsWith('pxelinux.cfg/') || /^(?:grub\/|boot\/grub\/)?grub\.cfg(?:-|$)/.test(path);
}

export class RenderProvider implements BootContentProvider {
  readonly name = 'render';
  /** Client address -> its node's config failed to render (when, which node, why). */
  private readonly failed = new Map<string, { at: number; node: string; message: string }>();

  constructor(
    private readonly renderer: BootRenderer,
    private readonly cfg: LoadedConfig,
    private readonly events: EventRecorder,
    private readonly log: Logger,
    private readonly metrics: RenderMetrics | undefined,
  ) {}

  async lookup(path: string, client: BootClient): Promise<BootFile | undefined> {
    const req = parseConfigPath(path);
    if (!req) return undefined;
    const t0 = performance.now();
    const target = await this.target(req, client);
    // A node without an image is not answered at PXELINUX/GRUB's per-MAC and
    // per-address names: the loader moves on to pxelinux.cfg/default or
    // grub.cfg, where a file the operator put in tftp.root wins (static
    // provider first), else this node's template (local boot).
    if (target && hasFallback(req) && !(await this.renderer.deps.registry.effectiveOf(target.node)).image) return undefined;
    if (target) this.checkOwnAddress(path, target.node, client);
    const request = { protocol: client.protocol, address: client.address, path };
    let out: RenderOutput;
    let result: 'node' | 'discovery';
    try {
      if (target) {
        out = await this.renderer.renderNode(target.node, req.loader, { iface: target.iface, request });
        result = 'node';
      } else {
        // Names with a fallback after them (per-MAC and per-address PXELINUX/GRUB names) are simply not found.
        if (hasFallback(req)) return undefined;
        const mac = req.by === 'mac' ? req.mac : client.mac;
        const unknown = await this.renderer.renderUnknown(req.loader, { mac, address: client.address, request });
        // iPXE asks by MAC over HTTP: without a discovery image an unknown MAC is a plain 404.
        if (req.loader === 'ipxe' && !unknown.discovery) {
          this.events.record({ node: null, mac: mac ?? null, kind: 'render.unknown', detail: { path, address: client.address, protocol: client.protocol } });
          return undefined;
        }
        out = unknown;
        result = 'discovery';
      }
    } catch (e) {
      this.metrics?.renders.inc({ loader: req.loader, result: 'error' });
      if (!(e instanceof TemplateError)) throw e;
      this.log.warn({ path, client: client.address }, `render: ${e.message}`);
      if (target) this.rememberFailure(client.address, target.node.name, e.message);
      this.events.record({
        node: target?.node.name ?? null,
        mac: target?.iface.mac ?? client.mac ?? null,
        kind: 'render.error',
        detail: { path, template: e.template, line: e.line ?? null, variable: e.variable ?? null, message: e.message },
      });
      throw new RenderRefused(e);
    }
    // Rendered: the client's fallback names are answered again (a fixed template).
    if (target) this.failed.delete(client.address);
    this.metrics?.renders.inc({ loader: req.loader, result });
    this.metrics?.seconds.observe({ loader: req.loader }, (performance.now() - t0) / 1000);
    const data = Buffer.from(out.body, 'utf8');
    this.events.record({
      node: out.node,
      mac: out.mac,
      kind: 'render',
      detail: { path, loader: out.loader, template: out.template, origin: out.origin, bytes: data.length, protocol: client.protocol, ...(out.node ? {} : { discovery: result === 'discovery', address: client.address }) },
    });
    return bufferFile(data, 'config', { etag: etagOf(data), ...(out.node ? { node: out.node } : {}) });
  }

  /**
   * A node's config carries its report token (kernel command line): with
   * images.overlayClients: node (the default) it goes, as the node's RAM disk
   * does, only to the node's own registered addresses.
   */
  private checkOwnAddress(path: string, node: NodeRecord, client: BootClient): void {
    if (this.cfg.config.images.overlayClients !== 'node') return;
    if (node.interfaces.some((i) => i.ipv4 === client.address)) return;
    throw new BootRefused(
      `${path} is ${node.name}'s config and carries its report token: it goes only to ${node.name}'s own addresses (images.overlayClients: node); ${client.address} is not one`,
      403,
    );
  }

  private rememberFailure(address: string, node: string, message: string): void {
    if (this.failed.size >= 10_000) this.failed.clear();
    this.failed.set(address, { at: Date.now(), node, message });
  }

  /**
   * After a client's own config failed to render, PXELINUX and GRUB walk on to
   * shorter names and then to pxelinux.cfg/default or grub.cfg, where an
   * operator's file in tftp.root would boot the blade into something else. For
   * a while those names are refused to that client: it gets no config rather
   * than another one. Its own per-MAC and per-address names render afresh
   * (a fixed template answers at once).
   */
  veto(path: string, client: BootClient): void {
    const f = this.failed.get(client.address);
    if (!f) return;
    if (Date.now() - f.at > FALLBACK_HOLD_MS) {
      this.failed.delete(client.address);
      return;
    }
    if (!isConfigWalkName(path)) return;
    const req = parseConfigPath(path);
    if (req && (req.by === 'mac' || req.by === 'hexip')) return;
    throw new BootRefused(`not falling back to ${path}: ${f.node}'s own config did not render (${f.message})`, 404);
  }

  private async target(req: ConfigRequest, client: BootClient): Promise<{ node: NodeRecord; iface: InterfaceRecord } | undefined> {
    const { store } = this.renderer.deps;
    switch (req.by) {
      case 'mac':
        return store.findByMac(req.mac);
      case 'hexip': {
        const net = networkOf(this.cfg.networks, parseIpv4(req.address)!);
        return net ? store.findByAddress(net.name, req.address) : undefined;
      }
      case 'requester':
        return this.renderer.identify({ mac: client.mac, address: client.address });
    }
  }
}
