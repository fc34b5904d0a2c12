// netascii mode (RFC 1350, after RFC 764): LF goes out as CR LF and a bare CR
// as CR NUL. Each source byte maps to one or two output bytes on its own, so
// any range of the converted file can be produced from a checkpoint without
// state; the size (tsize) is counted once when the transfer starts.
import { streamOfReads, type BootFile } from '../boot/content.js';

const CR = 13;
const LF = 10;

/** Converted length of a piece of the source. */
export function convertedLength(src: Buffer): number {
  let extra = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === LF || c === CR) extra++;
  }
  return src.length + extra;
}

export function toNetascii(src: Buffer): Buffer {
  const out = Buffer.allocUnsafe(convertedLength(src));
  let o = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === LF) {
      out[o++] = CR;
      out[o++] = LF;
    } else if (c === CR) {
      out[o++] = CR;
      out[o++] = 0;
    } else {
      out[o++] = c;
    }
  }
  return out;
}

const STEP = 64 * 1024;

/**
 * The netascii view of a file. Reads the source once to count the converted
 * size, keeping the converted offset of every 64 KiB of source, so read()
 * of any range starts at the nearest checkpoint.
 */
export async function netasciiFile(src: BootFile): Promise<BootFile> {
  const checkpoints: number[] = [0]; // converted offset at source offset i*STEP
  let converted = 0;
  for (let off = 0; off < src.size; off += STEP) {
    const piece = await src.read(off, Math.min(src.size, off + STEP));
    converted += convertedLength(piece);
    checkpoints.push(converted);
  }
  const size = converted;
  const read = async (start: number, end: number): Promise<Buffer> => {
    end = Math.min(end, size);
    if (start >= end) return Buffer.alloc(0);
    // Last checkpoint at or before start.
    let lo = 0;
    let hi = checkpoints.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (checkpoints[mid]! <= start) lo = mid;
      else hi = mid - 1;
    }
    const parts: Buffer[] = [];
    const conv = checkpoints[lo]!;
    let got = 0;
    for (let off = lo * STEP; off < src.size && conv + got < end; off += STEP) {
      const piece = toNetascii(await src.read(off, Math.min(src.size, off + STEP)));
      parts.push(piece);
      got += piece.length;
    }
    const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    return all.subarray(start - conv, end - conv);
  };
  return {
    size,
    kind: src.kind,
    node: src.node,
    etag: src.etag ? `${src.etag}-netascii` : undefined,
    read,
    stream: (start = 0, end = size) => streamOfReads(read, start, end, STEP),
    close: () => src.close?.(),
  };
}
