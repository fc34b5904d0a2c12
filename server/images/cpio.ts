// The cpio "newc" format (the one the Linux kernel unpacks as initramfs),
// written deterministically: inode numbers in order, fixed owner and mtime,
// every entry 4-byte aligned. A header is 110 ASCII bytes: "070701" and 13
// eight-digit hex fields; then the NUL-terminated name, padded to 4; then the
// data, padded to 4. The archive ends with an entry named TRAILER!!!.
import { open } from 'node:fs/promises';

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

/** One archive member. Paths are relative ('usr/bin/sh'), no leading '/'. */
export type CpioEntry =
  | { type: 'dir'; path: string; mode: number }
  | { type: 'file'; path: string; mode: number; size: number; data: Buffer }
  | { type: 'file'; path: string; mode: number; size: number; source: string }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'char' | 'block'; path: string; mode: number; major: number; minor: number };

export interface CpioOptions {
  /** mtime of every entry (seconds); fixed so the same inputs give the same bytes. */
  mtime?: number;
  /** First inode number; an overlay appended to another archive starts above it. */
  firstInode?: number;
}

const TRAILER = 'TRAILER!!!';
const pad4 = (n: number) => (4 - (n & 3)) & 3;
const ZEROS = Buffer.alloc(4);

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio field out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
}

export function modeOf(e: CpioEntry): number {
  switch (e.type) {
    case 'dir':
      return S_IFDIR | (e.mode & 0o7777);
    case 'file':
      return S_IFREG | (e.mode & 0o7777);
    case 'symlink':
      return S_IFLNK | 0o777;
    case 'char':
      return S_IFCHR | (e.mode & 0o7777);
    case 'block':
      return S_IFBLK | (e.mode & 0o7777);
  }
}

/** The header plus the padded name of one entry. */
export function cpioHeader(fields: { ino: number; mode: number; nlink: number; mtime: number; size: number; rdevMajor?: number; rdevMinor?: number }, name: string): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  if (nameBytes.includes(0)) throw new Error(`cpio: NUL in entry name ${JSON.stringify(name)}`);
  const head =
    '070701' +
    hex8(fields.ino) +
    hex8(fields.mode) +
    hex8(0) + // uid
    hex8(0) + // gid
    hex8(fields.nlink) +
    hex8(fields.mtime) +
    hex8(fields.size) +
    hex8(0) + // devmajor
    hex8(0) + // devminor
    hex8(fields.rdevMajor ?? 0) +
    hex8(fields.rdevMinor ?? 0) +
    hex8(nameBytes.length + 1) +
    hex8(0); // check
  const total = 110 + nameBytes.length + 1;
  const out = Buffer.alloc(total + pad4(total));
  out.write(head, 0, 'latin1');
  nameBytes.copy(out, 110);
  return out;
}

function checkPath(p: string): void {
  if (!p || p.startsWith('/') || p.split('/').some((c) => c === '' || c === '.' || c === '..')) {
    throw new Error(`cpio: bad entry path ${JSON.stringify(p)} (relative, no empty, '.' or '..' components)`);
  }
}

/**
 * The archive as a stream of buffers, entries in the order given (callers
 * sort them). File contents named by `source` are read while the previous
 * ones are being written: up to `readAhead` files are in flight.
 */
export async function* cpioStream(entries: readonly CpioEntry[], opts: CpioOptions & { readAhead?: number } = {}): AsyncGenerator<Buffer> {
  const mtime = opts.mtime ?? 0;
  let ino = opts.firstInode ?? 1;
  const readAhead = Math.max(1, opts.readAhead ?? 16);
  const pending = new Map<number, Promise<Buffer>>();
  let next = 0;
  const prefetch = (upTo: number) => {
    for (; next < entries.length && next <= upTo; next++) {
      const e = entries[next]!;
      if (e.type === 'file' && 'source' in e) pending.set(next, readExact(e.source, e.size));
    }
  };
  try {
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      checkPath(e.path);
      prefetch(i + readAhead);
      if (e.type === 'file') {
        const data = 'data' in e ? e.data : await pending.get(i)!;
        pending.delete(i);
        if (data.length !== e.size) throw new Error(`cpio: ${e.path}: size ${data.length}, expected ${e.size}`);
        yield cpioHeader({ ino: ino++, mode: modeOf(e), nlink: 1, mtime, size: data.length }, e.path);
        if (data.length) yield data;
        if (pad4(data.length)) yield ZEROS.subarray(0, pad4(data.length));
      } else if (e.type === 'symlink') {
        const t = Buffer.from(e.target, 'utf8');
        yield cpioHeader({ ino: ino++, mode: modeOf(e), nlink: 1, mtime, size: t.length }, e.path);
        yield Buffer.concat([t, ZEROS.subarray(0, pad4(t.length))]);
      } else if (e.type === 'dir') {
        yield cpioHeader({ ino: ino++, mode: modeOf(e), nlink: 2, mtime, size: 0 }, e.path);
      } else {
        yield cpioHeader({ ino: ino++, mode: modeOf(e), nlink: 1, mtime, size: 0, rdevMajor: e.major, rdevMinor: e.minor }, e.path);
      }
    }
    yield cpioHeader({ ino: 0, mode: 0, nlink: 1, mtime: 0, size: 0 }, TRAILER);
  } finally {
    // An abandoned stream must not leave reads rejecting unobserved.
    for (const p of pending.values()) p.catch(() => undefined);
  }
}

/** A whole (small) archive in memory: per-node overlays. */
export async function cpioBuffer(entries: readonly CpioEntry[], opts: CpioOptions = {}): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of cpioStream(entries, opts)) parts.push(b);
  return Buffer.concat(parts);
}

/** Read exactly `size` bytes of a file; a file that changed size since it was listed is an error, not a torn archive. */
async function readExact(path: string, size: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(size);
    let off = 0;
    while (off < size) {
      const { bytesRead } = await fh.read(buf, off, size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    const extra = await fh.read(Buffer.alloc(1), 0, 1, size);
    if (off !== size || extra.bytesRead !== 0) throw new Error(`${path} changed while the image was built (size was ${size})`);
    return buf;
  } finally {
    await fh.close();
  }
}

/** Sort entries so every directory precedes its contents and the order never depends on the host. */
export function sortEntries<T extends { path: string }>(entries: T[]): T[] {
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
