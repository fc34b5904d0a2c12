// `rackboot store copy` (the real command): a SQLite site into PostgreSQL
// with every row and the counts compared, a non-empty target refused unless
// --force, and back again into a new SQLite file; the password in the URL
// is never printed.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseRange } from '../../../server/net/ipv4.js';
import { PostgresStore } from '../../../server/store/postgres/store.js';
import { SqliteStore } from '../../../server/store/sqlite.js';
import { run } from '../../helpers/netns.js';
import { RACKBOOT_MAIN } from '../../helpers/ns-server.js';
import { havePostgres, sharedCluster } from '../../helpers/postgres.js';
import { dbName } from './lab-tools.js';

const cli = (args: string[]) => run(process.execPath, [RACKBOOT_MAIN, ...args], { env: { PATH: process.env.PATH }, timeoutMs: 60_000 });

describe('rackboot store copy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rackboot-copy-'));
  const src = join(dir, 'site.db');
  let ok = false;
  let url = '';
  before(async () => {
    ok = havePostgres('store copy');
    if (!ok) return;
    const cluster = await sharedCluster();
    url = cluster.url(dbName(await cluster.createDatabase('copy')), 'pa55-word');
    // A site with a bit of everything.
    const s = new SqliteStore(src, { server: 'old-disk-node' });
    const pools = new Map([['inside', parseRange('10.0.0.10-10.0.0.199')!]]);
    await s.createGroup({ name: 'web', loader: 'pxelinux', image: 'web-blade', vars: { tier: 1 }, bmc: { type: 'ipmi', username: 'admin', passwordSealed: 'v1.sealed' } });
    for (let i = 1; i <= 40; i++) {
      await s.createNode({ name: `blade${i}`, group: 'web', vars: { n: i }, bmc: i % 2 ? { address: `10.0.2.${i}` } : null, interfaces: [{ name: 'eth0', mac: `52:54:00:00:0a:${i.toString(16).padStart(2, '0')}`, network: 'inside' }] }, pools);
    }
    await s.putLeases(Array.from({ length: 30 }, (_, i) => ({ network: 'inside', ipv4: `10.0.0.${200 + i}`, mac: `52:54:00:00:0b:${i.toString(16).padStart(2, '0')}`, clientId: null, hostname: null, state: 'bound' as const, expiresAt: 2e12, updatedAt: 1e12 })));
    await s.addEvents(Array.from({ length: 12_000 }, (_, i) => ({ node: `blade${(i % 40) + 1}`, kind: 'dhcp.ack', ts: 1e12 + i, detail: { i } })));
    await s.setSetting('seed.applied', '{"groups":["web"],"nodes":[]}');
    await s.createExport({ name: 'www', path: '/srv/www', networks: ['inside'], access: 'ro', squash: 'root_squash', sync: true, allowRwNetwork: false, pseudo: '/www', layout: 'releases' });
    await s.heartbeat({ state: 'stopped' });
    await s.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('SQLite -> PostgreSQL: every row, counts compared; the same records read back', async (t) => {
    if (!ok) return t.skip('no PostgreSQL');
    const r = await cli(['store', 'copy', '--from', `sqlite:${src}`, '--to', url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^events\s+12000\s+12000\s+ok$/m);
    assert.match(r.stdout, /^nodes\s+40\s+40\s+ok$/m);
    assert.match(r.stdout, /copied: every count matches/);
    assert.match(r.stdout, /-> postgres postgres:\/\/postgres:\*\*\*@\//);
    assert.doesNotMatch(r.stdout + r.stderr, /pa55-word/);
    const [a, b] = [new SqliteStore(src), await PostgresStore.open({ url, server: 'check' })];
    try {
      assert.deepEqual(await b.listNodes(), await a.listNodes());
      assert.deepEqual((await b.getNode('blade1'))!.bmc, { address: '10.0.2.1' }, 'BMCs copied');
      assert.deepEqual(await b.listGroups(), await a.listGroups());
      assert.deepEqual(await b.listLeases(), await a.listLeases());
      assert.deepEqual(await b.listEvents({ node: 'blade7', limit: 10000 }), await a.listEvents({ node: 'blade7', limit: 10000 }));
      assert.deepEqual(await b.listExports(), await a.listExports());
      assert.deepEqual(await b.listSettings(), await a.listSettings());
      // The copy goes on working: new events after the copied ids, a new node at the next free address.
      await b.addEvents([{ node: 'blade1', kind: 'after' }]);
      const n = await b.createNode({ name: 'new', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0c:01', network: 'inside' }] }, new Map([['inside', parseRange('10.0.0.10-10.0.0.199')!]]));
      assert.equal(n.interfaces[0]!.ipv4, '10.0.0.50');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a target that is not empty is refused, and replaced with --force', async (t) => {
    if (!ok) return t.skip('no PostgreSQL');
    const again = await cli(['store', 'copy', '--from', `sqlite:${src}`, '--to', url]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /the target postgres postgres:\/\/postgres:\*\*\*@.* is not empty \(1 groups, 41 nodes, .*\): give --force to replace what it holds/);
    assert.doesNotMatch(again.stderr, /pa55-word/);
    const forced = await cli(['store', 'copy', '--from', `sqlite:${src}`, '--to', url, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /^nodes\s+40\s+40\s+ok$/m);
  });

  it('PostgreSQL -> a new SQLite file, and no copy from a file that does not exist', async (t) => {
    if (!ok) return t.skip('no PostgreSQL');
    const back = join(dir, 'back.db');
    const r = await cli(['store', 'copy', '--from', url, '--to', `sqlite:${back}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^events\s+12000\s+12000\s+ok$/m);
    const missing = await cli(['store', 'copy', '--from', `sqlite:${join(dir, 'nope.db')}`, '--to', url]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no SQLite file .*nope\.db/);
  });
});
