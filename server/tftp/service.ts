// The TFTP service in the rackboot process: binds the sockets the config asks
// for, serves the boot hub, and turns transfers into timeline events and
// Prometheus counters.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Counter, Gauge } from 'prom-client';
import { networkOf, type ResolvedNetwork } from '../config/networks.js';
import { formatIpv4, parseIpv4 } from '../net/ipv4.js';
import { explainBindError, type Service, type ServiceContext, type ServiceFactory } from '../main/service.js';
import type { BootHub } from '../boot/hub.js';
import { loadPump } from './native.js';
import { blksizeForMtu } from './options.js';
import { TftpServer, type RefusalRecord, type TransferRecord } from './server.js';
import { StaticFiles } from './static.js';
import { parseDuration } from '../config/types.js';

const registeredStatic = new WeakSet<BootHub>();

export interface TftpService extends Service {
  /** Bound listening sockets, after start (tests bind port 0). */
  readonly bound: Array<{ address: string; port: number }>;
  readonly active: number;
}

/** Put the static provider (tftp.root, then distribution loader dirs) on the hub, once, ahead of generated content. */
export function registerStaticFiles(ctx: ServiceContext): StaticFiles | undefined {
  if (registeredStatic.has(ctx.boot)) return undefined;
  registeredStatic.add(ctx.boot);
  const p = new StaticFiles({ root: ctx.cfg.paths.tftpRoot, loaderDirs: ctx.cfg.config.tftp.loaderDirs });
  // First: a file the operator put in tftp.root wins over a generated one of the same name.
  ctx.boot.addProvider(p, { first: true });
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

export const tftpServiceFactory: ServiceFactory = (ctx) => {
  // The static files are served over HTTP too, even with TFTP disabled.
  registerStaticFiles(ctx);
  const c = ctx.cfg.config.tftp;
  if (!c.enabled) return undefined;
  const log = ctx.log;

  const transfers = new Counter({ name: 'rackboot_tftp_transfers_total', help: 'TFTP read transfers by outcome', labelNames: ['outcome', 'kind'], registers: [ctx.metrics] });
  const bytes = new Counter({ name: 'rackboot_tftp_bytes_total', help: 'Bytes acknowledged by TFTP clients', labelNames: ['kind'], registers: [ctx.metrics] });
  const errors = new Counter({ name: 'rackboot_tftp_errors_total', help: 'TFTP ERROR packets sent, by error code', labelNames: ['code'], registers: [ctx.metrics] });
  const retransmits = new Counter({ name: 'rackboot_tftp_retransmits_total', help: 'TFTP DATA/OACK packets sent again after a timeout or a partial window', registers: [ctx.metrics] });
  const requests = new Counter({ name: 'rackboot_tftp_requests_total', help: 'Packets to the TFTP port by result', labelNames: ['result'], registers: [ctx.metrics] });
  new Gauge({
    name: 'rackboot_tftp_active_transfers',
    help: 'TFTP transfers in progress',
    registers: [ctx.metrics],
    collect(this: Gauge) {
      this.set(server?.active ?? 0);
    },
  });

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
  const nodeOf = async (address: string): Promise<string | null> => {
    const net = netOf(address);
    if (!net) return null;
    try {
      return (await ctx.store.findByAddress(net.name, address))?.node.name ?? null;
    } catch {
      return null;
    }
  };

  const onEnded = (r: TransferRecord): void => {
    transfers.inc({ outcome: r.outcome, kind: r.kind });
    bytes.inc({ kind: r.kind }, r.bytes);
    retransmits.inc(r.retransmits);
    void (async () => {
      const node = r.node ?? (await nodeOf(r.client));
      ctx.events.record({
        node,
        kind: r.outcome === 'complete' ? 'tftp.transfer' : 'tftp.failed',
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
  // client asked), plus the configured address; see docs/configuration.md#tftp.
  const addresses = [c.address];
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
        required: [c.address],
        lookup: (path, client) => ctx.boot.lookup(path, client),
        limits: (address) => {
          const net = netOf(address);
          const mtu = net ? mtuByNetwork.get(net.name) : undefined;
          return { maxBlksize: mtu ? Math.min(c.maxBlksize, blksizeForMtu(mtu)) : c.maxBlksize, maxWindowsize: c.maxWindowsize };
        },
        maxTransfers: c.maxTransfers,
        maxWaiting: c.maxWaiting,
        initialRtoMs: parseDuration(c.timeout),
        retries: c.retries,
        clientRate: c.clientRate,
        clientBurst: c.clientBurst,
        log,
        hooks: {
          transferStarted: () => requests.inc({ result: 'transfer' }),
          transferEnded: onEnded,
          requestFailed: onFailed,
          errorSent: (code) => errors.inc({ code: String(code) }),
        },
      });
      try {
        await server.start();
      } catch (err) {
        throw explainBindError('tftp', 'UDP', c.port, err) ?? err;
      }
      log.info(`tftp: listening on ${server.bound.map((b) => `${b.address}:${b.port}`).join(', ')} (root ${ctx.cfg.paths.tftpRoot})`);
      if (native.pump) log.info('tftp: data path native (a thread per octet transfer)');
      else if (c.dataPath === 'auto') log.info(`tftp: data path node (the native addon is not built: ${native.error})`);
      else log.info('tftp: data path node (tftp.dataPath: node)');
      // Say up front what an operator would otherwise find out from a blade that does not boot.
      if (!existsSync(ctx.cfg.paths.tftpRoot)) log.warn(`tftp: tftp.root ${ctx.cfg.paths.tftpRoot} does not exist; serving generated files and tftp.loaderDirs only`);
      const loaders = ['pxelinux.0', 'ldlinux.c32', 'syslinux.efi', 'ldlinux.e64', 'undionly.kpxe', 'ipxe.efi'].map((name) => {
        const dir = [ctx.cfg.paths.tftpRoot, ...c.loaderDirs].find((d) => existsSync(join(d, name)));
        return dir ? `${name} (${dir})` : `${name} (missing)`;
      });
      log.info(`tftp: boot loaders: ${loaders.join(', ')}`);
    },
    async stop() {
      await server?.stop();
    },
    health() {
      return server ? { ok: true, detail: `${server.active} transfer(s) in progress` } : { ok: false, detail: 'not started' };
    },
  };
  return svc;
};
