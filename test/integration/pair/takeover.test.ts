// Two disk nodes of a pair in network namespaces, no QEMU: real keepalived
// (VRRP between them), real PostgreSQL on each (streaming replication,
// synchronous while the standby streams), rackboot on each. A web client
// goes through the VIP to a busybox "blade" behind the NAT router; DHCP
// clients on the blade network repeat their exchanges throughout.
//
// 1. A (bootstrap) and B start: A is master with every floating address,
//    B's database a synchronous streaming standby.
// 2. A dies outright (every process SIGKILLed, links down) under that load:
//    B takes the addresses and promotes its database; DHCP is answered
//    again within seconds; every ACKed lease is in the database; no
//    address went to two clients; no web request fails once the VIP
//    answers again.
// 3. A returns: rejoins as a standby (pg_rewind), stays backup.
// 4. `switchover` moves everything back to A with no failed web request.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { requireLab } from '../../helpers/env.js';
import { PAIR_NET, PairNs, pairNodeConfig } from '../../helpers/pair-ns.js';
import { havePostgres } from '../../helpers/postgres.js';
import { RACKBOOT_MAIN, type NsRackboot } from '../../helpers/ns-server.js';
import { run } from '../../helpers/netns.js';
import { until } from '../../helpers/wait.js';
import { dhcpGap, doubleLeases, startDhcpProbe, summarize } from '../../lab/load.js';
import { startProbe } from '../../lab/load.js';
import { startStreams, survivors } from '../../helpers/streams.js';
import type { PairStatus } from '../../../server/pair/status.js';

const NEEDS = { root: true, commands: ['keepalived', 'busybox', 'nft', 'conntrack', 'setpriv'] };
const TOKEN = 'pair-namespace-test';
/** Long-lived connections through the VIP across the kill. */
const STREAMS = 8;
const log = (l: string) => console.log(`# ${l}`);

/** The `rackboot` command in a node's namespace, against that node's API. */
async function cli(n: NsRackboot, args: string[]): Promise<string> {
  const r = await run('ip', ['netns', 'exec', n.ns, process.execPath, RACKBOOT_MAIN, ...args, '--api', 'http://127.0.0.1:8080', '--token', TOKEN], { timeoutMs: 150_000 });
  if (r.code !== 0) throw new Error(`rackboot ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

const status = (n: NsRackboot) => n.api.call<PairStatus>('GET', '/pair');
const when = (n: NsRackboot, pred: (s: PairStatus) => boolean) => async () => {
  const s = await status(n);
  return pred(s) ? s : undefined;
};

describe('a pair of disk nodes in namespaces: takeover and rejoin (keepalived, PostgreSQL replication)', { concurrency: 1 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'rackboot-pair-'));
  let p: PairNs | undefined;
  let A: NsRackboot;
  let B: NsRackboot;
  let up = false;

  before(async () => {
    if (!havePostgres('the pair namespace test')) return;
    p = new PairNs(work);
    p.startBlade();
    p.startStreamBlades();
    A = p.node('a', pairNodeConfig('a', { workDir: join(work, 'a'), token: TOKEN, streams: true, pair: { conntrack: { enabled: true, interface: 'eth1' } } }), TOKEN);
    B = p.node('b', pairNodeConfig('b', { workDir: join(work, 'b'), token: TOKEN, streams: true, pair: { conntrack: { enabled: true, interface: 'eth1' } } }), TOKEN);
    await A.start(120_000);
    await B.start(120_000);
    up = true;
  });
  after(async () => {
    await p?.cleanup();
    // RACKBOOT_KEEP_PAIR=1 keeps the nodes' logs and data directories for a look.
    if (process.env.RACKBOOT_KEEP_PAIR) log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  });

  it('A is master with every floating address; B is backup, its database a synchronous streaming standby', async (t) => {
    if (!requireLab(t, NEEDS) || !up) return;
    const a = await until('A master', when(A, (s) => s.role === 'master'), 10_000);
    assert.ok(a.floating.every((f) => f.here), `every floating address on A: ${JSON.stringify(a.floating)}`);
    assert.equal(a.database.state, 'primary');
    const b = await until('B streams synchronously', when(B, (s) => s.database.receiver?.status === 'streaming'), 30_000);
    assert.equal(b.role, 'backup');
    assert.ok(b.floating.every((f) => !f.here), 'no floating address on B');
    assert.equal(b.answersDhcp, false);
    // The replication rows are as of the last check (each second): wait for the one after the reload too.
    const a2 = await until('A waits for B', when(A, (s) => s.database.synchronous === 'disk-b' && s.database.replication.some((r) => r.sync === 'sync')), 15_000);
    assert.deepEqual(a2.database.replication.map((r) => [r.name, r.state, r.sync]), [['disk-b', 'streaming', 'sync']]);
    // `rackboot pair status` on each node says the same.
    const textA = await cli(A, ['pair', 'status']);
    assert.match(textA, /^disk-a: master since .*keepalived master, priority 150; answers DHCP/m);
    assert.match(textA, /^database: managed, primary on timeline \d+/m);
    assert.match(textA, /standby disk-b at 10\.0\.0\.3: streaming, sync/);
    assert.match(textA, /192\.168\.1\.100\/24 +eth0 +yes +the VIP of service web/);
    const textB = await cli(B, ['pair', 'status']);
    assert.match(textB, /^disk-b: backup since .*answers no DHCP/m);
    assert.match(textB, /following 10\.0\.0\.2: streaming/);
  });

  let killAt = 0;
  const acked = new Map<string, string>();

  it('A dies outright under load: B takes over within seconds, DHCP answered again, every ACKed lease kept, none twice, no web failure after the VIP is back; established connections continue (conntrackd)', async (t) => {
    if (!requireLab(t, NEEDS) || !up) return;
    // Long-lived connections through the VIP, round robin over two blades, a line each way every 200 ms.
    const streams = startStreams(p!.ns.client, PAIR_NET.vip, PAIR_NET.streamPort, STREAMS);
    await until('every stream answered', () => streams.up.then(() => true), 60_000).catch(async (e: unknown) => {
      await streams.stop();
      throw e;
    });
    const web = startProbe(p!.ns.client, `http://${PAIR_NET.vip}/`, { seconds: 180, concurrency: 2, pauseMs: 20, timeoutMs: 10_000 });
    const dhcp = startDhcpProbe(p!.ns.dev, { seconds: 180, clients: 20, everyMs: 1000, macPrefix: '02:00:00:01' });
    try {
      // Both probes answered for a while before the kill (polled: the machine may be loaded).
      await until('DHCP answered before the kill', async () => (dhcp.records.filter((r) => r.type === 'ack').length >= 20 ? true : undefined), 60_000);
      await until('the VIP answered before the kill', async () => (web.records.filter((r) => r.ok).length >= 20 ? true : undefined), 60_000);
      killAt = await p!.kill('a');
      const b = await until('B master with a primary database', when(B, (s) => s.role === 'master' && s.database.state === 'primary'), 30_000, 50);
      assert.ok(Date.parse(b.since) >= killAt, 'B became master after the kill');
      // Long enough after the takeover to see failures, however slow the machine is.
      await until('the VIP and DHCP answer after the takeover', async () => (web.records.filter((x) => x.ok && x.at > killAt).length >= 40 && dhcp.records.filter((x) => x.type === 'ack' && x.at > killAt).length >= 40 ? true : undefined), 90_000);
      // The streams run on for a while after the takeover: still answering at the end is surviving.
      const since = Date.now();
      await until('streams ran 5 s after the takeover', async () => (Date.now() - since > 5000 ? true : undefined), 10_000);
    } finally {
      web.stop();
      dhcp.stop();
    }
    const streamEnd = Date.now();
    const recs = await streams.stop();
    const kept = survivors(recs, killAt, streamEnd);
    log(`established connections through the VIP: ${kept.length}/${recs.length} continued after the takeover (blades ${recs.map((r) => r.server).join(',')}; ended: ${JSON.stringify(recs.filter((r) => r.error).map((r) => `${r.error} ${((r.errorAt - killAt) / 1000).toFixed(1)} s`))})`);
    const records = await web.done;
    const acks = await dhcp.done;
    const firstOk = records.filter((r) => r.ok && r.at > killAt).sort((x, y) => x.at + x.ms - (y.at + y.ms))[0];
    const backAt = firstOk ? firstOk.at + firstOk.ms : undefined;
    const gap = dhcpGap(acks, killAt);
    const before = summarize(records, 0, killAt);
    const window = summarize(records, killAt, backAt ?? Infinity);
    const afterBack = summarize(records, backAt ?? Infinity);
    log(`takeover: B master ${(Date.parse((await status(B)).since) - killAt) / 1000} s after the kill; VIP answered again ${backAt ? ((backAt - killAt) / 1000).toFixed(2) : '-'} s after; DHCP answered again ${gap?.toFixed(2)} s after`);
    log(`web: before ${before.ok}/${before.requests}; window ${window.ok}/${window.requests} ${JSON.stringify(window.errors)}; after ${afterBack.ok}/${afterBack.requests} ${JSON.stringify(afterBack.errors)}`);
    assert.ok(backAt !== undefined, 'the VIP answers again');
    assert.ok(gap !== undefined && gap < 10, `DHCP answered again within 10 s (${gap} s)`);
    assert.equal(afterBack.failed, 0, `no web request fails once the VIP answers again: ${JSON.stringify(afterBack.errors)}`);
    assert.ok(afterBack.ok >= 20, `web answers after the takeover (${afterBack.ok})`);
    assert.deepEqual(doubleLeases(acks), [], 'no address acknowledged to two clients');
    assert.equal(kept.length, STREAMS, `every established connection continues on the new master (conntrackd): ${kept.length}/${STREAMS}`);
    for (const r of acks) if (r.type === 'ack') acked.set(r.mac, r.ip);
    const leases = await B.api.call<Array<{ ipv4: string; mac: string; state: string }>>('GET', '/leases?network=inside');
    const held = new Map(leases.filter((l) => l.state === 'bound').map((l) => [l.mac, l.ipv4]));
    const lost = [...acked].filter(([mac, ip]) => held.get(mac) !== ip);
    assert.deepEqual(lost, [], `every ACKed lease (${acked.size}) is in the promoted database`);
  });

  it('A returns: rejoins as a standby of B (pg_rewind) and stays backup', async (t) => {
    if (!requireLab(t, NEEDS) || !up) return;
    if (!killAt) return void t.skip('the takeover step failed: nothing to rejoin');
    p!.revive('a');
    await A.start(120_000);
    const a = await until('A streams from B', when(A, (s) => s.database.receiver?.status === 'streaming'), 60_000);
    assert.equal(a.role, 'backup', 'nopreempt: a returning node does not take the addresses back');
    assert.ok(a.floating.every((f) => !f.here));
    assert.match(A.logText(), /rewound to the peer's timeline|taking a fresh copy/);
    const b = await until('B waits for A', when(B, (s) => s.database.synchronous === 'disk-a'), 15_000);
    assert.equal(b.role, 'master');
    // What was written on B while A was away is on A too (the leases acknowledged during the outage).
    const onA = await A.api.call<Array<{ ipv4: string; mac: string; state: string }>>('GET', '/leases?network=inside');
    const heldA = new Map(onA.filter((l) => l.state === 'bound').map((l) => [l.mac, l.ipv4]));
    assert.deepEqual([...acked].filter(([mac, ip]) => heldA.get(mac) !== ip), []);
  });

  it('switchover back to A: no failed web request, DHCP hardly pauses; A master, B follows it', async (t) => {
    if (!requireLab(t, NEEDS) || !up) return;
    if (!killAt) return void t.skip('the takeover step failed: nothing to rejoin');
    const web = startProbe(p!.ns.client, `http://${PAIR_NET.vip}/`, { seconds: 180, concurrency: 2, pauseMs: 20, timeoutMs: 10_000 });
    const dhcp = startDhcpProbe(p!.ns.dev, { seconds: 180, clients: 20, everyMs: 1000, macPrefix: '02:00:00:01' });
    let r;
    let at = 0;
    try {
      await until('DHCP and the VIP answer before the switchover', async () => (dhcp.records.filter((x) => x.type === 'ack').length >= 10 && web.records.filter((x) => x.ok).length >= 10 ? true : undefined), 60_000);
      at = Date.now();
      // Asked on the backup (B, after A's return): the master hands over to it.
      r = JSON.parse(await cli(A, ['pair', 'switchover', '--json'])) as { from: string; to: string; totalMs: number; withoutMasterMs: number };
      await until('B streams from A', when(B, (s) => s.database.receiver?.status === 'streaming'), 60_000);
      const done = Date.now();
      await until('the VIP and DHCP answer after the switchover', async () => (web.records.filter((x) => x.ok && x.at > done).length >= 20 && dhcp.records.filter((x) => x.type === 'ack' && x.at > done).length >= 20 ? true : undefined), 60_000);
    } finally {
      web.stop();
      dhcp.stop();
    }
    const records = await web.done;
    const acks = await dhcp.done;
    const s = summarize(records);
    const around = acks.filter((x) => x.type === 'ack').map((x) => x.at).sort((x, y) => x - y);
    const longest = around.reduce((m, x, i) => (i ? Math.max(m, x - around[i - 1]!) : m), 0);
    log(`switchover ${JSON.stringify(r)}; web ${s.ok}/${s.requests} ${JSON.stringify(s.errors)}; longest time without a DHCP ACK ${longest} ms`);
    assert.deepEqual(r && [r.from, r.to], ['disk-b', 'disk-a']);
    assert.equal(s.failed, 0, `no web request fails across the switchover: ${JSON.stringify(s.errors)}`);
    assert.ok(summarize(records, 0, at).ok >= 10 && summarize(records, at + (r?.totalMs ?? 0)).ok >= 20, 'web answers before and after');
    assert.deepEqual(doubleLeases(acks), []);
    const a = await status(A);
    assert.equal(a.role, 'master');
    assert.ok(a.floating.every((f) => f.here));
    assert.equal((await status(B)).role, 'backup');
  });

  it("VRRP cut but not the database link: the backup calls itself master, does not promote, and the node with the data keeps the addresses", async (t) => {
    if (!requireLab(t, NEEDS) || !up) return;
    if (!killAt) return void t.skip('the takeover step failed: nothing to rejoin');
    const a0 = await status(A);
    assert.equal(a0.role, 'master');
    const timelineA = a0.database.timeline;
    const timelineB = (await status(B)).database.timeline;
    const rulesB = ['add table inet rbvrrp', 'add chain inet rbvrrp in { type filter hook input priority -300; }', 'add rule inet rbvrrp in ip protocol vrrp drop'].join('\n');
    p!.lab.execSync(p!.ns.b, 'nft', ['-f', '-'], { input: rulesB + '\n' });
    try {
      await until("B refuses to promote while A's database is a primary", async () => (/not promoting this one/.test(B.logText()) ? true : undefined), 20_000);
    } finally {
      p!.lab.execSync(p!.ns.b, 'nft', ['delete', 'table', 'inet', 'rbvrrp']);
    }
    // A holds the primary: its bonus wins the election the moment the adverts flow again.
    const a = await until('A master, B backup and streaming again', async () => {
      const [sa, sb] = [await status(A), await status(B)];
      return sa.role === 'master' && sb.role === 'backup' && sb.database.receiver?.status === 'streaming' ? sa : undefined;
    }, 30_000);
    assert.ok(a.floating.every((f) => f.here), 'every floating address on A');
    assert.equal(a.database.timeline, timelineA, "A's database was never demoted");
    assert.equal((await status(B)).database.timeline, timelineB, "B's database was never promoted (same timeline)");
    assert.ok((await status(B)).floating.every((f) => !f.here), 'no floating address left on B');
  });
});
