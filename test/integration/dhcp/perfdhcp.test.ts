// perfdhcp (it acts as a relay: giaddr is its own address, replies come to
// its port 67) against rackboot: every exchange completes and is a lease; and
// durability: under a sustained rate the `rackboot serve` process is
// SIGKILLed, and after a restart every ACK that reached the wire (captured by
// dumpcap on the client side, so the proof does not rely on rackboot's own
// word) is a bound lease for that MAC in the store.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { requireLab } from '../../helpers/env.js';
import { NetLab } from '../../helpers/netns.js';
import { NsRackboot } from '../../helpers/ns-server.js';
import { startDhcpLab, type DhcpLab } from './setup.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const LAB_NET = { name: 'lab', interface: 'eth1', cidr: '10.1.0.0/16', serverAddress: '10.1.0.1', dynamicRange: '10.1.1.0-10.1.255.254' };

function perfdhcpStats(out: string): { sent: number[]; received: number[]; drops: number[] } {
  const nums = (re: RegExp) => [...out.matchAll(re)].map((m) => Number(m[1]));
  return { sent: nums(/sent packets:\s*(\d+)/g), received: nums(/received packets:\s*(\d+)/g), drops: nums(/drops:\s*(\d+)/g) };
}

describe('dhcp: perfdhcp as a relay', () => {
  let L: DhcpLab | undefined;
  after(async () => {
    await L?.close();
  });

  it('1,000 relayed 4-way exchanges: all complete, each is a bound lease, unknown-MAC events are rate-limited', async (t) => {
    if (!requireLab(t, { root: true, commands: ['perfdhcp'] })) return;
    // perfdhcp's clients are all unknown MACs, at 500/s: past the default bound on replies to them (dhcp.unknownReplyRate).
    L = await startDhcpLab({ networks: [LAB_NET], dhcp: { enabled: true, unknownEventRate: 50, unknownReplyRate: 100_000 } }, [
      { srv: 'eth1', srvAddr: '10.1.0.1/16', cli: 'eth0', cliAddr: '10.1.0.2/16' },
    ]);
    const r = await L.lab.exec(L.cli, 'perfdhcp', ['-4', '-r', '500', '-n', '1000', '-R', '1000', '-l', 'eth0', '10.1.0.1'], { timeoutMs: 60_000 });
    const st = perfdhcpStats(r.stdout);
    assert.equal(st.sent[0], 1000, r.stdout + r.stderr);
    // A shared machine may lose a packet in the kernel; the exchanges rackboot saw all complete.
    assert.ok(st.received[1]! >= 990, `ACKs received: ${st.received[1]}\n${r.stdout}`);
    await L.dhcp.settle();
    const leases = await L.ts.api<Array<{ state: string; mac: string }>>('GET', '/api/v1/leases?network=lab&state=bound');
    assert.ok(leases.body.length >= st.received[1]!, `${leases.body.length} bound leases for ${st.received[1]} ACKs`);
    const metrics = await fetch(L.ts.url + '/metrics').then((x) => x.text());
    assert.match(metrics, /rackboot_dhcp_events_suppressed_total [1-9]\d*/);
  });
});

describe('dhcp: SIGKILL under load loses no acknowledged lease', () => {
  const lab = new NetLab('rbk');
  const work = mkdtempSync(join(tmpdir(), 'rackboot-dhcp-kill-'));
  let server: NsRackboot | undefined;
  after(async () => {
    await server?.stop();
    await lab.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('every ACK captured on the wire before the kill is a bound lease after the restart', async (t) => {
    if (!requireLab(t, { root: true, commands: ['perfdhcp', 'dumpcap', 'tshark'] })) return;
    const srv = lab.addNs('srv');
    const cli = lab.addNs('cli');
    lab.veth({ ns: srv, name: 'eth1', addr: '10.1.0.1/16' }, { ns: cli, name: 'eth0', addr: '10.1.0.2/16' });
    server = new NsRackboot(srv, join(work, 'rackboot'), {
      log: { level: 'info' },
      networks: [LAB_NET],
      dhcp: { enabled: true, unknownReplyRate: 100_000 },
      tftp: { enabled: false },
      nfs: { enabled: false },
      director: { enabled: false },
    });
    await server.start();

    const pcap = join(work, 'replies.pcap');
    const cap = lab.spawn(cli, 'dumpcap', ['-i', 'eth0', '-B', '16', '-f', 'udp src port 67 and src host 10.1.0.1', '-w', pcap], { stdio: ['ignore', 'ignore', 'pipe'] });
    let capErr = '';
    await new Promise<void>((resolve, reject) => {
      cap.stderr!.on('data', (d: Buffer) => ((capErr += d.toString()), /Capturing on/.test(capErr) && resolve()));
      cap.once('exit', () => reject(new Error(`dumpcap exited: ${capErr}`)));
    });

    const load = lab.exec(cli, 'perfdhcp', ['-4', '-r', '1500', '-R', '20000', '-p', '6', '-l', 'eth0', '10.1.0.1'], { timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 3000));
    await server.kill('SIGKILL');
    const killedAt = Date.now();
    const out = await load;
    const capGone = new Promise((r) => cap.once('exit', r));
    cap.kill('SIGTERM');
    await capGone;

    const acks = await lab.exec(cli, 'tshark', ['-r', pcap, '-Y', 'dhcp.option.dhcp == 5', '-T', 'fields', '-e', 'dhcp.ip.your', '-e', 'dhcp.hw.mac_addr', '-e', 'frame.time_epoch']);
    const acked = acks.stdout
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => l.split('\t') as [string, string, string]);
    assert.ok(acked.length > 500, `too few ACKs captured (${acked.length}) for the test to mean anything:\n${out.stdout}`);
    const last = Math.max(...acked.map((a) => Number(a[2]) * 1000));
    assert.ok(last <= killedAt + 50, 'ACKs after the kill? the capture is not what it seems');
    const perf = perfdhcpStats(out.stdout);
    assert.ok(perf.drops[0]! > 0, 'perfdhcp should have seen the server die mid-run');

    await server.start();
    const leases = await server.api.call<Array<{ ipv4: string; mac: string; state: string }>>('GET', '/leases?network=lab');
    const byIp = new Map(leases.map((l) => [l.ipv4, l]));
    const missing = acked.filter(([ip, mac]) => byIp.get(ip)?.mac !== mac || byIp.get(ip)?.state !== 'bound');
    console.log(`# ${acked.length} ACKs on the wire before SIGKILL, ${leases.length} leases after restart, ${missing.length} missing`);
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} acknowledged lease(s) lost`);
    assert.match(server.logText(), /loaded \d+ lease\(s\) from the store/);
  });
});
