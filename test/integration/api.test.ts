// The REST API on a real Fastify server (loopback port) with a real SQLite file.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { nodeReportToken } from '../../server/boot/report-token.js';
import { ServiceStartError } from '../../server/service.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Node = { name: string; group: string | null; interfaces: Array<{ name: string; mac: string; network: string; ipv4: string }>; effective?: { vars: Record<string, unknown>; loader: string } };
type Err = { error: string; message: string; field?: string };

const blade = (n: number, extra: Record<string, unknown> = {}) => ({
  name: `blade${n}`,
  group: 'web',
  interfaces: [
    { name: 'eth0', mac: `52:54:00:00:0a:${n.toString(16).padStart(2, '0')}`, network: 'inside' },
    { name: 'eth1', mac: `52-54-00-00-0B-${n.toString(16).padStart(2, '0')}`, network: 'inside2' },
  ],
  ...extra,
});

describe('REST API', () => {
  let s: TestServer;
  /** A request with exactly these headers and body (s.api always sends JSON). */
  const send = async (method: string, path: string, headers: Record<string, string>, body?: string | Blob) => {
    const res = await fetch(s.url + path, { method, headers: { authorization: `Bearer ${s.token}`, ...headers }, body });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Err };
  };
  before(async () => {
    s = await startTestServer({ cluster: { name: 'cgws', domain: 'cluster.local', vars: { webroot: '/var/www', tier: 'cluster' } } });
  });
  after(async () => s.stop());

  test('auth: no token 401, wrong token 401, right token 200', async () => {
    assert.equal((await s.api('GET', '/api/v1/nodes', undefined, null)).status, 401);
    const wrong = await s.api<Err>('GET', '/api/v1/nodes', undefined, 'nope');
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'unauthorized');
    assert.equal((await s.api('GET', '/api/v1/nodes')).status, 200);
  });

  test('groups CRUD', async () => {
    const g = await s.api('POST', '/api/v1/groups', { name: 'web', loader: 'pxelinux', vars: { tier: 'group', port: 80 } });
    assert.equal(g.status, 201);
    assert.equal((await s.api('POST', '/api/v1/groups', { name: 'web' })).status, 409);
    assert.equal((await s.api<{ loader: string }>('PATCH', '/api/v1/groups/web', { image: 'web-blade' })).body.loader, 'pxelinux');
    assert.equal((await s.api('GET', '/api/v1/groups/nope')).status, 404);
    assert.equal((await s.api('POST', '/api/v1/groups', { name: 'tmp' })).status, 201);
    assert.equal((await s.api('DELETE', '/api/v1/groups/tmp')).status, 204);
    assert.equal((await s.api<unknown[]>('GET', '/api/v1/groups')).body.length, 1);
  });

  test('register a blade: MAC forms canonical, addresses auto-assigned from the static range', async () => {
    const r = await s.api<Node>('POST', '/api/v1/nodes', blade(1));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepEqual(
      r.body.interfaces.map((i) => [i.name, i.mac, i.ipv4]),
      [
        ['eth0', '52:54:00:00:0a:01', '10.0.0.10'],
        ['eth1', '52:54:00:00:0b:01', '10.0.1.10'],
      ],
    );
    const r2 = await s.api<Node>('POST', '/api/v1/nodes', {
      ...blade(2),
      interfaces: [{ name: 'eth0', mac: '5254.0000.0a02', network: 'inside', ipv4: '10.0.0.50' }],
    });
    assert.equal(r2.status, 201, JSON.stringify(r2.body));
    assert.equal(r2.body.interfaces[0]!.mac, '52:54:00:00:0a:02');
    assert.equal(r2.body.interfaces[0]!.ipv4, '10.0.0.50');
  });

  test('inheritance: cluster < group < node vars; list filters by group', async () => {
    await s.api('POST', '/api/v1/nodes', blade(3, { group: null, vars: { tier: 'node' } }));
    const one = await s.api<Node>('GET', '/api/v1/nodes/blade1');
    assert.deepEqual(one.body.effective!.vars, { webroot: '/var/www', tier: 'group', port: 80 });
    assert.equal(one.body.effective!.loader, 'pxelinux');
    const three = await s.api<Node>('GET', '/api/v1/nodes/blade3');
    assert.equal(three.body.effective!.vars.tier, 'node');
    const web = await s.api<Node[]>('GET', '/api/v1/nodes?group=web');
    assert.deepEqual(web.body.map((n) => n.name), ['blade1', 'blade2']);
    // A misspelt group is a 404, not an empty list that reads as "no nodes in it".
    const nope = await s.api<Err>('GET', '/api/v1/nodes?group=nope');
    assert.equal(nope.status, 404);
    assert.equal(nope.body.message, "no group named 'nope'");
  });

  test('409 for duplicate name, MAC (any form) and address', async () => {
    const name = await s.api<Err>('POST', '/api/v1/nodes', blade(1));
    assert.equal(name.status, 409);
    assert.equal(name.body.field, 'body.name');
    const mac = await s.api<Err>('POST', '/api/v1/nodes', { name: 'x1', interfaces: [{ name: 'eth0', mac: '52-54-00-00-0A-01', network: 'inside' }] });
    assert.equal(mac.status, 409);
    assert.match(mac.body.message, /interfaces\[0\]\.mac: MAC 52:54:00:00:0a:01 is already registered to blade1\/eth0/);
    const addr = await s.api<Err>('POST', '/api/v1/nodes', { name: 'x2', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0c:01', network: 'inside', ipv4: '10.0.0.50' }] });
    assert.equal(addr.status, 409);
    assert.match(addr.body.message, /10\.0\.0\.50.*already assigned to blade2\/eth0/);
    assert.equal((await s.api('GET', '/api/v1/nodes/x1')).status, 404, 'a refused node leaves nothing behind');
  });

  test('one body giving two interfaces the same MAC: 400 saying the body repeats it', async () => {
    const r = await s.api<Err>('POST', '/api/v1/nodes', {
      name: 'b13',
      interfaces: [
        { name: 'eth0', mac: '52:54:00:00:0f:01', network: 'inside' },
        { name: 'eth1', mac: '52-54-00-00-0F-01', network: 'inside2' },
      ],
    });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error, 'invalid');
    assert.equal(r.body.field, 'body.interfaces[1].mac');
    assert.equal(r.body.message, 'body.interfaces[1].mac: MAC 52:54:00:00:0f:01 is also given for interfaces[0] (eth0) in this request; each interface needs its own MAC');
    assert.equal((await s.api('GET', '/api/v1/nodes/b13')).status, 404);
  });

  test('400 names the bad field', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ name: 'bad name!', interfaces: [] }, /body\.name/],
      [{ name: 'ok', interfaces: [{ name: 'eth0', mac: 'zz', network: 'inside' }] }, /body\.interfaces\[0\]\.mac: 'zz' is not a MAC/],
      [{ name: 'ok', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0d:01', network: 'mars' }] }, /body\.interfaces\[0\]\.network: no network 'mars'/],
      [{ name: 'ok', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0d:01', network: 'inside', ipv4: '10.0.1.5' }] }, /interfaces\[0\]\.ipv4: 10\.0\.1\.5 is outside network 'inside'/],
      [{ name: 'ok', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0d:01', network: 'inside', ipv4: '10.0.0.1' }] }, /this server's address/],
      [{ name: 'ok', interfaces: [{ name: 'eth0', mac: '01:00:5e:00:00:01', network: 'inside' }] }, /multicast/],
      [{ name: 'ok', interfaces: [{ name: 'eth0', mac: '00:00:00:00:00:00', network: 'inside' }] }, /body\.interfaces\[0\]\.mac: 00:00:00:00:00:00 is the null address/],
      [{ name: 'ok', interfaces: [{ name: 'eth0', mac: 'FF-FF-FF-FF-FF-FF', network: 'inside' }] }, /body\.interfaces\[0\]\.mac: ff:ff:ff:ff:ff:ff is the broadcast address/],
      [{ name: 'ok', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0d:01', network: 'inside' }], colour: 'red' }, /body\.colour: unknown key/],
      [{ name: 'ok', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0d:01', network: 'inside' }], loader: 'lilo' }, /body\.loader/],
      [{ name: 'ok', group: 'nosuch', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0d:01', network: 'inside' }] }, /body\.group: no group named 'nosuch'/],
      [{ name: 'ok' }, /body\.interfaces: is required/],
      ['{not json', /json|JSON/],
    ];
    for (const [body, re] of cases) {
      const r = await s.api<Err>('POST', '/api/v1/nodes', body);
      assert.equal(r.status, 400, `${JSON.stringify(body)} -> ${r.status} ${JSON.stringify(r.body)}`);
      assert.match(r.body.message, re, JSON.stringify(r.body));
      assert.ok(r.body.error);
    }
    assert.equal((await s.api('GET', '/api/v1/nodes/ok')).status, 404);
    // A group named in the body that does not exist is a bad body, not a missing path (docs/api.md, OpenAPI).
    const group = await s.api<Err>('POST', '/api/v1/nodes', { name: 'ok', group: 'nosuch', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0d:01', network: 'inside' }] });
    assert.deepEqual([group.status, group.body.error, group.body.field], [400, 'invalid', 'body.group']);
  });

  test('bodies: JSON only; every refusal has a documented code and says what is wrong', async () => {
    const json = { 'content-type': 'application/json' };
    const form = await send('POST', '/api/v1/groups', { 'content-type': 'application/x-www-form-urlencoded' }, 'name=x');
    assert.equal(form.status, 415);
    assert.deepEqual(form.body, {
      error: 'unsupported_media_type',
      message: "headers.content-type: content-type 'application/x-www-form-urlencoded' is not accepted here; send application/json",
      field: 'headers.content-type',
    });
    const text = await send('POST', '/api/v1/groups', { 'content-type': 'text/plain' }, JSON.stringify({ name: 'x' }));
    assert.equal(text.status, 415, 'JSON sent as text/plain is refused for its type, not checked against the schema as a string');
    assert.equal(text.body.error, 'unsupported_media_type');
    assert.match(text.body.message, /'text\/plain' is not accepted here; send application\/json/);
    const untyped = await send('POST', '/api/v1/groups', {}, new Blob(['{"name":"x"}'])); // a Blob without a type: no content-type header
    assert.equal(untyped.status, 415);
    assert.match(untyped.body.message, /has a body but no content-type; send application\/json/);
    const broken = await send('POST', '/api/v1/groups', json, '{"name": ');
    assert.deepEqual([broken.status, broken.body.error, broken.body.field], [400, 'invalid', 'body']);
    assert.match(broken.body.message, /^body: is not valid JSON: \S/);
    const poisoned = await send('POST', '/api/v1/groups', json, '{"name": "p", "__proto__": {"x": 1}}');
    assert.equal(poisoned.status, 400);
    assert.match(poisoned.body.message, /__proto__/);
    const empty = await send('POST', '/api/v1/groups', json, '');
    assert.deepEqual(empty.body, { error: 'invalid', message: 'body: is empty; send a JSON document', field: 'body' });
    assert.equal(empty.status, 400);
    const big = await send('POST', '/api/v1/groups', json, JSON.stringify({ name: 'big', vars: { pad: 'x'.repeat(1024 * 1024) } }));
    assert.equal(big.status, 413);
    assert.deepEqual(big.body, { error: 'too_large', message: 'body: larger than the 1048576 bytes this route accepts', field: 'body' });
    // A route that reads no body works whatever the client's habit with headers.
    assert.equal((await s.api('POST', '/api/v1/groups', { name: 'tmp2' })).status, 201);
    assert.equal((await send('DELETE', '/api/v1/groups/tmp2', json)).status, 204, 'DELETE with content-type: application/json and no body');
    assert.equal((await s.api('GET', '/api/v1/groups/tmp2')).status, 404);
  });

  test('deeply nested JSON: 400 naming the field, nothing stored, never a 500', async () => {
    const json = { 'content-type': 'application/json' };
    const arrays = (n: number) => '['.repeat(n) + '1' + ']'.repeat(n);
    const objects = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
    const nic = '[{"name":"eth0","mac":"52:54:00:00:0e:01","network":"inside"}]';
    const cases: Array<[string, string, string, string]> = [
      // [path, body, field, message]
      ['/api/v1/nodes', arrays(5000), 'body', 'body: nests deeper than 64 levels'],
      ['/api/v1/nodes', objects(100_000), 'body.a', 'body.a: nests deeper than 64 levels'],
      ['/api/v1/nodes', `{"name":"deep1","interfaces":${nic},"vars":{"x":${objects(5000)}}}`, 'body.vars', 'body.vars: nests deeper than 64 levels'],
      ['/api/v1/nodes', `{"name":"deep2","interfaces":${nic},"vars":{"x":${arrays(3000)}}}`, 'body.vars', 'body.vars: nests deeper than 64 levels'],
      // Within the body bound, vars have their own (32): what is stored reads back with any JSON client.
      ['/api/v1/nodes', `{"name":"deep3","interfaces":${nic},"vars":{"x":${arrays(32)}}}`, 'body.vars', 'body.vars: nests deeper than 32 levels'],
      ['/api/v1/groups', `{"name":"deepg","vars":{"x":${objects(40)}}}`, 'body.vars', 'body.vars: nests deeper than 32 levels'],
      ['/api/v1/nodes/blade1/events', `{"kind":"ready","detail":{"x":${arrays(40)}}}`, 'body.detail', 'body.detail: nests deeper than 32 levels'],
    ];
    for (const [path, body, field, message] of cases) {
      const r = await send('POST', path, json, body);
      assert.equal(r.status, 400, `${path} ${body.slice(0, 60)}: ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error, 'invalid');
      assert.equal(r.body.field, field, JSON.stringify(r.body));
      assert.ok(r.body.message.startsWith(message), r.body.message);
    }
    for (const name of ['deep1', 'deep2', 'deep3']) assert.equal((await s.api('GET', `/api/v1/nodes/${name}`)).status, 404);
    // 31 levels below vars is within the bound, and GET returns it.
    const ok = await send('POST', '/api/v1/nodes', json, `{"name":"deep4","interfaces":${nic},"vars":{"x":${arrays(31)}}}`);
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    const back = await s.api<Node & { vars: { x: unknown } }>('GET', '/api/v1/nodes/deep4');
    assert.equal(JSON.stringify(back.body.vars.x), arrays(31));
    assert.equal((await s.api('DELETE', '/api/v1/nodes/deep4')).status, 204);
  });

  test('hostile bodies on every route that reads JSON: a documented 4xx, never a 500', async () => {
    const doc = (await s.api<{ paths: Record<string, Record<string, { requestBody?: { content?: Record<string, unknown> } }>> }>('GET', '/api/v1/openapi.json')).body;
    const routes: Array<[string, string]> = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (!op.requestBody?.content?.['application/json']) continue;
        // Path parameters: an existing node/group where there is one, else a plain name.
        routes.push([method.toUpperCase(), path.replace(/\{name\}/g, 'blade1').replace(/\{[^}]+\}/g, 'x')]);
      }
    }
    assert.ok(routes.length >= 5, `routes with JSON bodies: ${routes.map((r) => r.join(' ')).join(', ')}`);
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const bodies = [
      deep(100_000),
      '{"a":'.repeat(20_000) + 'null' + '}'.repeat(20_000),
      `{"vars":${'{"v":'.repeat(70)}1${'}'.repeat(70)}}`,
      `{"name":"h","vars":{"__proto__":{"polluted":true}}}`,
      `{"name":"h","interfaces":[{"name":"eth0","mac":"00:00:00:00:00:00","network":"inside"}]}`,
      `{"name":"h","interfaces":${JSON.stringify(Array.from({ length: 5000 }, () => ({ name: 'eth0', mac: 'ff:ff:ff:ff:ff:ff', network: 'inside' })))}}`,
      '1e999999',
      '"' + '\\u0000'.repeat(1000) + '"',
      'null',
      '[]',
      '{"name":' + '9'.repeat(5000) + '}',
    ];
    for (const [method, path] of routes) {
      for (const body of bodies) {
        const r = await send(method, path, { 'content-type': 'application/json' }, body);
        assert.ok(r.status >= 400 && r.status < 500, `${method} ${path} ${body.slice(0, 50)}: ${r.status} ${JSON.stringify(r.body)}`);
        assert.equal(typeof r.body.error, 'string');
        assert.equal(typeof r.body.message, 'string');
      }
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal((await s.api('GET', '/healthz', undefined, null)).status, 200);
  });

  test('PATCH keeps addresses of re-listed interfaces; DELETE; 404s', async () => {
    const before = (await s.api<Node>('GET', '/api/v1/nodes/blade1')).body;
    const p = await s.api<Node>('PATCH', '/api/v1/nodes/blade1', { interfaces: before.interfaces.map(({ name, mac, network }) => ({ name, mac, network })), vars: { rack: 3 } });
    assert.equal(p.status, 200, JSON.stringify(p.body));
    assert.deepEqual(p.body.interfaces, before.interfaces);
    assert.equal((await s.api('PATCH', '/api/v1/nodes/nope', { vars: {} })).status, 404);
    assert.equal((await s.api('PATCH', '/api/v1/nodes/blade1', {})).status, 400);
    const inUse = await s.api<Err>('DELETE', '/api/v1/groups/web');
    assert.equal(inUse.status, 409, 'a group with nodes is not deleted');
    assert.equal(inUse.body.field, 'params.name', 'the group is named in the path; the request has no body');
    assert.match(inUse.body.message, /^params\.name: group 'web' still has 2 node\(s\)/);
    assert.equal((await s.api('DELETE', '/api/v1/nodes/blade3')).status, 204);
    assert.equal((await s.api('DELETE', '/api/v1/nodes/blade3')).status, 404);
  });

  test('networks and leases', async () => {
    const n = await s.api<Array<{ name: string; netmask: string; router: string | null }>>('GET', '/api/v1/networks');
    assert.deepEqual(n.body.map((x) => [x.name, x.netmask, x.router]), [
      ['inside', '255.255.255.0', '10.0.0.254'],
      ['inside2', '255.255.255.0', null],
    ]);
    await s.server.store.putLease({ network: 'inside', ipv4: '10.0.0.10', mac: '52:54:00:00:0a:01', clientId: null, hostname: 'blade1', state: 'bound', expiresAt: Date.now() + 3600e3, updatedAt: Date.now() });
    const l = await s.api<Array<{ node: string; ipv4: string }>>('GET', '/api/v1/leases?mac=52-54-00-00-0A-01');
    assert.deepEqual(l.body.map((x) => [x.node, x.ipv4]), [['blade1', '10.0.0.10']]);
    assert.equal((await s.api('GET', '/api/v1/leases?mac=bogus')).status, 400);
    assert.equal((await s.api('GET', '/api/v1/leases?state=bogus')).status, 400);
  });

  test('events: a node reports ready with its node token, the timeline lists it', async () => {
    const token = nodeReportToken(s.token, 'blade1');
    const r = await s.api<{ kind: string; node: string }>('POST', '/api/v1/nodes/blade1/events', { kind: 'ready', detail: { httpd: 'busybox' } }, token);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.kind, 'ready');
    // The node token is for that node's events only.
    assert.equal((await s.api('POST', '/api/v1/nodes/blade2/events', { kind: 'ready' }, token)).status, 401);
    assert.equal((await s.api('GET', '/api/v1/nodes/blade1/events', undefined, token)).status, 401);
    const tl = await s.api<Array<{ kind: string; detail: { httpd?: string } }>>('GET', '/api/v1/nodes/blade1/events');
    assert.equal(tl.body.at(-1)!.kind, 'ready');
    assert.equal(tl.body.at(-1)!.detail.httpd, 'busybox');
    assert.equal((await s.api('POST', '/api/v1/nodes/blade1/events', { kind: 'Bad Kind' })).status, 400);
    assert.equal((await s.api('GET', '/api/v1/nodes/nope/events')).status, 404);
  });

  test('GET /events?mac= takes every MAC form, as /leases does, and refuses a non-MAC', async () => {
    s.server.events.record({ node: null, mac: '52:54:00:00:0e:01', kind: 'dhcp.discover' });
    for (const form of ['52:54:00:00:0e:01', '52-54-00-00-0E-01', '5254.0000.0e01', '525400000E01']) {
      const r = await s.api<Array<{ mac: string; kind: string }>>('GET', `/api/v1/events?mac=${form}`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.map((e) => [e.mac, e.kind]), [['52:54:00:00:0e:01', 'dhcp.discover']], form);
    }
    const bad = await s.api<Err>('GET', '/api/v1/events?mac=zz');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.field, 'querystring.mac');
    assert.match(bad.body.message, /^querystring\.mac: 'zz' is not a MAC address \(.*aabbccddeeff\)/);
  });

  test('a service that is off: its routes say so (the CLI prints this message)', async () => {
    const d = await s.api<Err>('GET', '/api/v1/director');
    assert.equal(d.status, 404);
    assert.deepEqual(d.body, { error: 'not_found', message: 'the director is not enabled on this server (set director.enabled: true in the config)' });
    assert.match((await s.api<Err>('GET', '/api/v1/exports/www')).body.message, /the NFS service is not enabled/);
    // The renderer's routes under /nodes too.
    assert.match((await s.api<Err>('GET', '/api/v1/nodes/blade1/render/pxelinux')).body.message, /the template renderer is not enabled/);
    assert.match((await s.api<Err>('GET', '/api/v1/nodes/blade1/scope')).body.message, /the template renderer is not enabled/);
    assert.equal((await s.api<Err>('GET', '/api/v1/nosuch')).body.message, 'no route GET /api/v1/nosuch');
  });

  test('every subsystem with API routes, off: 404 naming it and the setting that turns it on', async () => {
    const off = (title: string, key: string) => `${title} is not enabled on this server (set ${key}: true in the config)`;
    const cases: Array<[string, string, string]> = [
      ['GET', '/api/v1/director/services', off('the director', 'director.enabled')],
      ['GET', '/api/v1/nfs', off('the NFS service', 'nfs.enabled')],
      ['GET', '/api/v1/exports', off('the NFS service', 'nfs.enabled')],
      ['GET', '/api/v1/images', off('the images service', 'images.enabled')],
      ['POST', '/api/v1/discover/52:54:00:00:00:01', off('the images service', 'images.enabled')],
      ['GET', '/api/v1/templates', off('the template renderer', 'templates.enabled')],
      ['GET', '/api/v1/pair', off('the pair (a second disk node)', 'pair.enabled')],
      ['DELETE', '/api/v1/leases/inside/10.0.0.200', off('the DHCP service', 'dhcp.enabled')],
      ['GET', '/api/v1/rack', off('the dashboard', 'ui.enabled')],
      ['GET', '/api/v1/power/jobs', off('power control', 'power.enabled')],
      ['POST', '/api/v1/nodes/blade1/power', off('power control', 'power.enabled')],
      ['POST', '/api/v1/nodes/blade1/reprovision', off('power control', 'power.enabled')],
    ];
    for (const [method, path, message] of cases) {
      const r = await s.api<Err>(method, path);
      assert.deepEqual([r.status, r.body], [404, { error: 'not_found', message }], `${method} ${path}`);
    }
    // A prefix is a path segment: /api/v1/leases itself is the API's own list, /api/v1/racks nobody's.
    assert.equal((await s.api('GET', '/api/v1/leases')).status, 200);
    assert.equal((await s.api<Err>('GET', '/api/v1/racks')).body.message, 'no route GET /api/v1/racks');
  });

  test('OpenAPI, docs page, healthz, metrics', async () => {
    const o = await s.api<{ openapi: string; paths: Record<string, unknown> }>('GET', '/api/v1/openapi.json', undefined, null);
    assert.equal(o.status, 200);
    assert.ok(o.body.paths['/api/v1/nodes'] && o.body.paths['/api/v1/nodes/{name}/events']);
    type Op = { responses: Record<string, unknown> };
    const op = (path: string, method: string) => Object.keys((o.body.paths[path] as Record<string, Op>)[method]!.responses).sort();
    assert.deepEqual(op('/api/v1/nodes', 'post'), ['201', '400', '401', '409', '413', '415'], 'a missing group in the body is 400, no 404');
    assert.deepEqual(op('/api/v1/nodes/{name}', 'patch'), ['200', '400', '401', '404', '409', '413', '415']);
    assert.deepEqual(op('/api/v1/nodes', 'get'), ['200', '401', '404'], 'GET /nodes?group= of a group that does not exist is 404');
    assert.deepEqual(op('/api/v1/groups/{name}', 'delete'), ['204', '401', '404', '409']);
    assert.deepEqual(op('/api/v1/events', 'get'), ['200', '400', '401']);
    assert.match(JSON.stringify(o.body), /aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb\.ccdd\.eeff or aabbccddeeff/);
    const docs = await fetch(s.url + '/api/v1/docs/');
    assert.equal(docs.status, 200);
    assert.match(await docs.text(), /swagger/i);
    assert.equal((await s.api<{ status: string }>('GET', '/healthz', undefined, null)).body.status, 'ok');
    const m = await fetch(s.url + '/metrics');
    assert.match(await m.text(), /rackboot_process_cpu/);
  });

  test('restart keeps every record', async () => {
    const nodes = (await s.api<Node[]>('GET', '/api/v1/nodes')).body;
    const groups = (await s.api('GET', '/api/v1/groups')).body;
    const leases = (await s.api('GET', '/api/v1/leases')).body;
    const events = (await s.api<unknown[]>('GET', '/api/v1/nodes/blade1/events')).body;
    await s.restart();
    assert.deepEqual((await s.api('GET', '/api/v1/nodes')).body, nodes);
    assert.deepEqual((await s.api('GET', '/api/v1/groups')).body, groups);
    assert.deepEqual((await s.api('GET', '/api/v1/leases')).body, leases);
    assert.deepEqual((await s.api('GET', '/api/v1/nodes/blade1/events')).body, events);
  });
});

describe('API request log', () => {
  test('a refused request is one JSON record with its reason under its own key', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const s = await startTestServer({}, { log });
    try {
      assert.equal((await s.api('GET', '/api/v1/nodes/b12')).status, 404);
      const line = lines.find((l) => l.includes('request refused'));
      assert.ok(line, lines.join(''));
      // JSON.parse keeps the last of two equal keys, which hid the reason: count them in the text.
      assert.equal(line.match(/"msg":/g)?.length, 1, line);
      const rec = JSON.parse(line) as Record<string, unknown>;
      assert.equal(rec.msg, 'request refused');
      assert.equal(rec.reason, "no node named 'b12'");
      assert.equal(rec.status, 404);
      assert.equal(rec.error, 'not_found');
      assert.equal(rec.svc, 'api');
    } finally {
      await s.stop();
    }
  });
});

test('a configured service that failed to start: its routes answer 503 with the reason', async () => {
  const broken = () => ({
    name: 'director',
    start: async () => {
      throw new ServiceStartError('director', 'director: nft is not installed');
    },
    stop: async () => undefined,
  });
  const s = await startTestServer({}, { factories: [broken] });
  try {
    const r = await s.api<Err>('GET', '/api/v1/director');
    assert.equal(r.status, 503);
    assert.deepEqual(r.body, { error: 'unavailable', message: 'the director did not start: director: nft is not installed' });
  } finally {
    await s.stop();
  }
});

describe('API token generation', () => {
  test('with no token configured one is generated, 0600, reused after restart', async () => {
    const s = await startTestServer({ api: { listen: '127.0.0.1:0', token: '' } }, { env: {} });
    try {
      const file = join(s.dataDir, 'api-token');
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const tok = readFileSync(file, 'utf8').trim();
      assert.equal((await s.api('GET', '/api/v1/nodes', undefined, tok)).status, 200);
      await s.restart();
      assert.equal((await s.api('GET', '/api/v1/nodes', undefined, tok)).status, 200);
    } finally {
      await s.stop();
    }
  });
});

test('events older than events.retention are pruned at start, not only an hour later', async () => {
  const s = await startTestServer({ events: { retention: '1h' } });
  try {
    const old = Date.now() - 2 * 3_600_000;
    s.server.events.record({ node: null, mac: '52:54:00:00:77:01', kind: 'test.old', ts: old });
    s.server.events.record({ node: null, mac: '52:54:00:00:77:01', kind: 'test.new' });
    await s.server.events.flush();
    const kinds = async () => {
      const b = (await s.api<Array<{ kind: string }> | { items: Array<{ kind: string }> }>('GET', '/api/v1/events?mac=52:54:00:00:77:01')).body;
      return (Array.isArray(b) ? b : b.items).map((e) => e.kind).sort();
    };
    assert.deepEqual(await kinds(), ['test.new', 'test.old']);
    await s.restart();
    let got = await kinds();
    for (let i = 0; i < 100 && got.includes('test.old'); i++) {
      await new Promise((r) => setTimeout(r, 20));
      got = await kinds();
    }
    assert.deepEqual(got, ['test.new']);
  } finally {
    await s.stop();
  }
});
