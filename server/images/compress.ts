// Compression of the RAM disk. gzip is done pigz-style: the input is cut
// into fixed blocks, each block is deflated on its own (zlib's async calls
// run on libuv's thread pool, so blocks compress on every core at once)
// with the previous block's last 32 KiB as preset dictionary, every block
// but the last ends with a sync flush (byte-aligned), and the raw deflate
// pieces are joined under one gzip header and one CRC-32/size trailer: one
// ordinary gzip member that `gzip -t` and the kernel's inflate accept.
// Fixed block size, level and header fields make the bytes deterministic.
// zstd goes through the zstd command (Node 20's zlib has no zstd).
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

export const COMPRESSIONS = ['gzip', 'zstd', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

const deflateRaw = promisify(zlib.deflateRaw) as (buf: Buffer, opts: zlib.ZlibOptions) => Promise<Buffer>;
const WINDOW = 32 * 1024;

export interface GzipOptions {
  level?: number;
  /** Input bytes per independently compressed block. */
  blockSize?: number;
  /** Blocks compressing at once. */
  concurrency?: number;
}

/** Re-cut a stream of buffers into blocks of exactly `size` bytes (the last may be short). */
async function* blocks(source: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let have = 0;
  for await (let chunk of source) {
    while (chunk.length) {
      const take = Math.min(size - have, chunk.length);
      parts.push(chunk.subarray(0, take));
      have += take;
      chunk = chunk.subarray(take);
      if (have === size) {
        yield parts.length === 1 ? Buffer.from(parts[0]!) : Buffer.concat(parts, have);
        parts = [];
        have = 0;
      }
    }
  }
  if (have) yield Buffer.concat(parts, have);
}

function gzipHeader(level: number): Buffer {
  // magic, deflate, no flags, mtime 0, XFL (2 = max, 4 = fastest), OS 3 (Unix)
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, level >= 9 ? 2 : level <= 1 ? 4 : 0, 3]);
}

/** One gzip member from a stream of input buffers, compressed on several threads. */
export async function* gzipParallel(source: AsyncIterable<Buffer>, opts: GzipOptions = {}): AsyncGenerator<Buffer> {
  const level = opts.level ?? 6;
  // 1 MiB: the 32 KiB dictionary and a deflate stream set-up per block cost ~15% CPU at 128 KiB, ~3% here.
  const blockSize = opts.blockSize ?? 1024 * 1024;
  const concurrency = Math.max(1, opts.concurrency ?? availableParallelism() + 1);
  yield gzipHeader(level);
  let crc = 0;
  let total = 0;
  const inflight: Promise<Buffer>[] = [];
  let prev: Buffer | undefined;
  let held: Buffer | undefined;
  const launch = (block: Buffer, last: boolean) => {
    const dictionary = prev ? prev.subarray(Math.max(0, prev.length - WINDOW)) : undefined;
    const p = deflateRaw(block, {
      level,
      memLevel: 8,
      windowBits: 15,
      ...(dictionary ? { dictionary } : {}),
      finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
    });
    p.catch(() => undefined); // observed below, in order
    inflight.push(p);
    prev = block;
  };
  for await (const block of blocks(source, blockSize)) {
    crc = zlib.crc32(block, crc);
    total += block.length;
    if (held) launch(held, false);
    held = block;
    while (inflight.length >= concurrency) yield await inflight.shift()!;
  }
  launch(held ?? Buffer.alloc(0), true);
  while (inflight.length) yield await inflight.shift()!;
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(total % 0x100000000, 4);
  yield trailer;
}

/** zstd through the zstd command, streaming; every core, fixed level. */
export async function* zstdStream(source: AsyncIterable<Buffer>, level = 15, command = 'zstd'): AsyncGenerator<Buffer> {
  // -T0: every core (zstd's output does not depend on the thread count).
  const child = spawn(command, ['-q', '-c', `-${level}`, '-T0', '--no-progress'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', (e) => reject(new Error(`zstd compression needs the '${command}' command (Debian package zstd): ${e.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`zstd exited with ${code}: ${stderr.trim()}`))));
  });
  exited.catch(() => undefined);
  const feed = (async () => {
    try {
      for await (const b of source) {
        if (!child.stdin.write(b)) await new Promise<void>((r, j) => {
          child.stdin.once('drain', r);
          child.stdin.once('error', j);
        });
      }
    } finally {
      child.stdin.end();
    }
  })();
  feed.catch(() => child.kill());
  try {
    for await (const out of child.stdout) yield out as Buffer;
    await feed;
    await exited;
  } finally {
    if (child.exitCode === null) child.kill();
  }
}

export function compressStream(kind: Compression, source: AsyncIterable<Buffer>, level?: number): AsyncIterable<Buffer> {
  switch (kind) {
    case 'gzip':
      return gzipParallel(source, { level: level ?? 6 });
    case 'zstd':
      return zstdStream(source, level ?? 15);
    case 'none':
      return source;
  }
}

/** What the kernel config must enable to unpack a RAM disk compressed this way. */
export const KERNEL_OPTION: Record<Compression, string | null> = { gzip: 'CONFIG_RD_GZIP', zstd: 'CONFIG_RD_ZSTD', none: null };
