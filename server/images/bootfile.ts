// A BootFile made of parts read at any offset: the stored RAM disk (through
// a descriptor opened at lookup, so a rebuild or prune that replaces the
// file cannot change what this transfer sends), zero padding, then the
// per-node overlay from memory. read(start, end) may span parts.
import { streamOfReads, type BootFile, type FileSegment } from '../boot/content.js';
import type { OpenedFile } from '../boot/descriptor.js';

export interface Part {
  size: number;
  read(start: number, end: number): Promise<Buffer>;
  segment: FileSegment;
}

/**
 * A file read through one descriptor. TFTP asks for one block (512-1468
 * bytes) at a time, in order: reads go through a 256 KiB window so a
 * transfer costs one read(2) per window, not one per block.
 */
export function filePart(file: OpenedFile, size: number, windowSize = 256 * 1024): Part {
  let win: { start: number; buf: Buffer } | undefined;
  const readAt = async (start: number, len: number): Promise<Buffer> => {
    const buf = Buffer.allocUnsafe(len);
    let off = 0;
    while (off < len) {
      const bytesRead = await file.read(buf, off, len - off, start + off);
      if (bytesRead === 0) throw new Error(`short read at ${start + off} of a ${size}-byte file`);
      off += bytesRead;
    }
    return buf;
  };
  return {
    size,
    segment: { fd: file.fd, offset: 0, length: size },
    async read(start, end) {
      end = Math.min(end, size);
      if (end <= start) return Buffer.alloc(0);
      if (win && start >= win.start && end <= win.start + win.buf.length) return win.buf.subarray(start - win.start, end - win.start);
      if (end - start >= windowSize) return readAt(start, end - start);
      const w = { start, buf: await readAt(start, Math.min(windowSize, size - start)) };
      win = w;
      return w.buf.subarray(0, end - start);
    },
  };
}

export function bufferPart(data: Buffer): Part {
  return { size: data.length, read: async (s, e) => data.subarray(s, Math.min(e, data.length)), segment: { data } };
}

export function zeroPart(size: number): Part {
  return { size, read: async (s, e) => Buffer.alloc(Math.max(0, Math.min(e, size) - s)), segment: { zero: size } };
}

const CHUNK = 256 * 1024;

export function partsFile(parts: Part[], meta: Pick<BootFile, 'kind' | 'etag' | 'node'>, close?: () => Promise<void>): BootFile {
  const live = parts.filter((p) => p.size > 0);
  const size = live.reduce((n, p) => n + p.size, 0);
  const read = async (start: number, end: number): Promise<Buffer> => {
    start = Math.max(0, start);
    end = Math.min(end, size);
    if (end <= start) return Buffer.alloc(0);
    const out: Buffer[] = [];
    let base = 0;
    for (const p of live) {
      const pEnd = base + p.size;
      if (end > base && start < pEnd) out.push(await p.read(Math.max(start, base) - base, Math.min(end, pEnd) - base));
      base = pEnd;
      if (base >= end) break;
    }
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  };
  let closed = false;
  return {
    size,
    ...meta,
    read,
    segments: live.map((p) => p.segment),
    stream: (start = 0, end = size) => streamOfReads(read, start, end, CHUNK),
    close: close
      ? async () => {
          if (closed) return;
          closed = true;
          await close();
        }
      : undefined,
  };
}
