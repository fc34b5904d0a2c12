// Real clients against rackboot's DHCP, inside network namespaces.
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { requireLab } from '../../helpers/env.js';
import { INSIDE, readEnvFile, startDhcpLab, udhcpcScript, type DhcpLab } from './setup.js';

describe('dhcp with udhcpc', () => {
  let L: DhcpLab | undefined;
  after(async () => {
    await L?.close();
  });

  it('gives a registered MAC its address, mask, router, domain, DNS, hostname, next-server and boot file', async (t) => {
    if (!requireLab(t, { root: true, commands: ['udhcpc'] })) return;
    L = await startDhcpLab(
      {
        networks: [INSIDE],
        dhcp: { enabled: true },
        groups: [{ name: 'web', loader: 'pxelinux' }],
        nodes: [{ name: 'blade1', group: 'web', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0a:01', network: 'inside', ipv4: '10.0.0.11' }] }],
      },
      [{ srv: 'eth1', srvAddr: '10.0.0.1/24', cli: 'eth0', mac: '52:54:00:00:0a:01' }],
    );
    const { script, out } = udhcpcScript(L.tmp);
    const r = await L.lab.exec(L.cli, 'udhcpc', ['-i', 'eth0', '-f', '-q', '-n', '-t', '4', '-T', '1', '-s', script, '-O', 'bootfile'], { timeoutMs: 20_000 });
    assert.ok(existsSync(out), `udhcpc got no lease: ${r.stdout}${r.stderr}`);
    const env = readEnvFile(out);
    assert.equal(env.ip, '10.0.0.11');
    assert.equal(env.subnet, '255.255.255.0');
    assert.equal(env.router, '10.0.0.254');
    assert.equal(env.domain, 'inside.example');
    assert.equal(env.dns?.trim(), '10.0.0.1 10.0.0.2');
    assert.equal(env.hostname, 'blade1');
    assert.equal(env.siaddr, '10.0.0.1');
    assert.equal(env.serverid, '10.0.0.1');
    assert.equal(env.boot_file, 'pxelinux.0');
    assert.equal(env.lease, '3600');
    await L.ts.server.events.flush();
    const ev = await L.ts.api<Array<{ kind: string; detail: Record<string, unknown> }>>('GET', '/api/v1/nodes/blade1/events');
    const kinds = ev.body.map((e) => e.kind);
    assert.ok(kinds.includes('dhcp.offer') && kinds.includes('dhcp.ack'), `events: ${kinds.join(', ')}`);
    const ack = ev.body.find((e) => e.kind === 'dhcp.ack')!;
    assert.equal(ack.detail.interface, 'eth1');
    assert.equal(ack.detail.address, '10.0.0.11');
    assert.equal(ack.detail.bootFile, 'pxelinux.0');
    const leases = await L.ts.api<Array<{ ipv4: string; state: string; node: string }>>('GET', '/api/v1/leases?network=inside');
    assert.deepEqual(leases.body.map((l) => [l.ipv4, l.state, l.node]), [['10.0.0.11', 'bound', 'blade1']]);
  });
});
