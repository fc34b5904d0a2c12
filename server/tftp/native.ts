// The native TFTP data path (native/tftp-pump, built by node-gyp at install):
// a transfer's socket and its send/ACK loop run on a thread of their own in C.
// Node keeps the request side (names, content lookup, options, limits, rate,
// events). Optional: without a compiler the addon is absent and the Node data
// path in server.ts serves every transfer.
import { createRequire } from 'node:module';
import type { FileSegment } from '../boot/content.js';

export interface PumpOptions {
  /** Local IPv4 address for the transfer socket (the listener's address). */
  local: string;
  peer: string;
  port: number;
  size: number;
  blksize: number;
  windowsize: number;
  /** Sent first and answered by ACK 0 when options were acknowledged. */
  oack?: Buffer;
  initialRtoMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  retries: number;
  /** Answered transfers: the shortest time without progress before giving up (default 0). */
  giveUpMs?: number;
  /** Unanswered transfers: timeouts before they are dropped, silently (default retries). */
  handshakeTries?: number;
  segments: readonly FileSegment[];
  /** Poll for the ACK instead of sleeping when the client is fast and few transfers run (default true). */
  busyPoll?: boolean;
  /** Blocks per UDP_SEGMENT send (gso.ts windowBatch); 1 or absent: one send per block. */
  gsoBlocks?: number;
  /** Transfers on threads of their own before new ones go to the shared event workers (default 32; 0: always shared). */
  threads?: number;
  /** Packets from other sources get ERROR 5 only when they are in these networks: [network, mask, ...]; absent: any. */
  strangers?: number[];
}

export interface PumpResult {
  outcome: 'complete' | 'timeout' | 'client-error' | 'aborted' | 'read-error';
  reason?: string;
  bytesAcked: number;
  retransmits: number;
  timeouts: number;
  /** ERROR 5 answers to packets from other ports/addresses. */
  unknownTidSent: number;
  /** ERROR 0 sent to the client (timed out, aborted, read error). */
  errorsSent: number;
  /** The client acknowledged the OACK or DATA 1, or ended the transfer with an ERROR from its port. */
  answered: boolean;
}

/** An opaque native handle. */
export type PumpHandle = { readonly __pump: unique symbol };

export interface Pump {
  start(opts: PumpOptions, done: (r: PumpResult) => void): PumpHandle;
  abort(h: PumpHandle, message: string, notify: boolean): void;
  base(h: PumpHandle): number;
  /** The client acknowledged the OACK or DATA 1. */
  answered(h: PumpHandle): boolean;
}

let loaded: { pump?: Pump; error?: string } | undefined;

/** The addon, or why it is not there. */
export function loadPump(): { pump?: Pump; error?: string } {
  if (!loaded) {
    try {
      loaded = { pump: createRequire(import.meta.url)('rackboot-tftp-pump') as Pump };
    } catch (err) {
      loaded = { error: (err as Error).message.split('\n')[0] };
    }
  }
  return loaded;
}
