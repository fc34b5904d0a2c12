import { Type, type Static } from '@sinclair/typebox';
import { Duration, parseDuration, Port, Section } from '../config/types.js';

export const TftpConfigSchema = Section({
  enabled: Type.Boolean(),
  /**
   * Address to bind. served (default): one socket per network serverAddress
   * present on this machine, and 127.0.0.1, so every reply leaves from the
   * address the client sent its request to and nothing answers on other
   * addresses (the outside). 0.0.0.0: those plus a wildcard socket (every
   * address). A specific address: that address only.
   */
  address: Type.String(),
  port: Port,
  /** Static files (boot loaders, operator files). They win over generated content. */
  root: Type.String(),
  /**
   * Where well-known boot loaders are found when tftp.root has no file of that
   * name (plain names only: pxelinux.0, ldlinux.c32, undionly.kpxe, ...).
   */
  loaderDirs: Type.Array(Type.String()),
  /** Largest blksize granted; also capped by the client network's MTU minus 32. */
  maxBlksize: Type.Integer({ minimum: 8, maximum: 65464 }),
  maxWindowsize: Type.Integer({ minimum: 1, maximum: 65535 }),
  /** Transfers whose client has answered (acknowledged the OACK or DATA 1); beyond it: ERROR "server busy". */
  maxTransfers: Type.Integer({ minimum: 1 }),
  /**
   * Transfers waiting for their client's first answer. A forged request is
   * never answered: these never take one of maxTransfers, and when they are
   * this many the oldest is dropped for the new one.
   */
  maxUnanswered: Type.Integer({ minimum: 1 }),
  /**
   * Requests that wait for an answered slot when maxTransfers are taken
   * (oldest first); beyond, ERROR 0 busy.
   */
  maxWaiting: Type.Integer({ minimum: 0 }),
  /** Retransmission timeout before the round trip is measured (RFC 2349 timeout overrides it per transfer). */
  timeout: Duration,
  /** Retransmissions of the same block (with doubling timeout) before a transfer is given up (at least; see giveUp). */
  retries: Type.Integer({ minimum: 1, maximum: 50 }),
  /**
   * A transfer whose client has answered is given up only after `retries`
   * retransmissions and at least this long without progress: clients re-ACK
   * on their own clock (tftp-hpa and atftp every 5 s, PXE ROMs back off over
   * tens of seconds).
   */
  giveUp: Duration,
  /** Requests per second each client address may sustain (token bucket). */
  clientRate: Type.Number({ exclusiveMinimum: 0 }),
  /** Requests a client may send in a burst above clientRate. */
  clientBurst: Type.Integer({ minimum: 1 }),
  /**
   * Who moves the blocks of a transfer. native: a thread per transfer in the
   * rackboot-tftp-pump addon (built at npm install; an error at start when it
   * was not built); node: the event loop; auto (default): native when built.
   * Netascii and content without file segments always go through node.
   */
  dataPath: Type.Union([Type.Literal('auto'), Type.Literal('native'), Type.Literal('node')]),
  /**
   * Native path: while at most half the cores' worth of transfers run and a
   * client answers within 100 µs, wait for its ACK by polling instead of
   * sleeping (a core's time per such transfer; lock-step ~2.5x faster).
   */
  busyPoll: Type.Boolean(),
  /**
   * Native path: transfers that get a thread of their own; beyond that many
   * at once, new ones share a few event-loop threads (one per core), which a
   * boot storm's hundreds of lock-step transfers need (wake-ups add up).
   */
  nativeThreads: Type.Integer({ minimum: 0, maximum: 4096 }),
});
export type TftpConfig = Static<typeof TftpConfigSchema>;

/** The tftp section with its durations in ms. */
export interface ResolvedTftp extends TftpConfig {
  /** tftp.timeout: the first retransmission timeout. */
  timeoutMs: number;
  giveUpMs: number;
}

export function resolveTftp(t: TftpConfig): ResolvedTftp {
  return { ...t, timeoutMs: parseDuration(t.timeout), giveUpMs: parseDuration(t.giveUp) };
}

declare module '../config/loaded.js' {
  interface Config {
    tftp: TftpConfig;
  }
  interface ResolvedSections {
    tftp: ResolvedTftp;
  }
}
export const TFTP_DEFAULTS: TftpConfig = {
  enabled: true,
  address: 'served',
  port: 69,
  root: './tftpboot',
  loaderDirs: [
    '/usr/lib/PXELINUX',
    '/usr/lib/syslinux/modules/bios',
    '/usr/lib/SYSLINUX.EFI/efi64',
    '/usr/lib/syslinux/modules/efi64',
    '/usr/lib/ipxe',
  ],
  maxBlksize: 1468,
  maxWindowsize: 64,
  maxTransfers: 2048,
  maxUnanswered: 1024,
  maxWaiting: 4096,
  timeout: '1s',
  retries: 6,
  giveUp: '30s',
  clientRate: 20,
  clientBurst: 100,
  dataPath: 'auto',
  busyPoll: true,
  nativeThreads: 32,
};
