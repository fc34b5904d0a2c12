// HTTP boot bodies by sendfile(2): the native/tftp-pump addon's http_sendfile
// writes a BootFile's segments (file ranges, bytes, zeros) on the response's
// socket from a few threads, with no copy through Node. Apache serves the same
// files this way; Node, reading into buffers and writing them, reached 0.4x of
// it with 50 downloads at once (bench/httpboot K50). Optional: without the
// addon (no compiler at install) the route reads and writes in Node.
import { createRequire } from 'node:module';
import type { ServerResponse } from 'node:http';
import type { FileSegment } from '../boot/content.js';

/** An opaque native handle. */
export type SendHandle = { readonly __send: unique symbol };

export interface SendfileAddon {
  /** Writes the segments on the socket; done(null | why, bytes sent) once, on this thread. Throws on bad arguments. */
  send(sockFd: number, segments: readonly FileSegment[], opts: { stallMs: number }, done: (err: string | null, bytes: number) => void): SendHandle;
  /** Ends a body being sent (its done() reports "aborted"). */
  abort(h: SendHandle): void;
}

let loaded: { addon?: SendfileAddon; error?: string } | undefined;

/** The addon, or why it is not there. */
export function loadSendfile(): { addon?: SendfileAddon; error?: string } {
  if (!loaded) {
    try {
      loaded = { addon: createRequire(import.meta.url)('rackboot-tftp-pump/sendfile.cjs') as SendfileAddon };
    } catch (err) {
      loaded = { error: (err as Error).message.split('\n')[0] };
    }
  }
  return loaded;
}

/** The parts of `segs` that make bytes [start, end) of the whole, in order. */
export function sliceSegments(segs: readonly FileSegment[], start: number, end: number): FileSegment[] {
  const out: FileSegment[] = [];
  let base = 0;
  for (const s of segs) {
    const len = 'fd' in s ? s.length : 'data' in s ? s.data.length : s.zero;
    const from = Math.max(start, base);
    const to = Math.min(end, base + len);
    if (from < to) {
      const a = from - base;
      const b = to - base;
      if ('fd' in s) out.push({ fd: s.fd, offset: s.offset + a, length: b - a });
      else if ('data' in s) out.push({ data: s.data.subarray(a, b) });
      else out.push({ zero: b - a });
    }
    base += len;
    if (base >= end) break;
  }
  return out;
}

/**
 * The descriptor of a response's plain TCP socket, when its body may be
 * written there directly: none for TLS, a response still queued behind an
 * earlier one on the connection (no socket yet), or a closed one.
 */
export function socketFd(res: ServerResponse): number | undefined {
  const sock = res.socket;
  if (!sock || sock.destroyed || 'encrypted' in sock) return undefined;
  // net.Socket does not expose its libuv handle in its types; TCPWrap's fd is the descriptor.
  const fd = (sock as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** Resolves once everything written to the socket so far has reached the kernel (the response head). */
export function written(res: ServerResponse): Promise<void> {
  const sock = res.socket;
  if (!sock || sock.writableLength === 0) return Promise.resolve();
  // Writes complete in order: this empty one's callback comes after the head's.
  return new Promise((resolve) => sock.write(Buffer.alloc(0), () => resolve()));
}
