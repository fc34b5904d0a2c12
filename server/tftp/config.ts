import { Type, type Static } from '@sinclair/typebox';
import { Duration, Port, Section } from '../config/types.js';

export const TftpConfigSchema = Section({
  enabled: Type.Boolean(),
  /**
   * Address to bind. 0.0.0.0 (default): a wildcard socket plus one socket per
   * network serverAddress present on this machine, so every reply leaves from
   * the address the client sent its request to. A specific address: that
   * address only.
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
  maxTransfers: Type.Integer({ minimum: 1 }),
  /** Requests that wait for a slot when maxTransfers run (oldest first); beyond, ERROR 0 busy. */
  maxWaiting: Type.Integer({ minimum: 0 }),
  /** Retransmission timeout before the round trip is measured (RFC 2349 timeout overrides it per transfer). */
  timeout: Duration,
  /** Retransmissions of the same block (with doubling timeout) before a transfer is given up. */
  retries: Type.Integer({ minimum: 1, maximum: 50 }),
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
export const TFTP_DEFAULTS: TftpConfig = {
  enabled: true,
  address: '0.0.0.0',
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
  maxWaiting: 4096,
  timeout: '1s',
  retries: 6,
  clientRate: 20,
  clientBurst: 100,
  dataPath: 'auto',
  busyPoll: true,
  nativeThreads: 32,
};
