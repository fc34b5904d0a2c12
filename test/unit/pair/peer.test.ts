// Calls to the pair's peer: a refusal keeps the peer's status and message
// (a switchover asked on the backup answers the master's 409 as a 409, not
// as an internal error), and a peer that does not answer says where.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PeerClient, PeerError } from '../../../server/pair/peer.js';

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; base: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

test('a refusal keeps the peer status and message', async () => {
  const { server, base } = await listen((_req, res) => {
    res.writeHead(409, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'conflict', message: 'the peer is master, not backup' }));
  });
  try {
    const peer = new PeerClient(base, 't');
    await assert.rejects(peer.request('POST', '/pair/switchover'), (e: unknown) => {
      assert.ok(e instanceof PeerError);
      assert.equal(e.status, 409);
      assert.match(e.message, /409: the peer is master, not backup/);
      return true;
    });
    const r = await peer.statusResult();
    assert.equal(r.ok, false);
    assert.equal(await peer.status(), undefined);
  } finally {
    server.close();
  }
});

test('a peer that does not answer: no status, the address and the cause in the message', async () => {
  const { server, base } = await listen(() => undefined);
  server.close();
  await new Promise((r) => server.once('close', r));
  const peer = new PeerClient(base, 't');
  await assert.rejects(peer.request('GET', '/pair'), (e: unknown) => {
    assert.ok(e instanceof PeerError);
    assert.equal(e.status, undefined);
    assert.ok(e.message.includes(`does not answer at ${base}`), e.message);
    assert.match(e.message, /ECONNREFUSED/);
    return true;
  });
  const r = await peer.statusResult();
  assert.ok(!r.ok && r.error.includes('does not answer'));
});

test('the status of a peer that answers', async () => {
  const { server, base } = await listen((req, res) => {
    assert.equal(req.headers.authorization, 'Bearer t');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ role: 'backup', fresh: req.url?.includes('fresh=true') }));
  });
  try {
    assert.deepEqual(await new PeerClient(base, 't').status(1000, true), { role: 'backup', fresh: true });
  } finally {
    server.close();
  }
});
