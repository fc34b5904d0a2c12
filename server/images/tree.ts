// The RAM disk's file tree before it is archived: directories, files (host
// paths or bytes), symlinks and device nodes, keyed by canonical path.
// Paths given to it are resolved through the tree's own symlinks, so with
// the merged-/usr skeleton (bin -> usr/bin, lib -> usr/lib, ...) a host file
// /lib/x86_64-linux-gnu/libc.so.6 lands in usr/lib/x86_64-linux-gnu/. Host
// symlinks are kept as symlinks and their targets added too, so library
// sonames and the loader's /lib64 path resolve in the image as on the host.
import { lstatSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { sortEntries, type CpioEntry } from './cpio.js';

export type TreeEntry = CpioEntry & { /** what put it there, for the manifest and errors */ from?: string };

const MAX_LINKS = 40;

export class ImageTree {
  private readonly entries = new Map<string, TreeEntry>();

  /** Canonical relative form of an image path ('/usr//bin/' -> 'usr/bin'); '..' above the root stays at the root, as in the kernel. */
  static clean(p: string): string {
    return posix.normalize('/' + p).replace(/^\/+/, '').replace(/\/+$/, '');
  }

  get(path: string): TreeEntry | undefined {
    return this.entries.get(ImageTree.clean(path));
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Follow the tree's symlinks through the directory part of `path`,
   * creating missing directories; returns the canonical path of the entry
   * itself (its last component is not followed).
   */
  resolveParent(path: string, from?: string): string {
    let parts = ImageTree.clean(path).split('/').filter(Boolean);
    let cur: string[] = [];
    let links = 0;
    while (parts.length > 1) {
      const name = parts.shift()!;
      const p = [...cur, name].join('/');
      const e = this.entries.get(p);
      if (!e) {
        this.entries.set(p, { type: 'dir', path: p, mode: 0o755, from });
        cur.push(name);
      } else if (e.type === 'dir') cur.push(name);
      else if (e.type === 'symlink') {
        if (++links > MAX_LINKS) throw new Error(`too many levels of symlinks in image path ${path}`);
        const t = e.target;
        const base = isAbsolute(t) ? [] : cur;
        parts = [...ImageTree.clean([...base, t].join('/')).split('/').filter(Boolean), ...parts];
        cur = [];
      } else throw new Error(`image path ${path}: ${p} is a ${e.type}, not a directory (from ${e.from ?? 'the recipe'})`);
    }
    return [...cur, ...parts].join('/');
  }

  /** Resolve every symlink of a path (also the last component); the canonical path, or undefined when it dangles. */
  realpath(path: string): string | undefined {
    let p = this.resolveParentNoCreate(path);
    for (let i = 0; p !== undefined && i < MAX_LINKS; i++) {
      const e = this.entries.get(p);
      if (e?.type !== 'symlink') return p;
      const t = e.target;
      p = this.resolveParentNoCreate(isAbsolute(t) ? t : join(dirname('/' + p), t));
    }
    return undefined;
  }

  private resolveParentNoCreate(path: string): string | undefined {
    let parts = ImageTree.clean(path).split('/').filter(Boolean);
    let cur: string[] = [];
    for (let links = 0; parts.length > 1; ) {
      const name = parts.shift()!;
      const e = this.entries.get([...cur, name].join('/'));
      if (!e) return undefined;
      if (e.type === 'dir') cur.push(name);
      else if (e.type === 'symlink') {
        if (++links > MAX_LINKS) return undefined;
        parts = [...ImageTree.clean([...(isAbsolute(e.target) ? [] : cur), e.target].join('/')).split('/').filter(Boolean), ...parts];
        cur = [];
      } else return undefined;
    }
    return [...cur, ...parts].join('/');
  }

  private put(path: string, make: (p: string) => TreeEntry, replace: boolean): string {
    // A recipe's destination with '..' in it is a mistake, not a path to clamp.
    if (path.split('/').includes('..')) throw new Error(`image path ${JSON.stringify(path)} has '..' in it`);
    const p = this.resolveParent(path);
    if (!p) throw new Error(`cannot replace the image root`);
    const old = this.entries.get(p);
    if (old) {
      const e = make(p);
      if (old.type === 'dir' && e.type === 'dir') {
        old.mode = e.mode;
        return p;
      }
      if (old.type === 'dir') throw new Error(`image path /${p} is a directory (from ${old.from ?? 'the skeleton'}); cannot put a ${e.type} there (from ${e.from})`);
      if (!replace) return p;
    }
    this.entries.set(p, make(p));
    return p;
  }

  addDir(path: string, mode = 0o755, from?: string): string {
    return this.put(path, (p) => ({ type: 'dir', path: p, mode, from }), true);
  }

  addData(path: string, data: Buffer | string, mode = 0o644, from?: string): string {
    const b = typeof data === 'string' ? Buffer.from(data) : data;
    return this.put(path, (p) => ({ type: 'file', path: p, mode, size: b.length, data: b, from }), true);
  }

  addSymlink(path: string, target: string, from?: string, replace = true): string {
    return this.put(path, (p) => ({ type: 'symlink', path: p, target, from }), replace);
  }

  addDevice(path: string, kind: 'char' | 'block', major: number, minor: number, mode = 0o600): string {
    return this.put(path, (p) => ({ type: kind, path: p, mode, major, minor, from: 'skeleton' }), true);
  }

  /**
   * Copy a host path into the image: a file as a file (mode kept), a
   * symlink as the same symlink plus what it points to, a directory with
   * everything below it when `recursive`. `replace: false` keeps an entry
   * already there (busybox applet links never hide real binaries).
   */
  addHost(hostPath: string, imagePath: string = hostPath, opts: { recursive?: boolean; replace?: boolean; from?: string; mode?: number } = {}, depth = 0): string {
    if (depth > MAX_LINKS) throw new Error(`too many levels of symlinks at ${hostPath}`);
    const from = opts.from ?? hostPath;
    let st;
    try {
      st = lstatSync(hostPath);
    } catch (e) {
      throw new Error(`${hostPath}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
    if (st.isSymbolicLink()) {
      const target = readlinkSync(hostPath);
      const p = this.addSymlink(imagePath, target, from, opts.replace ?? true);
      const hostNext = isAbsolute(target) ? posix.normalize(target) : join(realpathSync(dirname(hostPath)), target);
      const imageNext = isAbsolute(target) ? posix.normalize(target) : join(dirname('/' + p), target);
      this.addHost(hostNext, imageNext, { ...opts, mode: undefined }, depth + 1);
      return p;
    }
    if (st.isDirectory()) {
      const p = this.addDir(imagePath, opts.mode ?? st.mode & 0o7777, from);
      if (opts.recursive) {
        for (const name of readdirSync(hostPath).sort()) this.addHost(join(hostPath, name), join('/' + p, name), { ...opts, mode: undefined }, depth);
      }
      return p;
    }
    if (st.isFile()) {
      return this.put(imagePath, (p) => ({ type: 'file', path: p, mode: opts.mode ?? st.mode & 0o7777, size: st.size, source: hostPath, from }), opts.replace ?? true);
    }
    throw new Error(`${hostPath}: not a regular file, directory or symlink (device nodes go in the skeleton)`);
  }

  /** Every entry, sorted: parents before children, host-independent order. */
  list(): TreeEntry[] {
    return sortEntries([...this.entries.values()]);
  }

  /** Bytes of file content the archive will hold. */
  contentBytes(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.type === 'file') n += e.size;
    return n;
  }
}

/** A merged-/usr root with the mount points and device nodes an init needs before devtmpfs. */
export function skeleton(tree: ImageTree): void {
  for (const d of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib64', 'dev', 'proc', 'sys', 'run', 'etc', 'var', 'mnt']) tree.addDir(d, 0o755, 'skeleton');
  tree.addDir('tmp', 0o1777, 'skeleton');
  tree.addDir('root', 0o700, 'skeleton');
  for (const l of ['bin', 'sbin', 'lib', 'lib64']) tree.addSymlink(l, `usr/${l}`, 'skeleton');
  tree.addSymlink('var/run', '../run', 'skeleton');
  tree.addDevice('dev/console', 'char', 5, 1, 0o600);
  tree.addDevice('dev/null', 'char', 1, 3, 0o666);
}
