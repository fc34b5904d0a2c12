// What goes into a new release's tree (content.ts decides which tree is
// live): a tar upload unpacked under its limits (size, plain files,
// directories and symlinks only, absolute symlinks kept as they are), or a
// directory on this host copied. Errors are ContentErrors, 400/413 in the API.
import { lstat, mkdir, readdir, rm, symlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { x as extract } from 'tar';
import { runCommand } from './run.js';

/** A problem with the uploaded tree (hostile path, bad archive, too large). 400/413 in the API. */
export class ContentError extends Error {
  constructor(message: string, readonly status = 400) {
    super(message);
    this.name = 'ContentError';
  }
}

/**
 * Copy a directory on this host into a new directory `incoming` (`cp -a`,
 * the fastest copy there is; symlinks are copied as symlinks).
 */
export async function copyTree(source: string, incoming: string): Promise<{ files: number; bytes: number }> {
  const r = await runCommand('cp', ['-a', '--', `${source}/.`, incoming]);
  if (r.code !== 0) throw new ContentError(`copying ${source} failed: ${r.stderr.trim() || `cp exited ${r.code}`}`);
  return countTree(incoming);
}

/** Regular files under dir and their bytes: one `find` (a stat per file, in C), else a walk here (busybox find has no -printf). */
async function countTree(dir: string): Promise<{ files: number; bytes: number }> {
  const r = await runCommand('find', [dir, '-type', 'f', '-printf', '%s\\n']);
  if (r.code === 0) {
    const sizes = r.stdout.split('\n').filter(Boolean);
    return { files: sizes.length, bytes: sizes.reduce((a, x) => a + Number(x), 0) };
  }
  let files = 0;
  let bytes = 0;
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    files++;
    bytes += (await lstat(join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))).size;
  }
  return { files, bytes };
}

/** A tar stream unpacked into a new directory `incoming`. */
export async function unpackTar(incoming: string, source: Readable, maxBytes: number): Promise<{ files: number; bytes: number }> {
  await mkdir(incoming, { mode: 0o755 });
  let bytes = 0;
  let files = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      if (bytes > maxBytes) cb(new ContentError(`the upload is larger than nfs.maxUploadBytes (${maxBytes} bytes)`, 413));
      else cb(null, chunk);
    },
  });
  const links = new AbsoluteLinks();
  const unpack = extract({
    cwd: incoming,
    strict: true,
    preserveOwner: false,
    // Only plain files, directories and symlinks: no devices, FIFOs or hard links out of the tree.
    filter: (_p, entry) => {
      const { type, path, linkpath } = entry as { type?: string; path: string; linkpath?: string };
      const ok = type === 'File' || type === 'OldFile' || type === 'ContiguousFile' || type === 'Directory' || type === 'SymbolicLink';
      if (!ok) return false;
      // node-tar would strip the leading / of an absolute link target (and strict mode fails on that notice): made afterwards, as is.
      if (type === 'SymbolicLink' && linkpath?.startsWith('/')) return links.take(path, linkpath), false;
      links.overwritten(path);
      if (type !== 'Directory' && type !== 'SymbolicLink') files++;
      return true;
    },
  });
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (e: Error) => {
      if (failed) return;
      failed = true;
      source.unpipe?.();
      reject(e instanceof ContentError ? e : new ContentError(`bad tar upload: ${e.message}${entryOf(e)}`));
    };
    source.on('error', fail);
    counter.on('error', fail);
    unpack.on('error', fail);
    unpack.on('close', () => (failed ? undefined : resolve()));
    source.pipe(counter).pipe(unpack as unknown as NodeJS.WritableStream);
  });
  await links.make(incoming);
  return { files, bytes };
}

/** ' (entry NAME)' for a node-tar error that carries its entry, else ''. */
function entryOf(e: Error): string {
  const path = (e as { entry?: { path?: unknown } }).entry?.path;
  return typeof path === 'string' ? ` (entry '${path}')` : '';
}

/**
 * Symlinks with an absolute target, kept exactly as they are: the target is
 * resolved by the NFS clients, where /usr/share/doc is legitimate web content.
 * node-tar would strip the leading /, so these entries bypass it and are made
 * once the archive is unpacked. Their NAMES get the checks node-tar applies to
 * the rest: relative, no `..`, and nothing made through a symlink.
 */
class AbsoluteLinks {
  private readonly pending = new Map<string, string>();
  private refused: string | undefined;

  take(name: string, target: string): void {
    const parts = name.split('/');
    if (name.startsWith('/') || parts.includes('..')) {
      this.refused ??= `entry '${name}': a name must be relative and without '..'`;
      return;
    }
    const key = posix.normalize(name).replace(/\/+$/, '');
    if (key === '.' || key === '') this.refused ??= `entry '${name}': the tree's root cannot be a symlink`;
    else this.pending.set(key, target);
  }

  /** A later entry of the same name replaces an earlier one, as tar does. */
  overwritten(name: string): void {
    this.pending.delete(posix.normalize(name).replace(/\/+$/, ''));
  }

  async make(root: string): Promise<void> {
    if (this.refused) throw new ContentError(`bad tar upload: ${this.refused}`);
    for (const [name, target] of this.pending) await makeLinkIn(root, name, target);
  }
}

/** symlink(target, root/name), making missing parents, refusing to go through a symlink or a file. */
async function makeLinkIn(root: string, name: string, target: string): Promise<void> {
  const parts = name.split('/');
  let dir = root;
  for (const part of parts.slice(0, -1)) {
    dir = join(dir, part);
    const st = await lstat(dir).catch(() => undefined);
    if (!st) await mkdir(dir, { mode: 0o755 });
    else if (!st.isDirectory()) throw new ContentError(`bad tar upload: entry '${name}': '${part}' is a symlink or a file in the upload, not a directory`);
  }
  const at = join(dir, parts.at(-1)!);
  const st = await lstat(at).catch(() => undefined);
  if (st?.isDirectory()) throw new ContentError(`bad tar upload: entry '${name}': the upload also has a directory of that name`);
  if (st) await rm(at);
  await symlink(target, at);
}
