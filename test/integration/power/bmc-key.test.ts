// Servers sharing a database need one bmc-key: a server started with
// another key says so at start (an ERROR naming the key file, the power
// service unhealthy) instead of failing every power action later.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { startTestServer } from '../../helpers/server.js';
import { powerService } from '../../../server/power/service.js';
import { tempDir } from '../../helpers/tmp.js';

const SEED = {
  groups: [{ name: 'rf', bmc: { type: 'redfish', username: 'root', password: 'Key-Check-Pw-1', redfish: { insecure: true } } }],
  nodes: [{ name: 'k1', group: 'rf', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0e:01', network: 'inside' }], bmc: { address: '127.0.0.1', port: 1 } }],
};

interface Health {
  services: Record<string, { ok: boolean; detail?: string }>;
}

test('a server whose bmc-key does not open the stored passwords says so at start, and keeps its records', async (t) => {
  const dataDir = tempDir(t);
  const logs: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(line) });
  const ts = await startTestServer(SEED, { factories: [powerService()], log, dataDir });
  try {
    let h = await fetch(`${ts.url}/healthz`).then((r) => r.json() as Promise<Health>);
    assert.equal(h.services.power?.ok, true, `power healthy with its own key: ${JSON.stringify(h)}`);

    // Another server's key, as when a second server on the same database made its own.
    writeFileSync(join(dataDir, 'bmc-key'), randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
    await ts.restart();
    h = await fetch(`${ts.url}/healthz`).then((r) => r.json() as Promise<Health>);
    const power = h.services.power;
    assert.equal(power?.ok, false, `power unhealthy with another key: ${JSON.stringify(h)}`);
    assert.match(power?.detail ?? '', /bmc-key/);
    assert.match(power?.detail ?? '', /same bmc-key/);
    const error = logs.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.level === 50 && /^power: /.test(l.msg));
    assert.ok(error, `an ERROR line names the problem: ${logs.join('')}`);
    assert.match(error.msg, new RegExp(join(dataDir, 'bmc-key').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    // Nothing lost: the node and its BMC record are still there.
    const node = await ts.api<{ bmc?: { address?: string } }>('GET', '/api/v1/nodes/k1');
    assert.equal(node.status, 200);
  } finally {
    await ts.stop();
  }
});
