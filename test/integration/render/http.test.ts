// HTTP boot and the operator routes on a real server (loopback port, SQLite
// file), driven with curl: what /boot/* serves equals the API preview and the
// hub's answer to TFTP; Range, multiple ranges, 416, ETag/304, If-Range,
// HEAD; 404 for unregistered MACs and nodes; a registered machine gets only
// its own files; template errors; the CLI. The images service is not part of
// this issue: a stand-in provider serves boot/<node>/kernel|initrd for
// registered nodes (the real one comes from the images service).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bufferFile, type BootFile } from '../../../server/boot/content.js';
import type { ServiceFactory } from '../../../server/service.js';
import { PACKAGE_ROOT } from '../../../server/paths.js';
import { httpBootService } from '../../../server/render/http.js';
import { renderService } from '../../../server/render/service.js';
import { tftpService, type TftpService } from '../../../server/tftp/service.js';
import { requireLab } from '../../helpers/env.js';
import { run } from '../../helpers/netns.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { CLUSTER, EXPORTS, imageCatalog } from './fixture.js';
import { suiteTempDir } from '../../helpers/tmp.js';

const KERNEL_SIZE = 3 * 1024 * 1024 + 17;
const kernels = new Map<string, Buffer>();
const images = { discoveryBuilt: false };

/** Stand-in for the images service: catalog plus kernels/RAM disks of registered nodes. */
const fakeImages: ServiceFactory = (ctx) => ({
  name: 'images',
  async start() {
    ctx.boot.images = imageCatalog(images);
    ctx.boot.exports = EXPORTS;
    ctx.boot.addProvider({
      name: 'fake-images',
      async lookup(path): Promise<BootFile | undefined> {
        const m = /^boot\/([^/]+)\/(kernel|initrd)$/.exec(path);
        if (!m || !(await ctx.store.getNode(m[1]!))) return undefined;
        const key = `${m[1]}/${m[2]}`;
        if (!kernels.has(key)) kernels.set(key, randomBytes(m[2] === 'kernel' ? KERNEL_SIZE : 1000));
        const data = kernels.get(key)!;
        return bufferFile(data, m[2] as 'kernel' | 'initrd', { node: m[1]!, etag: `"${createHash('sha256').update(data).digest('hex').slice(0, 16)}"` });
      },
    });
  },
  async stop() {},
});

interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

const tmp = suiteTempDir('rackboot-httpboot-');
let n = 0;
async function curl(url: string, ...args: string[]): Promise<CurlResult> {
  const out = join(tmp, `body-${n++}`);
  writeFileSync(out, '');
  const r = await run('curl', ['-s', '-D', '-', '-o', out, ...args, url], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, `curl ${args.join(' ')} ${url} failed: ${r.stderr}`);
  const blocks = r.stdout.split(/\r?\n\r?\n/).filter((b) => b.startsWith('HTTP/'));
  if (!blocks.length) return { status: 0, headers: {}, body: readFileSync(out) }; // tftp:// has no headers
  const lines = blocks[blocks.length - 1]!.split(/\r?\n/);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(lines[0]!.split(' ')[1]), headers, body: readFileSync(out) };
}

// The helper's own api section (loopback port 0, its token); blades' URLs then say :0.
const { api: _api, ...withoutApi } = CLUSTER;
const BASE = 'http://10.0.0.1:0';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('HTTP boot and the render routes', () => {
  let s: TestServer;
  let ops: string;
  let tftpPort: number;
  const auth = () => ['-H', `authorization: Bearer ${s.token}`];

  before(async () => {
    ops = join(tmp, 'templates');
    mkdirSync(join(tmp, 'tftpboot'));
    // The files templates check wants for the loader these nodes use (placeholders: these tests are about templates).
    for (const f of ['pxelinux.0', 'ldlinux.c32', 'syslinux.efi', 'ldlinux.e64', 'ipxe.efi']) writeFileSync(join(tmp, 'tftpboot', f), 'placeholder');
    mkdirSync(join(ops, 'partials'), { recursive: true });
    s = await startTestServer(
      {
        ...withoutApi,
        templates: { dir: ops },
        // These tests ask for any node's files from loopback; the default (node) is tested on its own below.
        images: { overlayClients: 'any' },
        tftp: { enabled: true, address: '127.0.0.1', port: 0, root: join(tmp, 'tftpboot'), loaderDirs: [], clientRate: 10_000, clientBurst: 10_000 },
        // A network on loopback so curl --interface 127.0.0.5 is a registered blade.
        networks: [...CLUSTER.networks, { name: 'lo', cidr: '127.0.0.0/8', serverAddress: '127.0.0.1' }],
        nodes: [
          ...CLUSTER.nodes,
          { name: 'lobox', group: 'web', interfaces: [{ name: 'eth0', mac: '52:54:00:00:7f:05', network: 'lo', ipv4: '127.0.0.5' }] },
        ],
      },
      { factories: [tftpService, renderService, httpBootService, fakeImages] },
    );
    tftpPort = (s.server.services.find((x) => x.name === 'tftp') as TftpService).bound[0]!.port;
  });
  after(async () => {
    await s?.stop();
  });

  test('iPXE script over HTTP equals the API preview; unregistered MAC is a 404 until a discovery image exists', async (t) => {
    if (!requireLab(t, { commands: ['curl'] })) return;
    const got = await curl(`${s.url}/boot/ipxe/52:54:00:00:0a:01`);
    assert.equal(got.status, 200);
    assert.equal(got.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(Number(got.headers['content-length']), got.body.length);
    const preview = await curl(`${s.url}/api/v1/nodes/blade1/render/ipxe`, ...auth());
    assert.equal(preview.status, 200);
    assert.equal(got.body.toString(), preview.body.toString());
    assert.match(got.body.toString(), /^#!ipxe\n/);
    assert.ok(got.body.toString().includes(`kernel --name kernel ${BASE}/boot/blade1/kernel initrd=initrd `), got.body.toString());
    // Any MAC form in the URL.
    assert.equal((await curl(`${s.url}/boot/ipxe/52-54-00-00-0A-01`)).body.toString(), got.body.toString());

    images.discoveryBuilt = false;
    const unknown = await curl(`${s.url}/boot/ipxe/52:54:00:99:99:99`);
    assert.equal(unknown.status, 404);
    assert.match(JSON.parse(unknown.body.toString()).message, /no boot file 'ipxe\/52:54:00:99:99:99'/);
    images.discoveryBuilt = true;
    const disc = await curl(`${s.url}/boot/ipxe/52:54:00:99:99:99`);
    assert.equal(disc.status, 200);
    assert.match(disc.body.toString(), /boot\/_discover\/kernel .*BOOTIF=01-52-54-00-99-99-99 rackboot\.mode=discovery/);
    images.discoveryBuilt = false;
    assert.equal((await curl(`${s.url}/boot/ipxe/not-a-mac`)).status, 404);
  });

  test('PXELINUX names over HTTP and TFTP (through the hub) equal the preview; fallbacks find the node by address or lease', async (t) => {
    if (!requireLab(t, { commands: ['curl'] })) return;
    const preview = (await curl(`${s.url}/api/v1/nodes/blade1/render/pxelinux`, ...auth())).body.toString();
    assert.equal((await curl(`${s.url}/boot/pxelinux.cfg/01-52-54-00-00-0a-01`)).body.toString(), preview);
    const viaHub = async (path: string, address: string) => {
      const f = await s.server.boot.lookup(path, { address, protocol: 'tftp' });
      if (!f) return undefined;
      const body = (await f.read(0, f.size)).toString();
      await f.close?.();
      return { body, node: f.node, kind: f.kind };
    };
    assert.deepEqual(await viaHub('pxelinux.cfg/01-52-54-00-00-0a-01', '10.0.0.11'), { body: preview, node: 'blade1', kind: 'config' });
    assert.equal((await viaHub('pxelinux.cfg/0A00000B', '10.0.0.11'))?.body, preview);
    assert.equal(await viaHub('pxelinux.cfg/0A00000', '10.0.0.11'), undefined, 'shortened hex names fall through');
    assert.equal(await viaHub('pxelinux.cfg/01-52-54-00-99-99-99', '10.0.0.201'), undefined, 'unknown MAC: PXELINUX goes on to its fallbacks');
    assert.equal((await viaHub('pxelinux.cfg/default', '10.0.0.11'))?.body, preview, 'default for a registered address is the node config');
    const dflt = await viaHub('pxelinux.cfg/default', '10.0.0.201');
    assert.match(dflt!.body, /LOCALBOOT 0/);
    assert.equal(dflt!.node, undefined);
    // A node without an image: its per-MAC and per-address names fall through to default,
    // where an operator's static file wins, else its template (local boot).
    assert.equal(await viaHub('pxelinux.cfg/01-52-54-00-00-0a-02', '10.0.0.12'), undefined);
    assert.equal(await viaHub('pxelinux.cfg/0A00000C', '10.0.0.12'), undefined);
    assert.match((await viaHub('pxelinux.cfg/default', '10.0.0.12'))!.body, /blade2 has no image[\s\S]*LOCALBOOT 0/);
    mkdirSync(join(tmp, 'tftpboot', 'pxelinux.cfg'), { recursive: true });
    writeFileSync(join(tmp, 'tftpboot', 'pxelinux.cfg', 'default'), 'DEFAULT static\n');
    assert.equal((await viaHub('pxelinux.cfg/default', '10.0.0.12'))!.body, 'DEFAULT static\n');
    assert.equal((await viaHub('pxelinux.cfg/01-52-54-00-00-0a-01', '10.0.0.11'))?.body, preview, 'nodes with an image still get their own');
    rmSync(join(tmp, 'tftpboot', 'pxelinux.cfg'), { recursive: true });
    // An unregistered address with a lease on a registered MAC: found through the lease.
    await s.server.store.putLease({ network: 'inside', ipv4: '10.0.0.202', mac: '52:54:00:00:0a:02', clientId: null, hostname: null, state: 'bound', expiresAt: Date.now() + 60_000, updatedAt: Date.now() });
    assert.match((await viaHub('pxelinux.cfg/default', '10.0.0.202'))!.body, /blade2 \(eth0 52:54:00:00:0a:02/);
    // GRUB and bpbatch names.
    assert.equal((await viaHub('grub/grub.cfg-01-52:54:00:00:0a:01', '10.0.0.11'))?.body, (await curl(`${s.url}/api/v1/nodes/blade1/render/grub`, ...auth())).body.toString());
    const bpb = (await curl(`${s.url}/api/v1/nodes/blade1/render/bpbatch`, ...auth())).body.toString();
    assert.equal((await viaHub('rackboot.bpb', '10.0.0.11'))?.body, bpb);
    assert.equal((await viaHub('bpb-525400000a01.bpb', '10.0.0.99'))?.body, bpb, 'the name DHCP option 155 gives');
    assert.match((await viaHub('bpb-525400999999.bpb', '10.0.0.201'))!.body, /default script for machines not in the registry[\s\S]*HDBoot/, 'bpbatch has no fallback name: an unknown MAC gets the default script');
  });

  test("images.overlayClients: node: a node's config (it carries the report token) goes only to the node's own addresses", async () => {
    const cfg = s.server.cfg.config.images;
    cfg.overlayClients = 'node';
    try {
      const ask = async (path: string, address: string, protocol: 'tftp' | 'http' = 'tftp') => {
        try {
          const f = await s.server.boot.lookup(path, { address, protocol });
          await f?.close?.();
          return f ? 'served' : 'none';
        } catch (e) {
          return (e as Error).message;
        }
      };
      assert.equal(await ask('pxelinux.cfg/01-52-54-00-00-0a-01', '10.0.0.11'), 'served', "from blade1's own address");
      for (const [path, address] of [
        ['pxelinux.cfg/01-52-54-00-00-0a-01', '10.0.0.12'],
        ['pxelinux.cfg/01-52-54-00-00-0a-01', '10.0.0.50'],
        ['pxelinux.cfg/0A00000B', '10.0.0.50'],
        ['grub/grub.cfg-01-52:54:00:00:0a:01', '10.0.0.50'],
        ['bpb-525400000a01.bpb', '10.0.0.99'],
      ] as const) {
        assert.match(await ask(path, address), /is blade1's config and carries its report token: it goes only to blade1's own addresses \(images\.overlayClients: node\)/, `${path} from ${address}`);
      }
      const http = await curl(`${s.url}/boot/ipxe/52:54:00:00:0a:01`);
      assert.equal(http.status, 403, 'over HTTP from loopback, not a blade1 address');
    } finally {
      cfg.overlayClients = 'any';
    }
  });

  test('a config that fails to render: the config walk does not fall through to another config for that client', async () => {
    mkdirSync(join(tmp, 'tftpboot', 'pxelinux.cfg'), { recursive: true });
    writeFileSync(join(tmp, 'tftpboot', 'pxelinux.cfg', 'default'), 'DEFAULT static\n');
    writeFileSync(join(ops, 'pxelinux.cfg.hbs'), 'DEFAULT {{vars.nosuchvar}}\n');
    try {
      const ask = async (path: string, address: string) => {
        try {
          const f = await s.server.boot.lookup(path, { address, protocol: 'tftp' });
          const body = f ? (await f.read(0, f.size)).toString() : 'none';
          await f?.close?.();
          return body;
        } catch (e) {
          return (e as Error).message;
        }
      };
      assert.match(await ask('pxelinux.cfg/01-52-54-00-00-0a-01', '10.0.0.11'), /vars\.nosuchvar/);
      // PXELINUX's next names: shortened hex, then default, where the operator's static file is.
      for (const path of ['pxelinux.cfg/0A00000', 'pxelinux.cfg/0A', 'pxelinux.cfg/default']) {
        assert.match(await ask(path, '10.0.0.11'), /not falling back to .*: blade1's own config did not render/, path);
      }
      assert.equal(await ask('pxelinux.cfg/default', '10.0.0.201'), 'DEFAULT static\n', 'other clients are not affected');
      // Fixed template: the blade's own name renders at once.
      rmSync(join(ops, 'pxelinux.cfg.hbs'));
      assert.match(await ask('pxelinux.cfg/01-52-54-00-00-0a-01', '10.0.0.11'), /^# rackboot .*blade1/);
      assert.equal(await ask('pxelinux.cfg/default', '10.0.0.11'), 'DEFAULT static\n', 'and its fallback names are answered again');
    } finally {
      rmSync(join(ops, 'pxelinux.cfg.hbs'), { force: true });
      rmSync(join(tmp, 'tftpboot', 'pxelinux.cfg'), { recursive: true, force: true });
    }
  });

  test('over real TFTP (tftp-hpa, curl): per-MAC, per-address and default configs equal the preview; kernel intact', async (t) => {
    if (!requireLab(t, { commands: ['tftp', 'curl'] })) return;
    const preview = (await curl(`${s.url}/api/v1/nodes/blade1/render/pxelinux`, ...auth())).body.toString();
    const hpa = async (remote: string) => {
      const local = join(tmp, `tftp-${n++}`);
      const r = await run('tftp', ['127.0.0.1', String(tftpPort), '-m', 'octet', '-c', 'get', remote, local], { timeoutMs: 30_000 });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.doesNotMatch(r.stdout + r.stderr, /Error code/, `${remote}: ${r.stdout}${r.stderr}`);
      return readFileSync(local);
    };
    assert.equal((await hpa('pxelinux.cfg/01-52-54-00-00-0a-01')).toString(), preview);
    assert.equal((await hpa('pxelinux.cfg/0A00000B')).toString(), preview);
    assert.equal((await curl(`tftp://127.0.0.1:${tftpPort}/grub/grub.cfg-01-52-54-00-00-0a-01`)).body.toString(), (await curl(`${s.url}/api/v1/nodes/blade1/render/grub`, ...auth())).body.toString());
    // The requester by address over TFTP: lobox (127.0.0.5) asks for default and rackboot.bpb.
    const lobox = (await curl(`${s.url}/api/v1/nodes/lobox/render/pxelinux`, ...auth())).body.toString();
    assert.equal((await curl(`tftp://127.0.0.1:${tftpPort}/pxelinux.cfg/default`, '--interface', '127.0.0.5')).body.toString(), lobox);
    assert.match((await curl(`tftp://127.0.0.1:${tftpPort}/rackboot.bpb`, '--interface', '127.0.0.5')).body.toString(), /LinuxBoot "boot\/lobox\/kernel"/);
    // An unknown MAC's name is a TFTP "file not found", so PXELINUX moves on.
    const miss = await run('curl', ['-s', '-o', '/dev/null', `tftp://127.0.0.1:${tftpPort}/pxelinux.cfg/01-52-54-00-99-99-99`]);
    assert.notEqual(miss.code, 0);
    const kernel = await curl(`tftp://127.0.0.1:${tftpPort}/boot/blade1/kernel`, '--tftp-blksize', '1468');
    assert.equal(sha(kernel.body), sha(kernels.get('blade1/kernel') ?? Buffer.alloc(0)));
  });

  test('kernel: full GET, Range, multiple ranges, suffix, 416, ETag/304, If-Range, HEAD', async (t) => {
    if (!requireLab(t, { commands: ['curl'] })) return;
    const url = `${s.url}/boot/blade1/kernel`;
    const full = await curl(url);
    assert.equal(full.status, 200);
    const data = kernels.get('blade1/kernel')!;
    assert.equal(full.body.length, KERNEL_SIZE);
    assert.equal(sha(full.body), sha(data));
    assert.equal(full.headers['content-length'], String(KERNEL_SIZE));
    assert.equal(full.headers['accept-ranges'], 'bytes');
    assert.equal(full.headers['content-type'], 'application/octet-stream');
    const etag = full.headers.etag!;
    assert.match(etag, /^".+"$/);

    const part = await curl(url, '-r', '1000-1999');
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], `bytes 1000-1999/${KERNEL_SIZE}`);
    assert.equal(part.headers['content-length'], '1000');
    assert.deepEqual(part.body, data.subarray(1000, 2000));

    const tail = await curl(url, '-r', '-100');
    assert.equal(tail.status, 206);
    assert.deepEqual(tail.body, data.subarray(KERNEL_SIZE - 100));
    assert.equal(tail.headers['content-range'], `bytes ${KERNEL_SIZE - 100}-${KERNEL_SIZE - 1}/${KERNEL_SIZE}`);

    const multi = await curl(url, '-r', '0-9,500-509');
    assert.equal(multi.status, 206);
    const boundary = /multipart\/byteranges; boundary=(\S+)/.exec(multi.headers['content-type']!)![1]!;
    assert.equal(Number(multi.headers['content-length']), multi.body.length);
    const parts = multi.body.toString('latin1').split(`--${boundary}`).slice(1, -1);
    assert.equal(parts.length, 2);
    for (const [i, [start, end]] of [[0, 10], [500, 510]].entries()) {
      const [head, payload] = parts[i]!.split('\r\n\r\n');
      assert.match(head!, new RegExp(`Content-Range: bytes ${start}-${end! - 1}/${KERNEL_SIZE}`));
      assert.deepEqual(Buffer.from(payload!.slice(0, -2), 'latin1'), data.subarray(start, end));
    }

    const bad = await curl(url, '-r', `${KERNEL_SIZE}-`);
    assert.equal(bad.status, 416);
    assert.equal(bad.headers['content-range'], `bytes */${KERNEL_SIZE}`);

    const cached = await curl(url, '-H', `If-None-Match: ${etag}`);
    assert.equal(cached.status, 304);
    assert.equal(cached.body.length, 0);
    assert.equal((await curl(url, '-H', 'If-None-Match: "other"')).status, 200);

    const stale = await curl(url, '-r', '0-9', '-H', 'If-Range: "stale"');
    assert.equal(stale.status, 200, 'If-Range with an old ETag: the whole file');
    assert.equal(stale.body.length, KERNEL_SIZE);
    assert.equal((await curl(url, '-r', '0-9', '-H', `If-Range: ${etag}`)).status, 206);

    const head = await curl(url, '-I');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(KERNEL_SIZE));
    assert.equal(head.headers.etag, etag);
    // curl -I writes the header block as its output: nothing may follow it.
    assert.ok(head.body.toString('latin1').endsWith('\r\n\r\n'), JSON.stringify(head.body.toString('latin1').slice(-40)));
    const headRange = await curl(url, '-I', '-r', '10-19');
    assert.equal(headRange.status, 206);
    assert.equal(headRange.headers['content-length'], '10');

    // Resume after an interrupted download (curl -C).
    const partial = join(tmp, 'resume');
    writeFileSync(partial, data.subarray(0, 123_456));
    const r = await run('curl', ['-s', '-C', '-', '-o', partial, url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha(readFileSync(partial)), sha(data));
  });

  test('unregistered nodes, traversal and bad input: 404/400, the server stays up', async (t) => {
    if (!requireLab(t, { commands: ['curl'] })) return;
    // A loader from tftp.root at the URL DHCP hands UEFI HTTP-boot clients (HTTP_BOOT_FILES).
    const efi = randomBytes(4096);
    writeFileSync(join(tmp, 'tftpboot', 'test-loader.efi'), efi);
    const got = await curl(`${s.url}/boot/files/test-loader.efi`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, efi);
    assert.equal((await curl(`${s.url}/boot/files/nosuch.efi`)).status, 404);
    assert.equal((await curl(`${s.url}/boot/nosuch/kernel`)).status, 404);
    assert.equal((await curl(`${s.url}/boot/pxelinux.cfg/01-52-54-00-99-99-99`)).status, 404);
    assert.equal((await curl(`${s.url}/boot/../etc/passwd`, '--path-as-is')).status, 400);
    assert.equal((await curl(`${s.url}/boot/%2e%2e/%2e%2e/etc/passwd`)).status, 400);
    assert.equal((await curl(`${s.url}/boot/a%00b`)).status, 400);
    assert.equal((await curl(`${s.url}/boot/%zz`)).status, 400);
    assert.equal((await curl(`${s.url}/boot/ipxe?mac=zz`)).status, 400);
    assert.equal((await curl(`${s.url}/boot/blade1/kernel`)).status, 200, 'still serving');
  });

  test('a registered machine gets its own files and is refused another node\'s', async (t) => {
    if (!requireLab(t, { commands: ['curl'] })) return;
    const own = await curl(`${s.url}/boot/lobox/kernel`, '--interface', '127.0.0.5');
    assert.equal(own.status, 200);
    const other = await curl(`${s.url}/boot/blade1/kernel`, '--interface', '127.0.0.5');
    assert.equal(other.status, 403);
    assert.match(JSON.parse(other.body.toString()).message, /boot\/blade1\/kernel is blade1's; 127\.0\.0\.5 is registered to lobox/);
    // The requester's own bpbatch script, found by its address (rackboot.bpb).
    const bpb = await curl(`${s.url}/boot/rackboot.bpb`, '--interface', '127.0.0.5');
    assert.equal(bpb.status, 200);
    assert.match(bpb.body.toString(), /bpbatch\.bpb\.hbs[\s\S]*LinuxBoot "boot\/lobox\/kernel"/);
    const anon = await curl(`${s.url}/boot/rackboot.bpb`);
    assert.match(anon.body.toString(), /^# rackboot .*default script for machines not in the registry/);

    // Who an address belongs to is remembered between requests, and forgotten when the registry changes.
    const moved = await s.api('PATCH', '/api/v1/nodes/lobox', { interfaces: [{ name: 'eth0', mac: '52:54:00:00:7f:05', network: 'lo', ipv4: '127.0.0.6' }] });
    assert.equal(moved.status, 200);
    try {
      assert.equal((await curl(`${s.url}/boot/blade1/kernel`, '--interface', '127.0.0.5')).status, 200, '127.0.0.5 is no longer lobox');
      const now = await curl(`${s.url}/boot/blade1/kernel`, '--interface', '127.0.0.6');
      assert.equal(now.status, 403);
      assert.match(JSON.parse(now.body.toString()).message, /127\.0\.0\.6 is registered to lobox/);
    } finally {
      await s.api('PATCH', '/api/v1/nodes/lobox', { interfaces: [{ name: 'eth0', mac: '52:54:00:00:7f:05', network: 'lo', ipv4: '127.0.0.5' }] });
    }
    assert.equal((await curl(`${s.url}/boot/blade1/kernel`, '--interface', '127.0.0.5')).status, 403, 'lobox again');
  });

  test('every HTTP boot request is on the node timeline and in /metrics', async (t) => {
    if (!requireLab(t, { commands: ['curl'] })) return;
    await curl(`${s.url}/boot/blade1/initrd`);
    await s.server.events.flush();
    const tl = await s.api<Array<{ kind: string; detail: { path?: string; bytes?: number; status?: number } }>>('GET', '/api/v1/nodes/blade1/events?kind=http.get');
    const e = tl.body.find((x) => x.detail.path === 'boot/blade1/initrd');
    assert.ok(e, JSON.stringify(tl.body.slice(-3)));
    assert.equal(e.detail.bytes, 1000);
    assert.equal(e.detail.status, 200);
    const renders = await s.api<Array<{ detail: { template?: string; origin?: string } }>>('GET', '/api/v1/nodes/blade1/events?kind=render');
    assert.ok(renders.body.some((x) => x.detail.template === 'ipxe.ipxe.hbs' && x.detail.origin === 'shipped'));
    const metrics = await curl(`${s.url}/metrics`);
    assert.match(metrics.body.toString(), /rackboot_http_boot_requests_total\{kind="kernel",status="206"\} \d+/);
    assert.match(metrics.body.toString(), /rackboot_render_total\{loader="ipxe",result="node"\} \d+/);
  });

  test('operator override wins at once; a template error is a 400 (API) / 500 (boot) naming file, line and variable', async (t) => {
    if (!requireLab(t, { commands: ['curl'] })) return;
    writeFileSync(join(ops, 'ipxe.ipxe.hbs'), '#!ipxe\n# operator\nchain {{server.httpBase}}/menu/{{node.name}}\n');
    const over = await curl(`${s.url}/boot/ipxe/52:54:00:00:0a:01`);
    assert.equal(over.body.toString(), `#!ipxe\n# operator\nchain ${BASE}/menu/blade1\n`);
    const json = await s.api<{ origin: string; file: string }>('GET', '/api/v1/nodes/blade1/render/ipxe?format=json');
    assert.equal(json.body.origin, 'operator');

    writeFileSync(join(ops, 'ipxe.ipxe.hbs'), '#!ipxe\n\nkernel {{boot.kernel.url}} root={{node.vars.rootdev}}\n');
    const api = await s.api<{ error: string; message: string }>('GET', '/api/v1/nodes/blade1/render/ipxe');
    assert.equal(api.status, 400);
    assert.equal(api.body.message, 'ipxe.ipxe.hbs:3: node.vars.rootdev is not defined for node blade1');
    const boot = await curl(`${s.url}/boot/ipxe/52:54:00:00:0a:01`);
    assert.equal(boot.status, 500);
    assert.equal(JSON.parse(boot.body.toString()).message, 'ipxe.ipxe.hbs:3: node.vars.rootdev is not defined for node blade1');
    await s.server.events.flush();
    const errs = await s.api<Array<{ detail: { line?: number; variable?: string } }>>('GET', '/api/v1/nodes/blade1/events?kind=render.error');
    assert.deepEqual([errs.body.at(-1)!.detail.line, errs.body.at(-1)!.detail.variable], [3, 'node.vars.rootdev']);

    const check = await s.api<{ ok: boolean; errors: Array<{ node: string; template: string; line: number; message: string }> }>('GET', '/api/v1/templates/check');
    assert.equal(check.body.ok, false);
    assert.deepEqual(
      check.body.errors.map((e) => e.node ?? '').sort(),
      ['blade1', 'blade2', 'lobox'],
      'every node reported, not just the first',
    );
    assert.ok(check.body.errors.every((e) => e.template === 'ipxe.ipxe.hbs' && e.line === 3));

    rmSync(join(ops, 'ipxe.ipxe.hbs'));
    assert.equal((await curl(`${s.url}/boot/ipxe/52:54:00:00:0a:01`)).status, 200);
    assert.equal((await s.api<{ ok: boolean }>('GET', '/api/v1/templates/check')).body.ok, true);

    // An image never built: every node using it is named, as a note: before the first build that is normal, not a template error.
    await s.api('PATCH', '/api/v1/nodes/blade2', { image: 'unbuilt' });
    const unbuilt = await s.api<{ ok: boolean; errors: unknown[]; notes: Array<{ node: string; image: string; message: string }> }>('GET', '/api/v1/templates/check');
    await s.api('PATCH', '/api/v1/nodes/blade2', { image: null });
    assert.equal(unbuilt.body.ok, true);
    assert.deepEqual(unbuilt.body.errors, []);
    assert.deepEqual(
      unbuilt.body.notes.filter((n) => n.image),
      [{ node: 'blade2', image: 'unbuilt', message: "node blade2: image 'unbuilt' has no build yet, its kernel and RAM disk cannot be served (rackboot image build unbuilt)" }],
    );
    // PXELINUX cannot be started by UEFI HTTP boot: a note (iPXE boots those machines), not an error.
    assert.deepEqual(
      unbuilt.body.notes.filter((n) => !n.image).map((n) => n.message),
      [
        "loader pxelinux (blade1, blade2, lobox): syslinux.efi cannot run from UEFI HTTP boot (it needs the firmware's PXE protocol, which HTTP boot does not start): such UEFI HTTP boot machines get iPXE (ipxe.efi), which boots the node's kernel with its iPXE config",
      ],
    );
    // A missing loader file is an error naming the file and its Debian package.
    rmSync(join(tmp, 'tftpboot', 'syslinux.efi'));
    const missing = await s.api<{ ok: boolean; errors: Array<{ node: string | null; file?: string; message: string }> }>('GET', '/api/v1/templates/check');
    writeFileSync(join(tmp, 'tftpboot', 'syslinux.efi'), 'placeholder');
    assert.equal(missing.body.ok, false);
    assert.deepEqual(missing.body.errors, [
      {
        node: null,
        loader: 'pxelinux',
        template: '',
        line: null,
        variable: null,
        file: 'syslinux.efi',
        message: 'loader pxelinux (blade1, blade2, lobox): syslinux.efi is missing (Debian package syslinux-efi): needed for UEFI',
      },
    ]);
  });

  test('API: bad loader 400, unknown node 404, interface choice, scope, discovery preview', async () => {
    const bad = await s.api<{ message: string }>('GET', '/api/v1/nodes/blade1/render/lilo');
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /no loader 'lilo' \(have: pxelinux, ipxe, grub, bpbatch\)/);
    assert.equal((await s.api('GET', '/api/v1/nodes/nosuch/render/pxelinux')).status, 404);
    const eth1 = await s.api<string>('GET', '/api/v1/nodes/blade1/render/pxelinux?iface=eth1');
    assert.match(eth1.body, /BOOTIF=01-52-54-00-00-0b-01 .*rackboot\.api=http:\/\/10\.0\.1\.1:/);
    assert.equal((await s.api<string>('GET', '/api/v1/nodes/blade1/render/pxelinux?iface=52:54:00:00:0b:01')).body, eth1.body);
    assert.equal((await s.api('GET', '/api/v1/nodes/blade1/render/pxelinux?iface=eth9')).status, 400);
    const scope = await s.api<{ node: { vars: Record<string, unknown> }; iface: { hexip: string }; nfs: { mounts: unknown[] } }>('GET', '/api/v1/nodes/blade1/scope');
    assert.equal(scope.body.iface.hexip, '0A00000B');
    assert.equal(scope.body.node.vars.tier, 'web');
    assert.equal(scope.body.nfs.mounts.length, 1);
    const disc = await s.api<string>('GET', '/api/v1/templates/discovery/pxelinux?mac=52:54:00:99:00:01&address=10.0.0.201');
    assert.equal(disc.status, 200);
    assert.match(disc.body, /LOCALBOOT 0/);
    assert.equal((await s.api('GET', '/api/v1/templates')).status, 200);
    assert.equal((await s.api('GET', '/api/v1/nodes/blade1/render/pxelinux', undefined, null)).status, 401, 'operator routes need the token');
  });

  test('CLI: rackboot render prints exactly the preview; templates check exits 1 listing every error, 0 with only notes', async () => {
    const cli = join(PACKAGE_ROOT, 'dist', 'server', 'cli', 'main.js');
    const api = ['--api', s.url, '--token', s.token];
    const r = await run(process.execPath, [cli, 'render', 'blade1', 'grub', ...api]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, (await s.api<string>('GET', '/api/v1/nodes/blade1/render/grub')).body);
    const ok = await run(process.execPath, [cli, 'templates', 'check', ...api]);
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    assert.match(ok.stdout, /^note: loader pxelinux \(blade1, blade2, lobox\): syslinux\.efi cannot run from UEFI HTTP boot/m);
    assert.match(ok.stdout, /^ok, 1 note\(s\): \d+ render\(s\) of \d+ template\(s\) \(0 operator override\(s\)\) for 3 node\(s\)/m);
    // A node whose image has no build yet is a note: still exit 0.
    await s.api('PATCH', '/api/v1/nodes/blade2', { image: 'unbuilt' });
    const noted = await run(process.execPath, [cli, 'templates', 'check', ...api]);
    await s.api('PATCH', '/api/v1/nodes/blade2', { image: null });
    assert.equal(noted.code, 0, noted.stderr + noted.stdout);
    assert.match(noted.stdout, /^note: node blade2: image 'unbuilt' has no build yet/m);
    assert.match(noted.stdout, /^ok, 2 note\(s\): \d+ render\(s\)/m);
    writeFileSync(join(ops, 'partials', 'cmdline.hbs'), '{{#cmdline}}\nrackboot.node={{node.name}}\nx={{hexip node.vars.gateway}}\n{{/cmdline}}\n');
    const bad = await run(process.execPath, [cli, 'templates', 'check', ...api]);
    rmSync(join(ops, 'partials', 'cmdline.hbs'));
    assert.equal(bad.code, 1);
    // Every node whose config uses the partial is reported; blade2 has no image, so its config never reaches the kernel line.
    for (const node of ['blade1', 'lobox']) {
      assert.match(bad.stdout, new RegExp(`^partials/cmdline\\.hbs:3: node\\.vars\\.gateway is not defined \\(in hexip\\) for node ${node}$`, 'm'));
    }
    assert.doesNotMatch(bad.stdout, /for node blade2/);
    assert.match(bad.stderr, /templates check found \d+ error/);
    const missing = await run(process.execPath, [cli, 'render', 'nosuch', 'pxelinux', ...api]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /404 no node named 'nosuch'/);
  });
});
