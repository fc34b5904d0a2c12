// The shipped images booted for real: QEMU (TCG) loads the kernel and the
// RAM disk that rackboot serves for boot/<node>/{kernel,initrd} (base image
// + the node's overlay) directly with -kernel/-initrd, two user-mode NICs
// attached in the opposite order to the registry's. web-blade must rename
// them by MAC, get both addresses by DHCP, load the NFS client, mount the
// content from a real nfs-ganesha, start Apache (busybox httpd when the
// build host has no apache2), report "ready" to the API with its report
// token and serve the NFS page; with busybox httpd (rackboot.web=busybox)
// too, following content syncs. discovery must register the machine.
//
// Stand-in: the NFS service's export catalog is replaced by one that points
// at the ganesha this test runs, in the form the NFS service gives (source,
// "vers=4,ro,port=N", contentDir "current"); the NFS subsystem is tested on
// its own. Guests reach the host's loopback as 10.0.2.2.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import type { BootFile } from '../../../server/boot/content.js';
import { pickGlob } from '../../../server/images/kernel.js';
import { loadRecipe } from '../../../server/images/recipe.js';
import { imagesService } from '../../../server/images/service.js';
import { SHIPPED_IMAGES } from '../../../server/paths.js';
import { haveCommand, IN_CI, requireLab } from '../../helpers/env.js';
import { startTestServer, TEST_NETWORKS, type TestServer } from '../../helpers/server.js';
import { suiteTempDir } from '../../helpers/tmp.js';

const TOKEN = 'qemu-token';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
    srv.on('error', reject);
  });
}

async function waitPort(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((r) => {
      const c = connect(port, '127.0.0.1', () => (c.end(), r(true)));
      c.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
}

async function save(f: BootFile, path: string): Promise<void> {
  writeFileSync(path, await f.read(0, f.size));
  await f.close?.();
}

function kernelAvailable(t: import('node:test').TestContext): boolean {
  const r = loadRecipe('web-blade', [SHIPPED_IMAGES]);
  const deb = 'deb' in r.kernel ? pickGlob(r.kernel.deb) : r.kernel.file;
  if (deb) return true;
  const why = `needs the blade kernel (${'deb' in r.kernel ? r.kernel.deb : ''}): run scripts/fetch-kernel.sh`;
  if (IN_CI) throw new Error(`CI must run this test, but it ${why}`);
  console.log(`# skipped: ${t.name}: ${why}`);
  t.skip(why);
  return false;
}

const root = suiteTempDir('rb-qemu-');
describe('shipped images boot in QEMU', () => {
  let s: TestServer | undefined;
  let ganesha: ChildProcess | undefined;
  const qemus: ChildProcess[] = [];
  let nfsPort = 0;

  before(async () => {
    // Without root or the tools, the tests below skip (or fail in CI) with the reason.
    if (process.getuid?.() !== 0 || !['qemu-system-x86_64', 'ganesha.nfsd', 'busybox'].every(haveCommand)) return;
    // Real nfs-ganesha on a loopback port of its own (other tests may run one on 2049).
    nfsPort = await freePort();
    // The NFS service's 'releases' layout: the live content behind a `current` symlink.
    mkdirSync(join(root, 'www', 'releases', 'r1'), { recursive: true });
    mkdirSync(join(root, 'recovery'));
    writeFileSync(join(root, 'www', 'releases', 'r1', 'index.html'), '<h1>content from NFS</h1>\n');
    symlinkSync('releases/r1', join(root, 'www', 'current'));
    writeFileSync(
      join(root, 'ganesha.conf'),
      `NFS_CORE_PARAM { Bind_addr = 127.0.0.1; NFS_Port = ${nfsPort}; Protocols = 4; Enable_UDP = false; Enable_NLM = false; Enable_RQUOTA = false; }
NFSV4 { Graceless = true; RecoveryRoot = "${join(root, 'recovery')}"; }
MDCACHE { Use_Getattr_Directory_Invalidation = true; }
EXPORT { Export_Id = 1; Path = "${join(root, 'www')}"; Pseudo = "/www"; Access_Type = RO; Squash = no_root_squash; SecType = sys; Protocols = 4; Transports = TCP; Attr_Expiration_Time = 0; FSAL { Name = VFS; } }
`,
    );
    ganesha = spawn('ganesha.nfsd', ['-F', '-f', join(root, 'ganesha.conf'), '-L', join(root, 'ganesha.log'), '-p', join(root, 'ganesha.pid'), '-N', 'NIV_EVENT'], { stdio: 'ignore' });
    await waitPort(nfsPort, 15_000);
    const apiPort = await freePort();
    s = await startTestServer(
      {
        api: { listen: `127.0.0.1:${apiPort}`, token: TOKEN, publicUrl: `http://10.0.2.2:${apiPort}` },
        // QEMU's user-mode network, where the VMs' addresses come from.
        networks: [...TEST_NETWORKS, { name: 'slirp', cidr: '10.0.2.0/24', serverAddress: '10.0.2.2', staticRange: '10.0.2.100-10.0.2.199' }],
        images: { keep: 2, discoveryImage: 'discovery' },
      },
      { factories: [imagesService] },
    );
    s.server.boot.exports = {
      names: () => ['www'],
      mountFor: (name) => (name === 'www' ? { source: '10.0.2.2:/www', options: `vers=4,ro,port=${nfsPort}`, contentDir: 'current' } : undefined),
    };
  });

  after(async () => {
    // Stop what this test started (by its handle), wait for each to exit, then remove the files.
    const stop = (p: ChildProcess | undefined, sig: NodeJS.Signals) =>
      new Promise<void>((resolve) => {
        if (!p || p.exitCode !== null || p.signalCode !== null) return resolve();
        const timer = setTimeout(() => (p.kill('SIGKILL'), resolve()), 5000);
        p.once('exit', () => (clearTimeout(timer), resolve()));
        p.kill(sig);
      });
    await Promise.all(qemus.map((q) => stop(q, 'SIGKILL')));
    await s?.stop();
    await stop(ganesha, 'SIGTERM');
  });

  const api = <T = unknown>(method: string, path: string, body?: unknown) => s!.api<T>(method, path, body, TOKEN);

  async function build(name: string): Promise<string> {
    const r = await api<{ id: string }>('POST', `/api/v1/images/${name}/builds`);
    assert.equal(r.status, 202);
    for (;;) {
      const j = (await api<{ state: string; version: string; error: string }>('GET', `/api/v1/images/${name}/builds/${r.body.id}`)).body;
      if (j.state === 'succeeded') return j.version;
      if (j.state === 'failed') throw new Error(`build of ${name} failed: ${j.error}`);
      await new Promise((res) => setTimeout(res, 250));
    }
  }

  function qemu(kernel: string, initrd: string, cmdline: string, nics: string[], log: string): ChildProcess {
    const args = ['-accel', 'tcg', '-m', '512', '-smp', '1', '-nographic', '-no-reboot', '-kernel', kernel, '-initrd', initrd, '-append', cmdline, ...nics];
    const q = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    q.stdout!.on('data', (d: Buffer) => writeFileSync(log, d, { flag: 'a' }));
    q.stderr!.on('data', (d: Buffer) => writeFileSync(log, d, { flag: 'a' }));
    qemus.push(q);
    return q;
  }

  test('web-blade: two NICs by DHCP (named by MAC), NFS content, Apache, ready report, page served', { timeout: 400_000 }, async (t) => {
    if (!requireLab(t, { root: true, commands: ['qemu-system-x86_64', 'ganesha.nfsd', 'busybox'] }) || !kernelAvailable(t)) return;
    await api('POST', '/api/v1/groups', { name: 'web', image: 'web-blade' });
    const made = await api('POST', '/api/v1/nodes', {
      name: 'blade1',
      group: 'web',
      interfaces: [
        { name: 'eth0', mac: '52:54:00:00:0a:01', network: 'inside', ipv4: '10.0.0.11' },
        { name: 'eth1', mac: '52:54:00:00:0b:01', network: 'inside2', ipv4: '10.0.1.11' },
      ],
    });
    assert.equal(made.status, 201);
    const version = await build('web-blade');
    const client = { address: '10.0.0.11', protocol: 'http' as const };
    const kernel = join(root, 'kernel');
    const initrd = join(root, 'initrd');
    await save((await s!.server.boot.lookup('boot/blade1/kernel', client))!, kernel);
    await save((await s!.server.boot.lookup('boot/blade1/initrd', client))!, initrd);
    const desc = (await s!.server.boot.images!.describe('web-blade'))!;
    assert.equal(desc.version, version);
    const httpPort = await freePort();
    const log = join(root, 'blade1.log');
    // The first NIC the kernel finds has eth1's MAC and sits on 10.0.2.0/24 (where the API and NFS are).
    qemu(kernel, initrd, desc.cmdline, [
      '-netdev', `user,id=n0,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:${httpPort}-:80`,
      '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:00:0b:01',
      '-netdev', 'user,id=n1,net=10.0.3.0/24',
      '-device', 'virtio-net-pci,netdev=n1,mac=52:54:00:00:0a:01',
    ], log);
    type Ev = { kind: string; detail: Record<string, unknown> };
    let events: Ev[] = [];
    const deadline = Date.now() + 300_000;
    while (Date.now() < deadline) {
      events = (await api<Ev[]>('GET', '/api/v1/nodes/blade1/events')).body;
      if (events.some((e) => e.kind === 'ready')) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const serial = () => readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('rackboot')).join('\n');
    const readyEv = events.find((e) => e.kind === 'ready');
    assert.ok(readyEv, `no ready event in 300 s; console:\n${serial()}`);
    const expectWeb = haveCommand('apache2') ? 'apache2' : 'busybox-httpd';
    assert.equal(readyEv.detail.web, expectWeb, serial());
    assert.equal(readyEv.detail.content, 'nfs', serial());
    assert.equal(readyEv.detail.mount, '10.0.2.2:/www');
    // The release `current` points at, not the link (a link switched between Apache's stat and open mixed two files).
    assert.equal(readyEv.detail.docroot, '/var/www/releases/r1');
    assert.equal(readyEv.detail.version, version);
    const net = events.find((e) => e.kind === 'network');
    assert.ok(net, serial());
    // Named by MAC: eth1 (…0b:01) is the NIC on 10.0.2.0/24, eth0 the other.
    assert.match(String(net.detail.addresses), /eth0=10\.0\.3\.15\/24/, serial());
    assert.match(String(net.detail.addresses), /eth1=10\.0\.2\.15\/24/, serial());
    const page = await fetch(`http://127.0.0.1:${httpPort}/`);
    assert.equal(page.status, 200);
    assert.equal(await page.text(), '<h1>content from NFS</h1>\n');
    // A content sync switches `current` to a new release: the next request serves it.
    mkdirSync(join(root, 'www', 'releases', 'r2'));
    writeFileSync(join(root, 'www', 'releases', 'r2', 'index.html'), '<h1>release 2</h1>\n');
    symlinkSync('releases/r2', join(root, 'www', 'current.new'));
    renameSync(join(root, 'www', 'current.new'), join(root, 'www', 'current'));
    let body = '';
    let closed = 0;
    for (let i = 0; i < 40 && body !== '<h1>release 2</h1>\n'; i++) {
      await new Promise((r) => setTimeout(r, 500));
      try {
        body = await (await fetch(`http://127.0.0.1:${httpPort}/`)).text();
      } catch (e) {
        // Apache's graceful restart closes idle keep-alive connections; fetch does not retry a
        // request it sent on one just as it closed (a browser or curl would). Counted, then asked again.
        if (!/other side closed|ECONNRESET|socket/i.test(String((e as Error).cause ?? e))) throw e;
        closed++;
      }
    }
    if (closed) console.log(`# ${closed} request(s) met a keep-alive connection Apache closed at its graceful restart`);
    assert.equal(body, '<h1>release 2</h1>\n', 'the switched release is served');
    assert.match(serial(), new RegExp(`${expectWeb} follows the content to releases/r2`));
  });

  test('web-blade with busybox httpd (rackboot.web=busybox): a switched release is served, twice', { timeout: 400_000 }, async (t) => {
    if (!requireLab(t, { root: true, commands: ['qemu-system-x86_64', 'ganesha.nfsd', 'busybox'] }) || !kernelAvailable(t)) return;
    // The first blade's VM is not needed any more: its CPU goes to this one.
    for (const q of qemus) q.kill('SIGKILL');
    if ((await api('GET', '/api/v1/groups/web')).status === 404) await api('POST', '/api/v1/groups', { name: 'web', image: 'web-blade' });
    const made = await api('POST', '/api/v1/nodes', {
      name: 'blade2',
      group: 'web',
      interfaces: [
        { name: 'eth0', mac: '52:54:00:00:0a:02', network: 'inside', ipv4: '10.0.0.12' },
        { name: 'eth1', mac: '52:54:00:00:0b:02', network: 'inside2', ipv4: '10.0.1.12' },
      ],
    });
    assert.equal(made.status, 201);
    let desc = await s!.server.boot.images!.describe('web-blade');
    if (!desc) {
      await build('web-blade');
      desc = (await s!.server.boot.images!.describe('web-blade'))!;
    }
    const client = { address: '10.0.0.12', protocol: 'http' as const };
    const kernel = join(root, 'kernel2');
    const initrd = join(root, 'initrd2');
    await save((await s!.server.boot.lookup('boot/blade2/kernel', client))!, kernel);
    await save((await s!.server.boot.lookup('boot/blade2/initrd', client))!, initrd);
    const httpPort = await freePort();
    const log = join(root, 'blade2.log');
    qemu(kernel, initrd, `${desc.cmdline} rackboot.web=busybox`, [
      '-netdev', `user,id=n0,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:${httpPort}-:80`,
      '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:00:0b:02',
      '-netdev', 'user,id=n1,net=10.0.3.0/24',
      '-device', 'virtio-net-pci,netdev=n1,mac=52:54:00:00:0a:02',
    ], log);
    type Ev = { kind: string; detail: Record<string, unknown> };
    let events: Ev[] = [];
    const deadline = Date.now() + 300_000;
    while (Date.now() < deadline) {
      events = (await api<Ev[]>('GET', '/api/v1/nodes/blade2/events')).body;
      if (events.some((e) => e.kind === 'ready')) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const serial = () => readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('rackboot')).join('\n');
    const readyEv = events.find((e) => e.kind === 'ready');
    assert.ok(readyEv, `no ready event in 300 s; console:\n${serial()}`);
    assert.equal(readyEv.detail.web, 'busybox-httpd', serial());
    assert.equal(readyEv.detail.content, 'nfs', serial());
    const get = async () => {
      try {
        return await (await fetch(`http://127.0.0.1:${httpPort}/`)).text();
      } catch {
        return ''; // the moment httpd is started again
      }
    };
    for (const rel of ['b1', 'b2']) {
      const text = `<h1>release ${rel}</h1>\n`;
      mkdirSync(join(root, 'www', 'releases', rel));
      writeFileSync(join(root, 'www', 'releases', rel, 'index.html'), text);
      symlinkSync(`releases/${rel}`, join(root, 'www', 'current.new'));
      renameSync(join(root, 'www', 'current.new'), join(root, 'www', 'current'));
      let body = '';
      for (let i = 0; i < 60 && body !== text; i++) {
        await new Promise((r) => setTimeout(r, 500));
        body = await get();
      }
      assert.equal(body, text, `busybox httpd serves the switched release ${rel}; console:\n${serial()}`);
    }
    assert.match(serial(), /busybox-httpd follows the content to releases\/b2/);
  });

  test('discovery: an unknown machine registers itself with its MACs and hardware facts', { timeout: 300_000 }, async (t) => {
    if (!requireLab(t, { root: true, commands: ['qemu-system-x86_64', 'busybox'] }) || !kernelAvailable(t)) return;
    // The blades before it are done: their CPU goes to this VM (two TCG guests on 2 cores starve each other).
    for (const q of qemus) q.kill('SIGKILL');
    await build('discovery');
    const client = { address: '10.0.2.15', protocol: 'tftp' as const };
    const kernel = join(root, 'dkernel');
    const initrd = join(root, 'dinitrd');
    await save((await s!.server.boot.lookup('boot/_discover/kernel', client))!, kernel);
    await save((await s!.server.boot.lookup('boot/_discover/initrd', client))!, initrd);
    const desc = (await s!.server.boot.images!.describe('discovery'))!;
    const log = join(root, 'discover.log');
    writeFileSync(join(root, 'disk.img'), Buffer.alloc(1 << 20));
    const q = qemu(kernel, initrd, desc.cmdline.replace('rackboot.after=reboot', 'rackboot.after=poweroff'), [
      '-netdev', 'user,id=n0,net=10.0.2.0/24',
      '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:00:0c:07',
      '-drive', `file=${join(root, 'disk.img')},format=raw,if=virtio`,
    ], log);
    const exited = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 240_000);
      q.on('exit', () => (clearTimeout(timer), resolve(true)));
    });
    const serial = readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('rackboot')).join('\n');
    assert.ok(exited, `discovery did not power off in 240 s:\n${serial}`);
    const node = await api<{ discovered: boolean; interfaces: Array<{ mac: string; network: string }>; vars: { facts: { cpu: { count: number }; memoryKiB: number; nics: Array<{ mac: string; driver: string }>; disks: Array<{ name: string; bytes: number }> } } }>(
      'GET',
      '/api/v1/nodes/node-525400000c07',
    );
    assert.equal(node.status, 200, serial);
    assert.equal(node.body.discovered, true);
    assert.equal(node.body.interfaces[0]!.network, 'slirp');
    const f = node.body.vars.facts;
    assert.equal(f.cpu.count, 1);
    assert.ok(f.memoryKiB > 300_000 && f.memoryKiB < 600_000, String(f.memoryKiB));
    assert.deepEqual(f.nics.map((n) => [n.mac, n.driver]), [['52:54:00:00:0c:07', 'virtio_net']]);
    assert.ok(f.disks.some((d) => d.name === 'vda'), JSON.stringify(f.disks));
  });
});
