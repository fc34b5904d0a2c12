// The director section: defaults, schedulers per backend, the NAT-router setup
// tip as a config error, real-server candidates from the registry.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../../server/main/config.js';
import { ConfigError } from '../../../server/config/errors.js';
import { realServerCandidates } from '../../../server/director/realservers.js';
import { desiredState } from '../../../server/director/desired.js';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { seedDirectorNodes } from '../../../server/director/config-check.js';
import { rackbootConfig } from '../../lab/rackboot.js';
import { bladeAddr } from '../../lab/topology.js';

const NETWORKS = [
  { name: 'inside', interface: 'eth1', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', router: '10.0.0.254', staticRange: '10.0.0.10-10.0.0.199' },
  { name: 'inside2', interface: 'eth2', cidr: '10.0.1.0/24', serverAddress: '10.0.1.1', router: '10.0.1.1', staticRange: '10.0.1.10-10.0.1.199' },
];
const blade = (n: number, network = 'inside', vars?: Record<string, unknown>) => ({
  name: `blade${n}`,
  group: 'web',
  ...(vars ? { vars } : {}),
  interfaces: [{ name: 'eth0', mac: `52:54:00:00:0a:0${n}`, network, ipv4: `10.0.${network === 'inside' ? 0 : 1}.1${n}` }],
});
const service = (extra: Record<string, unknown> = {}) => ({ name: 'web', vip: '192.168.1.100/24', interface: 'eth0', port: 80, realServers: { group: 'web', port: 80 }, ...extra });
const cfg = (director: Record<string, unknown>, nodes: unknown[] = [blade(1), blade(2)]) =>
  resolveConfig({ networks: NETWORKS, groups: [{ name: 'web', vars: { weight: 2 } }], nodes, director }, 'test.yaml', {});
const issues = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  return [];
};

describe('director config', () => {
  test('the seed cluster is valid with the director enabled (its blades have eth1 on inside2, which hands out no router)', () => {
    const file = fileURLToPath(new URL('../../../../examples/seed-cluster.yaml', import.meta.url));
    const raw = YAML.parse(readFileSync(file, 'utf8')) as { director: { enabled: boolean }; nodes: unknown[] };
    raw.director.enabled = true;
    // resolveConfig runs CONFIG_CHECKS, the setup tip among them, on the seed nodes.
    const c = resolveConfig(raw, file, {});
    assert.ok(raw.nodes.length > 0);
    const d = c.resolved.director;
    assert.equal(d.services[0]!.check.intervalMs, 2000);
    assert.equal(d.services[0]!.check.retries, 3);
    assert.deepEqual(realServerCandidates(d, c.networks, seedDirectorNodes(c)).filter((x) => x.excluded).map((x) => x.excluded), []);
  });

  test("the lab's config and its two-NIC blades pass the setup tip", () => {
    const c = resolveConfig(rackbootConfig({ workDir: '/tmp/rb-unused', token: 't'.repeat(32) }), 'lab.yaml', {});
    const d = c.resolved.director;
    assert.equal(d.enabled, true);
    const nodes = [0, 1, 2].map((i) => {
      const b = bladeAddr(i);
      return {
        name: b.name,
        group: 'web',
        interfaces: [{ name: 'eth0', network: 'inside', ipv4: b.ipv4[0] }, { name: 'eth1', network: 'inside2', ipv4: b.ipv4[1] }],
        vars: {},
      };
    });
    assert.deepEqual(realServerCandidates(d, c.networks, nodes).map((x) => x.excluded ?? null), [null, null, null]);
  });

  test('lc/wlc on nftables are refused naming the backends that can', () => {
    const found = issues(() => cfg({ enabled: true, natRouter: { interface: 'eth1', address: '10.0.0.254/24' }, services: [service({ scheduler: 'wlc' })] }));
    assert.equal(found.length, 1);
    assert.equal(found[0]!.path, 'director.services[0].scheduler');
    assert.match(found[0]!.message, /'wlc'.*nftables.*ipvs or keepalived/);
    assert.deepEqual(issues(() => cfg({ enabled: true, backend: 'ipvs', natRouter: { interface: 'eth1', address: '10.0.0.254/24' }, services: [service({ scheduler: 'wlc' })] })), []);
  });

  test("setup tip: a real server whose network's router is not the NAT router is a config error naming network and node", () => {
    const found = issues(() =>
      cfg(
        { enabled: true, natRouter: { interface: 'eth1', address: '10.0.1.254/24' }, services: [service({ realServers: { group: 'web', port: 80, network: 'inside2' } })] },
        [blade(1, 'inside2')],
      ),
    );
    assert.equal(found.length, 1);
    assert.equal(found[0]!.path, 'director.services[0].realServers');
    assert.match(found[0]!.message, /blade1.*network 'inside2'.*router 10\.0\.1\.1 is not the NAT router 10\.0\.1\.254/);
    // Disabled: not checked (the blades are not behind this director).
    assert.deepEqual(issues(() => cfg({ enabled: false, natRouter: { interface: 'eth1', address: '10.0.1.254/24' }, services: [service({ realServers: { group: 'web', port: 80, network: 'inside2' } })] }, [blade(1, 'inside2')])), []);
  });

  test("setup tip: another interface on a network whose router is not the NAT router is a config error naming network and node", () => {
    const twoNics = (router: string | undefined) => {
      const networks = [NETWORKS[0]!, { ...NETWORKS[1]!, router }];
      return resolveConfig(
        {
          networks,
          groups: [{ name: 'web' }],
          nodes: [
            {
              name: 'blade1',
              group: 'web',
              interfaces: [
                { name: 'eth0', mac: '52:54:00:00:0a:01', network: 'inside', ipv4: '10.0.0.11' },
                { name: 'eth1', mac: '52:54:00:00:0b:01', network: 'inside2', ipv4: '10.0.1.11' },
              ],
            },
          ],
          director: { enabled: true, natRouter: { interface: 'eth1', address: '10.0.0.254/24' }, services: [service()] },
        },
        'test.yaml',
        {},
      );
    };
    const found = issues(() => twoNics('10.0.1.1'));
    assert.equal(found.length, 1);
    assert.equal(found[0]!.path, 'director.services[0].realServers');
    assert.match(found[0]!.message, /real server blade1 also has eth1 on network 'inside2', whose router 10\.0\.1\.1 is not the NAT router 10\.0\.0\.254.*second default gateway/);
    // A network without a router adds no default route: fine.
    assert.deepEqual(issues(() => twoNics(undefined)), []);
    // Registered through the API (not in the seed): kept out of the pool with the same reason.
    const c = twoNics(undefined);
    const d = c.resolved.director;
    const withRouter = resolveConfig({ networks: NETWORKS }, 'n.yaml', {}).networks;
    const node = { name: 'blade9', group: 'web', interfaces: [{ name: 'eth0', network: 'inside', ipv4: '10.0.0.19' }, { name: 'eth1', network: 'inside2', ipv4: '10.0.1.19' }], vars: {} };
    const [cand] = realServerCandidates(d, withRouter, [node]).filter((x) => x.name === 'blade9');
    assert.match(cand!.excluded ?? '', /blade9 also has eth1 on network 'inside2'/);
    // masquerade: always brings replies back through the director whatever the gateway.
    assert.equal(realServerCandidates({ ...d, masquerade: 'always' }, withRouter, [node]).find((x) => x.name === 'blade9')!.excluded, undefined);
  });

  test('other section errors: VIP, duplicate endpoint, missing NAT router, unknown network, http check on udp', () => {
    const found = issues(() =>
      cfg({
        enabled: true,
        services: [
          service({ vip: '192.168.1.300/24' }),
          service({ name: 'b', realServers: { group: 'web', port: 80, network: 'nope' } }),
          service({ name: 'c' }),
          service({ name: 'd', protocol: 'udp', port: 53, check: { type: 'http' } }),
        ],
      }),
    ).map((i) => `${i.path}: ${i.message}`);
    assert.ok(found.some((m) => m.startsWith('director.services[0].vip:')));
    assert.ok(found.some((m) => m.startsWith('director.services[1].realServers.network: no network')));
    assert.ok(found.some((m) => m.startsWith("director.services[2].port: tcp/192.168.1.100:80 is also service 'b'")));
    assert.ok(found.some((m) => m.startsWith('director.services[3].check.type:')));
    assert.ok(found.some((m) => m.startsWith('director.natRouter: is required')));
  });

  test('keepRulesOnStop with a managed keepalived is refused (its child stops with rackboot), allowed with an external one', () => {
    const base = { enabled: true, backend: 'keepalived', keepRulesOnStop: true, natRouter: { interface: 'eth1', address: '10.0.0.254/24' }, services: [service()] };
    const found = issues(() => cfg(base));
    assert.equal(found.length, 1);
    assert.equal(found[0]!.path, 'director.keepRulesOnStop');
    assert.match(found[0]!.message, /managed keepalived.*mode: external/);
    assert.deepEqual(issues(() => cfg({ ...base, keepalived: { mode: 'external' } })), []);
    assert.deepEqual(issues(() => cfg({ ...base, keepRulesOnStop: false })), []);
  });

  test('an unknown key is named', () => {
    const found = issues(() => cfg({ enabled: true, natRouter: { interface: 'eth1', address: '10.0.0.254/24' }, services: [service({ schedular: 'rr' })] }));
    assert.match(found[0]!.message, /unknown key \(did you mean 'scheduler'\?\)/);
  });
});

describe('real servers and desired state', () => {
  const c = cfg({
    enabled: true,
    natRouter: { interface: 'eth1', address: '10.0.0.254/24' },
    services: [service({ realServers: { group: 'web', nodes: ['ghost'], port: 8080, static: [{ name: 'legacy', address: '10.0.0.200', weight: 5 }] } })],
  });
  const d = c.resolved.director;
  const nodes = [
    { name: 'blade1', group: 'web', interfaces: [{ name: 'eth0', network: 'inside', ipv4: '10.0.0.11' }], vars: { weight: 3 } },
    { name: 'blade2', group: 'web', interfaces: [{ name: 'eth0', network: 'inside2', ipv4: '10.0.1.12' }], vars: {} },
    { name: 'blade3', group: 'web', interfaces: [{ name: 'eth1', network: 'inside2', ipv4: '10.0.1.13' }, { name: 'eth0', network: 'inside', ipv4: '10.0.0.13' }], vars: { weight: '2' } },
    { name: 'blade4', group: 'web', interfaces: [{ name: 'eth0', network: 'inside', ipv4: '10.0.0.14' }], vars: { weight: 'heavy' } },
    { name: 'other', group: 'db', interfaces: [{ name: 'eth0', network: 'inside', ipv4: '10.0.0.50' }], vars: {} },
  ];
  const cands = realServerCandidates(d, c.networks, nodes);

  test('group members, listed nodes and static servers, each with its address, port, weight or the reason it is out', () => {
    const view = cands.map((x) => [x.name, x.address === undefined ? null : x.address >>> 0 === x.address ? `${x.address >>> 24}.${(x.address >> 16) & 255}.${(x.address >> 8) & 255}.${x.address & 255}` : null, x.port, x.weight, x.excluded ?? null]);
    assert.deepEqual(view.map((v) => v[0]), ['blade1', 'blade2', 'blade3', 'blade4', 'ghost', 'legacy']);
    assert.deepEqual(view[0], ['blade1', '10.0.0.11', 8080, 3, null]);
    assert.match(String(view[1]![4]), /node blade2 has no interface on a network holding the NAT router 10\.0\.0\.254/);
    assert.deepEqual(view[2]!.slice(0, 4), ['blade3', '10.0.0.13', 8080, 2]);
    // Its eth1 is on inside2, whose router (10.0.1.1) would be a second default gateway.
    assert.match(String(view[2]![4]), /blade3 also has eth1 on network 'inside2'/);
    assert.match(String(view[3]![4]), /vars\.weight of node blade4 is "heavy"/);
    assert.match(String(view[4]![4]), /no node named 'ghost'/);
    assert.deepEqual(view[5], ['legacy', '10.0.0.200', 8080, 5, null]);
  });

  test('desired state: only healthy, not excluded, sorted by address', () => {
    const s = desiredState(d, cands, (x) => x.name !== 'blade3');
    assert.deepEqual(s.services[0]!.servers.map((x) => [x.name, x.weight]), [['blade1', 3], ['legacy', 5]]);
    assert.equal(s.inside?.prefix, 24);
  });
});
