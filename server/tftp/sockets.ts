// UDP sockets for the TFTP server: listeners and one per transfer (its transfer id).
import dgram, { type RemoteInfo, type Socket } from 'node:dgram';
import type { Logger } from '../log.js';

/** Addresses here are always literal IPs: skip dgram's per-send dns.lookup tick. */
const literalLookup = (address: string, _family: unknown, cb: (err: Error | null, address: string, family: number) => void): void => cb(null, address, 4);

export function newSocket(reuseAddr: boolean): Socket {
  // The lookup callback signature differs between overloads in @types/node; this one is the (address, family) form dgram uses.
  return dgram.createSocket({ type: 'udp4', reuseAddr, lookup: literalLookup as unknown as dgram.SocketOptions['lookup'] });
}

export function bindSocket(sock: Socket, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    sock.once('error', onError);
    sock.bind({ address, port, exclusive: true }, () => {
      sock.off('error', onError);
      resolve();
    });
  });
}

export interface Listener {
  sock: Socket;
  address: string;
  port: number;
}

/**
 * A listening socket per address, pushed to `into` as each is bound (the
 * caller closes them when a later one fails). An address not on this
 * machine is skipped, with a debug line, unless it is `required`.
 */
export async function listen(
  o: { addresses: string[]; port: number; required: string[]; log: Logger },
  into: Listener[],
  onMessage: (l: Listener, msg: Buffer, rinfo: RemoteInfo) => void,
): Promise<void> {
  const { addresses, port, log } = o;
  const multi = addresses.length > 1;
  if (multi && port !== 0) await probePort(addresses, port);
  for (const address of addresses) {
    const sock = newSocket(multi);
    try {
      await bindSocket(sock, address, port);
    } catch (err) {
      sock.close();
      if ((err as { code?: string }).code === 'EADDRNOTAVAIL' && !o.required.includes(address)) {
        log.debug(`tftp: ${address} is not an address of this machine; not listening on it`);
        continue;
      }
      throw err;
    }
    const l: Listener = { sock, address, port: sock.address().port };
    sock.on('message', (msg, rinfo) => onMessage(l, msg, rinfo));
    sock.on('error', (err) => log.error({ err }, `tftp: socket ${address}:${l.port} error`));
    into.push(l);
  }
}

/**
 * The listening sockets share the port (SO_REUSEADDR, so a specific address
 * and the wildcard can both be bound); first make sure no other program
 * holds it, which SO_REUSEADDR would otherwise hide.
 */
async function probePort(addresses: string[], port: number): Promise<void> {
  for (const address of addresses) {
    const probe = newSocket(false);
    try {
      await bindSocket(probe, address, port);
    } catch (err) {
      if ((err as { code?: string }).code !== 'EADDRNOTAVAIL') throw err;
    } finally {
      probe.close();
    }
  }
}
