// The director service in a real server (API, registry, events, metrics) with
// the kernel side replaced by a recording backend and the health checks by a
// scripted prober: the kernel side itself is tested in nftables-lab.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { directorService } from '../../../server/director/service.js';
import { renderIpvsadm } from '../../../server/director/backends/ipvs.js';
import type { DirectorBackend } from '../../../server/director/backends/types.js';
import type { DesiredState } from '../../../server/director/desired.js';
import type { ProbeTarget } from '../../../server/director/health/probe.js';
import { formatDirectorStatus } from '../../../server/cli/commands/director.js';
import { waitFor } from './topology.js';

class RecordingBackend implements DirectorBackend {
  readonly name = 'ipvs' as const;
  readonly checksHealth = false;
  applied: DesiredState[] = [];
  fail = false;
  async preflight() {}
  render(s: DesiredState) {
    return renderIpvsadm(s);
  }
  async apply(s: DesiredState) {
    if (this.fail) throw new Error('ipvsadm -R failed: simulated');
    this.applied.push(s);
    return { changed: true, summary: renderIpvsadm(s) };
  }
  async stop() {}
}

const down = new Set<string>();
const prober = async (t: ProbeTarget) => ({ ok: !down.has(t.address), at: Date.now(), detail: down.has(t.address) ? `GET ${t.path}: ECONNREFUSED` : `GET ${t.path}: 200` });
const blade = (n: number, network = 'inside', vars: Record<string, unknown> = {}) => ({
  name: `blade${n}`,
  group: 'web',
  vars,
  interfaces: [{ name: 'eth0', mac: `52:54:00:00:0e:0${n}`, network }],
});
type Tr = { at: string; to: string; afterMs: number; check: string; failures: number | null };
type RS = { name: string; node: string | null; state: string; inPool: boolean; reason: string | null; address: string | null; weight: number; transitions: Tr[] };
type View = { backend: string; services: Array<{ pool: number; realServers: RS[] }>; lastApply: { ok: boolean; error: string | null } | null };

describe('director service (API, registry, events)', () => {
  let s: TestServer;
  const backend = new RecordingBackend();
  before(async () => {
    s = await startTestServer(
      {
        groups: [{ name: 'web', vars: { weight: 2 } }],
        director: {
          enabled: true,
          backend: 'ipvs',
          systemPrep: false,
          natRouter: { interface: 'eth1', address: '10.0.0.254/24' },
          check: { interval: '100ms', timeout: '50ms', retries: 2, reentry: '200ms' },
          services: [
            { name: 'web', vip: '192.168.1.100/24', interface: 'eth0', port: 80, scheduler: 'wlc', realServers: { group: 'web', port: 80 } },
            { name: 'legacy', vip: '192.168.1.100/24', interface: 'eth0', port: 8080, scheduler: 'rr', realServers: { port: 8080, static: [{ name: 'old1', address: '10.0.0.200' }] } },
          ],
        },
      },
      { factories: [directorService({ prober, backend: () => backend })] },
    );
  });
  after(async () => s.stop());
  const view = async () => (await s.api<View>('GET', '/api/v1/director')).body;
  const rs = async (name: string) => (await view()).services[0]!.realServers.find((r) => r.name === name);

  test('registered blades join with their weight; one whose only interface is off the NAT-router network is kept out, with an event', async () => {
    assert.equal((await s.api('POST', '/api/v1/nodes', blade(1))).status, 201);
    assert.equal((await s.api('POST', '/api/v1/nodes', blade(2, 'inside', { weight: 5 }))).status, 201);
    assert.equal((await s.api('POST', '/api/v1/nodes', blade(3, 'inside2'))).status, 201);
    await waitFor('two in the pool', async () => ((await view()).services[0]!.pool === 2 ? true : undefined), 5000, 20);
    const b3 = await rs('blade3');
    assert.equal(b3?.state, 'excluded');
    assert.match(b3!.reason!, /no interface on a network holding the NAT router 10\.0\.0\.254/);
    assert.equal((await rs('blade2'))?.weight, 5);
    const last = backend.applied.at(-1)!;
    assert.deepEqual(last.services[0]!.servers.map((x) => [x.name, x.weight]), [['blade1', 2], ['blade2', 5]]);
    const ev = await s.api<Array<{ kind: string; detail: { reason: string } }>>('GET', '/api/v1/nodes/blade3/events?kind=director.excluded');
    assert.equal(ev.body.length, 1);
    const rules = await fetch(`${s.url}/api/v1/director/rules`, { headers: { authorization: `Bearer ${s.token}` } });
    // The web service first (config order), then the static-only legacy one.
    assert.ok((await rules.text()).startsWith('-A -t 192.168.1.100:80 -s wlc\n-a -t 192.168.1.100:80 -r 10.0.0.10:80 -m -w 2\n-a -t 192.168.1.100:80 -r 10.0.0.11:80 -m -w 5\n-A -t 192.168.1.100:8080 -s rr\n'));
    const nft = await fetch(`${s.url}/api/v1/director/rules?format=nft`, { headers: { authorization: `Bearer ${s.token}` } });
    assert.match(await nft.text(), /table ip rackboot/);
    assert.equal((await s.api('GET', '/api/v1/director/rules?format=bogus')).status, 400);
  });

  test('a failing check takes a blade out, its recovery brings it back after reentry; both on its timeline', async () => {
    down.add('10.0.0.10');
    await waitFor('blade1 down', async () => ((await rs('blade1'))?.state === 'down' ? true : undefined), 5000, 20);
    assert.deepEqual(backend.applied.at(-1)!.services[0]!.servers.map((x) => x.name), ['blade2']);
    down.delete('10.0.0.10');
    await waitFor('blade1 up', async () => ((await rs('blade1'))?.inPool ? true : undefined), 5000, 20);
    const ev = await s.api<Array<{ kind: string; detail: Record<string, unknown> }>>('GET', '/api/v1/nodes/blade1/events');
    const kinds = ev.body.map((e) => e.kind).filter((k) => k.startsWith('director.'));
    assert.deepEqual(kinds, ['director.up', 'director.down', 'director.up']);
    const downEv = ev.body.find((e) => e.kind === 'director.down')!;
    assert.equal(downEv.detail.address, '10.0.0.10:80');
    assert.equal(downEv.detail.failures, 2);
    assert.equal(downEv.detail.from, 'up');
    assert.match(String(downEv.detail.check), /ECONNREFUSED/);
    const status = formatDirectorStatus((await view()) as never);
    assert.match(status, /web: 192\.168\.1\.100\/24 port 80\/tcp on eth0, wlc; 2 of 3 in the pool/);
    assert.match(status, /blade3\s+-\s+0\s+excluded/);
  });

  test('GET /director keeps the last transitions of each real server, a static one (no node, no timeline) included', async () => {
    const old1 = async () => (await view()).services[1]!.realServers.find((r) => r.name === 'old1')!;
    await waitFor('old1 up', async () => ((await old1()).state === 'up' ? true : undefined), 5000, 20);
    down.add('10.0.0.200');
    await waitFor('old1 down', async () => ((await old1()).state === 'down' ? true : undefined), 5000, 20);
    down.delete('10.0.0.200');
    await waitFor('old1 back', async () => ((await old1()).state === 'up' ? true : undefined), 5000, 20);
    const o = await old1();
    assert.equal(o.node, null);
    assert.deepEqual(o.transitions.map((x) => [x.to, x.failures]), [['up', null], ['down', 2], ['up', null]]);
    assert.match(o.transitions[1]!.check, /ECONNREFUSED/);
    // Back after reentry (200 ms) at the earliest: the whole time out of the pool.
    assert.ok(o.transitions[2]!.afterMs >= 200, String(o.transitions[2]!.afterMs));
    assert.ok(Date.parse(o.transitions[0]!.at) <= Date.parse(o.transitions[2]!.at));
    // A node's transitions are there too, the same as on its timeline.
    assert.deepEqual((await rs('blade1'))!.transitions.map((x) => x.to), ['up', 'down', 'up']);
    assert.deepEqual((await rs('blade3'))!.transitions, []);
  });

  test('a failed apply shows in /healthz and the API, and is retried', async () => {
    backend.fail = true;
    down.add('10.0.0.11');
    await waitFor('apply failure', async () => ((await view()).lastApply?.ok === false ? true : undefined), 5000, 20);
    const h = await s.api<{ status: string; services: Record<string, { ok: boolean; detail: string }> }>('GET', '/healthz', undefined, null);
    assert.equal(h.status, 503);
    assert.match(h.body.services.director!.detail, /simulated/);
    backend.fail = false;
    await waitFor('retried apply', async () => ((await view()).lastApply?.ok ? true : undefined), 8000, 50);
    assert.deepEqual(backend.applied.at(-1)!.services[0]!.servers.map((x) => x.name), ['blade1']);
    down.delete('10.0.0.11');
  });

  test('a new blade whose first check fails was never in the pool: its director.down says so (from: unknown)', async () => {
    down.add('10.0.0.13');
    const b4 = blade(4);
    assert.equal((await s.api('POST', '/api/v1/nodes', { ...b4, interfaces: [{ ...b4.interfaces[0]!, ipv4: '10.0.0.13' }] })).status, 201);
    await waitFor('blade4 down', async () => ((await rs('blade4'))?.state === 'down' ? true : undefined), 5000, 20);
    const ev = await s.api<Array<{ kind: string; detail: Record<string, unknown> }>>('GET', '/api/v1/nodes/blade4/events?kind=director.down');
    assert.equal(ev.body.length, 1);
    assert.equal(ev.body[0]!.detail.from, 'unknown');
    down.delete('10.0.0.13');
  });
});
