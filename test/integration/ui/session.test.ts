// The dashboard's server side over real HTTP: sign-in turns the token into a
// session cookie, the cookie authenticates /api/v1 (reads freely, changes
// only with the CSRF token), the viewer token reads only, sign-out ends the
// session; the rack snapshot and the live stream carry registry changes and
// timeline events.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { uiService } from '../../../server/ui/service.js';
import { renderService } from '../../../server/render/service.js';
import { waitUntil } from '../../helpers/wait.js';

const VIEWER = 'viewer-token-for-the-tests-0123';
const ADMIN = 'admin-token-for-the-tests-0123';

interface Res {
  status: number;
  headers: Headers;
  text: string;
}

async function http(ts: TestServer, method: string, path: string, opts: { cookie?: string; csrf?: string; form?: Record<string, string>; json?: unknown; bearer?: string } = {}): Promise<Res> {
  const headers: Record<string, string> = {};
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.csrf) headers['x-csrf-token'] = opts.csrf;
  if (opts.bearer) headers.authorization = `Bearer ${opts.bearer}`;
  let body: string | undefined;
  if (opts.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(opts.form).toString();
  } else if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  const res = await fetch(ts.url + path, { method, headers, body, redirect: 'manual' });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function signIn(ts: TestServer, token: string): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const r = await http(ts, 'POST', '/signin', { form: { token, next: '/director' } });
  assert.equal(r.status, 303, r.text);
  assert.equal(r.headers.get('location'), '/director');
  const setCookie = r.headers.get('set-cookie')!;
  const cookie = setCookie.split(';')[0]!;
  const shell = await http(ts, 'GET', '/', { cookie });
  assert.equal(shell.status, 200);
  const csrf = /name="rackboot-csrf" content="([^"]+)"/.exec(shell.text)![1]!;
  return { cookie, csrf, setCookie };
}

const blade = (n: number) => ({ name: `blade${n}`, group: 'web', interfaces: [{ name: 'eth0', mac: `52:54:00:00:1a:0${n}`, network: 'inside' }] });

describe('dashboard sessions and the rack API', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ api: { listen: '127.0.0.1:0', token: ADMIN, viewerToken: VIEWER }, groups: [{ name: 'web' }] }, { factories: [renderService, uiService] });
  });
  after(async () => ts?.stop());

  test('pages need a session: a visitor is sent to the sign-in form, which refuses a wrong token', async () => {
    const r = await http(ts, 'GET', '/nodes/blade1');
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), '/signin?next=%2Fnodes%2Fblade1');
    const form = await http(ts, 'GET', '/signin?next=/nodes/blade1');
    assert.match(form.text, /<input id="token" name="token" type="password"/);
    assert.match(form.headers.get('content-security-policy')!, /script-src 'self' 'sha256-/);
    const wrong = await http(ts, 'POST', '/signin', { form: { token: 'nope' } });
    assert.equal(wrong.status, 401);
    assert.match(wrong.text, /That token is not valid/);
    assert.equal(wrong.headers.get('set-cookie'), null);
    // An open redirect through next= is not followed.
    const far = await http(ts, 'POST', '/signin', { form: { token: ADMIN, next: '//evil.example/x' } });
    assert.equal(far.headers.get('location'), '/');
  });

  test('the session cookie is HttpOnly and SameSite=Strict (Secure only over TLS); it reads the API, and changes need the CSRF token', async () => {
    const s = await signIn(ts, ADMIN);
    assert.match(s.setCookie, /^rackboot_session=[\w-]{40,}; Path=\/; Max-Age=43200; HttpOnly; SameSite=Strict$/);
    assert.equal((await http(ts, 'GET', '/api/v1/nodes', { cookie: s.cookie })).status, 200);
    const noCsrf = await http(ts, 'POST', '/api/v1/nodes', { cookie: s.cookie, json: blade(1) });
    assert.equal(noCsrf.status, 403);
    assert.deepEqual(JSON.parse(noCsrf.text), { error: 'forbidden', message: 'a change made with a dashboard session needs its CSRF token in the x-csrf-token header' });
    assert.equal((await http(ts, 'POST', '/api/v1/nodes', { cookie: s.cookie, csrf: 'not-it', json: blade(1) })).status, 403);
    const ok = await http(ts, 'POST', '/api/v1/nodes', { cookie: s.cookie, csrf: s.csrf, json: blade(1) });
    assert.equal(ok.status, 201, ok.text);
    // The API's own refusal comes through as it is.
    const dup = await http(ts, 'POST', '/api/v1/nodes', { cookie: s.cookie, csrf: s.csrf, json: blade(1) });
    assert.equal(dup.status, 409);
    assert.equal(JSON.parse(dup.text).error, 'conflict');
  });

  test('the viewer token reads (as a session and as a bearer) but changes nothing and sees no boot config', async () => {
    const s = await signIn(ts, VIEWER);
    const shell = await http(ts, 'GET', '/', { cookie: s.cookie });
    assert.match(shell.text, /name="rackboot-role" content="viewer"/);
    assert.equal((await http(ts, 'GET', '/api/v1/rack', { cookie: s.cookie })).status, 200);
    const write = await http(ts, 'DELETE', '/api/v1/nodes/blade1', { cookie: s.cookie, csrf: s.csrf });
    assert.equal(write.status, 403);
    assert.match(JSON.parse(write.text).message, /the viewer role is read-only: DELETE \/api\/v1\/nodes\/blade1 needs the API token/);
    assert.equal((await http(ts, 'GET', '/api/v1/nodes', { bearer: VIEWER })).status, 200);
    assert.equal((await http(ts, 'POST', '/api/v1/groups', { bearer: VIEWER, json: { name: 'x' } })).status, 403);
    const cfg = await http(ts, 'GET', '/api/v1/nodes/blade1/render/pxelinux', { bearer: VIEWER });
    assert.equal(cfg.status, 403);
    assert.match(JSON.parse(cfg.text).message, /report tokens/);
    assert.equal((await ts.api('GET', '/api/v1/nodes/blade1', undefined, ADMIN)).status, 200, 'blade1 is still there');
  });

  test('sign-out needs the CSRF token, then ends the session for good', async () => {
    const s = await signIn(ts, ADMIN);
    const forged = await http(ts, 'POST', '/signout', { cookie: s.cookie, form: {} });
    assert.equal(forged.status, 403);
    assert.equal((await http(ts, 'GET', '/api/v1/nodes', { cookie: s.cookie })).status, 200, 'still signed in');
    const out = await http(ts, 'POST', '/signout', { cookie: s.cookie, form: { csrf: s.csrf } });
    assert.equal(out.status, 303);
    assert.match(out.headers.get('set-cookie')!, /^rackboot_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict/);
    assert.equal((await http(ts, 'GET', '/api/v1/nodes', { cookie: s.cookie })).status, 401);
    assert.equal((await http(ts, 'GET', '/', { cookie: s.cookie })).status, 303);
  });

  test("the dashboard's files are served from this server, the client and Preact", async () => {
    const main = await http(ts, 'GET', '/ui/assets/app/main.js');
    assert.equal(main.status, 200);
    assert.match(main.headers.get('content-type')!, /^text\/javascript/);
    assert.match(main.text, /from 'preact'/);
    const preact = await http(ts, 'GET', '/ui/assets/vendor/preact.mjs');
    assert.equal(preact.status, 200);
    const again = await fetch(`${ts.url}/ui/assets/vendor/preact.mjs`, { headers: { 'if-none-match': preact.headers.get('etag')! } });
    assert.equal(again.status, 304);
    assert.equal((await http(ts, 'GET', '/ui/assets/../package.json')).status, 404);
    assert.equal((await http(ts, 'GET', '/ui/assets/static/style.css')).status, 200);
  });

  test('the rack snapshot has each node with its state; the stream sends registrations and events as they happen', async () => {
    const got: string[] = [];
    const stream = request(`${ts.url}/api/v1/events/stream`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      stream.on('response', resolve);
      stream.on('error', reject);
      stream.end();
    });
    assert.equal(res.headers['content-type'], 'text/event-stream');
    res.setEncoding('utf8');
    res.on('data', (d: string) => got.push(d));
    assert.ok(await waitUntil(() => got.join('').includes('event: hello')));
    assert.equal((await ts.api('POST', '/api/v1/nodes', blade(2), ADMIN)).status, 201);
    ts.server.events.record({ node: 'blade2', mac: '52:54:00:00:1a:02', kind: 'dhcp.offer', detail: { vendorClass: 'udhcp 1.35.0', request: 'DISCOVER', network: 'inside' } });
    ts.server.events.record({ node: null, mac: '52:54:00:99:99:01', kind: 'dhcp.ignored', detail: { network: 'inside', vendorClass: 'PXEClient:Arch:00000' } });
    assert.ok(await waitUntil(() => /event: node\ndata: \{"op":"upsert","row":\{"name":"blade2"/.test(got.join('')) && got.join('').includes('"kind":"dhcp.offer"')), got.join(''));
    res.destroy();
    const rack = (await ts.api<{ rows: Array<{ name: string; boot: { state: string }; group: string }>; unknown: Array<{ mac: string; vendorClass: string }> }>('GET', '/api/v1/rack', undefined, ADMIN)).body;
    const b2 = rack.rows.find((r) => r.name === 'blade2')!;
    assert.equal(b2.boot.state, 'dhcp');
    assert.equal(rack.rows.find((r) => r.name === 'blade1')!.boot.state, 'unknown');
    assert.deepEqual(rack.unknown.map((u) => [u.mac, u.vendorClass]), [['52:54:00:99:99:01', 'PXEClient:Arch:00000']]);
    // The state holds across a restart: the snapshot is rebuilt from the stored timelines.
    await ts.restart();
    const again = (await ts.api<typeof rack>('GET', '/api/v1/rack', undefined, ADMIN)).body;
    assert.equal(again.rows.find((r) => r.name === 'blade2')!.boot.state, 'dhcp');
    assert.equal(again.unknown[0]?.mac, '52:54:00:99:99:01');
  });

  test('the rack routes say the dashboard is off when it is', async () => {
    const off = await startTestServer({ ui: { enabled: false } }, { factories: [uiService] });
    try {
      const r = await off.api<{ message: string }>('GET', '/api/v1/rack');
      assert.equal(r.status, 404);
      assert.match(r.body.message, /the dashboard is not enabled on this server \(set ui\.enabled: true/);
      assert.equal((await fetch(`${off.url}/`, { redirect: 'manual' })).status, 404);
    } finally {
      await off.stop();
    }
  });
});
