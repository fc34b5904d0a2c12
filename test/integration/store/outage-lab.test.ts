// The database stopped for 10 s under DHCP load, then started: `rackboot
// serve` (in a namespace, on a PostgreSQL cluster of this file's own) keeps
// answering from memory, its API says 503 naming the store meanwhile and
// answers again by itself, and every ACK that crossed the wire (dumpcap) is
// a bound lease in the database once the queue is written.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { requireLab } from '../../helpers/env.js';
import { NetLab } from '../../helpers/netns.js';
import { NsRackboot } from '../../helpers/ns-server.js';
import { havePostgres, privateCluster, type PgCluster } from '../../helpers/postgres.js';
import { ackCapture, dbLeases, dbName, perfdhcp } from './lab-tools.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the database away for 10 s under DHCP load', () => {
  const lab = new NetLab('rbo');
  const work = mkdtempSync(join(tmpdir(), 'rackboot-outage-'));
  let cluster: PgCluster | undefined;
  let server: NsRackboot | undefined;
  after(async () => {
    await server?.stop();
    await lab.cleanup();
    cluster?.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  it('DHCP keeps answering, the API says 503 and recovers by itself, no ACKed lease is lost', async (t) => {
    if (!requireLab(t, { root: true, commands: ['perfdhcp', 'dumpcap', 'tshark'] }) || !havePostgres('the outage lab')) return;
    cluster = privateCluster();
    const url = cluster.url(dbName(await cluster.createDatabase('outage')), 'not-in-any-log');
    const db = dbName(url);
    const srv = lab.addNs('srv');
    const cli = lab.addNs('cli');
    lab.veth({ ns: srv, name: 'eth1', addr: '10.1.0.1/16' }, { ns: cli, name: 'eth0', addr: '10.1.0.2/16' });
    server = new NsRackboot(srv, join(work, 'rackboot'), {
      log: { level: 'info' },
      server: { name: 'rack-solo', heartbeat: '1s' },
      store: { driver: 'postgres', url },
      networks: [{ name: 'lab', interface: 'eth1', cidr: '10.1.0.0/16', serverAddress: '10.1.0.1', dynamicRange: '10.1.1.0-10.1.255.254' }],
      dhcp: { enabled: true, unknownEventRate: 20 },
      tftp: { enabled: false },
      images: { enabled: false },
      nfs: { enabled: false },
      director: { enabled: false },
    });
    await server.start();
    const cap = await ackCapture(lab, cli, join(work, 'acks.pcap'));
    const load = perfdhcp(lab, cli, '10.1.0.1', { rate: 300, clients: 20000, seconds: 22, mac: '00:0c:05:00:00:00' });

    await sleep(3000);
    cluster.stop();
    const stoppedAt = Date.now();
    const during = await server.api.raw<{ error: string; message: string }>('GET', '/api/v1/nodes');
    assert.equal(during.status, 503, JSON.stringify(during.body));
    assert.equal(during.body.error, 'store_unavailable');
    assert.match(during.body.message, /^store postgres postgres:\/\/postgres:\*\*\*@\/outage_\w+\?host=\S+ is unavailable: /);
    await sleep(Math.max(0, 10_000 - (Date.now() - stoppedAt)));
    cluster.start();
    const startedAt = Date.now();
    let back = 0;
    for (let i = 0; i < 200 && !back; i++) {
      if ((await server.api.raw('GET', '/api/v1/nodes')).status === 200) back = Date.now();
      else await sleep(100);
    }
    assert.ok(back, 'the API did not recover by itself');
    console.log(`# database down ${((startedAt - stoppedAt) / 1000).toFixed(1)} s; the API answered again ${back - startedAt} ms after it started`);

    const perf = await load;
    const acks = await cap.stop();
    const inOutage = acks.filter((a) => a.at > stoppedAt + 500 && a.at < startedAt);
    console.log(`# ${acks.length} ACKs on the wire (${inOutage.length} while the database was down); perfdhcp ${perf.acks}/${perf.discovers}`);
    assert.ok(inOutage.length > 1000, `only ${inOutage.length} ACKs while the database was down`);
    // The queue is written when the store answers: wait for the gauge to reach 0.
    for (let i = 0; i < 100; i++) {
      const m = (await server.api.raw<string>('GET', '/metrics')).body;
      if (/rackboot_dhcp_outage_queue 0\b/.test(m)) break;
      await sleep(100);
    }
    const rows = dbLeases(cluster, db);
    const missing = acks.filter((a) => rows.get(a.ip)?.mac !== a.mac || rows.get(a.ip)?.state !== 'bound');
    assert.deepEqual(missing.slice(0, 3), [], `${missing.length} of ${acks.length} ACKed leases not in the database`);
    const log = server.logText();
    assert.match(log, /lease writes wait in memory and in \S+dhcp-outage-queue\.jsonl/);
    assert.match(log, /the store answers again: \d+ waiting lease write\(s\) written/);
    assert.doesNotMatch(log, /not-in-any-log/, 'the password is in the log');
  });
});
