// Read-ahead for a transfer: the file is read in chunks of whole blocks (at
// least a window, about 128 KiB), one chunk ahead of what is being sent, so
// sending a block is a synchronous slice and the disk (or a provider's
// composed image) is asked a few times per 100 blocks instead of once per
// block. Chunks behind the window are dropped: memory per transfer stays at
// two or three chunks whatever the file size.
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
  }

  private chunkOf(block: number): number {
    return Math.floor((block - 1) / this.blocksPerChunk);
  }

  private loadChunk(c: number): Buffer | Promise<Buffer> {
    const have = this.chunks.get(c);
    if (have) return have;
    const start = c * this.blocksPerChunk * this.blksize;
    const end = Math.min(this.size, start + this.blocksPerChunk * this.blksize);
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

  /** The payload of block b (1-based) when it is in memory; starts loading it (and the next chunk) otherwise. */
  get(block: number): Buffer | undefined {
    const c = this.chunkOf(block);
    const chunk = this.loadChunk(c);
    this.loadChunkAhead(c + 1);
    if (!Buffer.isBuffer(chunk)) return undefined;
    const off = ((block - 1) % this.blocksPerChunk) * this.blksize;
    return chunk.subarray(off, Math.min(chunk.length, off + this.blksize));
  }

  /** Resolves when block b can be had from get(). */
  async wait(block: number): Promise<void> {
    await this.loadChunk(this.chunkOf(block));
  }

  private loadChunkAhead(c: number): void {
    if (c * this.blocksPerChunk * this.blksize < this.size) void this.loadChunk(c);
  }

  /** Drop chunks that hold only blocks below `block` (acknowledged). */
  release(block: number): void {
    const keep = this.chunkOf(block);
    for (const c of this.chunks.keys()) if (c < keep) this.chunks.delete(c);
  }
}
