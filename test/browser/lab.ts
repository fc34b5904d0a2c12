// A rack for the dashboard's browser tests, its screenshots and its bench:
// a real rackboot (in this process: the tests reach its recorder) with the
// registry, images (a test recipe that builds in seconds), NFS content
// releases (backend none: no NFS server needed to keep releases), the
// director and, when asked, DHCP in a network namespace for real clients.
//
// The director's real servers sit on a loopback network (127.0.10.0/24):
// their health checks are real HTTP requests to servers this process runs,
// and never leave the machine. Its nft rules are applied inside the lab's
// namespace, never the host's.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { dhcpService } from '../../server/dhcp/service.js';
import { directorService } from '../../server/director/service.js';
import { CommandRunner } from '../../server/director/exec.js';
import { imagesService } from '../../server/images/service.js';
import { nfsService } from '../../server/nfs/service.js';
import { renderService } from '../../server/render/service.js';
import type { ServiceFactory } from '../../server/service.js';
import { uiService } from '../../server/ui/service.js';
import type { EventInput } from '../../server/store/types.js';
import { NetLab } from '../helpers/netns.js';
import { NsSocketBroker } from '../helpers/ns-sockets.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { makeRecipe } from '../integration/images/fixtures.js';
import { makeTempDir, removeTempDir } from '../helpers/tmp.js';

export const ADMIN = 'dashboard-admin-token-0123456789';
export const VIEWER = 'dashboard-viewer-token-012345678';
export const IMAGE = 'testimg';

export const INSIDE = { name: 'inside', interface: 'eth1', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', router: '10.0.0.254', dns: ['10.0.0.1'], staticRange: '10.0.0.10-10.0.0.199' };
/** The director's real servers: loopback addresses, so their checks stay on this machine. */
export const LOOP = { name: 'loop', cidr: '127.0.10.0/24', serverAddress: '127.0.10.1', router: '127.0.10.254', staticRange: '127.0.10.10-127.0.10.99' };

export const WEB = ['web1', 'web2', 'web3'].map((name, i) => ({ name, address: `127.0.10.${11 + i}`, mac: `52:54:00:23:0a:0${i + 1}` }));

export interface LabOptions {
  /** DHCP in a namespace, and the director's rules there (needs root). */
  netns: boolean;
  director: boolean;
  /** Extra nodes blade0001... on network inside, group rack. */
  nodes?: number;
}

export interface DashboardLab {
  ts: TestServer;
  url: string;
  tmp: string;
  net: NetLab | undefined;
  srv: string | undefined;
  cli: string | undefined;
  web: Server[];
  webPort: number;
  record(e: EventInput): void;
  close(): Promise<void>;
}

async function listen(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return (server.address() as { port: number }).port;
}

/** web1 and web2 answer their checks; web3 does not run (a real server that is down). */
async function startWebServers(): Promise<{ servers: Server[]; port: number }> {
  const servers: Server[] = [];
  let port = 0;
  for (const w of WEB.slice(0, 2)) {
    const s = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`${w.name}\n`));
    port = await listen(s, w.address, port);
    servers.push(s);
  }
  return { servers, port };
}

export async function startDashboardLab(o: LabOptions): Promise<DashboardLab> {
  const tmp = makeTempDir('rackboot-dash-');
  let net: NetLab | undefined;
  let broker: NsSocketBroker | undefined;
  const web = o.director ? await startWebServers() : { servers: [], port: 0 };
  try {
    let srv: string | undefined;
    let cli: string | undefined;
    if (o.netns) {
      net = new NetLab('rbu');
      srv = net.addNs('srv');
      cli = net.addNs('cli');
      // eth0: a registered blade; eth1: a machine no node owns.
      net.veth({ ns: srv, name: 'eth1', addr: '10.0.0.1/24' }, { ns: cli, name: 'eth0', mac: '52:54:00:23:00:01' });
      broker = await NsSocketBroker.start(net, srv);
    }
    const recipes = makeRecipe(tmp, IMAGE);
    mkdirSync(join(tmp, 'sources', 'r1'), { recursive: true });
    mkdirSync(join(tmp, 'sources', 'r2'), { recursive: true });
    writeFileSync(join(tmp, 'sources', 'r1', 'index.html'), '<h1>release one</h1>\n');
    writeFileSync(join(tmp, 'sources', 'r2', 'index.html'), '<h1>release two</h1>\n');
    const extra = Array.from({ length: o.nodes ?? 0 }, (_, i) => ({
      name: `blade${String(i + 1).padStart(4, '0')}`,
      group: 'rack',
      interfaces: [{ name: 'eth0', mac: `52:54:01:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, network: 'inside', ipv4: `10.0.${4 + Math.floor(i / 250)}.${(i % 250) + 1}` }],
    }));
    const factories: ServiceFactory[] = [nfsService, imagesService, renderService];
    if (broker) factories.push(dhcpService({ opener: broker }));
    if (o.director) factories.push(directorService({ runner: new CommandRunner(srv ? ['ip', 'netns', 'exec', srv] : []) }));
    factories.push(uiService);
    const ts = await startTestServer(
      {
        cluster: { name: 'lab', domain: 'lab.local', vars: { webroot: '/var/www', site: 'rack 1' } },
        api: { listen: '127.0.0.1:0', token: ADMIN, viewerToken: VIEWER },
        // Extra nodes need room: inside is a /16 for them.
        networks: [{ ...INSIDE, cidr: o.nodes ? '10.0.0.0/16' : INSIDE.cidr }, LOOP],
        dhcp: { enabled: o.netns },
        images: { recipeDirs: [recipes], discoveryImage: null },
        nfs: {
          backend: 'none',
          contentRoots: [join(tmp, 'content')],
          localSyncRoots: [join(tmp, 'sources')],
          none: { file: join(tmp, 'exports') },
          exports: [{ name: 'www', path: join(tmp, 'content', 'www'), networks: ['inside'] }],
        },
        director: o.director
          ? {
              enabled: true,
              backend: 'nftables',
              systemPrep: false,
              natRouter: { interface: 'lo', address: '127.0.10.254/24' },
              check: { path: '/', interval: '500ms', timeout: '400ms', retries: 2, reentry: '1s' },
              services: [{ name: 'web', vip: '192.168.23.100/24', interface: 'lo', port: 80, scheduler: 'wrr', realServers: { group: 'web', port: web.port } }],
            }
          : { enabled: false },
        groups: [
          { name: 'web', image: IMAGE, loader: 'pxelinux' },
          { name: 'lab', image: IMAGE, loader: 'pxelinux' },
          { name: 'rack', image: IMAGE, loader: 'pxelinux' },
        ],
        nodes: [...WEB.map((w) => ({ name: w.name, group: 'web', vars: { weight: 1 }, interfaces: [{ name: 'eth0', mac: w.mac, network: 'loop', ipv4: w.address }] })), ...extra],
      },
      { factories, dataDir: join(tmp, 'var') },
    );
    const failed = [...ts.server.failed.entries()];
    if (failed.length) throw new Error(`services did not start: ${failed.map(([k, v]) => `${k}: ${v}`).join('; ')}`);
    const lab: DashboardLab = {
      ts,
      url: ts.url,
      tmp,
      net,
      srv,
      cli,
      web: web.servers,
      webPort: web.port,
      record: (e) => ts.server.events.record(e),
      async close() {
        await ts.stop().catch(() => undefined);
        await broker?.close();
        await net?.cleanup();
        for (const s of web.servers) s.close();
        removeTempDir(tmp);
      },
    };
    return lab;
  } catch (err) {
    await broker?.close();
    await net?.cleanup();
    for (const s of web.servers) s.close();
    removeTempDir(tmp);
    throw err;
  }
}

/** Two content releases of www, the second live. */
export async function syncContent(lab: DashboardLab): Promise<string[]> {
  const ids: string[] = [];
  for (const r of ['r1', 'r2']) {
    const res = await lab.ts.api<{ release: string }>('POST', '/api/v1/exports/www/content', { source: join(lab.tmp, 'sources', r) }, ADMIN);
    if (res.status !== 201) throw new Error(`content sync: ${res.status} ${JSON.stringify(res.body)}`);
    ids.push(res.body.release);
  }
  return ids;
}

export type BootStop = 'dhcp' | 'loader' | 'kernel' | 'initrd' | 'ready' | 'failed';

/**
 * A PXELINUX boot of `node` as rackboot's DHCP, TFTP, renderer and the
 * blade's reports record it, up to `stop`, starting at `t0`. The shapes are
 * those of the real recorders (see test/unit/ui/boot-state.test.ts).
 */
export function bootEvents(node: string, mac: string, stop: BootStop, t0: number, o: { version?: string; docroot?: string } = {}): EventInput[] {
  let t = t0;
  const at = (dt: number) => (t += dt);
  const pxe = { request: 'DISCOVER', interface: 'eth1', network: 'inside', arch: 0, firmware: 'bios', vendorClass: 'PXEClient:Arch:00000:UNDI:002001', bootFile: 'pxelinux.0' };
  const out: EventInput[] = [
    { node, mac, kind: 'dhcp.offer', ts: at(0), detail: pxe },
    { node, mac, kind: 'dhcp.ack', ts: at(60), detail: { ...pxe, request: 'REQUEST', reason: 'selecting' } },
  ];
  if (stop === 'dhcp') return out;
  out.push({ node, mac: null, kind: 'tftp.transfer', ts: at(350), detail: { file: 'pxelinux.0', kind: 'loader', bytes: 42_392, size: 42_392, durationMs: 310, blksize: 1468, windowsize: 1 } });
  out.push({ node, mac: null, kind: 'tftp.transfer', ts: at(180), detail: { file: 'ldlinux.c32', kind: 'loader', bytes: 122_308, size: 122_308, durationMs: 160, blksize: 1468 } });
  out.push({ node, mac, kind: 'render', ts: at(40), detail: { path: `pxelinux.cfg/01-${mac.replace(/:/g, '-')}`, loader: 'pxelinux', template: 'pxelinux.cfg.hbs', origin: 'shipped', bytes: 610, protocol: 'tftp' } });
  out.push({ node, mac: null, kind: 'tftp.transfer', ts: at(10), detail: { file: `pxelinux.cfg/01-${mac.replace(/:/g, '-')}`, kind: 'config', bytes: 610, size: 610, durationMs: 6, blksize: 1468 } });
  if (stop === 'loader') return out;
  if (stop === 'failed') {
    out.push({ node, mac: null, kind: 'tftp.refused', ts: at(120), detail: { file: `boot/${node}/kernel`, client: '10.0.0.99', error: 2, message: 'kernel of another node' } });
    return out;
  }
  out.push({ node, mac: null, kind: 'tftp.transfer', ts: at(2100), detail: { file: `boot/${node}/kernel`, kind: 'kernel', bytes: 7_962_112, size: 7_962_112, durationMs: 2050, blksize: 1468, windowsize: 16 } });
  if (stop === 'kernel') return out;
  out.push({ node, mac: null, kind: 'tftp.transfer', ts: at(5200), detail: { file: `boot/${node}/initrd`, kind: 'initrd', bytes: 31_457_280, size: 31_457_280, durationMs: 5150, blksize: 1468, windowsize: 16 } });
  if (stop === 'initrd') return out;
  out.push({ node, mac, kind: 'dhcp.offer', ts: at(2600), detail: { request: 'DISCOVER', interface: 'eth1', network: 'inside', vendorClass: 'udhcp 1.35.0' } });
  out.push({ node, mac, kind: 'dhcp.ack', ts: at(40), detail: { request: 'REQUEST', interface: 'eth1', network: 'inside', vendorClass: 'udhcp 1.35.0', reason: 'selecting' } });
  out.push({ node, mac: null, kind: 'waiting-content', ts: at(600), detail: { export: 'www', source: '10.0.0.1' } });
  out.push({ node, mac: null, kind: 'ready', ts: at(1900), detail: { web: 'apache2', content: 'nfs', image: IMAGE, version: o.version ?? null, docroot: o.docroot ?? '/var/www/releases/unknown', port: 80, source: '10.0.0.11' } });
  return out;
}
