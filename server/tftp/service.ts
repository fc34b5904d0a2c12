// The TFTP service in the rackboot process: binds the sockets the config asks
// for, serves the boot hub, and turns transfers into timeline events and
// Prometheus counters.
import { RequesterNodes } from '../boot/requester-nodes.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Counter, Gauge } from 'prom-client';
import { networkOf, type ResolvedNetwork } from '../config/networks.js';
import { SERVED, servedAddresses } from '../config/bind.js';
import { SourceFilter } from '../config/sources.js';
import { formatIpv4, parseIpv4 } from '../net/ipv4.js';
import { declareService, explainBindError, type Service, type ServiceContext } from '../service.js';
import type { BootHub } from '../boot/hub.js';
import { loadPump } from './native.js';
import { blksizeForMtu } from './options.js';
import { TftpServer, type RefusalRecord, type TransferRecord } from './server.js';
import { StaticFiles } from '../boot/static-files.js';
import { isSizeProbe } from './probe.js';
import { GRUB_HTTP_IMAGE, LoaderFiles, loaderFilesSummary, SIGNED_ALIASES } from '../boot/loader-files.js';
import { GrubHttpImage } from '../boot/grub-http.js';
import { SecureBootImages } from '../boot/secureboot-image.js';

const registeredStatic = new WeakSet<BootHub>();
/** The GRUB HTTP image being made at start, per hub: the start-up line waits for it (a second at most). */
const grubMaking = new WeakMap<BootHub, Promise<unknown>>();

async function grubHttpReady(ctx: ServiceContext): Promise<void> {
  const p = grubMaking.get(ctx.boot);
  if (p) await Promise.race([p, new Promise((r) => setTimeout(r, 5000).unref())]);
}

export interface TftpService extends Service {
  /** Bound listening sockets, after start (tests bind port 0). */
  readonly bound: Array<{ address: string; port: number }>;
  readonly active: number;
  /** Transfers (and lookups) waiting for their client's first answer. */
  readonly unanswered: number;
}

/** Put the static provider (tftp.root, then distribution loader dirs) on the hub, once, ahead of generated content. */
export function registerStaticFiles(ctx: ServiceContext): StaticFiles | undefined {
  if (registeredStatic.has(ctx.boot)) return undefined;
  registeredStatic.add(ctx.boot);
  // The GRUB image for UEFI HTTP boot, made from the installed GRUB modules when there are some.
  const grubHttp = new GrubHttpImage({ outDir: join(ctx.cfg.paths.dataDir, 'loaders'), log: ctx.log });
  const sources = { root: ctx.cfg.paths.tftpRoot, loaderDirs: ctx.cfg.config.tftp.loaderDirs, aliases: SIGNED_ALIASES };
  const p = new StaticFiles(sources);
  ctx.boot.loaderFiles = new LoaderFiles({ ...sources, generated: (f) => (f === GRUB_HTTP_IMAGE ? grubHttp.made() : undefined) });
  // First: a file the operator put in tftp.root wins over a generated one of the same name.
  ctx.boot.addProvider(p, { first: true });
  ctx.boot.addProvider(grubHttp);
  // Secure Boot over UEFI HTTP boot: a RAM disk image with Debian's signed shim and GRUB, one per server address.
  ctx.boot.addProvider(new SecureBootImages(new Set(ctx.cfg.networks.map((n) => formatIpv4(n.server)))));
  grubMaking.set(ctx.boot, grubHttp.ensure());
  return p;
}

function interfaceMtu(iface: string | undefined): number | undefined {
  if (!iface || !/^[\w.:-]+$/.test(iface)) return undefined;
  try {
    const n = Number(readFileSync(`/sys/class/net/${iface}/mtu`, 'utf8').trim());
    return Number.isFinite(n) && n >= 68 ? n : undefined;
  } catch {
    return undefined;
  }
}

export const tftpService = declareService({ name: 'tftp', title: 'the TFTP service', enable: 'tftp.enabled: true' }, (ctx) => {
  // The static files are served over HTTP too, even with TFTP disabled.
  registerStaticFiles(ctx);
  const c = ctx.cfg.resolved.tftp;
  if (!c.enabled) return undefined;
  const log = ctx.log;

  const transfers = new Counter({ name: 'rackboot_tftp_transfers_total', help: 'TFTP read transfers by outcome', labelNames: ['outcome', 'kind'], registers: [ctx.metrics] });
  const bytes = new Counter({ name: 'rackboot_tftp_bytes_total', help: 'Bytes acknowledged by TFTP clients', labelNames: ['kind'], registers: [ctx.metrics] });
  const errors = new Counter({ name: 'rackboot_tftp_errors_total', help: 'TFTP ERROR packets sent, by error code', labelNames: ['code'], registers: [ctx.metrics] });
  const retransmits = new Counter({ name: 'rackboot_tftp_retransmits_total', help: 'TFTP DATA/OACK packets sent again after a timeout or a partial window', registers: [ctx.metrics] });
  const requests = new Counter({ name: 'rackboot_tftp_requests_total', help: 'Packets to the TFTP port by result', labelNames: ['result'], registers: [ctx.metrics] });
  new Gauge({
    name: 'rackboot_tftp_active_transfers',
    help: 'TFTP transfers in progress (answered and waiting for their client\'s first answer)',
    registers: [ctx.metrics],
    collect(this: Gauge) {
      this.set(server?.active ?? 0);
    },
  });
  new Gauge({
    name: 'rackboot_tftp_unanswered_transfers',
    help: 'TFTP transfers whose client has not acknowledged the OACK or DATA 1 yet (bounded by tftp.maxUnanswered)',
    registers: [ctx.metrics],
    collect(this: Gauge) {
      this.set(server?.unanswered ?? 0);
    },
  });
  // Only the served networks, the listed relays and loopback are answered (docs/operations.md#security).
  const sources = new SourceFilter(ctx.cfg.networks, ctx.cfg.config.dhcp.relays, { loopback: true });

  // Blocks that fit the client network's MTU: its configured mtu, else its interface's.
  const mtuByNetwork = new Map<string, number>();
  for (const n of ctx.cfg.networks) {
    const mtu = n.config.mtu ?? interfaceMtu(n.config.interface);
    if (mtu) mtuByNetwork.set(n.name, mtu);
  }
  const netOf = (address: string): ResolvedNetwork | undefined => {
    const ip = parseIpv4(address);
    return ip === undefined ? undefined : networkOf(ctx.cfg.networks, ip);
  };
  const requesters = new RequesterNodes(ctx.cfg, ctx.store, ctx.registry);
  // The transfer's timeline: a store that does not answer leaves the event without a node.
  const nodeOf = async (address: string): Promise<string | null> => (await requesters.of(address).catch(() => undefined)) ?? null;

  const onEnded = (r: TransferRecord): void => {
    transfers.inc({ outcome: isSizeProbe(r) ? 'probe' : r.outcome, kind: r.kind });
    bytes.inc({ kind: r.kind }, r.bytes);
    retransmits.inc(r.retransmits);
    // A transfer whose client never answered may be a forged request: counted, not put on a timeline
    // (a flood of them would otherwise write an event each).
    if (!r.answered) return;
    void (async () => {
      const node = r.node ?? (await nodeOf(r.client));
      ctx.events.record({
        node,
        kind: r.outcome === 'complete' ? 'tftp.transfer' : isSizeProbe(r) ? 'tftp.probe' : 'tftp.failed',
        detail: {
          file: r.path,
          client: r.client,
          kind: r.kind,
          mode: r.mode,
          outcome: r.outcome,
          bytes: r.bytes,
          size: r.size,
          durationMs: Math.round(r.durationMs),
          blksize: r.blksize,
          windowsize: r.windowsize,
          retries: r.timeouts,
          retransmits: r.retransmits,
          ...(r.reason ? { reason: r.reason } : {}),
        },
      });
    })();
  };
  const onFailed = (r: RefusalRecord): void => {
    const result = r.code === -1 ? 'rate-limited' : r.refusal ? 'refused' : r.code === 1 ? 'not-found' : 'error';
    requests.inc({ result });
    if (result === 'rate-limited' || result === 'error') return;
    void (async () => {
      const node = await nodeOf(r.client);
      // Misses of unknown clients are only logged (PXELINUX probes many names); refusals always go on record.
      if (result === 'not-found' && !node) return;
      ctx.events.record({ node, kind: result === 'refused' ? 'tftp.refused' : 'tftp.not-found', detail: { file: r.filename, client: r.client, error: r.code, message: r.message } });
    })();
  };

  // One socket per network serverAddress (the reply leaves from the address the
  // client asked); served (the default): those and loopback only, so TFTP never
  // answers on the outside; 0.0.0.0 adds a wildcard socket; see docs/configuration.md#tftp.
  const served = c.address === SERVED;
  const addresses = served ? servedAddresses(ctx.cfg.networks, { loopback: true }) : [c.address];
  if (c.address === '0.0.0.0') for (const n of ctx.cfg.networks) addresses.unshift(formatIpv4(n.server));
  const unique = [...new Set(addresses)];

  let server: TftpServer | undefined;
  const svc: TftpService = {
    name: 'tftp',
    get bound() {
      return server?.bound ?? [];
    },
    get active() {
      return server?.active ?? 0;
    },
    get unanswered() {
      return server?.unanswered ?? 0;
    },
    async start() {
      const native = c.dataPath === 'node' ? {} : loadPump();
      if (c.dataPath === 'native' && !native.pump) {
        throw new Error(`tftp.dataPath is 'native' but the rackboot-tftp-pump addon is not built (${native.error}); run npm ci with a C compiler, or set tftp.dataPath to auto or node`);
      }
      server = new TftpServer({
        ...(native.pump ? { pump: native.pump } : {}),
        busyPoll: c.busyPoll,
        nativeThreads: c.nativeThreads,
        port: c.port,
        addresses: unique,
        // With served, an address not on this machine (yet) is skipped, as for 0.0.0.0's per-network sockets.
        required: served ? [] : [c.address],
        lookup: (path, client) => ctx.boot.lookup(path, client),
        limits: (address) => {
          const net = netOf(address);
          const mtu = net ? mtuByNetwork.get(net.name) : undefined;
          return { maxBlksize: mtu ? Math.min(c.maxBlksize, blksizeForMtu(mtu)) : c.maxBlksize, maxWindowsize: c.maxWindowsize };
        },
        maxTransfers: c.maxTransfers,
        maxUnanswered: c.maxUnanswered,
        maxWaiting: c.maxWaiting,
        initialRtoMs: c.timeoutMs,
        retries: c.retries,
        giveUpMs: c.giveUpMs,
        clientAllowed: (address) => sources.allowsText(address),
        allowedNets: sources.flat(),
        clientRate: c.clientRate,
        clientBurst: c.clientBurst,
        log,
        hooks: {
          transferStarted: () => requests.inc({ result: 'transfer' }),
          transferEnded: onEnded,
          requestFailed: onFailed,
          errorSent: (code) => errors.inc({ code: String(code) }),
          foreignSource: () => requests.inc({ result: 'foreign-source' }),
          evicted: () => requests.inc({ result: 'unanswered-evicted' }),
        },
      });
      try {
        await server.start();
      } catch (err) {
        throw explainBindError('tftp', 'UDP', c.port, err) ?? err;
      }
      log.info(`tftp: listening on ${server.bound.map((b) => `${b.address}:${b.port}`).join(', ')} (root ${ctx.cfg.paths.tftpRoot})`);
      const missing = unique.filter((a) => !server!.bound.some((b) => b.address === a));
      if (missing.length) log.warn(`tftp: ${missing.join(', ')} ${missing.length > 1 ? 'are not addresses' : 'is not an address'} of this machine: no TFTP there (the network's serverAddress must be on its interface)`);
      if (native.pump) log.info('tftp: data path native (a thread per octet transfer)');
      else if (c.dataPath === 'auto') log.info(`tftp: data path node (the native addon is not built: ${native.error})`);
      else log.info('tftp: data path node (tftp.dataPath: node)');
      // Say up front what an operator would otherwise find out from a blade that does not boot.
      if (!existsSync(ctx.cfg.paths.tftpRoot)) log.warn(`tftp: tftp.root ${ctx.cfg.paths.tftpRoot} does not exist; serving generated files and tftp.loaderDirs only`);
      const files = ctx.boot.loaderFiles;
      if (files) {
        await grubHttpReady(ctx);
        log.info(`tftp: boot loaders: ${loaderFilesSummary(files, ctx.cfg.config.dhcp.secureBoot)}`);
      }
    },
    async stop() {
      await server?.stop();
      requesters.close();
    },
    health() {
      return server ? { ok: true, detail: `${server.active} transfer(s) in progress` } : { ok: false, detail: 'not started' };
    },
  };
  return svc;
});
