// A file descriptor a boot provider opened at lookup, read at positions until
// the transfer closes it. Shared by the static files and the image kernels and
// RAM disks. A raw descriptor, not a FileHandle: providers open it with
// synchronous calls (each asynchronous call is a round trip through libuv's
// thread pool, and under a boot storm those queue; docs/benchmarks.md, TFTP
// scenario C), and the native TFTP data path reads the same number itself.
//
// A descriptor is closed only when no read still uses it: a number closed
// under a read in flight could be handed to another open meanwhile, and the
// read would return that file's bytes.
import { closeSync, constants, fstatSync, openSync, read, type Stats } from 'node:fs';
import { promisify } from 'node:util';

const readAt = promisify(read);

export interface OpenedFile {
  readonly fd: number;
  /** Reads up to `length` bytes at `position` into buf[offset...]; 0 at the end of the file. Rejects once closed. */
  read(buf: Buffer, offset: number, length: number, position: number): Promise<number>;
  /** Waits for reads in flight, then closes. Later reads are refused. */
  close(): Promise<void>;
}

export function openedFile(fd: number): OpenedFile {
  let closed = false;
  let reading = 0;
  let idle: (() => void) | undefined;
  return {
    fd,
    async read(buf, offset, length, position) {
      if (closed) throw new Error('file closed');
      reading++;
      try {
        return (await readAt(fd, buf, offset, length, position)).bytesRead;
      } finally {
        if (--reading === 0) idle?.();
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      if (reading) await new Promise<void>((r) => (idle = r));
      closeSync(fd);
    },
  };
}

/**
 * Opens a file for reading with synchronous calls; undefined (and closed
 * again) when it is not a regular file. O_NONBLOCK: a FIFO or device put in
 * its place must not hang the open, and with it the event loop. `vet` runs
 * on the open descriptor first (the static provider's confinement check).
 * Open errors (ENOENT, EACCES...) are thrown for the caller to word.
 */
export function openRegularFile(path: string, vet?: (fd: number) => void): { fd: number; stat: Stats } | undefined {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    vet?.(fd);
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      closeSync(fd);
      return undefined;
    }
    return { fd, stat };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}
