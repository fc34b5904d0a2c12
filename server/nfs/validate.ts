// Export checks. Pure apart from the injected file-system probe, so the
// config check (no file system) and the service (with it) share one rule set.
// Every issue names the field it is about.
import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, sep } from 'node:path';
import type { ResolvedNetwork } from '../config/networks.js';
import type { ExportSpec } from './model.js';

export interface Issue {
  /** The export's own key: "path", "networks[1]", "access". */
  field: string;
  message: string;
}

export interface FsProbe {
  /** The path with symlinks resolved; undefined when it does not exist. */
  realpath(p: string): string | undefined;
  isDirectory(p: string): boolean;
}

export const nodeFs: FsProbe = {
  realpath(p) {
    try {
      return realpathSync.native(p);
    } catch {
      return undefined;
    }
  },
  isDirectory(p) {
    try {
      return statSync(p).isDirectory();
    } catch {
      return false;
    }
  },
};

/** An export already accepted, that a new one must not collide with. */
export interface Neighbour {
  spec: ExportSpec;
  realPath?: string;
}

export interface CheckContext {
  networks: ReadonlyMap<string, ResolvedNetwork>;
  /** Content roots: real paths when `fs` is given, else absolute paths. */
  roots: readonly string[];
  others: readonly Neighbour[];
  /** Omitted: skip the checks that need the file system (the config check). */
  fs?: FsProbe;
}

/**
 * Characters an export path may hold. Both the exports(5) file and
 * ganesha.conf need quoting or octal escapes beyond these; refusing them
 * keeps the renderers trivially safe.
 */
const SAFE_PATH = /^\/[A-Za-z0-9._+@,:~/-]*$/;

export function isUnder(root: string, p: string): boolean {
  const r = root.endsWith(sep) ? root : root + sep;
  return p === root || p.startsWith(r);
}

export function checkExport(spec: ExportSpec, ctx: CheckContext): { issues: Issue[]; realPath?: string } {
  const issues: Issue[] = [];
  const bad = (field: string, message: string) => issues.push({ field, message });

  for (const o of ctx.others) {
    if (o.spec.name === spec.name) bad('name', `an export named '${spec.name}' already exists`);
    else if (o.spec.pseudo === spec.pseudo) bad('pseudo', `'${spec.pseudo}' is already the pseudo path of export '${o.spec.name}'`);
  }

  const known = [...ctx.networks.keys()];
  const seen = new Set<string>();
  spec.networks.forEach((n, i) => {
    if (n === '*' || n.includes('/')) bad(`networks[${i}]`, `'${n}' is not a cluster network name: exports go to whole cluster networks by name (have: ${known.join(', ') || 'none'})`);
    else if (!ctx.networks.has(n)) bad(`networks[${i}]`, `no network '${n}' (have: ${known.join(', ') || 'none'})`);
    else if (seen.has(n)) bad(`networks[${i}]`, `'${n}' is listed twice`);
    seen.add(n);
  });
  if (!spec.networks.length) bad('networks', 'at least one network must be allowed');

  if (spec.access === 'rw' && !spec.allowRwNetwork) {
    bad('access', `rw to whole networks (${spec.networks.join(', ')}) lets every host there write: set allowRwNetwork: true to mean it`);
  }

  let realPath: string | undefined;
  if (!isAbsolute(spec.path)) bad('path', `'${spec.path}' is not an absolute path`);
  else if (!SAFE_PATH.test(spec.path)) bad('path', `'${spec.path}' has characters rackboot does not export (allowed: letters, digits and . _ + @ , : ~ - /)`);
  else if (ctx.fs) {
    realPath = ctx.fs.realpath(spec.path);
    if (realPath === undefined) bad('path', `${spec.path} does not exist`);
    else if (!ctx.fs.isDirectory(realPath)) bad('path', `${spec.path} is not a directory`);
    else if (!ctx.roots.some((r) => isUnder(r, realPath!))) {
      const via = realPath !== spec.path ? ` (it resolves to ${realPath})` : '';
      bad('path', `${spec.path}${via} is outside the content roots (${ctx.roots.join(', ')}): set nfs.contentRoots or move the content`);
    } else if (!SAFE_PATH.test(realPath)) bad('path', `${spec.path} resolves to '${realPath}', which has characters rackboot does not export`);
  } else if (!ctx.roots.some((r) => isUnder(r, spec.path))) {
    bad('path', `${spec.path} is outside the content roots (${ctx.roots.join(', ')})`);
  }

  // Two exports of one directory must agree on how it is served.
  const mine = realPath ?? spec.path;
  for (const o of ctx.others) {
    if (o.spec.name === spec.name) continue;
    if ((o.realPath ?? o.spec.path) !== mine) continue;
    for (const k of ['access', 'squash', 'sync'] as const) {
      if (o.spec[k] !== spec[k]) {
        bad(k, `export '${o.spec.name}' serves the same directory ${mine} with ${k} ${String(o.spec[k])}; two exports of one directory must agree (${String(spec[k])} here)`);
      }
    }
  }
  return { issues, realPath };
}
