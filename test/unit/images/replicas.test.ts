import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { awaitReplicas, holders } from '../../../server/images/replicas.js';

type Rec = { name: string; info: Record<string, unknown> };

/** A Presence whose peers' inventories change as the test says (refresh counts the polls). */
function fakePeers(states: Rec[][]) {
  let i = 0;
  return {
    refreshes: 0,
    async refresh() {
      this.refreshes++;
      i = Math.min(i + 1, states.length - 1);
    },
    livePeers: () => states[i] as never,
  };
}

const V = '0123456789abcdef0123';

describe('images: a build waits for the peer to hold it', () => {
  it('holders: only live servers listing the version', () => {
    const p = fakePeers([[{ name: 'disk-b', info: { images: { web: ['old', V] } } }, { name: 'disk-c', info: { images: { web: ['old'] } } }]]);
    assert.deepEqual([...holders(p, 'web', V)], ['disk-b']);
    assert.deepEqual([...holders(p, 'other', V)], []);
  });

  it('returns [] once the peer lists the version in its heartbeat', async () => {
    const lacks = { name: 'disk-b', info: { images: { web: ['old'] } } };
    const holds = { name: 'disk-b', info: { images: { web: ['old', V] } } };
    const p = fakePeers([[lacks], [lacks], [lacks], [holds]]);
    const log: string[] = [];
    const r = await awaitReplicas({ peers: p, servers: ['disk-b'], name: 'web', version: V, timeoutMs: 10_000, everyMs: 1, log: (l) => log.push(l) });
    assert.deepEqual(r, []);
    assert.ok(p.refreshes >= 3);
    assert.match(log.at(-1)!, /disk-b holds web 0123456789abcdef0123 too/);
  });

  it('names the server that still lacks it when the wait runs out (a dead peer is not live: it lacks everything)', async () => {
    const p = fakePeers([[]]);
    const log: string[] = [];
    const r = await awaitReplicas({ peers: p, servers: ['disk-b'], name: 'web', version: V, timeoutMs: 20, everyMs: 5, log: (l) => log.push(l) });
    assert.deepEqual(r, ['disk-b']);
    assert.match(log.at(-1)!, /disk-b lacks web .*GET \/api\/v1\/pair/);
  });

  it('no servers to wait for: done at once', async () => {
    const p = fakePeers([[]]);
    assert.deepEqual(await awaitReplicas({ peers: p, servers: [], name: 'web', version: V, timeoutMs: 10_000, log: () => undefined }), []);
    assert.equal(p.refreshes, 0);
  });
});
