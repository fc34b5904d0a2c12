// Two `rackboot serve` processes, each in its own namespace, on one network
// (a bridge) and one PostgreSQL database (its Unix socket is on the shared
// file system): udhcpc gets the same reserved address from either; a node
// registered through A boots (DHCP + TFTP config) through B; two perfdhcp
// relays, one per server, get distinct addresses for every client (every
// ACK on the wire, checked against the database); and a SIGKILLed server
// leaves the other answering, with every ACK either sent in the database.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { requireLab } from '../../helpers/env.js';
import { NetLab } from '../../helpers/netns.js';
import { NsRackboot } from '../../helpers/ns-server.js';
import { havePostgres, sharedCluster, type PgCluster } from '../../helpers/postgres.js';
import { udhcpc } from '../dhcp/setup.js';
import { ackCapture, dbName, dbLeases, perfdhcp } from './lab-tools.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const NODE_MAC = '52:54:00:00:0b:01';
const NEEDS = { root: true, commands: ['udhcpc', 'perfdhcp', 'dumpcap', 'tshark', 'curl'] };

function serverConfig(name: string, address: string, url: string): Record<string, unknown> {
  return {
    log: { level: 'info' },
    server: { name, heartbeat: '1s' },
    store: { driver: 'postgres', url },
    networks: [{ name: 'lab', interface: 'eth1', cidr: '10.1.0.0/16', serverAddress: address, staticRange: '10.1.0.10-10.1.0.250', dynamicRange: '10.1.1.0-10.1.255.254' }],
    dhcp: { enabled: true, unknownEventRate: 20 },
    tftp: { enabled: true, root: join(REPO, 'tftpboot') },
    images: { enabled: false },
    nfs: { enabled: false },
    director: { enabled: false },
  };
}

describe('two rackboot servers, one network, one PostgreSQL', () => {
  const lab = new NetLab('rb2');
  const work = mkdtempSync(join(tmpdir(), 'rackboot-two-'));
  let cluster: PgCluster | undefined;
  let db = '';
  let A: NsRackboot | undefined;
  let B: NsRackboot | undefined;
  let ns: Record<'srvA' | 'srvB' | 'cliA' | 'cliB' | 'dev', string>;
  let ready = false;

  before(async () => {
    if (!havePostgres('the two-server lab')) return;
    cluster = await sharedCluster();
    const url = await cluster.createDatabase('two');
    db = dbName(url);
    const sw = lab.addNs('sw');
    lab.bridge(sw, 'br0');
    ns = { srvA: lab.addNs('a'), srvB: lab.addNs('b'), cliA: lab.addNs('ca'), cliB: lab.addNs('cb'), dev: lab.addNs('dev') };
    const port = (n: string, inner: { ns: string; name: string; addr?: string; mac?: string }) => {
      lab.veth(inner, { ns: sw, name: n });
      lab.enslave(sw, n, 'br0');
    };
    port('pa', { ns: ns.srvA, name: 'eth1', addr: '10.1.0.1/16' });
    port('pb', { ns: ns.srvB, name: 'eth1', addr: '10.1.0.3/16' });
    port('pca', { ns: ns.cliA, name: 'eth0', addr: '10.1.0.2/16' });
    port('pcb', { ns: ns.cliB, name: 'eth0', addr: '10.1.0.4/16' });
    port('pd', { ns: ns.dev, name: 'eth0', mac: NODE_MAC });
    A = new NsRackboot(ns.srvA, join(work, 'a'), serverConfig('rack-a', '10.1.0.1', url));
    B = new NsRackboot(ns.srvB, join(work, 'b'), serverConfig('rack-b', '10.1.0.3', url));
    // Together: the schema is made once, under the migration lock.
    await Promise.all([A.start(), B.start()]);
    ready = true;
  });
  after(async () => {
    await A?.stop();
    await B?.stop();
    await lab.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  const L = () => ({ lab, tmp: work });
  const link = (srv: string, up: boolean) => lab.execSync(srv, 'ip', ['link', 'set', 'eth1', up ? 'up' : 'down']);

  it('a node registered through A: udhcpc gets its reserved address and boot file from B, then from A; B serves its TFTP config', async (t) => {
    if (!requireLab(t, NEEDS) || !ready) return;
    const reg = await A!.api.call<{ name: string }>('POST', '/nodes', {
      name: 'blade1',
      loader: 'pxelinux',
      image: 'web-blade',
      interfaces: [{ name: 'eth0', mac: NODE_MAC, network: 'lab', ipv4: '10.1.0.50' }],
    });
    assert.equal(reg.name, 'blade1');
    const pxe = ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-O', '209'];
    link(ns.srvA, false);
    try {
      const fromB = await udhcpc(L(), ns.dev, 'eth0', pxe);
      assert.equal(fromB.env?.serverid, '10.1.0.3', fromB.output);
      assert.equal(fromB.env?.ip, '10.1.0.50');
      assert.equal(fromB.env?.boot_file, 'pxelinux.0');
      assert.equal(fromB.env?.pxeconffile, 'pxelinux.cfg/01-52-54-00-00-0b-01');
      const cfg = await lab.exec(ns.dev, 'curl', ['-sS', '--max-time', '10', 'tftp://10.1.0.3/pxelinux.cfg/01-52-54-00-00-0b-01']);
      assert.equal(cfg.code, 0, `${cfg.stderr}\n${B!.logText().split('\n').filter((l) => /tftp/i.test(l)).slice(-10).join('\n')}`);
      assert.match(cfg.stdout, /blade1/, 'the config rendered for blade1 by B');
    } finally {
      link(ns.srvA, true);
    }
    link(ns.srvB, false);
    try {
      const fromA = await udhcpc(L(), ns.dev, 'eth0', pxe);
      assert.equal(fromA.env?.serverid, '10.1.0.1', fromA.output);
      assert.equal(fromA.env?.ip, '10.1.0.50');
    } finally {
      link(ns.srvB, true);
    }
    // Each server writes its events within a flush interval (200 ms): both land on the one timeline.
    let servers: string[] = [];
    for (let i = 0; i < 50 && servers.length < 2; i++) {
      const timeline = await B!.api.call<Array<{ server: string; kind: string }>>('GET', '/nodes/blade1/events');
      servers = [...new Set(timeline.filter((e) => e.kind === 'dhcp.ack').map((e) => e.server))].sort();
      if (servers.length < 2) await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(servers, ['rack-a', 'rack-b'], "both servers' ACKs are on the node's timeline");
  });

  it('two perfdhcp relays, one per server, same range at once: every ACKed address is one MAC\'s, and in the database', async (t) => {
    if (!requireLab(t, NEEDS) || !ready) return;
    const capA = await ackCapture(lab, ns.cliA, join(work, 'split-a.pcap'));
    const capB = await ackCapture(lab, ns.cliB, join(work, 'split-b.pcap'));
    const [pa, pb] = await Promise.all([
      perfdhcp(lab, ns.cliA, '10.1.0.1', { rate: 150, clients: 250, num: 1000, mac: '00:0c:01:00:00:00' }),
      perfdhcp(lab, ns.cliB, '10.1.0.3', { rate: 150, clients: 250, num: 1000, mac: '00:0c:02:00:00:00' }),
    ]);
    const acks = [...(await capA.stop()), ...(await capB.stop())];
    const macs = new Set(acks.map((a) => a.mac));
    const byIp = new Map<string, Set<string>>();
    for (const a of acks) byIp.set(a.ip, (byIp.get(a.ip) ?? new Set()).add(a.mac));
    const shared = [...byIp].filter(([, m]) => m.size > 1);
    const refusedBy = async (s: NsRackboot) => /rackboot_dhcp_lease_refused_total (\d+)/.exec((await s.api.raw<string>('GET', '/metrics')).body)?.[1];
    console.log(
      `# ${acks.length} ACKs to ${macs.size} MACs (perfdhcp: A ${pa.acks}/${pa.discovers}, B ${pb.acks}/${pb.discovers}); ${byIp.size} addresses; ` +
        `leases the database refused: A ${await refusedBy(A!)}, B ${await refusedBy(B!)}`,
    );
    assert.deepEqual(shared.slice(0, 3), [], 'an address acknowledged to two MACs');
    assert.ok(macs.size >= 480, `only ${macs.size} of 500 clients got an address`);
    assert.equal(byIp.size, macs.size, 'one address per client');
    const rows = dbLeases(cluster!, db);
    const missing = acks.filter((a) => rows.get(a.ip)?.mac !== a.mac || rows.get(a.ip)?.state !== 'bound');
    assert.deepEqual(missing.slice(0, 3), [], `${missing.length} ACKed lease(s) not in the database as bound`);
  });

  it('SIGKILL of A under load: B keeps answering, and every ACK either sent is a bound lease in the database', async (t) => {
    if (!requireLab(t, NEEDS) || !ready) return;
    const capA = await ackCapture(lab, ns.cliA, join(work, 'kill-a.pcap'));
    const capB = await ackCapture(lab, ns.cliB, join(work, 'kill-b.pcap'));
    const load = Promise.all([
      perfdhcp(lab, ns.cliA, '10.1.0.1', { rate: 300, clients: 5000, seconds: 8, mac: '00:0c:03:00:00:00' }),
      perfdhcp(lab, ns.cliB, '10.1.0.3', { rate: 300, clients: 5000, seconds: 8, mac: '00:0c:04:00:00:00' }),
    ]);
    await new Promise((r) => setTimeout(r, 3000));
    await A!.kill('SIGKILL');
    const killedAt = Date.now();
    await load;
    const fromA = await capA.stop();
    const fromB = await capB.stop();
    const late = fromB.filter((a) => a.at > killedAt + 500);
    console.log(`# A acknowledged ${fromA.length} before SIGKILL, B ${fromB.length} (${late.length} after it)`);
    assert.ok(fromA.length > 100 && fromB.length > 100, 'both servers were answering');
    assert.ok(late.length > 300, `B answered ${late.length} after A died`);
    const rows = dbLeases(cluster!, db);
    const missing = [...fromA, ...fromB].filter((a) => rows.get(a.ip)?.mac !== a.mac || rows.get(a.ip)?.state !== 'bound');
    assert.deepEqual(missing.slice(0, 3), [], `${missing.length} acknowledged lease(s) not in the database`);
    // A restarts with the same name (its lock went with its connection) and loads the shared leases.
    await A!.start();
    assert.match(A!.logText(), /loaded \d+ lease\(s\) from the store/);
    const servers = await A!.api.call<Array<{ name: string; alive: boolean }>>('GET', '/servers');
    assert.deepEqual(servers.map((s) => [s.name, s.alive]), [['rack-a', true], ['rack-b', true]]);
  });
});
