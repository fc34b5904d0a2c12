// Two rackboot servers (in this process, real Fastify, real PostgreSQL) on
// one database: what one registers the other sees at once, events recorded
// by one reach the other's SSE stream tagged with their server, both list
// each other, and a second server with a name already running is refused.
import { strict as assert } from 'node:assert';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { RegistryChange } from '../../../server/store/registry.js';
import { uiService } from '../../../server/ui/service.js';
import { havePostgres, sharedCluster } from '../../helpers/postgres.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { waitUntil } from '../../helpers/wait.js';

/** Lines of an SSE stream as they come; close() ends it. */
function sse(url: string, token: string): { events: Array<Record<string, unknown>>; close(): void; ready: Promise<void> } {
  const events: Array<Record<string, unknown>> = [];
  let close: () => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = /^data: (.*)$/m.exec(block)?.[1];
          // The message's type (event, node, hello...) as `_type`.
          if (data) events.push({ ...(JSON.parse(data) as Record<string, unknown>), _type: /^event: (.*)$/m.exec(block)?.[1] ?? 'message' });
        }
      });
      resolve();
    });
    req.on('error', reject);
    req.end();
    close = () => {
      req.destroy();
    };
  });
  return { events, close: () => close(), ready };
}

describe('two servers on one PostgreSQL', () => {
  let url = '';
  let A: TestServer | undefined;
  let B: TestServer | undefined;
  let ok = false;
  before(async () => {
    ok = havePostgres('two servers on one PostgreSQL');
    if (!ok) return;
    url = await (await sharedCluster()).createDatabase('multi');
    // The same seed in both configs: whichever server creates an entry first, the other finds it.
    const seed = { groups: [{ name: 'web' }], nodes: [{ name: 'seed1', group: 'web', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0f:01', network: 'inside' }] }] };
    const cfg = (name: string) => ({ store: { driver: 'postgres', url }, server: { name, heartbeat: '1s' }, ...seed });
    // Started together: the migrations run once, under the advisory lock, and the seed is applied once.
    // With the dashboard: its rack view and its messages on the event stream follow the other server too.
    [A, B] = await Promise.all([startTestServer(cfg('rack-a'), { factories: [uiService] }), startTestServer(cfg('rack-b'), { factories: [uiService] })]);
  });
  after(async () => {
    await A?.stop();
    await B?.stop();
  });

  it('a node registered through A is in B (API and change events) within 1 s', async (t) => {
    if (!ok) return t.skip('no PostgreSQL');
    const seeded = await B!.api<Array<{ name: string; interfaces: Array<{ ipv4: string }> }>>('GET', '/api/v1/nodes');
    assert.deepEqual(seeded.body.map((n) => [n.name, n.interfaces[0]!.ipv4]), [['seed1', '10.0.0.10']]);
    const seen: RegistryChange[] = [];
    B!.server.registry.on('change', (c) => seen.push(c));
    const t0 = Date.now();
    const r = await A!.api('POST', '/api/v1/nodes', { name: 'blade1', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0a:01', network: 'inside' }] });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.ok(await waitUntil(() => seen.some((c) => 'node' in c && c.node.name === 'blade1'), 1000), 'B heard of blade1 within 1 s');
    console.log(`# B told of A's registration in ${Date.now() - t0} ms`);
    const onB = await B!.api<{ interfaces: Array<{ ipv4: string }> }>('GET', '/api/v1/nodes/blade1');
    assert.equal(onB.status, 200);
    assert.equal(onB.body.interfaces[0]!.ipv4, '10.0.0.11');
    // B allocates the next address, not A's.
    const r2 = await B!.api<{ interfaces: Array<{ ipv4: string }> }>('POST', '/api/v1/nodes', { name: 'blade2', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0a:02', network: 'inside' }] });
    assert.equal(r2.body.interfaces[0]!.ipv4, '10.0.0.12');
    const dup = await A!.api<{ error: string; message: string }>('POST', '/api/v1/nodes', { name: 'blade3', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0a:02', network: 'inside' }] });
    assert.equal(dup.status, 409);
    assert.match(dup.body.message, /already registered to blade2\/eth0/);
    const seenOnA: RegistryChange[] = [];
    A!.server.registry.on('change', (c) => seenOnA.push(c));
    assert.equal((await B!.api('DELETE', '/api/v1/nodes/blade2')).status, 204);
    assert.ok(await waitUntil(() => seenOnA.some((c) => c.kind === 'node-deleted' && c.name === 'blade2'), 1000), 'A heard of the deletion');
  });

  it("events recorded by A are in B's SSE stream and on the node's timeline, tagged with A", async (t) => {
    if (!ok) return t.skip('no PostgreSQL');
    const stream = sse(`${B!.url}/api/v1/events/stream?node=blade1`, B!.token);
    await stream.ready;
    try {
      const posted = await A!.api('POST', '/api/v1/nodes/blade1/events', { kind: 'ready', detail: { via: 'A' } });
      assert.equal(posted.status, 201);
      assert.ok(await waitUntil(() => stream.events.some((e) => e.kind === 'ready'), 2000), `B's stream: ${JSON.stringify(stream.events)}`);
      const e = stream.events.find((x) => x.kind === 'ready')!;
      assert.equal(e.server, 'rack-a');
      assert.deepEqual((e.detail as Record<string, unknown>).via, 'A');
      // B's own events are in its stream too, tagged with B.
      await B!.api('POST', '/api/v1/nodes/blade1/events', { kind: 'booted' });
      assert.ok(await waitUntil(() => stream.events.some((x) => x.kind === 'booted' && x.server === 'rack-b'), 2000));
      const timeline = await B!.api<Array<{ kind: string; server: string }>>('GET', '/api/v1/nodes/blade1/events');
      assert.deepEqual(timeline.body.map((x) => `${x.server}:${x.kind}`), ['rack-a:ready', 'rack-b:booted']);
    } finally {
      stream.close();
    }
  });

  it("B's dashboard: a node registered through A comes as a rack row on B's stream, and A's events move its state", async (t) => {
    if (!ok) return t.skip('no PostgreSQL');
    const stream = sse(`${B!.url}/api/v1/events/stream`, B!.token);
    await stream.ready;
    try {
      assert.ok(await waitUntil(() => stream.events.some((e) => e._type === 'hello'), 2000));
      const r = await A!.api('POST', '/api/v1/nodes', { name: 'blade9', group: 'web', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0a:09', network: 'inside' }] });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const row = () => stream.events.find((e) => e._type === 'node' && (e.row as { name?: string } | undefined)?.name === 'blade9');
      assert.ok(await waitUntil(() => row() !== undefined, 2000), `B's stream: ${JSON.stringify(stream.events)}`);
      assert.equal((row()!.row as { group: string }).group, 'web');
      assert.equal((await A!.api('POST', '/api/v1/nodes/blade9/events', { kind: 'ready', detail: { image: 'web-blade', version: 'v1' } })).status, 201);
      assert.ok(await waitUntil(() => stream.events.some((e) => e._type === 'event' && e.kind === 'ready' && e.node === 'blade9' && e.server === 'rack-a'), 2000));
      const rack = await B!.api<{ rows: Array<{ name: string; boot: { state: string } }> }>('GET', '/api/v1/rack');
      assert.equal(rack.body.rows.find((x) => x.name === 'blade9')?.boot.state, 'ready', "B's rack view has A's report");
      assert.equal((await A!.api('DELETE', '/api/v1/nodes/blade9')).status, 204);
      assert.ok(await waitUntil(() => stream.events.some((e) => e._type === 'node' && e.op === 'delete' && e.name === 'blade9'), 2000));
    } finally {
      stream.close();
    }
  });

  it('GET /servers lists both, alive, with their networks and health; a stopped one says so', async (t) => {
    if (!ok) return t.skip('no PostgreSQL');
    const r = await A!.api<Array<{ name: string; self: boolean; alive: boolean; networks: Array<{ name: string }>; health: { ok: boolean }; lastSeen: string }>>('GET', '/api/v1/servers');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.map((s) => [s.name, s.self, s.alive]), [['rack-a', true, true], ['rack-b', false, true]]);
    assert.deepEqual(r.body[1]!.networks.map((n) => n.name), ['inside', 'inside2']);
    assert.equal(r.body[1]!.health.ok, true);
    assert.ok(Date.now() - Date.parse(r.body[1]!.lastSeen) < 10_000);
    assert.doesNotMatch(JSON.stringify(r.body), /postgres:\/\//, 'no database URL in an API answer');
  });

  it("a second server with a running server's name is refused at start", async (t) => {
    if (!ok) return t.skip('no PostgreSQL');
    await assert.rejects(
      startTestServer({ store: { driver: 'postgres', url }, server: { name: 'rack-a' } }),
      /server\.name 'rack-a' is in use by another running rackboot on this database/,
    );
    await B!.stop();
    const r = await A!.api<Array<{ name: string; alive: boolean; state: string }>>('GET', '/api/v1/servers');
    assert.deepEqual(r.body.map((s) => [s.name, s.alive, s.state]), [['rack-a', true, 'running'], ['rack-b', false, 'stopped']]);
    B = undefined;
  });
});
