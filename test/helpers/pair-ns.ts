// Two disk nodes of a pair in network namespaces, without QEMU: the
// outside network (a web client), the blade networks inside and inside2
// (a DHCP client, a "blade" running busybox httpd behind the NAT router),
// each node on all three with its own address, rackboot with its managed
// PostgreSQL in each node's namespace. Killing a node is what the drill
// does: every process in its namespace SIGKILLed, its links down.
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { NetLab, sh } from './netns.js';
import { NsRackboot } from './ns-server.js';
import { streamServerArgs } from './streams.js';

export const PAIR_NET = {
  vip: '192.168.1.100',
  client: '192.168.1.10',
  outside: { a: '192.168.1.2', b: '192.168.1.3' },
  inside: { service: '10.0.0.1', router: '10.0.0.254', a: '10.0.0.2', b: '10.0.0.3', blade: '10.0.0.11', blade2: '10.0.0.12' },
  /** The port of the "streams" service: long-lived echo connections, round robin over both blades (startStreamBlades). */
  streamPort: 7000,
  inside2: { service: '10.0.1.1', a: '10.0.1.2', b: '10.0.1.3' },
} as const;

export type NodeName = 'a' | 'b';

export interface PairNodeConfigOptions {
  workDir: string;
  token: string;
  /** Sections to add or replace (nfs, images, dhcp...). */
  extra?: Record<string, unknown>;
  pair?: Record<string, unknown>;
  check?: Record<string, unknown>;
  /** A second virtual service on PAIR_NET.streamPort over both blades (see PairNs.startStreamBlades). */
  streams?: boolean;
}

/** One node's config: the same cluster on both, the pair section differing in peer and priority. */
export function pairNodeConfig(node: NodeName, o: PairNodeConfigOptions): Record<string, unknown> {
  const peer: NodeName = node === 'a' ? 'b' : 'a';
  return {
    log: { level: 'info' },
    server: { name: `disk-${node}`, heartbeat: '1s' },
    store: { driver: 'postgres', url: `postgres://rackboot@${PAIR_NET.inside.service}/rackboot` },
    networks: [
      { name: 'inside', interface: 'eth1', cidr: '10.0.0.0/24', serverAddress: PAIR_NET.inside.service, router: PAIR_NET.inside.router, staticRange: '10.0.0.10-10.0.0.99', dynamicRange: '10.0.0.100-10.0.0.199' },
      { name: 'inside2', interface: 'eth2', cidr: '10.0.1.0/24', serverAddress: PAIR_NET.inside2.service, staticRange: '10.0.1.10-10.0.1.99' },
    ],
    dhcp: { enabled: true },
    tftp: { enabled: true, root: join(o.workDir, 'tftpboot') },
    images: { enabled: false },
    nfs: { enabled: false },
    director: {
      enabled: true,
      backend: 'nftables',
      natRouter: { interface: 'eth1', address: `${PAIR_NET.inside.router}/24` },
      services: [
        {
          name: 'web',
          vip: `${PAIR_NET.vip}/24`,
          interface: 'eth0',
          port: 80,
          scheduler: 'rr',
          realServers: { port: 80, static: [{ name: 'blade', address: PAIR_NET.inside.blade }] },
          check: { path: '/', expect: 200, interval: '1s', timeout: '1s', retries: 2, reentry: '2s', ...(o.check ?? {}) },
        },
        ...(o.streams
          ? [
              {
                name: 'streams',
                vip: `${PAIR_NET.vip}/24`,
                interface: 'eth0',
                port: PAIR_NET.streamPort,
                scheduler: 'rr',
                realServers: { port: PAIR_NET.streamPort, static: [{ name: 'blade', address: PAIR_NET.inside.blade }, { name: 'blade2', address: PAIR_NET.inside.blade2 }] },
                check: { type: 'tcp', interval: '1s', timeout: '1s', retries: 2, reentry: '2s' },
              },
            ]
          : []),
      ],
    },
    pair: {
      enabled: true,
      peer: { name: `disk-${peer}`, addresses: [PAIR_NET.outside[peer], PAIR_NET.inside[peer], PAIR_NET.inside2[peer]] },
      priority: node === 'a' ? 150 : 100,
      database: { auth: 'trust', bootstrap: node === 'a' },
      ...(o.pair ?? {}),
    },
    ...(o.extra ?? {}),
  };
}

export class PairNs {
  readonly lab: NetLab;
  readonly ns: { a: string; b: string; sw: string; client: string; dev: string; blade: string };
  readonly nodes = new Map<NodeName, NsRackboot>();

  /** `staticBlade: false`: no busybox "blade" namespace at 10.0.0.11 (the lab's QEMU blades take the blade network's addresses). */
  constructor(readonly workDir: string, prefix = 'rbpr', o: { staticBlade?: boolean } = {}) {
    this.lab = new NetLab(prefix);
    const lab = this.lab;
    this.ns = { sw: lab.addNs('sw'), a: lab.addNs('a'), b: lab.addNs('b'), client: lab.addNs('cl'), dev: lab.addNs('dev'), blade: lab.addNs('bl') };
    for (const br of ['brout', 'brin', 'brin2']) lab.bridge(this.ns.sw, br);
    let port = 0;
    const plug = (ns: string, name: string, bridge: string, addr?: string, mac?: string) => {
      const p = `p${port++}`;
      lab.veth({ ns, name, addr, mac }, { ns: this.ns.sw, name: p });
      lab.enslave(this.ns.sw, p, bridge);
    };
    for (const n of ['a', 'b'] as const) {
      plug(this.ns[n], 'eth0', 'brout', `${PAIR_NET.outside[n]}/24`);
      plug(this.ns[n], 'eth1', 'brin', `${PAIR_NET.inside[n]}/24`);
      plug(this.ns[n], 'eth2', 'brin2', `${PAIR_NET.inside2[n]}/24`);
      for (const k of ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']) lab.execSync(this.ns[n], 'sysctl', ['-q', '-w', k], { check: false });
    }
    plug(this.ns.client, 'eth0', 'brout', `${PAIR_NET.client}/24`);
    plug(this.ns.dev, 'eth0', 'brin', undefined, '52:54:00:00:0c:01');
    // DHCP clients without an address broadcast through a device route.
    lab.execSync(this.ns.dev, 'ip', ['route', 'add', 'default', 'dev', 'eth0']);
    if (o.staticBlade !== false) {
      plug(this.ns.blade, 'eth0', 'brin', `${PAIR_NET.inside.blade}/24`);
      lab.execSync(this.ns.blade, 'ip', ['route', 'add', 'default', 'via', PAIR_NET.inside.router]);
    }
    // PostgreSQL runs as its own user: it must reach the nodes' data directories.
    mkdirSync(workDir, { recursive: true });
    chmodSync(workDir, 0o755);
  }

  /** The blade's web server: busybox httpd serving one page that names it. */
  startBlade(): void {
    const dir = join(this.workDir, 'www');
    mkdirSync(dir, { recursive: true });
    sh('sh', ['-c', `echo 'served by blade' > '${dir}/index.html'`]);
    this.lab.spawn(this.ns.blade, 'busybox', ['httpd', '-f', '-p', '80', '-h', dir]);
  }

  /**
   * Echo servers on PAIR_NET.streamPort on the blade and on a second blade
   * (10.0.0.12): with two real servers, a connection the new master does not
   * know may be balanced to the other one (reset), so only a synced NAT entry
   * keeps it on its blade.
   */
  startStreamBlades(): void {
    const ns2 = this.lab.addNs('bl2');
    const lab = this.lab;
    lab.veth({ ns: ns2, name: 'eth0', addr: `${PAIR_NET.inside.blade2}/24` }, { ns: this.ns.sw, name: 'pb2' });
    lab.enslave(this.ns.sw, 'pb2', 'brin');
    lab.execSync(ns2, 'ip', ['route', 'add', 'default', 'via', PAIR_NET.inside.router]);
    const [cmd, ...args] = streamServerArgs('blade', PAIR_NET.streamPort);
    lab.spawn(this.ns.blade, cmd!, args);
    const [cmd2, ...args2] = streamServerArgs('blade2', PAIR_NET.streamPort);
    lab.spawn(ns2, cmd2!, args2);
  }

  node(n: NodeName, config: Record<string, unknown>, token: string): NsRackboot {
    const dir = join(this.workDir, n);
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o755);
    // api.listen 'served' (the default): loopback, the VIP, and this node's own pair-link addresses, where the other node calls it.
    const r = new NsRackboot(this.ns[n], dir, config, { listen: 'served', token });
    this.nodes.set(n, r);
    return r;
  }

  /** A pulled plug: every process in the node's namespace SIGKILLed (rackboot, keepalived, conntrackd, PostgreSQL), its links down. */
  /** Returns when the plug was pulled (every link down at once), epoch ms. */
  async kill(n: NodeName): Promise<number> {
    const ns = this.ns[n];
    // The plug first, all links in one command, then the processes.
    sh('ip', ['-n', ns, '-batch', '-'], { input: ['eth0', 'eth1', 'eth2'].map((l) => `link set ${l} down\n`).join(''), check: false });
    const at = Date.now();
    const pids = sh('ip', ['netns', 'pids', ns], { check: false }).stdout.split(/\s+/).filter(Boolean);
    if (pids.length) sh('kill', ['-9', ...pids], { check: false });
    await this.nodes.get(n)?.kill('SIGKILL');
    return at;
  }

  /** The node's links up again, its own addresses back (a SIGKILLed keepalived left the floating ones: gone with the links' reset). */
  revive(n: NodeName): void {
    const ns = this.ns[n];
    const own = [PAIR_NET.outside[n], PAIR_NET.inside[n], PAIR_NET.inside2[n]];
    ['eth0', 'eth1', 'eth2'].forEach((l, i) => {
      sh('ip', ['-n', ns, 'addr', 'flush', 'dev', l]);
      sh('ip', ['-n', ns, 'addr', 'add', `${own[i]}/24`, 'dev', l]);
      sh('ip', ['-n', ns, 'link', 'set', l, 'up']);
    });
  }

  async cleanup(): Promise<void> {
    for (const r of this.nodes.values()) await r.stop().catch(() => undefined);
    await this.lab.cleanup();
  }
}
