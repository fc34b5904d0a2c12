// The rackboot command as a user runs it: a real process against a real server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../helpers/netns.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = new URL('../../server/cli/main.js', import.meta.url).pathname;

function cli(args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, timeoutMs: 20_000 });
}

describe('rackboot CLI', () => {
  let s: TestServer;
  let env: Record<string, string>;
  before(async () => {
    s = await startTestServer();
    env = { RACKBOOT_API: s.url, RACKBOOT_API_TOKEN: s.token };
  });
  after(async () => s.stop());

  test('node add / list / show / rm through the API', async () => {
    const add = await cli(['node', 'add', 'blade9', '-i', 'eth0,52-54-00-00-0A-09,inside', '-i', 'eth1,5254.0000.0b09,inside2,10.0.1.99', '--var', 'rack=7'], env);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /registered blade9: eth0 52:54:00:00:0a:09 inside 10\.0\.0\.10; eth1 52:54:00:00:0b:09 inside2 10\.0\.1\.99/);
    const list = await cli(['node', 'list'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /blade9\s+-\s+eth0=10\.0\.0\.10\(52:54:00:00:0a:09\)/);
    const show = await cli(['node', 'show', 'blade9'], env);
    assert.equal(JSON.parse(show.stdout).vars.rack, '7');
    const dup = await cli(['node', 'add', 'other', '-i', 'eth0,52:54:00:00:0a:09,inside'], env);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /^rackboot: 409 .*already registered to blade9\/eth0/);
    const rm = await cli(['node', 'rm', 'blade9'], env);
    assert.equal(rm.code, 0, rm.stderr);
    const gone = await cli(['node', 'show', 'blade9'], env);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /404 no node named 'blade9'/);
  });

  test('--api/--token flags; clear one-line errors for a bad token, bad --iface, no server', async () => {
    const flags = await cli(['node', 'list', '--api', s.url, '--token', s.token]);
    assert.equal(flags.code, 0, flags.stderr);
    const bad = await cli(['node', 'list', '--api', s.url, '--token', 'wrong']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /401 the bearer token is not valid/);
    const iface = await cli(['node', 'add', 'x', '-i', 'eth0'], env);
    assert.match(iface.stderr, /--iface 'eth0': expected NAME,MAC,NETWORK\[,IPV4\]/);
    const down = await cli(['node', 'list', '--api', 'http://127.0.0.1:1', '--token', 't']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach the rackboot API at http:\/\/127\.0\.0\.1:1/);
    assert.equal(down.stderr.trim().split('\n').length, 1, 'one line, no stack trace');
  });

  test('director status with the director off says it is not enabled', async () => {
    const r = await cli(['director', 'status'], env);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), 'rackboot: 404 the director is not enabled on this server (set director.enabled: true in the config)');
  });

  test('pair status on a server that is not one of a pair says so', async () => {
    const r = await cli(['pair', 'status'], env);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), 'rackboot: 404 the pair (a second disk node) is not enabled on this server (set pair.enabled: true in the config)');
  });

  test('config check: ok summary, and every problem with its key path', async (t) => {
    const dir = tempDir(t, 'rbcli-');
    const good = new URL('../../../examples/seed-cluster.yaml', import.meta.url).pathname;
    const ok = await cli(['config', 'check', '--config', good]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /ok: cluster 'cgws', 2 network\(s\), 1 seed group\(s\), 8 seed node\(s\)/);
    const badFile = join(dir, 'bad.yaml');
    writeFileSync(badFile, 'networks:\n  - name: a\n    cidr: 10.0.0.0/24\n    serverAddress: 10.0.9.1\n    rooter: 10.0.0.1\n');
    const bad = await cli(['config', 'check', '--config', badFile]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /networks\[0\]\.rooter: unknown key \(did you mean 'router'\?\)/);
  });

  test('config check: log.format and the env overrides of the log section, named', async (t) => {
    const dir = tempDir(t, 'rbcli-');
    const file = join(dir, 'log.yaml');
    writeFileSync(file, 'log:\n  format: text\n');
    const bad = await cli(['config', 'check', '--config', file], { RACKBOOT_LOG: 'loud' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /: 2 problems:\n/);
    assert.match(bad.stderr, /^ {2}log\.format: .*auto.*pretty.*json/m);
    assert.match(bad.stderr, /^ {2}env RACKBOOT_LOG: 'loud' is not one of fatal, error, warn, info, debug, trace \(it overrides log\.level\)$/m);
    writeFileSync(file, 'log:\n  format: pretty\n');
    assert.equal((await cli(['config', 'check', '--config', file])).code, 0);
    const env = await cli(['config', 'check', '--config', file], { RACKBOOT_LOG_FORMAT: 'xml' });
    assert.equal(env.code, 1);
    assert.match(env.stderr, /^ {2}env RACKBOOT_LOG_FORMAT: 'xml' is not one of auto, pretty, json \(it overrides log\.format\)$/m);
  });

  test('config check: a typo in one network does not hide a bad range in another (the example in docs/configuration.md)', async (t) => {
    const file = join(tempDir(t, 'rbcli-'), 'site.yaml');
    writeFileSync(
      file,
      'networks:\n' +
        '  - name: inside\n    interface: eth1\n    cdir: 10.0.0.0/24\n    serverAddress: 10.0.0.1\n' +
        '  - name: storage\n    interface: eth2\n    cidr: 10.0.1.0/24\n    serverAddress: 10.0.1.1\n    staticRange: 10.0.1.1-10.0.1.20\n',
    );
    const r = await cli(['config', 'check', '--config', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /: 3 problems:\n/);
    assert.match(r.stderr, /^ {2}networks\[0\]\.cidr: is required$/m);
    assert.match(r.stderr, /^ {2}networks\[0\]\.cdir: unknown key \(did you mean 'cidr'\?\)/m);
    assert.match(r.stderr, /^ {2}networks\[1\]\.staticRange: 10\.0\.1\.1-10\.0\.1\.20 contains the serverAddress 10\.0\.1\.1$/m);
  });

  test("config check: store.driver 'postgres' needs a URL and never prints its password; exports not served with NFS off", async (t) => {
    const dir = tempDir(t, 'rbcli-');
    const pg = join(dir, 'pg.yaml');
    writeFileSync(pg, 'store:\n  driver: postgres\n');
    const r = await cli(['config', 'check', '--config', pg], { RACKBOOT_DATABASE_URL: '' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ {2}store\.url: is required with store.driver 'postgres' \(or set the environment variable RACKBOOT_DATABASE_URL\)$/m);
    const withUrl = await cli(['config', 'check', '--config', pg], { RACKBOOT_DATABASE_URL: 'postgres://rb:Top%20Secret@db.example/rackboot' });
    assert.equal(withUrl.code, 0, withUrl.stderr);
    assert.match(withUrl.stdout, /store postgres postgres:\/\/rb:\*\*\*@db\.example\/rackboot/);
    assert.doesNotMatch(withUrl.stdout + withUrl.stderr, /Top|Secret/);
    const off = join(dir, 'off.yaml');
    writeFileSync(
      off,
      'networks:\n  - { name: inside, cidr: 10.0.0.0/24, serverAddress: 10.0.0.1 }\n' +
        'nfs:\n  enabled: false\n  contentRoots: [/srv/content]\n  exports:\n    - { name: www, path: /srv/content/www, networks: [inside] }\n',
    );
    const ok = await cli(['config', 'check', '--config', off]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /, 1 export\(s\) not served \(nfs\.enabled: false\),/);
  });

  test('node list --group: an unknown group is an error, an existing empty group an empty table', async () => {
    const nope = await cli(['node', 'list', '--group', 'nope'], env);
    assert.equal(nope.code, 1);
    assert.match(nope.stderr, /^rackboot: 404 no group named 'nope'$/m);
    assert.equal((await s.api('POST', '/api/v1/groups', { name: 'empty' })).status, 201);
    const empty = await cli(['node', 'list', '--group', 'empty'], env);
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(empty.stdout.trim(), 'NAME  GROUP  INTERFACES');
  });
});
