// Power through Redfish: rackboot's HTTPS client against the test tree's
// Redfish emulator (no Redfish BMC emulator is packaged) on loopback. Reset
// types (and the fallback when a system lacks PowerCycle), the boot
// override (once, and continuous), session and basic auth, 401 (a clear
// error and no second try), TLS checked against a CA file, a self-signed
// certificate refused unless the BMC says insecure, and a QEMU VM driven
// through QMP behind the emulator.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { powerService } from '../../../server/power/service.js';
import { Machine } from '../../helpers/machine.js';
import { RedfishEmulator } from '../../helpers/redfish-emulator.js';
import { makeCa, makeSelfSigned, makeSignedCert, type Pem } from '../../helpers/tls.js';
import { waitUntil } from '../../helpers/wait.js';
import { haveCommand, requireLab } from '../../helpers/env.js';
import { suiteTempDir } from '../../helpers/tmp.js';

const USER = 'root';
const PASSWORD = 'Rf-h21-Secret';
const sleeper = { argv: ['sleep', '3600'] };

interface Res {
  status: number;
  body: Record<string, unknown>;
}

const dir = suiteTempDir('rackboot-redfish-');
describe('power through Redfish (the test emulator over HTTPS)', { concurrency: 1 }, () => {
  let ts: TestServer;
  let ca: Pem;
  const emus: RedfishEmulator[] = [];

  async function emulator(name: string, pem: Pem, extra: { resetTypes?: string[]; machine?: Machine } = {}): Promise<RedfishEmulator> {
    const e = new RedfishEmulator({ key: pem.key, cert: pem.cert, username: USER, password: PASSWORD, machine: extra.machine ?? new Machine(join(dir, name), sleeper), resetTypes: extra.resetTypes });
    await e.start();
    emus.push(e);
    return e;
  }

  let macs = 0;
  const bmc = (e: RedfishEmulator, redfish: Record<string, unknown>, password = PASSWORD) => ({ type: 'redfish', address: '127.0.0.1', port: e.port, username: USER, password, redfish });
  async function node(name: string, e: RedfishEmulator, redfish: Record<string, unknown>): Promise<void> {
    const mac = `52:54:00:00:0e:${(++macs).toString(16).padStart(2, '0')}`;
    const r = await ts.api('POST', '/api/v1/nodes', { name, interfaces: [{ name: 'eth0', mac, network: 'inside' }], bmc: bmc(e, redfish) });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }

  const power = (name: string, body: object) => ts.api('POST', `/api/v1/nodes/${name}/power`, body) as Promise<Res>;
  const resets = (m: Machine) => m.events().filter((e) => e.what.startsWith('redfish reset')).map((e) => e.what.slice('redfish reset '.length));

  before(async () => {
    ca = makeCa(join(dir, 'pki'));
    ts = await startTestServer({ power: { timeout: '5s' } }, { factories: [powerService()] });
  });
  after(async () => {
    for (const e of emus) await e.stop();
    await ts?.stop();
  });

  test('session auth, CA-checked TLS: on, status, cycle, reset, soft and off with their reset types; every session closed', async () => {
    const e = await emulator('rf1', makeSignedCert(join(dir, 'pki'), ca, 'rf1'));
    await node('rf1', e, { caFile: ca.certFile });
    const m = e.o.machine;
    const r = await power('rf1', { action: 'on' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.bmc, `redfish 127.0.0.1:${e.port}`);
    assert.ok(m.on, 'On started the machine');
    const status = await ts.api<Record<string, unknown>>('GET', '/api/v1/nodes/rf1/power');
    assert.equal(status.body.state, 'on');
    const pid = m.pid;
    assert.equal((await power('rf1', { action: 'cycle' })).status, 200);
    assert.ok(m.on && m.pid !== pid, 'PowerCycle restarted it');
    const pid2 = m.pid;
    assert.equal((await power('rf1', { action: 'reset' })).status, 200);
    assert.ok(m.on && m.pid !== pid2, 'ForceRestart restarted it');
    assert.equal((await power('rf1', { action: 'soft' })).status, 200);
    assert.ok(await waitUntil(() => !m.on, 5000), 'GracefulShutdown: the machine stopped');
    assert.equal((await power('rf1', { action: 'off' })).status, 200);
    assert.equal((await power('rf1', { action: 'cycle' })).status, 200, 'a cycle of an off machine');
    assert.ok(m.on, 'starts it');
    assert.deepEqual(resets(m), ['On', 'PowerCycle', 'ForceRestart', 'GracefulShutdown', 'ForceOff', 'On']);
    assert.equal(e.sessions.size, 0, 'every session was deleted');
    assert.ok(e.requests.filter((q) => q.path.startsWith('/redfish/v1/Systems')).every((q) => q.auth === 'session'), 'each request carried the session token');
    const events = (await ts.api<Array<{ kind: string; detail: Record<string, unknown> }>>('GET', '/api/v1/nodes/rf1/events')).body;
    assert.equal(events.filter((x) => x.kind === 'power.ok').length, 6, 'each action is on the timeline');
    const metrics = await fetch(`${ts.url}/metrics`).then((x) => x.text());
    assert.match(metrics, /rackboot_power_actions_total\{action="cycle",type="redfish",result="ok"\} 2/);
  });

  test('basic auth; a system without PowerCycle is cycled with ForceRestart', async () => {
    const e = await emulator('rf2', makeSignedCert(join(dir, 'pki'), ca, 'rf2'), { resetTypes: ['On', 'ForceOff', 'ForceRestart', 'GracefulShutdown'] });
    await node('rf2', e, { caFile: ca.certFile, auth: 'basic' });
    assert.equal((await power('rf2', { action: 'on' })).status, 200);
    assert.equal((await power('rf2', { action: 'cycle' })).status, 200);
    assert.deepEqual(resets(e.o.machine), ['On', 'ForceRestart']);
    assert.ok(!e.requests.some((q) => q.path.includes('SessionService')), 'no session with basic auth');
    assert.ok(e.requests.every((q) => q.auth === 'basic'));
  });

  test('boot override: PXE for the next boot only, then disk for every boot', async () => {
    const e = emus[0]!;
    const m = e.o.machine;
    assert.equal((await power('rf1', { action: 'off' })).status, 200);
    let r = await power('rf1', { action: 'on', bootdev: 'pxe' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.match(m.events().filter((x) => x.what.startsWith('start')).at(-1)!.what, /boot=pxe/, 'the machine started from the network');
    assert.deepEqual(e.boot, { target: 'None', enabled: 'Disabled' }, 'a once override is used up by that boot');
    r = await power('rf1', { action: 'cycle', bootdev: 'disk', persistent: true });
    assert.equal(r.status, 200);
    assert.deepEqual(e.boot, { target: 'Hdd', enabled: 'Continuous' });
    assert.match(m.events().filter((x) => x.what.startsWith('start')).at(-1)!.what, /boot=disk/);
    assert.ok(m.events().some((x) => x.what === 'redfish boot Pxe Once'), 'BootSourceOverrideTarget Pxe, Enabled Once');
  });

  test('a wrong password: 401 named in a clear error, and not sent again', async () => {
    const e = emus[1]!;
    await ts.api('PATCH', '/api/v1/nodes/rf2', { bmc: bmc(e, { caFile: ca.certFile, auth: 'basic' }, 'not-it') });
    const before = e.requests.length;
    const r = await power('rf2', { action: 'off' });
    assert.equal(r.status, 502);
    assert.equal(r.body.error, 'bmc_auth');
    const msg = String(r.body.message);
    for (const part of ['rf2', `127.0.0.1:${e.port}`, `refused the credentials of user '${USER}'`, 'HTTP 401', 'GET /redfish/v1/Systems']) assert.ok(msg.includes(part), `names ${part}: ${msg}`);
    assert.equal(e.requests.length - before, 1, 'one request, refused');
    const again = await power('rf2', { action: 'off' });
    assert.match(String(again.body.message), /not tried/);
    assert.equal(e.requests.length - before, 1, 'no request with the refused credentials');
    assert.ok(e.o.machine.on, 'the machine was left alone');
    // With sessions, the session request is what is refused.
    await ts.api('PATCH', '/api/v1/nodes/rf1', { bmc: bmc(emus[0]!, { caFile: ca.certFile }, 'also-wrong') });
    const s = await power('rf1', { action: 'off' });
    assert.match(String(s.body.message), /HTTP 401.*POST \/redfish\/v1\/SessionService\/Sessions/);
    await ts.api('PATCH', '/api/v1/nodes/rf1', { bmc: bmc(emus[0]!, { caFile: ca.certFile }) });
  });

  test('TLS: a certificate from an unknown CA or a self-signed one is refused unless insecure: true', async () => {
    const signed = emus[0]!;
    await node('rf4', signed, {});
    let r = await power('rf4', { action: 'on' });
    assert.equal(r.status, 502);
    assert.equal(r.body.error, 'bmc_error');
    assert.match(String(r.body.message), /rf4: the BMC at redfish 127\.0\.0\.1:\d+ has a certificate that is not trusted .*caFile.*insecure: true/);
    const self = await emulator('rf3', makeSelfSigned(join(dir, 'pki'), 'rf3'));
    await node('rf3', self, { caFile: ca.certFile });
    r = await power('rf3', { action: 'on' });
    assert.equal(r.status, 502, 'the site CA does not vouch for a self-signed certificate');
    assert.match(String(r.body.message), /self-signed|not trusted/);
    assert.equal(self.requests.length, 0, 'no request got through');
    assert.equal(self.o.machine.on, false);
    // A BMC given without its password keeps the stored one (the field is write-only).
    const { password: _p, ...withoutPassword } = bmc(self, { insecure: true });
    await ts.api('PATCH', '/api/v1/nodes/rf3', { bmc: withoutPassword });
    r = await power('rf3', { action: 'on' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(self.o.machine.on);
    assert.match(String(r.body.via), /insecure TLS/, 'the result says TLS was not checked');
  });

  test('a QEMU VM behind the emulator: started, reset and soft-stopped through QMP, quit by ForceOff', async (t) => {
    if (!haveCommand('qemu-system-x86_64') && !requireLab(t, { commands: ['qemu-system-x86_64'] })) return;
    const vmDir = join(dir, 'vm');
    const qmp = join(vmDir, 'qmp.sock');
    const machine = new Machine(vmDir, { argv: ['qemu-system-x86_64', '-accel', 'tcg', '-m', '32', '-nodefaults', '-display', 'none', '-serial', 'none', '-monitor', 'none', '-qmp', `unix:${qmp},server=on,wait=off`], qmp });
    const e = await emulator('rfq', makeSignedCert(join(dir, 'pki'), ca, 'rfq'), { machine });
    await node('rfq', e, { caFile: ca.certFile });
    assert.equal((await power('rfq', { action: 'on' })).status, 200);
    assert.ok(await waitUntil(() => machine.on, 5000), 'QEMU runs');
    const { existsSync } = await import('node:fs');
    assert.ok(await waitUntil(() => existsSync(qmp), 10_000), 'its QMP socket is there');
    const pid = machine.pid;
    assert.equal((await power('rfq', { action: 'reset' })).status, 200);
    assert.equal(machine.pid, pid, 'a reset through QMP keeps the same QEMU process');
    assert.ok(machine.events().some((x) => x.what === `reset pid=${pid} (qmp)`), JSON.stringify(machine.events()));
    assert.equal((await power('rfq', { action: 'soft' })).status, 200);
    assert.ok(machine.events().some((x) => x.what === `soft pid=${pid} (qmp)`), 'soft: an ACPI power button press through QMP');
    assert.equal((await power('rfq', { action: 'off' })).status, 200);
    assert.ok(await waitUntil(() => !machine.on, 5000), 'ForceOff: QEMU quit');
    assert.equal((await ts.api<Record<string, unknown>>('GET', '/api/v1/nodes/rfq/power')).body.state, 'off');
  });
});
