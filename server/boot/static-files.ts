// The static boot provider: files under tftp.root (operator files, bpbatch,
// boot loaders), then well-known loader names from the distribution's package
// directories (pxelinux.0, ldlinux.c32, undionly.kpxe, ipxe.efi,
// syslinux.efi ...) so they work without copying. Registered on the boot hub,
// so TFTP and HTTP serve the same files.
//
// Files are opened once per transfer and read at positions (no whole-file
// reads). Confinement is checked on what was actually opened: the path of the
// open descriptor (/proc/self/fd/N) must lie inside the root's real path, so a
// symlink leading out of the root is refused even if it is swapped in while we
// look at it.
import { readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BootRefused, streamOfReads, type BootClient, type BootContentProvider, type BootFile } from './content.js';
import { openedFile, openRegularFile } from './descriptor.js';
import { confineName } from './names.js';

/** Bytes per read of stream(), as a file stream's default. */
const STREAM_CHUNK = 64 * 1024;
const LOADER_NAME = /\.(0|c32|e32|e64|efi|kpxe|kkpxe|kkkpxe|pxe|lkrn|P|bs)$/;

export interface StaticFilesOptions {
  root: string;
  loaderDirs: readonly string[];
  /** Hub path -> a file elsewhere, trusted as the loader dirs are (Debian's signed binaries under the names they are served by). */
  aliases?: Readonly<Record<string, string>>;
}

export class StaticFiles implements BootContentProvider {
  readonly name = 'static';

  constructor(private readonly opts: StaticFilesOptions) {}

  async lookup(path: string, _client: BootClient): Promise<BootFile | undefined> {
    // Callers confine names already; a provider that opens files checks again.
    const c = confineName(path);
    if (!c.ok || c.path !== path) throw new BootRefused(`refused file name '${path}'`, 403);
    const inRoot = openInside(this.opts.root, path, 'file');
    if (inRoot) return inRoot;
    const alias = this.opts.aliases?.[path];
    if (alias) return openInside(dirname(alias), basename(alias), 'loader', false);
    if (path.includes('/')) return undefined;
    for (const dir of this.opts.loaderDirs) {
      // Distribution directories: plain names only, their own symlinks (ipxe ROMs) are trusted.
      const f = openInside(dir, path, 'loader', false);
      if (f) return f;
    }
    return undefined;
  }
}

/**
 * A root's real path, re-resolved at most once a second: realpath(3) walks
 * every component with lstat (~25 µs a root), and a request for a loader
 * name tries the root and every loader directory. An operator who re-points
 * a root symlink is followed within the second. Keys are configured roots
 * only, never client input.
 */
const realRoots = new Map<string, { at: number; real: string | undefined }>();
const REAL_ROOT_TTL_MS = 1000;

function realRoot(root: string): string | undefined {
  const now = performance.now();
  const hit = realRoots.get(root);
  if (hit && now - hit.at < REAL_ROOT_TTL_MS) return hit.real;
  let real: string | undefined;
  try {
    real = realpathSync.native(root);
  } catch {
    real = undefined;
  }
  realRoots.set(root, { at: now, real });
  return real;
}

function code(err: unknown): string | undefined {
  return (err as { code?: string })?.code;
}

/**
 * Open root/rel as a regular file; undefined when there is none.
 *
 * Synchronous on purpose: these are a few metadata calls on a local directory
 * (microseconds each, from the dentry cache), while each asynchronous call is
 * a round trip through libuv's thread pool. Four of those made a request wait
 * ~0.4 ms before its first packet, against ~15 µs for dnsmasq, and a PXE boot
 * makes ten or so requests in a row (docs/benchmarks.md). A root on a slow
 * network file system would stall the event loop instead; tftp.root is local.
 */
function openInside(root: string, rel: string, kind: 'file' | 'loader', confine = true): BootFile | undefined {
  const rootReal = realRoot(root);
  if (rootReal === undefined) return undefined;
  const full = join(rootReal, rel);
  let opened: ReturnType<typeof openRegularFile>;
  try {
    // Most lookups miss (PXELINUX's config walk, the loader directories tried in turn): a stat
    // that returns undefined costs a tenth of an open that throws (Node builds an Error for it).
    // What is opened afterwards is still checked on its descriptor.
    if (!statSync(full, { throwIfNoEntry: false })) return undefined;
    opened = openRegularFile(full, (fd) => {
      if (!confine) return;
      const real = openedPath(fd, full);
      if (real !== rootReal && !real.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep)) {
        throw new BootRefused(`'${rel}' is a symlink leading outside the TFTP root`, 403, `it leads to ${real}`);
      }
    });
  } catch (err) {
    if (err instanceof BootRefused) throw err;
    const c = code(err);
    if (c === 'ENOENT' || c === 'ENOTDIR' || c === 'ELOOP' || c === 'ENAMETOOLONG') return undefined;
    if (c === 'EACCES' || c === 'EPERM') throw new BootRefused(`permission denied reading '${rel}'`, 403);
    throw err;
  }
  if (!opened) return undefined;
  const { fd, stat: st } = opened;
  return fileOf(fd, st.size, `"${st.ino.toString(16)}-${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`, kind === 'loader' || LOADER_NAME.test(rel) ? 'loader' : 'file');
}

/** The path the kernel opened (race-free), falling back to realpath where /proc is absent. */
function openedPath(fd: number, fallback: string): string {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return realpathSync.native(fallback);
  }
}

/** Reads before close() and streams by reads (streamOfReads): a read in flight keeps the descriptor open. */
function fileOf(fd: number, size: number, etag: string, kind: BootFile['kind']): BootFile {
  const file = openedFile(fd);
  const readRange = async (start: number, end: number): Promise<Buffer> => {
    end = Math.min(end, size);
    if (start >= end) return Buffer.alloc(0);
    const buf = Buffer.allocUnsafe(end - start);
    let got = 0;
    while (got < buf.length) {
      const n = await file.read(buf, got, buf.length - got, start + got);
      if (n === 0) break; // shrank under us: the caller sees a short read
      got += n;
    }
    return got === buf.length ? buf : buf.subarray(0, got);
  };
  return {
    size,
    etag,
    kind,
    read: readRange,
    segments: [{ fd, offset: 0, length: size }],
    stream: (start = 0, end = size) => streamOfReads(readRange, start, Math.min(end, size), STREAM_CHUNK),
    close: () => file.close(),
  };
}
