// The director for real: rackboot (nftables backend) in a director namespace
// balances a client namespace's HTTP requests over three real-server
// namespaces (busybox httpd) whose default route is the NAT router. Weights,
// removal of a stopped server within interval x retries, no failed request
// after it, return after reentry, events, teardown.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { requireLab } from '../../helpers/env.js';
import { sh } from '../../helpers/netns.js';
import { DirectorLab, NAT_ROUTER, VIP, sleep, waitFor } from './topology.js';

const CLI = fileURLToPath(new URL('../../../server/cli/main.js', import.meta.url));
// Generous enough that a busy 2-core machine does not fail a live server's checks (3 misses of 500 ms in a row).
const CHECK = { path: '/health', expect: 200, interval: '500ms', timeout: '500ms', retries: 3, reentry: '1500ms' };

type RS = { name: string; state: string; inPool: boolean; since: string | null; reason: string | null; weight: number; connections: { active: number; inactive: number } | null };
type View = { services: Array<{ name: string; pool: number; realServers: RS[] }>; lastApply: { ok: boolean; error: string | null } | null };
type Ev = { kind: string; detail: Record<string, unknown>; ts: number };

describe('director: nftables LVS-NAT in namespaces', () => {
  const lab = new DirectorLab();
  let ready = false;

  before(async (t) => {
    // `before` has no skip of its own; each test checks `ready`.
    void t;
    if (process.getuid?.() !== 0) return;
    lab.build(3);
    for (const rs of lab.servers) lab.startHttp(rs);
    const director = {
      enabled: true,
      backend: 'nftables',
      natRouter: { interface: 'brin', address: `${NAT_ROUTER}/24` },
      services: [{ name: 'web', vip: `${VIP}/24`, interface: 'out0', port: 80, scheduler: 'wrr', realServers: { group: 'web', port: 80 }, check: CHECK }],
    };
    // rs1..rs2 are seed nodes; rs3 is registered through the API below.
    await lab.startServer(lab.config(director, [{ rs: lab.servers[0]!, vars: { weight: 1 } }, { rs: lab.servers[1]!, vars: { weight: 2 } }]), CLI);
    ready = true;
  });
  after(async () => lab.cleanup());

  const view = async () => (await lab.api<View>('GET', '/director')).body;
  /** What the director saw, for a failure message. */
  const diag = async () =>
    `\npool: ${JSON.stringify((await view()).services[0]?.realServers.map((r) => [r.name, r.state, r.inPool]))}` +
    `\nrackboot log (tail):\n${lab.serverLog.split('\n').filter((l) => l.includes('director')).slice(-15).join('\n')}`;
  const rsState = async (name: string) => (await view()).services[0]!.realServers.find((r) => r.name === name);

  test('a node registered through the API joins once its check passes; requests follow the weights 1:2:3', async (t) => {
    if (!requireLab(t, { root: true, commands: ['nft', 'ip', 'busybox', 'curl'] }) || !ready) return;
    await waitFor('rs1 and rs2 up', async () => ((await view()).services[0]!.pool === 2 ? true : undefined), 10_000);
    const rs3 = lab.servers[2]!;
    const created = await lab.api('POST', '/nodes', { name: 'rs3', group: 'web', vars: { weight: 3 }, interfaces: [{ name: 'eth0', mac: rs3.mac, network: 'inside', ipv4: rs3.address }] });
    assert.equal(created.status, 201);
    await waitFor('rs3 in the pool', async () => ((await rsState('rs3'))?.inPool ? true : undefined), 10_000);

    const { counts, failed } = await lab.requests(600);
    assert.deepEqual(failed, []);
    // numgen inc walks the weighted map in order: each server gets exactly its share.
    assert.deepEqual(counts, { rs1: 100, rs2: 200, rs3: 300 });

    // Each of those connections left a conntrack entry naming its server (TIME_WAIT for 2 min): the API counts them.
    // GET /director caches the counts for a second (dashboards poll), and the waits above filled that cache: wait it out.
    const countsNow = async () => Object.fromEntries((await view()).services[0]!.realServers.map((r) => [r.name, r.connections && r.connections.active + r.connections.inactive]));
    let conns = await countsNow();
    for (const end = Date.now() + 5_000; Object.values(conns).reduce<number>((a, b) => a + (b ?? 0), 0) < 600 && Date.now() < end; ) {
      await sleep(250);
      conns = await countsNow();
    }
    assert.deepEqual(conns, { rs1: 100, rs2: 200, rs3: 300 });

    const rules = lab.lab.execSync(lab.director, 'nft', ['list', 'table', 'ip', 'rackboot']).stdout;
    assert.match(rules, /numgen inc mod 6 map \{ 0 : 10\.0\.0\.11 \. 80, 1-2 : 10\.0\.0\.12 \. 80, 3-5 : 10\.0\.0\.13 \. 80 \}/);
    // Never in the root namespace.
    assert.notEqual(sh('nft', ['list', 'table', 'ip', 'rackboot'], { check: false }).code, 0);
  });

  test('a stopped server leaves within interval x retries; then no request fails; it returns after reentry', async (t) => {
    if (!requireLab(t, { root: true, commands: ['nft', 'ip', 'busybox', 'curl'] }) || !ready) return;
    const rs2 = lab.servers[1]!;
    await lab.stopHttp(rs2);
    const stoppedAt = Date.now();
    await waitFor('rs2 out of the pool', async () => {
      const r = await rsState('rs2');
      return r?.state === 'down' && !r.inPool ? true : undefined;
    }, 10_000, 50);
    // Timed by rackboot's own event (not by this test's polling, which a busy machine slows):
    // interval x retries, plus one timeout, plus slack for timers on a loaded machine.
    const [downEv] = (await lab.api<Ev[]>('GET', '/nodes/rs2/events?kind=director.down')).body;
    const removedAfter = downEv!.ts - stoppedAt;
    assert.equal(downEv!.detail.failures, 3);
    assert.ok(removedAfter <= 500 * 3 + 500 + 1000, `removed ${removedAfter} ms after the stop`);

    const mid = await lab.requests(200);
    if (mid.failed.length) assert.fail(`no request may fail once the server is out of the pool: ${JSON.stringify(mid.failed)}${await diag()}`);
    assert.equal(mid.counts.rs2, undefined);
    assert.equal((mid.counts.rs1 ?? 0) + (mid.counts.rs3 ?? 0), 200);

    lab.startHttp(rs2);
    const startedAt = Date.now();
    await waitFor('rs2 back in the pool', async () => ((await rsState('rs2'))?.inPool ? true : undefined), 10_000, 50);
    const ups = (await lab.api<Ev[]>('GET', '/nodes/rs2/events?kind=director.up')).body;
    const returnedAfter = ups.at(-1)!.ts - startedAt;
    assert.ok(returnedAfter >= 1500, `returned after ${returnedAfter} ms, before the 1.5 s reentry`);
    assert.ok(returnedAfter <= 1500 + 2 * 500 + 1000, `returned after ${returnedAfter} ms`);
    const again = await lab.requests(60);
    assert.deepEqual(again.failed, []);
    assert.ok((again.counts.rs2 ?? 0) > 0, JSON.stringify(again.counts));

    const events = (await lab.api<Ev[]>('GET', '/nodes/rs2/events?kind=director.down')).body;
    assert.equal(events.length, 1);
    assert.equal(events[0]!.detail.service, 'web');
    assert.equal(events[0]!.detail.address, '10.0.0.12:80');
    assert.equal(ups.length, 2, 'up at start, up after reentry');

    const metrics = await lab.lab.exec(lab.director, 'curl', ['-s', `http://127.0.0.1:${lab.apiPort}/metrics`]);
    assert.match(metrics.stdout, /rackboot_director_transitions_total\{service="web",to="down"\} 1/);
    assert.match(metrics.stdout, /rackboot_director_pool_size\{service="web"\} 3/);
  });

  test('a server that silently drops packets (pulled plug): handshakes caught by its removal are re-balanced, no new request fails', async (t) => {
    if (!requireLab(t, { root: true, commands: ['nft', 'ip', 'busybox', 'curl', 'conntrack'] }) || !ready) return;
    const rs3 = lab.servers[2]!;
    // 10 s: a SYN sent just after the plug is retransmitted at +1, +3 and +7 s; removal must come before one of them.
    const batch = lab.requests(150, 80, 10_000);
    await sleep(100);
    // SYNs to rs3 now vanish: a client's connect hangs until its SYN is retransmitted elsewhere.
    lab.lab.execSync(rs3.ns, 'nft', ['-f', '-'], { input: 'table ip plug {\n  chain drop80 {\n    type filter hook input priority 0; policy accept;\n    tcp dport 80 drop\n  }\n}\n' });
    const pluggedAt = Date.now();
    const { counts, failed } = await batch;
    // A request whose connection to rs3 was already established when the plug was pulled is lost with
    // rs3, as with a real server (its TCP state is there; IPVS loses it too). The requests are sequential,
    // so there is at most one such. Every other request, and every handshake to rs3, must be answered.
    const lost = failed.filter((f) => f.connectedAt !== null && f.connectedAt <= pluggedAt);
    const wrong = failed.filter((f) => !lost.includes(f));
    if (wrong.length || lost.length > 1) {
      assert.fail(`every request not already established on rs3 must be answered: ${JSON.stringify(failed)} (plugged at ${pluggedAt}; ${JSON.stringify(counts)})${await diag()}`);
    }
    if (lost.length) t.diagnostic(`one request was established on rs3 before the plug and was lost with it: ${JSON.stringify(lost[0])}`);
    assert.equal((await rsState('rs3'))?.state, 'down');
    assert.ok((counts.rs1 ?? 0) + (counts.rs2 ?? 0) > 100);
  });

  test('stop: the table, the VIP and the NAT-router address are gone again', async (t) => {
    if (!requireLab(t, { root: true, commands: ['nft', 'ip', 'busybox', 'curl'] }) || !ready) return;
    const addrs = () => lab.lab.execSync(lab.director, 'ip', ['-4', '-o', 'addr', 'show']).stdout;
    assert.match(addrs(), new RegExp(`out0\\s+inet ${VIP.replace(/\./g, '\\.')}/24`));
    assert.match(addrs(), /brin\s+inet 10\.0\.0\.254\/24/);
    assert.equal(await lab.stopServer(), 0);
    assert.notEqual(lab.lab.execSync(lab.director, 'nft', ['list', 'table', 'ip', 'rackboot'], { check: false }).code, 0);
    assert.doesNotMatch(addrs(), new RegExp(VIP.replace(/\./g, '\\.')));
    assert.doesNotMatch(addrs(), /10\.0\.0\.254/);
    // The addresses rackboot did not add stay.
    assert.match(addrs(), /brin\s+inet 10\.0\.0\.1\/24/);
    assert.equal(lab.lab.execSync(lab.director, 'sysctl', ['-n', 'net.ipv4.ip_forward']).stdout.trim(), '0');
  });
});
