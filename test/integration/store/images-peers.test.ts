// Images on servers sharing one PostgreSQL store: a build on A becomes the
// current version on B, which fetches the files from A (hashes checked)
// instead of building; both serve the same bytes; the files route takes
// the peer secret, not just any token; and a server that finds no live
// peer holding the version builds it itself.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { imagesService, type ImagesService } from '../../../server/images/service.js';
import { peerSecret } from '../../../server/store/presence.js';
import { requireLab } from '../../helpers/env.js';
import { havePostgres, sharedCluster } from '../../helpers/postgres.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { makeRecipe } from '../images/fixtures.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const images = (s: TestServer) => s.server.services.find((x) => x.name === 'images') as ImagesService;

async function current(s: TestServer, name: string): Promise<string | null> {
  const r = await s.api<{ current: string | null }>('GET', `/api/v1/images/${name}`);
  return r.status === 200 ? r.body.current : null;
}

async function until<T>(what: string, ms: number, fn: () => Promise<T | undefined | null | false>): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('images on servers sharing a store', () => {
  const root = mkdtempSync(join(tmpdir(), 'rackboot-img-peers-'));
  let ok = false;
  let url = '';
  const servers: TestServer[] = [];
  const start = async (name: string) => {
    const recipes = makeRecipe(join(root, name), 'blade');
    const s = await startTestServer(
      { cluster: { name: 'cgws', domain: 'cluster.local', vars: { site: 'lab' } }, store: { driver: 'postgres', url }, server: { name, heartbeat: '1s' }, images: { recipeDirs: [recipes], discoveryImage: null } },
      { factories: [imagesService] },
    );
    servers.push(s);
    return s;
  };
  before(async () => {
    ok = havePostgres('images on servers sharing a store');
    if (ok) url = await (await sharedCluster()).createDatabase('img');
  });
  after(async () => {
    for (const s of servers) await s.stop().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  });

  it('a build on A is fetched by B (no build on B); the same bytes from both; the peer secret opens the files', async (t) => {
    if (!requireLab(t, { commands: ['busybox', 'cpio'] }) || !ok) return;
    const A = await start('img-a');
    const B = await start('img-b');
    const job = await A.api<{ id: string }>('POST', '/api/v1/images/blade/builds');
    assert.equal(job.status, 202);
    const version = await until('the build on A', 60_000, async () => {
      const j = await A.api<{ state: string; version: string | null; error: string | null }>('GET', `/api/v1/images/blade/builds/${job.body.id}`);
      assert.notEqual(j.body.state, 'failed', j.body.error ?? '');
      return j.body.state === 'succeeded' && j.body.version;
    });
    const t0 = Date.now();
    await until('B to serve the version A built', 20_000, async () => (await current(B, 'blade')) === version);
    console.log(`# B serves A's build ${version} ${Date.now() - t0} ms after it was published`);
    assert.deepEqual(images(B).jobs.list('blade'), [], 'B fetched it; it did not build');
    const sha = async (s: TestServer, file: string) => {
      const r = await fetch(`${s.url}/api/v1/images/blade/versions/${version}/files/${file}`, { headers: { authorization: `Bearer ${s.token}` } });
      assert.equal(r.status, 200);
      return createHash('sha256').update(Buffer.from(await r.arrayBuffer())).digest('hex');
    };
    for (const f of ['kernel', 'initrd']) assert.equal(await sha(B, f), await sha(A, f), `${f} differs`);
    const files = `${A.url}/api/v1/images/blade/versions/${version}/files/kernel`;
    assert.equal((await fetch(files)).status, 401);
    assert.equal((await fetch(files, { headers: { authorization: 'Bearer not-the-secret' } })).status, 401);
    const secret = await peerSecret(A.server.store);
    assert.equal((await fetch(files, { headers: { authorization: `Bearer ${secret}` } })).status, 200);
    assert.equal((await fetch(`${A.url}/api/v1/nodes`, { headers: { authorization: `Bearer ${secret}` } })).status, 401, 'the peer secret opens image files only');
  });

  it('with no live server holding the version, a new server builds it itself (the same version: builds are reproducible)', async (t) => {
    if (!requireLab(t, { commands: ['busybox', 'cpio'] }) || !ok || servers.length < 2) return;
    const version = await current(servers[0]!, 'blade');
    for (const s of servers.splice(0)) await s.stop();
    const C = await start('img-c');
    await until('C to build and serve the shared version', 60_000, async () => (await current(C, 'blade')) === version);
    const builds = images(C).jobs.list('blade');
    assert.equal(builds.length, 1);
    assert.match(builds[0]!.trigger, /^peer img-/);
  });
});
