// What a boot-config template sees (documented key by key in
// docs/templates.md): the cluster, the node with its inherited vars and all
// its interfaces, the interface and network being booted, the image, the boot
// files' TFTP paths and HTTP URLs, this server, the node's report token and
// NFS mounts. Built by a pure function from records the renderer fetched, so
// golden tests and the API preview see exactly what a booting blade gets.
// Optional values are null rather than missing: strict mode then still
// catches typos while {{#if iface.router}} tests for presence.
import { nodeReportToken } from '../boot/report-token.js';
import { DISCOVER_BOOT, HTTP_BOOT, IPXE, TFTP_BOOT, httpBase } from '../boot/loaders.js';
import type { ExportCatalog, ImageDescription } from '../boot/hub.js';
import type { LoadedConfig } from '../config/loaded.js';
import type { ResolvedNetwork } from '../config/networks.js';
import { formatIpv4, ipv4ToHex, parseIpv4 } from '../net/ipv4.js';
import type { EffectiveNode } from '../store/registry.js';
import type { GroupRecord, InterfaceRecord, Loader, NodeRecord, Vars } from '../store/types.js';
import { VERSION } from '../version.js';

export interface NetworkScope {
  name: string;
  /** 10.0.0.0/24 */
  cidr: string;
  /** 10.0.0.0 */
  address: string;
  netmask: string;
  prefix: number;
  broadcast: string;
  serverAddress: string;
  router: string | null;
  dns: string[];
  domain: string;
  mtu: number | null;
  /** The server interface facing it (null for relayed networks). */
  interface: string | null;
}

export interface InterfaceScope {
  name: string;
  /** aa:bb:cc:dd:ee:ff */
  mac: string;
  /** 01-aa-bb-cc-dd-ee-ff (PXELINUX/GRUB names, BOOTIF=) */
  pxemac: string;
  network: string;
  address: string;
  /** Same as address (the registry's field name). */
  ipv4: string;
  /** C0A8000B */
  hexip: string;
  netmask: string;
  prefix: number;
  /** 10.0.0.11/24 */
  cidr: string;
  router: string | null;
  dns: string[];
  domain: string;
  mtu: number | null;
  /** This server's address on the interface's network. */
  serverAddress: string;
}

export interface ImageScope {
  name: string | null;
  version: string | null;
  cmdline: string;
  kernelSize: number | null;
  initrdSize: number | null;
  /** The images service runs and knows this image. */
  known: boolean;
  /** Built at least once (a version exists). */
  built: boolean;
}

export interface BootFileScope {
  /** TFTP path, relative to the TFTP root: boot/blade1/kernel */
  tftp: string;
  /** Full HTTP URL: http://10.0.0.1:8080/boot/blade1/kernel */
  url: string;
}

export interface MountScope {
  name: string;
  /** host:path, e.g. 10.0.0.1:/www */
  source: string;
  options: string;
  /** Directory inside the mount with the live content ('current' for exports switched by content syncs), or null: the mount root. */
  contentDir: string | null;
  /** Network the mount goes over. */
  network: string;
}

export interface Scope {
  rackboot: { version: string };
  cluster: { name: string; domain: string; vars: Vars };
  /** null for an unknown machine (discovery/default configs). */
  node: {
    name: string;
    group: string | null;
    image: string | null;
    loader: Loader;
    discovered: boolean;
    /** cluster vars < group vars < node vars. */
    vars: Vars;
    interfaces: InterfaceScope[];
    /** The interfaces by name: node.iface.eth1.address */
    iface: Record<string, InterfaceScope>;
  } | null;
  /** The effective vars (same as node.vars; cluster vars for an unknown machine). */
  vars: Vars;
  /** The interface being booted (whose MAC or address asked); partial for unknown machines. */
  iface: InterfaceScope | null;
  network: NetworkScope | null;
  loader: Loader;
  image: ImageScope;
  boot: {
    kernel: BootFileScope;
    initrd: BootFileScope;
    /** This node's iPXE script URL (per booted MAC). */
    ipxeScript: string | null;
  };
  server: {
    /** This server's address on the booted network. */
    address: string | null;
    /** Address per network name. */
    addresses: Record<string, string>;
    tftpPort: number;
    httpBase: string;
    /** httpBase + /api/v1 */
    apiUrl: string;
  };
  /** What the booted node uses to report ready (POST report.url with Bearer report.token). */
  report: { token: string; url: string } | null;
  nfs: { mounts: MountScope[]; byName: Record<string, MountScope> };
  discovery: { image: string | null; enabled: boolean };
  request: { protocol: 'tftp' | 'http' | 'api'; address: string | null; path: string | null };
  /** The template being rendered (set by the renderer). */
  template: string;
}

export function networkScope(net: ResolvedNetwork, cfg: LoadedConfig): NetworkScope {
  return {
    name: net.name,
    cidr: net.config.cidr,
    address: formatIpv4(net.cidr.network),
    netmask: formatIpv4(net.cidr.mask),
    prefix: net.cidr.prefix,
    broadcast: formatIpv4(net.cidr.broadcast),
    serverAddress: net.config.serverAddress,
    router: net.config.router ?? null,
    dns: net.dns.map(formatIpv4),
    domain: net.config.domain ?? cfg.config.cluster.domain,
    mtu: net.config.mtu ?? null,
    interface: net.config.interface ?? null,
  };
}

export function interfaceScope(i: InterfaceRecord, cfg: LoadedConfig): InterfaceScope {
  const net = cfg.networkByName.get(i.network);
  const ns = net ? networkScope(net, cfg) : undefined;
  const ip = parseIpv4(i.ipv4);
  return {
    name: i.name,
    mac: i.mac,
    pxemac: `01-${i.mac.replaceAll(':', '-')}`,
    network: i.network,
    address: i.ipv4,
    ipv4: i.ipv4,
    hexip: ip === undefined ? '' : ipv4ToHex(ip),
    netmask: ns?.netmask ?? '',
    prefix: ns?.prefix ?? 0,
    cidr: ns ? `${i.ipv4}/${ns.prefix}` : i.ipv4,
    router: ns?.router ?? null,
    dns: ns?.dns ?? [],
    domain: ns?.domain ?? cfg.config.cluster.domain,
    mtu: ns?.mtu ?? null,
    serverAddress: ns?.serverAddress ?? '',
  };
}

export function imageScope(name: string | null, d: ImageDescription | undefined): ImageScope {
  return {
    name,
    version: d?.version ?? null,
    cmdline: d?.cmdline ?? '',
    kernelSize: d?.kernelSize ?? null,
    initrdSize: d?.initrdSize ?? null,
    known: !!d,
    built: !!d?.version,
  };
}

/** NFS mounts a node can make: each export over the booted network if allowed, else over another of its networks. */
export function mountsFor(exports: ExportCatalog | undefined, networks: string[]): MountScope[] {
  if (!exports) return [];
  const out: MountScope[] = [];
  for (const name of exports.names()) {
    for (const network of networks) {
      const m = exports.mountFor(name, network);
      if (m) {
        out.push({ name, source: m.source, options: m.options, contentDir: m.contentDir ?? null, network });
        break;
      }
    }
  }
  return out;
}

function serverScope(cfg: LoadedConfig, net: ResolvedNetwork | undefined): Scope['server'] {
  const base = httpBase(cfg, net);
  return {
    address: net ? net.config.serverAddress : null,
    addresses: Object.fromEntries(cfg.networks.map((n) => [n.name, n.config.serverAddress])),
    tftpPort: cfg.config.tftp.port,
    httpBase: base,
    apiUrl: `${base}/api/v1`,
  };
}

export interface NodeScopeInput {
  cfg: LoadedConfig;
  apiToken: string;
  node: NodeRecord;
  group: GroupRecord | undefined;
  effective: EffectiveNode;
  /** The booted interface (defaults to the node's first). */
  iface: InterfaceRecord | undefined;
  loader: Loader;
  image: ImageDescription | undefined;
  exports: ExportCatalog | undefined;
  discovery: Scope['discovery'];
  request: Scope['request'];
  template: string;
}

export function nodeScope(x: NodeScopeInput): Scope {
  const { cfg, node } = x;
  const ifaces = node.interfaces.map((i) => interfaceScope(i, cfg));
  const booted = x.iface ?? node.interfaces[0];
  const bootedScope = booted ? ifaces.find((i) => i.mac === booted.mac) ?? interfaceScope(booted, cfg) : null;
  const net = booted ? cfg.networkByName.get(booted.network) : undefined;
  const server = serverScope(cfg, net);
  const mountNets = [...new Set([booted?.network, ...node.interfaces.map((i) => i.network)].filter((n): n is string => !!n))];
  const mounts = mountsFor(x.exports, mountNets);
  return {
    rackboot: { version: VERSION },
    cluster: { name: cfg.config.cluster.name, domain: cfg.config.cluster.domain, vars: cfg.config.cluster.vars },
    node: {
      name: node.name,
      group: node.group,
      image: x.effective.image,
      loader: x.effective.loader,
      discovered: node.discovered,
      vars: x.effective.vars,
      interfaces: ifaces,
      iface: Object.fromEntries(ifaces.map((i) => [i.name, i])),
    },
    vars: x.effective.vars,
    iface: bootedScope,
    network: net ? networkScope(net, cfg) : null,
    loader: x.loader,
    image: imageScope(x.effective.image, x.image),
    boot: {
      kernel: { tftp: TFTP_BOOT.kernel(node.name), url: server.httpBase + HTTP_BOOT.kernel(node.name) },
      initrd: { tftp: TFTP_BOOT.initrd(node.name), url: server.httpBase + HTTP_BOOT.initrd(node.name) },
      ipxeScript: booted ? `${server.httpBase}/${IPXE.script(booted.mac)}` : null,
    },
    server,
    report: { token: nodeReportToken(x.apiToken, node.name), url: `${server.apiUrl}/nodes/${node.name}/events` },
    nfs: { mounts, byName: Object.fromEntries(mounts.map((m) => [m.name, m])) },
    discovery: x.discovery,
    request: x.request,
    template: x.template,
  };
}

export interface UnknownScopeInput {
  cfg: LoadedConfig;
  /** The requester's MAC when the request named it. */
  mac: string | undefined;
  /** The requester's address and its network, when known. */
  address: string | undefined;
  network: ResolvedNetwork | undefined;
  loader: Loader;
  discoveryImage: string | null;
  image: ImageDescription | undefined;
  exports: ExportCatalog | undefined;
  request: Scope['request'];
  template: string;
}

/** The scope of a default/discovery config for a machine the registry does not know. */
export function unknownScope(x: UnknownScopeInput): Scope {
  const { cfg } = x;
  const net = x.network;
  const ns = net ? networkScope(net, cfg) : null;
  const server = serverScope(cfg, net);
  const img = x.discoveryImage;
  const ip = x.address !== undefined ? parseIpv4(x.address) : undefined;
  // Always an object (fields empty when unknown) so {{#if iface.mac}} works in discovery templates.
  const iface: InterfaceScope = {
    name: '',
    mac: x.mac ?? '',
    pxemac: x.mac ? `01-${x.mac.replaceAll(':', '-')}` : '',
    network: ns?.name ?? '',
    address: x.address ?? '',
    ipv4: x.address ?? '',
    hexip: ip === undefined ? '' : ipv4ToHex(ip),
    netmask: ns?.netmask ?? '',
    prefix: ns?.prefix ?? 0,
    cidr: ns && x.address ? `${x.address}/${ns.prefix}` : '',
    router: ns?.router ?? null,
    dns: ns?.dns ?? [],
    domain: ns?.domain ?? cfg.config.cluster.domain,
    mtu: ns?.mtu ?? null,
    serverAddress: ns?.serverAddress ?? '',
  };
  const enabled = !!img && !!x.image?.version;
  return {
    rackboot: { version: VERSION },
    cluster: { name: cfg.config.cluster.name, domain: cfg.config.cluster.domain, vars: cfg.config.cluster.vars },
    node: null,
    vars: cfg.config.cluster.vars,
    iface,
    network: ns,
    loader: x.loader,
    image: imageScope(img, x.image),
    boot: {
      kernel: { tftp: DISCOVER_BOOT.kernel, url: `${server.httpBase}/${DISCOVER_BOOT.kernel}` },
      initrd: { tftp: DISCOVER_BOOT.initrd, url: `${server.httpBase}/${DISCOVER_BOOT.initrd}` },
      ipxeScript: x.mac ? `${server.httpBase}/${IPXE.script(x.mac)}` : null,
    },
    server,
    report: null,
    nfs: { mounts: [], byName: {} },
    discovery: { image: img, enabled },
    request: x.request,
    template: x.template,
  };
}
