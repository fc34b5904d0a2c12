// Backend renderings: the nft ruleset, ipvsadm-save lines (golden) and the
// ipvs diff, keepalived.conf accepted by the real `keepalived -t`, and every
// nft variant accepted by the real nft inside a namespace.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { conntrackFlushArgs, renderNftables } from '../../../server/director/backends/nftables.js';
import { diffIpvs, parseIpvsadm, renderIpvsadm } from '../../../server/director/backends/ipvs.js';
import { KeepalivedBackend, renderKeepalived } from '../../../server/director/backends/keepalived.js';
import { CommandRunner } from '../../../server/director/exec.js';
import { silentLogger } from '../../../server/log.js';
import { spawnSync } from 'node:child_process';
import type { DesiredState } from '../../../server/director/desired.js';
import { resolveCheck } from '../../../server/director/model.js';
import { parseCidr, parseIpv4 } from '../../../server/net/ipv4.js';
import { requireLab } from '../../helpers/env.js';
import { NetLab, sh } from '../../helpers/netns.js';
import { tempDir } from '../../helpers/tmp.js';

const ip = (s: string) => parseIpv4(s)!;
const server = (n: number, weight: number, port = 80) => ({ name: `blade${n}`, node: `blade${n}`, address: ip(`10.0.0.1${n}`), port, weight });
const svc = (extra: Partial<DesiredState['services'][number]> = {}): DesiredState['services'][number] => ({
  name: 'web',
  vip: ip('192.168.1.100'),
  vipPrefix: 24,
  interface: 'eth0',
  port: 80,
  protocol: 'tcp',
  scheduler: 'wrr',
  persistenceSec: undefined,
  servers: [server(1, 2), server(2, 4), server(3, 2, 8080)],
  ...extra,
});
const state = (services: DesiredState['services'], masquerade: DesiredState['masquerade'] = 'auto'): DesiredState => ({ services, masquerade, inside: parseCidr('10.0.0.0/24') });

describe('nftables ruleset', () => {
  test('golden: weighted ranges (gcd-reduced), hairpin masquerade, empty pool refused', () => {
    const text = renderNftables(state([svc(), svc({ name: 'dns', protocol: 'udp', port: 53, servers: [] })]));
    assert.equal(
      text,
      [
        '# rackboot director: 2 virtual service(s); replaces table ip rackboot atomically',
        'table ip rackboot',
        'delete table ip rackboot',
        'table ip rackboot {',
        '\tchain services {',
        '\t\tip daddr 192.168.1.100 tcp dport 80 dnat ip addr . port to numgen inc mod 4 map { 0 : 10.0.0.11 . 80, 1-2 : 10.0.0.12 . 80, 3 : 10.0.0.13 . 8080 } comment "web"',
        '\t}',
        '',
        '\tchain prerouting {',
        '\t\ttype nat hook prerouting priority dstnat; policy accept;',
        '\t\tjump services',
        '\t}',
        '',
        '\tchain output {',
        '\t\ttype nat hook output priority -100; policy accept;',
        '\t\tjump services',
        '\t}',
        '',
        '\tchain postrouting {',
        '\t\ttype nat hook postrouting priority srcnat; policy accept;',
        '\t\tct status dnat ct original ip daddr { 192.168.1.100 } ip saddr 10.0.0.0/24 masquerade',
        '\t}',
        '',
        '\tchain input {',
        '\t\ttype filter hook input priority 0; policy accept;',
        '\t\tip daddr 192.168.1.100 udp dport 53 reject comment "dns: no real server (pool empty or all weight 0)"',
        '\t}',
        '}',
        '',
      ].join('\n'),
    );
  });

  test('rr ignores weights; sh and persistence hash the client address; weight 0 is left out; one server is a plain dnat', () => {
    assert.match(renderNftables(state([svc({ scheduler: 'rr' })])), /numgen inc mod 3 map \{ 0 : 10\.0\.0\.11 \. 80, 1 : 10\.0\.0\.12 \. 80, 2 : 10\.0\.0\.13 \. 8080 \}/);
    assert.match(renderNftables(state([svc({ scheduler: 'sh' })])), /jhash ip saddr mod 4 seed 0x[0-9a-f]+ map \{ 0 : /);
    assert.match(renderNftables(state([svc({ persistenceSec: 300 })])), /jhash ip saddr mod 4/);
    assert.match(renderNftables(state([svc({ servers: [server(1, 0), server(2, 3)] })])), /tcp dport 80 dnat to 10\.0\.0\.12:80 comment "web"/);
    assert.match(renderNftables(state([svc()], 'always')), /ct status dnat ct original ip daddr \{ 192\.168\.1\.100 \} masquerade/);
    assert.doesNotMatch(renderNftables(state([svc()], 'never')), /masquerade/);
  });

  test('a server leaving the pool (or set to weight 0): its half-open TCP handshakes and its UDP flows are flushed; kept servers are not', () => {
    const before = state([svc(), svc({ name: 'dns', protocol: 'udp', port: 53, servers: [server(1, 1, 53)] })]);
    const after = state([svc({ servers: [server(1, 0), server(3, 2, 8080)] }), svc({ name: 'dns', protocol: 'udp', port: 53, servers: [] })]);
    assert.deepEqual(conntrackFlushArgs(before, after), [
      ['-D', '-p', 'tcp', '--orig-dst', '192.168.1.100', '--orig-port-dst', '80', '--reply-src', '10.0.0.11', '--reply-port-src', '80', '--state', 'SYN_SENT'],
      ['-D', '-p', 'tcp', '--orig-dst', '192.168.1.100', '--orig-port-dst', '80', '--reply-src', '10.0.0.12', '--reply-port-src', '80', '--state', 'SYN_SENT'],
      ['-D', '-p', 'udp', '--orig-dst', '192.168.1.100', '--orig-port-dst', '53', '--reply-src', '10.0.0.11', '--reply-port-src', '53'],
    ]);
    assert.deepEqual(conntrackFlushArgs(after, after), []);
  });

  test('every variant is accepted by nft (applied in a namespace, twice: replace works)', async (t) => {
    if (!requireLab(t, { root: true, commands: ['nft'] })) return;
    const lab = new NetLab('rbn');
    const dir = tempDir(t, 'rb-nft-');
    try {
      const ns = lab.addNs('n');
      const variants = [
        state([svc(), svc({ name: 'dns', protocol: 'udp', port: 53, servers: [] })]),
        state([svc({ scheduler: 'sh' }), svc({ name: 'p', port: 443, persistenceSec: 60 })], 'always'),
        state([svc({ servers: [server(1, 1)] })], 'never'),
        state([]),
      ];
      for (const [i, v] of variants.entries()) {
        const file = join(dir, `r${i}.nft`);
        writeFileSync(file, renderNftables(v));
        lab.execSync(ns, 'nft', ['-f', file]);
        lab.execSync(ns, 'nft', ['-f', file]);
      }
      assert.match(lab.execSync(ns, 'nft', ['list', 'table', 'ip', 'rackboot']).stdout, /chain services/);
    } finally {
      await lab.cleanup();
    }
  });
});

describe('ipvs', () => {
  const desired = state([svc({ scheduler: 'wlc', persistenceSec: 300 }), svc({ name: 'dns', protocol: 'udp', port: 53, scheduler: 'rr', servers: [server(1, 1, 53)] })]);

  test('golden ipvsadm-save form', () => {
    assert.equal(
      renderIpvsadm(desired),
      [
        '-A -t 192.168.1.100:80 -s wlc -p 300',
        '-a -t 192.168.1.100:80 -r 10.0.0.11:80 -m -w 2',
        '-a -t 192.168.1.100:80 -r 10.0.0.12:80 -m -w 4',
        '-a -t 192.168.1.100:80 -r 10.0.0.13:8080 -m -w 2',
        '-A -u 192.168.1.100:53 -s rr',
        '-a -u 192.168.1.100:53 -r 10.0.0.11:53 -m -w 1',
        '',
      ].join('\n'),
    );
  });

  test('diff against ipvsadm -Sn: from empty, unchanged, changed, other services untouched', () => {
    assert.deepEqual(diffIpvs(parseIpvsadm(''), desired), renderIpvsadm(desired).trim().split('\n'));
    assert.deepEqual(diffIpvs(parseIpvsadm(renderIpvsadm(desired)), desired), []);
    const current = parseIpvsadm(
      [
        '-A -t 192.168.1.100:80 -s rr',
        '-a -t 192.168.1.100:80 -r 10.0.0.11:80 -m -w 1',
        '-a -t 192.168.1.100:80 -r 10.0.0.99:80 -m -w 1',
        '-a -t 192.168.1.100:80 -r 10.0.0.12:80 -m -w 4',
        '-A -t 172.16.0.1:22 -s rr',
        '-a -t 172.16.0.1:22 -r 172.16.0.2:22 -g -w 1',
      ].join('\n'),
    );
    assert.deepEqual(diffIpvs(current, state([svc({ scheduler: 'wlc', persistenceSec: 300 })])), [
      '-E -t 192.168.1.100:80 -s wlc -p 300',
      '-d -t 192.168.1.100:80 -r 10.0.0.99:80',
      '-e -t 192.168.1.100:80 -r 10.0.0.11:80 -m -w 2',
      '-a -t 192.168.1.100:80 -r 10.0.0.13:8080 -m -w 2',
    ]);
    // Dropping persistence cannot be done with -E: the service is recreated.
    assert.deepEqual(diffIpvs(parseIpvsadm('-A -t 192.168.1.100:80 -s wlc -p 300\n'), state([svc({ scheduler: 'wlc', servers: [] })])), [
      '-D -t 192.168.1.100:80',
      '-A -t 192.168.1.100:80 -s wlc',
    ]);
    // The table read from the kernel is not changed by diffing against it (a recreate used to empty its servers).
    const withServers = parseIpvsadm('-A -t 192.168.1.100:80 -s wlc -p 300\n-a -t 192.168.1.100:80 -r 10.0.0.11:80 -m -w 2\n');
    const noPersistence = state([svc({ scheduler: 'wlc' })]);
    const first = diffIpvs(withServers, noPersistence);
    assert.deepEqual(diffIpvs(withServers, noPersistence), first);
    assert.equal(withServers.reals.get('-t 192.168.1.100:80')!.size, 1);
  });
});

describe('keepalived', () => {
  const checks = new Map([
    ['web', resolveCheck({}, { path: '/health', expect: 200, interval: '2s', timeout: '500ms', retries: 3 }, 'tcp')],
    ['txt', resolveCheck({}, { path: '/', expect: 'Welcome (v1.0)', host: 'www.example.com', port: 8081 }, 'tcp')],
    ['ssh', resolveCheck({}, { type: 'tcp', interval: 5 }, 'tcp')],
  ]);
  const desired = state([svc({ scheduler: 'wlc', persistenceSec: 600 }), svc({ name: 'txt', port: 81 }), svc({ name: 'ssh', port: 22, scheduler: 'sh', servers: [server(1, 1, 22)] })]);
  const text = renderKeepalived(desired, checks, 'rackboot_cgws');

  test('virtual_server / real_server, lb_kind NAT, HTTP_GET with path and status, TCP_CHECK', () => {
    assert.match(text, /virtual_server 192\.168\.1\.100 80 \{\n {2}delay_loop 2\n {2}lb_algo wlc\n {2}lb_kind NAT\n {2}protocol TCP\n {2}persistence_timeout 600\n/);
    assert.match(text, /real_server 10\.0\.0\.12 80 \{\n {4}weight 4\n {4}HTTP_GET \{\n {6}url \{\n {8}path \/health\n {8}status_code 200\n {6}\}\n {6}connect_timeout 0\.5\n {6}retry 2\n {6}delay_before_retry 2\n {4}\}/);
    assert.match(text, /regex "Welcome \\\\\(v1\\\\\.0\\\\\)"/);
    assert.match(text, /virtualhost www\.example\.com/);
    assert.match(text, /connect_port 8081/);
    assert.match(text, /TCP_CHECK \{\n {6}connect_timeout 1\n {6}retry 2\n {6}delay_before_retry 5\n/);
  });

  test('external mode: a stale pid file is named ("pid N from FILE is not running"), not a raw kill ESRCH', async (t) => {
    const dir = tempDir(t, 'rb-ka-stale-');
    // A pid that just exited and was reaped: nothing runs under it now.
    const gone = spawnSync('true').pid;
    const pidFile = join(dir, 'keepalived.pid');
    writeFileSync(pidFile, `${gone}\n`);
    // `true -t -f FILE` stands in for keepalived's config test (this test is about the signal).
    const b = new KeepalivedBackend(new CommandRunner(), { mode: 'external', command: 'true', configFile: join(dir, 'keepalived.conf'), pidFile, routerId: 'rb' }, checks, silentLogger());
    await assert.rejects(b.apply(desired), (e: Error) => {
      assert.equal(e.message, `keepalived pid ${gone} from ${pidFile} is not running; start keepalived, or set director.keepalived.mode: managed`);
      return true;
    });
    await assert.rejects(b.stop(false), /is not running/);
  });

  test('accepted by keepalived -t; a broken one is refused', (t) => {
    if (!requireLab(t, { root: false, commands: ['keepalived'] })) return;
    const dir = tempDir(t, 'rb-ka-');
    writeFileSync(join(dir, 'ok.conf'), text);
    const ok = sh('keepalived', ['-t', '-f', join(dir, 'ok.conf')], { check: false });
    assert.equal(ok.code, 0, ok.stderr);
    writeFileSync(join(dir, 'bad.conf'), text.replace('lb_kind NAT', 'lb_kind NAT\n  bogus_keyword 1'));
    assert.notEqual(sh('keepalived', ['-t', '-f', join(dir, 'bad.conf')], { check: false }).code, 0);
  });
});
