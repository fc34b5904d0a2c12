// The SQLite store upgrades an older data directory in place: leases written
// by schema version 2 (with its index on leases.mac) survive the upgrade, the
// index is gone (it cost a random-page write per DHCP ACK), and the API's
// filter by MAC still finds them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { SQLITE_MIGRATIONS } from '../../../server/store/migrations.js';
import { SqliteStore } from '../../../server/store/sqlite.js';
import { tempDir } from '../../helpers/tmp.js';

// better-sqlite3 is CommonJS; the store wraps it, this test opens the file directly to build the old schema.
const Database = createRequire(import.meta.url)('better-sqlite3') as new (path: string) => {
  exec(sql: string): void;
  pragma(p: string, o?: { simple: boolean }): unknown;
  prepare(sql: string): { run(...a: unknown[]): unknown; all(...a: unknown[]): unknown[] };
  close(): void;
};

test('a version 2 database is upgraded in place: leases kept, no index on leases.mac, MAC filter still works', async (t) => {
  const dir = tempDir(t, 'rackboot-store-');
  const path = join(dir, 'rackboot.db');
  const old = new Database(path);
  old.pragma('journal_mode = WAL');
  for (const m of SQLITE_MIGRATIONS.filter((x) => x.version <= 2)) old.exec(m.sql);
  old.pragma('user_version = 2');
  const put = old.prepare(
    'INSERT INTO leases (network, ipv4, ipv4_num, mac, client_id, hostname, state, expires_at, updated_at) VALUES (?, ?, ?, ?, NULL, NULL, ?, ?, ?)',
  );
  put.run('inside', '10.0.0.11', 0x0a00000b, '52:54:00:00:00:01', 'bound', 2e12, 1e12);
  put.run('inside', '10.0.0.12', 0x0a00000c, '52:54:00:00:00:02', 'bound', 2e12, 1e12);
  put.run('inside2', '10.1.0.11', 0x0a01000b, '52:54:00:00:00:01', 'released', 1e12, 1e12);
  assert.equal(old.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'leases_mac'").all().length, 1, 'the old schema has the index');
  old.close();

  const store = new SqliteStore(path);
  try {
    assert.equal((await store.listLeases()).length, 3, 'every lease survives the upgrade');
    const mine = await store.listLeases({ mac: '52:54:00:00:00:01' });
    assert.deepEqual(
      mine.map((l) => `${l.network} ${l.ipv4} ${l.state}`),
      ['inside 10.0.0.11 bound', 'inside2 10.1.0.11 released'],
    );
    await store.putLeases([{ network: 'inside', ipv4: '10.0.0.12', mac: '52:54:00:00:00:03', clientId: null, hostname: 'b3', state: 'bound', expiresAt: 3e12, updatedAt: 2e12 }]);
    assert.deepEqual((await store.listLeases({ mac: '52:54:00:00:00:03' })).map((l) => l.ipv4), ['10.0.0.12'], 'a lease moved to another MAC is found by the new one');
    assert.deepEqual((await store.listLeases({ mac: '52:54:00:00:00:02' })).map((l) => l.ipv4), [], 'and no longer by the old one');
  } finally {
    await store.close();
  }
  const after = new Database(path);
  try {
    assert.equal(after.pragma('user_version', { simple: true }), SQLITE_MIGRATIONS.at(-1)!.version);
    assert.equal(after.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'leases_mac'").all().length, 0, 'the index is gone');
  } finally {
    after.close();
  }
});
