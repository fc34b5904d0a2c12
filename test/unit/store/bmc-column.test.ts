// The BMC of nodes and groups is one JSON value per row (migration 4): kept
// as given, replaced by a patch that names it, left alone by one that does
// not, removed by null; a version 3 database gains the column with no BMC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SQLITE_MIGRATIONS } from '../../../server/store/migrations.js';
import { SqliteStore } from '../../../server/store/sqlite.js';
import type { StoredBmc } from '../../../server/store/types.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as new (path: string) => {
  exec(sql: string): void;
  pragma(p: string): unknown;
  close(): void;
};

const pools = new Map();
const iface = (n: number) => [{ name: 'eth0', mac: `52:54:00:00:00:0${n}`, network: 'inside', ipv4: `10.0.0.1${n}` }];

test('nodes and groups keep their BMC as given; a patch replaces it, null removes it, other patches leave it', async () => {
  const store = new SqliteStore(':memory:');
  try {
    const gb: StoredBmc = { type: 'ipmi', username: 'admin', passwordSealed: 'v1.aaa', ipmi: { cipherSuite: 17 } };
    await store.createGroup({ name: 'web', bmc: gb });
    assert.deepEqual((await store.getGroup('web'))!.bmc, gb);
    const nb: StoredBmc = { address: '10.0.2.11', port: 6230 };
    await store.createNode({ name: 'b1', group: 'web', interfaces: iface(1), bmc: nb }, pools);
    await store.createNode({ name: 'b2', group: 'web', interfaces: iface(2) }, pools);
    assert.deepEqual((await store.getNode('b1'))!.bmc, nb);
    assert.equal((await store.getNode('b2'))!.bmc, null, 'no BMC: null');
    await store.updateNode('b1', { vars: { x: 1 } }, pools);
    assert.deepEqual((await store.getNode('b1'))!.bmc, nb, 'a patch without bmc keeps it');
    await store.updateNode('b1', { bmc: { type: 'redfish', address: 'bmc1.example', redfish: { insecure: true } } }, pools);
    assert.deepEqual((await store.getNode('b1'))!.bmc, { type: 'redfish', address: 'bmc1.example', redfish: { insecure: true } });
    assert.deepEqual((await store.listNodes()).map((n) => n.bmc?.type ?? null), ['redfish', null], 'listNodes reads it too');
    await store.updateNode('b1', { bmc: null }, pools);
    assert.equal((await store.getNode('b1'))!.bmc, null);
    await store.updateGroup('web', { image: 'x' });
    assert.deepEqual((await store.getGroup('web'))!.bmc, gb, 'a group patch without bmc keeps it');
    await store.updateGroup('web', { bmc: null });
    assert.equal((await store.getGroup('web'))!.bmc, null);
  } finally {
    await store.close();
  }
});

test('a version 3 database is upgraded: its nodes and groups have no BMC', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rackboot-store-'));
  const path = join(dir, 'rackboot.db');
  try {
    const old = new Database(path);
    for (const m of SQLITE_MIGRATIONS.filter((x) => x.version <= 3)) old.exec(m.sql);
    old.pragma('user_version = 3');
    old.exec(`INSERT INTO groups (name, vars, created_at, updated_at) VALUES ('web', '{}', 'x', 'x');
      INSERT INTO nodes (name, grp, vars, created_at, updated_at) VALUES ('b1', 'web', '{}', 'x', 'x');`);
    old.close();
    const store = new SqliteStore(path);
    try {
      assert.equal((await store.getNode('b1'))!.bmc, null);
      assert.equal((await store.getGroup('web'))!.bmc, null);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
