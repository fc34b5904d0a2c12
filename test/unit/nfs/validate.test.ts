// Export checks: each refusal names its field.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkExport, nodeFs, type CheckContext } from '../../../server/nfs/validate.js';
import { toSpec, configExports } from '../../../server/nfs/model.js';
import { nfsConfigIssues } from '../../../server/nfs/config-check.js';
import type { ConfigError } from '../../../server/config/errors.js';
import { loaded } from './fixtures.js';
import { tempDir } from '../../helpers/tmp.js';

function fsCtx(t: TestContext) {
  const dir = realpathSync(tempDir(t, 'rb-validate-'));
  const root = join(dir, 'content');
  mkdirSync(join(root, 'www'), { recursive: true });
  mkdirSync(join(dir, 'secret'));
  writeFileSync(join(root, 'file'), 'x');
  symlinkSync(join(dir, 'secret'), join(root, 'escape'));
  symlinkSync(join(root, 'www'), join(root, 'alias'));
  const ctx: CheckContext = { networks: loaded().networkByName, roots: [root], others: [], fs: nodeFs };
  return { dir, root, ctx };
}

const fields = (r: { issues: { field: string }[] }) => r.issues.map((i) => i.field);

test('a good export passes and resolves its real path', (t) => {
  const { root, ctx } = fsCtx(t);
  const r = checkExport(toSpec({ name: 'www', path: join(root, 'alias'), networks: ['inside'] }), ctx);
  assert.deepEqual(r.issues, []);
  assert.equal(r.realPath, join(root, 'www'));
});

test('path: missing, not a directory, outside the roots, escaping by symlink, odd characters', (t) => {
  const { dir, root, ctx } = fsCtx(t);
  const msg = (path: string) => checkExport(toSpec({ name: 'x', path, networks: ['inside'] }), ctx).issues.map((i) => `${i.field}: ${i.message}`);
  assert.match(msg(join(root, 'nope'))[0]!, /^path: .* does not exist/);
  assert.match(msg(join(root, 'file'))[0]!, /^path: .* is not a directory/);
  assert.match(msg(join(dir, 'secret'))[0]!, /^path: .* is outside the content roots/);
  assert.match(msg(join(root, 'escape'))[0]!, /^path: .*escape \(it resolves to .*secret\) is outside the content roots/);
  assert.match(msg(join(root, 'a b'))[0]!, /^path: .* has characters rackboot does not export/);
  const rel = { ...toSpec({ name: 'x', path: '/x', networks: ['inside'] }), path: 'relative/dir' };
  assert.match(checkExport(rel, ctx).issues[0]!.message, /is not an absolute path/);
});

test('networks: unknown, wildcard, CIDR and duplicates are refused by index', (t) => {
  const { root, ctx } = fsCtx(t);
  const r = checkExport(toSpec({ name: 'x', path: join(root, 'www'), networks: ['inside', 'mars', '*', '10.0.0.0/24', 'inside'] }), ctx);
  assert.deepEqual(fields(r), ['networks[1]', 'networks[2]', 'networks[3]', 'networks[4]']);
  assert.match(r.issues[0]!.message, /no network 'mars' \(have: inside, inside2\)/);
});

test('rw to a network needs allowRwNetwork', (t) => {
  const { root, ctx } = fsCtx(t);
  const p = join(root, 'www');
  assert.deepEqual(fields(checkExport(toSpec({ name: 'x', path: p, networks: ['inside'], access: 'rw' }), ctx)), ['access']);
  assert.deepEqual(fields(checkExport(toSpec({ name: 'x', path: p, networks: ['inside'], access: 'rw', allowRwNetwork: true }), ctx)), []);
});

test('names and pseudo paths are unique; one directory is served one way', (t) => {
  const { root, ctx } = fsCtx(t);
  const www = toSpec({ name: 'www', path: join(root, 'www'), networks: ['inside'] });
  const others = [{ spec: www, realPath: join(root, 'www') }];
  const c = { ...ctx, others };
  assert.deepEqual(fields(checkExport(toSpec({ name: 'www', path: join(root, 'www'), networks: ['inside2'] }), c)), ['name']);
  assert.deepEqual(fields(checkExport(toSpec({ name: 'w2', path: join(root, 'www'), networks: ['inside2'], pseudo: '/www' }), c)), ['pseudo']);
  // The same directory through a symlink, with other options: refused, naming each option.
  const r = checkExport(toSpec({ name: 'w3', path: join(root, 'alias'), networks: ['inside2'], squash: 'no_root_squash', sync: false }), c);
  assert.deepEqual(fields(r), ['squash', 'sync']);
  assert.match(r.issues[0]!.message, /export 'www' serves the same directory/);
  // Same options to another network: fine.
  assert.deepEqual(fields(checkExport(toSpec({ name: 'w4', path: join(root, 'alias'), networks: ['inside2'] }), c)), []);
});

test('config: the default www export, and config issues with key paths', () => {
  const d = configExports(loaded({}));
  assert.equal(d.length, 1);
  assert.equal(d[0]!.spec.name, 'www');
  assert.deepEqual(d[0]!.spec.networks, ['inside']);
  assert.equal(d[0]!.origin, 'default');
  assert.deepEqual(configExports(loaded({ exports: [] })), []);
  assert.deepEqual(nfsConfigIssues(loaded({ contentRoots: ['/srv/c'], exports: [{ name: 'www', path: '/srv/c/www', networks: ['inside'] }] })), []);
  assert.throws(
    () => loaded({ contentRoots: ['/srv/c'], ganesha: { bind: 'eth0' }, exports: [{ name: 'a', path: '/etc', networks: ['inside'], access: 'rw' }, { name: 'a', path: '/srv/c/a', networks: ['nope'] }] }),
    (e: ConfigError) => {
      const paths = e.issues.map((i) => i.path);
      assert.deepEqual(paths, ['nfs.ganesha.bind', 'nfs.exports[0].access', 'nfs.exports[0].path', 'nfs.exports[1].name', 'nfs.exports[1].networks[0]']);
      return true;
    },
  );
});
