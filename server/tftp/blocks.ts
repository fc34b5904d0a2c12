// Read-ahead for a transfer: the file is read in chunks of whole blocks (at
// least a window, about 128 KiB), one chunk ahead of what is being sent, so
// sending a block is a synchronous slice and the disk (or a provider's
// composed image) is asked a few times per 100 blocks instead of once per
// block. Chunks behind the window are dropped: memory per transfer stays at
// two or three chunks whatever the file size. The first chunk is only the
// first window: a transfer whose client never answers (perhaps a forged
// request, hundreds a second) reads a few KiB, not 256.
import type { BootFile } from '../boot/content.js';

const TARGET_CHUNK = 128 * 1024;

export class FileChangedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FileChangedError';
  }
}

export class BlockSource {
  readonly blocksPerChunk: number;
  /** Chunk 0 holds the first window only. */
  private readonly firstBlocks: number;
  private readonly chunks = new Map<number, Buffer | Promise<Buffer>>();
  /** The first read error; every later request rejects with it. */
  failed: Error | undefined;

  constructor(
    private readonly file: BootFile,
    private readonly size: number,
    private readonly blksize: number,
    windowsize: number,
  ) {
    this.blocksPerChunk = Math.max(windowsize, Math.ceil(TARGET_CHUNK / blksize));
    this.firstBlocks = windowsize;
  }

  private chunkOf(block: number): number {
    return block <= this.firstBlocks ? 0 : 1 + Math.floor((block - 1 - this.firstBlocks) / this.blocksPerChunk);
  }

  /** The first block of chunk c. */
  private chunkStart(c: number): number {
    return c === 0 ? 1 : 1 + this.firstBlocks + (c - 1) * this.blocksPerChunk;
  }

  private loadChunk(c: number): Buffer | Promise<Buffer> {
    const have = this.chunks.get(c);
    if (have) return have;
    const start = (this.chunkStart(c) - 1) * this.blksize;
    const end = Math.min(this.size, (this.chunkStart(c + 1) - 1) * this.blksize);
    const p = this.file.read(start, end).then(
      (buf) => {
        if (buf.length !== end - start) {
          throw new FileChangedError(`read ${buf.length} bytes at offset ${start} where ${end - start} were expected (file changed during the transfer?)`);
        }
        if (this.chunks.get(c) === p) this.chunks.set(c, buf);
        return buf;
      },
      (err: unknown) => {
        this.failed ??= err instanceof Error ? err : new Error(String(err));
        throw this.failed;
      },
    );
    p.catch(() => undefined); // observed by whoever awaits; never an unhandled rejection
    this.chunks.set(c, p);
    return p;
  }

  /**
   * The payload of block b (1-based) when it is in memory; starts loading it
   * (and, with `ahead`, the next chunk) otherwise.
   */
  get(block: number, ahead = true): Buffer | undefined {
    const c = this.chunkOf(block);
    const chunk = this.loadChunk(c);
    if (ahead) this.loadChunkAhead(c + 1);
    if (!Buffer.isBuffer(chunk)) return undefined;
    const off = (block - this.chunkStart(c)) * this.blksize;
    return chunk.subarray(off, Math.min(chunk.length, off + this.blksize));
  }

  /** Resolves when block b can be had from get(). */
  async wait(block: number): Promise<void> {
    await this.loadChunk(this.chunkOf(block));
  }

  private loadChunkAhead(c: number): void {
    if ((this.chunkStart(c) - 1) * this.blksize < this.size) void this.loadChunk(c);
  }

  /** Drop chunks that hold only blocks below `block` (acknowledged). */
  release(block: number): void {
    const keep = this.chunkOf(block);
    for (const c of this.chunks.keys()) if (c < keep) this.chunks.delete(c);
  }
}
