import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../server/config/errors.js';
import { loadConfigFile, resolveConfig } from '../../server/main/config.js';
import { substituteEnv } from '../../server/config/load.js';
import { parseDuration } from '../../server/config/types.js';
import { formatAjvErrors } from '../../server/config/validate-schema.js';
import { tempDir } from '../helpers/tmp.js';
import { expectIssue, issues } from '../helpers/config-issues.js';

const net = { name: 'inside', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', router: '10.0.0.254', staticRange: '10.0.0.10-10.0.0.99' };


test('the shipped seed cluster is valid: 8 blades with eth0 and eth1', () => {
  const cfg = loadConfigFile(new URL('../../../examples/seed-cluster.yaml', import.meta.url).pathname, {});
  assert.equal(cfg.config.nodes.length, 8);
  for (const n of cfg.config.nodes) assert.deepEqual(n.interfaces.map((i) => i.name), ['eth0', 'eth1']);
  assert.equal(cfg.networks.length, 2);
});

test('empty config gets the defaults', () => {
  const cfg = resolveConfig({}, null, {});
  assert.equal(cfg.config.dhcp.port, 67);
  assert.equal(cfg.config.tftp.port, 69);
  // The served networks' addresses (and loopback), never the outside unless configured.
  assert.equal(cfg.config.api.listen, 'served:8080');
  assert.equal(cfg.config.tftp.address, 'served');
  assert.equal(cfg.config.store.driver, 'sqlite');
});

test('tftp.address and dhcp.relays name what is wrong', () => {
  expectIssue({ tftp: { address: 'everywhere' } }, 'tftp.address', /'everywhere' is not 'served'/);
  expectIssue({ dhcp: { relays: ['10.9.0.1', 'relay1'] } }, 'dhcp.relays[1]', /'relay1' is not an IPv4 address or a network/);
  expectIssue({ dhcp: { relays: ['10.9.0.1/16'] } }, 'dhcp.relays[0]', /host bits zero/);
});

test('unknown key is named with its path and a hint', () => {
  expectIssue({ networks: [{ ...net, cdir: 'x' }] }, 'networks[0].cdir', /unknown key \(did you mean 'cidr'\?\)/);
  expectIssue({ dhcp: { prot: 67 } }, 'dhcp.prot', /did you mean 'port'/);
  expectIssue({ clutser: {} }, 'clutser', /did you mean 'cluster'/);
});

test('bad CIDR, host bits, address outside the network, router outside', () => {
  expectIssue({ networks: [{ ...net, cidr: '10.0.0/24' }] }, 'networks[0].cidr', /not an IPv4 network/);
  expectIssue({ networks: [{ ...net, cidr: '10.0.0.1/24' }] }, 'networks[0].cidr', /host bits set; did you mean 10\.0\.0\.0\/24/);
  expectIssue({ networks: [{ ...net, serverAddress: '10.0.1.1' }] }, 'networks[0].serverAddress', /outside the network 10\.0\.0\.0\/24/);
  expectIssue({ networks: [{ ...net, router: '192.168.1.1' }] }, 'networks[0].router', /outside the network/);
  expectIssue({ networks: [{ ...net, serverAddress: '10.0.0.255' }] }, 'networks[0].serverAddress', /broadcast/);
});

test('ranges: overlap, outside, containing the server address', () => {
  expectIssue({ networks: [{ ...net, dynamicRange: '10.0.0.50-10.0.0.150' }] }, 'networks[0].dynamicRange', /overlaps staticRange/);
  expectIssue({ networks: [{ ...net, staticRange: '10.0.0.10-10.0.1.5' }] }, 'networks[0].staticRange', /not inside the hosts/);
  expectIssue({ networks: [{ ...net, staticRange: '10.0.0.1-10.0.0.9' }] }, 'networks[0].staticRange', /contains the serverAddress/);
  expectIssue({ networks: [{ ...net, staticRange: '10.0.0.30-10.0.0.20' }] }, 'networks[0].staticRange', /first <= last/);
});

test('overlapping networks and duplicate names', () => {
  const other = { name: 'inside', cidr: '10.0.0.0/16', serverAddress: '10.0.5.1' };
  const found = issues({ networks: [net, other] });
  assert.ok(found.some((i) => i.startsWith('networks[1].name')), found.join('\n'));
  assert.ok(found.some((i) => i.startsWith('networks[1].cidr') && /overlaps/.test(i)), found.join('\n'));
});

test('types and enums are named', () => {
  expectIssue({ dhcp: { port: 'sixty-seven' } }, 'dhcp.port', /must be integer/);
  expectIssue({ nfs: { backend: 'zfs' } }, 'nfs.backend', /not one of: auto, kernel, ganesha, none/);
  expectIssue({ api: { listen: 'localhost' } }, 'api.listen', /host:port/);
  expectIssue({ events: { retention: '3 weeks' } }, 'events.retention', /duration/);
  expectIssue({ networks: [{ cidr: '10.0.0.0/24' }] }, 'networks[0].name', /required/);
});

test('seed nodes: unknown network, bad MAC, duplicate MAC, address outside', () => {
  const node = (over: Record<string, unknown>) => ({ name: 'b1', interfaces: [{ name: 'eth0', mac: '52:54:00:00:00:01', network: 'inside', ...over }] });
  expectIssue({ networks: [net], nodes: [node({ network: 'nowhere' })] }, 'nodes[0].interfaces[0].network', /no network 'nowhere'/);
  expectIssue({ networks: [net], nodes: [node({ mac: 'nope' })] }, 'nodes[0].interfaces[0].mac', /not a MAC/);
  expectIssue({ networks: [net], nodes: [node({ ipv4: '10.9.9.9' })] }, 'nodes[0].interfaces[0].ipv4', /outside network 'inside'/);
  expectIssue(
    { networks: [net], nodes: [node({}), { ...node({ mac: '52-54-00-00-00-01' }), name: 'b2' }] },
    'nodes[1].interfaces[0].mac',
    /also nodes\[0\]/,
  );
  expectIssue({ networks: [net], nodes: [{ ...node({}), group: 'web' }] }, 'nodes[0].group', /no group 'web'/);
});

test('every problem is reported at once', () => {
  const found = issues({ networks: [{ ...net, router: '1.1.1.1', staticRange: 'x' }] });
  assert.ok(found.length >= 2, found.join('\n'));
});

// The example in docs/configuration.md: a typo in one network entry must not hide a problem in another.
const TWO_NETWORKS = `networks:
  - name: inside
    interface: eth1
    cdir: 10.0.0.0/24
    serverAddress: 10.0.0.1
  - name: storage
    interface: eth2
    cidr: 10.0.1.0/24
    serverAddress: 10.0.1.1
    staticRange: 10.0.1.1-10.0.1.20
`;

test('a structural problem in one network entry does not hide a semantic one in another', (t) => {
  const dir = tempDir(t, 'rbcfg-');
  const f = join(dir, 'site.yaml');
  writeFileSync(f, TWO_NETWORKS);
  assert.throws(
    () => loadConfigFile(f, {}),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.deepEqual(
        e.issues.map((i) => `${i.path}: ${i.message.split(';')[0]}`),
        ["networks[0].cidr: is required", "networks[0].cdir: unknown key (did you mean 'cidr'?)", 'networks[1].staticRange: 10.0.1.1-10.0.1.20 contains the serverAddress 10.0.1.1'],
      );
      return true;
    },
  );
});

test('semantic checks run on every part that passed the schema; references to a failed entry are not judged', () => {
  const typo = { name: 'inside', cdir: '10.0.0.0/24', serverAddress: '10.0.0.1' };
  const other = { name: 'storage', cidr: '10.0.1.0/24', serverAddress: '10.0.1.1', staticRange: '10.0.1.10-10.0.1.20' };
  const node = (name: string, network: string, mac: string) => ({ name, interfaces: [{ name: 'eth0', mac, network }] });
  const found = issues({
    networks: [typo, { ...other, leaseTime: '1s' }],
    nodes: [node('b1', 'inside', '52:54:00:00:00:01'), node('b2', 'nowhere', 'bad-mac'), { name: 'b3', interfaces: 'eth0' }],
    dhcp: { prot: 67 },
    images: { buildOnStart: ['no-such-recipe'] },
  });
  const paths = found.map((i) => i.split(': ')[0] ?? '');
  // Structural: the typo, a node's interfaces, a dhcp key.
  for (const p of ['networks[0].cidr', 'networks[0].cdir', 'nodes[2].interfaces', 'dhcp.prot']) assert.ok(paths.includes(p), `${p} missing:\n${found.join('\n')}`);
  // Semantic, in the parts that passed: the other network entry, the other nodes, the images section.
  for (const p of ['networks[1].leaseTime', 'nodes[1].interfaces[0].mac', 'nodes[1].interfaces[0].network', 'images.buildOnStart[0]']) assert.ok(paths.includes(p), `${p} missing:\n${found.join('\n')}`);
  // b1 uses the network with the typo: reporting "no network 'inside'" would repeat that problem.
  assert.ok(!paths.some((p) => p.startsWith('nodes[0]')), found.join('\n'));
  // An nfs export naming the network with the typo is not judged either (the nfs check waits for every network entry).
  assert.deepEqual(
    issues({ networks: [typo], nfs: { exports: [{ name: 'www', path: '/srv/www', networks: ['inside'] }] } }).map((i) => i.split(': ')[0]),
    ['networks[0].cidr', 'networks[0].cdir'],
  );
});

test("store.driver 'postgres' needs a URL (store.url or RACKBOOT_DATABASE_URL); no message repeats it", () => {
  expectIssue({ store: { driver: 'postgres' } }, 'store.url', /is required with store.driver 'postgres' \(or set the environment variable RACKBOOT_DATABASE_URL\)/);
  expectIssue({ store: { driver: 'mysql' } }, 'store.driver', /not one of: sqlite, postgres/);
  expectIssue({ store: { driver: 'postgres', url: 'mysql://u:s3cret@h/db' } }, 'store.url', /must start with postgres:\/\//);
  expectIssue({ store: { driver: 'postgres', url: 'postgres://u:s3cret@h' } }, 'store.url', /names no database/);
  expectIssue({ store: { driver: 'sqlite', url: 'postgres://u@h/db' } }, 'store.url', /only with store.driver 'postgres'/);
  assert.ok(!issues({ store: { driver: 'postgres', url: 'mysql://u:s3cret@h/db' } }).some((i) => i.includes('s3cret')));
  const fromEnv = resolveConfig({ store: { driver: 'postgres' }, server: { name: 'rack1' } }, null, { RACKBOOT_DATABASE_URL: 'postgres://rb:pw@db/rackboot' });
  assert.equal(fromEnv.databaseUrl, 'postgres://rb:pw@db/rackboot');
  assert.equal(fromEnv.serverName, 'rack1');
  assert.match(resolveConfig({}, null, {}).serverName, /^[A-Za-z0-9][A-Za-z0-9_.-]*$/);
  expectIssue({ server: { name: 'bad name' } }, 'server.name', /./);
});

test('YAML syntax errors give line and column; env substitution', (t) => {
  const dir = tempDir(t, 'rbcfg-');
  const f = join(dir, 'bad.yaml');
  writeFileSync(f, 'cluster:\n  name: x\n  name: y\n');
  assert.throws(() => loadConfigFile(f, {}), (e: unknown) => e instanceof ConfigError && /line 3/.test(e.message));
  assert.deepEqual(substituteEnv({ a: '${X}', b: ['${Y:-def}'], c: '$${X}' }, { X: 'x' }), { a: 'x', b: ['def'], c: '${X}' });
  const g = join(dir, 'env.yaml');
  writeFileSync(g, 'api:\n  token: ${TOK}\n');
  assert.equal(loadConfigFile(g, { TOK: 'secret' }).config.api.token, 'secret');
  assert.throws(() => loadConfigFile(join(dir, 'missing.yaml'), {}), /cannot read the file/);
});

test('durations', () => {
  assert.equal(parseDuration('2s'), 2000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration(3), 3000);
});

test('dhcp lease times: 60 s to 0xfffffffe s (a u32 count; 0xffffffff means infinite), dhcp and per network; offerTimeout 1 s to 10 min', () => {
  expectIssue({ dhcp: { leaseTime: 0 } }, 'dhcp.leaseTime', /lease time 0 is shorter than the minimum 60 s/);
  expectIssue({ dhcp: { leaseTime: '59s' } }, 'dhcp.leaseTime', /shorter than the minimum 60 s/);
  expectIssue({ dhcp: { leaseTime: 2 ** 32 } }, 'dhcp.leaseTime', /longer than the maximum 4294967294 s/);
  expectIssue({ dhcp: { leaseTime: '50000d' } }, 'dhcp.leaseTime', /longer than the maximum/);
  expectIssue({ networks: [net, { ...net, name: 'n2', cidr: '10.0.1.0/24', serverAddress: '10.0.1.1', router: undefined, staticRange: undefined, leaseTime: '0s' }] }, 'networks[1].leaseTime', /shorter than the minimum 60 s/);
  expectIssue({ dhcp: { offerTimeout: 0 } }, 'dhcp.offerTimeout', /offer timeout 0 is shorter than the minimum 1 s/);
  expectIssue({ dhcp: { offerTimeout: '1h' } }, 'dhcp.offerTimeout', /longer than the maximum 600 s/);
  // The bounds themselves are fine.
  assert.deepEqual(issues({ networks: [{ ...net, leaseTime: 0xfffffffe }], dhcp: { leaseTime: '60s', offerTimeout: '1s' } }), []);
  assert.deepEqual(issues({ dhcp: { leaseTime: '7d', offerTimeout: '10m' } }), []);
});

test('schema messages: an empty list where one item is needed says so in words', () => {
  const e = (data: unknown[], limit: number) => ({ keyword: 'minItems', instancePath: '/networks', schemaPath: '#/minItems', params: { limit }, data, message: `must NOT have fewer than ${limit} items` });
  assert.deepEqual(formatAjvErrors([e([], 1)], 'body'), [{ path: 'body.networks', message: 'must list at least one item' }]);
  assert.match(formatAjvErrors([e(['a'], 2)], 'body')[0]!.message, /must list at least 2 items/);
});

test('templates: a templates.dir that does not exist, and iPXE nodes or groups with httpBoot off, are config problems (not a server without boot configs)', () => {
  expectIssue({ templates: { dir: '/nonexistent/rackboot-templates' } }, 'templates.dir', /no such directory/);
  const ipxe = { templates: { httpBoot: false }, networks: [net], groups: [{ name: 'g', loader: 'ipxe' }], nodes: [{ name: 'b1', loader: 'ipxe', interfaces: [{ name: 'eth0', mac: '52:54:00:00:00:01', network: 'inside', ipv4: '10.0.0.11' }] }] };
  expectIssue(ipxe, 'groups[0].loader', /httpBoot is false/);
  expectIssue(ipxe, 'nodes[0].loader', /httpBoot is false/);
  // Renderer off: nothing to check; httpBoot on: fine.
  assert.deepEqual(issues({ templates: { enabled: false, dir: '/nonexistent/rackboot-templates' } }), []);
  assert.deepEqual(issues({ ...ipxe, templates: { httpBoot: true } }), []);
});
