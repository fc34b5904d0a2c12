// What only a shared PostgreSQL store does: migrations raced by servers
// starting together, the database arbitrating one address between two
// servers writing at once, changes told to the other stores (and not to the
// writer), and the store going away and coming back (a cluster of this
// file's own, stopped and started).
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { PG_MIGRATIONS } from '../../../server/store/postgres/migrations.js';
import { PostgresStore } from '../../../server/store/postgres/store.js';
import { StoreUnavailableError, type LeaseWrite, type PeerChange } from '../../../server/store/types.js';
import { parseRange } from '../../../server/net/ipv4.js';
import { havePostgres, privateCluster, sharedCluster, type PgCluster } from '../../helpers/postgres.js';
import { waitUntil } from '../../helpers/wait.js';
import { dbName } from './lab-tools.js';

const lease = (i: number, mac: string): LeaseWrite => ({
  network: 'lab',
  ipv4: `10.9.${i >> 8}.${i & 255}`,
  mac,
  clientId: null,
  hostname: null,
  state: 'bound',
  expiresAt: Date.now() + 3600_000,
  updatedAt: Date.now(),
});
const POOLS = new Map([['lab', parseRange('10.9.0.10-10.9.0.250')!]]);

describe('a PostgreSQL store shared by several servers', () => {
  let ok = false;
  let cluster: PgCluster;
  const open: PostgresStore[] = [];
  const store = async (url: string, server: string, onState?: (up: boolean, why: string) => void) => {
    const s = await PostgresStore.open({ url, server, onState, connectTimeoutMs: 1000 });
    open.push(s);
    return s;
  };
  before(async () => {
    ok = havePostgres('the shared PostgreSQL store tests');
    if (ok) cluster = await sharedCluster();
  });
  after(async () => {
    for (const s of open) await s.close();
  });

  it('six servers starting at once: the schema is made once, under the lock', async (t) => {
    if (!ok) return t.skip('no PostgreSQL');
    const url = await cluster.createDatabase('mig');
    await Promise.all(['m1', 'm2', 'm3', 'm4', 'm5', 'm6'].map((n) => store(url, n)));
    // One row per migration: each ran once.
    assert.equal(cluster.psql(dbName(url), 'SELECT count(*) FROM rackboot_schema').trim(), String(PG_MIGRATIONS.length));
  });

  it('two servers writing the same addresses for different MACs at once: each address is one MAC\'s, the other refused', async (t) => {
    if (!ok) return t.skip('no PostgreSQL');
    const url = await cluster.createDatabase('race');
    const [a, b] = [await store(url, 'race-a'), await store(url, 'race-b')];
    const N = 400;
    const refused = { a: new Set<string>(), b: new Set<string>() };
    // Interleaved batches of 20, many in flight: the statements really overlap.
    // A from the first address up, B from the last down: they meet in the middle.
    const write = async (s: PostgresStore, who: 'a' | 'b', mac: string) => {
      const jobs = [];
      const starts = Array.from({ length: N / 20 }, (_, k) => k * 20);
      for (const at of who === 'a' ? starts : starts.reverse()) {
        const batch = Array.from({ length: 20 }, (_, k) => lease(at + k, mac));
        jobs.push(s.putLeases(batch).then((r) => r.forEach((l) => refused[who].add(l.ipv4))));
      }
      await Promise.all(jobs);
    };
    await Promise.all([write(a, 'a', '52:54:00:aa:00:01'), write(b, 'b', '52:54:00:bb:00:01')]);
    const rows = await a.listLeases({ network: 'lab' });
    assert.equal(rows.length, N);
    for (const r of rows) {
      const loser = r.mac === '52:54:00:aa:00:01' ? 'b' : 'a';
      assert.ok(refused[loser].has(r.ipv4), `${r.ipv4} is ${r.mac}'s, but the other write was not refused`);
      assert.ok(!refused[loser === 'a' ? 'b' : 'a'].has(r.ipv4), `${r.ipv4}: the winner was refused too`);
    }
    assert.equal(refused.a.size + refused.b.size, N, `${refused.a.size} + ${refused.b.size}`);
    console.log(`# ${N} contested addresses: ${N - refused.a.size} to A, ${N - refused.b.size} to B, none to both`);
  });

  it('changes reach the other store within 1 s, never the writer; registrations through both allocate distinct addresses', async (t) => {
    if (!ok) return t.skip('no PostgreSQL');
    const url = await cluster.createDatabase('feed');
    const [a, b] = [await store(url, 'feed-a'), await store(url, 'feed-b')];
    const heardA: PeerChange[] = [];
    const heardB: PeerChange[] = [];
    a.onPeerChange((c) => heardA.push(c));
    b.onPeerChange((c) => heardB.push(c));
    await a.putLeases([lease(7, '52:54:00:cc:00:07')]);
    await a.addEvents([{ node: null, kind: 'x' }, { node: null, kind: 'y' }]);
    await a.setSetting('image.current.web', 'abc');
    const t0 = Date.now();
    assert.ok(await waitUntil(() => heardB.length >= 3, 1000), JSON.stringify(heardB));
    console.log(`# the other store heard 3 changes in ${Date.now() - t0} ms`);
    const l = heardB.find((c) => c.kind === 'leases');
    assert.deepEqual(l?.kind === 'leases' && l.leases.map((x) => [x.ipv4, x.mac, x.state]), [['10.9.0.7', '52:54:00:cc:00:07', 'bound']]);
    const ev = heardB.find((c) => c.kind === 'events');
    assert.ok(ev?.kind === 'events' && ev.toId - ev.fromId === 1 && ev.server === 'feed-a');
    assert.ok(heardB.some((c) => c.kind === 'setting' && c.key === 'image.current.web'));
    // Registrations at once through both: the address is the database's to give, once.
    const made = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).createNode({ name: `n${i}`, interfaces: [{ name: 'eth0', mac: `52:54:00:dd:00:${i.toString(16).padStart(2, '0')}`, network: 'lab' }] }, POOLS)),
    );
    const addrs = made.map((n) => n.interfaces[0]!.ipv4);
    assert.equal(new Set(addrs).size, 30, addrs.join(' '));
    assert.ok(await waitUntil(() => heardA.filter((c) => c.kind === 'node').length === 15, 1000));
    assert.ok(!heardA.some((c) => 'server' in c && c.server === 'feed-a'), 'a store is not told its own changes');
  });

  it('registrations at once share statements and commits (group commit); each is answered, told to the others, and reads back', async (t) => {
    if (!ok) return t.skip('no PostgreSQL');
    const url = await cluster.createDatabase('group');
    const [a, b] = [await store(url, 'group-a'), await store(url, 'group-b')];
    const heardB: PeerChange[] = [];
    b.onPeerChange((c) => heardB.push(c));
    // The statements that write registrations, counted as they leave for the database (each is one commit).
    // The cast reaches the store's private pool wrapper: the only place a statement can be counted from outside.
    const db = (a as unknown as { db: { q: (text: unknown, params?: unknown[]) => Promise<unknown> } }).db;
    const q = db.q.bind(db);
    let writes = 0;
    db.q = (text, params) => {
      if (typeof text === 'object' && /^rackboot_create_node/.test((text as { name?: string }).name ?? '')) writes++;
      return q(text, params);
    };
    const N = 200;
    const made = await Promise.all(
      Array.from({ length: N }, (_, i) => a.createNode({ name: `g${i}`, vars: { i }, interfaces: [{ name: 'eth0', mac: `52:54:00:ee:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, network: 'lab' }] }, POOLS)),
    );
    console.log(`# ${N} registrations at once: ${writes} statements`);
    assert.ok(writes < N / 4, `${writes} statements for ${N} registrations: not grouped`);
    const addrs = made.map((n) => n.interfaces[0]!.ipv4);
    assert.equal(new Set(addrs).size, N, 'distinct addresses');
    assert.deepEqual(await b.getNode('g77'), made[77], 'the answer is what the other server reads');
    assert.equal((await b.listNodes()).length, N);
    assert.ok(await waitUntil(() => heardB.filter((c) => c.kind === 'node').length === N, 2000), `the other store heard ${heardB.length}`);
  });

  it('the database stops: StoreUnavailableError naming the store, no password; it starts: the store answers again and the feed resyncs', async (t) => {
    if (!ok) return t.skip('no PostgreSQL');
    const own = privateCluster();
    try {
      await own.createDatabase('down');
      const url = own.url(dbName(await own.createDatabase('down')), 'hunter2');
      const states: string[] = [];
      const s = await store(url, 'down-a', (up, why) => states.push(`${up ? 'up' : 'down'}: ${why}`));
      const changes: PeerChange[] = [];
      s.onPeerChange((c) => changes.push(c));
      await s.setSetting('k', 'v');
      own.stop();
      const err = await s.getSetting('k').then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof StoreUnavailableError, String(err));
      assert.match(err.message, /^store postgres postgres:\/\/postgres:\*\*\*@\/down_\w+\?host=.* is unavailable: /);
      assert.doesNotMatch(err.message + states.join('\n'), /hunter2/);
      assert.equal(s.health().ok, false);
      own.start();
      assert.ok(await waitUntil(() => changes.some((c) => c.kind === 'resync'), 15_000), 'the feed came back');
      assert.equal(await s.getSetting('k'), 'v');
      assert.equal(s.health().ok, true);
      assert.ok(states.some((x) => x.startsWith('down')) && states.some((x) => x.startsWith('up')), states.join('\n'));
    } finally {
      for (const s of open.splice(-1)) await s.close();
      own.destroy();
    }
  });
});
