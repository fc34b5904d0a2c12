// UDP generic segmentation offload (Linux UDP_SEGMENT, 4.18+) for TFTP
// windows: a window of blocks leaves in one sendmsg() of back-to-back DATA
// packets that the kernel cuts into datagrams of exactly blksize+4 bytes,
// instead of one system call per block. Node's dgram has no such option, so
// it is set with the `sockopt` package (integer socket options, prebuilt).
// Where that is missing or the kernel refuses, transfers send block by block.
import type { Socket } from 'node:dgram';
import { createRequire } from 'node:module';

const SOL_UDP = 17;
const UDP_SEGMENT = 103;
/** The kernel's limit on segments per send (UDP_MAX_SEGMENTS). */
export const GSO_MAX_SEGMENTS = 64;
/** A UDP payload is at most 65507 bytes (IPv4). */
const MAX_UDP_PAYLOAD = 65507;

type SetSockopt = (fd: number, level: number, name: number, value: number) => void;

let setsockopt: SetSockopt | null | undefined;

function load(): SetSockopt | null {
  if (setsockopt !== undefined) return setsockopt;
  try {
    // The raw binding takes a file descriptor; sockopt's wrapper reads the
    // deprecated Socket._handle, which would print a warning.
    const req = createRequire(import.meta.url);
    const pkg = req.resolve('sockopt/package.json');
    const binding = createRequire(pkg)('node-gyp-build')(pkg.slice(0, -'/package.json'.length)) as { setsockopt: SetSockopt };
    setsockopt = binding.setsockopt;
  } catch {
    setsockopt = null;
  }
  return setsockopt;
}

/** The descriptor behind a bound dgram socket (the one place that reaches into Node's internals). */
export function socketFd(sock: Socket): number | undefined {
  const sym = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol');
  const state = sym ? (sock as unknown as Record<symbol, { handle?: { fd?: number } }>)[sym] : undefined;
  const fd = state?.handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** Segments per send for this segment size, within the kernel's limits. */
export function gsoBatch(segmentSize: number): number {
  return Math.max(1, Math.min(GSO_MAX_SEGMENTS, Math.floor(MAX_UDP_PAYLOAD / segmentSize)));
}

/**
 * Blocks per send for a transfer's windows; 1: one send per block. Only
 * windows of full blocks of 512 bytes and more: every packet larger than the
 * segment size is cut, and an OACK or ERROR must never be.
 */
export function windowBatch(blksize: number, windowsize: number): number {
  return windowsize > 1 && blksize >= 512 ? Math.min(windowsize, gsoBatch(blksize + 4)) : 1;
}

/** Set (or with 0 clear) the socket's segment size; false when not possible here. */
export function setSegmentSize(sock: Socket, size: number): boolean {
  const fn = load();
  const fd = socketFd(sock);
  if (!fn || fd === undefined) return false;
  try {
    fn(fd, SOL_UDP, UDP_SEGMENT, size);
    return true;
  } catch {
    return false;
  }
}
