// Stock DHCP clients for bench/pair: busybox udhcpc with the retransmission
// it really uses (its defaults: 3 DISCOVERs 3 s apart, then 20 s of quiet,
// again; `secs` left at 0), each on a macvlan of the client namespace's
// link with a MAC of its own: a blade that needs an address while the
// primary is dead. The figure is when each one is bound.
import { spawn, type ChildProcess } from 'node:child_process';
import { sh } from '../../test/helpers/netns.js';

export interface StockClient {
  iface: string;
  mac: string;
  /** Epoch ms the client started, and was bound (undefined: not yet). */
  startedAt: number;
  boundAt: number | undefined;
  ip: string | undefined;
}

export interface StockClients {
  clients: StockClient[];
  stop(): void;
}

/** `count` macvlans on `link` in `ns`, MACs prefix:NN (prefix of 4 bytes, e.g. "02:00:00:03"). */
export function addMacvlans(ns: string, link: string, count: number, prefix: string): Array<{ iface: string; mac: string }> {
  const out: Array<{ iface: string; mac: string }> = [];
  for (let i = 0; i < count; i++) {
    const iface = `mv${i}`;
    const mac = `${prefix}:${Math.floor(i / 256).toString(16).padStart(2, '0')}:${(i % 256).toString(16).padStart(2, '0')}`;
    sh('ip', ['-n', ns, 'link', 'add', 'link', link, 'name', iface, 'address', mac, 'type', 'macvlan', 'mode', 'bridge']);
    sh('ip', ['-n', ns, 'link', 'set', iface, 'up']);
    out.push({ iface, mac });
  }
  return out;
}

/** One udhcpc per interface, started now, quitting once bound (-q); no script runs (`-s /bin/true`): the address is only recorded. */
export function startStockClients(ns: string, ifaces: Array<{ iface: string; mac: string }>): StockClients {
  const children: ChildProcess[] = [];
  const clients = ifaces.map(({ iface, mac }) => {
    const c: StockClient = { iface, mac, startedAt: Date.now(), boundAt: undefined, ip: undefined };
    const child = spawn('ip', ['netns', 'exec', ns, 'udhcpc', '-f', '-q', '-i', iface, '-s', '/bin/true'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const watch = (d: Buffer) => {
      // "udhcpc: lease of 10.0.0.123 obtained from 10.0.0.1, lease time 3600"
      const m = /lease of (\d+\.\d+\.\d+\.\d+) obtained/.exec(d.toString());
      if (m && c.boundAt === undefined) {
        c.boundAt = Date.now();
        c.ip = m[1];
      }
    };
    child.stdout!.on('data', watch);
    child.stderr!.on('data', watch);
    children.push(child);
    return c;
  });
  return {
    clients,
    stop: () => {
      for (const ch of children) if (ch.exitCode === null && ch.signalCode === null) ch.kill('SIGKILL');
    },
  };
}

/** Seconds from `at` to each client's lease (undefined: none). */
export const boundAfter = (cs: StockClient[], at: number): Array<number | undefined> => cs.map((c) => (c.boundAt === undefined ? undefined : (c.boundAt - at) / 1000));
