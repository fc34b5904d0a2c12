// Power through real BMCs: rackboot (the real process) drives OpenIPMI's
// ipmi_sim over IPMI LAN in namespaces, with ipmitool and with FreeIPMI's
// ipmipower/ipmi-chassis-config; each BMC powers a stand-in machine (a
// process its chassis program starts and stops), so "on" is seen as a
// running process and "bootdev pxe" as the boot device that process was
// started with. Then: a wrong password (a clear error, and no second
// attempt reaches the BMC), a BMC that does not answer (a timeout naming it,
// the other nodes done first), and 50 nodes powered on 200 ms apart through
// the CLI.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { labLacks, requireLab } from '../../helpers/env.js';
import { waitUntil } from '../../helpers/wait.js';
import type { NsRackboot } from '../../helpers/ns-server.js';
import { RACKBOOT_MAIN } from '../../helpers/ns-server.js';
import { BMC_PASSWORD, bmcAddress, DEAD_BMC, nodeName, PowerLab } from './fixture.js';
import type { PowerResult } from '../../../server/power/controller.js';

const NEEDS = { root: true, commands: ['ipmi_sim', 'ipmitool', 'ipmipower', 'ipmi-chassis-config', 'nft', 'ss'] };
const BMCS = 50;
const POWER = { timeout: '10s', stagger: '2s', ipmi: { tool: 'ipmitool' } };
const FREEIPMI = { timeout: '10s', stagger: '2s', ipmi: { tool: 'freeipmi', workaroundFlags: 'opensesspriv' } };

interface EventView {
  kind: string;
  ts: number;
  detail: Record<string, unknown>;
}

async function call(rb: NsRackboot, method: string, path: string, body?: object) {
  return rb.api.raw<Record<string, unknown>>(method, `/api/v1${path}`, body);
}

describe('power through ipmi_sim BMCs', { concurrency: 1 }, () => {
  let lab: PowerLab | undefined;
  let rb: NsRackboot;
  let ok = 0;

  before(async () => {
    if (labLacks(NEEDS)) return;
    lab = new PowerLab({ bmcs: BMCS, power: POWER });
    await lab.startBmcs();
    rb = await lab.startServer('ipmitool');
    await lab.register(rb);
  });
  after(async () => {
    const logs = lab ? lab.servers.map((s) => s.logText()).join('\n') : '';
    await lab?.close(ok < 5);
    // Every server's whole log (debug level): never the password.
    if (logs) assert.ok(!logs.includes(BMC_PASSWORD), 'the BMC password is never in rackboot log');
  });

  async function exercise(server: NsRackboot, i: number): Promise<void> {
    const name = nodeName(i);
    const m = lab!.bmcs[i]!.machine;
    let r = await call(server, 'POST', `/nodes/${name}/power`, { action: 'on' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.state, 'on');
    assert.equal(r.body.bmc, `ipmi ${bmcAddress(i)}:623`);
    assert.ok(await waitUntil(() => m.on, 10_000), 'power on started the machine');
    r = await call(server, 'GET', `/nodes/${name}/power`);
    assert.equal(r.body.state, 'on', JSON.stringify(r.body));
    assert.ok(r.body.lastSeen, 'when the BMC was last seen');

    const before = m.pid;
    r = await call(server, 'POST', `/nodes/${name}/power`, { action: 'cycle', bootdev: 'pxe' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(await waitUntil(() => m.on && m.pid !== before, 15_000), 'the cycle stopped the machine and started it again');
    const starts = m.events().filter((e) => e.what.startsWith('start'));
    assert.match(starts.at(-1)!.what, /boot=pxe/, `the machine started from the network after bootdev pxe: ${JSON.stringify(m.events())}`);

    r = await call(server, 'POST', `/nodes/${name}/power`, { action: 'off' });
    assert.equal(r.status, 200);
    assert.ok(await waitUntil(() => !m.on, 10_000), 'power off stopped it');
    assert.equal((await call(server, 'GET', `/nodes/${name}/power`)).body.state, 'off');

    // A cycle of an off machine starts it; reset restarts; soft asks it to stop.
    r = await call(server, 'POST', `/nodes/${name}/power`, { action: 'cycle' });
    assert.equal(r.status, 200);
    assert.ok(await waitUntil(() => m.on, 10_000), 'cycle of an off machine starts it');
    const pid = m.pid;
    r = await call(server, 'POST', `/nodes/${name}/power`, { action: 'reset' });
    assert.equal(r.status, 200);
    assert.ok(await waitUntil(() => m.on && m.pid !== pid, 10_000), 'reset restarted it');
    r = await call(server, 'POST', `/nodes/${name}/power`, { action: 'soft' });
    assert.equal(r.status, 200);
    assert.ok(await waitUntil(() => !m.on, 10_000), 'soft off: the machine was asked to stop and did');

    const events = await server.api.call<EventView[]>('GET', `/nodes/${name}/events`);
    const power = events.filter((e) => e.kind.startsWith('power.')).map((e) => `${e.kind} ${String(e.detail.action)}`);
    assert.deepEqual(
      power,
      ['on', 'cycle', 'off', 'cycle', 'reset', 'soft'].flatMap((a) => [`power.requested ${a}`, `power.ok ${a}`]),
      'each action and its outcome is on the timeline',
    );
  }

  test('ipmitool: on, status, cycle with bootdev pxe, off, cycle of an off node, reset, soft', { timeout: 120_000 }, async (t) => {
    if (!requireLab(t, NEEDS)) return;
    await exercise(rb, 0);
    const metrics = await rb.api.raw<string>('GET', '/metrics');
    assert.match(metrics.body, /rackboot_power_actions_total\{action="on",type="ipmi",result="ok"\} 1/);
    ok++;
  });

  test('FreeIPMI (ipmipower, ipmi-chassis-config): the same against the same BMCs', { timeout: 120_000 }, async (t) => {
    if (!requireLab(t, NEEDS)) return;
    const fr = await lab!.startServer('freeipmi', FREEIPMI, 8081);
    await lab!.register(fr, 3);
    await exercise(fr, 1);
    // A bulk request shares ipmipower runs between the BMCs (one process, their sessions in parallel): each node still gets its own answer.
    const names = [0, 1, 2].map(nodeName);
    const on = await fr.api.call<{ ok: number; results: PowerResult[] }>('POST', '/power', { action: 'on', nodes: names, stagger: 0 });
    assert.equal(on.ok, 3, JSON.stringify(on.results.map((r) => r.error)));
    assert.ok(await waitUntil(() => [0, 1, 2].every((i) => lab!.bmcs[i]!.machine.on), 10_000), 'the three machines started');
    const st = await fr.api.call<{ results: PowerResult[] }>('POST', '/power', { action: 'status', nodes: names });
    assert.deepEqual(st.results.map((r) => [r.node, r.state, r.via]), names.map((n) => [n, 'on', 'freeipmi lanplus -C 3']));
    const off = await fr.api.call<{ ok: number }>('POST', '/power', { action: 'off', nodes: names });
    assert.equal(off.ok, 3);
    assert.ok(await waitUntil(() => [0, 1, 2].every((i) => !lab!.bmcs[i]!.machine.on), 10_000), 'the three machines stopped');
    await fr.stop();
    ok++;
  });

  test('a wrong password: a clear error, one attempt reaches the BMC, the next is refused without one', { timeout: 60_000 }, async (t) => {
    if (!requireLab(t, NEEDS)) return;
    const i = 2;
    const name = nodeName(i);
    await rb.api.call('PATCH', `/nodes/${name}`, { bmc: { address: bmcAddress(i), password: 'not-the-password' } });
    const packets = lab!.countPacketsTo(bmcAddress(i));
    const r = await call(rb, 'POST', `/nodes/${name}/power`, { action: 'on' });
    assert.equal(r.status, 502);
    assert.equal(r.body.error, 'bmc_auth');
    const msg = String(r.body.message);
    for (const part of [name, bmcAddress(i), "refused the credentials of user 'admin'", 'ipmitool']) assert.ok(msg.includes(part), `the message names ${part}: ${msg}`);
    const first = packets();
    assert.ok(first > 0 && first <= 10, `one session attempt, not a storm of retries (${first} packets)`);
    const again = await call(rb, 'POST', `/nodes/${name}/power`, { action: 'on' });
    assert.equal(again.status, 502);
    assert.match(String(again.body.message), /not tried: .* refused these credentials/);
    const bulk = await rb.api.call<{ results: PowerResult[] }>('POST', '/power', { action: 'status', nodes: [name] });
    assert.equal(bulk.results[0]!.kind, 'auth');
    assert.equal(packets(), first, 'no further packet reached the BMC with the refused credentials');
    assert.equal(lab!.bmcs[i]!.machine.on, false, 'the machine was not started');
    // Corrected, it works at once (the backoff is for the refused credentials only).
    await rb.api.call('PATCH', `/nodes/${name}`, { bmc: { address: bmcAddress(i), password: BMC_PASSWORD } });
    assert.equal((await call(rb, 'POST', `/nodes/${name}/power`, { action: 'on' })).status, 200);
    assert.ok(await waitUntil(() => lab!.bmcs[i]!.machine.on, 10_000));
    ok++;
  });

  test('a BMC that does not answer: a timeout naming node, address and command; the other nodes are done first', { timeout: 60_000 }, async (t) => {
    if (!requireLab(t, NEEDS)) return;
    await rb.api.call('POST', '/nodes', { name: 'dead', group: 'rack', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0d:01', network: 'inside' }], bmc: { address: DEAD_BMC } });
    const order: PowerResult[] = [];
    const names = ['dead', nodeName(3), nodeName(4), nodeName(5), nodeName(6)];
    const res = await rb.api.raw<string>('POST', '/api/v1/power', { action: 'on', nodes: names, stagger: 0 }, { accept: 'application/x-ndjson' });
    for (const line of res.body.split('\n').filter(Boolean)) {
      const v = JSON.parse(line) as PowerResult & { done?: boolean; nodes?: string[] };
      if (!v.done && !v.nodes) order.push(v);
    }
    assert.deepEqual(order.map((r) => r.node).sort(), [...names].sort(), 'a line per node');
    assert.equal(order.at(-1)!.node, 'dead', `the silent BMC's result comes last: ${order.map((r) => r.node).join(', ')}`);
    for (const r of order.slice(0, -1)) assert.ok(r.ok, `${r.node} powered on while the dead BMC was being waited for: ${r.error}`);
    const dead = order.at(-1)!;
    assert.equal(dead.ok, false);
    assert.ok(dead.kind === 'timeout' || dead.kind === 'unreachable', dead.kind ?? '');
    for (const part of ['dead', DEAD_BMC, 'ipmitool -I lanplus chassis power on']) assert.ok(dead.error!.includes(part), `names ${part}: ${dead.error}`);
    const single = await call(rb, 'POST', '/nodes/dead/power', { action: 'off' });
    assert.equal(single.status, 504);
    assert.equal(single.body.error, 'bmc_unreachable');
    ok++;
  });

  test(`${BMCS} nodes powered on through the CLI, 200 ms apart, a row printed per node as it finishes`, { timeout: 180_000 }, async (t) => {
    if (!requireLab(t, NEEDS)) return;
    // The nodes left on by the tests above are switched off first, at once (off is not staggered).
    const off = await rb.api.call<{ ok: number; failed: number; results: PowerResult[] }>('POST', '/power', { action: 'off', group: 'rack', stagger: '5s' });
    assert.deepEqual(off.results.filter((r) => !r.ok).map((r) => r.node), ['dead'], `all off but the dead BMC: ${off.results.filter((r) => !r.ok && r.node !== 'dead').map((r) => r.error).slice(0, 3).join('; ')}`);
    await rb.api.call('DELETE', '/nodes/dead');
    assert.ok(await waitUntil(() => lab!.bmcs.every((b) => !b.machine.on), 20_000), 'every machine off');

    const rows: Array<{ at: number; line: string }> = [];
    const cli = spawn('ip', ['netns', 'exec', lab!.srv, process.execPath, RACKBOOT_MAIN, 'power', 'on', '--group', 'rack', '--stagger', '200ms', '--api', 'http://127.0.0.1:8080', '--token', rb.token], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    cli.stderr.on('data', (d: Buffer) => (err += d.toString()));
    let buf = '';
    cli.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) (rows.push({ at: Date.now(), line: buf.slice(0, i) }), (buf = buf.slice(i + 1)));
    });
    const code = await new Promise<number | null>((r) => cli.on('close', r));
    assert.equal(code, 0, `the CLI succeeded: ${err}`);
    assert.match(rows[0]!.line, /^NODE\s+ACTION\s+RESULT/);
    const body = rows.slice(1);
    assert.equal(body.length, BMCS, 'a row per node');
    for (const r of body) assert.match(r.line, /^n\d\d\s+on\s+on\s+\d+ ms\s+ipmi 10\.0\.2\.\d+:623 via ipmitool/);

    const requested: Array<{ node: string; ts: number }> = [];
    for (let i = 0; i < BMCS; i++) {
      const ev = (await rb.api.call<EventView[]>('GET', `/nodes/${nodeName(i)}/events?kind=power.requested`)).at(-1)!;
      requested.push({ node: nodeName(i), ts: ev.ts });
    }
    requested.sort((a, b) => a.ts - b.ts);
    assert.deepEqual(requested.map((r) => r.node), Array.from({ length: BMCS }, (_, i) => nodeName(i)), 'started in the group order');
    const gaps = requested.slice(1).map((r, i) => r.ts - requested[i]!.ts);
    // The pause is between starts; each event is stamped after that node's store reads, which a loaded
    // machine can delay by tens of ms: the whole span shows the stagger, each gap allows that jitter.
    const span = requested.at(-1)!.ts - requested[0]!.ts;
    assert.ok(span >= (BMCS - 1) * 195, `the nodes were asked over at least ${BMCS - 1} staggers (${span} ms)`);
    assert.ok(Math.min(...gaps) >= 100, `each node asked well after the one before (smallest gap ${Math.min(...gaps)} ms)`);
    // Rows came as nodes finished: the first row was printed before the last node was even asked.
    assert.ok(body[0]!.at < requested.at(-1)!.ts, 'rows arrive while later nodes are still waiting for their turn');
    assert.ok(await waitUntil(() => lab!.bmcs.every((b) => b.machine.on), 20_000), `every machine runs (${lab!.bmcs.filter((b) => !b.machine.on).length} not)`);
    const metrics = (await rb.api.raw<string>('GET', '/metrics')).body;
    const onOk = Number(/rackboot_power_actions_total\{action="on",type="ipmi",result="ok"\} (\d+)/.exec(metrics)?.[1]);
    assert.ok(onOk >= BMCS, `metrics count the power-ons (${onOk})`);
    ok++;
  });
});
