// The power section and seed BMCs as a config loads them: defaults, and
// every problem named by its key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig } from '../../../server/main/config.js';
import { ConfigError } from '../../../server/config/errors.js';
import { tempDir } from '../../helpers/tmp.js';

function problems(raw: Record<string, unknown>): string[] {
  try {
    resolveConfig(raw, null, {});
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

test('defaults; the key file under the data directory unless power.keyFile says', () => {
  const c = resolveConfig({ dataDir: '/srv/rb' }, null, {});
  assert.deepEqual(c.config.power, { enabled: true, timeout: '15s', concurrency: 32, stagger: '2s', authBackoff: '60s', ipmi: { tool: 'ipmitool' }, redfish: {} });
  assert.equal(c.paths.bmcKeyFile, '/srv/rb/bmc-key');
  assert.equal(resolveConfig({ dataDir: '/srv/rb', power: { keyFile: '/etc/rackboot/bmc-key' } }, null, {}).paths.bmcKeyFile, '/etc/rackboot/bmc-key');
});

test('problems of the power section and of seed BMCs, each with its key', (t) => {
  const dir = tempDir(t, 'rackboot-powercfg-');
  writeFileSync(join(dir, 'short-key'), 'AAAA\n');
  writeFileSync(join(dir, 'empty.pw'), '\n');
  const net = [{ name: 'inside', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', staticRange: '10.0.0.10-10.0.0.99' }];
  assert.deepEqual(problems({ power: { stagger: '90s', keyFile: join(dir, 'short-key') } }), [
    'power.stagger: 90s: at most 60 s',
    `power.keyFile: ${join(dir, 'short-key')} does not hold a 32-byte base64 key`,
  ]);
  assert.deepEqual(problems({ power: { ipmi: { tool: 'ipmiutil' } } }), ['power.ipmi.tool: "ipmiutil" is not one of: ipmitool, freeipmi']);
  const got = problems({
    networks: net,
    groups: [{ name: 'g', bmc: { type: 'redfish', username: 'u', passwordFile: join(dir, 'empty.pw'), redfish: { caFile: join(dir, 'none.pem'), insecure: true } } }],
    nodes: [{ name: 'n', group: 'g', interfaces: [{ name: 'eth0', mac: '52:54:00:00:00:01', network: 'inside' }], bmc: { address: 'bmc 1' } }],
  });
  // The node's shape problem first (the schema), then the group's checks, which it does not hold up.
  assert.deepEqual(got, [
    'nodes[0].bmc.address: "bmc 1" is not a host name or an IPv4/IPv6 address',
    `groups[0].bmc.passwordFile: ${join(dir, 'empty.pw')} is empty`,
    `groups[0].bmc.redfish.caFile: ${join(dir, 'none.pem')} does not exist`,
    'groups[0].bmc.redfish.insecure: insecure: true accepts any certificate; drop it or caFile',
  ]);
});
