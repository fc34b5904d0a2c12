// rackboot driving a real nfs-ganesha inside a network namespace, read by the
// libnfs client from other namespaces:
//
//   ns cli (10.0.0.11, network inside)  ── veth ──┐
//                                                 ns srv: ganesha (10.0.0.1 / 10.0.1.1)
//   ns out (10.0.1.11, network inside2) ── veth ──┘
//
// The default export `www` goes to network inside only, so cli reads it and
// out (which routes to 10.0.0.1 through srv) is refused by ganesha's ACL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireLab } from '../../helpers/env.js';
import { NetLab } from '../../helpers/netns.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { nfsCat, nfsLs, tarOf, untilOk, uploadTar } from '../../helpers/nfs.js';
import { nfsService, type NfsService } from '../../../server/nfs/service.js';
import { suiteTempDir } from '../../helpers/tmp.js';

type Err = { error: string; message: string; field?: string };
type Status = { backend: string; ok: boolean; pid?: number; restarts?: number; detail: string };

const tmp = suiteTempDir('rackboot-nfs-');
describe('ganesha backend, for real, in namespaces', () => {
  let lab: NetLab | undefined;
  let s: TestServer | undefined;
  let srv: string;
  let cli: string;
  let out: string;
  let skip = false;

  before(async (t) => {
    // before() gets a context without skip(); decide in each test instead.
    void t;
    if (process.getuid?.() !== 0) return void (skip = true);
    lab = new NetLab('rbnfs');
    srv = lab.addNs('srv');
    cli = lab.addNs('cli');
    out = lab.addNs('out');
    lab.veth({ ns: srv, name: 'in0', addr: '10.0.0.1/24' }, { ns: cli, name: 'eth0', addr: '10.0.0.11/24' });
    lab.veth({ ns: srv, name: 'in1', addr: '10.0.1.1/24' }, { ns: out, name: 'eth0', addr: '10.0.1.11/24' });
    lab.execSync(out, 'ip', ['route', 'add', 'default', 'via', '10.0.1.1']);
    mkdirSync(join(tmp, 'content'));
  });

  after(async () => {
    await s?.stop();
    await lab?.cleanup();
  });

  async function server(t: import('node:test').TestContext): Promise<TestServer | undefined> {
    if (skip || !requireLab(t, { root: true, commands: ['ganesha.nfsd', 'nfs-ls', 'nfs-cat'] })) return undefined;
    s ??= await startTestServer(
      { dataDir: join(tmp, 'data'), nfs: { backend: 'ganesha', contentRoots: [join(tmp, 'content'), '/proc/sys/fs'], ganesha: { netns: srv } } },
      { factories: [nfsService], dataDir: join(tmp, 'data') },
    );
    return s;
  }

  const status = async () => (await s!.api<Status>('GET', '/api/v1/nfs')).body;

  test('the default www export is served to its network, and mountFor says how to mount it', async (t) => {
    const s = await server(t);
    if (!s) return;
    const st = await status();
    assert.equal(st.backend, 'ganesha');
    assert.ok(st.ok, st.detail);
    const ls = await nfsLs(lab!, cli, '10.0.0.1', '/www');
    assert.ok(ls.ok, ls.err);
    assert.match(ls.out, /current/);
    assert.match(ls.out, /releases/);
    const m = s.server.boot.exports?.mountFor('www', 'inside');
    assert.deepEqual(m, { source: '10.0.0.1:/www', options: 'vers=4,ro', contentDir: 'current' });
    assert.equal(s.server.boot.exports?.mountFor('www', 'inside2'), undefined, 'inside2 may not mount www');
  });

  test('a content sync is visible to the client; the previous release stays', async (t) => {
    const s = await server(t);
    if (!s) return;
    const site = join(tmp, 'site1');
    mkdirSync(join(site, 'img'), { recursive: true });
    writeFileSync(join(site, 'index.html'), '<h1>release one</h1>\n');
    writeFileSync(join(site, 'img', 'logo.txt'), 'logo\n');
    const r1 = await uploadTar(s.url, s.token, 'www', await tarOf(site));
    assert.equal(r1.status, 201, JSON.stringify(r1.body));
    const cat1 = await nfsCat(lab!, cli, '10.0.0.1', '/www/current/index.html');
    assert.ok(cat1.ok, cat1.err);
    assert.equal(cat1.out, '<h1>release one</h1>\n');
    assert.equal((await nfsCat(lab!, cli, '10.0.0.1', '/www/current/img/logo.txt')).out, 'logo\n');

    writeFileSync(join(site, 'index.html'), '<h1>release two</h1>\n');
    const r2 = await uploadTar(s.url, s.token, 'www', await tarOf(site, true), 'application/gzip');
    assert.equal(r2.status, 201, JSON.stringify(r2.body));
    const b2 = r2.body as { release: string; previous: string };
    assert.equal(b2.previous, (r1.body as { release: string }).release);
    // No waiting: ganesha re-reads the switched directory at once (Attr_Expiration_Time 0).
    assert.equal((await nfsCat(lab!, cli, '10.0.0.1', '/www/current/index.html')).out, '<h1>release two</h1>\n');
    const old = await nfsCat(lab!, cli, '10.0.0.1', `/www/releases/${b2.previous}/index.html`);
    assert.equal(old.out, '<h1>release one</h1>\n', 'the previous release is kept');
  });

  test('reads during back-to-back syncs see a whole old or a whole new file, never half, never an error', async (t) => {
    const s = await server(t);
    if (!s) return;
    const SIZE = 256 * 1024;
    const trees: Buffer[] = [];
    for (const mark of ['A', 'B']) {
      const dir = join(tmp, `tree${mark}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'big.txt'), mark.repeat(SIZE));
      writeFileSync(join(dir, 'index.html'), `<h1>release two</h1>\n`);
      trees.push(await tarOf(dir));
    }
    assert.equal((await uploadTar(s.url, s.token, 'www', trees[1]!)).status, 201);
    let syncing = true;
    const seen = { A: 0, B: 0, bad: [] as string[] };
    const reader = (async () => {
      while (syncing) {
        const r = await nfsCat(lab!, cli, '10.0.0.1', '/www/current/big.txt');
        if (!r.ok) seen.bad.push(`error: ${r.err}`);
        else if (r.out === 'A'.repeat(SIZE)) seen.A++;
        else if (r.out === 'B'.repeat(SIZE)) seen.B++;
        else seen.bad.push(`mixed/short read: ${r.out.length} bytes, starts ${r.out.slice(0, 8)}`);
      }
    })();
    const made: string[] = [];
    // At least 12 syncs, and on until both trees were read (reads can be slow
    // next to syncs on a loaded machine), within a minute.
    const t0 = Date.now();
    for (let i = 0; i < 12 || ((seen.A === 0 || seen.B === 0) && Date.now() - t0 < 60_000); i++) {
      const r = await uploadTar(s.url, s.token, 'www', trees[i % 2]!);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      made.push((r.body as { release: string }).release);
      await new Promise((r) => setTimeout(r, 20));
    }
    syncing = false;
    await reader;
    assert.deepEqual(seen.bad, []);
    assert.ok(seen.A > 0 && seen.B > 0, `both trees were read (${seen.A} A, ${seen.B} B)`);
    // keepReleases is 3, but a release that was live less than releaseGraceSeconds ago is never deleted.
    const rel = (await s.api<Array<{ id: string }>>('GET', '/api/v1/exports/www/releases')).body.map((r) => r.id);
    assert.ok(made.every((id) => rel.includes(id)), 'every release of the last minutes is kept');
    console.log(`# reads during ${made.length} syncs: ${seen.A} whole A, ${seen.B} whole B, ${seen.bad.length} bad`);
  });

  test('a client outside the allowed network is refused', async (t) => {
    const s = await server(t);
    if (!s) return;
    // The route works (TCP to 10.0.0.1 from 10.0.1.11), ganesha's ACL is what refuses.
    const ls = await nfsLs(lab!, out, '10.0.0.1', '/www');
    assert.equal(ls.ok, false, `out must not list www: ${ls.out}`);
    assert.match(ls.err, /NFS4ERR_NOENT|NFS4ERR_ACCESS|NFS4ERR_PERM|failed/i);
    const cat = await nfsCat(lab!, out, '10.0.0.1', '/www/current/index.html');
    assert.equal(cat.ok, false);
  });

  test('a bad export request is refused naming the field, and the running exports are unchanged', async (t) => {
    const s = await server(t);
    if (!s) return;
    const before = await status();
    const outside = await s.api<Err>('POST', '/api/v1/exports', { name: 'etc', path: '/etc', networks: ['inside'] });
    assert.equal(outside.status, 400);
    assert.equal(outside.body.field, 'body.path');
    assert.match(outside.body.message, /outside the content roots/);
    const star = await s.api<Err>('POST', '/api/v1/exports', { name: 'all', path: join(tmp, 'content'), networks: ['*'] });
    assert.equal(star.status, 400);
    assert.equal(star.body.field, 'body.networks[0]');
    const rw = await s.api<Err>('POST', '/api/v1/exports', { name: 'scratch', path: join(tmp, 'content'), networks: ['inside'], access: 'rw' });
    assert.equal(rw.status, 400);
    assert.equal(rw.body.field, 'body.access');
    const dup = await s.api<Err>('POST', '/api/v1/exports', { name: 'www', path: join(tmp, 'content'), networks: ['inside'] });
    assert.equal(dup.status, 409);
    const ro = await s.api<Err>('DELETE', '/api/v1/exports/www');
    assert.equal(ro.status, 409);
    assert.equal(ro.body.error, 'read_only');
    const after = await status();
    assert.equal(after.pid, before.pid, 'ganesha was not restarted');
    const cat = await nfsCat(lab!, cli, '10.0.0.1', '/www/current/index.html');
    assert.ok(cat.ok, cat.err);
    assert.equal(cat.out, '<h1>release two</h1>\n');
    const list = (await s.api<Array<{ name: string }>>('GET', '/api/v1/exports')).body;
    assert.deepEqual(list.map((e) => e.name), ['www']);
  });

  test('an export added through the API is served without a restart, and removed again', async (t) => {
    const s = await server(t);
    if (!s) return;
    const dir = join(tmp, 'content', 'tools');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'README'), 'tools\n');
    const pid = (await status()).pid;
    const add = await s.api<{ state: string; mounts: Record<string, { source: string }> }>('POST', '/api/v1/exports', {
      name: 'tools',
      path: dir,
      networks: ['inside2'],
      layout: 'plain',
    });
    assert.equal(add.status, 201, JSON.stringify(add.body));
    assert.equal(add.body.mounts.inside2?.source, '0.0.0.0:/tools'.replace('0.0.0.0', '10.0.1.1'));
    const cat = await nfsCat(lab!, out, '10.0.1.1', '/tools/README');
    assert.ok(cat.ok, cat.err);
    assert.equal(cat.out, 'tools\n');
    assert.equal((await nfsCat(lab!, cli, '10.0.0.1', '/tools/README')).ok, false, 'inside may not read tools');
    assert.equal((await nfsCat(lab!, cli, '10.0.0.1', '/www/current/index.html')).ok, true, 'www still served');
    assert.equal((await s.api('DELETE', '/api/v1/exports/tools')).status, 204);
    assert.equal((await nfsCat(lab!, out, '10.0.1.1', '/tools/README')).ok, false, 'removed');
    assert.notEqual((await status()).pid, undefined);
    void pid;
  });

  test('moving an export to another directory keeps its pseudo path (two-step reload), no restart', async (t) => {
    const s = await server(t);
    if (!s) return;
    const a = join(tmp, 'content', 'docs-a');
    const b = join(tmp, 'content', 'docs-b');
    mkdirSync(a, { recursive: true });
    mkdirSync(b, { recursive: true });
    writeFileSync(join(a, 'v'), 'a\n');
    writeFileSync(join(b, 'v'), 'b\n');
    const pid = (await status()).pid;
    const add = await s.api<{ exportId: number }>('POST', '/api/v1/exports', { name: 'docs', path: a, networks: ['inside'], layout: 'plain' });
    assert.equal(add.status, 201, JSON.stringify(add.body));
    assert.equal((await nfsCat(lab!, cli, '10.0.0.1', '/docs/v')).out, 'a\n');
    const moved = await s.api<{ exportId: number }>('PATCH', '/api/v1/exports/docs', { path: b });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.notEqual(moved.body.exportId, add.body.exportId, 'a new path is a new export id');
    assert.equal((await nfsCat(lab!, cli, '10.0.0.1', '/docs/v')).out, 'b\n');
    assert.equal((await status()).pid, pid, 'no restart');
    assert.equal((await s.api('DELETE', '/api/v1/exports/docs')).status, 204);
  });

  test('a change ganesha itself refuses is rolled back: 502, previous exports served, no restart', async (t) => {
    const s = await server(t);
    if (!s) return;
    // /proc passes rackboot's checks (it is listed as a content root here) but VFS cannot export it.
    const pid = (await status()).pid;
    const r = await s.api<Err>('POST', '/api/v1/exports', { name: 'procfs', path: '/proc/sys/fs', networks: ['inside'], layout: 'plain' });
    assert.equal(r.status, 502, JSON.stringify(r.body));
    assert.equal(r.body.error, 'nfs_server_refused');
    assert.match(r.body.message, /previous exports are still served: ganesha reload: /);
    assert.equal((await s.api('GET', '/api/v1/exports/procfs')).status, 404);
    assert.equal((await status()).pid, pid);
    const cat = await nfsCat(lab!, cli, '10.0.0.1', '/www/current/index.html');
    assert.ok(cat.ok, cat.err);
  });

  test('ganesha killed: rackboot restarts it and the client reads again', async (t) => {
    const s = await server(t);
    if (!s) return;
    const st = await status();
    assert.ok(st.pid);
    process.kill(st.pid!, 'SIGKILL'); // our own child
    const t0 = Date.now();
    const back = await untilOk(() => nfsCat(lab!, cli, '10.0.0.1', '/www/current/index.html'), 30_000);
    assert.ok(back.result.ok, back.result.err);
    console.log(`# ganesha SIGKILLed: client read again after ${Date.now() - t0} ms (${back.tries} tries)`);
    // ganesha answers a moment before it logs that it is ready; rackboot reports running once it has.
    let after = await status();
    for (let i = 0; i < 200 && !after.ok; i++) after = (await new Promise((r) => setTimeout(r, 50)), await status());
    assert.ok(after.ok, after.detail);
    assert.notEqual(after.pid, st.pid);
    assert.equal(after.restarts, 1);
    const svc = s.server.services.find((x) => x.name === 'nfs') as NfsService;
    assert.equal(svc.health?.().ok, true);
  });
});
