// Option negotiation for a read request (RFC 2347 OACK, 2348 blksize, 2349
// tsize and timeout, 7440 windowsize). Pure: request options + limits ->
// what the transfer uses and what goes in the OACK, or an ERROR 8.

export interface OptionLimits {
  /** Largest block size granted (config maxBlksize, path MTU). */
  maxBlksize: number;
  maxWindowsize: number;
}

export interface Negotiated {
  blksize: number;
  windowsize: number;
  /** Retransmission timeout the client asked for, in ms (RFC 2349); undefined: ours. */
  timeoutMs: number | undefined;
  /** Options to acknowledge, in the client's order; empty: no OACK, DATA 1 starts the transfer. */
  oack: Array<[string, string]>;
  /** Options we ignored (unknown names), for the log. */
  ignored: string[];
}

export type NegotiationResult = { ok: true; value: Negotiated } | { ok: false; message: string };

/**
 * Most payload bytes in one window. A window leaves in a burst (one send per
 * 64 KiB with segmentation offload); a client whose socket cannot hold it
 * drops the tail every time, and the transfer crawls by timeouts (atftp at
 * blksize 8192, windowsize 64 on loopback: 20 s for 2 MB instead of 15 ms).
 * 128 KiB of payload fitted a Linux socket's default receive buffer (208 KiB,
 * charged per datagram with overhead) in our tests at the default
 * maxWindowsize; RFC 7440 lets the OACK grant less.
 */
export const MAX_WINDOW_BYTES = 128 * 1024;

function integer(v: string): number | undefined {
  return /^\d{1,10}$/.test(v.trim()) ? Number(v.trim()) : undefined;
}

export function negotiate(options: ReadonlyArray<readonly [string, string]>, size: number, limits: OptionLimits): NegotiationResult {
  const out: Negotiated = { blksize: 512, windowsize: 1, timeoutMs: undefined, oack: [], ignored: [] };
  const seen = new Set<string>();
  for (const [name, value] of options) {
    if (seen.has(name)) return { ok: false, message: `option '${name}' given twice` };
    seen.add(name);
    switch (name) {
      case 'blksize': {
        const n = integer(value);
        if (n === undefined || n < 8 || n > 65464) return { ok: false, message: `blksize '${value}' is not a number in 8..65464` };
        out.blksize = Math.min(n, limits.maxBlksize);
        out.oack.push(['blksize', String(out.blksize)]);
        break;
      }
      case 'windowsize': {
        const n = integer(value);
        if (n === undefined || n < 1 || n > 65535) return { ok: false, message: `windowsize '${value}' is not a number in 1..65535` };
        out.windowsize = Math.min(n, limits.maxWindowsize);
        out.oack.push(['windowsize', String(out.windowsize)]);
        break;
      }
      case 'tsize': {
        // In a read request the client sends 0 and we answer with the size; any value is accepted.
        if (integer(value) === undefined) return { ok: false, message: `tsize '${value}' is not a number` };
        out.oack.push(['tsize', String(size)]);
        break;
      }
      case 'timeout': {
        const n = integer(value);
        if (n === undefined || n < 1 || n > 255) return { ok: false, message: `timeout '${value}' is not a number of seconds in 1..255` };
        out.timeoutMs = n * 1000;
        out.oack.push(['timeout', String(n)]);
        break;
      }
      default:
        out.ignored.push(name);
    }
  }
  const fits = Math.max(1, Math.floor(MAX_WINDOW_BYTES / out.blksize));
  if (out.windowsize > fits) {
    out.windowsize = fits;
    for (const o of out.oack) if (o[0] === 'windowsize') o[1] = String(fits);
  }
  return { ok: true, value: out };
}

/** Largest blksize a path MTU allows: IPv4 20 + UDP 8 + TFTP 4 header bytes. */
export function blksizeForMtu(mtu: number): number {
  return Math.max(8, Math.min(65464, mtu - 32));
}
