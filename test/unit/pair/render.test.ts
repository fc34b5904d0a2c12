// The pair section resolved (floating addresses, one VRRP instance per
// interface, the peer's address on each), its config errors, and the
// keepalived.conf and conntrackd.conf rendered from it: the real keepalived
// -t accepts the VRRP config (in a namespace that has the interfaces and
// this node's addresses), the real conntrackd starts with its config and
// answers on its control socket.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../../../server/main/config.js';
import { formatIpv4, parseIpv4 } from '../../../server/net/ipv4.js';
import { conntrackdPaths, renderConntrackd } from '../../../server/pair/conntrackd-conf.js';
import { parseNotice, renderVrrp } from '../../../server/pair/vrrp-conf.js';
import { requireLab } from '../../helpers/env.js';
import { NetLab } from '../../helpers/netns.js';
import { waitUntil } from '../../helpers/wait.js';
import { PAIR_ADDR, pairSite } from './fixtures.js';
import { expectIssue, issues } from '../../helpers/config-issues.js';

const ip = (s: string) => parseIpv4(s)!;


describe('pair config', () => {
  test('a site resolves: what floats, one VRRP instance per interface, the peer address on each', () => {
    assert.deepEqual(issues(pairSite('a')), []);
    const p = resolveConfig(pairSite('a'), null, {}).resolved.pair;
    assert.equal(p.self, 'disk-a');
    assert.equal(p.peerName, 'disk-b');
    assert.deepEqual(
      p.links.map((l) => [l.name, l.interface, l.virtualRouterId, formatIpv4(l.peer), l.floating.map((f) => `${formatIpv4(f.address)}/${f.prefix}`)]),
      [
        ['rb_eth1', 'eth1', 51, PAIR_ADDR.inside.b, ['10.0.0.1/24', '10.0.0.254/24']],
        ['rb_eth2', 'eth2', 52, PAIR_ADDR.inside2.b, ['10.0.1.1/24']],
        ['rb_eth0', 'eth0', 53, PAIR_ADDR.outside.b, ['192.168.1.100/24']],
      ],
    );
    assert.deepEqual(p.floating.map((f) => f.role), ['the service address of network inside', 'the service address of network inside2', 'the NAT router', 'the VIP of service web']);
    assert.equal(p.advertMs, 200);
    assert.equal(p.database.mode, 'managed');
    assert.deepEqual(p.database.store, { host: '10.0.0.1', port: 5432, user: 'rackboot', password: undefined, database: 'rackboot' });
    assert.equal(p.conntrack.interface, 'eth0', "conntrackd's default link faces the peer's first address");
  });

  test('what floats can be chosen; extra addresses float too', () => {
    const p = resolveConfig(pairSite('a', { pair: { floating: { vips: false, extra: [{ address: '10.0.0.5/24', interface: 'eth1' }] } } }), null, {}).resolved.pair;
    assert.deepEqual(p.floating.map((f) => formatIpv4(f.address)), ['10.0.0.1', '10.0.1.1', '10.0.0.254', '10.0.0.5']);
    assert.deepEqual(p.links.map((l) => l.interface), ['eth1', 'eth2']);
  });

  test('errors name the key', () => {
    expectIssue(pairSite('a', { top: { store: { driver: 'sqlite' } } }), 'pair.enabled', /needs store.driver postgres/);
    expectIssue(pairSite('a', { top: { api: { token: '' } } }), 'pair.enabled', /needs api.token .* the same on both nodes/);
    expectIssue(pairSite('a', { pair: { peer: { addresses: ['10.0.0.3', '10.0.1.3'] } } }), 'pair.peer.name', /is required/);
    expectIssue(pairSite('a', { pair: { priority: 200 } }), 'pair.priority', /200 is above 154: the node holding the primary database gets \+100/);
    expectIssue(pairSite('a', { pair: { peer: { name: 'disk-a', addresses: ['10.0.0.3'] } } }), 'pair.peer.name', /this node's own server.name/);
    expectIssue(pairSite('a', { pair: { peer: { name: 'disk-b', addresses: ['10.0.0.3', '10.0.1.3'] } } }), 'pair.peer.addresses', /no address on interface eth0's network 192\.168\.1\.0\/24: VRRP needs .*\(eth0 carries the VIP of service web\)/);
    expectIssue(pairSite('a', { pair: { peer: { name: 'disk-b', addresses: ['10.0.0.3', '10.0.1.3', '192.168.1.300'] } } }), 'pair.peer.addresses[2]', /not an IPv4 address/);
    expectIssue(pairSite('a', { pair: { peer: { name: 'disk-b', addresses: ['10.0.0.254', '10.0.1.3', '192.168.1.3'] } } }), 'pair.peer.addresses', /10\.0\.0\.254 is a floating address/);
    expectIssue(pairSite('a', { top: { store: { driver: 'postgres', url: 'postgres://rackboot@10.0.0.2/rackboot' } } }), 'store.url', /must name a floating address/);
    expectIssue(pairSite('a', { top: { store: { driver: 'postgres', url: 'postgres://rackboot@10.0.0.1:5433/rackboot' } } }), 'store.url', /port 5433 is not pair.database.port 5432/);
    expectIssue(pairSite('a', { pair: { advertInterval: '15ms' } }), 'pair.advertInterval', /10ms to 255s in steps of 10ms/);
    expectIssue(pairSite('a', { pair: { virtualRouterId: 254 } }), 'pair.virtualRouterId', /goes past 255/);
    expectIssue(pairSite('a', { pair: { conntrack: { enabled: true, interface: 'eth7' } } }), 'pair.conntrack.interface', /'eth7' carries no floating address/);
    expectIssue(pairSite('a', { pair: { databse: {} } }), 'pair.databse', /unknown key \(did you mean 'database'\?\)/);
    // The site's own HA PostgreSQL: any URL.
    assert.deepEqual(issues(pairSite('a', { pair: { database: { mode: 'external' } }, top: { store: { driver: 'postgres', url: 'postgres://rackboot@db.example/rackboot' } } })), []);
    // Off: nothing is checked.
    assert.deepEqual(issues({ pair: { enabled: false, peer: { addresses: [] } } }), []);
  });
});

describe('keepalived notify FIFO lines', () => {
  test('instance and group states', () => {
    assert.deepEqual(parseNotice('INSTANCE "rb_eth1" MASTER 150'), { kind: 'instance', name: 'rb_eth1', state: 'master', priority: 150 });
    assert.deepEqual(parseNotice('GROUP "rackboot" BACKUP 0\n'), { kind: 'group', name: 'rackboot', state: 'backup', priority: 0 });
    assert.deepEqual(parseNotice('INSTANCE "x" FAULT 100'), { kind: 'instance', name: 'x', state: 'fault', priority: 100 });
    assert.equal(parseNotice('garbage'), undefined);
    assert.equal(parseNotice('INSTANCE x MASTER'), undefined);
  });
});

/** A namespace with eth0..eth2 (veth ends) carrying node a's own addresses, as the lab has them. */
function nodeNamespace(lab: NetLab): string {
  const ns = lab.addNs('n');
  const own = [`${PAIR_ADDR.outside.a}/24`, `${PAIR_ADDR.inside.a}/24`, `${PAIR_ADDR.inside2.a}/24`];
  own.forEach((addr, i) => {
    lab.execSync(ns, 'ip', ['link', 'add', `eth${i}`, 'type', 'veth', 'peer', 'name', `p${i}`]);
    lab.execSync(ns, 'ip', ['addr', 'add', addr, 'dev', `eth${i}`]);
    for (const l of [`eth${i}`, `p${i}`]) lab.execSync(ns, 'ip', ['link', 'set', l, 'up']);
  });
  return ns;
}

const ownAddresses = new Map([
  ['eth0', ip(PAIR_ADDR.outside.a)],
  ['eth1', ip(PAIR_ADDR.inside.a)],
  ['eth2', ip(PAIR_ADDR.inside2.a)],
]);

describe('rendered keepalived.conf (VRRP)', () => {
  const pair = resolveConfig(pairSite('a'), null, {}).resolved.pair;
  const text = renderVrrp({ pair, ownAddress: ownAddresses, fifo: '/run/rackboot/vrrp.fifo', primaryFile: '/run/rackboot/vrrp-primary' });

  test('one sync group, one nopreempt BACKUP instance per link, unicast to the peer, VRRPv3 sub-second adverts', () => {
    assert.match(text, /vrrp_sync_group rackboot \{\n {2}group \{\n {4}rb_eth1\n {4}rb_eth2\n {4}rb_eth0\n {2}\}\n {2}track_file \{\n {4}rb_primary weight 1\n {2}\}\n\}/);
    // The primary's bonus: a file rackboot writes, reset to 0 at each keepalived start.
    assert.match(text, /track_file rb_primary \{\n {2}file "\/run\/rackboot\/vrrp-primary"\n {2}weight 1\n {2}init_file 0 overwrite\n\}/);
    assert.match(text, /notify_fifo \/run\/rackboot\/vrrp\.fifo/);
    assert.match(text, /vrrp_version 3/);
    const eth1 = /vrrp_instance rb_eth1 \{[\s\S]*?\n\}/.exec(text)![0];
    assert.equal(
      eth1,
      [
        'vrrp_instance rb_eth1 {',
        '  state BACKUP',
        '  nopreempt',
        '  interface eth1',
        '  virtual_router_id 51',
        '  priority 150',
        '  advert_int 0.2',
        '  unicast_src_ip 10.0.0.2',
        '  unicast_peer {',
        '    10.0.0.3',
        '  }',
        '  virtual_ipaddress {',
        '    10.0.0.1/24 dev eth1',
        '    10.0.0.254/24 dev eth1',
        '  }',
        '}',
      ].join('\n'),
    );
    const one = renderVrrp({ pair: { ...pair, links: pair.links.slice(0, 1) }, ownAddress: ownAddresses, fifo: '/f', primaryFile: '/p' });
    assert.doesNotMatch(one, /vrrp_sync_group/, 'one instance: no sync group (keepalived warns about a group of one)');
    assert.match(one, / {2}track_file \{\n {4}rb_primary weight 1\n {2}\}\n\}/, 'one instance tracks the file itself');
  });

  test('accepted by keepalived -t where the interfaces exist; a broken one is refused', async (t) => {
    if (!requireLab(t, { root: true, commands: ['keepalived'] })) return;
    const lab = new NetLab('rbpk');
    const dir = mkdtempSync(join(tmpdir(), 'rb-pair-ka-'));
    try {
      const ns = nodeNamespace(lab);
      writeFileSync(join(dir, 'ok.conf'), text);
      const ok = lab.execSync(ns, 'keepalived', ['-t', '-f', join(dir, 'ok.conf')], { check: false });
      assert.equal(ok.code, 0, ok.stderr + ok.stdout);
      writeFileSync(join(dir, 'one.conf'), renderVrrp({ pair: { ...pair, links: pair.links.slice(0, 1) }, ownAddress: ownAddresses, fifo: join(dir, 'f'), primaryFile: join(dir, 'p') }));
      assert.equal(lab.execSync(ns, 'keepalived', ['-t', '-f', join(dir, 'one.conf')], { check: false }).code, 0);
      writeFileSync(join(dir, 'bad.conf'), text.replace('  nopreempt\n', '  nopreempt\n  bogus_keyword 1\n'));
      assert.notEqual(lab.execSync(ns, 'keepalived', ['-t', '-f', join(dir, 'bad.conf')], { check: false }).code, 0);
      writeFileSync(join(dir, 'noif.conf'), text.replaceAll('eth2', 'eth9'));
      assert.notEqual(lab.execSync(ns, 'keepalived', ['-t', '-f', join(dir, 'noif.conf')], { check: false }).code, 0, 'an interface this node lacks is refused');
    } finally {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rendered conntrackd.conf', () => {
  test('FTFW over unicast UDP, straight into the kernel table, the nodes\' own traffic ignored', () => {
    const text = renderConntrackd({ interface: 'eth1', own: ip('10.0.0.2'), peer: ip('10.0.0.3'), port: 3780, dir: '/d', ignore: [ip('10.0.0.2'), ip('10.0.0.1')], udp: false });
    assert.match(text, /Mode FTFW \{\n\t\tDisableExternalCache On\n\t\}/);
    assert.match(text, /IPv4_address 10\.0\.0\.2\n\t\tIPv4_Destination_Address 10\.0\.0\.3\n\t\tPort 3780\n\t\tInterface eth1/);
    assert.match(text, /Address Ignore \{\n\t\t\tIPv4_address 127\.0\.0\.1\n\t\t\tIPv4_address 10\.0\.0\.2\n\t\t\tIPv4_address 10\.0\.0\.1\n\t\t\}/);
    assert.match(text, /Protocol Accept \{\n\t\t\tTCP\n\t\t\}/);
    assert.match(renderConntrackd({ interface: 'eth1', own: 1, peer: 2, port: 1, dir: '/d', ignore: [], udp: true }), /TCP\n\t\t\tUDP/);
  });

  test('the real conntrackd starts with it and answers on its control socket; a broken one does not start', async (t) => {
    if (!requireLab(t, { root: true, commands: ['conntrackd'] })) return;
    const lab = new NetLab('rbpc');
    const dir = mkdtempSync(join(tmpdir(), 'rb-pair-ct-'));
    try {
      const ns = nodeNamespace(lab);
      const file = join(dir, 'conntrackd.conf');
      writeFileSync(file, renderConntrackd({ interface: 'eth1', own: ip(PAIR_ADDR.inside.a), peer: ip(PAIR_ADDR.inside.b), port: 3780, dir, ignore: [ip(PAIR_ADDR.inside.a)], udp: false }));
      const d = lab.spawn(ns, 'conntrackd', ['-C', file]);
      let out = '';
      d.stdout!.on('data', (b: Buffer) => (out += b.toString()));
      d.stderr!.on('data', (b: Buffer) => (out += b.toString()));
      const answered = await waitUntil(() => lab.execSync(ns, 'conntrackd', ['-C', file, '-s'], { check: false }).code === 0, 5000, 100);
      assert.ok(answered, `conntrackd answers -s on ${conntrackdPaths(dir).socket}: ${out}`);
      assert.match(lab.execSync(ns, 'conntrackd', ['-C', file, '-s']).stdout, /UDP traffic \(active device=eth1\)/);
      d.kill('SIGTERM');
      await new Promise((r) => d.once('exit', r));

      const bad = join(dir, 'bad.conf');
      writeFileSync(bad, readFileSync(file, 'utf8').replace('Mode FTFW {', 'Mode FTFW {\n\t\tBogusOption 1'));
      const b = spawn('ip', ['netns', 'exec', ns, 'conntrackd', '-C', bad], { stdio: 'ignore' });
      const code = await new Promise<number | null>((r) => b.once('exit', r));
      assert.notEqual(code, 0, 'a config conntrackd cannot parse stops it at once');
    } finally {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

