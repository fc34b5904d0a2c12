// `rackboot export` and `rackboot content` as a user runs them, against a
// real server with backend none (no NFS server needed: the exports file it
// writes is checked), plus `rackboot serve` on a host without any NFS server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../helpers/netns.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { nfsService } from '../../../server/nfs/service.js';
import { tempDir } from '../../helpers/tmp.js';
import { suiteTempDir } from '../../helpers/tmp.js';

const CLI = new URL('../../../server/cli/main.js', import.meta.url).pathname;

const tmp = suiteTempDir('rb-nfs-cli-');
describe('rackboot export / content (backend none)', () => {
  let s: TestServer;
  let env: Record<string, string>;
  const cli = (args: string[]) => run(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, timeoutMs: 20_000 });

  before(async () => {
    mkdirSync(join(tmp, 'content', 'tools'), { recursive: true });
    s = await startTestServer(
      { nfs: { backend: 'none', contentRoots: [join(tmp, 'content')], localSyncRoots: [join(tmp, 'sources')], none: { file: join(tmp, 'exports') } } },
      { factories: [nfsService] },
    );
    env = { RACKBOOT_API: s.url, RACKBOOT_API_TOKEN: s.token };
  });
  after(async () => {
    await s.stop();
  });

  test('export list / add / show / rm, and the exports file follows', async () => {
    const list = await cli(['export', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^www\s+active\s+ro\s+inside\s+\S+\/content\/www\s+10\.0\.0\.1:\S+\/content\/www\s+default$/m);
    const add = await cli(['export', 'add', 'tools', '--path', join(tmp, 'content', 'tools'), '-n', 'inside', '-n', 'inside2', '--layout', 'plain']);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /exported tools \(.*tools, id 2\)\n {2}inside: mount 10\.0\.0\.1:.*tools -o vers=4,ro\n {2}inside2: mount 10\.0\.1\.1:/);
    const file = readFileSync(join(tmp, 'exports'), 'utf8');
    assert.match(file, /content\/tools 10\.0\.0\.0\/24\(ro,root_squash,sync,no_subtree_check,fsid=2\) 10\.0\.1\.0\/24\(ro,/);
    const render = await cli(['export', 'render']);
    assert.equal(render.stdout, file);
    const show = JSON.parse((await cli(['export', 'show', 'tools'])).stdout) as { origin: string };
    assert.equal(show.origin, 'api');
    const status = await cli(['export', 'status']);
    assert.match(status.stdout, /^backend: none \(configured: none\)\nok: backend none: 2 export\(s\) rendered/);
    const rm = await cli(['export', 'rm', 'tools']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.doesNotMatch(readFileSync(join(tmp, 'exports'), 'utf8'), /tools/);
  });

  test('bad requests: one line naming the field, exit 1', async () => {
    const outside = await cli(['export', 'add', 'etc', '--path', '/etc', '-n', 'inside']);
    assert.equal(outside.code, 1);
    assert.match(outside.stderr, /^rackboot: 400 body\.path: \/etc is outside the content roots/);
    const rw = await cli(['export', 'add', 'w', '--path', join(tmp, 'content', 'tools'), '-n', 'inside', '--rw']);
    assert.match(rw.stderr, /^rackboot: 400 body\.access: rw to whole networks \(inside\)/);
    const ro = await cli(['export', 'rm', 'www']);
    assert.match(ro.stderr, /^rackboot: 409 export 'www' is/);
    const nosrc = await cli(['content', 'sync', join(tmp, 'nope'), 'www']);
    assert.match(nosrc.stderr, /no such directory/);
  });

  test('POST /exports/{name}/content: its body types in the OpenAPI; any other type 415 naming them; JSON needs source', async () => {
    type Media = Record<string, { schema: { format?: string; required?: string[] } }>;
    type Op = { requestBody: { content: Media }; responses: Record<string, unknown> };
    const doc = await s.api<{ paths: Record<string, Record<string, Op>> }>('GET', '/api/v1/openapi.json', undefined, null);
    const post = doc.body.paths['/api/v1/exports/{name}/content']!.post!;
    const tarTypes = ['application/x-tar', 'application/tar', 'application/gzip', 'application/x-gzip', 'application/octet-stream'];
    assert.deepEqual(Object.keys(post.requestBody.content).sort(), [...tarTypes, 'application/json'].sort());
    assert.equal(post.requestBody.content['application/x-tar']!.schema.format, 'binary');
    assert.deepEqual(post.requestBody.content['application/json']!.schema.required, ['source']);
    assert.deepEqual(Object.keys(post.responses).sort(), ['201', '400', '401', '404', '413', '415']);

    const url = `${s.url}/api/v1/exports/www/content`;
    const auth = { authorization: `Bearer ${s.token}` };
    const text = await fetch(url, { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: 'hello' });
    assert.equal(text.status, 415);
    assert.deepEqual(await text.json(), {
      error: 'unsupported_media_type',
      message: `headers.content-type: content-type 'text/plain' is not accepted here; send ${tarTypes.join(' or ')} or application/json`,
      field: 'headers.content-type',
    });
    const noSource = await s.api<{ error: string; message: string }>('POST', '/api/v1/exports/www/content', { from: '/x' });
    assert.equal(noSource.status, 400);
    assert.match(noSource.body.message, /body\.source: is required/);
    const nothing = await fetch(url, { method: 'POST', headers: auth });
    assert.equal(nothing.status, 400);
    assert.match(((await nothing.json()) as { message: string }).message, /^body: is required: the tree as a tar stream/);
  });

  test('content sync / releases / activate', async () => {
    const src = join(tmp, 'site');
    mkdirSync(join(src, 'css'), { recursive: true });
    writeFileSync(join(src, 'index.html'), 'one\n');
    writeFileSync(join(src, 'css', 'a.css'), 'body{}\n');
    const a = await cli(['content', 'sync', src, 'www']);
    assert.equal(a.code, 0, a.stderr);
    const first = /release (\S+) is live \(2 files/.exec(a.stdout)?.[1];
    assert.ok(first, a.stdout);
    writeFileSync(join(src, 'index.html'), 'two\n');
    const b = await cli(['content', 'sync', '--gzip', src, 'www']);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, new RegExp(`previous ${first}`));
    const www = join(tmp, 'content', 'www');
    assert.equal(readFileSync(join(www, 'current', 'index.html'), 'utf8'), 'two\n');
    const rel = await cli(['content', 'releases', 'www']);
    assert.equal(rel.stdout.trim().split('\n').length, 4, rel.stdout); // header + empty first release + 2 syncs
    const act = await cli(['content', 'activate', 'www', first!]);
    assert.equal(act.code, 0, act.stderr);
    assert.equal(readlinkSync(join(www, 'current')), `releases/${first}`);
    assert.equal(readFileSync(join(www, 'current', 'index.html'), 'utf8'), 'one\n');
  });

  test('content sync --local: the server copies a directory under nfs.localSyncRoots, refuses others', async () => {
    const src = join(tmp, 'sources', 'site');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'index.html'), 'local\n');
    writeFileSync(join(src, '.htaccess'), 'x\n');
    writeFileSync(join(src, 'sub', 'a'), 'a\n');
    const ok = await cli(['content', 'sync', '--local', src, 'www']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /release \S+ is live \(3 files, 10 bytes copied/);
    assert.equal(readFileSync(join(tmp, 'content', 'www', 'current', '.htaccess'), 'utf8'), 'x\n');
    const outside = await cli(['content', 'sync', '--local', join(tmp, 'site'), 'www']);
    assert.equal(outside.code, 1);
    assert.match(outside.stderr, /^rackboot: 400 body\.source: .*site is not under nfs\.localSyncRoots/);
  });
});

test('serve on a host without an NFS server: backend auto -> none, said in one line, and the API is up', async (t) => {
  const dir = tempDir(t, 'rb-nfs-none-');
  const cfg = join(dir, 'c.yaml');
  writeFileSync(
    cfg,
    [
      `dataDir: ${dir}/var`,
      'api: { listen: "127.0.0.1:0", token: t }',
      'networks: [ { name: inside, cidr: 10.0.0.0/24, serverAddress: 10.0.0.1 } ]',
      // Stand-ins for a machine where neither server is installed.
      'nfs: { backend: auto, contentRoots: [./content], kernel: { exportfs: /nonexistent/exportfs }, ganesha: { binary: /nonexistent/ganesha.nfsd } }',
    ].join('\n'),
  );
  const child = spawn(process.execPath, [CLI, 'serve', '--config', cfg], { cwd: dir, env: { PATH: process.env.PATH, RACKBOOT_LOG_FORMAT: 'json' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no listen line:\n${out}`)), 15_000);
    child.stdout.on('data', () => /Server listening/.test(out) && (clearTimeout(t), resolve()));
  });
  child.kill('SIGTERM');
  assert.equal(await new Promise((r) => child.once('exit', r)), 0, out);
  const picks = out.split('\n').filter((l) => l.includes('backend auto'));
  assert.equal(picks.length, 1, out);
  assert.match(picks[0]!, /nfs: backend auto -> none: .*'\/nonexistent\/ganesha.nfsd' is not installed/);
  assert.match(readFileSync(join(dir, 'var', 'nfs', 'exports'), 'utf8'), /content\/www 10\.0\.0\.0\/24\(ro,/);
});
