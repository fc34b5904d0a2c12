// `rackboot import lvs.cf`: piranha files (fixtures written from the piranha
// docs' sample and real-world files) become a config that loads, and every
// setting that could not be carried over is listed with its line.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import YAML from 'yaml';
import { importLvsCf, importToYaml } from '../../../server/director/lvscf/convert.js';
import { parseLvsCf } from '../../../server/director/lvscf/parse.js';
import { resolveConfig } from '../../../server/main/config.js';
import { parseConfigText } from '../../../server/config/load.js';
import { tempDir } from '../../helpers/tmp.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const fixture = (name: string) => readFileSync(join(root, 'test/unit/director/fixtures', name), 'utf8');
const CLI = join(root, 'dist/server/cli/main.js');

describe('lvs.cf parser', () => {
  test('globals, virtual and server blocks, quoted values with their escapes kept, comments', () => {
    const p = parseLvsCf(fixture('paper-nat.cf'));
    assert.deepEqual(p.errors, []);
    assert.equal(p.globals.get('nat_router')?.value, '10.0.0.254 eth1:1');
    assert.equal(p.virtuals.length, 1);
    assert.equal(p.virtuals[0]!.keys.get('send')?.value, 'GET / HTTP/1.0\\r\\n\\r\\n');
    assert.deepEqual(p.virtuals[0]!.servers.map((s) => s.name), ['blade1', 'blade2', 'blade3', 'blade4']);
  });

  test('broken input: every problem with its line, no exception', () => {
    const r = importLvsCf(fixture('broken.cf'));
    assert.deepEqual(r.errors.slice(0, 4), [
      "line 7: cannot read 'what is this line' (expected key = value, 'virtual NAME {', 'server NAME {' or '}')",
      "line 16: '}' without an open block",
      'line 19: unterminated quoted value for send',
      "line 17: virtual open is never closed with '}'",
    ]);
    assert.ok(r.errors.some((e) => /line 3: nat_router = not-an-address/.test(e)));
    assert.ok(r.errors.some((e) => /line 6: virtual web: port = eighty/.test(e)));
    for (const junk of ['', '}}}}', '\u0000\u0001binary', 'virtual {', 'x'.repeat(100_000)]) importLvsCf(junk);
  });
});

describe('lvs.cf -> rackboot config', () => {
  test('the paper-style NAT file: NAT router, network, VIP, scheduler, persistence, nanny check, weights, ports', () => {
    const r = importLvsCf(fixture('paper-nat.cf'));
    assert.deepEqual(r.errors, []);
    const yaml = importToYaml(r, 'paper-nat.cf');
    const cfg = resolveConfig(parseConfigText(yaml, null), null, {});
    const d = cfg.resolved.director;
    assert.equal(d.backend, 'ipvs');
    assert.deepEqual(cfg.config.director.natRouter, { interface: 'eth1', address: '10.0.0.254/24' });
    assert.deepEqual(cfg.config.networks[0], { name: 'nat', interface: 'eth1', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', router: '10.0.0.254' });
    const s = d.services[0]!;
    assert.equal(s.scheduler, 'wlc');
    assert.equal(s.persistenceSec, 300);
    assert.equal(s.interface, 'eth0');
    assert.equal(s.vipPrefix, 24);
    assert.deepEqual(s.check, { type: 'http', path: '/', host: undefined, port: undefined, expect: 'HTTP', timeoutMs: 2000, intervalMs: 2000, retries: 3, reentryMs: 15000 });
    assert.deepEqual(cfg.config.director.services[0]!.realServers.static, [
      { name: 'blade1', address: '10.0.0.11' },
      { name: 'blade2', address: '10.0.0.12', weight: 2 },
      { name: 'blade3', address: '10.0.0.13', port: 8080 },
    ]);
    assert.ok(r.notes.some((n) => /line 48: virtual web, server blade4 is inactive/.test(n)));
    assert.ok(r.notes.some((n) => /heartbeat.*primary\/backup pair/.test(n)));
    assert.match(yaml, /^# Not carried over:$/m);
  });

  test('a direct-routing file with everything piranha had: what it cannot carry over is listed', () => {
    const r = importLvsCf(fixture('mixed.cf'), { backend: 'nftables' });
    assert.deepEqual(r.errors, []);
    const cfg = resolveConfig(parseConfigText(importToYaml(r, 'mixed.cf'), null), null, {});
    const dir = cfg.config.director;
    assert.equal(dir.masquerade, 'always');
    assert.deepEqual(dir.services.map((s) => [s.name, s.scheduler, s.protocol ?? 'tcp', s.check?.type ?? 'http']), [
      ['LVS-HTTP', 'wrr', 'tcp', 'http'],
      ['smtp', 'rr', 'tcp', 'tcp'],
      ['dns', 'rr', 'udp', 'none'],
    ]);
    assert.equal(dir.services[0]!.check!.host, 'www.example.com');
    assert.equal(dir.services[0]!.check!.expect, 'I am alive');
    assert.equal(dir.services[0]!.check!.retries, 5);
    const text = r.notes.join('\n');
    for (const what of [/failover ftp/, /network = direct/, /the pair is written with enabled: false/, /frobnicate/, /lblc/, /use_regex/, /load_monitor = uptime/, /quiesce_server/, /sorry_server/, /name changed to 'Web_1'/, /HELO/, /fwmark/, /virtual off is inactive/]) {
      assert.match(text, what);
    }
  });

  test('a primary/backup pair (backup_active, backup, heartbeat, keepalive, deadtime) becomes the pair section', () => {
    const r = importLvsCf(fixture('pair.cf'));
    assert.deepEqual(r.errors, []);
    const cfg = resolveConfig(parseConfigText(importToYaml(r, 'pair.cf'), null), null, { RACKBOOT_API_TOKEN: 't' });
    const p = cfg.config.pair;
    assert.equal(p.enabled, true);
    assert.deepEqual(p.peer, { name: 'backup', addresses: ['192.168.1.2', '10.0.0.2'] });
    assert.equal(p.priority, 150);
    assert.deepEqual(p.floating, { serviceAddresses: false });
    assert.equal(cfg.config.server.name, 'primary');
    // The database follows the master: the store names the NAT router, which floats.
    assert.equal(cfg.config.store.driver, 'postgres');
    assert.equal(cfg.config.store.url, 'postgres://rackboot@10.0.0.254/rackboot');
    const text = r.notes.join('\n');
    assert.doesNotMatch(text, /not carried over: this file has no active backup/);
    assert.match(text, /deadtime seconds.*pair\.advertInterval: 6s keeps pulse's timing/);
    assert.match(text, /heartbeat_port = 539: VRRP is IP protocol 112/);
    assert.match(text, /the backup director's config: .*pair\.peer \{ name: primary, addresses: \[192\.168\.1\.1, 10\.0\.0\.1\] \}, pair\.priority 100/);
  });

  test('a backup whose addresses are on none of a floating address\'s networks: the pair is written disabled, saying why', () => {
    const r = importLvsCf(fixture('mixed.cf'), { backend: 'nftables' });
    assert.deepEqual(r.errors, []);
    const cfg = resolveConfig(parseConfigText(importToYaml(r, 'mixed.cf'), null), null, {});
    assert.equal(cfg.config.pair.enabled, false);
    assert.equal(cfg.config.store.driver, 'sqlite');
    assert.match(r.notes.join('\n'), /the pair is written with enabled: false: interface eth0 \(172\.16\.0\.1\/32.*give vip_nmask the real netmask/);
  });

  test('a key given twice is a note (the later value wins, as piranha read it), not an error', () => {
    const text = ['service = lvs', 'nat_router = 10.0.0.254 eth1', 'virtual web {', '  address = 192.168.1.100 eth0', '  port = 80', '  port = 8080', '  server a {', '    address = 10.0.0.11', '  }', '}'].join('\n');
    const r = importLvsCf(text);
    assert.deepEqual(r.errors, []);
    assert.ok(r.notes.includes('line 6: port is given twice (also line 5): the later value "8080" wins'), r.notes.join('\n'));
    const yaml = importToYaml(r, 'twice.cf');
    assert.match(yaml, /^# {3}- line 6: port is given twice/m);
    assert.equal(resolveConfig(parseConfigText(yaml, null), null, {}).config.director.services[0]!.port, 8080);
  });

  test('values the config would refuse are errors naming the lvs.cf line and key, never "does not validate"', () => {
    const file = (virtual: string[], server: string[] = [], globals = 'nat_router = 10.0.0.254 eth1') =>
      [globals, 'virtual web {', '  address = 192.168.1.100 eth0', ...virtual.map((l) => `  ${l}`), '  server a {', '    address = 10.0.0.11', ...server.map((l) => `    ${l}`), '  }', '}'].join('\n');
    assert.deepEqual(importLvsCf(file(['port = 0'])).errors, ['line 4: virtual web: port = 0 is not a port number (1-65535)']);
    assert.deepEqual(importLvsCf(file([], ['port = 0'])).errors, ['line 6: virtual web, server a: port = 0 is not a port number (1-65535)']);
    assert.deepEqual(importLvsCf(file(['port = 65536'])).errors, ['line 4: virtual web: port = 65536 is not a port number (1-65535)']);
    assert.match(importLvsCf(file([], [], 'nat_router = 10.0.0.254 averyveryverylongdevicename')).errors.join(), /^line 1: nat_router = .*device 'averyveryverylongdevicename' is longer than Linux's 15 characters$/);
    assert.deepEqual(importLvsCf(file([], [], 'nat_router = 192.168.1.100 eth1')).errors, ['line 3: virtual web: address 192.168.1.100 is also the nat_router address (line 1): a VIP must be another address']);
    const twice = file([]) + '\nvirtual web2 {\n  address = 192.168.1.100 eth0:2\n  server b {\n    address = 10.0.0.12\n  }\n}';
    assert.deepEqual(importLvsCf(twice).errors, ['line 8: virtual web2: tcp/192.168.1.100:80 is also virtual web (line 2): one virtual server per address, port and protocol']);
    // A long piranha timeout checks less often instead of exceeding the retries limit (100).
    const long = importLvsCf(file(['timeout = 1000']));
    assert.deepEqual(long.errors, []);
    const check = resolveConfig(parseConfigText(importToYaml(long, 'long.cf'), null), null, {}).config.director.services[0]!.check!;
    assert.deepEqual([check.interval, check.retries], ['10s', 100]);
  });

  test('rackboot import lvs.cf: YAML on stdout or a file, notes on stderr, errors exit 1 and write nothing', (t) => {
    const dir = tempDir(t, 'rb-import-');
    const out = join(dir, 'site.yaml');
    const ok = spawnSync(process.execPath, [CLI, 'import', 'lvs.cf', join(root, 'test/unit/director/fixtures/paper-nat.cf'), '-o', out], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stderr, /not carried over \(\d+\)/);
    assert.equal((YAML.parse(readFileSync(out, 'utf8')) as { director: { services: unknown[] } }).director.services.length, 1);
    const check = spawnSync(process.execPath, [CLI, 'config', 'check', '--config', out], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
    const bad = spawnSync(process.execPath, [CLI, 'import', 'lvs.cf', join(root, 'test/unit/director/fixtures/broken.cf')], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /6 problem\(s\), nothing written/);
    assert.equal(bad.stdout, '');
    const missing = spawnSync(process.execPath, [CLI, 'import', 'lvs.cf', join(dir, 'nope.cf')], { encoding: 'utf8' });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /cannot read/);
  });
});
