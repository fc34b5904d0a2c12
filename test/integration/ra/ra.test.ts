// Router advertisements for real: `rackboot serve` in a namespace answers the
// router solicitations of rdisc6 (package ndisc6) on the other end of a veth
// with an advertisement that announces nothing (router lifetime 0, no
// prefix, no flags); with dhcp.routerAdvertisements false it stays silent.
// The QEMU side (iPXE's IPv6 wait ending at once) is in the lab tests.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labLacks, requireLab } from '../../helpers/env.js';
import { NetLab, sh } from '../../helpers/netns.js';
import { NsRackboot } from '../../helpers/ns-server.js';
import { loadIcmp6 } from '../../../server/ra/responder.js';

const BLADE_MAC = '52:54:00:00:0a:01';

function config(ra: boolean): Record<string, unknown> {
  return {
    cluster: { name: 'ra', domain: 'cluster.local', vars: {} },
    networks: [{ name: 'inside', interface: 'eth1', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', staticRange: '10.0.0.10-10.0.0.99' }],
    dhcp: { enabled: true, routerAdvertisements: ra },
    tftp: { enabled: false },
    images: { enabled: false },
    nfs: { enabled: false },
    director: { enabled: false },
    nodes: [{ name: 'blade1', interfaces: [{ name: 'eth0', mac: BLADE_MAC, network: 'inside', ipv4: '10.0.0.11' }] }],
  };
}

describe('router advertisements on a boot network (rdisc6 in a namespace)', () => {
  let lab: NetLab | undefined;
  let tmp: string;
  let srv: string;
  let host: string;
  let rb: NsRackboot | undefined;
  const lacks = labLacks({ root: true, commands: ['rdisc6'] });

  before(() => {
    if (lacks) return;
    tmp = mkdtempSync(join(tmpdir(), 'rackboot-ra-'));
    lab = new NetLab('rbra');
    srv = lab.addNs('srv');
    host = lab.addNs('host');
    // No duplicate address detection: link-local addresses are usable at once.
    for (const ns of [srv, host]) sh('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.default.accept_dad=0', 'net.ipv6.conf.all.accept_dad=0']);
    lab.veth({ ns: srv, name: 'eth1', addr: '10.0.0.1/24' }, { ns: host, name: 'eth0', mac: BLADE_MAC });
  });
  after(async () => {
    await rb?.stop();
    await lab?.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const rdisc6 = () => lab!.exec(host, 'rdisc6', ['-1', '-w', '1500', '-r', '2', 'eth0'], { timeoutMs: 20_000 });

  test('answers a solicitation with an advertisement that announces nothing; on the timeline of the MAC that asked', async (t) => {
    if (!requireLab(t, { root: true, commands: ['rdisc6'] })) return;
    if (!loadIcmp6()) {
      if (process.env.CI) assert.fail('the icmp6 addon did not load in CI');
      return void t.skip('the icmp6 addon is not built here');
    }
    rb = new NsRackboot(srv, join(tmp, 'on'), config(true));
    await rb.start();
    try {
      await answered(rb);
    } finally {
      await rb.stop();
    }
  });

  async function answered(rb: NsRackboot): Promise<void> {
    const r = await rdisc6();
    assert.equal(r.code, 0, `rdisc6 got no advertisement: ${r.stdout}${r.stderr}\n${rb.logText().slice(-1500)}`);
    // rdisc6 prints the advertisement's fields.
    assert.match(r.stdout, /Router lifetime\s*:\s*0 \(0x0+\) seconds/);
    assert.match(r.stdout, /Stateful address conf\.\s*:\s*No/);
    assert.match(r.stdout, /Stateful other conf\.\s*:\s*No/);
    assert.match(r.stdout, /Hop limit\s*:\s*undefined/);
    assert.doesNotMatch(r.stdout, /Prefix\s*:/);
    assert.match(r.stdout, /from fe80::/);
    const health = (await rb.api.raw<{ services: Record<string, { detail?: string }> }>('GET', '/healthz')).body;
    assert.match(health.services.ra?.detail ?? '', /eth1: [1-9]\d* answered/);
    // rdisc6's solicitation names its MAC: the answer is on blade1's timeline.
    let ev: Array<{ kind: string; detail: Record<string, unknown> }> = [];
    for (let i = 0; i < 50 && !ev.length; i++) {
      if (i) await new Promise((res) => setTimeout(res, 100));
      ev = await rb.api.call('GET', '/nodes/blade1/events?kind=ra.sent');
    }
    assert.equal(ev[0]?.detail.interface, 'eth1', JSON.stringify(ev));
  }

  test('dhcp.routerAdvertisements false: no answer', async (t) => {
    if (!requireLab(t, { root: true, commands: ['rdisc6'] })) return;
    rb = new NsRackboot(srv, join(tmp, 'off'), config(false));
    await rb.start();
    try {
      const r = await rdisc6();
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(r.stdout + r.stderr, /No response/i);
      const health = (await rb.api.raw<{ services: Record<string, unknown> }>('GET', '/healthz')).body;
      assert.equal(health.services.ra, undefined);
    } finally {
      await rb.stop();
    }
  });
});
