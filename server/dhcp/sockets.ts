// The DHCP server's sockets: one per served interface (a network's own, or a
// relay-only one from dhcp.relayInterfaces), bound to it, read through the
// batched path (recvmmsg/sendmmsg) when dhcp.io allows and the addon is
// built, else through Node's dgram with a bounded send queue. An interface
// that does not exist here is skipped with one line; any other failure to
// open one closes the others and stops the start.
import type dgram from 'node:dgram';
import type { Logger } from '../log.js';
import { BoundedSendQueue } from '../net/send-queue.js';
import { BatchedUdp, loadUdpBatch, udpBatchUnavailable } from '../net/udp-batch.js';
import { NoSuchInterfaceError, type UdpOpener } from '../net/udp-device.js';
import type { DhcpConfig } from './config.js';
import { explainBindError, ServiceStartError } from './contract.js';
import type { PolicyNetwork } from './policy.js';
import type { ServedSocket } from './replies.js';

/** Where a datagram came from: dgram's RemoteInfo fits; the batched path gives the address as a number (formatted only when logged). */
export interface PacketSource {
  address: string | number;
  port: number;
}

export interface SocketHooks {
  message(msg: Buffer, from: PacketSource, s: ServedSocket): void;
  /** A datagram longer than the batched path reads (4096 bytes). */
  truncated(from: PacketSource, s: ServedSocket): void;
  sendFailed(iface: string, err: Error, count?: number): void;
}

type Want = { iface: string; kind: 'network' | 'relay'; networks: PolicyNetwork[] };
type SocketConfig = Pick<DhcpConfig, 'port' | 'io' | 'receiveBuffer' | 'relayInterfaces'>;

/** Open every served interface's socket; `skipped` names the interfaces that do not exist here. */
export async function openSockets(
  networks: readonly PolicyNetwork[],
  cfg: SocketConfig,
  opener: UdpOpener,
  log: Logger,
  hooks: SocketHooks,
): Promise<{ sockets: ServedSocket[]; skipped: string[] }> {
  const byIface = new Map<string, PolicyNetwork[]>();
  for (const n of networks) {
    const iface = n.net.config.interface;
    if (!iface) continue;
    const list = byIface.get(iface);
    if (list) list.push(n);
    else byIface.set(iface, [n]);
  }
  const want: Want[] = [...byIface].map(([iface, networks]) => ({ iface, kind: 'network', networks }));
  for (const iface of cfg.relayInterfaces) if (!byIface.has(iface)) want.push({ iface, kind: 'relay', networks: [] });
  const batched = useBatch(cfg.io);
  const sockets: ServedSocket[] = [];
  const skipped: string[] = [];
  try {
    for (const w of want) {
      const s = await openSocket(w, batched, cfg, opener, log, hooks);
      if (s) sockets.push(s);
      else skipped.push(w.iface);
    }
  } catch (err) {
    await closeSockets(sockets);
    throw err;
  }
  if (sockets.length) {
    log.info(
      `dhcp: serving ${sockets.map((s) => (s.kind === 'network' ? `${s.iface} (${s.networks.map((n) => n.name).join(', ')})` : `${s.iface} (relays)`)).join(', ')} on port ${cfg.port}` +
        (sockets.some((s) => s.batch)
          ? ', datagrams in batches (recvmmsg/sendmmsg)'
          : `, datagrams through Node's dgram${cfg.io === 'auto' && !loadUdpBatch() ? ` (udp_batch addon not built: ${udpBatchUnavailable()})` : ''}`),
    );
  } else {
    log.warn('dhcp: no configured interface exists here: DHCP is idle');
  }
  return { sockets, skipped };
}

async function openSocket(w: Want, batched: boolean, cfg: SocketConfig, opener: UdpOpener, log: Logger, hooks: SocketHooks): Promise<ServedSocket | undefined> {
  let sock: dgram.Socket;
  try {
    sock = await opener.open({ interface: w.iface, port: cfg.port, broadcast: w.kind === 'network', recvBufferSize: cfg.receiveBuffer || undefined });
  } catch (err) {
    if (err instanceof NoSuchInterfaceError) {
      const what = w.kind === 'network' ? `network${w.networks.length > 1 ? 's' : ''} ${w.networks.map((n) => `'${n.name}'`).join(', ')}` : 'relayed requests';
      log.warn(`dhcp: interface ${w.iface} does not exist here: not serving ${what} on it`);
      return undefined;
    }
    throw explainBindError('dhcp', 'UDP', cfg.port, err) ?? new ServiceStartError('dhcp', `dhcp: cannot open UDP port ${cfg.port} on ${w.iface}: ${(err as Error).message}`);
  }
  const s: ServedSocket = { sock, iface: w.iface, kind: w.kind, networks: w.networks };
  const sendFailed = (err: Error, count?: number) => hooks.sendFailed(w.iface, err, count);
  if (batched) {
    try {
      s.batch = new BatchedUdp(sock, {
        packet: (msg, address, port) => hooks.message(msg, { address, port }, s),
        truncated: (address, port) => hooks.truncated({ address, port }, s),
        sendFailed,
        socketError: (err) => log.warn(`dhcp: socket on ${w.iface}: ${err.message}; reading on`),
      });
      // The batch path has its own duplicate of the descriptor; Node's handle is not read from again.
      sock.close();
    } catch (err) {
      if (cfg.io === 'batch') {
        sock.close();
        throw new ServiceStartError('dhcp', `dhcp: cannot read ${w.iface} in batches (dhcp.io is batch): ${(err as Error).message}`);
      }
      log.warn(`dhcp: ${w.iface}: datagrams through Node's dgram, the batched path failed: ${(err as Error).message}`);
    }
  }
  if (!s.batch) {
    s.queue = new BoundedSendQueue(sock, { failed: sendFailed });
    sock.on('message', (msg, rinfo) => hooks.message(msg, rinfo, s));
    // Send failures (EHOSTUNREACH, ENOBUFS...) come here; the server goes on.
    sock.on('error', (err) => sendFailed(err));
  }
  return s;
}

export async function closeSockets(sockets: ServedSocket[]): Promise<void> {
  await Promise.all(
    sockets.splice(0).map((s) => {
      if (s.batch) {
        s.batch.close();
        return Promise.resolve();
      }
      return new Promise<void>((r) => s.sock.close(() => r()));
    }),
  );
}

/** dhcp.io: whether datagrams go through the batched path; `batch` without the addon is a start error. */
function useBatch(io: SocketConfig['io']): boolean {
  if (io === 'node') return false;
  if (loadUdpBatch()) return true;
  if (io === 'batch') throw new ServiceStartError('dhcp', `dhcp: dhcp.io is batch, but the udp_batch addon is not built (${udpBatchUnavailable()}): run npm ci with a C compiler, or set dhcp.io to auto or node`);
  return false;
}
