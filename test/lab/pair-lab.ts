// `npm run lab -- --pair`: the paper's cluster on a pair of disk nodes.
// The namespaces of test/helpers/pair-ns.ts (disk nodes a and b on the
// outside network and both blade networks, a web client outside, a DHCP
// client namespace on the blade network) plus the blades' tap devices on
// the blade bridges, where QEMU blades boot from the floating service
// address (10.0.0.1). Each node runs `rackboot serve` with the lab's
// cluster (test/lab/rackboot.ts: NFS by ganesha, the director, the
// web-blade image) and a pair section: keepalived, its own PostgreSQL
// (a's the primary, b's a synchronous standby), conntrackd. Set up through
// the API and the CLI only, on the master; the backup gets the image and
// the content releases from it.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PAIR_NET, PairNs, pairNodeConfig, type NodeName } from '../helpers/pair-ns.js';
import { run, sh } from '../helpers/netns.js';
import { until } from '../helpers/wait.js';
import { RACKBOOT_MAIN, type NsRackboot } from '../helpers/ns-server.js';
import type { PairStatus } from '../../server/pair/status.js';
import { ensureKernel, type Kernel } from './kernel.js';
import { LabRun, type RunTopology } from './run.js';
import { LAB_PREFIX } from './state.js';
import { bladeAddr, type BladeAddr } from './topology.js';
import { rackbootConfig } from './rackboot.js';
import { BladeVm } from './vm.js';
import { nodeBody } from './lab.js';
import { tarOf, writeSitePage } from './site.js';
import { watchBoot } from './progress.js';
import type { EventView } from './timeline.js';

export interface PairLabOptions {
  blades: number;
  /** Seconds a blade may take from power-on to the pool. */
  bootTimeout: number;
  verbose: boolean;
  keepWorkDir: boolean;
  log: (line: string) => void;
}

/** A file a download through the VIP takes tens of seconds for (an established connection across the kill). */
export const BIG_FILE = { name: 'big.bin', bytes: 2 * 1024 * 1024 } as const;
export const VIP_URL = `http://${PAIR_NET.vip}/`;

/** The pair's namespaces as a lab run's topology: claimed for `--cleanup`, removed at close. */
class PairTopology implements RunTopology {
  constructor(readonly p: PairNs) {}
  get id(): string {
    return this.p.lab.id;
  }
  get namespaces(): string[] {
    return Object.values(this.p.ns);
  }
  build(): void {}
  destroy(): Promise<void> {
    return this.p.cleanup();
  }
}

/** One node's config: the lab's cluster, the pair section of pair-ns, and a dynamic range for the DHCP probe's clients. */
export function pairLabConfig(node: NodeName, workDir: string, token: string): Record<string, unknown> {
  const lab = rackbootConfig({ workDir, token, dhcp: { routerAdvertisements: true } });
  const pair = pairNodeConfig(node, { workDir, token, pair: { conntrack: { enabled: true, interface: 'eth1' } } });
  const { log: _log, ...cluster } = lab;
  return {
    ...cluster,
    // JSON lines: the drill reads the node's log for its pair decisions.
    log: { level: 'info' },
    server: pair.server,
    store: pair.store,
    networks: pair.networks,
    pair: pair.pair,
    tftp: { enabled: true, root: join(workDir, 'tftpboot') },
  };
}

export class PairLab {
  readonly p: PairNs;
  readonly run: LabRun<PairTopology>;
  readonly token: string;
  readonly nodes: Record<NodeName, NsRackboot>;
  readonly blades: BladeAddr[];
  readonly vms: BladeVm[];
  kernel!: Kernel;
  page: { sha: string; text: string } | undefined;
  private ok = false;

  private constructor(readonly opts: PairLabOptions) {
    this.token = randomBytes(16).toString('hex');
    this.run = new LabRun({ name: 'pair', topo: (dir) => new PairTopology(new PairNs(dir, LAB_PREFIX, { staticBlade: false })) });
    this.p = this.run.topo.p;
    const workDir = this.run.workDir;
    this.blades = Array.from({ length: opts.blades }, (_, i) => bladeAddr(i));
    this.vms = this.blades.map((b) => new BladeVm({ fabricNs: this.p.ns.sw, blade: b, logDir: workDir, echo: opts.verbose ? opts.log : undefined }));
    const node = (n: NodeName) => this.p.node(n, pairLabConfig(n, join(workDir, n), this.token), this.token);
    this.nodes = { a: node('a'), b: node('b') };
  }

  get id(): string {
    return this.run.topo.id;
  }

  get workDir(): string {
    return this.p.workDir;
  }

  /** Namespaces, both nodes (a master, b a synchronous standby), the image and the page on both, blades registered and still off. */
  static async start(opts: PairLabOptions, kernel?: Kernel): Promise<PairLab> {
    const lab = new PairLab(opts);
    try {
      lab.kernel = kernel ?? ensureKernel(opts.log);
      lab.plugBlades();
      for (const vm of lab.vms) lab.run.onClose(vm.name, () => vm.kill());
      opts.log(`lab ${lab.id}: a pair of disk nodes (a, b), ${opts.blades} blade(s), work dir ${lab.workDir}`);
      await lab.startNodes();
      await lab.provision();
      return lab;
    } catch (e) {
      await lab.close();
      throw e;
    }
  }

  /** The blades' taps on the blade bridges; IPv6 on the nodes' blade links (rackboot answers iPXE's router solicitations). */
  private plugBlades(): void {
    const sw = this.p.ns.sw;
    for (const b of this.blades) {
      for (const [i, tap] of b.taps.entries()) {
        sh('ip', ['-n', sw, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
        sh('ip', ['-n', sw, 'link', 'set', tap, 'master', i === 0 ? 'brin' : 'brin2']);
        sh('ip', ['-n', sw, 'link', 'set', tap, 'up']);
      }
    }
    for (const n of ['a', 'b'] as const) {
      for (const dev of ['eth1', 'eth2']) {
        const k = (key: string, v: number) => `net.ipv6.conf.${dev}.${key}=${v}`;
        sh('ip', ['netns', 'exec', this.p.ns[n], 'sysctl', '-q', '-w', k('accept_dad', 0), k('router_solicitations', 0), k('accept_ra', 0), k('disable_ipv6', 0)], { check: false });
      }
    }
  }

  private async startNodes(): Promise<void> {
    const { a, b } = this.nodes;
    for (const n of ['a', 'b'] as const) {
      mkdirSync(join(this.workDir, n, 'tftpboot'), { recursive: true });
      // Each node's data on a file system of its own, as on two machines: NFS file handles (the file
      // system's id and inode numbers) then differ between the nodes, as they do in a rack.
      const data = join(this.workDir, n, 'rackboot');
      mkdirSync(data, { recursive: true });
      sh('mount', ['-t', 'tmpfs', '-o', 'size=2g,mode=0755', `rblab-${n}`, data]);
      this.run.onClose(`disk-${n}'s file system`, () => void sh('umount', ['-l', data], { check: false }));
    }
    // After the file systems: stopped before them.
    this.run.onClose('disk nodes', () => Promise.all([a.stop(), b.stop()]).then(() => undefined));
    this.opts.log('pair: starting disk-a (bootstrap: creates the database), then disk-b (copies it, streams)');
    await a.start(180_000);
    await until('disk-a master', async () => ((await this.status('a')).role === 'master' ? true : undefined), 60_000);
    await b.start(180_000);
    await until('disk-b a synchronous standby', async () => ((await this.status('a')).database.synchronous === 'disk-b' ? true : undefined), 90_000);
    this.opts.log('pair: disk-a master (VIP, NAT router, service addresses), disk-b backup, its database a synchronous standby');
  }

  status(n: NodeName): Promise<PairStatus> {
    return this.nodes[n].api.call<PairStatus>('GET', '/pair');
  }

  /** The `rackboot` command in a node's namespace, against its API. */
  async cli(n: NodeName, args: string[], timeoutMs = 150_000): Promise<string> {
    const node = this.nodes[n];
    const r = await run('ip', ['netns', 'exec', node.ns, process.execPath, RACKBOOT_MAIN, ...args, '--api', 'http://127.0.0.1:8080', '--token', this.token], { timeoutMs });
    if (r.code !== 0) throw new Error(`rackboot ${args.join(' ')} on disk-${n} failed (${r.code}): ${(r.stderr + r.stdout).trim().split('\n').slice(-10).join('\n')}`);
    return r.stdout;
  }

  /** Group, blades, the web-blade image and the page, through disk-a; waits until disk-b has the image and the release too. */
  private async provision(): Promise<void> {
    const api = this.nodes.a.api;
    await api.call('POST', '/groups', { name: 'web', loader: 'pxelinux', image: 'web-blade' });
    for (const b of this.blades) await api.call('POST', '/nodes', nodeBody(b, 'web'));
    const t0 = Date.now();
    this.opts.log('image: building web-blade on disk-a (rackboot image build; a minute or two)');
    await this.cli('a', ['image', 'build', 'web-blade'], 600_000);
    const img = await api.call<{ current: string | null }>('GET', '/images/web-blade');
    this.opts.log(`image web-blade ${img.current} built in ${((Date.now() - t0) / 1000).toFixed(1)} s; waiting for disk-b to have it`);
    await until('disk-b has the image', async () => ((await this.nodes.b.api.call<{ current: string | null; versions: Array<{ version: string }> }>('GET', '/images/web-blade')).versions.some((v) => v.version === img.current) ? true : undefined), 300_000, 1000);
    const site = join(this.workDir, 'site');
    this.page = writeSitePage(site, this.id);
    writeFileSync(join(site, BIG_FILE.name), Buffer.alloc(BIG_FILE.bytes, 7));
    const sync = await api.call<{ release: string; files: number; peers?: Record<string, string> }>('POST', '/exports/www/content', await tarOf(site), { 'content-type': 'application/x-tar' });
    this.opts.log(`content: release ${sync.release} (${sync.files} files) is live in export www; disk-b: ${JSON.stringify(sync.peers ?? {})}`);
    await until('disk-b lacks nothing', async () => {
      const s = await this.status('a');
      return s.lacks.here.length + s.lacks.peer.length === 0 ? true : undefined;
    }, 120_000, 1000);
  }

  async events(n: NodeName, name: string): Promise<EventView[]> {
    return this.nodes[n].api.call<EventView[]>('GET', `/nodes/${name}/events?limit=10000`);
  }

  async inPool(n: NodeName, name: string): Promise<boolean> {
    const d = await this.nodes[n].api.call<{ services: Array<{ realServers: Array<{ node: string | null; inPool: boolean }> }> }>('GET', '/director');
    return d.services.some((s) => s.realServers.some((r) => r.node === name && r.inPool));
  }

  /** Powers a blade on and waits until it reported ready (to `via`, the master) and is in that node's pool. */
  async boot(name: string, via: NodeName): Promise<{ name: string; upAfter: number; poolAfter: number; events: EventView[] }> {
    const vm = this.vms.find((x) => x.name === name);
    if (!vm) throw new Error(`no blade ${name}`);
    this.opts.log(`${name}: powering on (boots from disk-${via})`);
    const since = Date.now();
    const watch = watchBoot(name, since, () => this.events(via, name), this.opts.log);
    try {
      vm.powerOn();
      const timeout = this.opts.bootTimeout * 1000;
      const ready = await until(`${name} ready`, async () => {
        if (!vm.running) throw new Error(`${name} powered off; see ${vm.logFile}`);
        return (await this.events(via, name)).find((e) => e.kind === 'ready' && e.ts >= vm.poweredOnAt);
      }, timeout, 500);
      await until(`${name} in disk-${via}'s pool`, async () => ((await this.inPool(via, name)) ? true : undefined), timeout, 250);
      const poolAt = Date.now();
      return { name, upAfter: (ready.ts - vm.poweredOnAt) / 1000, poolAfter: (poolAt - vm.poweredOnAt) / 1000, events: await this.events(via, name) };
    } catch (e) {
      if (!vm.running) throw new Error(`${(e as Error).message}; ${name} powered off, see ${vm.logFile}`);
      throw e;
    } finally {
      await watch.stop();
    }
  }

  succeeded(): void {
    this.ok = true;
  }

  async close(): Promise<void> {
    const keep = this.opts.keepWorkDir || !this.ok;
    await this.run.close({ keepWorkDir: keep });
    if (keep) this.opts.log(`lab: logs kept in ${this.workDir}`);
  }
}
