// The per-node overlay: a small uncompressed cpio appended to the shared
// RAM disk when it is served, so a node change never rebuilds an image. It
// carries who the node is (hostname, interfaces by MAC with their
// addresses, API URL and report token, NFS mounts) as a shell-sourceable
// /etc/rackboot/node.env, the same as JSON, and the recipe's node-overlay
// templates rendered in the node's scope.
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { cpioBuffer, sortEntries, type CpioEntry } from './cpio.js';
import { renderTemplate, shellQuote } from './render.js';

export interface OverlayInterface {
  name: string;
  mac: string;
  network: string;
  ipv4: string;
  prefix: number;
  router: string | null;
  dns: string[];
}

export interface OverlayInput {
  /** null for the discovery overlay (an unknown machine). */
  node: {
    name: string;
    group: string | null;
    vars: Record<string, unknown>;
    interfaces: OverlayInterface[];
  } | null;
  image: { name: string; version: string; cmdline: string };
  cluster: { name: string; domain: string; vars: Record<string, unknown> };
  domain: string;
  apiUrl: string;
  /** The node's report token, or the discovery token. */
  token: string;
  /** contentDir: the directory inside the mount that holds the live content (a `current` symlink switched by content syncs). */
  exports: Array<{ name: string; source: string; options: string; contentDir?: string }>;
  /** The recipe's node-overlay directory. */
  templatesDir: string | null;
  mtime?: number;
}

export interface Overlay {
  data: Buffer;
  /** Short content hash (ETag part). */
  hash: string;
}

/** Files of the overlay, before archiving. */
export function overlayFiles(inp: OverlayInput): Map<string, { data: Buffer; mode: number } | { target: string }> {
  const files = new Map<string, { data: Buffer; mode: number } | { target: string }>();
  const put = (p: string, text: string | Buffer, mode = 0o644) => files.set(p, { data: Buffer.from(text), mode });
  const n = inp.node;
  const env: Array<[string, string]> = [
    ['RACKBOOT_NODE', n?.name ?? ''],
    ['RACKBOOT_GROUP', n?.group ?? ''],
    ['RACKBOOT_CLUSTER', inp.cluster.name],
    ['RACKBOOT_DOMAIN', inp.domain],
    ['RACKBOOT_API', inp.apiUrl],
    [n ? 'RACKBOOT_TOKEN' : 'RACKBOOT_DISCOVERY_TOKEN', inp.token],
    ['RACKBOOT_IMAGE', inp.image.name],
    ['RACKBOOT_IMAGE_VERSION', inp.image.version],
    ['RACKBOOT_IFACES', (n?.interfaces ?? []).map((i) => `${i.name}=${i.mac}`).join(' ')],
    ['RACKBOOT_ADDRESSES', (n?.interfaces ?? []).map((i) => `${i.name}=${i.ipv4}/${i.prefix}`).join(' ')],
  ];
  put(
    'etc/rackboot/node.env',
    '# Written by rackboot for this node when it served the RAM disk.\n' + env.map(([k, v]) => `${k}=${shellQuote(v)}\n`).join(''),
  );
  // One line per NFS export the node may mount: NAME SOURCE OPTIONS CONTENT-DIR ('.' for the mount's root).
  put('etc/rackboot/exports', inp.exports.map((e) => `${e.name} ${e.source} ${e.options || 'defaults'} ${e.contentDir || '.'}\n`).join(''));
  const json = {
    node: n,
    image: inp.image,
    cluster: { name: inp.cluster.name, domain: inp.domain },
    api: inp.apiUrl,
    exports: inp.exports,
  };
  put('etc/rackboot/node.json', JSON.stringify(json, null, 1) + '\n');
  if (n) {
    const fqdn = `${n.name}.${inp.domain}`;
    put('etc/hostname', n.name + '\n');
    put('etc/hosts', `127.0.0.1 localhost\n${n.interfaces.map((i) => `${i.ipv4} ${fqdn} ${n.name}\n`).join('')}`);
  }
  if (inp.templatesDir) {
    const scope = {
      node: n ? { ...n, vars: { ...inp.cluster.vars, ...n.vars } } : null,
      vars: { ...inp.cluster.vars, ...(n?.vars ?? {}) },
      image: inp.image,
      cluster: inp.cluster,
      api: inp.apiUrl,
      exports: inp.exports,
    };
    addDir(inp.templatesDir, '', files, (file, text) => renderTemplate(`${inp.image.name}/node-overlay${file.slice(inp.templatesDir!.length)}`, text, scope));
  }
  return files;
}

function addDir(
  dir: string,
  prefix: string,
  files: Map<string, { data: Buffer; mode: number } | { target: string }>,
  render: (file: string, text: string) => string,
): void {
  for (const name of readdirSync(dir).sort()) {
    const src = join(dir, name);
    const st = lstatSync(src);
    const dest = prefix ? `${prefix}/${name}` : name;
    if (st.isDirectory()) addDir(src, dest, files, render);
    else if (st.isSymbolicLink()) files.set(dest, { target: readlinkSync(src) });
    else if (name.endsWith('.hbs')) files.set(dest.slice(0, -4), { data: Buffer.from(render(src, readFileSync(src, 'utf8'))), mode: st.mode & 0o111 ? 0o755 : 0o644 });
    else files.set(dest, { data: readFileSync(src), mode: st.mode & 0o111 ? 0o755 : 0o644 });
  }
}

/** The overlay archive: parent directories first, then the files; deterministic bytes. */
export async function buildOverlay(inp: OverlayInput): Promise<Overlay> {
  const files = overlayFiles(inp);
  const dirs = new Set<string>();
  for (const p of files.keys()) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const entries: CpioEntry[] = [...dirs].map((d) => ({ type: 'dir', path: d, mode: 0o755 }) as CpioEntry);
  for (const [path, f] of files) {
    entries.push('target' in f ? { type: 'symlink', path, target: f.target } : { type: 'file', path, mode: f.mode, size: f.data.length, data: f.data });
  }
  // Inode numbers far above the base image's (the kernel only uses them to link hard links).
  const data = await cpioBuffer(sortEntries(entries), { mtime: inp.mtime ?? 0, firstInode: 0x40000000 });
  return { data, hash: createHash('sha256').update(data).digest('hex').slice(0, 16) };
}
