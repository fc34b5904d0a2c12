// Renders a loader's config for a node: fetches the node, its group and
// effective settings, the image description and NFS mounts from the hub's
// catalogs, builds the scope and runs the template. The same path serves
// TFTP, HTTP and the operator preview, so the preview is what blades get.
import type { BootHub, ImageDescription, NodeRenderer } from '../boot/hub.js';
import type { LoadedConfig } from '../config/loaded.js';
import { networkOf, type ResolvedNetwork } from '../config/networks.js';
import { parseIpv4 } from '../net/ipv4.js';
import { canonicalMac } from '../net/mac.js';
import type { Registry } from '../store/registry.js';
import { LOADERS, type GroupRecord, type InterfaceRecord, type Loader, type NodeRecord, type Store } from '../store/types.js';
import type { TemplateEngine, TemplateSource } from './engine.js';
import { TemplateError } from './errors.js';
import { lintConfig } from './lint.js';
import { addLoaderUser, loaderReport } from '../boot/loader-report.js';
import { DEFAULT_LOADER } from '../boot/loaders.js';
import { nodeScope, unknownScope, type Scope } from './scope.js';

/** The template each loader renders, for a known node and for an unknown machine. */
export const LOADER_TEMPLATES: Record<Loader, { node: string; discovery: string; contentType: string }> = {
  pxelinux: { node: 'pxelinux.cfg.hbs', discovery: 'pxelinux-discovery.cfg.hbs', contentType: 'text/plain; charset=utf-8' },
  ipxe: { node: 'ipxe.ipxe.hbs', discovery: 'ipxe-discovery.ipxe.hbs', contentType: 'text/plain; charset=utf-8' },
  grub: { node: 'grub.cfg.hbs', discovery: 'grub-discovery.cfg.hbs', contentType: 'text/plain; charset=utf-8' },
  bpbatch: { node: 'bpbatch.bpb.hbs', discovery: 'bpbatch-discovery.bpb.hbs', contentType: 'text/plain; charset=utf-8' },
};

export function isLoader(s: string): s is Loader {
  return (LOADERS as readonly string[]).includes(s);
}

export interface RenderOutput {
  loader: Loader;
  contentType: string;
  body: string;
  template: string;
  file: string;
  origin: TemplateSource['origin'];
  /** The node it was rendered for; null for a default/discovery config. */
  node: string | null;
  /** The interface it was rendered for (MAC), when known. */
  mac: string | null;
}

export interface RenderRequest {
  protocol: Scope['request']['protocol'];
  address: string | null;
  path: string | null;
}

export interface RendererDeps {
  cfg: LoadedConfig;
  store: Store;
  registry: Registry;
  boot: BootHub;
  apiToken: string;
  engine: TemplateEngine;
}

export interface CheckProblem {
  node: string | null;
  loader: Loader;
  /** The template; empty for a missing loader file. */
  template: string;
  line: number | null;
  variable: string | null;
  message: string;
  /** A loader file that is missing (the message names the Debian package that has it). */
  file?: string;
}

/**
 * Not a template problem, but worth knowing: a node whose image has no build
 * yet (normal before the first build), or a loader that cannot boot some
 * machines (what boots them instead).
 */
export interface CheckNote {
  node: string | null;
  image?: string;
  loader?: Loader;
  message: string;
}

export interface CheckReport {
  /** No errors; notes do not count. */
  ok: boolean;
  nodes: number;
  templates: Array<{ name: string; origin: TemplateSource['origin']; file: string }>;
  renders: number;
  errors: CheckProblem[];
  notes: CheckNote[];
  ms: number;
}

/** IPv4 text from a socket address ('::ffff:10.0.0.11' -> '10.0.0.11'); undefined when not IPv4. */
export function ipv4Of(address: string | null | undefined): string | undefined {
  if (!address) return undefined;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return parseIpv4(a) === undefined ? undefined : a;
}

export class BootRenderer implements NodeRenderer {
  constructor(readonly deps: RendererDeps) {}

  get engine(): TemplateEngine {
    return this.deps.engine;
  }

  /** NodeRenderer: a loader's config for a node as it would boot from its first interface. */
  async render(node: string, loader: string): Promise<{ contentType: string; body: string; template: string }> {
    const out = await this.renderByName(node, loader);
    return { contentType: out.contentType, body: out.body, template: out.template };
  }

  async renderByName(name: string, loader: string, opts: { iface?: string; request?: RenderRequest } = {}): Promise<RenderOutput> {
    if (!isLoader(loader)) throw new RangeError(`no loader '${loader}' (have: ${LOADERS.join(', ')})`);
    const node = await this.deps.store.getNode(name);
    if (!node) throw new NodeMissing(name);
    let iface: InterfaceRecord | undefined;
    if (opts.iface) {
      iface = node.interfaces.find((i) => i.name === opts.iface || i.mac === canonicalMac(opts.iface!));
      if (!iface) throw new RangeError(`node ${name} has no interface '${opts.iface}' (has: ${node.interfaces.map((i) => i.name).join(', ')})`);
    }
    return this.renderNode(node, loader, { iface, request: opts.request });
  }

  /** The images service's discovery image (images.discoveryImage); null: discovery is off. */
  private discoveryImage(): string | null {
    return this.deps.cfg.config.images.discoveryImage;
  }

  private async describe(image: string | null): Promise<ImageDescription | undefined> {
    if (!image || !this.deps.boot.images) return undefined;
    return this.deps.boot.images.describe(image);
  }

  /** The discovery image, when one is configured and built. */
  async discoveryAvailable(): Promise<boolean> {
    const d = await this.describe(this.discoveryImage());
    return !!d?.version;
  }

  async scopeForNode(node: NodeRecord, loader: Loader, opts: { iface?: InterfaceRecord; request?: RenderRequest; group?: GroupRecord | undefined } = {}): Promise<Scope> {
    const { deps } = this;
    const group = 'group' in opts ? opts.group : node.group ? await deps.store.getGroup(node.group) : undefined;
    const effective = deps.registry.effective(node, group);
    const template = LOADER_TEMPLATES[loader].node;
    const image = await this.describe(effective.image);
    if (effective.image && deps.boot.images && !image) {
      throw new TemplateError(template, template, undefined, `image '${effective.image}' is not in the image catalog (see rackboot image list)`, undefined, node.name);
    }
    const discoveryImage = this.discoveryImage();
    return nodeScope({
      cfg: deps.cfg,
      apiToken: deps.apiToken,
      node,
      group,
      effective,
      iface: opts.iface,
      loader,
      image,
      exports: deps.boot.exports,
      discovery: { image: discoveryImage, enabled: discoveryImage ? await this.discoveryAvailable() : false },
      request: opts.request ?? { protocol: 'api', address: null, path: null },
      template,
    });
  }

  async renderNode(node: NodeRecord, loader: Loader, opts: { iface?: InterfaceRecord; request?: RenderRequest; group?: GroupRecord | undefined } = {}): Promise<RenderOutput> {
    const scope = await this.scopeForNode(node, loader, opts);
    const r = this.deps.engine.render(scope.template, scope, node.name);
    return {
      loader,
      contentType: LOADER_TEMPLATES[loader].contentType,
      body: r.body,
      template: r.template.name,
      file: r.template.file,
      origin: r.template.origin,
      node: node.name,
      mac: scope.iface?.mac ?? null,
    };
  }

  async scopeForUnknown(loader: Loader, who: { mac?: string; address?: string; request?: RenderRequest }): Promise<Scope> {
    const address = ipv4Of(who.address);
    const network: ResolvedNetwork | undefined = address ? networkOf(this.deps.cfg.networks, parseIpv4(address)!) : undefined;
    const img = this.discoveryImage();
    return unknownScope({
      cfg: this.deps.cfg,
      mac: who.mac,
      address,
      network,
      loader,
      discoveryImage: img,
      image: await this.describe(img),
      exports: this.deps.boot.exports,
      request: who.request ?? { protocol: 'api', address: address ?? null, path: null },
      template: LOADER_TEMPLATES[loader].discovery,
    });
  }

  /** The default/discovery config for a machine the registry does not know. */
  async renderUnknown(loader: Loader, who: { mac?: string; address?: string; request?: RenderRequest }): Promise<RenderOutput & { discovery: boolean }> {
    const scope = await this.scopeForUnknown(loader, who);
    const r = this.deps.engine.render(scope.template, scope);
    return {
      loader,
      contentType: LOADER_TEMPLATES[loader].contentType,
      body: r.body,
      template: r.template.name,
      file: r.template.file,
      origin: r.template.origin,
      node: null,
      mac: who.mac ?? null,
      discovery: scope.discovery.enabled,
    };
  }

  /**
   * The node and interface behind a requester: a MAC the request carried,
   * else the interface registered with its address in the network that
   * contains it, else the MAC of a current lease on that address.
   */
  async identify(who: { mac?: string; address?: string }): Promise<{ node: NodeRecord; iface: InterfaceRecord } | undefined> {
    const { store, cfg } = this.deps;
    if (who.mac) {
      const hit = await store.findByMac(who.mac);
      if (hit) return hit;
    }
    const address = ipv4Of(who.address);
    if (!address) return undefined;
    const net = networkOf(cfg.networks, parseIpv4(address)!);
    if (!net) return undefined;
    const hit = await store.findByAddress(net.name, address);
    if (hit) return hit;
    const lease = await store.getLease(net.name, address);
    if (lease && (lease.state === 'bound' || lease.state === 'offered') && lease.expiresAt > Date.now()) return store.findByMac(lease.mac);
    return undefined;
  }

  /**
   * Render every loader's template for every node, and the default/discovery
   * configs, collecting every error (with node, template and line) and every
   * syntax problem in the output, instead of stopping at the first.
   */
  async check(): Promise<CheckReport> {
    const t0 = performance.now();
    const { store, engine } = this.deps;
    const errors: CheckProblem[] = [];
    const nodes = await store.listNodes();
    const groups = new Map((await store.listGroups()).map((g) => [g.name, g]));
    let renders = 0;
    const problem = (node: string | null, loader: Loader, template: string, e: unknown): void => {
      if (e instanceof TemplateError) {
        errors.push({ node, loader, template: e.template, line: e.line ?? null, variable: e.variable ?? null, message: e.message });
      } else {
        errors.push({ node, loader, template, line: null, variable: null, message: `${template}: ${(e as Error).message}${node ? ` for node ${node}` : ''}` });
      }
    };
    const lint = (out: RenderOutput): void => {
      for (const issue of lintConfig(out.loader, out.body)) {
        errors.push({
          node: out.node,
          loader: out.loader,
          template: out.template,
          line: null,
          variable: null,
          message: `${out.template}: rendered ${out.loader} config line ${issue.line}: ${issue.message}${out.node ? ` for node ${out.node}` : ''}`,
        });
      }
    };
    // Partials no top-level render reaches still must parse.
    for (const t of engine.list()) {
      const err = engine.check(t.name);
      if (err) errors.push({ node: null, loader: 'pxelinux', template: t.name, line: err.line ?? null, variable: null, message: err.message });
    }
    const notes: CheckNote[] = this.deps.boot.images ? await this.unbuiltImageNotes(nodes, groups) : [];
    const loaders = this.loaderChecks(nodes, groups);
    for (const e of loaders.errors) errors.push({ node: null, loader: e.loader, template: '', line: null, variable: null, message: e.message, file: e.file });
    for (const n of loaders.notes) notes.push({ node: null, loader: n.loader, message: n.message });
    for (const loader of LOADERS) {
      for (const node of nodes) {
        renders++;
        try {
          lint(await this.renderNode(node, loader, { group: node.group ? groups.get(node.group) : undefined }));
        } catch (e) {
          problem(node.name, loader, LOADER_TEMPLATES[loader].node, e);
        }
      }
      renders++;
      try {
        const net = this.deps.cfg.networks[0];
        lint(await this.renderUnknown(loader, { mac: '52:54:00:ff:ff:ff', address: net?.config.dynamicRange?.split('-')[0] ?? net?.config.serverAddress }));
      } catch (e) {
        problem(null, loader, LOADER_TEMPLATES[loader].discovery, e);
      }
    }
    // One template error repeats for every node: keep each (node, message) once, in a stable order.
    const seen = new Set<string>();
    const unique = errors.filter((e) => {
      const k = `${e.node}|${e.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    return {
      ok: unique.length === 0,
      nodes: nodes.length,
      templates: engine.list().map((t) => ({ name: t.name, origin: t.origin, file: t.file })),
      renders,
      errors: unique,
      notes,
      ms: Math.round(performance.now() - t0),
    };
  }

  /** Missing files of the loaders in use, and loaders that cannot boot some machines (only with the boot files known: hub.loaderFiles). */
  private loaderChecks(nodes: NodeRecord[], groups: ReadonlyMap<string, GroupRecord>): ReturnType<typeof loaderReport> {
    const files = this.deps.boot.loaderFiles;
    if (!files) return { errors: [], notes: [] };
    const users = new Map<Loader, string[]>();
    for (const node of nodes) addLoaderUser(users, this.deps.registry.effective(node, node.group ? groups.get(node.group) : undefined).loader, node.name);
    const d = this.deps.cfg.config.dhcp;
    if (d.enabled && d.bootUnknown && !d.discovery && this.deps.cfg.networks.some((n) => n.dynamicRange)) addLoaderUser(users, DEFAULT_LOADER, 'unknown machines');
    return loaderReport({ has: (f) => files.locate(f, true) !== undefined }, users, d.secureBoot);
  }

  /**
   * Nodes whose image has no build yet: their kernel and RAM disk cannot be
   * served until it is built. A note, not an error: every image starts out
   * unbuilt, and the templates themselves render fine.
   */
  private async unbuiltImageNotes(nodes: NodeRecord[], groups: ReadonlyMap<string, GroupRecord>): Promise<CheckNote[]> {
    const users = new Map<string, string[]>();
    for (const node of nodes) {
      const img = this.deps.registry.effective(node, node.group ? groups.get(node.group) : undefined).image;
      if (img) users.set(img, [...(users.get(img) ?? []), node.name]);
    }
    const notes: CheckNote[] = [];
    for (const [image, names] of users) {
      // Not in the catalog at all: rendering reports that as an error.
      const d = await this.describe(image);
      if (!d || d.version) continue;
      for (const node of names) {
        notes.push({ node, image, message: `node ${node}: image '${image}' has no build yet, its kernel and RAM disk cannot be served (rackboot image build ${image})` });
      }
    }
    return notes;
  }
}

export class NodeMissing extends Error {
  constructor(readonly node: string) {
    super(`no node named '${node}'`);
    this.name = 'NodeMissing';
  }
}
