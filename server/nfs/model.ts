// What an export is once defaults are filled in and its networks resolved:
// the one shape the validator, the renderers, the backends and the API share.
import { isAbsolute, join, resolve } from 'node:path';
import { formatCidr, formatIpv4 } from '../net/ipv4.js';
import type { ResolvedNetwork } from '../config/networks.js';
import type { NfsExportConfig } from './config.js';
import type { ACCESS, LAYOUTS, SQUASH } from './config.js';

export type Access = (typeof ACCESS)[number];
export type Squash = (typeof SQUASH)[number];
export type Layout = (typeof LAYOUTS)[number];
export type ExportOrigin = 'config' | 'api' | 'default';

/** An export with every default filled in (not yet checked against the file system). */
export interface ExportSpec {
  name: string;
  path: string;
  networks: string[];
  access: Access;
  squash: Squash;
  sync: boolean;
  allowRwNetwork: boolean;
  pseudo: string;
  layout: Layout;
}

export interface ExportClient {
  network: string;
  /** "10.0.0.0/24" */
  cidr: string;
  /** This server's address on that network: what a blade there mounts from. */
  serverAddress: string;
}

/** A checked export, ready to render. */
export interface ResolvedExport extends ExportSpec {
  origin: ExportOrigin;
  /** The path with every symlink resolved: what the NFS server is given. */
  realPath: string;
  clients: ExportClient[];
  /** Stable per name and path (ganesha Export_Id, kernel fsid). */
  exportId: number;
}

/** The directory inside a releases-layout export that holds the live tree. */
export const CURRENT = 'current';
export const RELEASES = 'releases';

/** Fill defaults; relative paths resolve against `base` (the working directory for the config file). */
export function toSpec(input: NfsExportConfig, base = process.cwd()): ExportSpec {
  return {
    name: input.name,
    path: isAbsolute(input.path) ? input.path : resolve(base, input.path),
    networks: [...input.networks],
    access: input.access ?? 'ro',
    squash: input.squash ?? 'root_squash',
    sync: input.sync ?? true,
    allowRwNetwork: input.allowRwNetwork ?? false,
    pseudo: input.pseudo ?? `/${input.name}`,
    layout: input.layout ?? 'releases',
  };
}

/** The export rackboot publishes when the config lists none: the shared web content, read-only, to the first network. */
export function defaultExport(contentRoot: string, networks: readonly ResolvedNetwork[]): ExportSpec | undefined {
  const first = networks[0];
  if (!first) return undefined;
  return toSpec({ name: 'www', path: join(contentRoot, 'www'), networks: [first.name], access: 'ro', layout: 'releases' });
}

export function clientsOf(spec: ExportSpec, networks: ReadonlyMap<string, ResolvedNetwork>): ExportClient[] {
  const out: ExportClient[] = [];
  for (const name of spec.networks) {
    const n = networks.get(name);
    if (n) out.push({ network: name, cidr: formatCidr(n.cidr), serverAddress: formatIpv4(n.server) });
  }
  return out;
}

/** The fields an operator sets (what the API returns and the store keeps). */
export function specOf(e: ExportSpec): ExportSpec {
  return {
    name: e.name,
    path: e.path,
    networks: [...e.networks],
    access: e.access,
    squash: e.squash,
    sync: e.sync,
    allowRwNetwork: e.allowRwNetwork,
    pseudo: e.pseudo,
    layout: e.layout,
  };
}

/** A config-file export with the key path its errors are reported under. */
export interface ConfigExport {
  spec: ExportSpec;
  origin: 'config' | 'default';
  /** "nfs.exports[2]" */
  field: string;
}

/** The exports the config file defines (or the default `www` when it lists none). */
export function configExports(cfg: { config: { nfs: { contentRoots: string[]; exports?: NfsExportConfig[] } }; networks: readonly ResolvedNetwork[] }): ConfigExport[] {
  const { exports, contentRoots } = cfg.config.nfs;
  if (exports) return exports.map((e, i) => ({ spec: toSpec(e), origin: 'config', field: `nfs.exports[${i}]` }));
  const def = defaultExport(resolve(contentRoots[0] ?? '.'), cfg.networks);
  return def ? [{ spec: def, origin: 'default', field: 'nfs.exports' }] : [];
}
