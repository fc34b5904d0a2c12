// Recipe -> kernel + RAM disk in the store. Resolution first (kernel,
// modules, binaries with their libraries, files, rendered overlay): any
// missing input fails the build here, naming it, before a byte is written.
// Then one streaming pass: sorted tree -> cpio newc -> compression -> temp
// file, hashing as it goes; the kernel is copied and hashed beside it; the
// version is the hash of both plus the command line; the directory is
// renamed into the store and made current.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, lstatSync, openSync, readSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { copyFile, link, open, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { compressStream, KERNEL_OPTION } from './compress.js';
import { cpioStream } from './cpio.js';
import { readElfDynamic } from './elf.js';
import { resolveKernel, type KernelSource } from './kernel.js';
import { LibraryResolver } from './libs.js';
import { loadModuleIndex, modulesAliasText, modulesDepText, readModule, resolveModules, type ModuleResolution } from './modules.js';
import type { Recipe } from './recipe.js';
import { renderTemplate } from './render.js';
import { versionOf, type ImageManifest, type ImageStore } from './store.js';
import { ImageTree, skeleton } from './tree.js';

export interface BuildProgress {
  phase: 'resolve' | 'write' | 'commit' | 'done';
  /** Bytes of archive content written so far / in all (phase 'write'). */
  done?: number;
  total?: number;
  message?: string;
}

export interface BuildOptions {
  store: ImageStore;
  /** cluster.{name,domain,vars} for the overlay templates. */
  cluster: { name: string; domain: string; vars: Record<string, unknown> };
  log?: (line: string) => void;
  progress?: (p: BuildProgress) => void;
  /** Stop early (a cancelled job). */
  signal?: AbortSignal;
}

export interface BuildResult {
  name: string;
  version: string;
  /** False when an identical build was already stored. */
  changed: boolean;
  manifest: ImageManifest;
  pruned: string[];
}

export class BuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BuildError';
  }
}

interface Resolved {
  tree: ImageTree;
  kernel: KernelSource;
  modules: ModuleResolution;
  skipped: string[];
}

/** Everything that goes into the image, resolved against this host; throws BuildError naming a missing input. */
export async function resolveRecipe(recipe: Recipe, opts: Pick<BuildOptions, 'store' | 'cluster' | 'log'>): Promise<Resolved> {
  const log = opts.log ?? (() => undefined);
  const skipped: string[] = [];
  const kernel = await resolveKernel(recipe.kernel, opts.store.cacheDir).catch((e: Error) => {
    throw new BuildError(e.message);
  });
  log(`kernel ${kernel.release} from ${kernel.origin}`);
  const needOpt = KERNEL_OPTION[recipe.compression];
  if (needOpt && kernel.config && kernel.config.get(needOpt) !== 'y') {
    throw new BuildError(`compression ${recipe.compression}: kernel ${kernel.release} cannot unpack it (${needOpt} is not set in its config); use gzip`);
  }

  const tree = new ImageTree();
  skeleton(tree);

  // Kernel modules, dependencies first.
  let modules: ModuleResolution = { builtin: [], load: [], files: [], skipped: [] };
  if (recipe.modules.length) {
    if (!kernel.modulesDir) throw new BuildError(`modules: kernel ${kernel.release} has no modules directory (looked for lib/modules/${kernel.release})`);
    const index = await loadModuleIndex(kernel.modulesDir, { persist: kernel.owned });
    try {
      modules = resolveModules(index, recipe.modules);
    } catch (e) {
      throw new BuildError(`modules: ${(e as Error).message}`);
    }
    const base = `lib/modules/${kernel.release}`;
    for (const f of modules.files) {
      const src = join(kernel.modulesDir, f);
      const dest = `${base}/${f.replace(/\.ko\.(gz|xz|zst)$/, '.ko')}`;
      if (f.endsWith('.ko')) tree.addHost(src, dest, { mode: 0o644, from: 'modules' });
      else tree.addData(dest, await readModule(src), 0o644, 'modules');
    }
    tree.addData(`${base}/modules.dep`, modulesDepText(index, modules.files), 0o644, 'modules');
    tree.addData(`${base}/modules.alias`, modulesAliasText(index, modules.files), 0o644, 'modules');
    for (const extra of ['modules.builtin', 'modules.builtin.modinfo', 'modules.order']) {
      try {
        tree.addHost(join(kernel.modulesDir, extra), `${base}/${extra}`, { mode: 0o644, from: 'modules' });
      } catch {
        /* optional */
      }
    }
    if (modules.builtin.length) log(`modules built into the kernel: ${modules.builtin.join(', ')}`);
    if (modules.skipped.length) log(`optional modules not in this kernel, skipped: ${modules.skipped.join(', ')}`);
    skipped.push(...modules.skipped.map((m) => `module ${m}`));
    log(`modules: ${modules.load.length} to load, ${modules.files.length} files with dependencies (index from ${index.source})`);
  }
  tree.addData('etc/rackboot/modules', modules.load.map((m) => m + '\n').join(''), 0o644, 'modules');
  tree.addData('etc/rackboot/kernel-release', kernel.release + '\n', 0o644, 'kernel');

  // Binaries and shared objects, with their libraries and loader.
  const libs = new LibraryResolver();
  const elfFiles = (p: string): string[] => {
    const st = statSync(p);
    if (!st.isDirectory()) return [p];
    const out: string[] = [];
    for (const n of readdirSync(p).sort()) {
      const q = join(p, n);
      const l = lstatSync(q);
      if (l.isDirectory()) out.push(...elfFiles(q));
      else if (l.isFile() && isElf(q)) out.push(q);
    }
    return out;
  };
  let libCount = 0;
  // Inputs missing from this host, all named in one error (an operator fixes them in one go).
  const missing: string[] = [];
  for (const b of recipe.binaries) {
    let files: string[];
    try {
      files = elfFiles(b.path);
    } catch {
      if (b.optional) {
        skipped.push(`binary ${b.path}`);
        log(`optional binary ${b.path} is not on this host, skipped`);
        continue;
      }
      missing.push(`binaries: ${b.path} does not exist on this host`);
      continue;
    }
    for (const f of files) {
      let closure;
      try {
        closure = await libs.closure(f);
      } catch (e) {
        throw new BuildError(`binaries: ${(e as Error).message}`);
      }
      for (const o of closure) {
        if (!tree.get(o.path)) libCount++;
        tree.addHost(o.path, o.path, { from: o.path === f ? 'binaries' : `needed by ${f}` });
      }
    }
  }
  if (recipe.binaries.length) log(`binaries: ${recipe.binaries.length} entries, ${libCount} files with libraries`);

  // Busybox: the base system. A dynamic busybox brings its libraries.
  let applets: string[] = [];
  if (recipe.busybox) {
    let bb: Buffer | undefined;
    try {
      bb = readFileSync(recipe.busybox);
    } catch {
      missing.push(`busybox: ${recipe.busybox} does not exist on this host (Debian package busybox-static)`);
    }
    if (bb) {
      const info = readElfDynamic(bb);
      if (!info.ok) throw new BuildError(`busybox: ${recipe.busybox}: ${info.error}`);
      if (info.value.interpreter) for (const o of await libs.closure(recipe.busybox)) tree.addHost(o.path, o.path, { from: 'busybox' });
      tree.addHost(recipe.busybox, '/bin/busybox', { from: 'busybox', mode: 0o755 });
      applets = busyboxApplets(recipe.busybox);
    }
  }

  // Files and directories as they are.
  for (const f of recipe.files) {
    try {
      tree.addHost(f.src, f.dest, { recursive: true, from: 'files', mode: f.mode });
    } catch (e) {
      if (f.optional) {
        skipped.push(`file ${f.src}`);
        log(`optional file ${f.src} is not on this host, skipped`);
        continue;
      }
      missing.push(`files: ${(e as Error).message}`);
    }
  }
  if (missing.length) throw new BuildError(missing.join('; '));

  // The overlay, with templates rendered in the image and cluster scope.
  if (recipe.overlay) {
    const scope = {
      image: { name: recipe.name, description: recipe.description, cmdline: recipe.cmdline, kernelRelease: kernel.release, compression: recipe.compression },
      cluster: opts.cluster,
      vars: { ...recipe.vars, ...opts.cluster.vars },
      modules: modules.load,
      has: Object.fromEntries(recipe.binaries.map((b) => [b.path, !skipped.includes(`binary ${b.path}`)])),
    };
    addOverlay(tree, recipe.overlay, '', (file, text) => renderTemplate(`${recipe.name}/${relative(recipe.dir, file)}`, text, scope));
  }

  // Applet links last, never replacing a real file.
  if (recipe.busybox) for (const a of applets) tree.addSymlink('/' + a, '/bin/busybox', 'busybox applet', false);

  return { tree, kernel, modules, skipped };
}

const appletCache = new Map<string, { stamp: string; applets: string[] }>();

/** The applets a busybox binary has (`busybox --list-full`), remembered per binary while it stays the same file. */
function busyboxApplets(path: string): string[] {
  const st = statSync(path);
  const stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  const hit = appletCache.get(path);
  if (hit && hit.stamp === stamp) return hit.applets;
  const list = spawnSync(path, ['--list-full'], { encoding: 'utf8' });
  if (list.status !== 0) throw new BuildError(`busybox: ${path} --list-full failed: ${list.stderr || list.error?.message}`);
  const applets = list.stdout.split('\n').filter(Boolean).sort();
  appletCache.set(path, { stamp, applets });
  return applets;
}

function isElf(p: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(p, 'r');
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.readUInt32BE(0) === 0x7f454c46;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Modes of files from a source checkout: 0755 when executable, else 0644,
 * so the image does not depend on the umask the recipe was checked out with.
 */
export const checkoutMode = (mode: number): number => (mode & 0o111 ? 0o755 : 0o644);

/** Copy a directory over the tree; *.hbs rendered, the rest as is (symlinks kept, modes normalised). */
export function addOverlay(tree: ImageTree, dir: string, prefix: string, render: (file: string, text: string) => string): void {
  for (const name of readdirSync(dir).sort()) {
    const src = join(dir, name);
    const st = lstatSync(src);
    const dest = `${prefix}/${name}`;
    if (st.isDirectory()) {
      tree.addDir(dest, 0o755, 'overlay');
      addOverlay(tree, src, dest, render);
    } else if (st.isSymbolicLink()) tree.addSymlink(dest, readlinkSync(src), 'overlay');
    else if (name.endsWith('.hbs')) tree.addData(dest.slice(0, -4), render(src, readFileSync(src, 'utf8')), checkoutMode(st.mode), 'overlay');
    else tree.addHost(src, dest, { from: 'overlay', mode: checkoutMode(st.mode) });
  }
}

const kernelHashes = new Map<string, string>();

/**
 * The kernel into the build directory, and its SHA-256. A kernel on the
 * store's file system (an unpacked .deb in the cache) is hard-linked, not
 * copied; its hash is remembered by inode, size and mtime.
 */
async function placeKernel(src: string, dest: string): Promise<string> {
  const st = await stat(src);
  const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  try {
    await link(src, dest);
  } catch {
    await copyFile(src, dest);
  }
  let sha = kernelHashes.get(key);
  if (!sha) {
    const h = createHash('sha256');
    for await (const b of createReadStream(dest, { highWaterMark: 1 << 20 })) h.update(b as Buffer);
    sha = h.digest('hex');
    if (kernelHashes.size > 64) kernelHashes.clear();
    kernelHashes.set(key, sha);
  }
  return sha;
}

async function* counted(src: AsyncIterable<Buffer>, onBytes: (n: number) => void, signal?: AbortSignal): AsyncGenerator<Buffer> {
  for await (const b of src) {
    if (signal?.aborted) throw new BuildError('build cancelled');
    onBytes(b.length);
    yield b;
  }
}

/** Build an image from its recipe into the store and make it current. */
export async function buildImage(recipe: Recipe, opts: BuildOptions): Promise<BuildResult> {
  const t0 = Date.now();
  const log = opts.log ?? (() => undefined);
  const progress = opts.progress ?? (() => undefined);
  progress({ phase: 'resolve', message: `resolving ${recipe.name}` });
  const { tree, kernel, modules, skipped } = await resolveRecipe(recipe, opts);
  const entries = tree.list();
  const total = tree.contentBytes();
  log(`archive: ${entries.length} entries, ${(total / 1048576).toFixed(1)} MiB of file content, compression ${recipe.compression}`);

  const tmp = await opts.store.tempDir();
  try {
    let done = 0;
    let lastReport = 0;
    const onBytes = (n: number) => {
      done += n;
      if (done - lastReport >= 1 << 20 || done === total) {
        lastReport = done;
        progress({ phase: 'write', done: Math.min(done, total), total });
      }
    };
    progress({ phase: 'write', done: 0, total });
    const tWrite = Date.now();
    let rawBytes = 0;
    const cpio = counted(cpioStream(entries, { mtime: recipe.mtime }), (n) => {
      rawBytes += n;
      onBytes(n);
    }, opts.signal);
    const hash = createHash('sha256');
    let outBytes = 0;
    const [, kSha] = await Promise.all([
      (async () => {
        const fh = await open(join(tmp, 'initrd'), 'w', 0o644);
        try {
          // Compression keeps several blocks in flight while a piece is written.
          for await (const b of compressStream(recipe.compression, cpio, recipe.compressionLevel)) {
            hash.update(b);
            outBytes += b.length;
            await fh.write(b);
          }
        } finally {
          await fh.close();
        }
      })(),
      placeKernel(kernel.image, join(tmp, 'kernel')),
    ]);
    log(`resolved in ${tWrite - t0} ms, archived and compressed in ${Date.now() - tWrite} ms`);
    progress({ phase: 'commit' });
    const iSha = hash.digest('hex');
    const version = versionOf(kSha, iSha, recipe.cmdline);
    const manifest: ImageManifest = {
      name: recipe.name,
      version,
      builtAt: new Date().toISOString(),
      cmdline: recipe.cmdline,
      description: recipe.description,
      compression: recipe.compression,
      recipe: { file: recipe.file, sha256: createHash('sha256').update(recipe.text).digest('hex') },
      kernel: { origin: kernel.origin, release: kernel.release, sha256: kSha, size: statSync(join(tmp, 'kernel')).size },
      initrd: { sha256: iSha, size: outBytes, uncompressedSize: rawBytes, entries: entries.length },
      modules: { load: modules.load, files: modules.files, builtin: modules.builtin, skipped: modules.skipped },
      skipped,
      buildMs: 0,
      contents: entries.map((e) => ({
        path: e.path,
        type: e.type,
        ...(e.type !== 'symlink' ? { mode: e.mode } : {}),
        ...(e.type === 'file' ? { size: e.size } : {}),
        ...(e.type === 'symlink' ? { target: e.target } : {}),
        ...(e.from ? { from: e.from } : {}),
      })),
      nodeOverlay: recipe.nodeOverlay,
    };
    const existed = opts.store.versions(recipe.name).some((v) => v.version === version);
    manifest.buildMs = Date.now() - t0;
    await writeFile(join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
    const pruned = await opts.store.commit(recipe.name, version, tmp);
    log(`${recipe.name} ${version}: initrd ${(outBytes / 1048576).toFixed(1)} MiB (${(rawBytes / 1048576).toFixed(1)} MiB uncompressed), kernel ${kernel.release}, ${manifest.buildMs} ms${existed ? ' (identical to a stored build)' : ''}`);
    if (pruned.length) log(`pruned old versions: ${pruned.join(', ')}`);
    progress({ phase: 'done' });
    return { name: recipe.name, version, changed: !existed, manifest: existed ? await opts.store.manifest(recipe.name, version) : manifest, pruned };
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
