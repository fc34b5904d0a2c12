// What a transfer leaves behind: the records the server hands its hooks
// (service.ts turns them into events and counters), and the narrow view of
// the server that the two data paths (session.ts, native-session.ts) use.
import { performance } from 'node:perf_hooks';
import type { BootFile } from '../boot/content.js';
import type { Logger } from '../log.js';
import type { Outcome } from './transfer.js';

export interface TransferRecord {
  client: string;
  port: number;
  /** Confined path asked of the boot hub. */
  path: string;
  kind: BootFile['kind'];
  node: string | undefined;
  mode: 'octet' | 'netascii';
  size: number;
  bytes: number;
  blksize: number;
  windowsize: number;
  durationMs: number;
  retransmits: number;
  timeouts: number;
  outcome: Outcome | 'aborted' | 'read-error';
  reason?: string;
  /**
   * The client acknowledged the OACK or DATA 1, or ended the transfer with an
   * ERROR from its port (a size probe): one that never did may be a forged request.
   */
  answered: boolean;
  /** The OACK carried tsize: the client asked for the size (isSizeProbe). */
  tsizeAsked: boolean;
}

export interface RefusalRecord {
  client: string;
  filename: string | undefined;
  code: number;
  message: string;
  /** A hostile or forbidden name (logged as a warning) rather than a plain miss. */
  refusal: boolean;
}

export interface TftpHooks {
  transferStarted?(r: { client: string; path: string; size: number; blksize: number; windowsize: number }): void;
  transferEnded?(r: TransferRecord): void;
  /** An ERROR answered a request (not found, refused, bad packet, busy). */
  requestFailed?(r: RefusalRecord): void;
  /** A packet from a source outside clientAllowed: dropped unanswered. */
  foreignSource?(address: string): void;
  /** An unanswered transfer ended to make room for a newer one. */
  evicted?(): void;
  errorSent?(code: number): void;
}

/** A transfer as the server keeps it. */
export interface TransferSession {
  readonly key: string;
  readonly path: string;
  /** The client's address. */
  readonly client: string;
  abort(reason: string, notify?: boolean): void;
}

/** What a transfer asks of the server that started it. */
export interface SessionHost {
  readonly log: Logger;
  /** Send windows with UDP segmentation offload (TftpServerOptions.gso). */
  readonly gso: boolean;
  /** The client answered (ACK of the OACK or DATA 1): the transfer takes a full slot. */
  answered(s: TransferSession): void;
  /** An ERROR went to a client (a counter). */
  countError(code: number): void;
  /** Whether a packet from another transfer id may be answered with ERROR 5 (allowed and within its rate). */
  allowStranger(address: string): boolean;
  /** The transfer is over: its slot is free, its record is logged and reported. */
  ended(s: TransferSession, record: TransferRecord): void;
}

/** Releases a finished transfer's file and hands the server its record. */
export function closeAndReport(
  host: SessionHost,
  s: TransferSession,
  file: BootFile,
  r: Omit<TransferRecord, 'path' | 'kind' | 'node' | 'size' | 'durationMs'> & { startedWall: number },
): void {
  void Promise.resolve(file.close?.()).catch(() => undefined);
  const { startedWall, ...rest } = r;
  host.ended(s, { ...rest, path: s.path, kind: file.kind, node: file.node, size: file.size, durationMs: performance.now() - startedWall });
}
