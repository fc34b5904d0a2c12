// Runs inside a network namespace (`ip netns exec NS node this.js`): opens the
// sockets the parent asks for and hands them over the IPC channel. The
// parent's server then listens inside the namespace while the test process
// itself stays in the root namespace.
import type dgram from 'node:dgram';
import { NoSuchInterfaceError, openUdpSocket, type UdpSocketRequest } from '../../server/net/udp-device.js';

interface Ask {
  id: number;
  op: 'udp';
  req: UdpSocketRequest;
}

/** Stop the child's own copy from reading: the parent is the only reader. */
function stopReading(sock: dgram.Socket): void {
  const sym = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol');
  const handle = sym ? (sock as unknown as Record<symbol, { handle?: { recvStop?: () => void } }>)[sym]?.handle : undefined;
  handle?.recvStop?.();
}

process.on('disconnect', () => process.exit(0));
process.on('message', (m: Ask) => {
  void (async () => {
    try {
      const sock = await openUdpSocket(m.req);
      stopReading(sock);
      // The handle is duplicated into the parent; the child's copy is closed once sent.
      process.send!({ id: m.id, ok: true }, sock, {}, () => sock.close());
    } catch (err) {
      const e = err as Error & { code?: string };
      process.send!({ id: m.id, ok: false, message: e.message, code: e.code, noInterface: err instanceof NoSuchInterfaceError ? m.req.interface : undefined });
    }
  })();
});
process.send!({ ready: true });
