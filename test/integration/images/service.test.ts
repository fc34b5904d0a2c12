// The images service in a real server: builds through the API (job, log,
// server-sent progress), boot/<node>/{kernel,initrd} through the boot hub
// with the node's overlay appended (size, ranges, ETag, contents),
// invalidation on registry changes, a transfer that outlives a rebuild and
// prune, rollback, the CLI, and discovery registration.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { nodeReportToken } from '../../../server/boot/report-token.js';
import type { BootFile } from '../../../server/boot/content.js';
import { BootRefused } from '../../../server/boot/content.js';
import { imagesService } from '../../../server/images/service.js';
import { httpBootService } from '../../../server/render/http.js';
import { discoveryToken } from '../../../server/images/provider.js';
import { PACKAGE_ROOT } from '../../../server/paths.js';
import { requireLab } from '../../helpers/env.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { makeRecipe } from './fixtures.js';
import { suiteTempDir } from '../../helpers/tmp.js';

type Job = { id: string; state: string; version: string | null; error: string | null; log: string[]; reused?: boolean };

async function sse(url: string, token: string): Promise<Array<{ event: string; data: Record<string, unknown> }>> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((b) => b.includes('data: '))
    .map((b) => ({ event: /event: (\S+)/.exec(b)![1]!, data: JSON.parse(/data: (.*)/.exec(b)![1]!) as Record<string, unknown> }));
}

async function readAll(f: BootFile): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of f.stream()) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

function cpioList(buf: Buffer): string[] {
  const r = spawnSync('cpio', ['-it', '--quiet'], { input: buf, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

const root = suiteTempDir('rb-imgsvc-');
describe('images service', () => {
  let s: TestServer;
  let recipes: string;
  const TOKEN = 'svc-token';
  const api = <T = unknown>(method: string, path: string, body?: unknown, tok: string | null = TOKEN) => s.api<T>(method, path, body, tok);
  // blade1's address (re-addressed by a test below): images.overlayClients is node by default.
  let client = { address: '10.0.0.11', protocol: 'http' as const };
  const build = async (name: string): Promise<Job> => {
    const r = await api<Job>('POST', `/api/v1/images/${name}/builds`);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    await sse(`${s.url}/api/v1/images/${name}/builds/${r.body.id}/events`, TOKEN);
    return (await api<Job>('GET', `/api/v1/images/${name}/builds/${r.body.id}`)).body;
  };

  before(async () => {
    recipes = makeRecipe(root, 'blade');
    s = await startTestServer(
      { cluster: { name: 'cgws', domain: 'cluster.local', vars: { site: 'lab' } }, images: { recipeDirs: [recipes], keep: 2, discoveryImage: 'blade' }, api: { listen: '127.0.0.1:0', token: 'svc-token', publicUrl: 'http://10.0.0.1:8080' } },
      { factories: [imagesService, httpBootService] },
    );
    await api('POST', '/api/v1/groups', { name: 'web', image: 'blade' });
    const n = await api('POST', '/api/v1/nodes', {
      name: 'blade1',
      group: 'web',
      interfaces: [
        { name: 'eth0', mac: '52:54:00:00:0a:01', network: 'inside', ipv4: '10.0.0.11' },
        { name: 'eth1', mac: '52:54:00:00:0b:01', network: 'inside2', ipv4: '10.0.1.11' },
      ],
    });
    assert.equal(n.status, 201);
    await api('POST', '/api/v1/nodes', { name: 'bare', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0a:09', network: 'inside' }] });
  });
  after(async () => {
    await s?.stop();
  });

  test('a build through the API: 202 with a job, events with log and progress, then the image is listed', async (t) => {
    if (!requireLab(t, { commands: ['busybox', 'cpio'] })) return;
    const r = await api<Job>('POST', '/api/v1/images/blade/builds');
    assert.equal(r.status, 202);
    const again = await api<Job>('POST', '/api/v1/images/blade/builds');
    assert.equal(again.body.id, r.body.id, 'a second request joins the queued build');
    assert.equal(again.body.reused, true);
    const events = await sse(`${s.url}/api/v1/images/blade/builds/${r.body.id}/events`, TOKEN);
    assert.ok(events.some((e) => e.event === 'log' && /archive: \d+ entries/.test(String(e.data.line))));
    assert.ok(events.some((e) => e.event === 'progress' && (e.data.progress as { phase: string }).phase === 'write'));
    const last = events[events.length - 1]!;
    assert.equal(last.event, 'state');
    assert.equal(last.data.state, 'succeeded');
    const job = (await api<Job>('GET', `/api/v1/images/blade/builds/${r.body.id}`)).body;
    assert.equal(job.state, 'succeeded');
    assert.match(job.version!, /^[0-9a-f]{16}$/);
    const list = (await api<Array<{ name: string; current: string | null; versions: unknown[] }>>('GET', '/api/v1/images')).body;
    const names = list.map((i) => i.name);
    for (const n of ['blade', 'web-blade', 'discovery']) assert.ok(names.includes(n), n);
    assert.equal(list.find((i) => i.name === 'blade')!.current, job.version);
    const man = await api<{ contents: Array<{ path: string }> }>('GET', `/api/v1/images/blade/versions/${job.version!.slice(0, 8)}`);
    assert.equal(man.status, 200);
    assert.ok(man.body.contents.some((c) => c.path === 'etc/greeting'));
    assert.equal((await api('POST', '/api/v1/images/no-such/builds')).status, 404);
    assert.equal((await api('GET', '/api/v1/images/blade/builds/nope')).status, 404);
    assert.equal((await api('POST', '/api/v1/images/blade/builds', undefined, null)).status, 401);
  });

  test('boot/<node>/initrd = image + padding + the node overlay: size, ranges, ETag, contents', async (t) => {
    if (!requireLab(t, { commands: ['busybox', 'cpio'] })) return;
    const version = s.server.boot.images ? (await s.server.boot.images.describe('blade'))!.version! : '';
    const base = readFileSync(join(s.dataDir, 'images', 'blade', version, 'initrd'));
    const f = (await s.server.boot.lookup('boot/blade1/initrd', client))!;
    try {
      assert.equal(f.kind, 'initrd');
      assert.equal(f.node, 'blade1');
      const all = await readAll(f);
      assert.equal(all.length, f.size);
      assert.ok(all.subarray(0, base.length).equals(base), 'the stored image first, unchanged');
      const at = (base.length + 3) & ~3;
      assert.ok(all.subarray(base.length, at).every((b) => b === 0), 'zero padding to 4 bytes');
      assert.equal(all.toString('latin1', at, at + 6), '070701', 'the overlay cpio starts 4-byte aligned');
      assert.match(f.etag!, new RegExp(`^"${version}-[0-9a-f]{16}"$`));
      // Random access across the image/overlay boundary, as TFTP retransmits do.
      for (const [a, b] of [[0, 10], [base.length - 5, at + 20], [at, f.size], [f.size - 1, f.size + 100]] as Array<[number, number]>) {
        assert.ok((await f.read(a, b)).equals(all.subarray(a, Math.min(b, f.size))), `read(${a}, ${b})`);
      }
      const ranged: Buffer[] = [];
      for await (const c of f.stream(base.length - 3, at + 7)) ranged.push(c as Buffer);
      assert.ok(Buffer.concat(ranged).equals(all.subarray(base.length - 3, at + 7)));
      // What the node gets.
      const overlay = all.subarray(at);
      assert.deepEqual(cpioList(overlay).filter((p) => !p.endsWith('rackboot') && p !== 'etc'), [
        'etc/hostname',
        'etc/hosts',
        'etc/rackboot/exports',
        'etc/rackboot/node.env',
        'etc/rackboot/node.json',
        'etc/whoami',
      ]);
      const x = join(root, 'ov');
      mkdirSync(x);
      spawnSync('cpio', ['-id', '--quiet'], { input: overlay, cwd: x });
      const env = readFileSync(join(x, 'etc/rackboot/node.env'), 'utf8');
      assert.match(env, /^RACKBOOT_NODE='blade1'$/m);
      assert.match(env, new RegExp(`^RACKBOOT_TOKEN='${nodeReportToken('svc-token', 'blade1')}'$`, 'm'));
      assert.match(env, /^RACKBOOT_API='http:\/\/10\.0\.0\.1:8080'$/m);
      assert.match(env, /^RACKBOOT_IFACES='eth0=52:54:00:00:0a:01 eth1=52:54:00:00:0b:01'$/m);
      assert.match(env, /^RACKBOOT_ADDRESSES='eth0=10\.0\.0\.11\/24 eth1=10\.0\.1\.11\/24'$/m);
      assert.equal(readFileSync(join(x, 'etc/whoami'), 'utf8'), 'blade1 eth0=10.0.0.11 eth1=10.0.1.11 \n');
      // The base image is a valid gzip of a cpio whose listing includes the overlay-free tree.
      assert.ok(cpioList(gunzipSync(base)).includes('etc/greeting'));
      // The report token in the overlay lets the node post its own events.
      const tok = /RACKBOOT_TOKEN='([^']+)'/.exec(env)![1]!;
      assert.equal((await api('POST', '/api/v1/nodes/blade1/events', { kind: 'ready', detail: {} }, tok)).status, 201);
      const k = (await s.server.boot.lookup('boot/blade1/kernel', client))!;
      assert.equal(k.size, 4096);
      assert.equal(k.etag, `"${version}"`);
      assert.ok((await readAll(k)).equals(Buffer.alloc(4096, 7)));
      await k.close?.();
    } finally {
      await f.close?.();
    }
  });

  test('a node change renews its overlay (new ETag); other nodes and paths are refused with a reason', async (t) => {
    if (!requireLab(t, { commands: ['busybox'] })) return;
    const etag = async () => {
      const f = (await s.server.boot.lookup('boot/blade1/initrd', client))!;
      await f.close?.();
      return f.etag;
    };
    const e1 = await etag();
    assert.equal(await etag(), e1, 'cached: the same overlay');
    await api('PATCH', '/api/v1/nodes/blade1', { vars: { role: 'canary' } });
    const e2 = await etag();
    assert.notEqual(e2, e1);
    await api('PATCH', '/api/v1/nodes/blade1', { interfaces: [{ name: 'eth0', mac: '52:54:00:00:0a:01', network: 'inside', ipv4: '10.0.0.21' }] });
    // Its old address no longer gets its RAM disk (and report token); the kernel stays public.
    await assert.rejects(s.server.boot.lookup('boot/blade1/initrd', client), (e: Error & { status?: number }) => e instanceof BootRefused && e.status === 403 && /10\.0\.0\.11 is not one/.test(e.message));
    await (await s.server.boot.lookup('boot/blade1/kernel', client))!.close?.();
    // Over HTTP the same: this test's own address (127.0.0.1) is not blade1's.
    const denied = await fetch(`${s.url}/boot/blade1/initrd`);
    assert.equal(denied.status, 403, await denied.clone().text());
    assert.match(await denied.text(), /images\.overlayClients: node/);
    const kernel = await fetch(`${s.url}/boot/blade1/kernel`);
    assert.equal(kernel.status, 200);
    await kernel.arrayBuffer();
    client = { ...client, address: '10.0.0.21' };
    const f = (await s.server.boot.lookup('boot/blade1/initrd', client))!;
    const all = await readAll(f);
    await f.close?.();
    assert.match(all.toString('latin1'), /RACKBOOT_ADDRESSES='eth0=10\.0\.0\.21\/24'/);
    await assert.rejects(s.server.boot.lookup('boot/bare/initrd', client), (e: Error) => e instanceof BootRefused && /node 'bare' has no image/.test(e.message));
    await assert.rejects(s.server.boot.lookup('boot/ghost/kernel', client), (e: Error) => e instanceof BootRefused && /no node named 'ghost'/.test(e.message));
    await api('PATCH', '/api/v1/nodes/bare', { image: 'web-blade' });
    await assert.rejects(s.server.boot.lookup('boot/bare/kernel', client), /image 'web-blade' has no build yet \(rackboot image build web-blade\)/);
    assert.equal(await s.server.boot.lookup('boot/blade1/other', client), undefined);
    assert.equal(await s.server.boot.lookup('pxelinux.0', client), undefined);
  });

  test('a transfer opened before a rebuild and prune sends the old image whole; rollback through the API', async (t) => {
    if (!requireLab(t, { commands: ['busybox'] })) return;
    const open = (await s.server.boot.lookup('boot/blade1/initrd', client))!;
    const before = await open.read(0, open.size);
    const v0 = (await s.server.boot.images!.describe('blade'))!.version!;
    const versions: string[] = [];
    for (let i = 0; i < 2; i++) {
      writeFileSync(join(root, 'motd'), `changed ${i}\n`);
      const j = await build('blade');
      assert.equal(j.state, 'succeeded', j.error ?? '');
      versions.push(j.version!);
    }
    // keep: 2, so the version the open transfer serves is gone from the store...
    assert.ok(!readFileSync(join(s.dataDir, 'images', 'blade', 'current'), 'utf8').includes(v0));
    assert.throws(() => readFileSync(join(s.dataDir, 'images', 'blade', v0, 'initrd')));
    // ...and the transfer still reads it, whole.
    assert.ok((await open.read(0, open.size)).equals(before));
    await open.close?.();
    const now = (await s.server.boot.lookup('boot/blade1/initrd', client))!;
    assert.ok(now.etag!.startsWith(`"${versions[1]}-`));
    await now.close?.();
    const rb = await api<{ from: string; to: string }>('POST', '/api/v1/images/blade/rollback', {});
    assert.equal(rb.status, 200, JSON.stringify(rb.body));
    assert.deepEqual([rb.body.from, rb.body.to], [versions[1], versions[0]]);
    assert.equal((await s.server.boot.images!.describe('blade'))!.version, versions[0]);
    // The body is optional: an empty one sent as JSON is no body, not a 400 (nothing older is left: 409).
    const empty = await api('POST', '/api/v1/images/blade/rollback', '');
    assert.equal(empty.status, 409, JSON.stringify(empty.body));
    assert.equal((await api('POST', '/api/v1/images/blade/rollback', { version: 'zz' })).status, 400);
    // A well-formed version the store does not have is not found (not a conflict).
    const unknown = await api<{ message: string }>('POST', '/api/v1/images/blade/rollback', { version: 'f00df00d' });
    assert.equal(unknown.status, 404, JSON.stringify(unknown.body));
    assert.match(unknown.body.message, /has no stored version f00df00d/);
    writeFileSync(join(root, 'motd'), 'welcome\n');
  });

  test('a failing build reports the reason in the job and leaves the current version', async (t) => {
    if (!requireLab(t, { commands: ['busybox'] })) return;
    const cur = (await s.server.boot.images!.describe('blade'))!.version;
    const file = join(recipes, 'blade', 'recipe.yaml');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, good.replace(/^modules: .*$/m, 'modules: [virtio_net, no_such_driver]'));
    try {
      const j = await build('blade');
      assert.equal(j.state, 'failed');
      assert.match(j.error!, /unknown kernel module 'no_such_driver'/);
      assert.ok(j.log.some((l) => /no_such_driver/.test(l)));
      assert.equal((await s.server.boot.images!.describe('blade'))!.version, cur);
      writeFileSync(file, good.replace('kernel:', 'kernal:'));
      const j2 = await build('blade');
      assert.equal(j2.state, 'failed');
      assert.match(j2.error!, /kernal: unknown key \(did you mean 'kernel'\?\)/);
    } finally {
      writeFileSync(file, good);
    }
  });

  test('rackboot image build / list / rollback through the CLI', async (t) => {
    if (!requireLab(t, { commands: ['busybox'] })) return;
    const cli = (args: string[]) =>
      new Promise<{ code: number; out: string; err: string }>((resolve) => {
        const c = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist/server/cli/main.js'), ...args, '--api', s.url, '--token', TOKEN]);
        let out = '';
        let err = '';
        c.stdout.on('data', (d: Buffer) => (out += d.toString()));
        c.stderr.on('data', (d: Buffer) => (err += d.toString()));
        c.on('close', (code) => resolve({ code: code ?? 1, out, err }));
      });
    const b = await cli(['image', 'build', 'blade']);
    assert.equal(b.code, 0, b.err);
    assert.match(b.out, /^blade [0-9a-f]{16}\n$/);
    assert.match(b.err, /archive: \d+ entries/);
    const l = await cli(['image', 'list']);
    assert.equal(l.code, 0, l.err);
    assert.match(l.out, /^IMAGE +CURRENT/);
    assert.match(l.out, /\nblade +[0-9a-f]{16} +6\.1\.0-test/);
    const show = await cli(['image', 'show', 'blade', '--json']);
    assert.equal(show.code, 0, show.err);
    assert.deepEqual(JSON.parse(show.out), (await api('GET', '/api/v1/images/blade')).body);
    const r = await cli(['image', 'rollback', 'blade']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^blade: [0-9a-f]{16} -> [0-9a-f]{16}\n$/);
    const bad = await cli(['image', 'build', 'nope']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /no recipe for image 'nope'/);
  });

  test('discovery: the boot/_discover overlay carries the discovery token; /api/v1/discover registers once, refreshes facts after', async (t) => {
    if (!requireLab(t, { commands: ['busybox', 'cpio'] })) return;
    const f = (await s.server.boot.lookup('boot/_discover/initrd', { address: '10.0.0.201', protocol: 'tftp' }))!;
    const all = await readAll(f);
    await f.close?.();
    const token = discoveryToken('svc-token');
    assert.ok(all.includes(Buffer.from(`RACKBOOT_DISCOVERY_TOKEN='${token}'`)));
    const same = (await s.server.boot.lookup('boot/_image/blade/initrd', { address: '10.0.0.201', protocol: 'http' }))!;
    assert.ok((await readAll(same)).equals(all), 'boot/_image/<discovery image> is the same file');
    await same.close?.();
    assert.ok(all.includes(Buffer.from(`RACKBOOT_API='http://10.0.0.1:8080'`)));
    assert.equal(f.node, undefined);
    await assert.rejects(s.server.boot.lookup('boot/_image/nothing/kernel', client), /no image 'nothing'/);
    const body = {
      interfaces: [
        { name: 'eth0', mac: '52:54:00:00:0c:01', ipv4: '10.0.0.201', driver: 'virtio_net' },
        { name: 'eth1', mac: '52:54:00:00:0d:01' },
      ],
      facts: { cpu: { model: 'QEMU', count: 1 }, memoryKiB: 500000 },
    };
    const post = (b: unknown, tok: string | null) =>
      fetch(`${s.url}/api/v1/discover`, { method: 'POST', headers: { 'content-type': 'application/json', ...(tok ? { authorization: `Bearer ${tok}` } : {}) }, body: JSON.stringify(b) });
    assert.equal((await post(body, 'svc-token')).status, 401, 'the API token is not the discovery token');
    assert.equal((await post(body, null)).status, 401);
    const r1 = await post(body, token);
    assert.equal(r1.status, 201);
    assert.deepEqual(await r1.json(), { node: 'node-525400000c01', created: true, updated: false });
    const node = (await api<{ discovered: boolean; interfaces: Array<{ ipv4: string; network: string }>; vars: { facts: unknown } }>('GET', '/api/v1/nodes/node-525400000c01')).body;
    assert.equal(node.discovered, true);
    assert.equal(node.interfaces.length, 1);
    assert.equal(node.interfaces[0]!.network, 'inside');
    assert.match(node.interfaces[0]!.ipv4, /^10\.0\.0\.(1[0-9]|[2-9][0-9]|1[0-9][0-9])$/, 'from the static range, not the lease');
    assert.deepEqual(node.vars.facts, body.facts);
    const r2 = await post({ ...body, facts: { memoryKiB: 1 } }, token);
    assert.equal(r2.status, 200);
    assert.deepEqual(await r2.json(), { node: 'node-525400000c01', created: false, updated: true });
    const r3 = await post({ interfaces: [{ name: 'eth0', mac: '52:54:00:00:0a:01' }] }, token);
    assert.deepEqual(await r3.json(), { node: 'blade1', created: false, updated: false }, "an operator's node is never changed");
    const r4 = await post({ interfaces: [{ name: 'eth0', mac: '52:54:00:00:0e:01', ipv4: '192.168.9.9' }] }, token);
    assert.equal(r4.status, 400);
    const r5 = await post({ interfaces: [{ name: 'eth0', mac: 'zz' }] }, token);
    assert.equal(r5.status, 400);
    assert.match(((await r5.json()) as { message: string }).message, /interfaces\[0\]\.mac/);
  });
});
