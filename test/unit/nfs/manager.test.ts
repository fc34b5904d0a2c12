// The export manager with a recording backend and a real SQLite store:
// checks before applying, refusals change nothing, ids stay stable,
// API-made exports survive a restart.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteStore } from '../../../server/store/sqlite.js';
import { ExportManager, type ExportInvalidError, ExportReadOnlyError } from '../../../server/nfs/manager.js';
import { BackendError, type NfsBackend } from '../../../server/nfs/backends/backend.js';
import { configExports, toSpec, type ResolvedExport } from '../../../server/nfs/model.js';
import { silentLogger } from '../../../server/log.js';
import { ConflictError } from '../../../server/store/types.js';
import { loaded } from './fixtures.js';
import { tempDir } from '../../helpers/tmp.js';

class Recorder implements NfsBackend {
  readonly kind = 'ganesha' as const;
  applied: ResolvedExport[][] = [];
  refuse = false;
  async start(e: readonly ResolvedExport[]) {
    this.applied.push([...e]);
  }
  async apply(e: readonly ResolvedExport[]) {
    if (this.refuse) throw new BackendError('ganesha reload: export_commit_common: nope');
    this.applied.push([...e]);
  }
  async stop() {}
  status() {
    return { ok: true, detail: 'rec', files: {} };
  }
  render() {
    return '';
  }
  mountSource(e: ResolvedExport, a: string) {
    return `${a}:${e.pseudo}`;
  }
  mountOptions() {
    return [];
  }
}

function setup(t: TestContext) {
  const dir = tempDir(t, 'rb-mgr-');
  const root = join(dir, 'content');
  mkdirSync(join(root, 'tools'), { recursive: true });
  const cfg = loaded({ contentRoots: [root] });
  const db = join(dir, 'db.sqlite');
  const make = async (store = new SqliteStore(db)) => {
    const backend = new Recorder();
    const m = new ExportManager({ networks: cfg.networkByName, contentRoots: [root], store, log: silentLogger() });
    await m.start(configExports(cfg), backend);
    return { m, backend, store };
  };
  return { dir, root, make };
}

test('start: the default www export is created, served, and mounted from the network address', async (t) => {
  const { make } = setup(t);
  const { m, backend, store } = await make();
  assert.deepEqual(backend.applied[0]!.map((e) => e.name), ['www']);
  assert.deepEqual(m.mountFor('www', 'inside'), { source: '10.0.0.1:/www', options: 'vers=4,ro', contentDir: 'current' });
  assert.equal(m.mountFor('www', 'inside2'), undefined);
  assert.equal(m.mountFor('nope', 'inside'), undefined);
  assert.deepEqual(m.names(), ['www']);
  await store.close();
});

test('create / update / remove; refusals by the checks or the server leave everything as it was', async (t) => {
  const { root, make } = setup(t);
  const { m, backend, store } = await make();
  const tools = toSpec({ name: 'tools', path: join(root, 'tools'), networks: ['inside2'], layout: 'plain' });
  const v = await m.create(tools);
  assert.equal(v.state, 'active');
  assert.equal(v.exportId, 2);
  assert.equal((await store.getExport('tools'))?.path, join(root, 'tools'));
  const applies = backend.applied.length;

  await assert.rejects(m.create({ ...tools }), ConflictError);
  await assert.rejects(m.create(toSpec({ name: 'bad', path: '/etc', networks: ['inside'] })), (e: ExportInvalidError) => e.issues[0]!.field === 'path');
  await assert.rejects(m.update('tools', { networks: ['mars'] }), (e: ExportInvalidError) => e.issues[0]!.field === 'networks[0]');
  await assert.rejects(m.remove('www'), ExportReadOnlyError);
  assert.equal(backend.applied.length, applies, 'nothing reached the server');

  backend.refuse = true;
  await assert.rejects(m.update('tools', { networks: ['inside'] }), BackendError);
  await assert.rejects(m.remove('tools'), BackendError);
  backend.refuse = false;
  assert.deepEqual(m.get('tools')?.networks, ['inside2'], 'the refused change is not kept');
  assert.deepEqual((await store.getExport('tools'))?.networks, ['inside2']);

  const u = await m.update('tools', { networks: ['inside', 'inside2'] });
  assert.equal(u.exportId, 2, 'same path: same id');
  await m.remove('tools');
  assert.equal(await store.getExport('tools'), undefined);
  assert.deepEqual(m.names(), ['www']);
  await store.close();
});

test('restart: API exports come back with their ids; one whose directory vanished is reported, not served', async (t) => {
  const { root, make } = setup(t);
  const a = await make();
  mkdirSync(join(root, 'gone'));
  await a.m.create(toSpec({ name: 'tools', path: join(root, 'tools'), networks: ['inside2'], layout: 'plain' }));
  await a.m.create(toSpec({ name: 'gone', path: join(root, 'gone'), networks: ['inside2'], layout: 'plain' }));
  await a.store.close();
  rmSync(join(root, 'gone'), { recursive: true });

  const b = await make();
  const list = b.m.list();
  assert.deepEqual(list.map((e) => [e.name, e.state, e.exportId]), [
    ['www', 'active', 1],
    ['gone', 'invalid', null],
    ['tools', 'active', 2],
  ]);
  assert.match(list[1]!.problems[0]!, /^path: .*gone does not exist/);
  assert.deepEqual(b.backend.applied[0]!.map((e) => e.name), ['www', 'tools']);
  // The invalid one can be fixed or removed through the API.
  await b.m.remove('gone');
  await b.store.close();
});
