// UDP sockets bound to one network interface. Node's dgram has neither
// SO_BINDTODEVICE nor IP_PKTINFO, so a server that must answer per interface
// opens one socket per interface, all on 0.0.0.0:port with SO_REUSEADDR, and
// binds each to its interface with SO_BINDTOIFINDEX (Linux >= 5.0) through the
// native `sockopt` package. A broadcast arriving on an interface then reaches
// only that interface's socket, and a broadcast sent from it leaves only by
// that interface.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const SOL_SOCKET = 1;
const SO_BINDTOIFINDEX = 62;
const SO_RCVBUFFORCE = 33;

export interface UdpSocketRequest {
  /** Interface name; omitted: not bound to an interface. */
  interface?: string;
  port: number;
  address?: string;
  broadcast?: boolean;
  /**
   * Receive buffer to ask for, in bytes: absorbs bursts while the process is
   * busy (the kernel default holds only ~150 small datagrams). Beyond
   * net.core.rmem_max it needs CAP_NET_ADMIN (SO_RCVBUFFORCE); without it the
   * kernel's cap applies.
   */
  recvBufferSize?: number;
}

/** Opens the sockets a service listens on; tests substitute one that opens them inside a network namespace. */
export interface UdpOpener {
  open(req: UdpSocketRequest): Promise<dgram.Socket>;
  /** The ARP table of the sockets' network namespace (default /proc/net/arp, this process's). */
  readonly neighbourFile?: string;
}

export class NoSuchInterfaceError extends Error {
  constructor(readonly iface: string) {
    super(`interface ${iface} does not exist on this machine`);
    this.name = 'NoSuchInterfaceError';
  }
}

/** ifindex from /sys/class/net/IF/ifindex (per network namespace), undefined when the interface is missing. */
export function readIfindex(iface: string): number | undefined {
  if (!/^[^/\s]{1,15}$/.test(iface) || iface === '.' || iface === '..') return undefined;
  try {
    const n = Number(readFileSync(`/sys/class/net/${iface}/ifindex`, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

type SetSockOpt = (socket: { _handle: { fd: number } }, level: number, name: number, value: number) => void;
let setsockopt: SetSockOpt | undefined;

function loadSockopt(): SetSockOpt {
  if (!setsockopt) {
    // CommonJS native module without types; loaded on first use so a machine
    // without its build only loses per-interface binding, not the server.
    const mod = createRequire(import.meta.url)('sockopt') as { setsockopt: SetSockOpt };
    setsockopt = mod.setsockopt;
  }
  return setsockopt;
}

/**
 * The file descriptor of a bound dgram socket. The one place that reaches into
 * Node internals: the socket's state (same object `_handle` returns, without
 * its deprecation warning), falling back to `_handle`.
 */
export function socketFd(sock: dgram.Socket): number {
  const sym = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol');
  const state = sym ? (sock as unknown as Record<symbol, { handle?: { fd?: number } }>)[sym] : undefined;
  const fd = state?.handle?.fd ?? (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('socket has no file descriptor (not bound yet?)');
  return fd;
}

export function bindToIfindex(sock: dgram.Socket, ifindex: number): void {
  loadSockopt()({ _handle: { fd: socketFd(sock) } }, SOL_SOCKET, SO_BINDTOIFINDEX, ifindex);
}

/** Set the receive buffer, past net.core.rmem_max when the process may (CAP_NET_ADMIN). Best effort. */
export function setReceiveBuffer(sock: dgram.Socket, bytes: number): void {
  try {
    // The kernel doubles the value it is given (bookkeeping overhead); halve to get about `bytes`.
    loadSockopt()({ _handle: { fd: socketFd(sock) } }, SOL_SOCKET, SO_RCVBUFFORCE, Math.floor(bytes / 2));
    return;
  } catch {
    /* no CAP_NET_ADMIN (or no sockopt build): the capped way below */
  }
  try {
    sock.setRecvBufferSize(bytes);
  } catch {
    /* keep the default */
  }
}

/** Open a UDP socket in this process's network namespace. */
export async function openUdpSocket(req: UdpSocketRequest): Promise<dgram.Socket> {
  let ifindex: number | undefined;
  if (req.interface !== undefined) {
    ifindex = readIfindex(req.interface);
    if (ifindex === undefined) throw new NoSuchInterfaceError(req.interface);
  }
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    sock.once('error', onError);
    sock.bind(req.port, req.address ?? '0.0.0.0', () => {
      sock.off('error', onError);
      resolve();
    });
  });
  try {
    if (ifindex !== undefined) bindToIfindex(sock, ifindex);
    if (req.broadcast) sock.setBroadcast(true);
    if (req.recvBufferSize) setReceiveBuffer(sock, req.recvBufferSize);
  } catch (err) {
    sock.close();
    throw err;
  }
  return sock;
}

export const localUdpOpener: UdpOpener = { open: openUdpSocket };
