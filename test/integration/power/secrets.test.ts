// A BMC password goes in and is used, and never comes out: not in the log
// (trace level), not on a timeline, not in any API answer (also refusals of
// bodies that carry it), not in /metrics, not in `rackboot config check`,
// and not in the database files (sealed with the data directory's key).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { startTestServer, TEST_NETWORKS, type TestServer } from '../../helpers/server.js';
import { run } from '../../helpers/netns.js';
import { powerService } from '../../../server/power/service.js';
import { Machine } from '../../helpers/machine.js';
import { RedfishEmulator } from '../../helpers/redfish-emulator.js';
import { makeSelfSigned } from '../../helpers/tls.js';
import { suiteTempDir } from '../../helpers/tmp.js';

const SEED = 'Seed-Leak-Pw-1';
const API = 'Api-Leak-Pw-22';
const WRONG = 'Wrong-Leak-Pw-3';
const FILEPW = 'File-Leak-Pw-4';
const SECRETS = [SEED, API, WRONG, FILEPW];
const CLI = new URL('../../../server/cli/main.js', import.meta.url).pathname;

function noSecret(text: string, where: string): void {
  for (const s of SECRETS) assert.ok(!text.includes(s), `${where} holds the password ${s}: ...${text.slice(Math.max(0, text.indexOf(s) - 200), text.indexOf(s) + 50)}...`);
}

const dir = suiteTempDir('rackboot-secrets-');
describe('BMC passwords never leave rackboot', () => {
  let ts: TestServer;
  const logs: string[] = [];
  const answers: string[] = [];
  const emus: RedfishEmulator[] = [];

  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const r = await ts.api<Record<string, unknown>>(method, path, body);
    answers.push(`${method} ${path} -> ${r.status} ${JSON.stringify(r.body)}`);
    return r;
  }

  before(async () => {
    const pem = makeSelfSigned(join(dir, 'pki'));
    for (const [i, pw] of [SEED, API, FILEPW].entries()) {
      const e = new RedfishEmulator({ key: pem.key, cert: pem.cert, username: 'root', password: pw, machine: new Machine(join(dir, `m${i}`), { argv: ['sleep', '3600'] }) });
      await e.start();
      emus.push(e);
    }
    writeFileSync(join(dir, 'bmc.pw'), FILEPW + '\n', { mode: 0o600 });
    const log = pino({ level: 'trace' }, { write: (line: string) => void logs.push(line) });
    ts = await startTestServer(
      {
        groups: [{ name: 'rf', bmc: { type: 'redfish', username: 'root', password: SEED, redfish: { insecure: true } } }],
        nodes: [{ name: 's1', group: 'rf', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0f:01', network: 'inside' }], bmc: { address: '127.0.0.1', port: emus[0]!.port } }],
      },
      { factories: [powerService()], log },
    );
  });
  after(async () => {
    for (const e of emus) await e.stop();
    await ts?.stop();
  });

  test('used for power, then absent from logs, timelines, answers, metrics and the database', async () => {
    const bmc = (port: number, extra: Record<string, unknown>) => ({ type: 'redfish', address: '127.0.0.1', port, username: 'root', redfish: { insecure: true }, ...extra });
    assert.equal((await call('POST', '/api/v1/nodes', { name: 'a1', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0f:02', network: 'inside' }], bmc: bmc(emus[1]!.port, { password: API }) })).status, 201);
    assert.equal((await call('POST', '/api/v1/nodes', { name: 'f1', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0f:03', network: 'inside' }], bmc: bmc(emus[2]!.port, { passwordFile: join(dir, 'bmc.pw') }) })).status, 201);
    for (const n of ['s1', 'a1', 'f1']) {
      const r = await call('POST', `/api/v1/nodes/${n}/power`, { action: 'on' });
      assert.equal(r.status, 200, `${n} powered on with its password: ${JSON.stringify(r.body)}`);
    }
    assert.ok(emus.every((e) => e.o.machine.on), 'each BMC accepted its password');
    // A refused password, and bodies refused for carrying one wrongly.
    await call('PATCH', '/api/v1/nodes/a1', { bmc: bmc(emus[1]!.port, { password: WRONG }) });
    assert.equal((await call('POST', '/api/v1/nodes/a1/power', { action: 'off' })).status, 502);
    await call('POST', '/api/v1/nodes/a1/power', { action: 'off' });
    for (const bad of [{ bmc: API }, { bmc: { password: API, bogus: 1 } }, { bmc: { password: `${API}${'x'.repeat(200)}` } }, { bmc: { password: [API] } }, { bmc: { password: API, passwordFile: '/nonexistent' } }]) {
      const r = await call('PATCH', '/api/v1/nodes/a1', bad);
      assert.equal(r.status, 400, `refused: ${JSON.stringify(r.body)}`);
      assert.match(String(r.body.message), /^body\.bmc/, 'the refusal names the field');
    }
    await call('POST', '/api/v1/power', { action: 'status', group: 'rf', nodes: ['a1', 'f1'] });
    for (const p of ['/api/v1/nodes', '/api/v1/nodes/s1', '/api/v1/nodes/a1', '/api/v1/nodes/f1', '/api/v1/groups', '/api/v1/groups/rf', '/api/v1/nodes/s1/power', '/api/v1/events?limit=10000', '/api/v1/openapi.json']) {
      assert.equal((await call('GET', p)).status, 200, p);
    }
    const group = (await call('GET', '/api/v1/groups/rf')).body.bmc as Record<string, unknown>;
    assert.equal(group.passwordSet, true, 'the API says a password is set');
    assert.ok(!('password' in group) && !('passwordSealed' in group), 'and shows neither it nor its sealed form');
    const metrics = await fetch(`${ts.url}/metrics`).then((r) => r.text());
    await ts.server.events.flush();

    noSecret(answers.join('\n'), 'an API answer');
    noSecret(metrics, '/metrics');
    noSecret(logs.join(''), 'the log');
    assert.ok(logs.some((l) => l.includes('refused the credentials')), 'the log does say what failed');
    for (const f of readdirSync(ts.dataDir)) {
      const p = join(ts.dataDir, f);
      if (statSync(p).isFile()) noSecret(readFileSync(p).toString('latin1'), `data file ${f}`);
    }
    assert.equal(statSync(join(ts.dataDir, 'bmc-key')).mode & 0o777, 0o600, 'the key is readable by its owner only');
  });

  test('rackboot config check names problems of BMC entries without showing a password', async () => {
    const base = { dataDir: join(dir, 'cc'), networks: TEST_NETWORKS };
    const bad = {
      ...base,
      groups: [{ name: 'rf', bmc: { type: 'redfish', username: 'root', password: SEED, passwordFile: join(dir, 'missing.pw') } }],
      nodes: [
        { name: 'n1', group: 'rf', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0f:11', network: 'inside' }], bmc: { address: '10.0.2.11', password: { value: API } } },
        { name: 'n2', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0f:12', network: 'inside' }], bmc: WRONG },
        { name: 'n3', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0f:13', network: 'inside' }], bmc: { type: 'ipmi', password: `${FILEPW}${'y'.repeat(200)}` } },
      ],
    };
    writeFileSync(join(dir, 'bad.yaml'), JSON.stringify(bad));
    const r = await run(process.execPath, [CLI, 'config', 'check', '--config', join(dir, 'bad.yaml')], { timeoutMs: 20_000 });
    assert.equal(r.code, 1);
    const out = r.stdout + r.stderr;
    noSecret(out, 'config check');
    for (const key of ['groups[0].bmc.passwordFile', 'nodes[0].bmc.password', 'nodes[1].bmc', 'nodes[2].bmc.password']) assert.ok(out.includes(key), `names ${key}:\n${out}`);
    writeFileSync(join(dir, 'good.yaml'), JSON.stringify({ ...base, groups: [{ name: 'rf', bmc: { type: 'ipmi', username: 'admin', password: SEED } }] }));
    const ok = await run(process.execPath, [CLI, 'config', 'check', '--config', join(dir, 'good.yaml')], { timeoutMs: 20_000 });
    assert.equal(ok.code, 0, ok.stderr);
    noSecret(ok.stdout + ok.stderr, 'config check');
  });
});
