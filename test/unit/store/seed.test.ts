// Seed groups and nodes from the config: each entry is created once. A node
// deleted through the API stays deleted across restarts, one changed through
// the API keeps its changes, one whose MAC another node took is skipped with a
// reason until the MAC is free, an entry added to the config later is created
// at the next start,
// and a seed the registry refuses names its config key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig } from '../../../server/main/config.js';
import { Registry, SeedError } from '../../../server/store/registry.js';
import { SqliteStore } from '../../../server/store/sqlite.js';
import { tempDir } from '../../helpers/tmp.js';

const NET = { name: 'inside', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', staticRange: '10.0.0.10-10.0.0.99' };
const node = (name: string, mac: string, extra: Record<string, unknown> = {}) => ({ name, group: 'web', interfaces: [{ name: 'eth0', mac, network: 'inside' }], ...extra });

test('seed: each entry once; deletions and API changes survive restarts; taken MACs are skipped with a reason', async (t) => {
  const dir = tempDir(t, 'rackboot-seed-');
  const db = join(dir, 'rackboot.db');
  const start = async (nodes: unknown[]) => {
    const cfg = resolveConfig({ dataDir: dir, networks: [NET], groups: [{ name: 'web' }], nodes }, null, {});
    const store = new SqliteStore(db);
    const registry = new Registry(store, cfg);
    return { store, registry, seeded: await registry.seed() };
  };
  const seedNodes = [node('blade1', '52:54:00:00:00:01'), node('blade2', '52:54:00:00:00:02'), node('blade3', '52:54:00:00:00:03')];
  let s = await start(seedNodes);
  assert.deepEqual([s.seeded.groups, s.seeded.nodes, s.seeded.skipped], [1, 3, []]);
  // Through the API: blade2 deleted, blade3 moved to another group, blade1 deleted and its MAC re-registered as web01.
  await s.registry.deleteNode('blade2');
  await s.store.createGroup({ name: 'db' });
  await s.registry.updateNode('blade3', { group: 'db' });
  await s.registry.deleteNode('blade1');
  await s.registry.createNode({ name: 'web01', group: 'web', interfaces: [{ name: 'eth0', mac: '52:54:00:00:00:01', network: 'inside' }] });
  await s.store.close();

  // Restart with the same config, plus a new seed node.
  s = await start([...seedNodes, node('blade4', '52:54:00:00:00:04')]);
  const names = (await s.store.listNodes()).map((n) => n.name).sort();
  assert.deepEqual(names, ['blade3', 'blade4', 'web01'], 'deleted seed nodes stay deleted; the new seed entry is created');
  assert.equal((await s.store.getNode('blade3'))?.group, 'db', "the API's change is kept");
  assert.deepEqual([s.seeded.groups, s.seeded.nodes, s.seeded.skipped], [0, 1, []]);
  await s.store.close();

  // A fresh data directory where web01 already holds blade1's MAC: blade1 is skipped, and the reason is given.
  rmSync(dir, { recursive: true, force: true });
  s = await start([]);
  await s.registry.createNode({ name: 'web01', group: 'web', interfaces: [{ name: 'eth0', mac: '52:54:00:00:00:01', network: 'inside' }] });
  await s.store.close();
  s = await start(seedNodes);
  assert.equal(s.seeded.nodes, 2);
  assert.equal(s.seeded.skipped.length, 1);
  assert.match(s.seeded.skipped[0]!, /seed node 'blade1' \(nodes\[0\]\) not created: 52:54:00:00:00:01 is web01\/eth0's; tried again at each start/);
  // Once the MAC is free, the next start creates it.
  await s.registry.deleteNode('web01');
  await s.store.close();
  s = await start(seedNodes);
  assert.deepEqual([s.seeded.nodes, s.seeded.skipped], [1, []]);
  assert.ok(await s.store.getNode('blade1'));
  await s.store.close();
});

test('seed: config check refuses a seed address the API would refuse; a conflict found at start names the config key', async (t) => {
  const dir = tempDir(t, 'rackboot-seed-');
  const bad = node('bad', '52:54:00:00:00:06', { interfaces: [{ name: 'eth0', mac: '52:54:00:00:00:06', network: 'inside', ipv4: '10.0.0.1' }] });
  assert.throws(
    () => resolveConfig({ dataDir: dir, networks: [NET], groups: [{ name: 'web' }], nodes: [bad] }, null, {}),
    (e: unknown) => /nodes\[0\]\.interfaces\[0\]\.ipv4/.test((e as Error).message) && /this server's address/.test((e as Error).message),
  );
  // The MAC and interface-name rules are the registry's too: a multicast MAC, an interface listed twice.
  const twice = node('twice', '52:54:00:00:00:09', { interfaces: [{ name: 'eth0', mac: '52:54:00:00:00:09', network: 'inside' }, { name: 'eth0', mac: '52:54:00:00:00:0a', network: 'inside' }] });
  assert.throws(
    () => resolveConfig({ dataDir: dir, networks: [NET], groups: [{ name: 'web' }], nodes: [node('mc', '01:00:5e:00:00:01'), twice] }, null, {}),
    (e: unknown) =>
      /nodes\[0\]\.interfaces\[0\]\.mac: 01:00:5e:00:00:01 is a multicast address/.test((e as Error).message) &&
      /nodes\[1\]\.interfaces\[1\]\.name: interface 'eth0' is listed twice/.test((e as Error).message),
  );
  // Only the registry knows this one: the address is taken by a node registered through the API.
  const cfg = resolveConfig({ dataDir: dir, networks: [NET], groups: [{ name: 'web' }], nodes: [node('ok', '52:54:00:00:00:05'), node('late', '52:54:00:00:00:07', { interfaces: [{ name: 'eth0', mac: '52:54:00:00:00:07', network: 'inside', ipv4: '10.0.0.50' }] })] }, null, {});
  const store = new SqliteStore(join(dir, 'rackboot.db'));
  try {
    const registry = new Registry(store, cfg);
    await store.createGroup({ name: 'web' });
    await registry.createNode({ name: 'api1', interfaces: [{ name: 'eth0', mac: '52:54:00:00:00:08', network: 'inside', ipv4: '10.0.0.50' }] });
    await assert.rejects(registry.seed(), (e: unknown) => e instanceof SeedError && e.field === 'nodes[1].interfaces[0].ipv4' && /already assigned to api1\/eth0/.test(e.message));
  } finally {
    await store.close();
  }
});
