// The contract between the servers that hand out boot files (TFTP, HTTP) and
// the subsystems that make them (static tftpboot/, rendered boot configs,
// image kernels and RAM disks with per-node overlays). A server asks the hub
// for a path on behalf of a client; the first provider that knows the path
// answers. Paths reach providers already confined and normalised: relative,
// '/'-separated, no '..', no NUL, no leading '/'.
import { Readable } from 'node:stream';

export interface BootClient {
  /** Source address of the request (IPv4 text). */
  address: string;
  protocol: 'tftp' | 'http';
  /** When the request itself names the MAC (PXELINUX 01-<mac> names, ?mac=). */
  mac?: string;
}

export interface BootFile {
  /** Exact size in bytes: TFTP tsize, HTTP Content-Length. */
  size: number;
  /** Stable tag of the content (HTTP ETag); a content hash where there is one. */
  etag?: string;
  /** What it is, for events and metrics. */
  kind: 'loader' | 'config' | 'kernel' | 'initrd' | 'file';
  /** The node it was made for, when one was identified (events go on its timeline). */
  node?: string;
  /** Bytes [start, end). May be called many times, in any order (TFTP retransmits). */
  read(start: number, end: number): Promise<Buffer>;
  /** A stream of bytes [start, end) (HTTP, Range requests). */
  stream(start?: number, end?: number): Readable;
  /** Release what lookup() opened (file handles). Called once, when the transfer ends. */
  close?(): Promise<void> | void;
  /**
   * What the bytes are made of, in order, when every part is a descriptor
   * range, a buffer or zeros: the native TFTP data path reads them itself.
   * Descriptors stay open until close(). Absent: only read() and stream().
   */
  segments?: readonly FileSegment[];
}

/** A part of a BootFile: a range of an open descriptor, bytes in memory, or zeros. */
export type FileSegment = { fd: number; offset: number; length: number } | { data: Buffer } | { zero: number };

export interface BootContentProvider {
  readonly name: string;
  /** undefined: not mine (the hub asks the next provider). Throw BootRefused to stop with a reason. */
  lookup(path: string, client: BootClient): Promise<BootFile | undefined>;
  /**
   * Asked before any provider looks the path up: throw BootRefused to stop
   * this client getting the path from any provider (the renderer stops a
   * PXELINUX config walk falling through to another config after the
   * client's own failed to render).
   */
  veto?(path: string, client: BootClient): void;
}

/** A provider knows the path but will not serve it to this client (logged; TFTP ERROR 2, HTTP 403/404). */
export class BootRefused extends Error {
  /**
   * @param message what the client is told
   * @param logDetail what only the log gets (e.g. where a refused symlink leads: a client must not learn the server's paths)
   */
  constructor(message: string, readonly status: 403 | 404 = 404, readonly logDetail?: string) {
    super(message);
    this.name = 'BootRefused';
  }
}

/**
 * BootFile.stream() for content read at positions: bytes [start, end) by
 * read() calls of `chunk` bytes, one at a time, each only when the consumer
 * wants more (a stream that is never read reads nothing).
 */
export function streamOfReads(read: BootFile['read'], start: number, end: number, chunk: number): Readable {
  return Readable.from(
    (async function* () {
      for (let at = start; at < end; at += chunk) yield await read(at, Math.min(end, at + chunk));
    })(),
    { objectMode: false },
  );
}

/** A whole in-memory file as a BootFile (rendered configs, overlays). */
export function bufferFile(data: Buffer, kind: BootFile['kind'], extra: Partial<Pick<BootFile, 'etag' | 'node'>> = {}): BootFile {
  return {
    size: data.length,
    kind,
    ...extra,
    read: async (start, end) => data.subarray(start, Math.min(end, data.length)),
    stream: (start = 0, end = data.length) => Readable.from([data.subarray(start, end)], { objectMode: false }),
    segments: [{ data }],
  };
}
