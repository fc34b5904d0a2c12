// `rackboot serve` as a process: starts on the example cluster, says in one
// line when a privileged port cannot be bound, stops cleanly on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import YAML from 'yaml';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetLab, run } from '../helpers/netns.js';
import { waitUntil } from '../helpers/wait.js';
import { requireLab } from '../helpers/env.js';

const CLI = new URL('../../server/cli/main.js', import.meta.url).pathname;

/** `rackboot serve --config cfg` in dir; url resolves when the API listens. */
function startServe(cfg: string, dir: string, env: Record<string, string> = { RACKBOOT_LOG_FORMAT: 'json' }) {
  const child = spawn(process.execPath, [CLI, 'serve', '--config', cfg], {
    cwd: dir,
    env: { PATH: process.env.PATH, ...env },
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
function seedConfig(dir: string, more: Record<string, unknown> = {}): string {
  const cfg = join(dir, 'c.yaml');
  const seed = YAML.parse(readFileSync(new URL('../../../examples/seed-cluster.yaml', import.meta.url).pathname, 'utf8')) as Record<string, Record<string, unknown>>;
  seed.api!.listen = '127.0.0.1:0';
  for (const k of ['dhcp', 'tftp']) seed[k] = { ...seed[k], enabled: false };
  seed.nfs = { ...seed.nfs, backend: 'none' };
  writeFileSync(cfg, YAML.stringify({ ...seed, ...more }));
  return cfg;
}

test('serve: the API comes up on the seed cluster, records survive a restart, SIGTERM exits 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rbserve-'));
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

test('serve: a second serve on the same data directory stops at once, naming the first; the lock goes with a killed server', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rbserve-'));
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
  const dir = mkdtempSync(join(tmpdir(), 'rbpriv-'));
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

test('serve: log.format auto writes JSON lines to a pipe, pretty readable lines; the env overrides the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rbserve-'));
  const lines = async (cfg: string, env: Record<string, string>) => {
    const s = startServe(cfg, dir, env);
    await s.url;
    s.child.kill('SIGTERM');
    assert.equal(await s.exited, 0, s.log());
    return s.log().split('\n').filter(Boolean);
  };
  // auto, stdout a pipe (as under a service unit or in the lab's rackboot.log): JSON, numeric levels.
  const auto = await lines(seedConfig(dir), {});
  assert.ok(auto.length > 3);
  for (const l of auto) assert.equal(typeof (JSON.parse(l) as { level: unknown }).level, 'number', l);

  const prettyCfg = seedConfig(dir, { log: { level: 'info', format: 'pretty' } });
  const pretty = await lines(prettyCfg, {});
  assert.ok(pretty.some((l) => /^\d\d:\d\d:\d\d\.\d{3} INFO  rackboot: config .*c\.yaml, data in /.test(l)), pretty.join('\n'));
  assert.ok(pretty.every((l) => !/\[(\w+)\] \1:/.test(l)), 'a service is named once');
  assert.ok(pretty.every((l) => !l.startsWith('{')), pretty.join('\n'));

  const forced = await lines(prettyCfg, { RACKBOOT_LOG_FORMAT: 'json' });
  assert.ok(forced.every((l) => l.startsWith('{')), forced.join('\n'));

  // A bad override: one line naming the variable, before anything starts.
  const bad = startServe(prettyCfg, dir, { RACKBOOT_LOG_FORMAT: 'text' });
  assert.equal(await bad.exited, 1);
  assert.match(bad.log(), /env RACKBOOT_LOG_FORMAT: 'text' is not one of auto, pretty, json/);
});

test('serve with the default addresses: API and TFTP answer on the served network and loopback, never on the outside', async (t) => {
  if (!requireLab(t, { root: true, commands: ['curl', 'tftp'] })) return;
  const lab = new NetLab('rbsv');
  const dir = mkdtempSync(join(tmpdir(), 'rbserved-'));
  try {
    const srv = lab.addNs('srv');
    const cli = lab.addNs('cli');
    lab.veth({ ns: srv, name: 'in0', addr: '10.0.0.1/24' }, { ns: cli, name: 'in0', addr: '10.0.0.2/24' });
    lab.veth({ ns: srv, name: 'out0', addr: '192.0.2.1/24' }, { ns: cli, name: 'out0', addr: '192.0.2.2/24' });
    mkdirSync(join(dir, 'tftpboot'));
    writeFileSync(join(dir, 'tftpboot', 'hello.txt'), 'hello\n');
    const cfg = join(dir, 'c.yaml');
    // No api.listen, no tftp.address: the defaults under test. Ports are the real ones, inside the namespace.
    writeFileSync(
      cfg,
      YAML.stringify({
        dataDir: join(dir, 'var'),
        api: { token: 'tok' },
        networks: [{ name: 'inside', interface: 'in0', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', staticRange: '10.0.0.10-10.0.0.99' }],
        dhcp: { enabled: false },
        tftp: { root: join(dir, 'tftpboot') },
        nfs: { backend: 'none' },
      }),
    );
    const child = lab.spawn(srv, process.execPath, [CLI, 'serve', '--config', cfg], { cwd: dir, env: { PATH: process.env.PATH, RACKBOOT_LOG_FORMAT: 'json' } });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const up = await waitUntil(() => /api: listening on/.test(out), 20_000);
    assert.ok(up, out);
    assert.match(out, /api: listening on http:\/\/127\.0\.0\.1:8080, http:\/\/10\.0\.0\.1:8080 /);
    assert.match(out, /tftp: listening on 127\.0\.0\.1:69, 10\.0\.0\.1:69 /);
    const curl = (ns: string, url: string) => lab.exec(ns, 'curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '3', url], { timeoutMs: 10_000 });
    assert.equal((await curl(cli, 'http://10.0.0.1:8080/healthz')).stdout, '200');
    assert.equal((await curl(srv, 'http://127.0.0.1:8080/healthz')).stdout, '200');
    const outside = await curl(cli, 'http://192.0.2.1:8080/healthz');
    assert.notEqual(outside.stdout, '200', 'the API does not answer on the outside address');
    assert.match(outside.stderr, /connect/i, 'refused at connect');
    const get = (host: string, local: string) => lab.exec(cli, 'tftp', ['-m', 'binary', host, '-c', 'get', 'hello.txt', join(dir, local)], { timeoutMs: 30_000 });
    const inside = await get('10.0.0.1', 'in.txt');
    assert.equal(inside.code, 0, inside.stdout + inside.stderr);
    assert.equal(readFileSync(join(dir, 'in.txt'), 'utf8'), 'hello\n');
    const off = await get('192.0.2.1', 'out.txt');
    assert.ok(!existsSync(join(dir, 'out.txt')) || readFileSync(join(dir, 'out.txt'), 'utf8') === '', `no TFTP on the outside address: ${off.stdout}${off.stderr}`);
    child.kill('SIGTERM');
  } finally {
    await lab.cleanup();
  }
});
