// Reprovision (PXE next boot and a power cycle, after an image rebuild when
// asked, waiting for it) and the power CLI, against the Redfish emulator:
// the machine is seen started from the network, the build is seen done
// before the cycle, a failed build cycles nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { run } from '../../helpers/netns.js';
import { requireLab } from '../../helpers/env.js';
import { imagesService } from '../../../server/images/service.js';
import { powerService } from '../../../server/power/service.js';
import { Machine } from '../../helpers/machine.js';
import { RedfishEmulator } from '../../helpers/redfish-emulator.js';
import { makeSelfSigned } from '../../helpers/tls.js';
import { makeRecipe } from '../images/fixtures.js';
import { suiteTempDir } from '../../helpers/tmp.js';

const CLI = new URL('../../../server/cli/main.js', import.meta.url).pathname;
const PASSWORD = 'Reprov-h21';

interface EventView {
  kind: string;
  ts: number;
  detail: Record<string, unknown>;
}

const root = suiteTempDir('rackboot-reprov-');
describe('reprovision and the power CLI', { concurrency: 1 }, () => {
  let ts: TestServer;
  let emu: RedfishEmulator;
  const m = () => emu.o.machine;
  const cli = (args: string[], input?: string) => run(process.execPath, [CLI, ...args, '--api', ts.url, '--token', ts.token], { timeoutMs: 30_000, input });
  const events = async (kind?: string) => (await ts.api<EventView[]>('GET', `/api/v1/nodes/b1/events${kind ? `?kind=${kind}` : ''}`)).body;
  const starts = () => m().events().filter((e) => e.what.startsWith('start'));

  before(async () => {
    const recipes = makeRecipe(root, 'blade');
    mkdirSync(join(recipes, 'broken'));
    writeFileSync(join(recipes, 'broken', 'recipe.yaml'), `kernel: { file: ${join(root, 'no-such-vmlinuz')} }\n`);
    const pem = makeSelfSigned(join(root, 'pki'));
    emu = new RedfishEmulator({ key: pem.key, cert: pem.cert, username: 'root', password: PASSWORD, machine: new Machine(join(root, 'machine'), { argv: ['sleep', '3600'] }) });
    await emu.start();
    ts = await startTestServer({ cluster: { name: 'cgws', domain: 'cluster.local', vars: { site: 'lab' } }, images: { recipeDirs: [recipes], discoveryImage: null }, power: { timeout: '5s' } }, { factories: [imagesService, powerService()] });
    await ts.api('POST', '/api/v1/groups', { name: 'web', image: 'blade', bmc: { type: 'redfish', username: 'root', password: PASSWORD, redfish: { insecure: true } } });
    const n = await ts.api('POST', '/api/v1/nodes', { name: 'b1', group: 'web', interfaces: [{ name: 'eth0', mac: '52:54:00:00:10:01', network: 'inside' }], bmc: { address: '127.0.0.1', port: emu.port } });
    assert.equal(n.status, 201, JSON.stringify(n.body));
  });
  after(async () => {
    await emu?.stop();
    await ts?.stop();
  });

  test('reprovision of an off node: PXE for the next boot, then the cycle starts it', async () => {
    const r = await ts.api<{ build: unknown; power: { action: string; bootdev: string; ok: boolean } }>('POST', '/api/v1/nodes/b1/reprovision');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.build, null);
    assert.deepEqual([r.body.power.action, r.body.power.bootdev, r.body.power.ok], ['cycle', 'pxe', true]);
    assert.ok(m().on);
    assert.match(starts().at(-1)!.what, /boot=pxe/);
    const power = (await events()).filter((e) => e.kind.startsWith('power.') || e.kind.startsWith('reprovision.'));
    assert.deepEqual(
      power.map((e) => `${e.kind} ${String(e.detail.action ?? '')} ${String(e.detail.source ?? '')}`.trim()),
      ['reprovision.requested', 'power.requested cycle reprovision', 'power.ok cycle reprovision'],
    );
  });

  test('with rebuild: the image is built first, then the running node is cycled into a network boot', async (t) => {
    if (!requireLab(t, { commands: ['busybox', 'cpio'] })) return;
    const pid = m().pid;
    const r = await ts.api<{ build: { image: string; version: string } }>('POST', '/api/v1/nodes/b1/reprovision', { rebuild: true });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.build.image, 'blade');
    const img = await ts.api<{ current: string }>('GET', '/api/v1/images/blade');
    assert.equal(img.body.current, r.body.build.version, 'the build it waited for is the current version');
    assert.ok(m().on && m().pid !== pid, 'cycled');
    assert.match(starts().at(-1)!.what, /boot=pxe/);
    const ev = await events();
    const last = (kind: string) => ev.filter((e) => e.kind === kind).at(-1)!;
    assert.ok(last('reprovision.built').ts <= last('power.requested').ts, 'the power cycle came after the build');
    assert.equal(last('reprovision.built').detail.version, r.body.build.version);
  });

  test('a failed build cycles nothing; no image to rebuild is said', async (t) => {
    if (!requireLab(t, { commands: ['busybox', 'cpio'] })) return;
    await ts.api('PATCH', '/api/v1/nodes/b1', { image: 'broken' });
    const pid = m().pid;
    const before = (await events('power.requested')).length;
    const r = await ts.api<{ error: string; message: string }>('POST', '/api/v1/nodes/b1/reprovision', { rebuild: true });
    assert.equal(r.status, 409);
    assert.equal(r.body.error, 'build_failed');
    assert.match(r.body.message, /^b1: the build of broken failed \(.*no-such-vmlinuz.*\); the node was not power-cycled$/);
    assert.equal(m().pid, pid, 'the machine was left alone');
    assert.equal((await events('power.requested')).length, before);
    await ts.api('PATCH', '/api/v1/groups/web', { image: null });
    await ts.api('PATCH', '/api/v1/nodes/b1', { image: null });
    const none = await ts.api<{ error: string; message: string }>('POST', '/api/v1/nodes/b1/reprovision', { rebuild: true });
    assert.deepEqual([none.status, none.body.error], [409, 'no_image']);
  });

  test('CLI: node bmc with the password from stdin, power status and off rows, reprovision, a failure exits 1', async () => {
    const set = await cli(['node', 'bmc', 'b1', '--address', '127.0.0.1', '--port', String(emu.port), '--password-stdin'], `${PASSWORD}\n`);
    assert.equal(set.code, 0, set.stderr);
    assert.ok(!set.stdout.includes(PASSWORD), 'the password is not printed back');
    assert.match(set.stdout, /"passwordSet":true/);
    const status = await cli(['power', 'status', 'b1']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^NODE\s+ACTION\s+RESULT\s+TIME\s+BMC \/ ERROR\nb1\s+status\s+on\s+\d+ ms\s+redfish 127\.0\.0\.1:\d+ via redfish session auth, insecure TLS\n$/);
    const json = await cli(['power', 'off', 'b1', '--json']);
    assert.equal(JSON.parse(json.stdout).state, 'off');
    assert.equal(m().on, false);
    const rp = await cli(['power', 'reprovision', 'b1']);
    assert.equal(rp.code, 0, rp.stderr);
    assert.match(rp.stdout, /^b1: next boot pxe, power cycled through redfish 127\.0\.0\.1:\d+/);
    // A node without a BMC: the row says why and the command exits 1.
    await ts.api('POST', '/api/v1/nodes', { name: 'nobmc', interfaces: [{ name: 'eth0', mac: '52:54:00:00:10:02', network: 'inside' }] });
    const bad = await cli(['power', 'on', 'b1', 'nobmc', '--stagger', '0']);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /nobmc\s+on\s+FAILED \(config\)\s+\d+ ms\s+nobmc has no BMC \(set bmc on the node or its group\)/);
    assert.match(bad.stderr, /1 node\(s\) failed/);
    const usage = await cli(['power', 'on']);
    assert.match(usage.stderr, /power on: name nodes or give --group/);
    const missing = await cli(['power', 'on', 'ghost']);
    assert.match(missing.stderr, /400 body\.nodes: no node named 'ghost'/);
  });
});
