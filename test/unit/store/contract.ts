// The Store contract, one suite for every driver: each test file calls
// storeContract() with a way to open a fresh, empty store of its driver.
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { parseRange } from '../../../server/net/ipv4.js';
import { ConflictError, InvalidError, NotFoundError, type LeaseRecord, type LeaseWrite, type StaticPools, type Store, type StoredBmc } from '../../../server/store/types.js';

export interface ContractTarget {
  /** A fresh, empty store (its own database). */
  open(server?: string): Promise<Store>;
  /** Skip reason, when the driver cannot run here. */
  lacks?(): string | undefined;
}

const POOLS: StaticPools = new Map([
  ['inside', parseRange('10.0.0.10-10.0.0.12')!],
  ['inside2', parseRange('10.0.1.10-10.0.1.199')!],
]);
const mac = (n: number) => `52:54:00:00:00:${n.toString(16).padStart(2, '0')}`;
const T0 = 1_700_000_000_000;
const lease = (ip: string, m: string, over: Partial<LeaseWrite> = {}): LeaseWrite => ({
  network: 'inside',
  ipv4: ip,
  mac: m,
  clientId: null,
  hostname: null,
  state: 'bound',
  expiresAt: T0 + 3600_000,
  updatedAt: T0,
  ...over,
});

export function storeContract(label: string, target: ContractTarget): void {
  describe(`store contract: ${label}`, () => {
    let s: Store;
    const opened: Store[] = [];
    let skip: string | undefined;
    const fresh = async (server?: string) => {
      const st = await target.open(server);
      opened.push(st);
      return st;
    };
    before(async () => {
      skip = target.lacks?.();
      if (!skip) s = await fresh('srv-a');
    });
    after(async () => {
      for (const st of opened) await st.close();
    });
    const test = (name: string, fn: () => Promise<void>) =>
      it(name, async (t) => {
        if (skip) return t.skip(skip);
        await fn();
      });

    test('nodes: given and allocated addresses, read back by name, MAC and address', async () => {
      await s.createGroup({ name: 'web', loader: 'ipxe', vars: { a: 1 } });
      const n = await s.createNode(
        { name: 'n1', group: 'web', vars: { z: 1, b: [1, 2] }, interfaces: [{ name: 'eth0', mac: mac(1), network: 'inside' }, { name: 'eth1', mac: mac(2), network: 'inside2', ipv4: '10.0.1.50' }] },
        POOLS,
      );
      assert.equal(n.interfaces[0]!.ipv4, '10.0.0.10');
      assert.equal(n.interfaces[1]!.ipv4, '10.0.1.50');
      assert.deepEqual(n.vars, { z: 1, b: [1, 2] });
      assert.equal(n.discovered, false);
      assert.match(n.createdAt, /^\d{4}-\d\d-\d\dT/);
      assert.deepEqual(await s.getNode('n1'), n);
      assert.equal((await s.findByMac(mac(2)))?.iface.name, 'eth1');
      assert.equal((await s.findByAddress('inside', '10.0.0.10'))?.node.name, 'n1');
      assert.equal(await s.findByAddress('inside', 'bogus'), undefined);
      assert.deepEqual((await s.listNodes({ group: 'web' })).map((x) => x.name), ['n1']);
      assert.deepEqual(await s.listNodes({ group: 'none' }), []);
    });

    test('nodes: duplicates are ConflictErrors naming the field; a missing group or pool an InvalidError', async () => {
      await assert.rejects(s.createNode({ name: 'n1', interfaces: [{ name: 'eth0', mac: mac(9), network: 'inside' }] }, POOLS), (e: unknown) => e instanceof ConflictError && e.field === 'name');
      await assert.rejects(
        s.createNode({ name: 'n2', interfaces: [{ name: 'eth0', mac: mac(1), network: 'inside' }] }, POOLS),
        (e: unknown) => e instanceof ConflictError && e.field === 'interfaces[0].mac' && /n1\/eth0/.test(e.message),
      );
      await assert.rejects(
        s.createNode({ name: 'n2', interfaces: [{ name: 'eth0', mac: mac(3), network: 'inside2', ipv4: '10.0.1.50' }] }, POOLS),
        (e: unknown) => e instanceof ConflictError && e.field === 'interfaces[0].ipv4' && /n1\/eth1/.test(e.message),
      );
      await assert.rejects(s.createNode({ name: 'n2', group: 'nope', interfaces: [] }, POOLS), (e: unknown) => e instanceof InvalidError && e.field === 'group');
      await assert.rejects(s.createNode({ name: 'n2', interfaces: [{ name: 'eth0', mac: mac(3), network: 'nopool' }] }, POOLS), InvalidError);
      assert.equal(await s.getNode('n2'), undefined, 'a refused node leaves nothing behind');
    });

    test('nodes: allocation skips taken addresses and says when the pool is exhausted', async () => {
      const a = await s.createNode({ name: 'n2', interfaces: [{ name: 'eth0', mac: mac(3), network: 'inside' }] }, POOLS);
      const b = await s.createNode({ name: 'n3', interfaces: [{ name: 'eth0', mac: mac(4), network: 'inside' }] }, POOLS);
      assert.deepEqual([a.interfaces[0]!.ipv4, b.interfaces[0]!.ipv4].sort(), ['10.0.0.11', '10.0.0.12']);
      await assert.rejects(s.createNode({ name: 'n4', interfaces: [{ name: 'eth0', mac: mac(5), network: 'inside' }] }, POOLS), /no free address/);
      assert.ok(await s.deleteNode('n3'));
      const c = await s.createNode({ name: 'n4', interfaces: [{ name: 'eth0', mac: mac(5), network: 'inside' }] }, POOLS);
      assert.equal(c.interfaces[0]!.ipv4, b.interfaces[0]!.ipv4);
    });

    test('nodes: update keeps a re-listed interface address, replaces fields, and refuses unknown nodes', async () => {
      const before = (await s.getNode('n1'))!;
      const u = await s.updateNode('n1', { image: 'img', loader: 'grub', interfaces: [{ name: 'eth0', mac: mac(1), network: 'inside' }] }, POOLS);
      assert.equal(u.interfaces.length, 1);
      assert.equal(u.interfaces[0]!.ipv4, before.interfaces[0]!.ipv4);
      assert.equal(u.image, 'img');
      assert.equal(u.loader, 'grub');
      assert.equal(u.group, 'web');
      assert.ok(u.updatedAt >= before.updatedAt);
      const cleared = await s.updateNode('n1', { group: null, vars: {} }, POOLS);
      assert.equal(cleared.group, null);
      await assert.rejects(s.updateNode('ghost', { image: 'x' }, POOLS), NotFoundError);
      await assert.rejects(s.updateNode('n1', { group: 'nope' }, POOLS), InvalidError);
      assert.equal(await s.deleteNode('ghost'), false);
    });

    test('groups: create, duplicate, update, delete only when empty', async () => {
      await assert.rejects(s.createGroup({ name: 'web' }), ConflictError);
      const g = await s.updateGroup('web', { image: 'base', vars: { k: 'v' } });
      assert.equal(g.image, 'base');
      assert.equal(g.loader, 'ipxe');
      assert.deepEqual(g.vars, { k: 'v' });
      await s.updateNode('n2', { group: 'web' }, POOLS);
      await assert.rejects(s.deleteGroup('web'), (e: unknown) => e instanceof ConflictError && /1 node/.test(e.message));
      await s.updateNode('n2', { group: null }, POOLS);
      assert.equal(await s.deleteGroup('web'), true);
      assert.equal(await s.deleteGroup('web'), false);
      await assert.rejects(s.updateGroup('web', {}), NotFoundError);
      assert.deepEqual(await s.listGroups(), []);
    });

    test('nodes: registrations at once each get their own answer: distinct addresses, the clashing ones refused by name', async () => {
      const many = Array.from({ length: 30 }, (_, k) => ({ name: `c${k}`, interfaces: [{ name: 'eth0', mac: mac(0x80 + k), network: 'inside2' }] }));
      // Among them: a name twice, a MAC another node of the same moment has, a MAC registered earlier, an address given twice.
      const clash = [
        { name: 'c3', interfaces: [{ name: 'eth0', mac: mac(0xb0), network: 'inside2' }] },
        { name: 'd1', interfaces: [{ name: 'eth0', mac: mac(0x85), network: 'inside2' }] },
        { name: 'd2', interfaces: [{ name: 'eth0', mac: mac(1), network: 'inside2' }] },
        { name: 'd3', interfaces: [{ name: 'eth0', mac: mac(0xb1), network: 'inside2', ipv4: '10.0.1.198' }] },
        { name: 'd4', interfaces: [{ name: 'eth0', mac: mac(0xb2), network: 'inside2', ipv4: '10.0.1.198' }] },
        { name: 'd5', group: 'no-such-group', interfaces: [{ name: 'eth0', mac: mac(0xb3), network: 'inside2' }] },
      ];
      const all = [...many.slice(0, 10), ...clash.slice(0, 3), ...many.slice(10, 20), ...clash.slice(3), ...many.slice(20)];
      const got = await Promise.allSettled(all.map((n) => s.createNode(n, POOLS)));
      const by = new Map<string, PromiseSettledResult<Awaited<ReturnType<Store['createNode']>>>[]>();
      all.forEach((n, k) => by.set(n.name, [...(by.get(n.name) ?? []), got[k]!]));
      const c3 = by.get('c3')!;
      assert.equal(c3.filter((r) => r.status === 'fulfilled').length, 1, 'c3 once');
      assert.ok(c3.some((r) => r.status === 'rejected' && r.reason instanceof ConflictError && r.reason.field === 'name'));
      const fiveOrD1 = [...by.get('c5')!, ...by.get('d1')!];
      assert.equal(fiveOrD1.filter((r) => r.status === 'fulfilled').length, 1, 'the MAC is one of theirs');
      assert.ok(fiveOrD1.some((r) => r.status === 'rejected' && r.reason instanceof ConflictError && r.reason.field === 'interfaces[0].mac'));
      const d2 = by.get('d2')![0]!;
      assert.ok(d2.status === 'rejected' && d2.reason instanceof ConflictError && /n1\/eth0/.test(d2.reason.message), 'a MAC registered before');
      const d34 = [...by.get('d3')!, ...by.get('d4')!];
      assert.equal(d34.filter((r) => r.status === 'fulfilled').length, 1, 'a given address once');
      assert.ok(d34.some((r) => r.status === 'rejected' && r.reason instanceof ConflictError && r.reason.field === 'interfaces[0].ipv4'));
      const d5 = by.get('d5')![0]!;
      assert.ok(d5.status === 'rejected' && d5.reason instanceof InvalidError && d5.reason.field === 'group');
      const made = got.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      assert.equal(made.length, all.length - 5);
      for (const n of made) assert.deepEqual(await s.getNode(n.name), n, `${n.name} reads back as answered`);
      const addrs = (await s.listNodes()).flatMap((n) => n.interfaces.filter((i) => i.network === 'inside2').map((i) => i.ipv4));
      assert.equal(new Set(addrs).size, addrs.length, 'no address twice');
      for (const n of made) assert.equal(await s.deleteNode(n.name), true);
    });

    test('BMC of nodes and groups: kept as given, a patch naming it replaces it, null removes it, other patches leave it', async () => {
      const gb: StoredBmc = { type: 'ipmi', username: 'admin', passwordSealed: 'v1.aaa', ipmi: { cipherSuite: 17, privilege: 'operator' } };
      assert.deepEqual((await s.createGroup({ name: 'bmcs', bmc: gb })).bmc, gb);
      assert.deepEqual((await s.getGroup('bmcs'))!.bmc, gb);
      const nb: StoredBmc = { address: '10.0.2.11', port: 6230 };
      const b1 = await s.createNode({ name: 'bmc1', group: 'bmcs', bmc: nb, interfaces: [{ name: 'eth0', mac: mac(0x70), network: 'inside2', ipv4: '10.0.1.170' }] }, POOLS);
      assert.deepEqual(b1.bmc, nb);
      assert.deepEqual(await s.getNode('bmc1'), b1, 'what create returns is what a read gives');
      await s.createNode({ name: 'bmc2', group: 'bmcs', interfaces: [{ name: 'eth0', mac: mac(0x71), network: 'inside2', ipv4: '10.0.1.171' }] }, POOLS);
      assert.equal((await s.getNode('bmc2'))!.bmc, null, 'no BMC: null');
      await s.updateNode('bmc1', { vars: { x: 1 } }, POOLS);
      assert.deepEqual((await s.getNode('bmc1'))!.bmc, nb, 'a patch without bmc keeps it');
      const rf: StoredBmc = { type: 'redfish', address: 'bmc1.example', redfish: { insecure: true, systemId: 'Self' } };
      assert.deepEqual((await s.updateNode('bmc1', { bmc: rf }, POOLS)).bmc, rf);
      assert.deepEqual((await s.findByMac(mac(0x70)))!.node.bmc, rf);
      assert.deepEqual((await s.listNodes({ group: 'bmcs' })).map((n) => n.bmc?.type ?? null), ['redfish', null], 'listNodes reads it too');
      assert.deepEqual((await s.listNodes()).find((n) => n.name === 'bmc1')!.bmc, rf);
      assert.equal((await s.updateNode('bmc1', { bmc: null }, POOLS)).bmc, null);
      assert.equal((await s.getNode('bmc1'))!.bmc, null);
      assert.deepEqual((await s.updateGroup('bmcs', { image: 'x' })).bmc, gb, 'a group patch without bmc keeps it');
      assert.deepEqual((await s.updateGroup('bmcs', { bmc: { ...gb, username: 'root' } })).bmc, { ...gb, username: 'root' });
      assert.equal((await s.updateGroup('bmcs', { bmc: null })).bmc, null);
      assert.deepEqual((await s.listGroups()).map((g) => [g.name, g.bmc]), [['bmcs', null]]);
      // Left for the dump test: a node and a group with a BMC.
      await s.updateNode('bmc2', { bmc: nb }, POOLS);
      await s.updateGroup('bmcs', { bmc: gb });
    });

    test('leases: put, get, list by network, MAC and state; delete', async () => {
      await s.putLease(lease('10.0.0.200', mac(0x20)));
      await s.putLease(lease('10.0.0.201', mac(0x21), { state: 'released', clientId: 'ff01', hostname: 'h' }));
      assert.deepEqual(await s.getLease('inside', '10.0.0.201'), lease('10.0.0.201', mac(0x21), { state: 'released', clientId: 'ff01', hostname: 'h' }));
      assert.equal((await s.listLeases({ network: 'inside' })).length, 2);
      assert.deepEqual((await s.listLeases({ mac: mac(0x20) })).map((l) => l.ipv4), ['10.0.0.200']);
      assert.deepEqual((await s.listLeases({ state: 'released' })).map((l) => l.ipv4), ['10.0.0.201']);
      assert.equal(await s.deleteLease('inside', '10.0.0.201'), true);
      assert.equal(await s.deleteLease('inside', '10.0.0.201'), false);
      await assert.rejects(s.putLease(lease('10.0.0.300', mac(1))), InvalidError);
    });

    test('leases: a dynamic write takes only a free address or its own; a reserved one always; the refused are returned', async () => {
      const cases: Array<[string, LeaseRecord | undefined, LeaseWrite, boolean]> = [
        ['no row', undefined, lease('10.0.0.211', mac(0x31)), true],
        ['held by another, unexpired', lease('10.0.0.210', mac(0x30)), lease('10.0.0.210', mac(0x31)), false],
        ['the same MAC renews', lease('10.0.0.216', mac(0x30)), lease('10.0.0.216', mac(0x30), { expiresAt: T0 + 7200_000 }), true],
        ['held by another, reserved write', lease('10.0.0.217', mac(0x30)), lease('10.0.0.217', mac(0x32), { reserved: true }), true],
        ['expired by time', lease('10.0.0.212', mac(0x30), { expiresAt: T0 - 1 }), lease('10.0.0.212', mac(0x31)), true],
        ['released', lease('10.0.0.213', mac(0x30), { state: 'released' }), lease('10.0.0.213', mac(0x31)), true],
        ['declined', lease('10.0.0.214', mac(0x30), { state: 'declined', expiresAt: T0 - 1 }), lease('10.0.0.214', mac(0x31)), false],
        ['same client id, new MAC', lease('10.0.0.215', mac(0x30), { clientId: 'ab' }), lease('10.0.0.215', mac(0x31), { clientId: 'ab' }), true],
      ];
      for (const [, before] of cases) if (before) await s.putLease(before);
      const refused = await s.putLeases(cases.map((c) => c[2]));
      for (const [what, , write, ok] of cases) {
        const row = await s.getLease('inside', write.ipv4);
        assert.equal(row?.mac === write.mac, ok, `${what}: ${JSON.stringify(row)}`);
        assert.equal(refused.includes(write), !ok, `${what}: refused list`);
      }
    });

    test('leases: a batch is applied in order (the same address twice) and is all or nothing on a bad address', async () => {
      const a = lease('10.0.0.220', mac(0x40), { state: 'expired', expiresAt: T0 });
      const b = lease('10.0.0.220', mac(0x41), { updatedAt: T0 + 1 });
      assert.deepEqual(await s.putLeases([lease('10.0.0.220', mac(0x40)), a, b]), []);
      assert.equal((await s.getLease('inside', '10.0.0.220'))?.mac, mac(0x41));
      await assert.rejects(s.putLeases([lease('10.0.0.221', mac(0x42)), lease('10.0.0.999', mac(0x43))]), InvalidError);
      assert.equal(await s.getLease('inside', '10.0.0.221'), undefined);
    });

    test('events: newest first within the limit, read oldest first; filters; the server tag; afterId; prune', async () => {
      await s.addEvents([
        { node: 'n1', mac: mac(1), kind: 'dhcp.ack', detail: { a: 1 }, ts: T0 + 1 },
        { node: 'n1', kind: 'ready', ts: T0 + 2 },
        { node: null, mac: mac(0x50), kind: 'dhcp.offer', ts: T0 + 3, server: 'other' },
      ]);
      const all = await s.listEvents({});
      assert.deepEqual(all.map((e) => e.kind), ['dhcp.ack', 'ready', 'dhcp.offer']);
      assert.deepEqual(all.map((e) => e.server), ['srv-a', 'srv-a', 'other']);
      assert.deepEqual(all[0]!.detail, { a: 1 });
      assert.equal(all[1]!.mac, null);
      assert.deepEqual((await s.listEvents({ limit: 2 })).map((e) => e.kind), ['ready', 'dhcp.offer']);
      assert.deepEqual((await s.listEvents({ node: 'n1', kind: 'ready' })).map((e) => e.ts), [T0 + 2]);
      assert.deepEqual((await s.listEvents({ mac: mac(0x50) })).length, 1);
      assert.deepEqual((await s.listEvents({ server: 'other' })).length, 1);
      assert.deepEqual((await s.listEvents({ since: T0 + 2 })).length, 2);
      assert.deepEqual((await s.listEvents({ afterId: all[0]!.id, limit: 1 })).map((e) => e.id), [all[1]!.id]);
      assert.equal(await s.pruneEvents(T0 + 2), 1);
      await s.deleteNode('n1');
      assert.deepEqual((await s.listEvents({})).map((e) => e.kind), ['dhcp.offer'], "a deleted node's timeline goes with it");
    });

    test('exports and settings', async () => {
      const spec = { name: 'www', path: '/srv/www', networks: ['inside'], access: 'ro' as const, squash: 'root_squash' as const, sync: true, allowRwNetwork: false, pseudo: '/www', layout: 'releases' as const };
      const e = await s.createExport(spec);
      assert.equal(e.path, '/srv/www');
      await assert.rejects(s.createExport(spec), ConflictError);
      assert.equal((await s.updateExport('www', { ...spec, access: 'rw' })).access, 'rw');
      await assert.rejects(s.updateExport('nope', spec), NotFoundError);
      assert.deepEqual((await s.listExports()).map((x) => x.name), ['www']);
      assert.equal(await s.deleteExport('www'), true);
      assert.equal(await s.getExport('www'), undefined);
      await s.setSetting('a.x', '1');
      await s.setSetting('a.y', '2');
      await s.setSetting('b', '3');
      await s.setSetting('a.x', '4');
      assert.equal(await s.getSetting('a.x'), '4');
      assert.equal(await s.getSetting('none'), undefined);
      assert.deepEqual(await s.listSettings('a.'), [['a.x', '4'], ['a.y', '2']]);
    });

    test('servers: heartbeat stamps the store clock; health', async () => {
      const t = await s.now();
      await s.heartbeat({ networks: ['inside'] });
      await s.heartbeat({ networks: ['inside', 'inside2'] });
      const [me] = await s.listServers();
      assert.equal(me?.name, 'srv-a');
      assert.deepEqual(me?.info, { networks: ['inside', 'inside2'] });
      assert.ok(me!.lastSeen >= t - 1000 && me!.lastSeen <= Date.now() + 5000, `lastSeen ${me!.lastSeen} vs ${t}`);
      assert.ok(me!.startedAt <= me!.lastSeen);
      assert.equal(s.health().ok, true);
      assert.equal(s.server, 'srv-a');
    });

    test('dump and restore: every row into an empty store, the counts equal; clear empties', async () => {
      await s.createGroup({ name: 'g2', vars: { q: 1 } });
      await s.createNode({ name: 'z1', group: 'g2', discovered: true, interfaces: [{ name: 'eth0', mac: mac(0x60), network: 'inside2' }] }, POOLS);
      const counts = await s.counts();
      assert.ok(counts.nodes >= 1 && counts.leases >= 1 && counts.events >= 1 && counts.settings >= 1 && counts.servers >= 1, JSON.stringify(counts));
      const t = await fresh('srv-b');
      for await (const chunk of s.dump()) await t.restore(chunk);
      assert.deepEqual(await t.counts(), counts);
      assert.deepEqual(await t.getNode('z1'), await s.getNode('z1'));
      assert.deepEqual(await t.listNodes(), await s.listNodes());
      assert.deepEqual(await t.listGroups(), await s.listGroups());
      assert.ok((await t.getNode('bmc2'))!.bmc && (await t.getGroup('bmcs'))!.bmc, 'BMCs copied');
      assert.deepEqual(await t.listEvents({}), await s.listEvents({}));
      assert.deepEqual(await t.listLeases(), await s.listLeases());
      // Restored event ids do not collide with new ones.
      await t.addEvents([{ node: null, kind: 'after-restore' }]);
      assert.equal((await t.listEvents({})).length, counts.events + 1);
      await t.clear();
      assert.deepEqual(Object.values(await t.counts()), Object.values(counts).map(() => 0));
    });
  });
}
