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
import { constants, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { Readable } from 'node:stream';
import { BootRefused, type BootClient, type BootContentProvider, type BootFile } from '../boot/content.js';
import { confineName } from './names.js';

const LOADER_NAME = /\.(0|c32|e32|e64|efi|kpxe|kkpxe|kkkpxe|pxe|lkrn|P|bs)$/;

export interface StaticFilesOptions {
  root: string;
  loaderDirs: readonly string[];
}

export class StaticFiles implements BootContentProvider {
  readonly name = 'static';

  constructor(private readonly opts: StaticFilesOptions) {}

  async lookup(path: string, _client: BootClient): Promise<BootFile | undefined> {
    // Callers confine names already; a provider that opens files checks again.
    const c = confineName(path);
    if (!c.ok || c.path !== path) throw new BootRefused(`refused file name '${path}'`, 403);
    const inRoot = await openInside(this.opts.root, path, 'file');
    if (inRoot) return inRoot;
    if (path.includes('/')) return undefined;
    for (const dir of this.opts.loaderDirs) {
      // Distribution directories: plain names only, their own symlinks (ipxe ROMs) are trusted.
      const f = await openInside(dir, path, 'loader', false);
      if (f) return f;
    }
    return undefined;
  }
}

async function realRoot(root: string): Promise<string | undefined> {
  try {
    return await fsp.realpath(root);
  } catch {
    return undefined;
  }
}

function code(err: unknown): string | undefined {
  return (err as { code?: string })?.code;
}

/** Open root/rel as a regular file; undefined when there is none. */
async function openInside(root: string, rel: string, kind: 'file' | 'loader', confine = true): Promise<BootFile | undefined> {
  const rootReal = await realRoot(root);
  if (rootReal === undefined) return undefined;
  let fh: FileHandle;
  try {
    // O_NONBLOCK: a FIFO planted in the root must not hang the open.
    fh = await fsp.open(join(rootReal, rel), constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const c = code(err);
    if (c === 'ENOENT' || c === 'ENOTDIR' || c === 'ELOOP' || c === 'ENAMETOOLONG') return undefined;
    if (c === 'EACCES' || c === 'EPERM') throw new BootRefused(`permission denied reading '${rel}'`, 403);
    throw err;
  }
  try {
    if (confine) {
      const real = await openedPath(fh, join(rootReal, rel));
      if (real !== rootReal && !real.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep)) {
        throw new BootRefused(`'${rel}' is a symlink leading outside the TFTP root (to ${real})`, 403);
      }
    }
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      return undefined;
    }
    return fileOf(fh, st.size, `"${st.ino.toString(16)}-${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`, kind === 'loader' || LOADER_NAME.test(rel) ? 'loader' : 'file');
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}

/** The path the kernel opened (race-free), falling back to realpath where /proc is absent. */
async function openedPath(fh: FileHandle, fallback: string): Promise<string> {
  try {
    return await fsp.readlink(`/proc/self/fd/${fh.fd}`);
  } catch {
    return fsp.realpath(fallback);
  }
}

function fileOf(fh: FileHandle, size: number, etag: string, kind: BootFile['kind']): BootFile {
  let closed = false;
  const read = async (start: number, end: number): Promise<Buffer> => {
    end = Math.min(end, size);
    if (start >= end) return Buffer.alloc(0);
    const buf = Buffer.allocUnsafe(end - start);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, start + got);
      if (bytesRead === 0) break; // shrank under us: the caller sees a short read
      got += bytesRead;
    }
    return got === buf.length ? buf : buf.subarray(0, got);
  };
  return {
    size,
    etag,
    kind,
    read,
    segments: [{ fd: fh.fd, offset: 0, length: size }],
    stream(start = 0, end = size) {
      end = Math.min(end, size);
      if (start >= end) return Readable.from([]);
      return fh.createReadStream({ start, end: end - 1, autoClose: false });
    },
    async close() {
      if (closed) return;
      closed = true;
      await fh.close();
    },
  };
}
