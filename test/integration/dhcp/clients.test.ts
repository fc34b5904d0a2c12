// Real DHCP clients (busybox udhcpc, ISC dhclient) against rackboot's DHCP
// in network namespaces: registered addresses and boot information, a blade
// with two NICs on two networks, NAK through INIT-REBOOT, RELEASE, DECLINE
// after an ARP conflict, unknown MACs ignored, discovery.
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { requireLab } from '../../helpers/env.js';
import { loadUdpBatch } from '../../../server/net/udp-batch.js';
import { eventsOf, INSIDE, INSIDE2, readEnvFile, startDhcpLab, udhcpc, udhcpcScript, type DhcpLab } from './setup.js';

const BLADE1 = { name: 'blade1', group: 'web', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0a:01', network: 'inside', ipv4: '10.0.0.11' }, { name: 'eth1', mac: '52:54:00:00:0b:01', network: 'inside2', ipv4: '10.0.1.11' }] };

interface LeaseOut {
  network: string;
  ipv4: string;
  mac: string;
  state: string;
  node: string | null;
}

// The suite runs on each datagram path this build has: batched (recvmmsg/sendmmsg, the udp_batch addon) and Node's dgram.
const IO_PATHS: Array<'batch' | 'node'> = loadUdpBatch() ? ['batch', 'node'] : ['node'];
for (const io of IO_PATHS) bladeSuite(io);

function bladeSuite(io: 'batch' | 'node'): void {
  describe(`dhcp: a blade with two NICs, udhcpc and dhclient (dhcp.io ${io})`, () => {
    let L: DhcpLab | undefined;
    after(async () => {
      await L?.close();
    });

    it("each NIC gets its own registered address, mask, router, domain, DNS, hostname and next-server; an OS's client (udhcpc) no boot file", async (t) => {
      if (!requireLab(t, { root: true, commands: ['udhcpc', 'dhclient'] })) return;
      L = await startDhcpLab(
        {
          cluster: { name: 'cgws', domain: 'cluster.local', vars: {} },
          networks: [{ ...INSIDE, ntp: ['10.0.0.1'] }, INSIDE2],
          dhcp: { enabled: true, io },
          groups: [{ name: 'web', loader: 'pxelinux' }],
          nodes: [BLADE1],
        },
        [
          { srv: 'eth1', srvAddr: '10.0.0.1/24', cli: 'eth0', mac: '52:54:00:00:0a:01' },
          { srv: 'eth2', srvAddr: '10.0.1.1/24', cli: 'eth1', mac: '52:54:00:00:0b:01' },
        ],
      );
      const health = await L.ts.api<{ services: Record<string, { detail: string }> }>('GET', '/healthz', undefined, null);
      assert.match(health.body.services.dhcp!.detail, io === 'batch' ? /eth1 \(batched\), eth2 \(batched\)/ : /eth1 \(dgram\), eth2 \(dgram\)/);
      const [a, b] = await Promise.all([udhcpc(L, L.cli, 'eth0', ['-O', 'ntpsrv']), udhcpc(L, L.cli, 'eth1')]);
      assert.ok(a.env, `eth0 got no lease:\n${a.output}`);
      assert.ok(b.env, `eth1 got no lease:\n${b.output}`);
      assert.equal(a.env.ip, '10.0.0.11');
      assert.equal(a.env.subnet, '255.255.255.0');
      assert.equal(a.env.router, '10.0.0.254');
      assert.equal(a.env.domain, 'inside.example');
      assert.equal(a.env.dns?.trim(), '10.0.0.1 10.0.0.2');
      assert.equal(a.env.ntpsrv?.trim(), '10.0.0.1');
      assert.equal(a.env.hostname, 'blade1');
      assert.equal(a.env.siaddr, '10.0.0.1');
      assert.equal(a.env.serverid, '10.0.0.1');
      assert.equal(a.env.boot_file, undefined, "udhcpc is the OS's client: it gets no boot file");
      assert.equal(a.env.lease, '3600');
      // The other NIC, the other network: its own address, the cluster domain.
      assert.equal(b.env.ip, '10.0.1.11');
      assert.equal(b.env.router, '10.0.1.254');
      assert.equal(b.env.domain, 'cluster.local');
      assert.equal(b.env.siaddr, '10.0.1.1');
      assert.equal(b.env.serverid, '10.0.1.1');

      const ev = await eventsOf(L.ts, { node: 'blade1' });
      // A set: udhcpc resends its REQUEST if an ACK is late (1 s), and that is answered too.
      // The events say who asked, and no boot file (none was handed out).
      const acks = [...new Set(ev.filter((e) => e.kind === 'dhcp.ack').map((e) => JSON.stringify([e.detail.interface, e.detail.address, e.detail.client, e.detail.bootFile ?? null, e.detail.firmware ?? null])))].map((j) => JSON.parse(j) as unknown);
      assert.deepEqual(acks.sort(), [
        ['eth1', '10.0.0.11', 'os', null, null],
        ['eth2', '10.0.1.11', 'os', null, null],
      ]);
      assert.ok(ev.some((e) => e.kind === 'dhcp.offer' && e.detail.request === 'discover'));
      const leases = await L.ts.api<LeaseOut[]>('GET', '/api/v1/leases');
      assert.deepEqual(leases.body.map((l) => [l.network, l.ipv4, l.state, l.node]), [
        ['inside', '10.0.0.11', 'bound', 'blade1'],
        ['inside2', '10.0.1.11', 'bound', 'blade1'],
      ]);
      const metrics = await fetch(L.ts.url + '/metrics').then((r) => r.text());
      const acked = Number(/rackboot_dhcp_packets_total\{type="request",result="ack"\} (\d+)/.exec(metrics)?.[1]);
      assert.ok(acked >= 2, `request/ack counted ${acked}`);
    });

    it('a PXE client running iPXE on an ipxe node gets its script URL; a pxelinux node gets pxelinux.0 plus 209/210', async (t) => {
      if (!L) return t.skip('needs the first test');
      const pxe = ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000', '-x', '0x4d:69505845', '-O', '209', '-O', '210', '-O', '43', '-O', '60'];
      const p = await udhcpc(L, L.cli, 'eth0', pxe);
      assert.equal(p.env?.boot_file, 'pxelinux.0');
      // udhcpc's names for 209/210/60; 43 as hex: PXE_DISCOVERY_CONTROL = 8 (use the boot file given).
      assert.equal(p.env?.pxeconffile, 'pxelinux.cfg/01-52-54-00-00-0a-01');
      assert.equal(p.env?.pxepathprefix, '/');
      assert.equal(p.env?.opt43, '060108ff');
      assert.equal(p.env?.vendor, 'PXEClient');
      // Switch the node to iPXE through the API: the registry index follows at once.
      assert.equal((await L.ts.api('PATCH', '/api/v1/nodes/blade1', { loader: 'ipxe' })).status, 200);
      const i = await udhcpc(L, L.cli, 'eth0', pxe);
      assert.match(i.env?.boot_file ?? '', /^http:\/\/10\.0\.0\.1(:\d+)?\/boot\/ipxe\/52:54:00:00:0a:01$/);
      // Not iPXE yet (a plain PXE ROM): the iPXE loader over TFTP first.
      const rom = await udhcpc(L, L.cli, 'eth0', ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000']);
      assert.equal(rom.env?.boot_file, 'undionly.kpxe');
      await L.ts.api('PATCH', '/api/v1/nodes/blade1', { loader: 'pxelinux' });
    });

    it('dhclient: its INIT-REBOOT for a stale address is NAKed, then it gets the registered one; the lease file has every field (no boot file: the OS asks)', async (t) => {
      if (!L) return t.skip('needs the first test');
      const lf = join(L.tmp, 'dhclient.leases');
      const pf = join(L.tmp, 'dhclient.pid');
      // A remembered lease for an address that is not the blade's: dhclient starts in INIT-REBOOT.
      writeFileSync(
        lf,
        `lease {\n  interface "eth0";\n  fixed-address 10.0.0.99;\n  option subnet-mask 255.255.255.0;\n  option dhcp-server-identifier 10.0.0.1;\n  renew 4 2099/01/01 00:00:00;\n  rebind 4 2099/01/01 00:00:00;\n  expire 4 2099/01/01 00:00:00;\n}\n`,
      );
      const envFile = join(L.tmp, 'dhclient.env');
      const script = join(L.tmp, 'dhclient.sh');
      writeFileSync(script, `#!/bin/sh\ncase "$reason" in BOUND|REBOOT) env > "${envFile}" ;; esac\nexit 0\n`, { mode: 0o755 });
      const child = L.lab.spawn(L.cli, 'dhclient', ['-4', '-d', '-1', '-v', '-lf', lf, '-pf', pf, '-sf', script, 'eth0'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let out = '';
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && !/fixed-address 10\.0\.0\.11;/.test(existsSync(lf) ? readFileSync(lf, 'utf8') : '')) await new Promise((r) => setTimeout(r, 200));
      child.kill('SIGTERM');
      const leases = readFileSync(lf, 'utf8');
      const last = leases.slice(leases.lastIndexOf('lease {'));
      assert.match(last, /fixed-address 10\.0\.0\.11;/, `dhclient output:\n${out}\nleases:\n${leases}`);
      assert.match(last, /option subnet-mask 255\.255\.255\.0;/);
      assert.match(last, /option routers 10\.0\.0\.254;/);
      assert.match(last, /option domain-name "inside\.example";/);
      assert.match(last, /option domain-name-servers 10\.0\.0\.1,10\.0\.0\.2;/);
      assert.match(last, /option host-name "blade1";/);
      // dhclient is the OS's client: no boot file in its lease.
      assert.doesNotMatch(last, /filename /);
      // dhclient keeps siaddr out of its lease file; its script sees it.
      const env = readFileSync(envFile, 'utf8');
      assert.match(env, /^new_next_server='?10\.0\.0\.1'?$/m, env);
      assert.match(out, /DHCPNAK/);
      const ev = await eventsOf(L.ts, { node: 'blade1' });
      const nak = ev.find((e) => e.kind === 'dhcp.nak');
      assert.ok(nak, `no dhcp.nak in ${ev.map((e) => e.kind).join(', ')}`);
      assert.match(String(nak.detail.reason), /init-reboot: 10\.0\.0\.99 is not the address registered/);
    });

    it('udhcpc -R releases on exit: the lease is marked released', async (t) => {
      if (!L) return t.skip('needs the first test');
      // udhcpc -q exits before it counts as bound, so -R only releases when it is stopped once bound.
      const { script, out } = udhcpcScript(L.tmp);
      const child = L.lab.spawn(L.cli, 'udhcpc', ['-i', 'eth1', '-f', '-R', '-t', '8', '-T', '1', '-A', '1', '-s', script], { stdio: ['ignore', 'ignore', 'ignore'] });
      for (let i = 0; i < 100 && !existsSync(out); i++) await new Promise((res) => setTimeout(res, 100));
      assert.equal(readEnvFile(out).ip, '10.0.1.11');
      const exited = new Promise((res) => child.once('exit', res));
      child.kill('SIGTERM');
      await exited;
      // The RELEASE is fire-and-forget: give the server a moment to write it.
      let state = '';
      for (let i = 0; i < 40 && state !== 'released'; i++) {
        await L.dhcp.settle();
        const leases = await L.ts.api<LeaseOut[]>('GET', '/api/v1/leases?network=inside2');
        state = leases.body[0]?.state ?? '';
        if (state !== 'released') await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(state, 'released');
      const ev = await eventsOf(L.ts, { node: 'blade1' });
      assert.ok(ev.some((e) => e.kind === 'dhcp.released' && e.detail.address === '10.0.1.11'));
    });
  });
}

describe('dhcp: unknown MACs, dynamic range, DECLINE, discovery', () => {
  let L: DhcpLab | undefined;
  after(async () => {
    await L?.close();
  });

  it('an unknown MAC is ignored where there is no dynamic range (udhcpc times out), and recorded by MAC', async (t) => {
    if (!requireLab(t, { root: true, commands: ['udhcpc'] })) return;
    // eth1: a bridge in the server namespace with the blade port and a squatter that holds 10.0.0.200.
    L = await startDhcpLab(
      {
        networks: [{ ...INSIDE, interface: 'br1', dynamicRange: '10.0.0.200-10.0.0.210' }, INSIDE2],
        dhcp: { enabled: true, discovery: true },
      },
      [{ srv: 'eth2', srvAddr: '10.0.1.1/24', cli: 'eth1', mac: '02:00:00:00:00:42' }],
      (lab, srv, cli) => {
        lab.bridge(srv, 'br1', '10.0.0.1/24');
        lab.veth({ ns: srv, name: 'p-cli' }, { ns: cli, name: 'eth0', mac: '02:00:00:00:00:41' });
        lab.enslave(srv, 'p-cli', 'br1');
        const squat = lab.addNs('squat');
        lab.veth({ ns: srv, name: 'p-squat' }, { ns: squat, name: 'eth0', addr: '10.0.0.200/24' });
        lab.enslave(srv, 'p-squat', 'br1');
      },
    );
    const r = await udhcpc(L, L.cli, 'eth1', [], 2);
    assert.equal(r.env, undefined, 'an unknown MAC must get nothing on inside2');
    const ev = await eventsOf(L.ts, { mac: '02:00:00:00:00:42' });
    assert.ok(ev.length > 0 && ev.every((e) => e.node === null && e.kind === 'dhcp.ignored'));
    assert.match(String(ev[0]!.detail.reason), /unknown MAC/);
  });

  it('a dynamic client gets a plain lease, its ARP check finds the address in use and declines it; the declined one stays out until an operator clears it', async (t) => {
    if (!L) return t.skip('needs the first test');
    const r = await udhcpc(L, L.cli, 'eth0', ['-a1000']);
    assert.ok(r.env, `no lease:\n${r.output}`);
    // udhcpc checks after the ACK: 10.0.0.200 was bound (a plain lease) and, with discovery on,
    // the MAC registered as a node meanwhile; after the DECLINE it gets that node's address.
    assert.match(r.output, /lease of 10\.0\.0\.200 obtained/);
    assert.match(r.output, /address is in use \(got ARP reply\), declining/);
    assert.equal(r.env.ip, '10.0.0.10', r.output);
    await L.dhcp.settle();
    const declined = await L.ts.api<LeaseOut[]>('GET', '/api/v1/leases?network=inside&state=declined');
    assert.deepEqual(declined.body.map((l) => [l.ipv4, l.mac]), [['10.0.0.200', '02:00:00:00:00:41']]);
    const ev = await eventsOf(L.ts, { mac: '02:00:00:00:00:41' });
    assert.ok(ev.some((e) => e.kind === 'dhcp.declined' && e.detail.address === '10.0.0.200'));
    // The operator frees it; a bad address or network is refused with a reason.
    assert.equal((await L.ts.api('DELETE', '/api/v1/leases/inside/10.0.0.300')).status, 400);
    assert.equal((await L.ts.api('DELETE', '/api/v1/leases/nowhere/10.0.0.200')).status, 404);
    assert.equal((await L.ts.api('DELETE', '/api/v1/leases/inside/10.0.0.200')).status, 204);
    const cleared = (await eventsOf(L.ts, { mac: '02:00:00:00:00:41' })).find((e) => e.kind === 'dhcp.lease-cleared');
    assert.deepEqual(cleared?.detail, { network: 'inside', address: '10.0.0.200' }, 'the clearing is on the MAC history, after its decline');
    assert.equal((await L.ts.api<LeaseOut[]>('GET', '/api/v1/leases?network=inside&state=declined')).body.length, 0);
  });

  it('discovery: the dynamic client was registered as a discovered node; its next boot gets the registered address', async (t) => {
    if (!L) return t.skip('needs the first test');
    const node = await L.ts.api<{ name: string; discovered: boolean; group: string | null; interfaces: Array<{ mac: string; ipv4: string; network: string }> }>(
      'GET',
      '/api/v1/nodes/discovered-020000000041',
    );
    assert.equal(node.status, 200, JSON.stringify(node.body));
    assert.equal(node.body.discovered, true);
    assert.equal(node.body.group, null);
    assert.equal(node.body.interfaces[0]!.network, 'inside');
    const registered = node.body.interfaces[0]!.ipv4;
    assert.equal(registered, '10.0.0.10');
    const ev = await eventsOf(L.ts, { node: 'discovered-020000000041' });
    assert.ok(ev.some((e) => e.kind === 'dhcp.discovered'));
    // Its firmware's next boot: the registered address, and its node's loader (the default).
    const again = await udhcpc(L, L.cli, 'eth0', ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000']);
    assert.equal(again.env?.ip, registered);
    assert.equal(again.env?.hostname, 'discovered-020000000041');
    assert.equal(again.env?.boot_file, 'pxelinux.0');
  });
});

describe('dhcp: unknown machines boot the default config (dhcp.discovery off)', () => {
  let L: DhcpLab | undefined;
  after(async () => {
    await L?.close();
  });

  it("an unknown machine's PXE firmware gets the default loader (no per-MAC config named); an OS's client on the same range gets a plain lease", async (t) => {
    if (!requireLab(t, { root: true, commands: ['udhcpc'] })) return;
    L = await startDhcpLab({ networks: [{ ...INSIDE, dynamicRange: '10.0.0.200-10.0.0.210' }], dhcp: { enabled: true } }, [{ srv: 'eth1', srvAddr: '10.0.0.1/24', cli: 'eth0', mac: '02:00:00:00:00:43' }]);
    const pxe = await udhcpc(L, L.cli, 'eth0', ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-O', '209', '-O', '210']);
    assert.ok(pxe.env, `no lease:\n${pxe.output}`);
    assert.equal(pxe.env.boot_file, 'pxelinux.0');
    assert.equal(pxe.env.siaddr, '10.0.0.1');
    assert.equal(pxe.env.pxeconffile, undefined, 'no option 209: PXELINUX walks to its default config');
    assert.equal(pxe.env.hostname, undefined);
    assert.match(pxe.env.ip ?? '', /^10\.0\.0\.2(0\d|10)$/);
    // Another machine rackboot has never seen, as an operating system asks.
    L.lab.execSync(L.cli, 'ip', ['link', 'set', 'eth0', 'address', '02:00:00:00:00:44']);
    const os = await udhcpc(L, L.cli, 'eth0');
    assert.ok(os.env, `no lease:\n${os.output}`);
    assert.equal(os.env.boot_file, undefined, 'an OS client gets no boot file');
    const offers = (await eventsOf(L.ts, { mac: '02:00:00:00:00:43' })).filter((e) => e.kind === 'dhcp.offer');
    assert.ok(offers.some((e) => e.detail.bootFile === 'pxelinux.0'), JSON.stringify(offers));
    assert.equal((await L.ts.api<unknown[]>('GET', '/api/v1/nodes')).body.length, 0, 'nothing registered');
  });
});

describe('dhcp: dhclient in INIT-REBOOT, with and without a record', () => {
  let L: DhcpLab | undefined;
  after(async () => {
    await L?.close();
  });

  /** dhclient -1 on `iface` starting from a remembered lease of `addr` (so INIT-REBOOT first); its log after `ms`, its exit, or once the log matches `until`. */
  async function dhclientFrom(iface: string, addr: string, ms: number, until?: RegExp): Promise<{ out: string; leases: string }> {
    const lf = join(L!.tmp, `reboot-${iface}.leases`);
    const conf = join(L!.tmp, `reboot-${iface}.conf`);
    // Three seconds of INIT-REBOOT, then INIT (DISCOVER).
    writeFileSync(conf, 'reboot 3;\ntimeout 30;\ninitial-interval 1;\n');
    writeFileSync(lf, `lease {\n  interface "${iface}";\n  fixed-address ${addr};\n  option subnet-mask 255.255.255.0;\n  renew 4 2099/01/01 00:00:00;\n  rebind 4 2099/01/01 00:00:00;\n  expire 4 2099/01/01 00:00:00;\n}\n`);
    const script = join(L!.tmp, 'true.sh');
    writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const child = L!.lab.spawn(L!.cli, 'dhclient', ['-4', '-d', '-1', '-v', '-cf', conf, '-lf', lf, '-pf', join(L!.tmp, `reboot-${iface}.pid`), '-sf', script, iface], { stdio: ['ignore', 'ignore', 'pipe'] });
    let out = '';
    let matched: () => void = () => undefined;
    const seen = new Promise<void>((r) => (matched = r));
    child.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
      if (until?.test(out)) matched();
    });
    const exited = new Promise((r) => child.once('exit', r));
    await Promise.race([exited, seen, new Promise((r) => setTimeout(r, ms))]);
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    return { out, leases: readFileSync(lf, 'utf8') };
  }

  it('no record: silence, not an ACK (dynamic range) nor a NAK (a LAN without one); a MAC registered elsewhere: NAK', async (t) => {
    if (!requireLab(t, { root: true, commands: ['dhclient'] })) return;
    // inside (dynamic range) on bridge br1 with two client ports; inside2 (no dynamic range) on eth2.
    L = await startDhcpLab(
      {
        networks: [{ ...INSIDE, interface: 'br1', dynamicRange: '10.0.0.200-10.0.0.210' }, INSIDE2],
        dhcp: { enabled: true, discovery: true },
        nodes: [{ name: 'blade2', interfaces: [{ name: 'eth1', mac: '52:54:00:00:0b:02', network: 'inside2', ipv4: '10.0.1.12' }] }],
      },
      [{ srv: 'eth2', srvAddr: '10.0.1.1/24', cli: 'eth1', mac: '02:00:00:00:00:52' }],
      (lab, srv, cli) => {
        lab.bridge(srv, 'br1', '10.0.0.1/24');
        lab.veth({ ns: srv, name: 'p-a' }, { ns: cli, name: 'eth0', mac: '02:00:00:00:00:51' });
        lab.enslave(srv, 'p-a', 'br1');
        // blade2's inside2 NIC, cabled to the inside LAN by mistake.
        lab.veth({ ns: srv, name: 'p-c' }, { ns: cli, name: 'eth2', mac: '52:54:00:00:0b:02' });
        lab.enslave(srv, 'p-c', 'br1');
      },
    );
    const [dyn, closed, moved] = await Promise.all([dhclientFrom('eth0', '10.0.0.205', 15_000, /bound to/), dhclientFrom('eth1', '192.168.7.7', 8_000), dhclientFrom('eth2', '10.0.1.12', 8_000)]);

    // Unknown MAC, dynamic range, INIT-REBOOT for a free address rackboot never leased: no answer,
    // so dhclient falls back to DISCOVER and gets an address the ordinary way.
    assert.doesNotMatch(dyn.out, /DHCPNAK/, dyn.out);
    assert.match(dyn.out, /DHCPDISCOVER[\s\S]*DHCPOFFER[\s\S]*DHCPACK/, dyn.out);
    const dynEv = await eventsOf(L.ts, { mac: '02:00:00:00:00:51' });
    assert.ok(dynEv.some((e) => e.kind === 'dhcp.ignored' && /init-reboot: no record of this client/.test(String(e.detail.reason))), JSON.stringify(dynEv));
    // Oldest first: the silence, then an offer, then the first ACK.
    const firstAck = dynEv.findIndex((e) => e.kind === 'dhcp.ack');
    const before = dynEv.slice(0, firstAck).map((e) => e.kind);
    assert.ok(firstAck > 0 && before[0] === 'dhcp.ignored' && before.includes('dhcp.offer'), JSON.stringify(dynEv.map((e) => [e.kind, e.detail.reason])));

    // Unknown MAC where there is no dynamic range: nothing at all, whatever it asks.
    assert.doesNotMatch(closed.out, /DHCPNAK|DHCPOFFER|DHCPACK/, closed.out);
    const closedEv = await eventsOf(L.ts, { mac: '02:00:00:00:00:52' });
    assert.ok(closedEv.some((e) => e.detail.request === 'request' && /unknown MAC/.test(String(e.detail.reason))), JSON.stringify(closedEv));

    // A registered NIC on the wrong LAN: its INIT-REBOOT gets a NAK, and its timeline says why.
    assert.match(moved.out, /DHCPNAK/, moved.out);
    assert.doesNotMatch(moved.out, /DHCPACK/, moved.out);
    const movedEv = await eventsOf(L.ts, { node: 'blade2' });
    const nak = movedEv.find((e) => e.kind === 'dhcp.nak');
    assert.match(String(nak?.detail.reason), /init-reboot: 10\.0\.1\.12 is not on network 'inside'.*registered on network 'inside2'/);
  });
});
