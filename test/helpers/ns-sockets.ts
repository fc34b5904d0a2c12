// Sockets inside a network namespace for a server running in the test
// process: a small child (`ip netns exec NS node ns-sockets-child.js`) opens
// and binds them there (ifindex from the namespace's /sys) and passes them
// back over IPC. Use it as the UdpOpener of a service under test, e.g.
//   startTestServer(cfg, { factories: [dhcpService({ opener: broker })] })
// so the server is in-process (fast, inspectable) and its packets stay in the
// namespace. TFTP and other UDP services can use the same broker.
import type { ChildProcess } from 'node:child_process';
import type dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { NoSuchInterfaceError, type UdpOpener, type UdpSocketRequest } from '../../server/net/udp-device.js';
import type { NetLab } from './netns.js';

const CHILD = fileURLToPath(new URL('./ns-sockets-child.js', import.meta.url));

interface Answer {
  id?: number;
  ok?: boolean;
  ready?: boolean;
  message?: string;
  code?: string;
  noInterface?: string;
}

export class NsSocketBroker implements UdpOpener {
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (s: dgram.Socket) => void; reject: (e: Error) => void }>();
  private readonly opened: dgram.Socket[] = [];

  private constructor(private readonly child: ChildProcess, readonly ns: string) {
    child.on('message', (m: Answer, handle: unknown) => {
      if (m.id === undefined) return;
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.ok && handle) {
        const sock = handle as dgram.Socket;
        this.opened.push(sock);
        w.resolve(sock);
      } else if (m.noInterface) {
        w.reject(new NoSuchInterfaceError(m.noInterface));
      } else {
        w.reject(Object.assign(new Error(m.message ?? 'socket broker failed'), { code: m.code }));
      }
    });
    child.on('exit', () => {
      for (const w of this.waiting.values()) w.reject(new Error(`socket broker in ${ns} exited`));
      this.waiting.clear();
    });
  }

  /** Start the broker in `ns`; the lab kills it on cleanup. */
  static async start(lab: NetLab, ns: string): Promise<NsSocketBroker> {
    const child = lab.spawn(ns, process.execPath, [CHILD], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`socket broker in ${ns} did not start`)), 10_000);
      child.once('message', () => (clearTimeout(t), resolve()));
      child.once('exit', (code) => (clearTimeout(t), reject(new Error(`socket broker in ${ns} exited with ${code}`))));
    });
    return new NsSocketBroker(child, ns);
  }

  /** The child runs in the namespace: its /proc view of the network is the namespace's. */
  get neighbourFile(): string {
    return `/proc/${this.child.pid}/net/arp`;
  }

  open(req: UdpSocketRequest): Promise<dgram.Socket> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.send({ id, op: 'udp', req });
    });
  }

  /**
   * Close every socket this broker handed out that is still open, stop the
   * child and wait for it to exit (its 'close' may never come with an
   * IPC-only child). A server that closed its sockets already is fine.
   */
  async close(): Promise<void> {
    for (const s of this.opened.splice(0)) {
      try {
        s.close();
      } catch {
        /* already closed */
      }
    }
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    if (this.child.connected) this.child.disconnect();
    else this.child.kill('SIGKILL');
    await exited;
  }
}
