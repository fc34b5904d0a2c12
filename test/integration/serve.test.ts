// `rackboot serve` as a process: starts on the example cluster, says in one
// line when a privileged port cannot be bound, stops cleanly on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import YAML from 'yaml';
import { join } from 'node:path';
import { run } from '../helpers/netns.js';
import { requireLab } from '../helpers/env.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = new URL('../../server/cli/main.js', import.meta.url).pathname;

/** `rackboot serve --config cfg` in dir; url resolves when the API listens. */
function startServe(cfg: string, dir: string) {
  const child = spawn(process.execPath, [CLI, 'serve', '--config', cfg], {
    cwd: dir,
    env: { PATH: process.env.PATH, RACKBOOT_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no listen line:\n${out}`)), 15_000);
    child.stdout.on('data', () => {
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) (clearTimeout(t), resolve(m[1]!));
    });
    void exited.then((code) => (clearTimeout(t), reject(new Error(`exited ${code} before listening:\n${out}`))));
  });
  // A server expected to refuse never listens: that is not an unhandled rejection.
  url.catch(() => undefined);
  return { child, url, exited, log: () => out };
}

/** The seed cluster, on a free API port and without the privileged services. */
function seedConfig(dir: string): string {
  const cfg = join(dir, 'c.yaml');
  const seed = YAML.parse(readFileSync(new URL('../../../examples/seed-cluster.yaml', import.meta.url).pathname, 'utf8')) as Record<string, Record<string, unknown>>;
  seed.api!.listen = '127.0.0.1:0';
  for (const k of ['dhcp', 'tftp']) seed[k] = { ...seed[k], enabled: false };
  seed.nfs = { ...seed.nfs, backend: 'none' };
  writeFileSync(cfg, YAML.stringify(seed));
  return cfg;
}

test('serve: the API comes up on the seed cluster, records survive a restart, SIGTERM exits 0', async (t) => {
  const dir = tempDir(t, 'rbserve-');
  const cfg = seedConfig(dir);
  const start = () => startServe(cfg, dir);
  const a = start();
  const url = await a.url;
  const token = readFileSync(join(dir, 'var', 'api-token'), 'utf8').trim();
  const nodes = (await (await fetch(`${url}/api/v1/nodes`, { headers: { authorization: `Bearer ${token}` } })).json()) as Array<{ name: string }>;
  assert.deepEqual(nodes.map((n) => n.name), ['blade1', 'blade2', 'blade3', 'blade4', 'blade5', 'blade6', 'blade7', 'blade8']);
  assert.match(a.log(), /generated an API token into .*api-token/);
  a.child.kill('SIGTERM');
  const code = await new Promise((r) => a.child.once('exit', r));
  assert.equal(code, 0, a.log());
  const b = start();
  const url2 = await b.url;
  const again = (await (await fetch(`${url2}/api/v1/nodes`, { headers: { authorization: `Bearer ${token}` } })).json()) as unknown[];
  assert.equal(again.length, 8, 'the seed is not applied twice and nothing is lost');
  b.child.kill('SIGTERM');
  await new Promise((r) => b.child.once('exit', r));
});

test('serve: a second serve on the same data directory stops at once, naming the first; the lock goes with a killed server', async (t) => {
  const dir = tempDir(t, 'rbserve-');
  const cfg = seedConfig(dir);
  const a = startServe(cfg, dir);
  const url = await a.url;
  const b = startServe(cfg, dir);
  assert.equal(await b.exited, 1, b.log());
  const lines = b.log().trim().split('\n').filter((l) => !l.startsWith('{'));
  assert.equal(lines.length, 1, b.log());
  assert.match(lines[0]!, new RegExp(`^rackboot: another rackboot \\(pid ${a.child.pid}\\) is serving the data directory .*/var: stop it first`));
  assert.doesNotMatch(b.log(), /seeded|listening|nfs:|dhcp:/, 'the second one touched nothing');
  const token = readFileSync(join(dir, 'var', 'api-token'), 'utf8').trim();
  const health = await fetch(`${url}/healthz`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(health.status, 200, 'the first one still serves');
  // SIGKILL leaves no stale lock: the kernel drops it with the process.
  a.child.kill('SIGKILL');
  await a.exited;
  const c = startServe(cfg, dir);
  await c.url;
  c.child.kill('SIGTERM');
  assert.equal(await c.exited, 0, c.log());
});

test('serve: a privileged port without the right says so in one line with the fix', async (t) => {
  if (!requireLab(t, { root: true, commands: ['setpriv'] })) return;
  const dir = tempDir(t, 'rbpriv-');
  chmodSync(dir, 0o777);
  const cfg = join(dir, 'c.yaml');
  writeFileSync(cfg, `dataDir: ${dir}/var\napi: { listen: "127.0.0.1:81", token: t }\n`);
  chmodSync(cfg, 0o644);
  // Drop to nobody without capabilities: binding :81 must fail with EACCES.
  const r = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, CLI, 'serve', '--config', cfg], {
    cwd: dir,
    env: { PATH: process.env.PATH, RACKBOOT_LOG_FORMAT: 'json' },
    timeoutMs: 20_000,
  });
  assert.equal(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^rackboot: api: cannot bind HTTP port 81: permission denied\. Run as root, or grant the capability: sudo setcap cap_net_bind_service/);
});
